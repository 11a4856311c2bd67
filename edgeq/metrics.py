"""The quality metric an accuracy budget is written in, and how to measure it from outputs.

``accuracy`` is the model's own metric (its evaluation set or function);
without one, ``top1_agreement`` (percent of samples whose argmax matches
fp32, for classifiers: a first output shaped ``[1, classes]``) or ``cosine``
(mean cosine of the outputs against fp32). A drop is always "fp32's value
minus the candidate's", in the metric's unit. ``caution`` says when a
judgement rests on too little: numerics only, or fewer than 32 samples.

Importing this module does not import torch: the CLI declares ``--metric`` from ``METRICS``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from edgeq.errors import ConfigError, ModelError, summarize

if TYPE_CHECKING:
    import torch

    from edgeq.models.types import LoadedModel


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str
    default_max_drop: float
    description: str


ENOUGH_SAMPLES = 32  # below this one sample moves a percentage by more than 3 points

METRICS = {
    "accuracy": Metric("accuracy", "points", 1.0, "the model's own accuracy metric"),
    "top1_agreement": Metric("top1_agreement", "points", 1.0, "percent of samples whose top-1 class matches fp32"),
    "cosine": Metric("cosine", "", 0.01, "mean cosine similarity of the outputs to fp32"),
    # language models: a 4-bit model that keeps 95 % of fp32's next-token choices is the usual bar
    "greedy_agreement": Metric("greedy_agreement", "points", 5.0, "percent of prompt positions whose greedy next "
                               "token matches fp32, teacher-forced (language models)"),
}
LANGUAGE_MODEL_METRICS = ("greedy_agreement", "cosine")


def resolve_metric(name: str | None, loaded: LoadedModel, reference: Sequence[Sequence[torch.Tensor]]) -> Metric:
    """The metric named, or the default for this model."""
    name = name or loaded.default_metric
    if name is None:
        if loaded.eval_set is not None or loaded.evaluator is not None:
            return METRICS["accuracy"]
        first = reference[0][0] if reference and reference[0] else None
        looks_like_logits = first is not None and first.dim() == 2 and first.shape[0] == 1 and first.shape[1] > 1
        return METRICS["top1_agreement" if looks_like_logits else "cosine"]
    if name not in METRICS:
        raise ConfigError(f"unknown metric {name!r}", hint=f"use one of: {', '.join(METRICS)}")
    if name == "greedy_agreement":
        raise ConfigError(f"{loaded.name} is not run as a language model, so it generates no tokens to agree on",
                          hint="use --metric top1_agreement or cosine (or --task causal-lm for a transformers causal LM)")
    if name == "accuracy" and loaded.eval_set is None and loaded.evaluator is None:
        raise ConfigError(f"{loaded.name} brings no evaluation data, so it has no accuracy to budget",
                          hint="use --metric top1_agreement or cosine, or return an evaluation as the factory's third item")
    return METRICS[name]


def score_outputs(metric: Metric, loaded: LoadedModel, reference: Sequence[Sequence[torch.Tensor]],
                  outputs: Sequence[Sequence[torch.Tensor]]) -> float:
    """The metric's value for outputs of the check samples (the evaluation set's inputs when there is one)."""
    if metric.name == "accuracy":
        if loaded.eval_set is None:
            raise ConfigError("accuracy from outputs needs an evaluation set")
        return loaded.eval_set.score(outputs)
    from edgeq.numerics import compare_outputs

    numerics = compare_outputs(reference, outputs)
    return 100.0 * numerics["top1_agreement"] if metric.name == "top1_agreement" else numerics["cosine"]


@dataclass(frozen=True)
class Score:
    """A model's quality on the check samples: the metric's value, and its outputs' mean cosine to fp32.

    The cosine is continuous where the metric may not be (a few dozen samples
    give accuracy in steps), so it breaks ties between layers.
    """

    value: float
    cosine: float


def score_forward(metric: Metric, loaded: LoadedModel, reference: Sequence[Sequence[torch.Tensor]],
                  samples: Sequence[tuple[Any, ...]], forward: Callable[..., Any]) -> Score:
    """Score a model run in this process (used to rank layers and compare on the host)."""
    import torch

    from edgeq.numerics import compare_outputs, flatten_outputs

    with torch.no_grad():
        outputs = [flatten_outputs(forward(*sample)) for sample in samples]
    cosine = compare_outputs(reference, outputs)["cosine"]
    if metric.name == "accuracy" and loaded.eval_set is None and loaded.evaluator is not None:
        try:
            return Score(float(loaded.evaluator(forward)), cosine)
        except Exception as exc:  # noqa: BLE001 - user evaluation code
            raise ModelError(f"{loaded.name}: the evaluation function raised {summarize(exc)}") from exc
    return Score(score_outputs(metric, loaded, reference, outputs), cosine)


def reference_value(metric: Metric, fp32_value: float | None) -> float:
    """fp32's own value: measured for accuracy, perfect for the comparisons against fp32."""
    if metric.name == "accuracy":
        return fp32_value if fp32_value is not None else 0.0
    return 100.0 if metric.name == "top1_agreement" else 1.0


def caution(metric: Metric, samples: int | None) -> str | None:
    """What a budget judged in ``metric`` on ``samples`` check samples rests on, when that is too little to
    trust: a comparison with fp32's own outputs (no evaluation data), or fewer than ``ENOUGH_SAMPLES``
    samples. None for accuracy on enough samples, or from the model's own evaluation function (``samples``
    None)."""
    few = samples is not None and samples < ENOUGH_SAMPLES
    counted = "" if samples is None else f" on {samples} sample{'' if samples == 1 else 's'}"
    if metric.name == "accuracy":
        return f"judged{counted} of evaluation data: too few to trust, bring more" if few else None
    return (f"judged{counted} by {metric.name} against fp32's own outputs (numerics only, no evaluation data)"
            + (": bring evaluation data to trust this" if few else ""))


def format_value(metric: Metric, value: float) -> str:
    shown = f"{value:.4f}" if metric.name == "cosine" else f"{value:.2f}"
    return shown[1:] if shown.startswith("-") and float(shown) == 0 else shown  # no "-0.0000" for a rounding-size gain
