"""The legacy flow: torch.ao eager/FX quantization for the TorchScript lite interpreter (.ptl).

Isolated here so it can go when PyTorch drops torch.ao quantization.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgeq.errors import EdgeqError, QuantizationError, summarize
from edgeq.models.tracing import ROOT, TracingRoot
from edgeq.models.types import Training
from edgeq.quantize.calibration import calibrate, calibration_samples
from edgeq.quantize.observers import activation_observer
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
    """The engine's default mapping, with reduce_range from the target's ISA and the chosen observer."""
    from torch.ao.quantization import QConfig, get_default_qat_qconfig_mapping, get_default_qconfig_mapping
    from torch.ao.quantization.observer import PerChannelMinMaxObserver

    if spec.scheme == "qat":
        mapping = get_default_qat_qconfig_mapping(spec.engine)
        if spec.engine != "qnnpack":
            from torch.ao.quantization.fake_quantize import FusedMovingAvgObsFakeQuantize, default_fused_per_channel_wt_fake_quant
            from torch.ao.quantization.observer import MovingAverageMinMaxObserver

            activation = FusedMovingAvgObsFakeQuantize.with_args(observer=MovingAverageMinMaxObserver, quant_min=0,
                                                                 quant_max=255, reduce_range=spec.reduce_range)
            mapping = mapping.set_global(QConfig(activation=activation, weight=default_fused_per_channel_wt_fake_quant))
    else:
        mapping = get_default_qconfig_mapping(spec.engine)
        if spec.engine != "qnnpack":  # qnnpack has no per-channel kernels in torch.ao's default mapping
            activation = activation_observer(spec.observer, "legacy").with_args(reduce_range=spec.reduce_range)
            weight = PerChannelMinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_channel_symmetric)
            mapping = mapping.set_global(QConfig(activation=activation, weight=weight))
    for name in spec.float_layers:
        mapping = mapping.set_module_name(name, None)
    return mapping


def _dynamic(model: nn.Module, spec: QuantSpec) -> tuple[nn.Module, list[str]]:
    """Linear and recurrent layers dynamic int8; embedding tables weight-only int8 (lookups need no activations)."""
    from torch.ao.quantization import (
        default_dynamic_qconfig,
        float_qparams_weight_only_qconfig,
        per_channel_dynamic_qconfig,
    )

    linear = per_channel_dynamic_qconfig if spec.per_channel else default_dynamic_qconfig
    qconfig = {t: linear if t is nn.Linear else default_dynamic_qconfig for t in _DYNAMIC_TYPES}
    embeddings = [name for name, m in model.named_modules() if isinstance(m, nn.Embedding) and name not in spec.float_layers]
    if embeddings:
        qconfig[nn.Embedding] = float_qparams_weight_only_qconfig
    for name in spec.float_layers:
        qconfig[name] = None
    quantized = torch.ao.quantization.quantize_dynamic(model, qconfig, dtype=torch.qint8)
    return quantized, [f"{len(embeddings)} embedding table(s) int8 weight-only"] if embeddings else []


def _inside_root(model: nn.Module, transform: Callable[[nn.Module], nn.Module]) -> nn.Module:
    """Apply an FX transform to the user's module inside edgeq's tracing root.

    FX traces forward symbolically, and the root's ``*inputs`` cannot be traced; the root keeps mapping
    keyword inputs and flattening outputs around the transformed module.
    """
    if isinstance(model, TracingRoot):
        setattr(model, ROOT, transform(getattr(model, ROOT)))
        return model
    return transform(model)


def quantize_legacy(model: nn.Module, example: tuple[Any, ...], calibration: Sequence[tuple[Any, ...]],
                    spec: QuantSpec, training: Training | None = None, say: Callable[[str], None] | None = None) -> QuantResult:
    """Quantize with torch.ao for ``spec.engine``; the result is traced by the .ptl writer."""
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx, prepare_qat_fx

    notes = [f"torch.ao {spec.scheme} quantization for the {spec.engine} engine"
             + (" (reduce_range: the target has no VNNI)" if spec.reduce_range and spec.scheme != "dynamic" else "")]
    model = copy.deepcopy(model).eval()
    if spec.scheme == "qat":
        from edgeq.quantize.training import require_training

        training = require_training(training)
    with quantized_engine(spec.engine):
        try:
            if spec.scheme == "dynamic":
                quantized, more = _dynamic(model, spec)
                notes += more
            elif spec.scheme == "static":
                quantized = _inside_root(model, lambda inner: prepare_fx(inner, _qconfig_mapping(spec), example))
                samples = calibration_samples(spec, calibration, example)
                calibrate(quantized, samples)
                quantized = _inside_root(quantized, convert_fx)
                notes.append(f"calibrated on {len(samples)} sample(s) with the {spec.observer} observer")
            else:
                from edgeq.quantize.training import fine_tune

                quantized = _inside_root(model.train(), lambda inner: prepare_qat_fx(inner, _qconfig_mapping(spec), example))
                notes.append(fine_tune(quantized, training, spec.qat_epochs, to_train=lambda m: m.train(),
                                       to_eval=lambda m: m.eval(), say=say))
                quantized = _inside_root(quantized, convert_fx)
        except EdgeqError:
            raise
        except Exception as exc:  # noqa: BLE001 - FX tracing and observers raise many kinds
            raise QuantizationError(
                f"torch.ao {spec.scheme} quantization failed: {summarize(exc)}{_fx_cause(exc)}") from exc
    return QuantResult(spec=spec, model=quantized, notes=notes + spec.float_note)


def _fx_cause(exc: BaseException) -> str:
    """Why FX symbolic tracing (torch.ao's static and QAT flows) failed, when the model's own code computed with
    a traced value: where, and that the .pte flow (torch.export) does not have this limit."""
    if "Proxy" not in str(exc) and "symbolically traced variables" not in str(exc):
        return ""
    import traceback

    frames = [frame for frame in traceback.extract_tb(exc.__traceback__)
              if "/torch/" not in frame.filename and "/edgeq/" not in frame.filename]
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno} ({frames[-1].line})" if frames else ""
    return (f"; FX symbolic tracing cannot compute with a traced value in the model's forward{where}, as "
            "TensorFlow-style padding does with the input's shape: the .pte flow (torch.export) builds this model")
