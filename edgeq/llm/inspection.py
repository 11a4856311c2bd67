"""``edgeq inspect`` for a language model: which linear layers a scheme's quantized weights hurt most.

Each linear layer is quantized alone, as ExecuTorch's LLM export quantizes it (torchao's
``Int8DynamicActivationIntxWeightConfig``: int8 dynamic activations, int4 weights in groups or int8 weights per
channel, HQQ scales), in the eager model; the prompts' logits, teacher-forced, are compared with fp32's. A layer's
sensitivity is the mean KL divergence it adds on its own; the whole model quantized so is measured too, and it
predicts what the exported program's logits do (the program adds only the runtime's rounding).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

from edgeq.errors import ConfigError
from edgeq.llm.agreement import compare_logits, eager_logits
from edgeq.llm.export import SCHEMES
from edgeq.llm.task import prompts_of
from edgeq.models.types import LoadedModel

DEFAULT_SCHEME = "8da4w"


@dataclass(frozen=True)
class LlmLayer:
    """One linear layer quantized alone."""

    name: str
    shape: tuple[int, int]  # (out, in) features
    kl_mean: float  # the sensitivity: mean KL divergence from fp32's next-token distribution, nats
    greedy_agreement: float  # share of positions whose most likely next token stays fp32's
    weight_error: float  # ||W - Q(W)|| / ||W||: how much of the weights the rounding loses

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "sensitivity": self.kl_mean,
                "greedy_agreement": self.greedy_agreement, "weight_error": self.weight_error}


@dataclass(frozen=True)
class LlmLayerReport:
    model: str
    scheme: str
    whole: dict[str, float]  # agreement.compare_logits of every layer quantized
    layers: list[LlmLayer]  # most sensitive first
    prompts: int
    notes: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "task": "causal-lm", "scheme": self.scheme, "metric": "kl_mean",
                "prompts": self.prompts, "whole": self.whole, "layers": [layer.to_dict() for layer in self.layers],
                "notes": self.notes}


def inspect_language_model(loaded: LoadedModel, scheme: str = DEFAULT_SCHEME, prompts: int | None = None,
                           say: Callable[[str], None] | None = None, group_size: int | None = None) -> LlmLayerReport:
    """Rank ``loaded``'s linear layers by the KL divergence ``scheme``'s weights add alone, over the first
    ``prompts`` prompts (all by default); ``group_size``: the profile's, for 4-bit weights."""
    say = say or (lambda message: None)
    if scheme == "auto":
        scheme = DEFAULT_SCHEME
    if scheme not in SCHEMES or SCHEMES[scheme].qmode is None:
        raise ConfigError(f"inspect compares a language model's quantized weights with fp32: {scheme!r} has none",
                          hint=f"use one of: {', '.join(name for name, s in SCHEMES.items() if s.qmode)}")
    group = SCHEMES[scheme].group(group_size)
    model = loaded.model.eval()
    chosen = prompts_of(loaded)[:prompts]
    say(f"computing fp32's logits on {len(chosen)} prompt(s)")
    reference = eager_logits(model, chosen)
    linears = [(name, module) for name, module in model.named_modules() if isinstance(module, torch.nn.Linear)]
    layers, skipped = [], []
    for index, (name, linear) in enumerate(linears, 1):
        quantized = _quantized(linear, scheme, group)
        if quantized is None:
            skipped.append(name)
            continue
        say(f"{scheme} weights in {name} alone ({index}/{len(linears)})")
        with _swapped(model, name, quantized):
            agreement = compare_logits(reference, eager_logits(model, chosen))
        error = float((quantized.weight.dequantize() - linear.weight).norm() / linear.weight.norm())
        layers.append(LlmLayer(name, tuple(linear.weight.shape), agreement["kl_mean"], agreement["greedy_agreement"],
                               error))
    say(f"{scheme} weights in every layer")
    whole_model = copy.deepcopy(model)
    _quantize_linears(whole_model, scheme, group)
    whole = compare_logits(reference, eager_logits(whole_model, chosen))
    layers.sort(key=lambda layer: -layer.kl_mean)
    notes = _notes(group, skipped, layers, SCHEMES[scheme].embedding is not None)
    return LlmLayerReport(loaded.name, scheme, whole, layers, len(chosen), notes)


def _quantize_linears(module: torch.nn.Module, scheme: str, group: int) -> None:
    """``scheme``'s weights, in groups of ``group`` (0: per channel), in every linear layer of ``module`` that the
    export quantizes (the input width must be a multiple of the group)."""
    from torchao.quantization import Int8DynamicActivationIntxWeightConfig, quantize_
    from torchao.quantization.granularity import PerAxis, PerGroup

    qmode = SCHEMES[scheme].qmode
    config = Int8DynamicActivationIntxWeightConfig(
        weight_dtype=torch.int4 if qmode == "8da4w" else torch.int8,
        weight_granularity=PerAxis(0) if group == 0 else PerGroup(group), intx_choose_qparams_algorithm="hqq_scale_only")
    quantize_(module, config, filter_fn=lambda m, fqn: isinstance(m, torch.nn.Linear) and _takes(m, group))


def _takes(linear: torch.nn.Linear, group: int) -> bool:
    return group == 0 or linear.in_features % group == 0


def _quantized(linear: torch.nn.Linear, scheme: str, group: int) -> torch.nn.Linear | None:
    """A quantized copy of ``linear``; None when the export leaves it fp32."""
    if not _takes(linear, group):
        return None
    quantized = copy.deepcopy(linear)
    _quantize_linears(quantized, scheme, group)
    return quantized


@contextmanager
def _swapped(model: torch.nn.Module, name: str, replacement: torch.nn.Module) -> Iterator[None]:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name)
    original = getattr(parent, child)
    setattr(parent, child, replacement)
    try:
        yield
    finally:
        setattr(parent, child, original)


def _notes(group: int, skipped: list[str], layers: list[LlmLayer], embedding: bool) -> list[str]:
    notes = []
    if skipped:
        notes.append(f"{len(skipped)} layer(s) stay fp32 in the export (their input width is not a multiple of "
                     f"{group}): {', '.join(skipped[:5])}")
    if layers:
        total = sum(layer.kl_mean for layer in layers)
        top = layers[: max(1, len(layers) // 10)]
        share = sum(layer.kl_mean for layer in top) / total if total else 0.0
        notes.append(f"the {len(top)} most sensitive layer(s) add {share:.0%} of the layers' summed KL (edgeq does "
                     "not yet keep a language model's layers in higher precision: the export quantizes all alike)")
    if embedding:
        notes.append("the embedding table stays fp32 here, in the ranking and in the whole-model figure: only the "
                     "linear layers' weights are compared")
    return notes
