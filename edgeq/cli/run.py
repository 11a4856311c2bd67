"""``edgeq run``: quantize, export, run on the device and report fp32 against int8."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

from edgeq.cli.output import as_text, human_ms, line, print_json, progress, stdout
from edgeq.cli.tables import Cell, Column, print_table
from edgeq.units import human_bytes, ratio
from edgeq.errors import GateFailure
from edgeq.metrics import METRICS, format_value
from edgeq.cli.device import DeviceAddress, DeviceProfile, device_options
from edgeq.quantize import OBSERVERS
from edgeq.quantize.spec import RUN_SCHEME_CHOICES

if TYPE_CHECKING:
    from edgeq.pipeline import RunResult
    from edgeq.selection import Budget


@click.command()
@click.argument("model")
@device_options
@click.option("--scheme", type=click.Choice(RUN_SCHEME_CHOICES), default="auto", show_default=True,
              help="auto picks from the model's layers (dynamic for LSTM/Transformer/MLP, static for conv nets) and, "
                   "when that misses the budget, tries mixed precision and QAT; for a language model it measures fp32, "
                   "8da8w, 8da4w and 8da4w-emb4 and picks the fastest decoder within budget (the smaller on a tie).")
@click.option("--task", type=click.Choice(["auto", "causal-lm", "forward"]), default="auto", show_default=True,
              help="causal-lm: generate with a KV cache (ExecuTorch's LLM export) and report tokens/s; forward: one "
                   "forward pass; auto: causal-lm for a transformers causal LM.")
@click.option("--new-tokens", type=click.IntRange(min=2), default=32, show_default=True,
              help="A language model's tokens per timed generation.")
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
        sensitivity: str, task: str, new_tokens: int, fp32_embeddings: bool, out_dir: Path | None, as_json: bool) -> None:
    """Quantize MODEL for a device, run fp32 and int8 there, and report both.

    MODEL is zoo:NAME (see the README), path/to/file.py:factory, or a saved
    torch.export program (.pt2).
    """
    # Imported here, after the options are parsed and the profile is loaded: the pipeline imports torch.
    from edgeq.pipeline import RunOptions, run as run_pipeline

    options = RunOptions(scheme=scheme, format=fmt, runs=runs, warmup=warmup, min_time_s=min_time_s, threads=threads,
                         timeout_s=timeout_s, out_dir=out_dir, max_drop=max_drop, metric=metric, observer=observer, allow_qat=allow_qat,
                         sensitivity=sensitivity, int8_embeddings=not fp32_embeddings, task=task, new_tokens=new_tokens)
    with progress() as say:
        result = run_pipeline(model, profile, options, device=device, progress=say)
    if as_json:
        print_json(result.to_dict())
    elif getattr(result, "task", None) == "causal-lm":
        print_language_model(result)
    else:
        print_result(result)
    if result.budget.enforced and not result.budget_met:
        raise GateFailure(f"no int8 variant met the budget ({result.budget.metric.name} drop ≤ {result.budget.max_drop:g}); "
                          f"best found: {_best_quantized(result)}",
                          hint="raise --max-drop, give the model training data for QAT, or ship fp32")


def _best_quantized(result: RunResult) -> str:
    quantized = [r for r in result.results if not r.is_float and r.quality is not None]
    if not quantized:
        failed = [f.label for f in result.failures if not f.is_float]
        return f"none could be built ({', '.join(failed)} failed)" if failed else "none measured"
    best = max(quantized, key=lambda r: r.quality)
    return f"{best.label}, {best.budget_note}"


def print_result(result: RunResult, console: Console = stdout) -> None:
    """The run as a table fitted to ``console``, then what it searched, its warnings, and the artifact chosen."""
    data = result.to_dict()
    device, chosen = data["device"], data["chosen"]
    base = data["results"][0]
    metric = data["budget"]["metric"]
    rows = [_row(row, base, chosen["label"], result.budget) for row in data["results"]]
    dropped = print_table(_columns(metric), rows, console=console, padding=(0, 1), pad_edge=False,
                          title=f"{data['model']} on {data['profile']} ({device['arch']}, engine {base['engine']}, "
                                f"{device['threads']} thread(s))",
                          caption=f"torch {device['torch']}, executorch {device['executorch']} on the device")
    measured = [row for row in data["results"] if row["status"] == "ok"]
    if "model mem" not in dropped and any(row.get("model_rss_mb") is not None for row in measured):
        line(("model mem: resident memory the artifact adds by loading and running it"
              + ("" if "peak RSS" in dropped else "; peak RSS: the runner process's peak, the runtime's own memory "
                                                    "included"), "dim"), console=console)
    if any(row["latency_ms"]["noisy"] for row in measured):
        line(("!", "yellow"), " latency spread (cv) ≥ 10 % even in the steadier of two measurements: the device was "
             "busy or the model is too small to time well (try --min-time 2)", console=console)
    _search_warnings_and_choice(data, console)
    for row in data["results"]:
        if row["status"] == "failed" and not any(row["error"] in searched for searched in data["search"]):
            line((f"{row['label']} failed at {row['failed_stage']}:", "red"), " ", row["error"], console=console)
        for note in row["notes"]:
            line((f"{row['label']}: {note}", "dim"), console=console)
        outside = (row.get("backend") or {}).get("ops_outside_backend")
        if outside:
            line((f"{row['label']}: ops not delegated to XNNPACK: {', '.join(outside)}", "dim"), console=console)
    if result.out_dir is not None:
        line(f"artifacts and result.json in {result.out_dir}", console=console)


def _columns(metric: str) -> list[Column]:
    """The run table's columns; a narrow terminal leaves out peak RSS first, then load, fp32 layers, model mem,
    the cosine beside another metric, ×fp32. The cv and its noise flag always stay."""
    extra = [Column("cosine", "cos", drop=5)] if metric != "cosine" else []
    return [Column("variant", kind="label"), Column("fp32 layers", "fp32", kind="label", drop=3), Column("size"),
            Column("×fp32", drop=6), Column("p50"), Column("cv"), Column("load", drop=2),
            Column("model mem", "mem", drop=4), Column("peak RSS", "RSS", drop=1),
            Column(metric, _SHORT_METRIC.get(metric)), *extra]


_SHORT_METRIC = {"accuracy": "acc", "top1_agreement": "top1", "cosine": "cos"}


def _row(row: dict[str, Any], base: dict[str, Any], chosen: str, budget: Budget) -> dict[str, Cell]:
    """One result's cells by column; a failed candidate's stage stands where its p50 would."""
    label = row["label"] + (" *" if row["label"] == chosen else "")
    if row["status"] == "failed":  # the reason follows the table, in the search lines
        return {"variant": as_text(label, "red"), "fp32 layers": _float_layers(row["float_layers"]),
                "size": as_text("failed", "red"), "p50": as_text(row["failed_stage"], "red")}
    latency, numerics = row["latency_ms"], row["numerics"]
    quality = "—" if row["quality"] is None else format_value(budget.metric, row["quality"])
    return {"variant": label, "fp32 layers": _float_layers(row["float_layers"]), "size": human_bytes(row["size_bytes"]),
            "×fp32": ratio(row["size_bytes"] / base["size_bytes"], suffix=""), "p50": human_ms(latency["p50"]),
            "cv": f"{latency['cv']:.0%}" + ("!" if latency["noisy"] else ""), "load": human_ms(row["load_ms"]),
            "model mem": _mebibytes(row.get("model_rss_mb"), 1), "peak RSS": _mebibytes(row["peak_rss_mb"], 0),
            "cosine": f"{numerics['cosine']:.4f}" if numerics else "—",
            budget.metric.name: quality + ("" if row["within_budget"] else " ✗")}


def _float_layers(names: list[str]) -> str:
    if not names:
        return "—"
    return ", ".join(names) if len(names) <= 2 else f"{names[0]} +{len(names) - 1}"


def _mebibytes(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:.{digits}f} MiB"


def print_language_model(result: Any, console: Console = stdout) -> None:
    """A language model's run: per program the time to first token, prefill and decode tokens/s, size, memory and
    the logits' agreement with fp32, then what was searched and chosen."""
    data = result.to_dict()
    device, chosen, prompts = data["device"], data["chosen"], data["prompts"]
    base = data["results"][0]
    columns = [Column("variant", kind="label"), Column("size"), Column("×fp32", drop=5), Column("first token", "TTFT"),
               Column("prefill", "pre", drop=3), Column("decode"), Column("cv", drop=6), Column("model mem", "mem", drop=4),
               Column("peak RSS", "RSS", drop=1), Column("greedy", "agree"), Column("KL", drop=2),
               Column("cosine", "cos", drop=7)]
    rows = [_language_row(row, base, chosen["label"]) for row in data["results"]]
    print_table(columns, rows, console=console, padding=(0, 1), pad_edge=False,
                title=f"{data['model']} on {data['profile']} ({device['arch']}, {device['threads']} thread(s)): "
                      f"{prompts['timing_prompt_tokens']}-token prompt, {prompts['new_tokens']} new tokens",
                caption=f"torch {device['torch']}, executorch {device['executorch']} on the device")
    line(("first token: the prompt's prefill to the first new token (p50); decode: tokens/s after it (p50); greedy: "
          f"next tokens that match fp32's, teacher-forced over {prompts['count']} prompts ({prompts['positions']} "
          "positions); KL: mean divergence from fp32 (nats)", "dim"), console=console)
    if any(row["status"] == "ok" and row["latency_ms"]["noisy"] for row in data["results"]):
        line(("!", "yellow"), " decode-time spread (cv) ≥ 10 %: the device was busy, or each token takes so little "
             "that the runtime's own overhead varies more than the model (try more --new-tokens)", console=console)
    _search_warnings_and_choice(data, console)


def _search_warnings_and_choice(data: dict[str, Any], console: Console) -> None:
    """What the run searched, what the user should know, and the artifact chosen (with what the choice rests on)."""
    for searched in data["search"]:
        line(("search:", "dim"), " ", searched, console=console)
    for warning in data["warnings"] + data["device"].get("warnings", []):
        line(("warning:", "yellow"), " ", warning, console=console)
    chosen = data["chosen"]
    judged = f"; {chosen['caution']}" if chosen.get("caution") else ""
    line(("chosen:", "bold"), f" {chosen['label']} — {chosen['reason']}{judged}", console=console)


def _language_row(row: dict[str, Any], base: dict[str, Any], chosen: str) -> dict[str, Cell]:
    label = row["label"] + (" *" if row["label"] == chosen else "")
    if row["status"] == "failed":
        return {"variant": as_text(label, "red"), "size": as_text("failed", "red"), "first token": as_text(row["failed_stage"], "red")}
    agreement = row["agreement"] or {}
    greedy = f"{100 * agreement['greedy_agreement']:.1f}%" if agreement else "—"
    return {"variant": label, "size": human_bytes(row["size_bytes"]),
            "×fp32": ratio(row["size_bytes"] / base["size_bytes"], suffix=""),
            "first token": human_ms(row["first_token_ms"]["p50"]),
            "prefill": f"{row['prefill_tokens_per_s']:.0f} tok/s", "decode": f"{row['decode_tokens_per_s']:.0f} tok/s",
            "cv": f"{row['latency_ms']['cv']:.0%}" + ("!" if row["latency_ms"]["noisy"] else ""),
            "model mem": _mebibytes(row.get("model_rss_mb"), 1), "peak RSS": _mebibytes(row["peak_rss_mb"], 0),
            "greedy": greedy + ("" if row["within_budget"] else " ✗"),
            "KL": f"{agreement['kl_mean']:.3g}" if agreement else "—",
            "cosine": f"{agreement['cosine']:.4f}" if agreement else "—"}
