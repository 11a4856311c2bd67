"""Make a user's module safe to trace and export, whatever shape it comes in.

Users hand over models as they are: a bare ``nn.Sequential`` (parameters named ``0.weight``), a forward
that takes keywords, outputs that are ``ModelOutput``s, dataclasses, dicts or nested tuples with ``None``
in them, submodules named ``meta``. ``prepare_for_tracing`` puts the model under a root that edgeq owns:

* positional tensors in (keyword inputs are mapped to their names), a flat tuple of tensors out, in
  ``torch.utils._pytree`` order (the order the device runner and ``numerics`` flatten in);
* every parameter path starts with ``model.``, so no path begins with a digit (ExecuTorch's XNNPACK
  BatchNorm fusion names new constants after the path, and torch.fx renames names that start with one);
* submodules whose names torch.fx/export reserve are re-registered under safe names;
* transformers' ``Conv1D`` (GPT-2's projections: a Linear with its weight transposed) becomes the
  ``nn.Linear`` it is, so both quantizers see a Linear layer and make its weights int8.

Reports map paths back to the user's own names with ``user_name``.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import sys
from collections.abc import Sequence
from typing import Any

import torch

log = logging.getLogger(__name__)

# Attribute names that GraphModule or the PT2E passes own; a submodule with
# one of these names is silently shadowed ("meta", "graph") or breaks tracing.
RESERVED_NAMES = frozenset({"meta", "graph", "code", "_graph", "_code"})
_SUFFIX = "_edgeq"
ROOT = "model"  # the attribute the user's model lives under in the tracing root


def output_tensors(outputs: Any) -> list[Any]:
    """The tensor leaves of a model's outputs in pytree order; ``None``, numbers and strings are left out.

    Beyond what ``torch.utils._pytree`` flattens (tuples, lists, dicts, namedtuples, registered types such
    as transformers' ``ModelOutput``), dataclasses are opened field by field. fx proxies count as tensors.
    """
    found: list[Any] = []
    _collect(outputs, found, skipped=None)
    return found


def skipped_outputs(outputs: Any) -> list[str]:
    """Type names of the output parts that hold no tensor edgeq can see (a KV cache object, say)."""
    skipped: list[str] = []
    _collect(outputs, [], skipped)
    return sorted(set(skipped))


def _collect(tree: Any, found: list[Any], skipped: list[str] | None) -> None:
    if isinstance(tree, (torch.Tensor, torch.fx.Proxy)):
        found.append(tree)
    elif tree is None or isinstance(tree, (bool, int, float, str, bytes)):
        return
    elif dataclasses.is_dataclass(tree) and not isinstance(tree, type) and type(tree) not in torch.utils._pytree.SUPPORTED_NODES:
        for field in dataclasses.fields(tree):
            _collect(getattr(tree, field.name), found, skipped)
    elif isinstance(tree, (tuple, list, dict)) or type(tree) in torch.utils._pytree.SUPPORTED_NODES:
        children, _ = torch.utils._pytree.tree_flatten(tree, is_leaf=lambda node: node is not tree)
        for child in children:
            _collect(child, found, skipped)
    elif skipped is not None:
        skipped.append(type(tree).__name__)


class TracingRoot(torch.nn.Module):
    """The user's model under ``model``: positional tensors in, a flat tuple of tensors out.

    ``keywords`` names the trailing positional inputs that the user's forward takes by keyword.
    """

    def __init__(self, model: torch.nn.Module, keywords: Sequence[str] = ()) -> None:
        super().__init__()
        self.add_module(ROOT, model)
        self.keywords = tuple(keywords)

    def forward(self, *inputs: Any) -> tuple[Any, ...]:
        model = getattr(self, ROOT)
        if not self.keywords:
            return tuple(output_tensors(model(*inputs)))
        split = len(inputs) - len(self.keywords)
        return tuple(output_tensors(model(*inputs[:split], **dict(zip(self.keywords, inputs[split:])))))


def prepare_for_tracing(model: torch.nn.Module, keywords: Sequence[str] = ()) -> TracingRoot:
    """A copy of ``model`` in eval mode under a ``TracingRoot``, reserved-name submodules renamed.

    A renamed module stays reachable under its old attribute name (the forward code
    uses it), so the user's code runs unchanged; only the parameter paths change,
    which reports map back with ``user_name``.
    """
    model = copy.deepcopy(model).eval()
    conv1d = getattr(sys.modules.get("transformers.pytorch_utils"), "Conv1D", None)  # loaded if the model uses it
    for parent_name, parent in list(model.named_modules()):
        for name in list(parent._modules):
            if conv1d is not None and isinstance(parent._modules[name], conv1d):
                parent._modules[name] = _linear_from_conv1d(parent._modules[name])
            if name in RESERVED_NAMES:
                child = parent._modules.pop(name)
                parent._modules[name + _SUFFIX] = child
                object.__setattr__(parent, name, child)  # instance attribute: found before __getattr__
                log.info("renamed submodule %s.%s to %s%s for tracing", parent_name or "<root>", name, name, _SUFFIX)
    return TracingRoot(model, keywords).eval()


def _linear_from_conv1d(layer: torch.nn.Module) -> torch.nn.Linear:
    """``Conv1D(nf, nx)`` computes ``x @ W + b`` with ``W`` of shape ``(nx, nf)``: ``Linear`` with ``W.T``."""
    weight = layer.weight.detach()
    linear = torch.nn.Linear(weight.shape[0], weight.shape[1], bias=layer.bias is not None,
                             dtype=weight.dtype, device=weight.device)
    with torch.no_grad():
        linear.weight.copy_(weight.t())
        if layer.bias is not None:
            linear.bias.copy_(layer.bias.detach())
    return linear.train(layer.training)


def user_name(path: str) -> str:
    """Map a parameter or module path of a prepared model back to the name in the user's model."""
    parts = path.split(".")
    if parts and parts[0] == ROOT:
        parts = parts[1:]
    return ".".join(part[: -len(_SUFFIX)] if part.endswith(_SUFFIX) and part[: -len(_SUFFIX)] in RESERVED_NAMES else part
                    for part in parts) or "<model>"


def prepared_name(name: str) -> str:
    """The path in a prepared model of a module the user names as in their own model (inverse of ``user_name``)."""
    parts = [part + _SUFFIX if part in RESERVED_NAMES else part for part in name.split(".") if part]
    return ".".join([ROOT, *parts])
