"""Dynamic int8 by torchao's ``quantize_`` on the eager model's Linear layers, before ``torch.export`` (for .pte).

The fallback of the main flow: PT2E annotates the exported graph, and some graphs that export and run in fp32
cannot be lowered once annotated (MobileViT's conv + attention blocks fail in XNNPACK's
``ChannelsLastTaggedReshapePass`` with "required rank 4 tensor"). Quantizing the modules before export gives
the lowering a different graph: each Linear becomes a dynamically quantized matmul that XNNPACK delegates,
the recipe ExecuTorch's own XNNPACK provider uses for int8 weights. Only Linear layers (and LSTMs, rewritten
as Linear gates) are quantized; convolutions stay fp32.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from edgeq.errors import QuantizationError, summarize
from edgeq.models.types import Training
from edgeq.quantize.pt2e import embedding_tables, prepare_dynamic
from edgeq.quantize.spec import QuantResult, QuantSpec


def quantize_torchao(model: torch.nn.Module, example: tuple[Any, ...], calibration: Sequence[tuple[Any, ...]],
                     spec: QuantSpec, training: Training | None = None, say: Callable[[str], None] | None = None) -> QuantResult:
    """Quantize the Linear layers outside ``spec.float_layers`` in place of a copy; the .pte writer exports the result."""
    from torchao.quantization import quantize_
    from torchao.quantization.granularity import PerAxis
    from torchao.quantization.quant_api import Int8DynamicActivationIntxWeightConfig
    from torchao.utils import unwrap_tensor_subclass

    model, notes = prepare_dynamic(model, spec)
    model, tables = embedding_tables(model, spec)
    notes += tables
    kept = spec.float_layers
    chosen: list[str] = []

    def wanted(module: torch.nn.Module, path: str) -> bool:
        if not isinstance(module, torch.nn.Linear) or any(path == k or path.startswith(k + ".") for k in kept):
            return False
        chosen.append(path)
        return True

    # int8 weights per output channel (XNNPACK's dynamically quantized linear has no per-tensor int8 path here)
    config = Int8DynamicActivationIntxWeightConfig(weight_dtype=torch.int8, weight_granularity=PerAxis(0))
    try:
        quantize_(model, config, filter_fn=wanted)
        unwrap_tensor_subclass(model)
    except Exception as exc:  # noqa: BLE001 - torchao raises many kinds
        raise QuantizationError(f"torchao dynamic quantization failed: {summarize(exc)}") from exc
    if not chosen:
        raise QuantizationError("torchao dynamic quantization found no Linear layer to quantize")
    notes.append(f"torchao quantize_ on {len(chosen)} eager Linear layer(s) before export; convolutions stay fp32")
    return QuantResult(spec=spec, model=model.eval(), notes=notes + spec.float_note)
