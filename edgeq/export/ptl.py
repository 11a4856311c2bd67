"""Write a TorchScript lite-interpreter program (.ptl), the legacy mobile format."""

from __future__ import annotations

import hashlib
import linecache
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from edgeq.errors import ExportError, summarize
from edgeq.models.tracing import ROOT, TracingRoot
from edgeq.quantize.legacy import quantized_engine

# What torch.jit.trace warns when the trace records one path of a branch on tensor values (or a value
# turned into a Python number): the saved program would then be wrong for other inputs.
_SERIALIZATION_ID = "/.data/serialization_id"
_UNSAFE_TRACE = ("might cause the trace to be incorrect", "might not generalize")


def write_ptl(model: torch.nn.Module, example: tuple[Any, ...], path: Path, engine: str) -> dict[str, Any]:
    """Trace (or script, when tracing fails or would record only one path of a branch) and save for the lite interpreter."""
    with quantized_engine(engine), torch.no_grad():
        scripted, how = _torchscript(model, example)
        try:
            scripted._save_for_lite_interpreter(str(path))
        except Exception as exc:  # noqa: BLE001
            raise ExportError(f"saving for the lite interpreter failed: {summarize(exc)}") from exc
    _drop_debug_records(path)
    return {"backend": f"lite-interpreter/{engine}", "torchscript": how}


def _drop_debug_records(path: Path) -> None:
    """Rewrite the archive without its ``*.debug_pkl`` records: they hold the source ranges of the trace, with
    the absolute path of every Python file it went through (the venv, the user's model), so the same model
    exported from another folder would give other bytes. The lite interpreter runs without them; an error
    inside the model then names the op but not the Python line. ``.data/serialization_id`` (derived by torch
    from the records, those paths included) becomes a digest of the records that stay."""
    stripped = path.with_name(path.name + ".stripped")
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(stripped, "w", compression=zipfile.ZIP_STORED) as target:
        kept = [info for info in source.infolist() if not info.filename.endswith(".debug_pkl")]
        digest = hashlib.sha256()
        for info in kept:
            if not info.filename.endswith(_SERIALIZATION_ID):
                digest.update(info.filename.encode() + b"\0" + source.read(info.filename))
        for info in kept:
            data = source.read(info.filename)
            if info.filename.endswith(_SERIALIZATION_ID):
                data = str(int(digest.hexdigest(), 16))[: len(data)].zfill(len(data)).encode()
            target.writestr(info, data)
    stripped.replace(path)


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
    if unsafe and not (all(_in_torch(w.filename) or _reads_shape(w.filename, w.lineno) for w in unsafe)
                       and _generalizes(traced, model, example)):
        where = f" at {Path(unsafe[0].filename).name}:{unsafe[0].lineno}"
        return f"the trace would record one path of a branch on tensor values{where}"
    return traced


def _in_torch(filename: str) -> bool:
    """A warning raised inside torch itself: an operator taking a tensor as a Python number for a scalar argument.
    In a torch.ao-converted model these are its scale and zero-point buffers, the same for every input."""
    return Path(torch.__file__).parent in Path(filename).resolve().parents


_SHAPE = re.compile(r"\.shape\b|\.size\(|\.dim\(\)|\bndim\b")


def _reads_shape(filename: str, lineno: int) -> bool:
    """The warned line turns the input's shape into a Python number (``int(x.shape[-2])``, as TensorFlow-style
    "same" padding does): a .ptl keeps the example's shapes, so the path recorded is the one every input takes."""
    return bool(_SHAPE.search(linecache.getline(filename, lineno)))


def _generalizes(traced: Any, model: torch.nn.Module, example: tuple[Any, ...]) -> bool:
    """The trace computes what the model computes on another input too (the example's floats moved)."""
    generator = torch.Generator().manual_seed(0)
    other = torch.utils._pytree.tree_map(
        lambda t: t + 0.25 * t.std().nan_to_num(1.0) * torch.randn(t.shape, generator=generator).to(t.dtype)
        if isinstance(t, torch.Tensor) and t.is_floating_point() and t.numel() > 1 else t, example)
    try:
        want = torch.utils._pytree.tree_leaves(model(*other))
        got = torch.utils._pytree.tree_leaves(traced(*other))
    except Exception:  # noqa: BLE001 - a trace that fails on another input does not generalize
        return False
    pairs = [(a, b) for a, b in zip(want, got) if isinstance(a, torch.Tensor)]
    return len(want) == len(got) and all(isinstance(b, torch.Tensor) and a.shape == b.shape
                                         and torch.allclose(a.float(), b.float(), rtol=1e-3, atol=1e-4) for a, b in pairs)
