"""Measure every zoo model on every runtime, one thread, in fresh processes per variant, and write the raw JSON."""

from __future__ import annotations

import datetime as _dt
import json
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from benchmarks.scoring import check_set, reference_outputs, score
from benchmarks.variants import Built, Plan, build, plans
from edgeq.bench import BenchResult, BenchSpec, latency_stats, run_bench
from edgeq.errors import BenchError, summarize
from edgeq.export import ArtifactCache
from edgeq.models import LoadedModel, load_model
from edgeq.models.tracing import prepare_for_tracing
from edgeq.profiles import describe_host
from edgeq.quantize import choose_scheme
from edgeq.transport import LocalTransport

MODELS = ("digits-cnn", "digits-lstm", "mobilenet-v2", "resnet-18", "minilm")
RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"
SCHEMA = 1


@dataclass(frozen=True)
class Settings:
    runs: int = 50
    warmup: int = 5
    threads: int = 1
    processes: int = 3  # fresh processes per variant, interleaved; their samples are pooled
    timeout_s: float = 900.0


def machine() -> dict[str, Any]:
    host = describe_host()
    return {"cpu": host["cpu"], "cores": host["cores"], "arch": host["arch"], "isa": host["isa"],
            "engine": host["engine"], "platform": platform.platform()}


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version()}
    for package in ("torch", "executorch", "torchao", "onnxruntime", "onnx", "transformers", "edgeq"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    found["git"] = _git_revision()
    return found


def _git_revision() -> str | None:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True,
                              cwd=Path(__file__).resolve().parent).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "edgeq", "runners"], capture_output=True,
                               text=True, check=True, cwd=Path(__file__).resolve().parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+dirty" if dirty else "")


def run(models: tuple[str, ...], settings: Settings, console: Console) -> dict[str, Any]:
    """Build, run and score every variant of every model; return the raw results document."""
    started = time.monotonic()
    host_engine = describe_host()["engine"]
    document: dict[str, Any] = {
        "schema": SCHEMA,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": versions(),
        "settings": {"runs": settings.runs, "warmup": settings.warmup, "threads": settings.threads,
                     "processes": settings.processes},
        "models": [],
    }
    steps_per_model = len(plans("static")) * (1 + settings.processes)  # the most a model has; trimmed per model
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress, \
            tempfile.TemporaryDirectory(prefix="edgeq-bench-") as scratch_name:
        task = progress.add_task("starting", total=len(models) * steps_per_model)
        # empty caches, so that each variant's build time is a real build's
        caches = (ArtifactCache(Path(scratch_name) / "artifacts"), ArtifactCache(Path(scratch_name) / "onnx"))
        for name in models:
            scratch = Path(scratch_name) / name
            scratch.mkdir()
            progress.update(task, description=f"{name}: loading")
            bench = _ModelBench(name, settings, progress, task, scratch, host_engine, caches)
            document["models"].append(bench.run())
    document["wall_s"] = round(time.monotonic() - started, 1)
    return document


class _ModelBench:
    """One model: load it, build every variant, then time them in interleaved rounds of fresh processes."""

    def __init__(self, name: str, settings: Settings, progress: Progress, task: Any, scratch: Path, host_engine: str,
                 caches: tuple[ArtifactCache, ArtifactCache]) -> None:
        self.name, self.settings, self.progress, self.task, self.scratch = name, settings, progress, task, scratch
        self.host_engine, self.caches = host_engine, caches

    def run(self) -> dict[str, Any]:
        started = time.monotonic()
        loaded = load_model(f"zoo:{self.name}")
        prepared = prepare_for_tracing(loaded.model, loaded.keywords)
        scheme, reason = choose_scheme(prepared)
        checks = check_set(loaded)
        reference = reference_outputs(prepared, checks.inputs)
        torch.save(loaded.example_inputs, self.scratch / "inputs.pt")
        torch.save(checks.inputs, self.scratch / "check.pt")
        model_plans = plans(scheme)
        unused = (len(plans("static")) - len(model_plans)) * (1 + self.settings.processes)
        self.progress.update(self.task, total=self.progress.tasks[0].total - unused)

        rows = [self._build(plan, loaded, prepared) for plan in model_plans]
        samples: dict[int, list[list[float]]] = {index: [] for index in range(len(rows))}
        for round_index in range(self.settings.processes):
            order = list(enumerate(zip(model_plans, rows, strict=True)))
            if round_index % 2:
                order.reverse()  # alternate the order so a slow spell on the host does not always hit the same rows
            for index, (plan, (row, built)) in order:
                if built is None or "error" in row:
                    self.progress.advance(self.task)
                    continue
                self.progress.update(self.task, description=f"{self.name}: timing {plan.label} "
                                                            f"(process {round_index + 1}/{self.settings.processes})")
                try:
                    bench = self._invoke(built, check=round_index == 0)
                    samples[index].append(bench.latencies_ms)
                    if round_index == 0:
                        if not bench.check_outputs:
                            raise BenchError("the runner ran no check inputs")
                        row.update(load_ms=bench.load_ms, first_run_ms=bench.first_run_ms,
                                   peak_rss_mb=bench.peak_rss_mb, model_rss_mb=bench.model_rss_mb,
                                   baseline_rss_mb=bench.baseline_rss_mb, threads=bench.threads,
                                   accuracy=score(loaded, checks, reference, bench.check_outputs))
                except Exception as exc:  # noqa: BLE001 - a runner that fails must not sink the table
                    row["error"] = summarize(exc)
                    self.progress.console.log(f"[yellow]{self.name} {plan.label}: {row['error']}")
                self.progress.advance(self.task)
        for index, (row, _) in enumerate(rows):
            if "error" not in row:
                pooled = [value for process in samples[index] for value in process]
                row["latency_ms"] = latency_stats(pooled).to_dict()
                row["process_p50_ms"] = [latency_stats(process).p50 for process in samples[index]]
                row["latencies_ms"] = samples[index]
                self.progress.console.log(_line(self.name, row))
        return {"model": self.name, "description": loaded.description, "int8_scheme": scheme, "scheme_reason": reason,
                "metric": checks.metric, "check": checks.description, "check_samples": len(checks.inputs),
                "wall_s": round(time.monotonic() - started, 1), "results": [row for row, _ in rows],
                "auto": self._auto(loaded)}

    def _auto(self, loaded: LoadedModel) -> dict[str, Any]:
        """``edgeq run --scheme auto`` on ``host`` (both formats), from an empty artifact cache: how long the
        search takes, what it measured, and whether its choice is the fastest candidate within budget."""
        import os

        from edgeq.pipeline import RunOptions, run as run_pipeline
        from edgeq.profiles import load_profile

        self.progress.update(self.task, description=f"{self.name}: edgeq run --scheme auto")
        saved = os.environ.get("EDGEQ_CACHE_DIR")
        os.environ["EDGEQ_CACHE_DIR"] = str(self.scratch / "auto-cache")  # builds count in the search time
        started = time.monotonic()
        try:
            result = run_pipeline(loaded, load_profile("host"), RunOptions(
                scheme="auto", runs=self.settings.runs, warmup=self.settings.warmup, threads=self.settings.threads))
        except Exception as exc:  # noqa: BLE001 - one failure must not sink the table
            return {"error": summarize(exc)}
        finally:
            if saved is None:
                os.environ.pop("EDGEQ_CACHE_DIR", None)
            else:
                os.environ["EDGEQ_CACHE_DIR"] = saved
        data = result.to_dict()
        candidates = [{"variant": row["variant"], "format": row["format"], "status": row["status"],
                       "p50_ms": row["latency_ms"]["p50"] if row["status"] == "ok" else None,
                       "within_budget": row["within_budget"], "size_bytes": row["size_bytes"],
                       "model_rss_mb": row.get("model_rss_mb")} for row in data["results"]]
        return {"search_s": round(time.monotonic() - started, 1), "chosen": data["chosen"], "search": data["search"],
                "candidates": candidates}

    def _build(self, plan: Plan, loaded: LoadedModel, prepared: torch.nn.Module) -> tuple[dict[str, Any], Built | None]:
        self.progress.update(self.task, description=f"{self.name}: building {plan.label}")
        row: dict[str, Any] = {"runtime": plan.runtime, "precision": plan.precision, "scheme": plan.scheme,
                               "engine": plan.engine, "activations": plan.activations, "detail": plan.detail,
                               "format": plan.format, "label": plan.label}
        started = time.monotonic()
        built = None
        try:
            with warnings.catch_warnings():  # exporters' deprecation chatter would break the progress display
                warnings.simplefilter("ignore")
                built = build(plan, loaded, prepared, host_engine=self.host_engine, edgeq_cache=self.caches[0],
                              onnx_cache=self.caches[1], scratch=self.scratch)
            row.update(size_bytes=built.size_bytes, backend=built.backend, notes=built.notes, cached=built.cached,
                       build_s=round(time.monotonic() - started, 1))
        except Exception as exc:  # noqa: BLE001 - exporters and quantizers raise many kinds; one failure must not sink the table
            row["error"] = summarize(exc)
            self.progress.console.log(f"[yellow]{self.name} {plan.label}: {row['error']}")
        self.progress.advance(self.task)
        return row, built

    def _invoke(self, built: Built, *, check: bool) -> BenchResult:
        """One fresh runner process, through edgeq's own ``run_bench``; rounds pool its raw samples."""
        scratch, settings = self.scratch, self.settings
        spec = BenchSpec(runs=settings.runs, warmup=settings.warmup, threads=settings.threads, timeout_s=settings.timeout_s)
        out = scratch / "check-out.pt"
        out.unlink(missing_ok=True)
        return run_bench(LocalTransport(), python=sys.executable, runner=str(built.runner), artifact=str(built.path),
                         fmt=built.plan.format, engine=built.plan.engine, inputs=str(scratch / "inputs.pt"), spec=spec,
                         check=str(scratch / "check.pt") if check else None, check_out=str(out) if check else None,
                         local_check_out=out if check else None)


def _line(name: str, row: dict[str, Any]) -> str:
    latency = row["latency_ms"]
    accuracy = row["accuracy"]
    quality = f"top-1 {accuracy['top1']:.1f} %" if "top1" in accuracy else f"cosine {accuracy['cosine']:.4f}"
    noisy = " [red]noisy[/red]" if latency["noisy"] else ""
    return (f"{name:<13} {row['label']:<40} p50 {latency['p50']:8.3f} ms  cv {latency['cv']:5.1%}{noisy}  "
            f"{row['size_bytes'] / 1e6:7.2f} MB  {quality}")


def write(document: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
