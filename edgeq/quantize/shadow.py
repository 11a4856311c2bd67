"""Layer sensitivity from one calibrated model: the fast ranking ``--scheme auto`` and ``edgeq inspect`` use.

The exact ranking (``layer_error.rank_sensitivity``) prepares, calibrates and converts the model once per
layer. Here the model is calibrated once with every layer annotated; each observer then becomes a tap that
passes values through in float or fake-quantizes them with the ranges it recorded. An observer sees float
values during calibration whatever else is annotated, so a layer's taps hold exactly the ranges that
layer would get if it were the only one quantized.

1. **Shadow pass** (as PyTorch's Numeric Suite shadows float with int8): one float run per sample; at every
   layer the op is computed again from its int8-quantized input and weight, and its own error (noise over
   signal) is accumulated. One pass ranks every layer by the damage it does locally.
2. **Refinement**: the ``refine`` worst layers are scored for real, the model run in float with only that
   layer's taps quantizing, so the top of the ranking is ordered by the metric's drop, as the exact method
   orders it, at the price of ``refine`` runs instead of one per layer.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import torch

from edgeq.errors import QuantizationError, summarize
from edgeq.metrics import Score
from edgeq.models.tracing import user_name
from edgeq.quantize.module_paths import op_name
from edgeq.quantize.spec import QuantSpec

REFINE = 8  # layers scored for real after the shadow pass: more than the mixed-precision search keeps in float
_SHADOW_SAMPLES = 16
_FUSED_AFTER = {"relu", "relu_", "hardtanh", "hardtanh_", "getitem"}


class _Tap(torch.nn.Module):
    """An observer's place in the graph: float pass-through, or fake quantization with its recorded ranges."""

    def __init__(self, observer: torch.nn.Module) -> None:
        super().__init__()
        self.observer = observer
        self.active = False
        self.dynamic = bool(getattr(observer, "is_dynamic", False))
        self.qmin, self.qmax = int(observer.quant_min), int(observer.quant_max)
        self.axis = getattr(observer, "ch_axis", None)
        per_channel = getattr(observer, "qscheme", None) in (torch.per_channel_symmetric, torch.per_channel_affine)
        if not self.dynamic:
            scale, zero_point = observer.calculate_qparams()
            self.scale, self.zero_point = scale.float(), zero_point.int()
            self.per_channel = per_channel and self.scale.numel() > 1

    def quantize(self, x: torch.Tensor) -> torch.Tensor:
        if not x.dtype.is_floating_point:
            return x
        if self.dynamic:  # the range of this very tensor, as dynamic int8 takes it at each call
            low, high = min(x.min().item(), 0.0), max(x.max().item(), 0.0)
            scale = max((high - low) / (self.qmax - self.qmin), 1e-12)
            zero_point = int(round(self.qmin - low / scale))
            return torch.fake_quantize_per_tensor_affine(x, scale, zero_point, self.qmin, self.qmax)
        if self.per_channel:
            return torch.fake_quantize_per_channel_affine(x, self.scale, self.zero_point, self.axis, self.qmin, self.qmax)
        return torch.fake_quantize_per_tensor_affine(x, float(self.scale), int(self.zero_point), self.qmin, self.qmax)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.quantize(x) if self.active else x


class _Layer:
    """One layer's compute node and the taps that quantize it alone: its input and weight, and (static) its
    output after the ReLU fused into it."""

    def __init__(self, path: str, node: torch.fx.Node, inputs: list[str], outputs: list[str]) -> None:
        self.path, self.node, self.inputs, self.outputs = path, node, inputs, outputs


def _taps(graph: torch.fx.GraphModule) -> dict[str, _Tap]:
    from torchao.quantization.pt2e import ObserverBase

    taps = {}
    for node in graph.graph.nodes:
        if node.op == "call_module" and isinstance(graph.get_submodule(node.target), ObserverBase):
            taps[node.name] = _Tap(graph.get_submodule(node.target))
            setattr(graph, node.target, taps[node.name])
    return taps


def _layer(path: str, node: torch.fx.Node, taps: dict[str, _Tap]) -> _Layer:
    inputs = [arg.name for arg in node.args if isinstance(arg, torch.fx.Node) and arg.name in taps]
    ends, frontier = [node], [node]
    while frontier:
        for user in frontier.pop().users:
            op = op_name(user)
            if op in _FUSED_AFTER:
                ends.append(user)
                frontier.append(user)
    outputs = sorted({user.name for end in ends for user in end.users if user.name in taps})
    return _Layer(path, node, inputs, outputs)


class _Shadow(torch.fx.Interpreter):
    """Runs the graph in float and, at each layer, the layer once more from int8-quantized input and weight."""

    def __init__(self, graph: torch.fx.GraphModule, layers: dict[str, _Layer], taps: dict[str, _Tap],
                 noise: dict[str, list[float]]) -> None:
        super().__init__(graph)
        self.by_node = {layer.node.name: layer for layer in layers.values()}
        self.taps, self.noise = taps, noise

    def run_node(self, node: torch.fx.Node) -> Any:
        result = super().run_node(node)
        layer = self.by_node.get(node.name)
        if layer is not None and isinstance(result, torch.Tensor):
            def value(arg: torch.fx.Node) -> Any:
                return self.taps[arg.name].quantize(self.env[arg]) if arg.name in layer.inputs else self.env[arg]

            shadowed = node.target(*torch.fx.node.map_arg(node.args, value), **torch.fx.node.map_arg(node.kwargs, value))
            totals = self.noise[layer.path]
            totals[0] += float((result - shadowed).pow(2).sum())
            totals[1] += float(result.pow(2).sum())
        return result


def fast_sensitivity(graph: torch.fx.GraphModule, spec: QuantSpec, calibration: Sequence[tuple[Any, ...]], samples: Sequence[tuple[Any, ...]],
                     score: Callable[[Callable[..., Any]], Score], baseline: float,
                     say: Callable[[str], None] | None = None,
                     refine: int = REFINE) -> list[tuple[str, float | None, float | None]]:
    """``(layer, metric drop, output error)`` most harmful first, from one calibration (see the module doc).

    Layers are named by module path, as ``layer_error.layer_nodes`` finds them. Layers past the ``refine``
    worst by the shadow pass come last, in shadow order, with no drop measured (None).
    """
    from edgeq.quantize.layer_error import layer_nodes
    from edgeq.quantize.pt2e import observe, xnnpack_quantizer

    say = say or (lambda message: None)
    say("sensitivity: calibrating once with every layer observed")
    try:
        observed = observe(copy.deepcopy(graph), xnnpack_quantizer(spec), calibration)
    except Exception as exc:  # noqa: BLE001
        raise QuantizationError(f"PT2E {spec.scheme} calibration for the sensitivity ranking failed: {summarize(exc)}") from exc
    taps = _taps(observed)
    observed.recompile()
    nodes = {node.name: node for node in observed.graph.nodes}
    found = {path: _layer(path, nodes[name], taps) for path, (name, _) in layer_nodes(observed).items()}
    noise = {path: [0.0, 0.0] for path in found}
    say(f"sensitivity: shadowing each of {len(found)} layers with its int8 self")
    with torch.no_grad():
        for sample in samples[:_SHADOW_SAMPLES]:
            _Shadow(observed, found, taps, noise).run(*torch.utils._pytree.tree_flatten(sample)[0])
    ratio = {path: total[0] / max(total[1], 1e-30) for path, total in noise.items()}
    shadowed = sorted(found, key=lambda path: -ratio[path])
    refined = []
    for index, path in enumerate(shadowed[:refine], 1):
        say(f"sensitivity: scoring {user_name(path)} alone in int8 ({index}/{min(refine, len(shadowed))})")
        # dynamic int8 quantizes a layer's inputs only; static also its output (the next layer's input edge)
        chosen = set(found[path].inputs + (found[path].outputs if spec.scheme != "dynamic" else []))
        for name, tap in taps.items():
            tap.active = name in chosen
        result = score(observed)
        refined.append((path, baseline - result.value, 1.0 - result.cosine))
    for tap in taps.values():
        tap.active = False
    refined.sort(key=lambda item: (-item[1], -item[2]))
    return refined + [(path, None, None) for path in shadowed[refine:]]
