"""fp16 weights and activations for .pte: XNNPACK's fp16 kernels, where the CPU has fp16 arithmetic.

ARMv8.2 cores (the ``fp16`` ISA flag of the ``rpi5`` and phone profiles) run XNNPACK's fp16 kernels
natively: half the weight bytes, no calibration, accuracy close to fp32. The artifact keeps fp32 inputs and
outputs, as every other variant does, and casts at its edges, so the runner and the checks treat it like
any other. Its speed must be measured on such a core: an emulated board only checks the numbers.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from edgeq.models.types import Training
from edgeq.quantize.module_paths import module_path, replace_module
from edgeq.quantize.spec import QuantResult, QuantSpec


def _to(dtype: torch.dtype, tree: Any) -> Any:
    """Floating-point tensors of ``tree`` as ``dtype``; integers (token ids, masks) and the rest unchanged."""
    return torch.utils._pytree.tree_map(
        lambda value: value.to(dtype) if isinstance(value, torch.Tensor) and value.is_floating_point() else value, tree)


class HalfPrecision(nn.Module):
    """The model in fp16 that takes and returns fp32 tensors, as the fp32 artifact does. BatchNorm after a
    convolution is folded into it first, in fp32 (XNNPACK's own folding pass does not take fp16 weights)."""

    def __init__(self, model: nn.Module, example: tuple[Any, ...] | None = None) -> None:
        super().__init__()
        model = copy.deepcopy(model).eval()
        if example is not None:
            fold_batch_norms(model, example)
        self.model = model.half()

    def forward(self, *inputs: Any) -> Any:
        return _to(torch.float32, self.model(*_to(torch.float16, inputs)))


def fold_batch_norms(model: nn.Module, example: tuple[Any, ...]) -> int:
    """Fold each BatchNorm that directly follows a convolution into it (in place, eval mode); returns how many."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    modules = dict(model.named_modules())
    graph = torch.export.export(model, example).graph
    folded = 0
    for node in graph.nodes:
        if node.op != "call_function" or not node.args or not isinstance(node.args[0], torch.fx.Node):
            continue
        source = node.args[0]
        if len(source.users) != 1 or "batch_norm" not in str(node.target) or "conv" not in str(source.target):
            continue
        conv_path, bn_path = module_path(source), module_path(node)
        conv, bn = modules.get(conv_path), modules.get(bn_path)
        if not isinstance(conv, (nn.Conv1d, nn.Conv2d, nn.Conv3d)) or not isinstance(bn, nn.modules.batchnorm._BatchNorm):
            continue
        if bn.running_mean is None:
            continue
        replace_module(model, conv_path, fuse_conv_bn_eval(conv, bn))
        replace_module(model, bn_path, nn.Identity())
        folded += 1
    return folded


def quantize_half(model: nn.Module, example: tuple[Any, ...], calibration: Sequence[tuple[Any, ...]], spec: QuantSpec,
                  training: Training | None = None, say: Callable[[str], None] | None = None) -> QuantResult:
    """``model`` in fp16, ready for the .pte writer (nothing to calibrate)."""
    return QuantResult(spec=spec, model=HalfPrecision(model, example),
                       notes=["fp16 weights and activations (XNNPACK fp16 kernels); inputs and outputs stay fp32, "
                              "cast at the artifact's edges"])
