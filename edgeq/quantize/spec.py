"""What to quantize and how: a frozen, validated spec and the result it produces."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from edgeq.errors import ConfigError
from edgeq.profiles import ENGINES, FORMATS

SCHEMES = ("none", "dynamic", "static", "qat")
# How static quantization picks each activation's range from calibration data.
OBSERVERS = ("histogram", "minmax", "moving_average", "percentile")


@dataclass(frozen=True)
class QuantSpec:
    """One variant to build: a scheme, the engine it targets, the artifact format, and what stays float.

    ``float_layers`` are module paths (as in ``model.named_modules()``) kept in
    fp32 while the rest is quantized: mixed precision.
    """

    scheme: str
    engine: str
    format: str
    per_channel: bool = True
    reduce_range: bool = False
    calibration_samples: int = 128
    observer: str = "histogram"
    float_layers: tuple[str, ...] = ()
    qat_epochs: int = 2

    def __post_init__(self) -> None:
        for key, value, allowed in (("scheme", self.scheme, SCHEMES), ("engine", self.engine, ENGINES),
                                    ("format", self.format, FORMATS), ("observer", self.observer, OBSERVERS)):
            if value not in allowed:
                raise ConfigError(f"quantization {key} {value!r} is not supported", hint=f"use one of: {', '.join(allowed)}")
        if self.calibration_samples < 1:
            raise ConfigError(f"calibration_samples must be ≥ 1, got {self.calibration_samples}")
        if self.qat_epochs < 1:
            raise ConfigError(f"qat_epochs must be ≥ 1, got {self.qat_epochs}")
        if self.float_layers and self.scheme == "none":
            raise ConfigError("float_layers only make sense for a quantized scheme")
        object.__setattr__(self, "float_layers", tuple(sorted(set(self.float_layers))))

    @property
    def variant(self) -> str:
        """A unique, readable name for the variant: ``fp32``, ``int8-static``, ``int8-static-mixed2``."""
        if self.scheme == "none":
            return "fp32"
        mixed = f"-mixed{len(self.float_layers)}" if self.float_layers else ""
        observer = f"-{self.observer}" if self.scheme == "static" and self.observer != "histogram" else ""
        return f"int8-{self.scheme}{observer}{mixed}"

    @property
    def float_note(self) -> list[str]:
        """The artifact note that says which layers stayed fp32 (none when it is all int8)."""
        return [f"kept in fp32: {', '.join(self.float_layers)}"] if self.float_layers else []

    @property
    def precision(self) -> str:
        return "fp32" if self.scheme == "none" else "int8"

    def key(self) -> dict[str, Any]:
        return {"scheme": self.scheme, "engine": self.engine, "format": self.format, "per_channel": self.per_channel,
                "reduce_range": self.reduce_range, "calibration_samples": self.calibration_samples,
                "observer": self.observer, "float_layers": list(self.float_layers), "qat_epochs": self.qat_epochs}


@dataclass
class QuantResult:
    """A model ready for the exporter of ``spec.format``, and what was done to get it."""

    spec: QuantSpec
    model: torch.nn.Module
    notes: list[str] = field(default_factory=list)
