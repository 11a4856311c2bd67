"""Modules by their path in the user's model: which module a graph node came from, and swapping one in place."""

from __future__ import annotations

import torch
from torch import nn


def module_path(node: torch.fx.Node) -> str | None:
    """The path of the innermost module an exported graph node was traced in (``nn_module_stack``)."""
    stack = node.meta.get("nn_module_stack")
    return list(stack.values())[-1][0] if stack else None


def replace_module(root: nn.Module, path: str, module: nn.Module) -> None:
    """Put ``module`` at ``path`` inside ``root``, in place."""
    parent_path, _, name = path.rpartition(".")
    parent = root.get_submodule(parent_path) if parent_path else root
    parent._modules[name] = module
    if name in vars(parent):  # a reserved name kept reachable by edgeq.models.tracing
        object.__setattr__(parent, name, module)
