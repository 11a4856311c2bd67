"""The main flow: torch.export, then PT2E quantization with the XNNPACK quantizer (for .pte).

Dynamic and static post-training quantization annotate an eval-mode graph;
quantization-aware training exports the model in train mode with a free batch
dimension, fine-tunes the fake-quantized graph, then converts. Layers named in
``spec.float_layers`` are left unannotated, so they stay fp32 (mixed precision).
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import logging
from collections.abc import Callable, Sequence
from typing import Any

import torch

from edgeq.errors import QuantizationError, summarize
from edgeq.models.types import Training, TrainSet
from edgeq.quantize.boundaries import close_float_boundaries
from edgeq.quantize.calibration import calibrate, calibration_samples
from edgeq.quantize.embedding import quantize_embeddings
from edgeq.quantize.lstm import replace_lstms
from edgeq.quantize.module_paths import op_name
from edgeq.quantize.observers import activation_observer
from edgeq.quantize.spec import QuantResult, QuantSpec

log = logging.getLogger(__name__)


def quantization_config(spec: QuantSpec) -> Any:
    """XNNPACK's symmetric int8 config for ``spec``, with the activation observer it names."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import get_symmetric_quantization_config

    config = get_symmetric_quantization_config(is_per_channel=spec.per_channel, is_dynamic=spec.scheme == "dynamic",
                                               is_qat=spec.scheme == "qat")
    if spec.scheme != "static" or spec.observer == "histogram":
        return config
    observer = activation_observer(spec.observer, "pt2e").with_args(eps=2**-12)
    activation = dataclasses.replace(config.input_activation, observer_or_fake_quant_ctr=observer)
    return dataclasses.replace(config, input_activation=activation, output_activation=activation)


def module_filter(float_layers: Sequence[str]) -> Callable[[torch.fx.Node], bool]:
    """True for graph nodes to quantize: those outside every module in ``float_layers``."""
    from torchao.quantization.pt2e.quantizer import get_module_name_filter

    inside = [get_module_name_filter(name) for name in float_layers]
    return lambda node: not any(f(node) for f in inside)


_FUSED_AFTER = {"batch_norm", "_native_batch_norm_legit_no_training", "relu", "relu_", "hardtanh", "hardtanh_"}


def only_layer_filter(graph: torch.fx.GraphModule, layer: str) -> Callable[[torch.fx.Node], bool]:
    """True for the nodes of module ``layer`` and the BatchNorm/ReLU that XNNPACK fuses after it.

    The quantizer annotates conv-bn-relu as one pattern only when every node
    in it passes the filter, and the BatchNorm and ReLU are other modules.
    """
    from torchao.quantization.pt2e.quantizer import get_module_name_filter

    inside = get_module_name_filter(layer)
    chosen = {node for node in graph.graph.nodes if node.op == "call_function" and inside(node)}
    frontier = list(chosen)
    while frontier:
        for user in frontier.pop().users:
            op = op_name(user)
            if user not in chosen and (op in _FUSED_AFTER or (op == "getitem" and user.args[0] in chosen)):
                chosen.add(user)
                frontier.append(user)
    names = {node.name for node in chosen}
    # Parameters carry no module path, and folding BatchNorm into the convolution (which prepare_pt2e does
    # before annotating) replaces them with new nodes: let every parameter through; the op nodes decide.
    return lambda node: node.op == "get_attr" or node.name in names or inside(node)


def float_scalars_to_constants(graph: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """Give floating-point ``add``/``mul`` with a Python scalar a tensor constant in its place, so both
    operands can be annotated and quantized.

    XNNPACK's quantizer does this for every ``add``/``mul`` and always makes the constant float, which also
    turns integer arithmetic (``arange + past_length`` for position ids in transformers models) into float
    indices that ``embedding`` and ``index`` then refuse at calibration. Integer ops are left alone here.
    """
    from torchao.quantization.pt2e.utils import get_new_attr_name_with_prefix

    new_name = get_new_attr_name_with_prefix("_edgeq_scalar_")
    for node in list(graph.graph.nodes):
        if node.op != "call_function" or node.target not in (torch.ops.aten.add.Tensor, torch.ops.aten.mul.Tensor):
            continue
        value = node.meta.get("val")
        if not isinstance(value, torch.Tensor) or not value.dtype.is_floating_point:
            continue
        args = list(node.args)
        for index, arg in enumerate(args):
            if isinstance(arg, (int, float)) and not isinstance(arg, bool):
                name = new_name(graph)
                constant = torch.tensor(float(arg))
                graph.register_buffer(name, constant)
                with graph.graph.inserting_before(node):
                    attr = graph.graph.get_attr(name)
                attr.meta["val"] = value.fake_mode.from_tensor(constant, static_shapes=True)
                args[index] = attr
        node.args = tuple(args)
    graph.recompile()
    return graph


def _quantizer_class() -> type:
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import XNNPACKQuantizer

    class _Quantizer(XNNPACKQuantizer):
        """XNNPACK's quantizer, with scalars made constants only where the arithmetic is floating-point."""

        def transform_for_annotation(self, model: torch.fx.GraphModule) -> torch.fx.GraphModule:
            return float_scalars_to_constants(model)

    return _Quantizer


def xnnpack_quantizer(spec: QuantSpec, only: Callable[[torch.fx.Node], bool] | None = None) -> Any:
    """The quantizer for ``spec``; ``only`` (a node filter) limits it to those nodes."""
    quantizer = _quantizer_class()().set_global(quantization_config(spec))
    if only is not None:
        return quantizer.set_filter_function(only)
    if spec.float_layers:
        quantizer.set_filter_function(module_filter(spec.float_layers))
    return quantizer


def export_for_quantization(model: torch.nn.Module, example: tuple[Any, ...], spec: QuantSpec) -> tuple[torch.nn.Module, list[str]]:
    """The model as an eval-mode graph ready for ``prepare_pt2e`` (LSTMs rewritten for dynamic)."""
    from edgeq.export.errors import export_program

    notes: list[str] = []
    if spec.scheme == "dynamic":
        model, notes = prepare_dynamic(model, spec)
    model, tables = embedding_tables(model, spec)
    return export_program(model, example, stage="torch.export before quantization").module(), notes + tables


def prepare_dynamic(model: torch.nn.Module, spec: QuantSpec) -> tuple[torch.nn.Module, list[str]]:
    """A copy with LSTMs rewritten as Linear gates (so their weights become int8), and the notes of a dynamic variant."""
    notes = ["dynamic int8: weights int8" + (" per channel" if spec.per_channel else "")
             + ", activations quantized at each call from their own range"]
    model, rewritten = replace_lstms(model)
    if rewritten:
        notes.append(f"{rewritten} LSTM(s) rewritten as Linear gates so their weights are int8")
    return model, notes


def embedding_tables(model: torch.nn.Module, spec: QuantSpec) -> tuple[torch.nn.Module, list[str]]:
    """The model with its embedding tables int8 per row (unless ``spec`` keeps them fp32), and a note saying so."""
    tables = [name for name, m in model.named_modules() if isinstance(m, torch.nn.Embedding)]
    if not tables:
        return model, []
    if not spec.int8_embeddings:
        return model, [f"{len(tables)} embedding table(s) kept fp32 (XNNPACK has no int8 lookup)"]
    model, quantized = quantize_embeddings(model, keep=spec.float_layers)
    notes = [f"{len(quantized)} embedding table(s) int8 per row, looked up by ExecuTorch's quantized kernel "
             "(executorch.kernels.quantized) outside XNNPACK"] if quantized else []
    if len(quantized) < len(tables):
        notes.append(f"{len(tables) - len(quantized)} embedding table(s) stay fp32 (kept in float, or max_norm set)")
    return model, notes


def observe(graph: torch.fx.GraphModule, quantizer: Any, samples: Sequence[tuple[Any, ...]]) -> torch.fx.GraphModule:
    """``prepare_pt2e`` (which folds BatchNorm and inserts observers), then run ``samples`` through it."""
    from torchao.quantization.pt2e.quantize_pt2e import prepare_pt2e

    prepared = prepare_pt2e(graph, quantizer)
    calibrate(prepared, samples)
    return prepared


def quantize_pt2e(model: torch.nn.Module, example: tuple[Any, ...], calibration: Sequence[tuple[Any, ...]],
                  spec: QuantSpec, training: Training | None = None, say: Callable[[str], None] | None = None) -> QuantResult:
    """Annotate, calibrate or fine-tune, and convert; the result is re-exported by the .pte writer."""
    if spec.scheme == "qat":
        return _quantize_qat(model, example, spec, training, say)
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    graph, notes = export_for_quantization(model, example, spec)
    samples = calibration_samples(spec, calibration, example)
    try:
        converted = convert_pt2e(observe(graph, xnnpack_quantizer(spec), samples))
    except Exception as exc:  # noqa: BLE001
        raise QuantizationError(f"PT2E {spec.scheme} quantization failed: {summarize(exc)}") from exc
    boundaries = close_float_boundaries(converted, spec.float_layers)
    if spec.scheme == "static":
        notes.append(f"calibrated on {len(samples)} sample(s) with the {spec.observer} observer"
                     + (", per-channel weights" if spec.per_channel else "")
                     + ("" if calibration else " (the model brought no data: the example inputs only)"))
    return QuantResult(spec=spec, model=converted, notes=notes + spec.float_note, boundaries=boundaries)


def _quantize_qat(model: torch.nn.Module, example: tuple[Any, ...], spec: QuantSpec, training: Training | None,
                  say: Callable[[str], None] | None) -> QuantResult:
    from torchao.quantization.pt2e import move_exported_model_to_eval, move_exported_model_to_train
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_qat_pt2e

    from edgeq.quantize.training import fine_tune, require_training, training_example

    training = require_training(training)
    model, tables = embedding_tables(model, spec)
    graph, notes = _export_trainable(model, training_example(training, example), example)
    if notes and isinstance(training, TrainSet):  # the batch dimension could not be left free
        training = dataclasses.replace(training, batch_size=1)
    notes += tables
    try:
        prepared = prepare_qat_pt2e(graph, xnnpack_quantizer(spec))
    except Exception as exc:  # noqa: BLE001
        raise QuantizationError(f"PT2E QAT preparation failed: {summarize(exc)}") from exc
    notes.append(fine_tune(prepared, training, spec.qat_epochs, to_train=move_exported_model_to_train,
                           to_eval=move_exported_model_to_eval, say=say))
    try:
        converted = convert_pt2e(prepared)
    except Exception as exc:  # noqa: BLE001
        raise QuantizationError(f"PT2E QAT conversion failed: {summarize(exc)}") from exc
    boundaries = close_float_boundaries(converted, spec.float_layers)
    return QuantResult(spec=spec, model=converted, notes=["quantization-aware training (XNNPACK QAT config)", *notes, *spec.float_note],
                       boundaries=boundaries)


def _export_trainable(model: torch.nn.Module, batch: tuple[Any, ...], example: tuple[Any, ...]) -> tuple[torch.nn.Module, list[str]]:
    """Export in train mode with the batch dimension free; fall back to the example's fixed shapes."""
    from edgeq.export.errors import export_program

    trainable = copy.deepcopy(model).train()
    dynamic = torch.utils._pytree.tree_map(lambda t: {0: torch.export.Dim.AUTO} if t.dim() else None, batch)
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in inspect.signature(trainable.forward).parameters.values()):
        dynamic = (dynamic,)  # forward(*inputs), as edgeq's TracingRoot: the shapes of the one *inputs argument
    try:
        return torch.export.export(trainable, batch, dynamic_shapes=dynamic).module(), []
    except Exception as exc:  # noqa: BLE001 - fall back to the fixed shapes the rest of the pipeline uses
        log.info("export with a free batch dimension failed (%s); training on the example's shapes", summarize(exc))
    graph = export_program(trainable, example, stage="torch.export for quantization-aware training").module()
    return graph, ["the batch dimension could not be left free: fine-tuned one sample at a time"]
