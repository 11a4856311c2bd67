"""What a resolved model source is: the module, its inputs, and how to judge it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from edgeq.errors import ConfigError

METRICS = ("top1",)


@dataclass(frozen=True)
class EvalSet:
    """Held-out samples: one tuple of positional inputs per sample, and its label."""

    inputs: Sequence[tuple[Any, ...]]
    labels: Sequence[int]
    metric: str = "top1"

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ConfigError(f"unknown metric {self.metric!r}", hint=f"allowed: {', '.join(METRICS)}")
        if len(self.inputs) != len(self.labels):
            raise ConfigError(f"evaluation set has {len(self.inputs)} inputs but {len(self.labels)} labels")
        if not self.inputs:
            raise ConfigError("evaluation set is empty")

    def score(self, outputs: Sequence[Sequence[torch.Tensor]]) -> float:
        """Top-1 accuracy in percent of the first output of each sample (the first ``len(outputs)`` samples)."""
        if not outputs or len(outputs) > len(self.labels):
            raise ValueError(f"{len(outputs)} outputs for an evaluation set of {len(self.labels)}")
        correct = sum(int(out[0].reshape(-1).argmax().item() == label) for out, label in zip(outputs, self.labels))
        return 100.0 * correct / len(outputs)


# A user's own evaluation: called with a forward function (inputs -> outputs), returns a score.
Evaluator = Callable[[Callable[..., Any]], float]

# A user's own fine-tuning loop for quantization-aware training: trains the
# module it is given (fake-quantized, in train mode) in place.
TrainLoop = Callable[[torch.nn.Module], None]


def _cross_entropy(outputs: Any, target: torch.Tensor) -> torch.Tensor:
    logits = outputs[0] if isinstance(outputs, (tuple, list)) else outputs
    return torch.nn.functional.cross_entropy(logits, target)


@dataclass(frozen=True)
class TrainSet:
    """Training samples for quantization-aware training: inputs per sample, a target each, and the loss.

    Samples are batched by concatenating along the first dimension, so each
    sample's tensors carry a batch dimension of 1 (like the example inputs).
    ``loss(outputs, targets)`` defaults to cross-entropy on the first output.
    """

    inputs: Sequence[tuple[Any, ...]]
    targets: Sequence[Any]
    loss: Callable[[Any, Any], torch.Tensor] = _cross_entropy
    batch_size: int = 32
    learning_rate: float = 1e-3

    def __post_init__(self) -> None:
        if len(self.inputs) != len(self.targets):
            raise ConfigError(f"training set has {len(self.inputs)} inputs but {len(self.targets)} targets")
        if not self.inputs:
            raise ConfigError("training set is empty")
        if self.batch_size < 1 or self.learning_rate <= 0:
            raise ConfigError("training batch_size must be ≥ 1 and learning_rate > 0")


Training = TrainSet | TrainLoop


@dataclass
class LoadedModel:
    """A model ready for the pipeline: in eval mode, with inputs that it accepts."""

    name: str
    model: torch.nn.Module
    example_inputs: tuple[Any, ...]
    fingerprint: str
    eval_set: EvalSet | None = None
    evaluator: Evaluator | None = None
    calibration: Sequence[tuple[Any, ...]] = field(default_factory=list)
    description: str = ""
    training: Training | None = None
    # Without an evaluation set: the fixed inputs quality is compared on against fp32.
    check_inputs: Sequence[tuple[Any, ...]] = field(default_factory=list)
    # The metric budgets default to for this model (e.g. "cosine" for an embedder); None: guessed from the outputs.
    default_metric: str | None = None
    # The trailing example inputs that the model's forward takes by keyword, by name (a dict in the factory).
    keywords: tuple[str, ...] = ()
    # A language model the zoo ships: "causal-lm", the prompts it is judged and timed on (token ids), and its
    # tokenizer file. A user's transformers causal LM is detected instead (edgeq.llm.task).
    task: str | None = None
    prompts: Sequence[Sequence[int]] = field(default_factory=list)
    tokenizer: Path | None = None

    @property
    def metric(self) -> str | None:
        if self.eval_set is not None:
            return self.eval_set.metric
        return "user" if self.evaluator is not None else None
