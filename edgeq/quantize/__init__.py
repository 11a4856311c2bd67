"""Quantization: pick a scheme, then run the flow that matches the artifact format."""

from __future__ import annotations

import importlib

from collections.abc import Callable, Sequence
from typing import Any

import torch

from edgeq.models.types import Training
from edgeq.quantize.scheme_choice import choose_scheme
from edgeq.quantize.spec import OBSERVERS, SCHEMES, QuantResult, QuantSpec

_Handler = Callable[..., QuantResult]


def _float(model: torch.nn.Module, example: tuple[Any, ...], calibration: Sequence[tuple[Any, ...]], spec: QuantSpec,
           training: Training | None = None, say: Callable[[str], None] | None = None) -> QuantResult:
    return QuantResult(spec=spec, model=model, notes=[])


# One flow per artifact format, imported on first use (torchao alone takes seconds to import).
_FLOWS = {"pte": ("edgeq.quantize.pt2e", "quantize_pt2e"), "ptl": ("edgeq.quantize.legacy", "quantize_legacy")}


def _handler(spec: QuantSpec) -> _Handler:
    if spec.scheme == "none":
        return _float
    module, name = _FLOWS[spec.format]
    return getattr(importlib.import_module(module), name)


def quantize(model: torch.nn.Module, example: tuple[Any, ...], spec: QuantSpec,
             calibration: Sequence[tuple[Any, ...]] = (), training: Training | None = None,
             say: Callable[[str], None] | None = None) -> QuantResult:
    """Quantize ``model`` as ``spec`` says; ``model`` must already be prepared for tracing.

    ``training`` is needed for ``qat`` only; ``say`` receives progress lines.
    """
    return _handler(spec)(model, example, calibration, spec, training, say)


__all__ = ["OBSERVERS", "SCHEMES", "QuantResult", "QuantSpec", "choose_scheme", "quantize"]
