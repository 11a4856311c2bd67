"""What accuracy means for each zoo model, and the inputs every variant is judged on.

The digits models have labels: held-out top-1. MiniLM has no labels here: the
cosine of each sentence embedding to PyTorch eager fp32's, over every shipped
sentence. The random-init vision nets have neither: top-1 agreement and cosine
to eager fp32 on seeded random images that were not used for calibration.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from edgeq.models import LoadedModel
from edgeq.numerics import compare_outputs

VISION_CHECK_IMAGES = 32
# The zoo draws its 8 calibration images from seed 1; another seed keeps calibration data out of the check.
VISION_CHECK_SEED = 20240611


@dataclass(frozen=True)
class CheckSet:
    inputs: list[tuple[Any, ...]]
    metric: str  # "top1" (labelled), "cosine" (embeddings), "agreement" (random-init classifiers)
    description: str


def check_set(loaded: LoadedModel) -> CheckSet:
    """The inputs that every variant of ``loaded`` runs once each, and how they are scored."""
    if loaded.eval_set is not None:
        inputs = list(loaded.eval_set.inputs)
        return CheckSet(inputs, "top1", f"held-out top-1 on {len(inputs)} labelled samples")
    if loaded.name == "zoo:minilm":
        from edgeq.models import minilm

        inputs = minilm.tokenize(minilm.sentences())
        return CheckSet(inputs, "cosine",
                        f"mean cosine of the embedding to eager fp32's over all {len(inputs)} shipped sentences")
    shape = loaded.example_inputs[0].shape
    generator = torch.Generator().manual_seed(VISION_CHECK_SEED)
    inputs = [(torch.rand(*shape, generator=generator) * 2 - 1,) for _ in range(VISION_CHECK_IMAGES)]
    return CheckSet(inputs, "agreement",
                    f"top-1 agreement and mean cosine of the logits to eager fp32's on {len(inputs)} random images "
                    "(calibration distribution, unseen seed)")


def reference_outputs(model: torch.nn.Module, inputs: Sequence[tuple[Any, ...]]) -> list[list[torch.Tensor]]:
    """Eager fp32 outputs in this process: the yardstick every variant is compared with."""
    from edgeq.numerics import flatten_outputs

    with torch.inference_mode():
        return [flatten_outputs(model(*sample)) for sample in inputs]


def score(loaded: LoadedModel, checks: CheckSet, reference: Sequence[Sequence[torch.Tensor]],
          outputs: Sequence[Sequence[torch.Tensor]]) -> dict[str, float]:
    """``cosine``, ``top1_agreement`` and ``max_abs_err`` against eager fp32, plus ``top1`` (%) where labelled."""
    found = compare_outputs(reference, outputs)
    found.pop("samples", None)
    if checks.metric == "top1" and loaded.eval_set is not None:
        found["top1"] = loaded.eval_set.score(outputs)
    return found
