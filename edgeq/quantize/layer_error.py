"""Layer-by-layer comparison of a quantized model against float, as PyTorch's Numeric Suite gives it.

Both sides come from the same PT2E graph: the float side is the prepared
graph (BatchNorm already folded into the convolutions, observers pass values
through), the quantized side is that graph converted to int8 (quantize /
dequantize around every op XNNPACK will run in int8). Each quantizable layer
is found by its module path in the user's model (``nn_module_stack``), so
reports name ``blocks.2.conv``, not a graph node.

Sensitivity is the metric's drop when only that one layer is quantized and
everything else stays float: it points at the culprit even when the error
it causes only shows up layers later.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from edgeq.errors import QuantizationError, summarize
from edgeq.metrics import Metric, Score
from edgeq.models.tracing import user_name
from edgeq.quantize.equalize import channel_max
from edgeq.quantize.module_paths import op_name
from edgeq.quantize.spec import QuantSpec

_COMPUTE_OPS = {"conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "linear", "matmul", "bmm",
                "addmm", "mm"}
OUTLIER_RATIO = 10.0  # an input channel this many times wider than the median one is an activation outlier
_LAYER_TYPES = ("Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "Linear")


@dataclass
class LayerStat:
    """One quantizable layer: its output error against float, its ranges, and its sensitivity."""

    name: str
    kind: str
    sqnr_db: float
    max_abs_err: float
    weight_min: float | None
    weight_max: float | None
    activation_min: float
    activation_max: float
    sensitivity: float | None = None  # the metric's drop with only this layer int8
    output_error: float | None = None  # 1 - cosine of the model's outputs to fp32, only this layer int8
    # input channels whose range dwarfs the median channel's: [{"channel": j, "ratio": r}], widest first
    outlier_channels: list[dict[str, float]] = field(default_factory=list)
    input_rms: float | None = None  # the root mean square of the layer's input over the samples
    padded_input: bool = False  # its input comes through an explicit pad op (TensorFlow-style "same" padding)
    causes: list[str] = field(default_factory=list)  # why int8 costs here, from the figures above (``diagnose``)

    @property
    def input_resolution_db(self) -> float | None:
        """How finely one int8 scale over the input's whole range resolves its typical value: the SQNR of a
        signal of the input's RMS against the rounding noise of steps of range/255 (about 48 dB for values
        spread evenly over the range; every factor of 2 by which the range outgrows the RMS costs 6 dB)."""
        span = self.activation_max - self.activation_min
        if not self.input_rms or span <= 0:
            return None
        step = span / 255
        return 10.0 * math.log10(12 * self.input_rms**2 / step**2)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["sqnr_db"] = None if math.isinf(self.sqnr_db) else self.sqnr_db
        data["input_resolution_db"] = self.input_resolution_db
        return data


RANGE_DB = 30.0  # an input resolved worse than this by its int8 steps: its range, not the layer, costs the accuracy
COMPOUNDED_DB = 15.0  # SQNR this far below the first layer's, with no cause of its own: error carried in
NOISY_DB = 20.0  # an output whose noise is a tenth of its signal: worth a cause, however it got there
ROUNDING_ERROR = 1e-3  # a layer whose int8 alone moves the model's outputs this much (1 - cosine) is worth naming


def diagnose(layers: Sequence[LayerStat]) -> None:
    """Fill each layer's ``causes`` (``layers`` in graph order): what its figures say int8 costs there.

    - range: one scale over a range far wider than the input's typical value (``input_resolution_db``);
    - channel: an input channel far wider than the median one (an activation outlier);
    - padding: the input is padded in the graph: exact in int8 (the pad value 0 is the zero point), so it names
      where an fp32 boundary falls rather than a loss;
    - rounding: nothing of its own, yet int8 in this layer alone visibly moves the model's outputs;
    - compounded: nothing of its own, yet the output is noisy (under 20 dB) and far noisier than the first
      layer's: the error of the layers before it, grown through the net.
    """
    first = next((layer.sqnr_db for layer in layers if not math.isinf(layer.sqnr_db)), math.inf)
    for layer in layers:
        causes = []
        resolution = layer.input_resolution_db
        if resolution is not None and resolution < RANGE_DB:
            causes.append(f"range: its input spans [{layer.activation_min:.3g}, {layer.activation_max:.3g}] at RMS "
                          f"{layer.input_rms:.3g}, so int8 steps resolve it to {resolution:.0f} dB")
        if layer.outlier_channels:
            widest = layer.outlier_channels[0]
            causes.append(f"channel: input channel {widest['channel']} is {widest['ratio']:.0f}x the median channel")
        if layer.padded_input:
            causes.append("padding: its input is padded in the graph (exact in int8: the pad value is the zero point)")
        own = [cause for cause in causes if not cause.startswith("padding")]
        compounded = layer.sqnr_db < min(first - COMPOUNDED_DB, NOISY_DB)
        if not own and (layer.output_error or 0.0) >= ROUNDING_ERROR and resolution is not None and not compounded:
            causes.append(f"rounding: nothing unusual in its ranges (input resolved to {resolution:.0f} dB); its "
                          f"ordinary int8 rounding alone moves the outputs by {layer.output_error:.2g}, grown by the "
                          "layers after it")
        elif not own and compounded:
            causes.append(f"compounded: its own input is resolved to {resolution:.0f} dB, but its output's SQNR is "
                          f"{layer.sqnr_db:.1f} dB against {first:.1f} dB at the first layer: the error of the layers "
                          "before it, grown through the net" if resolution is not None else
                          f"compounded: output SQNR {layer.sqnr_db:.1f} dB against {first:.1f} dB at the first layer")
        layer.causes = causes


def _layer_of(node: torch.fx.Node) -> tuple[str, str] | None:
    stack = node.meta.get("nn_module_stack")
    if not stack or node.op != "call_function":
        return None
    path, kind = list(stack.values())[-1]
    kind = kind if isinstance(kind, str) else kind.__qualname__
    op = op_name(node)
    if op not in _COMPUTE_OPS or kind.rsplit(".", 1)[-1] not in _LAYER_TYPES:
        return None
    return path, kind.rsplit(".", 1)[-1]


def layer_nodes(graph: torch.fx.GraphModule) -> dict[str, tuple[str, str]]:
    """Module path → (its last compute node's name, the module's class name), in graph order."""
    found: dict[str, tuple[str, str]] = {}
    for node in graph.graph.nodes:
        layer = _layer_of(node)
        if layer is not None:
            found[layer[0]] = (node.name, layer[1])
    return found


class _Recorder(torch.fx.Interpreter):
    """Runs a graph and keeps the output, input range and weight range of the nodes it is told to watch."""

    def __init__(self, module: torch.fx.GraphModule, watch: set[str]) -> None:
        super().__init__(module)
        self.watch = watch
        self.outputs: dict[str, torch.Tensor] = {}
        self.ranges: dict[str, tuple[float, float, float | None, float | None]] = {}
        self.channels: dict[str, torch.Tensor] = {}  # per input channel max |x|
        self.squares: dict[str, tuple[float, int]] = {}  # the input's sum of squares and element count

    def run_node(self, node: torch.fx.Node) -> Any:
        result = super().run_node(node)
        if node.name in self.watch and isinstance(result, torch.Tensor):
            self.outputs[node.name] = result.detach().clone().float()  # later in-place ops (relu_) must not change it
            args = [self.env[a] if isinstance(a, torch.fx.Node) else a for a in node.args[:2]]
            activation = args[0] if isinstance(args[0], torch.Tensor) else result
            weight = args[1] if len(args) > 1 and isinstance(args[1], torch.Tensor) else None
            self.ranges[node.name] = (activation.min().item(), activation.max().item(),
                                      None if weight is None else weight.min().item(),
                                      None if weight is None else weight.max().item())
            self.squares[node.name] = (activation.float().pow(2).sum().item(), activation.numel())
            if activation.dim() >= 2:
                self.channels[node.name] = channel_max(activation, -1 if op_name(node) in ("linear", "matmul", "mm", "addmm",
                                                                                      "bmm") else 1)
        return result


class _Accumulator:
    def __init__(self) -> None:
        self.signal = 0.0
        self.noise = 0.0
        self.max_err = 0.0
        self.ranges = [math.inf, -math.inf, None, None]
        self.channels: torch.Tensor | None = None
        self.squares, self.count = 0.0, 0

    def add_squares(self, squares: tuple[float, int] | None) -> None:
        if squares is not None:
            self.squares += squares[0]
            self.count += squares[1]

    @property
    def rms(self) -> float | None:
        return math.sqrt(self.squares / self.count) if self.count else None

    def add_channels(self, channels: torch.Tensor | None) -> None:
        if channels is not None:
            self.channels = channels if self.channels is None or self.channels.shape != channels.shape \
                else torch.maximum(self.channels, channels)

    def outliers(self) -> list[dict[str, float]]:
        """Input channels at least ``OUTLIER_RATIO`` times wider than the median channel, widest first (at most 3)."""
        if self.channels is None or self.channels.numel() < 4:
            return []
        median = float(self.channels.median().clamp(min=1e-12))
        ratios = self.channels / median
        order = torch.argsort(ratios, descending=True)[:3]
        return [{"channel": int(j), "ratio": round(float(ratios[j]), 1)} for j in order if ratios[j] >= OUTLIER_RATIO]

    def add(self, ref: torch.Tensor, got: torch.Tensor, ranges: tuple[float, float, float | None, float | None]) -> None:
        self.signal += ref.pow(2).sum().item()
        self.noise += (ref - got).pow(2).sum().item()
        self.max_err = max(self.max_err, (ref - got).abs().max().item() if ref.numel() else 0.0)
        self.ranges[0] = min(self.ranges[0], ranges[0])
        self.ranges[1] = max(self.ranges[1], ranges[1])
        self.ranges[2], self.ranges[3] = ranges[2], ranges[3]

    @property
    def sqnr_db(self) -> float:
        if self.noise == 0.0:
            return math.inf
        return 10.0 * math.log10(max(self.signal, 1e-30) / self.noise)


def compare_layers(float_graph: torch.fx.GraphModule, quantized_graph: torch.fx.GraphModule,
                   samples: Sequence[tuple[Any, ...]]) -> list[LayerStat]:
    """SQNR and max error of every quantizable layer's output, quantized against float, over ``samples``."""
    nodes = layer_nodes(float_graph)
    watch = {node for node, _ in nodes.values()}
    totals = {name: _Accumulator() for name in nodes}
    with torch.no_grad():
        for sample in samples:
            flat = torch.utils._pytree.tree_flatten(sample)[0]
            ref, got = _Recorder(float_graph, watch), _Recorder(quantized_graph, watch)
            ref.run(*flat)
            got.run(*flat)
            for name, (node, _) in nodes.items():
                if node in ref.outputs and node in got.outputs and ref.outputs[node].shape == got.outputs[node].shape:
                    totals[name].add(ref.outputs[node], got.outputs[node], ref.ranges[node])
                    totals[name].add_channels(ref.channels.get(node))
                    totals[name].add_squares(ref.squares.get(node))
    stats = []
    for name, (_, kind) in nodes.items():
        total = totals[name]
        if total.ranges[0] is math.inf:
            continue
        stats.append(LayerStat(name=user_name(name), kind=kind, sqnr_db=total.sqnr_db, max_abs_err=total.max_err,
                               weight_min=total.ranges[2], weight_max=total.ranges[3],
                               activation_min=total.ranges[0], activation_max=total.ranges[1],
                               outlier_channels=total.outliers(), input_rms=total.rms,
                               padded_input=_padded(float_graph, nodes[name][0])))
    return stats


_PASS_THROUGH = {"dequantize_per_tensor", "quantize_per_tensor", "getitem", "clone", "contiguous"}


def _padded(graph: torch.fx.GraphModule, name: str) -> bool:
    """Whether the compute node ``name`` reads its input through a pad, past observers and quantize steps."""
    node = next(node for node in graph.graph.nodes if node.name == name)
    source = node.args[0] if node.args else None
    for _ in range(8):
        if not isinstance(source, torch.fx.Node) or not source.args:
            return False
        if source.op == "call_module" or op_name(source) in _PASS_THROUGH:  # an observer, or q/dq
            source = source.args[0]
            continue
        amounts = source.args[1] if len(source.args) > 1 else ()
        return op_name(source) in ("pad", "constant_pad_nd") and any(amount != 0 for amount in amounts)
    return False


def rank_sensitivity(graph: torch.fx.GraphModule, spec: QuantSpec, layers: Sequence[str], calibration: Sequence[tuple[Any, ...]],
                     score: Callable[[Callable[..., Any]], Score], baseline: float,
                     say: Callable[[str], None] | None = None) -> list[tuple[str, float, float]]:
    """``(layer, metric drop, output error)`` with only that layer quantized, most harmful first.

    The drop is ``baseline`` minus the metric; the output error is one minus
    the outputs' cosine to fp32, which orders layers the metric cannot tell apart.
    """
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    from edgeq.quantize.pt2e import observe, only_layer_filter, xnnpack_quantizer

    ranked = []
    for index, layer in enumerate(layers, 1):
        if say:
            say(f"sensitivity: quantizing only {user_name(layer)} ({index}/{len(layers)})")
        try:
            copied = copy.deepcopy(graph)
            converted = convert_pt2e(observe(copied, xnnpack_quantizer(spec, only=only_layer_filter(copied, layer)),
                                             calibration))
        except Exception as exc:  # noqa: BLE001
            raise QuantizationError(f"quantizing only {user_name(layer)} failed: {summarize(exc)}") from exc
        result = score(converted)
        ranked.append((layer, baseline - result.value, 1.0 - result.cosine))
    return sorted(ranked, key=lambda item: (-item[1], -item[2]))


@dataclass
class LayerReport:
    """What ``edgeq inspect`` returns: the layers, most sensitive first, and the whole-model figures."""

    model: str
    scheme: str
    metric: Metric
    float_value: float
    quantized_value: float
    layers: list[LayerStat]
    notes: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "scheme": self.scheme, "metric": self.metric.name,
                "float_value": self.float_value, "quantized_value": self.quantized_value,
                "drop": self.float_value - self.quantized_value,
                "layers": [layer.to_dict() for layer in self.layers], "notes": self.notes}
