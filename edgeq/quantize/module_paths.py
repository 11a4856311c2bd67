"""Graph nodes and modules by their path in the user's model: which module and operator a node is, and swapping
a module in place."""

from __future__ import annotations

import torch
from torch import nn


def module_path(node: torch.fx.Node) -> str | None:
    """The path of the innermost module an exported graph node was traced in (``nn_module_stack``)."""
    stack = node.meta.get("nn_module_stack")
    return list(stack.values())[-1][0] if stack else None


def op_name(node: torch.fx.Node) -> str:
    """The aten operator a graph node calls, without its overload (``conv2d``, ``relu_``), or ``""``."""
    return getattr(getattr(node.target, "_overloadpacket", None), "__name__", "")


def replace_module(root: nn.Module, path: str, module: nn.Module) -> None:
    """Put ``module`` at ``path`` inside ``root``, in place."""
    parent_path, _, name = path.rpartition(".")
    parent = root.get_submodule(parent_path) if parent_path else root
    parent._modules[name] = module
    if name in vars(parent):  # a reserved name kept reachable by edgeq.models.tracing
        object.__setattr__(parent, name, module)
