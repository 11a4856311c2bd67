"""``edgeq run``: quantize, export, run on the device and report fp32 against int8."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich import box
from rich.table import Table

from edgeq.cli.output import human_ms, print_json, stderr, stdout
from edgeq.units import human_bytes
from edgeq.errors import GateFailure
from edgeq.metrics import METRICS, format_value
from edgeq.cli.device import SCHEME_CHOICES, DeviceAddress, DeviceProfile, device_options
from edgeq.quantize import OBSERVERS

if TYPE_CHECKING:
    from edgeq.pipeline import RunResult


@click.command()
@click.argument("model")
@device_options
@click.option("--scheme", type=click.Choice(SCHEME_CHOICES), default="auto", show_default=True,
              help="auto picks from the model's layers (dynamic for LSTM/Transformer/MLP, static for conv nets) and, "
                   "when that misses the budget, tries mixed precision and QAT.")
@click.option("--format", "fmt", type=click.Choice(["pte", "ptl"]), default=None,
              help="Artifact format [default: the profile's first].")
@click.option("--runs", type=int, default=50, show_default=True, help="Timed runs per variant.")
@click.option("--warmup", type=int, default=5, show_default=True, help="Untimed runs before timing.")
@click.option("--min-time", "min_time_s", type=float, default=0.0, show_default=True,
              help="Keep timing each variant past --runs until this many seconds were measured.")
@click.option("--threads", type=int, default=None, help="Threads on the device [default: the profile's].")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0, min_open=True), default=900.0, show_default=True,
              help="Seconds one benchmark process may take on the device before it is killed.")
@click.option("--max-drop", type=float, default=None,
              help="How much of --metric int8 may lose against fp32 (points; cosine: absolute). When set, the run "
                   "fails (exit 1) if no int8 variant meets it [default: 1 point, cosine 0.01, not enforced].")
@click.option("--metric", type=click.Choice(list(METRICS)), default=None,
              help="What the budget measures [default: the model's accuracy, else top1_agreement for classifiers, "
                   "else cosine].")
@click.option("--observer", type=click.Choice(OBSERVERS), default="histogram", show_default=True,
              help="How static quantization picks activation ranges from calibration data.")
@click.option("--qat/--no-qat", "allow_qat", default=True, show_default=True,
              help="Let --scheme auto try quantization-aware training when the model brings training data.")
@click.option("--sensitivity", "sensitivity", type=click.Choice(["fast", "exact"]), default="fast", show_default=True,
              help="How --scheme auto ranks layers for mixed precision: fast (one calibration and a shadow pass) or "
                   "exact (one quantized model per layer).")
@click.option("--fp32-embeddings", "fp32_embeddings", is_flag=True,
              help="Keep embedding tables fp32 in int8 .pte variants [default: int8 per row, looked up by "
                   "ExecuTorch's quantized kernel, when the device's runtime has it].")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Copy artifacts, manifests and result.json here.")
@click.option("--json", "as_json", is_flag=True, help="Print the run result as JSON on stdout.")
def run(model: str, profile: DeviceProfile, device: DeviceAddress | None, scheme: str, fmt: str | None, runs: int,
        warmup: int, min_time_s: float, threads: int | None, timeout_s: float, max_drop: float | None, metric: str | None, observer: str, allow_qat: bool,
        sensitivity: str, fp32_embeddings: bool, out_dir: Path | None, as_json: bool) -> None:
    """Quantize MODEL for a device, run fp32 and int8 there, and report both.

    MODEL is zoo:NAME (see the README), path/to/file.py:factory, or a saved
    torch.export program (.pt2).
    """
    # Imported here, after the options are parsed and the profile is loaded: the pipeline imports torch.
    from edgeq.pipeline import RunOptions, run as run_pipeline

    options = RunOptions(scheme=scheme, format=fmt, runs=runs, warmup=warmup, min_time_s=min_time_s, threads=threads,
                         timeout_s=timeout_s, out_dir=out_dir, max_drop=max_drop, metric=metric, observer=observer, allow_qat=allow_qat,
                         sensitivity=sensitivity, int8_embeddings=not fp32_embeddings)
    with stderr.status("starting", spinner="dots") as status:
        result = run_pipeline(model, profile, options, device=device, progress=lambda message: status.update(message))
    if as_json:
        print_json(result.to_dict())
    else:
        _print_table(result)
    if result.budget.enforced and not result.budget_met:
        raise GateFailure(f"no int8 variant met the budget ({result.budget.metric.name} drop ≤ {result.budget.max_drop:g}); "
                          f"best found: {_best_quantized(result)}",
                          hint="raise --max-drop, give the model training data for QAT, or ship fp32")


def _best_quantized(result: RunResult) -> str:
    quantized = [r for r in result.results if r.spec.scheme != "none" and r.quality is not None]
    if not quantized:
        failed = [f.label for f in result.failures if f.spec.scheme != "none"]
        return f"none could be built ({', '.join(failed)} failed)" if failed else "none measured"
    best = max(quantized, key=lambda r: r.quality)
    return f"{best.spec.variant}, {best.budget_note}"


def _print_table(result: RunResult) -> None:
    data = result.to_dict()
    device = data["device"]
    base = data["results"][0]
    table = Table(title=f"{data['model']} on {data['profile']} ({device['arch']}, engine {base['engine']}, "
                        f".{base['format']}, {device['threads']} thread(s))", box=box.SIMPLE_HEAD, padding=(0, 1),
                  pad_edge=False, caption=f"torch {device['torch']}, executorch {device['executorch']} on the device")
    metric = data["budget"]["metric"]
    extra = ["cosine"] if metric != "cosine" else []
    for column in ("variant", "fp32 layers", "size", "×fp32", "p50", "cv", "load", "model mem", "peak RSS", metric, *extra):
        table.add_column(column, justify="left" if column == "variant" else "right", no_wrap=True)
    for row in data["results"]:
        label = row["variant"] if row["format"] == base["format"] else f"{row['variant']} .{row['format']}"
        if row["status"] == "failed":  # the reason follows the table, in the search lines
            table.add_row(f"[red]{label}[/]", _float_layers(row["float_layers"]), "[red]failed[/]", "—",
                          f"[red]{row['failed_stage']}[/]", *["—"] * (len(table.columns) - 5))
            continue
        latency = row["latency_ms"]
        numerics = row["numerics"]
        chosen = " *" if (row["variant"], row["format"]) == (data["chosen"]["variant"], data["chosen"]["format"]) else ""
        quality = "—" if row["quality"] is None else format_value(result.budget.metric, row["quality"])
        table.add_row(
            label + chosen, _float_layers(row["float_layers"]),
            human_bytes(row["size_bytes"]), f"{row['size_bytes'] / base['size_bytes']:.2f}",
            human_ms(latency["p50"]), f"{latency['cv']:.0%}" + ("!" if latency["noisy"] else ""),
            human_ms(row["load_ms"]), _mebibytes(row.get("model_rss_mb"), 1), _mebibytes(row["peak_rss_mb"], 0),
            quality + ("" if row["within_budget"] else " ✗"),
            *([f"{numerics['cosine']:.4f}" if numerics else "—"] if extra else []),
        )
    stdout.print(table)
    if any(row.get("model_rss_mb") is not None for row in data["results"] if row["status"] == "ok"):
        stdout.print("[dim]model mem: resident memory the artifact adds by loading and running it; peak RSS: the "
                     "runner process's peak, the runtime's own memory included[/]")
    if any(row["latency_ms"]["noisy"] for row in data["results"] if row["status"] == "ok"):
        stdout.print("[yellow]![/] latency spread (cv) ≥ 10 % even in the steadier of two measurements: the device "
                     "was busy or the model is too small to time well (try --min-time 2)")
    for line in data["search"]:
        stdout.print(f"[dim]search:[/] {line}")
    for warning in data["warnings"] + data["device"].get("warnings", []):
        stdout.print(f"[yellow]warning:[/] {warning}")
    stdout.print(f"[bold]chosen:[/] {data['chosen']['variant']} — {data['chosen']['reason']}")
    for row in data["results"]:
        if row["status"] == "failed" and not any(row["error"] in line for line in data["search"]):
            stdout.print(f"[red]{row['variant']} .{row['format']} failed at {row['failed_stage']}:[/] {row['error']}")
        for note in row["notes"]:
            stdout.print(f"[dim]{row['variant']}: {note}[/]")
        outside = (row.get("backend") or {}).get("ops_outside_backend")
        if outside:
            stdout.print(f"[dim]{row['variant']}: ops not delegated to XNNPACK: {', '.join(outside)}[/]")
    if result.out_dir is not None:
        stdout.print(f"artifacts and result.json in {result.out_dir}")


def _float_layers(names: list[str]) -> str:
    if not names:
        return "—"
    return ", ".join(names) if len(names) <= 2 else f"{names[0]} +{len(names) - 1}"


def _mebibytes(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:.{digits}f} MiB"
