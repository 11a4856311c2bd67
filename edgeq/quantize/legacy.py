"""The legacy flow: torch.ao eager/FX quantization for the TorchScript lite interpreter (.ptl).

Isolated here so it can go when PyTorch drops torch.ao quantization.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn

from edgeq.errors import QuantizationError, summarize
from edgeq.quantize.spec import QuantResult, QuantSpec

_DYNAMIC_TYPES = {nn.Linear, nn.LSTM, nn.GRU, nn.RNNCell, nn.LSTMCell, nn.GRUCell}


@contextlib.contextmanager
def quantized_engine(engine: str) -> Iterator[None]:
    """Run with ``torch.backends.quantized.engine`` set, and restore it afterwards."""
    if engine not in torch.backends.quantized.supported_engines:
        raise QuantizationError(f"this torch build has no {engine!r} quantized engine",
                                hint=f"available: {', '.join(torch.backends.quantized.supported_engines)}")
    previous = torch.backends.quantized.engine
    torch.backends.quantized.engine = engine
    try:
        yield
    finally:
        torch.backends.quantized.engine = previous


def _qconfig_mapping(spec: QuantSpec) -> Any:
    from torch.ao.quantization import QConfig, QConfigMapping, get_default_qconfig_mapping
    from torch.ao.quantization.observer import HistogramObserver, PerChannelMinMaxObserver

    mapping = get_default_qconfig_mapping(spec.engine)
    if spec.engine == "qnnpack":
        return mapping  # qnnpack has no per-channel kernels in torch.ao's default mapping
    activation = HistogramObserver.with_args(reduce_range=spec.reduce_range)
    weight = PerChannelMinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_channel_symmetric)
    return mapping.set_global(QConfig(activation=activation, weight=weight))


def quantize_legacy(model: nn.Module, example: tuple[Any, ...], calibration: Sequence[tuple[Any, ...]],
                    spec: QuantSpec) -> QuantResult:
    """Quantize with torch.ao for ``spec.engine``; the result is traced by the .ptl writer."""
    notes = [f"torch.ao {spec.scheme} quantization for the {spec.engine} engine"]
    model = copy.deepcopy(model).eval()
    with quantized_engine(spec.engine):
        try:
            if spec.scheme == "dynamic":
                quantized = torch.ao.quantization.quantize_dynamic(model, _DYNAMIC_TYPES, dtype=torch.qint8)
            else:
                from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

                prepared = prepare_fx(model, _qconfig_mapping(spec), example)
                samples = list(calibration)[: spec.calibration_samples] or [example]
                with torch.no_grad():
                    for sample in samples:
                        prepared(*sample)
                quantized = convert_fx(prepared)
                notes.append(f"calibrated on {len(samples)} sample(s)" + (", reduce_range" if spec.reduce_range else ""))
        except Exception as exc:  # noqa: BLE001 - FX tracing and observers raise many kinds
            raise QuantizationError(
                f"torch.ao {spec.scheme} quantization failed: {summarize(exc)}",
                hint="try --scheme dynamic, or --format pte",
            ) from exc
    return QuantResult(spec=spec, model=quantized, notes=notes)
