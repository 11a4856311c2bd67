"""What a resolved model source is: the module, its inputs, and how to judge it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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
        """Top-1 accuracy in percent of the first output of each sample."""
        correct = sum(int(out[0].reshape(-1).argmax().item() == label) for out, label in zip(outputs, self.labels))
        return 100.0 * correct / len(self.labels)


# A user's own evaluation: called with a forward function (inputs -> outputs), returns a score.
Evaluator = Callable[[Callable[..., Any]], float]


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

    @property
    def metric(self) -> str | None:
        if self.eval_set is not None:
            return self.eval_set.metric
        return "user" if self.evaluator is not None else None
