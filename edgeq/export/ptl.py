"""Write a TorchScript lite-interpreter program (.ptl), the legacy mobile format."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch

from edgeq.errors import ExportError, summarize
from edgeq.models.tracing import ROOT, TracingRoot
from edgeq.quantize.legacy import quantized_engine

# What torch.jit.trace warns when the trace records one path of a branch on tensor values (or a value
# turned into a Python number): the saved program would then be wrong for other inputs.
_UNSAFE_TRACE = ("might cause the trace to be incorrect", "might not generalize")


def write_ptl(model: torch.nn.Module, example: tuple[Any, ...], path: Path, engine: str) -> dict[str, Any]:
    """Trace (or script, when tracing fails or would record only one path of a branch) and save for the lite interpreter."""
    with quantized_engine(engine), torch.no_grad():
        scripted, how = _torchscript(model, example)
        try:
            scripted._save_for_lite_interpreter(str(path))
        except Exception as exc:  # noqa: BLE001
            raise ExportError(f"saving for the lite interpreter failed: {summarize(exc)}") from exc
    return {"backend": f"lite-interpreter/{engine}", "torchscript": how}


def _torchscript(model: torch.nn.Module, example: tuple[Any, ...]) -> tuple[Any, str]:
    trace_problem = _trace(model, example)
    if not isinstance(trace_problem, str):
        return trace_problem, "trace"
    try:
        if not isinstance(model, TracingRoot):
            return torch.jit.script(model), "script"
        # Script the user's module and trace edgeq's root around it: a traced call into a ScriptModule keeps
        # its branches, and the root (variadic inputs, flattened outputs) is what TorchScript cannot script.
        scripted = TracingRoot(torch.jit.script(getattr(model, ROOT)), model.keywords)
    except Exception as script_exc:  # noqa: BLE001 - scripting raises many kinds
        raise ExportError(f"TorchScript could not trace ({trace_problem}) nor script the model "
                          f"({summarize(script_exc, 200)})") from script_exc
    traced = _trace(scripted, example)
    if isinstance(traced, str):
        raise ExportError(f"TorchScript could not trace ({trace_problem}), and tracing around the scripted model "
                          f"failed too ({traced})")
    return traced, "script"


def _trace(model: torch.nn.Module, example: tuple[Any, ...]) -> Any:
    """The traced module, or a one-line reason why tracing failed or cannot be trusted."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", torch.jit.TracerWarning)
        try:
            traced = torch.jit.trace(model, example, check_trace=False, strict=False)
        except Exception as exc:  # noqa: BLE001 - tracing raises many kinds
            return summarize(exc, 200)
    unsafe = [w for w in caught if issubclass(w.category, torch.jit.TracerWarning)
              and any(text in str(w.message) for text in _UNSAFE_TRACE)]
    if unsafe:
        where = f" at {Path(unsafe[0].filename).name}:{unsafe[0].lineno}"
        return f"the trace would record one path of a branch on tensor values{where}"
    return traced
