"""What to quantize and how: a frozen, validated spec and the result it produces."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from edgeq.errors import ConfigError
from edgeq.profiles import ENGINES, FORMATS

SCHEMES = ("none", "dynamic", "static")


@dataclass(frozen=True)
class QuantSpec:
    """One variant to build: a scheme, the engine it targets, and the artifact format."""

    scheme: str
    engine: str
    format: str
    per_channel: bool = True
    reduce_range: bool = False
    calibration_samples: int = 128

    def __post_init__(self) -> None:
        for key, value, allowed in (("scheme", self.scheme, SCHEMES), ("engine", self.engine, ENGINES), ("format", self.format, FORMATS)):
            if value not in allowed:
                raise ConfigError(f"quantization {key} {value!r} is not supported", hint=f"use one of: {', '.join(allowed)}")
        if self.calibration_samples < 1:
            raise ConfigError(f"calibration_samples must be ≥ 1, got {self.calibration_samples}")

    @property
    def variant(self) -> str:
        return "fp32" if self.scheme == "none" else "int8"

    def key(self) -> dict[str, Any]:
        return {"scheme": self.scheme, "engine": self.engine, "format": self.format, "per_channel": self.per_channel,
                "reduce_range": self.reduce_range, "calibration_samples": self.calibration_samples}


@dataclass
class QuantResult:
    """A model ready for the exporter of ``spec.format``, and what was done to get it."""

    spec: QuantSpec
    model: torch.nn.Module
    notes: list[str] = field(default_factory=list)
