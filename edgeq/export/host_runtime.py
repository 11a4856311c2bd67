"""Load an artifact in this process, for a user's own evaluation function."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


def load_forward(path: Path, fmt: str, engine: str | None = None) -> Callable[..., Any]:
    """A function ``forward(*inputs) -> outputs`` backed by the artifact (the first output when single)."""
    if fmt == "pte":
        from executorch.extension.pybindings import portable_lib

        module = portable_lib._load_for_executorch(str(path))

        def forward(*inputs: Any) -> Any:
            outputs = list(module.forward(tuple(torch.utils._pytree.tree_flatten(inputs)[0])))
            return outputs[0] if len(outputs) == 1 else tuple(outputs)

        return forward
    from torch.jit.mobile import _load_for_lite_interpreter

    if engine:
        torch.backends.quantized.engine = engine
    return _load_for_lite_interpreter(str(path))
