"""Write a TorchScript lite-interpreter program (.ptl), the legacy mobile format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from edgeq.errors import ExportError, summarize
from edgeq.quantize.legacy import quantized_engine


def write_ptl(model: torch.nn.Module, example: tuple[Any, ...], path: Path, engine: str) -> dict[str, Any]:
    """Trace (or script when tracing fails) and save for the lite interpreter."""
    with quantized_engine(engine), torch.no_grad():
        try:
            scripted = torch.jit.trace(model, example, check_trace=False, strict=False)
            how = "trace"
        except Exception as trace_exc:  # noqa: BLE001 - tracing raises many kinds
            try:
                scripted = torch.jit.script(model)
                how = "script"
            except Exception as script_exc:  # noqa: BLE001
                raise ExportError(
                    f"TorchScript could not trace ({summarize(trace_exc, 200)}) "
                    f"nor script the model ({type(script_exc).__name__})",
                    hint="use --format pte (torch.export) instead",
                ) from script_exc
        try:
            scripted._save_for_lite_interpreter(str(path))
        except Exception as exc:  # noqa: BLE001
            raise ExportError(f"saving for the lite interpreter failed: {summarize(exc)}") from exc
    return {"backend": f"lite-interpreter/{engine}", "torchscript": how}
