"""Where an int8 region meets a layer kept in fp32 (mixed precision), make the graph say so plainly.

XNNPACK's lowering reads a quantized graph by its quantize/dequantize pairs. Some of its passes assume that
an op fed by a dequantize sits inside a quantized region: ``InsertPadQDQPass`` gives a zero ``constant_pad_nd``
whose input is dequantized an implicit quantize/dequantize pair after it, so the convolution the pad feeds
receives an int8 input. When that convolution is the layer kept in fp32 (TensorFlow-style "same" padding
computed in front of a strided depthwise convolution, as in transformers' MobileNetV2), it then has an int8
input and a float weight, and the lowering fails with "Weight and Input should both be quantized".

The fix is to draw the boundary after the pad: a zero pad of an int8 tensor is exact in int8 (zero is the
zero point), so the pad is requantized with its input's own parameters and dequantized again before the
float layer. Nothing is rounded twice, and the lowering sees an explicit boundary it handles.
"""

from __future__ import annotations

import torch

from edgeq.quantize.module_paths import op_name

_PADS = {torch.ops.aten.pad.default, torch.ops.aten.constant_pad_nd.default}


def _dequantize_per_tensor() -> object:
    return torch.ops.quantized_decomposed.dequantize_per_tensor.default


def _quantize_per_tensor() -> object:
    return torch.ops.quantized_decomposed.quantize_per_tensor.default


def _zero_pad(node: torch.fx.Node) -> bool:
    """A constant pad by zero that only adds (negative amounts crop; XNNPACK's static pad cannot)."""
    if node.target is torch.ops.aten.pad.default:
        mode = node.args[2] if len(node.args) > 2 else node.kwargs.get("mode", "constant")
        value = node.args[3] if len(node.args) > 3 else node.kwargs.get("value", None)
        if mode != "constant":
            return False
    else:
        value = node.args[2] if len(node.args) > 2 else node.kwargs.get("value", 0.0)
    return (value or 0.0) == 0.0 and all(amount >= 0 for amount in node.args[1])


def requantize_float_boundaries(graph: torch.fx.GraphModule) -> list[str]:
    """Requantize every zero pad that takes an int8 input and feeds only float ops (the first op of a layer
    kept in fp32); returns the names of the pads it changed."""
    dequantize, quantize = _dequantize_per_tensor(), _quantize_per_tensor()
    changed = []
    for node in list(graph.graph.nodes):
        if node.op != "call_function" or node.target not in _PADS or not _zero_pad(node):
            continue
        source = node.args[0]
        if not (isinstance(source, torch.fx.Node) and source.target is dequantize):
            continue
        if any(user.target is quantize for user in node.users):
            continue  # already quantized: the op after it is int8
        params = source.args[1:]
        with graph.graph.inserting_after(node):
            requantized = graph.graph.call_function(quantize, (node, *params))
        with graph.graph.inserting_after(requantized):
            dequantized = graph.graph.call_function(dequantize, (requantized, *params))
        node.replace_all_uses_with(dequantized, delete_user_cb=lambda user: user is not requantized)
        for new in (requantized, dequantized):
            new.meta = {key: value for key, value in node.meta.items() if key in ("nn_module_stack", "stack_trace")}
        changed.append(node.name)
    if changed:
        graph.recompile()
    return changed


def _short(node: torch.fx.Node) -> str:
    name = op_name(node) or str(node.target)  # the graph's output node has no operator
    return {"quantize_per_tensor": "int8", "dequantize_per_tensor": "int8", "dequantize_per_channel": "int8 weight"}.get(name, name)


def close_float_boundaries(graph: torch.fx.GraphModule, float_layers: tuple[str, ...]) -> list[str]:
    """After ``convert_pt2e``: requantize the pads where int8 meets a float op, then return where int8 meets
    each layer kept in fp32 (``QuantResult.boundaries``)."""
    requantize_float_boundaries(graph)
    return boundary_patterns(graph, float_layers)


def boundary_patterns(graph: torch.fx.GraphModule, float_layers: tuple[str, ...]) -> list[str]:
    """For each layer kept in fp32: the ops where int8 meets it, read from the converted graph
    (``"blocks.1.conv: int8 → pad → conv2d (fp32) → hardtanh → int8"``), for a lowering failure to name."""
    from edgeq.models.tracing import user_name
    from torchao.quantization.pt2e.quantizer import get_module_name_filter

    patterns = []
    for layer in float_layers:
        inside = get_module_name_filter(layer)
        ops = [node for node in graph.graph.nodes if node.op == "call_function" and inside(node)
               and node.target not in (_quantize_per_tensor(), _dequantize_per_tensor())]
        if not ops:
            continue
        first, last = ops[0], ops[-1]
        before = [_short(arg) for arg in first.args if isinstance(arg, torch.fx.Node)][:1]
        after = [_short(user) for user in last.users][:1]
        middle = " → ".join(_short(node) for node in ops[:4]) + (" → …" if len(ops) > 4 else "")
        patterns.append(f"{user_name(layer)}: {' → '.join([*before, middle + ' (fp32)', *after])}")
    return patterns
