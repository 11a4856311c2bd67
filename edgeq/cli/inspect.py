"""``edgeq inspect``: which layers int8 hurts, compared with float layer by layer."""

from __future__ import annotations

import importlib
import math
from typing import TYPE_CHECKING, Any

import click

from edgeq.cli.output import line, print_json, progress
from edgeq.cli.tables import Column, print_table
from edgeq.metrics import METRICS, format_value
from edgeq.profiles import load_profile
from edgeq.quantize import OBSERVERS
from edgeq.quantize.spec import LANGUAGE_MODEL_SCHEMES

if TYPE_CHECKING:
    from edgeq.quantize.layer_error import LayerReport


class _LibraryDefault:
    """An option's default read from a library module when first needed (parsing, or this command's
    ``--help``), so that declaring the option does not import that module (edgeq.inspection imports torch)."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def __call__(self) -> Any:
        return getattr(importlib.import_module(self.module), self.name)

    def __str__(self) -> str:  # what click shows as the default in --help
        return str(self())


@click.command("inspect")
@click.argument("model")
@click.option("--profile", "profile_name", default="host", show_default=True, help="Device profile name or TOML path.")
@click.option("--scheme", type=click.Choice(["auto", "static", "dynamic", *LANGUAGE_MODEL_SCHEMES]), default="auto",
              show_default=True, help="The post-training scheme to analyse [default: what edgeq run would pick; 8da4w "
                                      "for a language model].")
@click.option("--metric", type=click.Choice(list(METRICS)), default=None,
              help="What sensitivity measures [default: the model's accuracy, else top1_agreement, else cosine].")
@click.option("--observer", type=click.Choice(OBSERVERS), default="histogram", show_default=True,
              help="Activation observer for static calibration.")
@click.option("--samples", type=click.IntRange(min=1), default=_LibraryDefault("edgeq.inspection", "DEFAULT_SAMPLES"),
              show_default=True,
              help="Samples to score on (the evaluation set's first N, else example and calibration inputs).")
@click.option("--sensitivity", "method", type=click.Choice(["fast", "exact"]), default="fast", show_default=True,
              help="fast: calibrate once, shadow every layer with its int8 self, score the worst few alone in int8; "
                   "exact: quantize and score one layer at a time (one calibration per layer).")
@click.option("--no-sensitivity", is_flag=True, help="Skip the sensitivity ranking; rank by SQNR only.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
def inspect(model: str, profile_name: str, scheme: str, metric: str | None, observer: str, samples: int,
            method: str, no_sensitivity: bool, as_json: bool) -> None:
    """Compare MODEL's int8 version with float, layer by layer, most sensitive layer first.

    For each Conv/Linear layer: SQNR and max error of its output against float,
    weight and input ranges, and its sensitivity: how much the metric drops
    when only that layer is int8. For a language model: each linear layer with
    the scheme's weights alone, ranked by the KL divergence it adds to the
    next-token distribution over the prompts (--samples of them).
    """
    from edgeq.inspection import inspect_model
    from edgeq.llm.build import generates
    from edgeq.models import load_model

    profile = load_profile(profile_name)
    with progress() as say:
        say(f"loading {model}")
        loaded = load_model(model)
        if generates(loaded)[0]:
            report = _inspect_language_model(loaded, profile, scheme, metric, samples, say)
        elif scheme in LANGUAGE_MODEL_SCHEMES:
            raise click.UsageError(f"--scheme {scheme} is a language model's scheme, and {loaded.name} is not one")
        else:
            report = inspect_model(loaded, profile, scheme=scheme, metric=metric, samples=samples, observer=observer,
                                   sensitivity=not no_sensitivity, method=method, progress=say)
    if as_json:
        print_json(report.to_dict())
    elif hasattr(report, "whole"):
        _print_language_model_report(report)
    else:
        _print_report(report)


def _inspect_language_model(loaded: Any, profile: Any, scheme: str, metric: str | None, samples: int, say: Any) -> Any:
    from edgeq.llm.inspection import inspect_language_model

    if scheme in ("static", "dynamic"):
        raise click.UsageError(f"{loaded.name} is a language model: inspect compares its {', '.join(LANGUAGE_MODEL_SCHEMES)} "
                               f"weights, not {scheme}")
    if metric is not None:
        raise click.UsageError(f"{loaded.name} is a language model: its layers are ranked by the KL divergence of the "
                               "next-token distribution; drop --metric")
    return inspect_language_model(loaded, scheme, prompts=samples, say=say, group_size=profile.llm_group_size)


_LM_LAYERS = (Column("layer", kind="label"), Column("shape", kind="label"), Column("KL", "KL"),
              Column("greedy"), Column("weight err", "w err", drop=1))


def _print_language_model_report(report: Any) -> None:
    rows = [{"layer": layer.name, "shape": "×".join(map(str, layer.shape)), "KL": f"{layer.kl_mean:.3g}",
             "greedy": f"{100 * layer.greedy_agreement:.1f}%", "weight err": f"{layer.weight_error:.3f}"}
            for layer in report.layers]
    print_table(_LM_LAYERS, rows, title=f"{report.model}: {report.scheme} weights against fp32, one linear layer at a time",
                padding=(0, 1), pad_edge=False)
    whole = report.whole
    line(f"every layer {report.scheme}: greedy agreement {100 * whole['greedy_agreement']:.1f}%, KL {whole['kl_mean']:.3g}, "
         f"cosine {whole['cosine']:.4f} over {whole['positions']} positions of {report.prompts} prompt(s)")
    line(("KL: the mean divergence (nats) of the next-token distribution from fp32's when only that layer is quantized, "
          "teacher-forced on the prompts; greedy: positions whose most likely next token stays fp32's; weight err: "
          "||W - Q(W)|| / ||W||", "dim"))
    for note in report.notes:
        line((note, "dim"))


# a narrow terminal leaves out the max error first, then the weight range, the output error, the input range
_LAYERS = (Column("layer", kind="label"), Column("type", kind="label"), Column("sensitivity", "sens."),
           Column("output err", "out err", drop=3), Column("SQNR dB", "SQNR"), Column("max err", drop=1),
           Column("weight range", "weights", drop=2), Column("input range", "inputs", drop=4),
           Column("cause", kind="prose"))
_EXPLAINED = 5  # the most costly layers whose causes are spelled out under the table


def _print_report(report: LayerReport) -> None:
    metric = report.metric
    rows = []
    for layer in report.layers:
        rows.append({
            "layer": layer.name, "type": layer.kind,
            "sensitivity": "—" if layer.sensitivity is None else format_value(metric, layer.sensitivity),
            "output err": "—" if layer.output_error is None else f"{layer.output_error:.2g}",
            "SQNR dB": "∞" if math.isinf(layer.sqnr_db) else f"{layer.sqnr_db:.1f}", "max err": f"{layer.max_abs_err:.3g}",
            "weight range": "—" if layer.weight_min is None else f"[{layer.weight_min:.3g}, {layer.weight_max:.3g}]",
            "input range": f"[{layer.activation_min:.3g}, {layer.activation_max:.3g}]",
            "cause": ", ".join(cause.split(":", 1)[0] for cause in layer.causes) or "—"})
    print_table(_LAYERS, rows, title=f"{report.model}: {report.scheme} int8 against fp32, layer by layer",
                padding=(0, 1), pad_edge=False)
    line(f"{metric.name}: fp32 {format_value(metric, report.float_value)}, "
         f"all int8 {format_value(metric, report.quantized_value)} "
         f"(drop {format_value(metric, report.float_value - report.quantized_value)})")
    line(("sensitivity: the metric's drop when only that layer is int8; output err: 1 - cosine of the model's outputs "
          "to fp32 then; SQNR: the layer's output against float with everything before it int8 too (higher is better)",
          "dim"))
    for layer in report.layers[:_EXPLAINED]:
        for cause in layer.causes:
            line(("cause:", "yellow"), f" {layer.name}: {cause}")
    for layer in report.layers:
        if layer.outlier_channels:
            widest = ", ".join(f"channel {c['channel']} ({c['ratio']:.0f}×)" for c in layer.outlier_channels)
            line(("outlier:", "yellow"), f" {layer.name}'s input has channel(s) far wider than its median channel: "
                 f"{widest}. One int8 scale must cover them, so the rest lose resolution: an activation outlier, not a "
                 "bad layer (--scheme auto tries equalization before keeping layers in fp32)")
    for note in report.notes:
        line((note, "dim"))
