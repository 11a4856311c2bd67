"""Load an artifact in this process, for a user's own evaluation function."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)


@contextlib.contextmanager
def _native_stderr_logged() -> Iterator[None]:
    """What the ExecuTorch runtime's C++ writes to stderr (cpuinfo probing lines on every first load) goes
    to the debug log instead of the user's terminal."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # no real stderr (captured by a test runner): nothing to hide
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), fd)
        try:
            yield
        finally:
            os.dup2(saved, fd)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode(errors="replace").strip()
            if text:
                log.debug("ExecuTorch runtime stderr:\n%s", text)


def load_forward(path: Path, fmt: str, engine: str | None = None) -> Callable[..., Any]:
    """A function ``forward(*inputs) -> outputs`` backed by the artifact (the first output when single)."""
    if fmt == "pte":
        from executorch.extension.pybindings import portable_lib

        import executorch.kernels.quantized  # noqa: F401 - int8 embedding lookups (edgeq.quantize.embedding)

        with _native_stderr_logged():
            module = portable_lib._load_for_executorch(str(path))

        def forward(*inputs: Any) -> Any:
            with _native_stderr_logged():
                outputs = list(module.forward(tuple(torch.utils._pytree.tree_flatten(inputs)[0])))
            return outputs[0] if len(outputs) == 1 else tuple(outputs)

        return forward
    from torch.jit.mobile import _load_for_lite_interpreter

    if engine:
        torch.backends.quantized.engine = engine
    return _load_for_lite_interpreter(str(path))
