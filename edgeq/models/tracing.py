"""Make a user's module safe to trace: eval mode, and no submodule names that torch.fx/export reserve."""

from __future__ import annotations

import copy
import logging

import torch

log = logging.getLogger(__name__)

# Attribute names that GraphModule or the PT2E passes own; a submodule with
# one of these names is silently shadowed ("meta", "graph") or breaks tracing.
RESERVED_NAMES = frozenset({"meta", "graph", "code", "_graph", "_code"})
_SUFFIX = "_edgeq"


def prepare_for_tracing(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``model`` in eval mode whose reserved-name submodules are re-registered under safe names.

    The module stays reachable under its old attribute name (the forward code
    uses it), so the user's code runs unchanged; only the parameter paths gain
    a suffix, which reports map back with ``user_name``.
    """
    model = copy.deepcopy(model).eval()
    for parent_name, parent in list(model.named_modules()):
        for name in list(parent._modules):
            if name in RESERVED_NAMES:
                child = parent._modules.pop(name)
                parent._modules[name + _SUFFIX] = child
                object.__setattr__(parent, name, child)  # instance attribute: found before __getattr__
                log.info("renamed submodule %s.%s to %s%s for tracing", parent_name or "<root>", name, name, _SUFFIX)
    return model


def user_name(path: str) -> str:
    """Map a parameter or module path back to the name in the user's model."""
    return ".".join(part[: -len(_SUFFIX)] if part.endswith(_SUFFIX) and part[: -len(_SUFFIX)] in RESERVED_NAMES else part
                    for part in path.split("."))
