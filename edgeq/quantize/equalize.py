"""Outlier equalization: move an activation's outlier channels into the weights, so every layer stays int8.

One int8 scale covers a whole activation (per tensor). When one channel runs hundreds of times wider than
the rest, that scale rounds every other channel to a few levels, and the layer reading the activation loses
the model's accuracy though no weight is at fault. SmoothQuant (Xiao et al., 2023; Intel Neural Compressor)
divides each channel ``j`` of the activation by ``s_j = sqrt(max|X_j| / max|W_j|)`` and multiplies the
consumer's input channel ``j`` by ``s_j``; the product ``X·W`` is unchanged. Here the division is folded into
the producer (a Linear or convolution's output channel, or the BatchNorm after it) through ReLU or nothing in
between, both of which commute with a positive scale, so the equalized model is the same function in fp32 and
needs no extra op: as cross-layer equalization does for conv nets (Nagel et al., 2019).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from edgeq.models.tracing import user_name
from edgeq.quantize.module_paths import module_path, op_name

_AFFINE = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.BatchNorm1d, nn.BatchNorm2d)
_CONSUMERS = (nn.Linear, nn.Conv1d, nn.Conv2d)
_THROUGH = {"relu", "relu_", "dropout", "flatten"}  # commute with a positive per-channel scale (flatten: Linear after a 1-wide conv map)
MIN_RATIO = 4.0  # equalize an activation whose widest channel spans at least this many times the median one


@dataclass(frozen=True)
class Pair:
    """An activation between two layers: ``producer``'s output channels are ``consumer``'s input channels."""

    producer: str  # module path of the Linear, convolution or BatchNorm whose output channels get divided
    consumer: str  # module path of the Linear or convolution whose input channels get multiplied
    relu: bool  # a ReLU between them: int8 sees only the positive part


def find_pairs(model: nn.Module, example: tuple[Any, ...]) -> list[Pair]:
    """Producer → (ReLU) → consumer chains in ``model`` where a per-channel scale can move between the two."""
    graph = torch.export.export(copy.deepcopy(model).eval(), example).graph
    modules = dict(model.named_modules())
    pairs = []
    for node in graph.nodes:
        if node.op != "call_function" or op_name(node) not in ("linear", "conv1d", "conv2d", "batch_norm",
                                                           "_native_batch_norm_legit_no_training"):
            continue
        producer = module_path(node)
        if not isinstance(modules.get(producer), _AFFINE):
            continue
        value, relu = node, False
        while len(value.users) == 1:
            user = next(iter(value.users))
            if op_name(user) == "getitem" or op_name(user) in _THROUGH and (op_name(user) != "flatten" or _is_flat(value)):
                value, relu = user, relu or op_name(user).startswith("relu")
                continue
            consumer = module_path(user)
            module = modules.get(consumer)
            if (op_name(user) in ("linear", "conv1d", "conv2d") and isinstance(module, _CONSUMERS) and user.args[0] is value
                    and getattr(module, "groups", 1) == 1 and consumer != producer):
                pairs.append(Pair(producer, consumer, relu))
            break
    return pairs


def _is_flat(value: torch.fx.Node) -> bool:
    """Flatten keeps channels as channels only when nothing but the channel dimension is wider than one."""
    shape = getattr(value.meta.get("val"), "shape", None)
    return shape is not None and all(size == 1 for size in shape[2:])


def channel_max(values: torch.Tensor, dim: int) -> torch.Tensor:
    """Per-channel max |x| along ``dim`` (-1 for a Linear's features, 1 for a convolution's channels)."""
    return values.detach().abs().movedim(dim, 0).reshape(values.shape[dim], -1).amax(1)


def _channel_dim(module: nn.Module) -> int:
    return -1 if isinstance(module, nn.Linear) else 1


def activation_ranges(model: nn.Module, pairs: Sequence[Pair], samples: Sequence[tuple[Any, ...]]) -> dict[str, torch.Tensor]:
    """Each producer's per-channel max |output| over ``samples``, after the ReLU that follows it (what int8 sees)."""
    modules = dict(model.named_modules())
    ranges: dict[str, torch.Tensor] = {}
    hooks = []
    for pair in {pair.producer: pair for pair in pairs}.values():
        def record(module: nn.Module, inputs: Any, output: torch.Tensor, pair: Pair = pair) -> None:
            seen = channel_max(output.clamp(min=0) if pair.relu else output, _channel_dim(module))
            ranges[pair.producer] = seen if pair.producer not in ranges else torch.maximum(ranges[pair.producer], seen)
        hooks.append(modules[pair.producer].register_forward_hook(record))
    try:
        with torch.no_grad():
            for sample in samples:
                model(*sample)
    finally:
        for hook in hooks:
            hook.remove()
    return ranges


def equalize(model: nn.Module, example: tuple[Any, ...], samples: Sequence[tuple[Any, ...]]) -> tuple[nn.Module, list[str]]:
    """A copy of ``model`` with each activation's outlier channels moved into the weights; returns it and one
    note per equalized activation (none: ``model`` itself comes back)."""
    pairs = find_pairs(model, example)
    if not pairs:
        return model, []
    ranges = activation_ranges(model, pairs, samples)
    equalized = copy.deepcopy(model)
    modules = dict(equalized.named_modules())
    notes = []
    for pair in pairs:
        activation = ranges.get(pair.producer)
        if activation is None:
            continue
        ratio = float(activation.max() / activation.median().clamp(min=1e-12))
        if ratio < MIN_RATIO:
            continue
        producer, consumer = modules[pair.producer], modules[pair.consumer]
        weight = consumer.weight.detach().abs().transpose(0, 1).reshape(consumer.weight.shape[1], -1).amax(1)
        if weight.numel() != activation.numel():
            continue
        scale = (activation.clamp(min=1e-8) / weight.clamp(min=1e-8)).sqrt()
        scale = torch.where(activation > 0, scale / scale[activation > 0].median(), torch.ones_like(scale)).clamp(1e-4, 1e4)
        with torch.no_grad():
            shape = (-1,) + (1,) * (producer.weight.dim() - 1)
            producer.weight.div_(scale.reshape(shape))
            if producer.bias is not None:
                producer.bias.div_(scale)
            consumer.weight.mul_(scale.reshape((1, -1) + (1,) * (consumer.weight.dim() - 2)))
        notes.append(f"equalized {user_name(pair.producer)} → {user_name(pair.consumer)}: its widest channel spanned "
                     f"{ratio:.0f}× the median channel; channel scales moved into the weights")
    return (equalized, notes) if notes else (model, [])
