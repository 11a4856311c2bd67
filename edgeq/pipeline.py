"""The run pipeline: load → prepare → quantize+export (cached) → stage on the device → bench → judge.

``run`` is what ``edgeq run`` calls; it returns a ``RunResult`` whose
``to_dict`` is the run-result contract of DESIGN.md.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from edgeq.bench import BenchResult, BenchSpec, run_bench, stage_file, stage_runner
from edgeq.cache import cache_dir
from edgeq.errors import BenchError, ConfigError, ModelError, summarize
from edgeq.export import Artifact, ArtifactCache, build_artifact, file_sha256
from edgeq.models import LoadedModel, load_model
from edgeq.models.tracing import prepare_for_tracing
from edgeq.numerics import compare_outputs, flatten_outputs
from edgeq.profiles import DeviceProfile
from edgeq.quantize import QuantSpec, choose_scheme
from edgeq.selection import DEFAULT_MAX_DROP, Candidate, choose
from edgeq.transport import Transport, open_transport

log = logging.getLogger(__name__)

SCHEME_CHOICES = ("auto", "none", "dynamic", "static")
_MAX_CHECK_SAMPLES = 512


@dataclass(frozen=True)
class RunOptions:
    scheme: str = "auto"
    format: str | None = None
    runs: int = 50
    warmup: int = 5
    threads: int | None = None  # None: the profile's threads
    timeout_s: float = 900.0
    out_dir: Path | None = None
    max_drop: float = DEFAULT_MAX_DROP

    def __post_init__(self) -> None:
        if self.scheme not in SCHEME_CHOICES:
            raise ConfigError(f"unknown scheme {self.scheme!r}", hint=f"use one of: {', '.join(SCHEME_CHOICES)}")
        if self.max_drop < 0:
            raise ConfigError(f"--max-drop must be ≥ 0, got {self.max_drop}")
        BenchSpec(runs=self.runs, warmup=self.warmup, threads=self.threads or 1, timeout_s=self.timeout_s)


@dataclass
class VariantResult:
    spec: QuantSpec
    artifact: Artifact
    bench: BenchResult
    accuracy: dict[str, Any] | None
    numerics: dict[str, float] | None
    scheme_reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "variant": self.spec.variant,
            "scheme": self.spec.scheme,
            "scheme_reason": self.scheme_reason,
            "engine": self.spec.engine,
            "format": self.spec.format,
            "artifact": str(self.artifact.path),
            "sha256": self.artifact.sha256,
            "size_bytes": self.artifact.size_bytes,
            "cached": self.artifact.cached,
            "latency_ms": self.bench.latency.to_dict(),
            "load_ms": self.bench.load_ms,
            "first_run_ms": self.bench.first_run_ms,
            "peak_rss_mb": self.bench.peak_rss_mb,
            "accuracy": self.accuracy,
            "numerics": self.numerics,
            "outputs": self.bench.outputs,
            "backend": self.artifact.manifest.data.get("backend"),
            "notes": self.artifact.notes,
        }


@dataclass
class RunResult:
    model: str
    profile: DeviceProfile
    transport: str
    results: list[VariantResult]
    chosen: dict[str, str]
    out_dir: Path | None

    def to_dict(self) -> dict[str, Any]:
        first = self.results[0].bench
        return {
            "model": self.model,
            "profile": self.profile.name,
            "results": [r.to_dict() for r in self.results],
            "device": {
                "name": self.profile.name,
                "transport": self.transport,
                "arch": first.arch,
                "torch": first.versions.get("torch"),
                "executorch": first.versions.get("executorch"),
                "python": first.versions.get("python"),
                "threads": first.threads,
                "cpu": self.profile.cpu,
            },
            "chosen": self.chosen,
        }


Progress = Callable[[str], None]


def _format(profile: DeviceProfile, options: RunOptions) -> str:
    fmt = options.format or profile.formats[0]
    if fmt not in profile.formats:
        raise ConfigError(f"profile {profile.name!r} does not run .{fmt} artifacts", hint=f"it runs: {', '.join(profile.formats)}")
    return fmt


def _specs(prepared: torch.nn.Module, profile: DeviceProfile, options: RunOptions, fmt: str) -> list[tuple[QuantSpec, str]]:
    common = {"engine": profile.engine, "format": fmt, "reduce_range": profile.reduce_range}
    specs = [(QuantSpec(scheme="none", **common), "float reference")]
    if options.scheme == "none":
        return specs
    if options.scheme == "auto":
        scheme, reason = choose_scheme(prepared)
    else:
        scheme, reason = options.scheme, f"--scheme {options.scheme}"
    specs.append((QuantSpec(scheme=scheme, **common), reason))
    return specs


def _save(obj: Any, path: Path) -> str:
    torch.save(obj, path)
    return file_sha256(path)


def run(source: str, profile: DeviceProfile, options: RunOptions | None = None, *,
        transport: Transport | None = None, progress: Progress | None = None) -> RunResult:
    """Quantize, export, run and judge ``source`` on the device ``profile`` describes."""
    options = options or RunOptions()
    say = progress or (lambda message: None)
    fmt = _format(profile, options)
    owned = transport is None
    transport = transport or open_transport(profile.transport)
    try:
        return _run(source, profile, options, fmt, transport, say)
    finally:
        if owned:
            transport.close()


def _run(source: str, profile: DeviceProfile, options: RunOptions, fmt: str, transport: Transport, say: Progress) -> RunResult:
    say(f"loading {source}")
    loaded = load_model(source)
    prepared = prepare_for_tracing(loaded.model)
    with torch.no_grad():
        try:
            reference_example = flatten_outputs(prepared(*loaded.example_inputs))
        except Exception as exc:  # noqa: BLE001 - user model code
            raise ModelError(f"{loaded.name}: the model fails on its own example inputs: {summarize(exc)}",
                             hint="check that the example inputs match forward()") from exc
    if not reference_example:
        raise ModelError(f"{loaded.name}: the model returns no tensors")
    specs = _specs(prepared, profile, options, fmt)
    cache = ArtifactCache(cache_dir() / "artifacts")
    artifacts = []
    for spec, _ in specs:
        say(f"building {spec.variant} .{spec.format} ({spec.scheme})")
        artifacts.append(build_artifact(loaded, prepared, spec, cache, profile.name))

    check_inputs = list(loaded.eval_set.inputs) if loaded.eval_set else [loaded.example_inputs, *loaded.calibration[:31]]
    check_inputs = check_inputs[:_MAX_CHECK_SAMPLES]
    with torch.no_grad():
        reference = [flatten_outputs(prepared(*sample)) for sample in check_inputs]

    bench_spec = BenchSpec(runs=options.runs, warmup=options.warmup, threads=options.threads or profile.default_threads,
                           timeout_s=options.timeout_s)
    results: list[VariantResult] = []
    with tempfile.TemporaryDirectory(prefix="edgeq-run-") as scratch_name:
        scratch = Path(scratch_name)
        workdir = transport.expand(profile.workdir)
        say("staging runner and inputs on the device")
        runner = stage_runner(transport, workdir)
        inputs_digest = _save(loaded.example_inputs, scratch / "inputs.pt")
        remote_inputs = stage_file(transport, scratch / "inputs.pt", workdir, "inputs", inputs_digest, ".pt")
        check_digest = _save(check_inputs, scratch / "check.pt")
        remote_check = stage_file(transport, scratch / "check.pt", workdir, "inputs", check_digest, ".pt")
        for (spec, reason), artifact in zip(specs, artifacts):
            say(f"pushing {spec.variant} .{spec.format} ({artifact.size_bytes / 1024:.0f} KiB)")
            remote_artifact = stage_file(transport, artifact.path, workdir, "artifacts", artifact.sha256, f".{spec.format}")
            say(f"benchmarking {spec.variant} .{spec.format}: {bench_spec.warmup} warmup + {bench_spec.runs} runs, {bench_spec.threads} thread(s)")
            remote_out = f"{workdir}/outputs/{artifact.sha256[:16]}-{check_digest[:16]}.pt"
            bench = run_bench(transport, python=profile.python, runner=runner, artifact=remote_artifact, fmt=spec.format,
                              engine=spec.engine, inputs=remote_inputs, spec=bench_spec, check=remote_check,
                              check_out=remote_out, local_check_out=scratch / f"out-{spec.variant}.pt")
            outputs = bench.check_outputs or []
            try:
                numerics = compare_outputs(reference, outputs) if outputs and spec.scheme != "none" else None
            except ValueError as exc:
                raise BenchError(f"{spec.variant} .{spec.format} outputs do not match the model's: {exc}") from exc
            accuracy = _accuracy(loaded, outputs, artifact)
            results.append(VariantResult(spec, artifact, bench, accuracy, numerics, reason))

    chosen_variant, why = choose([
        Candidate(r.spec.variant, r.bench.latency, r.artifact.size_bytes,
                  r.accuracy["value"] if r.accuracy else None, r.numerics["cosine"] if r.numerics else None)
        for r in results
    ], max_drop=options.max_drop)
    result = RunResult(model=loaded.name, profile=profile, transport=transport.name, results=results,
                       chosen={"variant": chosen_variant, "reason": why}, out_dir=options.out_dir)
    if options.out_dir is not None:
        _write_out_dir(result, options.out_dir)
    return result


def _accuracy(loaded: LoadedModel, outputs: list[list[torch.Tensor]], artifact: Artifact) -> dict[str, Any] | None:
    if loaded.eval_set is not None and outputs:
        return {"metric": loaded.eval_set.metric, "value": loaded.eval_set.score(outputs), "samples": len(outputs)}
    if loaded.evaluator is not None:
        from edgeq.export.host_runtime import load_forward

        try:
            value = float(loaded.evaluator(load_forward(artifact.path, artifact.format, artifact.manifest.data.get("engine"))))
        except Exception as exc:  # noqa: BLE001 - user evaluation code
            raise ModelError(f"{loaded.name}: the evaluation function raised {summarize(exc)}") from exc
        return {"metric": "user", "value": value, "evaluated_on": "host"}
    return None


def _write_out_dir(result: RunResult, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for variant in result.results:
        target = out_dir / f"{variant.spec.variant}.{variant.spec.format}"
        shutil.copyfile(variant.artifact.path, target)
        shutil.copyfile(variant.artifact.path.parent / "manifest.json", out_dir / f"{variant.spec.variant}.{variant.spec.format}.manifest.json")
    (out_dir / "result.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
