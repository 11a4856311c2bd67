"""Find the layers that int8 hurts: per-layer error against float, and each layer's sensitivity.

``inspect_model`` is what ``edgeq inspect`` calls; ``sensitivity_ranking`` is
what ``--scheme auto`` uses to decide which layers to keep in float.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from edgeq.errors import ConfigError, ModelError, QuantizationError, summarize
from edgeq.metrics import Metric, Score, caution, resolve_metric, score_forward
from edgeq.models import LoadedModel, load_model
from edgeq.models.tracing import prepare_for_tracing, user_name
from edgeq.numerics import amplification_note, cannot_judge, flatten_outputs, noise_amplification
from edgeq.profiles import DeviceProfile
from edgeq.quantize import QuantSpec, choose_scheme
from edgeq.quantize.calibration import calibration_samples
from edgeq.quantize.layer_error import LayerReport, compare_layers, diagnose, layer_nodes, rank_sensitivity
from edgeq.quantize.shadow import fast_sensitivity

SENSITIVITY_METHODS = ("fast", "exact")
Progress = Callable[[str], None]
DEFAULT_SAMPLES = 64
_SQNR_SAMPLES = 16


def check_samples(loaded: LoadedModel, limit: int) -> list[tuple[Any, ...]]:
    """The samples quality is measured on: the evaluation set's inputs, the model's check inputs,
    else the example and calibration inputs."""
    if loaded.eval_set is not None:
        return list(loaded.eval_set.inputs)[:limit]
    if loaded.check_inputs:
        return list(loaded.check_inputs)[:limit]
    return [loaded.example_inputs, *loaded.calibration][:limit]


@dataclass
class _Exported:
    """A model exported for PT2E, with the samples its observers are calibrated on."""

    graph: torch.fx.GraphModule  # not yet annotated; each quantization works on a copy
    calibration: list[tuple[Any, ...]]
    notes: list[str]


def _export(prepared: torch.nn.Module, loaded: LoadedModel, spec: QuantSpec) -> _Exported:
    from edgeq.quantize.pt2e import export_for_quantization

    graph, notes = export_for_quantization(prepared, loaded.example_inputs, spec)
    return _Exported(graph, calibration_samples(spec, loaded.calibration, loaded.example_inputs), notes)


def _quantize(exported: _Exported, spec: QuantSpec) -> tuple[torch.fx.GraphModule, torch.fx.GraphModule]:
    """``(float, int8)`` from the same observed graph: the float side has BatchNorm folded just like int8."""
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    from edgeq.quantize.pt2e import observe, xnnpack_quantizer

    try:
        observed = observe(copy.deepcopy(exported.graph), xnnpack_quantizer(spec), exported.calibration)
        float_graph = copy.deepcopy(observed)
        return float_graph, convert_pt2e(observed)
    except Exception as exc:  # noqa: BLE001
        raise QuantizationError(f"PT2E {spec.scheme} quantization failed: {summarize(exc)}") from exc


def sensitivity_ranking(loaded: LoadedModel, prepared: torch.nn.Module, spec: QuantSpec, metric: Metric,
                        samples: Sequence[tuple[Any, ...]], say: Progress | None = None,
                        method: str = "fast") -> list[tuple[str, float | None, float | None]]:
    """Quantizable layers with the metric's drop and output error when only that layer is int8, most harmful first.

    Names are module paths in ``prepared`` (what ``QuantSpec.float_layers`` takes). ``method``: ``fast``
    (one calibration, a shadow pass, the worst layers scored; ``edgeq.quantize.shadow``) or ``exact`` (one
    quantized model per layer).
    """
    exported = _export(prepared, loaded, spec)
    reference = _reference(prepared, samples)
    baseline = score_forward(metric, loaded, reference, samples, prepared).value
    return _rank(exported, spec, samples, lambda forward: score_forward(metric, loaded, reference, samples, forward),
                 baseline, say, method)


def _rank(exported: _Exported, spec: QuantSpec, samples: Sequence[tuple[Any, ...]],
          score: Callable[[Callable[..., Any]], Score], baseline: float, say: Progress | None,
          method: str) -> list[tuple[str, float | None, float | None]]:
    if method not in SENSITIVITY_METHODS:
        raise ConfigError(f"unknown sensitivity method {method!r}", hint=f"use one of: {', '.join(SENSITIVITY_METHODS)}")
    if method == "exact":
        return rank_sensitivity(exported.graph, spec, list(layer_nodes(exported.graph)), exported.calibration, score,
                                baseline, say)
    return fast_sensitivity(exported.graph, spec, exported.calibration, samples, score, baseline, say)


def _reference(prepared: torch.nn.Module, samples: Sequence[tuple[Any, ...]]) -> list[list[torch.Tensor]]:
    with torch.no_grad():
        try:
            return [flatten_outputs(prepared(*sample)) for sample in samples]
        except Exception as exc:  # noqa: BLE001 - user model code
            raise ModelError(f"the model fails on its own samples: {summarize(exc)}") from exc


def _judgement_notes(loaded: LoadedModel, metric: Metric, reference: Sequence[Sequence[torch.Tensor]]) -> list[str]:
    """What the whole-model values and sensitivities rest on, when that is too little (as ``edgeq run`` says it)."""
    blind = None if metric.name == "accuracy" else cannot_judge(reference)
    if blind is not None:
        return [f"numerics cannot judge {loaded.name} on these inputs: {blind}; its sensitivities say nothing"]
    samples = None if metric.name == "accuracy" and loaded.eval_set is None else len(reference)
    rests_on = caution(metric, samples)
    return [rests_on] if rests_on else []


def inspect_model(source: str | LoadedModel, profile: DeviceProfile, *, scheme: str = "auto", metric: str | None = None,
                  samples: int = DEFAULT_SAMPLES, sensitivity: bool = True, observer: str = "histogram",
                  method: str = "fast", progress: Progress | None = None) -> LayerReport:
    """Compare the int8 model with float layer by layer; layers come back most sensitive first."""
    say = progress or (lambda message: None)
    say(f"loading {source if isinstance(source, str) else source.name}")
    loaded = load_model(source) if isinstance(source, str) else source
    prepared = prepare_for_tracing(loaded.model, loaded.keywords)
    if scheme == "auto":
        scheme, _ = choose_scheme(prepared)
    if scheme not in ("static", "dynamic"):
        raise ModelError(f"inspect compares post-training int8 (static or dynamic), not {scheme!r}")
    spec = QuantSpec(scheme=scheme, engine=profile.engine, format="pte", observer=observer)
    chosen_samples = check_samples(loaded, samples)
    say(f"quantizing {loaded.name} ({scheme} int8, XNNPACK scheme)")
    exported = _export(prepared, loaded, spec)
    float_graph, quantized_graph = _quantize(exported, spec)
    reference = _reference(prepared, chosen_samples)
    resolved = resolve_metric(metric, loaded, reference)

    def score(forward: Callable[..., Any]) -> Score:
        return score_forward(resolved, loaded, reference, chosen_samples, forward)

    float_value = score(prepared).value
    quantized_value = score(quantized_graph).value
    say(f"comparing layer outputs on {min(len(chosen_samples), _SQNR_SAMPLES)} sample(s)")
    layers = compare_layers(float_graph, quantized_graph, chosen_samples[:_SQNR_SAMPLES])
    notes = list(exported.notes) + _judgement_notes(loaded, resolved, reference)
    try:
        growth = noise_amplification(prepared, chosen_samples, reference)
    except Exception as exc:  # noqa: BLE001 - the user's model on noisy inputs
        notes.append(f"how the float model grows small errors could not be measured: {summarize(exc)}")
        growth = None
    amplified = amplification_note(growth, len(layers))
    if amplified:
        notes.append(amplified)
    if sensitivity:
        ranked = _rank(exported, spec, chosen_samples, score, float_value, say, method)
        by_name = {user_name(path): (drop, error) for path, drop, error in ranked}
        for layer in layers:
            layer.sensitivity, layer.output_error = by_name.get(layer.name, (None, None))
        diagnose(layers)  # in graph order: a layer's SQNR is read against the first layer's
        layers.sort(key=lambda layer: (-(layer.sensitivity or 0.0), -(layer.output_error or 0.0), layer.sqnr_db))
    else:
        diagnose(layers)
        layers.sort(key=lambda layer: layer.sqnr_db)
        notes.append("sensitivity not measured: layers ranked by SQNR")
    return LayerReport(model=loaded.name, scheme=scheme, metric=resolved, float_value=float_value,
                       quantized_value=quantized_value, layers=layers, notes=notes)
