"""What static quantization observes, for both flows: which samples, and running them through the observers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from edgeq.quantize.spec import QuantSpec


def calibration_samples(spec: QuantSpec, calibration: Sequence[tuple[Any, ...]], example: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """Static: up to ``spec.calibration_samples`` of the model's data (the example when it brings none).
    Other schemes observe nothing worth calibrating; the example only lets the observers see a shape."""
    if spec.scheme != "static":
        return [example]
    return list(calibration)[: spec.calibration_samples] or [example]


def calibrate(model: torch.nn.Module, samples: Sequence[tuple[Any, ...]]) -> None:
    """Run ``samples`` through a model whose observers record activation ranges."""
    with torch.no_grad():
        for sample in samples:
            model(*sample)
