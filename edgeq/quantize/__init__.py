"""Quantization: pick a scheme, then run the flow that matches the artifact format.

Importing the package does not import torch (the CLI declares its options from
``SCHEMES`` and ``OBSERVERS``); ``choose_scheme`` and the flows load it on first use.
"""

from __future__ import annotations

import importlib

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from edgeq.quantize.spec import OBSERVERS, SCHEMES, QuantResult, QuantSpec

if TYPE_CHECKING:
    import torch

    from edgeq.models.types import Training
    from edgeq.quantize.scheme_choice import choose_scheme

_Handler = Callable[..., QuantResult]


def _float(model: torch.nn.Module, example: tuple[Any, ...], calibration: Sequence[tuple[Any, ...]], spec: QuantSpec,
           training: Training | None = None, say: Callable[[str], None] | None = None) -> QuantResult:
    return QuantResult(spec=spec, model=model, notes=[])


# One handler per flow (``QuantSpec.flow``), imported on first use (torchao alone takes seconds to import).
_FLOWS = {"pt2e": ("edgeq.quantize.pt2e", "quantize_pt2e"), "torchao": ("edgeq.quantize.torchao_dynamic", "quantize_torchao"),
          "torch.ao": ("edgeq.quantize.legacy", "quantize_legacy")}


def _handler(spec: QuantSpec) -> _Handler:
    if spec.scheme == "none":
        return _float
    module, name = ("edgeq.quantize.half", "quantize_half") if spec.scheme == "fp16" else _FLOWS[spec.flow]
    return getattr(importlib.import_module(module), name)


def quantize(model: torch.nn.Module, example: tuple[Any, ...], spec: QuantSpec,
             calibration: Sequence[tuple[Any, ...]] = (), training: Training | None = None,
             say: Callable[[str], None] | None = None) -> QuantResult:
    """Quantize ``model`` as ``spec`` says; ``model`` must already be prepared for tracing.

    ``training`` is needed for ``qat`` only; ``say`` receives progress lines. With ``spec.equalize``,
    activation outlier channels are first moved into the weights (``edgeq.quantize.equalize``).
    """
    if not spec.equalize:
        return _handler(spec)(model, example, calibration, spec, training, say)
    from edgeq.quantize.equalize import equalize

    equalized, notes = equalize(model, example, list(calibration)[:spec.calibration_samples] or [example])
    result = _handler(spec)(equalized, example, calibration, spec, training, say)
    result.notes[:0] = notes or ["equalization found no activation with an outlier channel to move"]
    return result


def __getattr__(name: str) -> Any:
    # PEP 562: scheme_choice imports torch, so it is loaded when first asked for.
    if name == "choose_scheme":
        from edgeq.quantize.scheme_choice import choose_scheme

        globals()[name] = choose_scheme
        return choose_scheme
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["OBSERVERS", "SCHEMES", "QuantResult", "QuantSpec", "choose_scheme", "quantize"]
