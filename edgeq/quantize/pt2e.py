"""The main flow: torch.export, then PT2E quantization with the XNNPACK quantizer (for .pte)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch

from edgeq.errors import QuantizationError, summarize
from edgeq.quantize.lstm import replace_lstms
from edgeq.quantize.spec import QuantResult, QuantSpec

log = logging.getLogger(__name__)


def _quantizer(spec: QuantSpec) -> Any:
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )

    config = get_symmetric_quantization_config(is_per_channel=spec.per_channel, is_dynamic=spec.scheme == "dynamic")
    return XNNPACKQuantizer().set_global(config)


def quantize_pt2e(model: torch.nn.Module, example: tuple[Any, ...], calibration: Sequence[tuple[Any, ...]],
                  spec: QuantSpec) -> QuantResult:
    """Export, annotate, calibrate and convert; the result is re-exported by the .pte writer."""
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    notes: list[str] = []
    if spec.scheme == "dynamic":
        model, rewritten = replace_lstms(model)
        if rewritten:
            notes.append(f"{rewritten} LSTM(s) rewritten as Linear gates so their weights are int8")
    from edgeq.export.errors import export_program

    graph = export_program(model, example, stage="torch.export before quantization").module()
    try:
        prepared = prepare_pt2e(graph, _quantizer(spec))
        samples = list(calibration)[: spec.calibration_samples] or [example]
        if spec.scheme == "static" and not calibration:
            notes.append("calibrated on the example inputs only (the model brought no data)")
        with torch.no_grad():
            for sample in samples if spec.scheme == "static" else [example]:
                prepared(*sample)
        converted = convert_pt2e(prepared)
    except Exception as exc:  # noqa: BLE001
        raise QuantizationError(f"PT2E {spec.scheme} quantization failed: {summarize(exc)}",
                                hint="try --scheme dynamic, or --format ptl for the legacy flow") from exc
    if spec.scheme == "static" and calibration:
        notes.append(f"calibrated on {len(samples)} sample(s)" + (", per-channel weights" if spec.per_channel else ""))
    return QuantResult(spec=spec, model=converted, notes=notes)

