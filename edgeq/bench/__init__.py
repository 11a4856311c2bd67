"""Benchmarking on the device: stage the runner, run one artifact per fresh process, parse its JSON line."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from edgeq._resources import resource_dir
from edgeq.bench.stats import LatencyStats, latency_stats
from edgeq.bench.verdict import Comparison, compare_samples
from edgeq.errors import BenchError, ConfigError, DeviceEnvironmentError
from edgeq.digest import file_sha256
from edgeq.transport.base import Transport

log = logging.getLogger(__name__)

RUNNER_NAME = "edgeq_runner.py"


@dataclass(frozen=True)
class BenchSpec:
    """How to measure: warmup and timed runs, threads, and how long a slow device may take."""

    runs: int = 50
    warmup: int = 5
    threads: int = 1
    timeout_s: float = 900.0
    min_time_s: float = 0.0  # keep timing past ``runs`` until this much time was measured
    cpus: tuple[int, ...] = ()  # CPU affinity on the device

    def __post_init__(self) -> None:
        for key in ("runs", "threads"):
            if getattr(self, key) < 1:
                raise ConfigError(f"--{key} must be ≥ 1, got {getattr(self, key)}")
        if self.warmup < 0:
            raise ConfigError(f"--warmup must be ≥ 0, got {self.warmup}")
        if self.min_time_s < 0:
            raise ConfigError(f"--min-time must be ≥ 0 seconds, got {self.min_time_s}")


@dataclass(frozen=True)
class BenchResult:
    """What the runner reported for one artifact."""

    latency: LatencyStats
    load_ms: float
    first_run_ms: float
    peak_rss_mb: float | None  # None where the runner cannot tell (the native executor_runner)
    arch: str
    threads: int
    versions: dict[str, Any]
    outputs: list[dict[str, Any]]
    check_outputs: list[list[Any]] | None = field(default=None, repr=False)
    # The model's own memory: resident memory added by loading and running the artifact, above the runtime's
    # baseline (Python, torch, the runtime) measured just before load. None where the runner cannot tell.
    model_rss_mb: float | None = None
    baseline_rss_mb: float | None = None

    @property
    def latencies_ms(self) -> list[float]:
        """Every timed run in measured order (what ``latency`` summarises), to pool runs of several processes."""
        return list(self.latency.samples_ms)


# What edgeq keeps in a device's work dir, each file named by its content hash; `edgeq clean` removes these.
WORKDIR_FOLDERS = ("runner", "artifacts", "inputs", "outputs")


def runner_path() -> Path:
    return resource_dir("runners") / RUNNER_NAME


def stage_runner(transport: Transport, workdir: str) -> str:
    """Push the runner once per version (named by its hash); return its device path."""
    local = runner_path()
    return stage_file(transport, local, workdir, "runner", file_sha256(local), ".py").path


class Staged(NamedTuple):
    path: str  # on the device
    pushed: bool  # False: the device already had it


def stage_file(transport: Transport, local: Path, workdir: str, folder: str, digest: str, suffix: str) -> Staged:
    """Push a file under its content hash unless the device already has it."""
    remote = f"{workdir}/{folder}/{digest}{suffix}"
    if transport.sha256(remote) == digest:
        return Staged(remote, pushed=False)
    transport.push(local, remote)
    return Staged(remote, pushed=True)


def run_bench(transport: Transport, *, python: str, runner: str, artifact: str, fmt: str, engine: str | None,
              inputs: str, spec: BenchSpec, check: str | None = None, check_out: str | None = None,
              local_check_out: Path | None = None) -> BenchResult:
    """Run the runner for one artifact in a fresh process and parse its one JSON line."""
    argv = [python, runner, "--artifact", artifact, "--format", fmt, "--inputs", inputs,
            "--warmup", str(spec.warmup), "--runs", str(spec.runs), "--threads", str(spec.threads)]
    if spec.min_time_s:
        argv += ["--min-time-s", f"{spec.min_time_s:g}"]
    if spec.cpus:
        argv += ["--cpus", ",".join(str(cpu) for cpu in spec.cpus)]
    if engine and fmt == "ptl":
        argv += ["--engine", engine]
    if check and check_out:
        argv += ["--check", check, "--check-out", check_out]
    result = transport.run(argv, timeout_s=spec.timeout_s, check=False)
    report = successful_report(result, "the runner")
    if result.returncode != 0:
        raise BenchError(f"the runner exited {result.returncode} after reporting success")
    check_outputs = None
    if check_out and local_check_out is not None and report.get("check_count"):
        import torch

        transport.pull(check_out, local_check_out)
        check_outputs = torch.load(local_check_out, weights_only=True)
    return BenchResult(
        latency=latency_stats(report["latencies_ms"]), load_ms=float(report["load_ms"]),
        first_run_ms=float(report["first_run_ms"]), peak_rss_mb=float(report["peak_rss_mb"]),
        arch=str(report["arch"]), threads=int(report["threads"]), versions=dict(report.get("versions", {})),
        outputs=list(report.get("outputs", [])), check_outputs=check_outputs,
        model_rss_mb=_optional_float(report.get("model_rss_mb")), baseline_rss_mb=_optional_float(report.get("baseline_rss_mb")),
    )


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


# ExecuTorch logs a failure where it happens ("[XNNCompiler.cpp:1610] Failed to create static slice node 94 …")
# and then raises a bare "error: 0x1"; the log line is the reason. cpuinfo's complaints about missing /sys files
# are logged on every load and say nothing about the model.
_RUNTIME_LOG = re.compile(r"^\[(?P<where>[\w./-]+\.(?:cpp|h)):\d+\] (?P<what>.*(?:[Ff]ail|[Ee]rror|[Uu]nsupported|[Mm]issing).*)$",
                          re.MULTILINE)
_NOT_THE_MODEL = ("cpuinfo",)


def _runtime_reason(stderr: str) -> str:
    """`` (XNNCompiler.cpp: Failed to create …)``: the first failure ExecuTorch logged, or nothing."""
    for found in _RUNTIME_LOG.finditer(stderr or ""):
        if not found["where"].startswith(_NOT_THE_MODEL):
            return f" ({found['where']}: {found['what'].strip()[:200]})"
    return ""


def successful_report(result: Any, runner: str) -> dict[str, Any]:
    """The report of a runner that succeeded; a failure it reported is raised, as ``DeviceEnvironmentError`` when
    the device's environment refused (no runtime, no operators) and ``BenchError`` otherwise."""
    report = parse_report(result.stdout, result.stderr)
    if not report.get("ok"):
        error = report.get("error", {})
        log.debug("%s's stderr:\n%s", runner, result.stderr)
        failure = DeviceEnvironmentError if error.get("environment") else BenchError
        raise failure(f"{runner} failed on the device: {error.get('type', '?')}: {error.get('message', '')[:300]}"
                      + _runtime_reason(result.stderr), hint="run with --debug to see the runner's stderr")
    return report


def parse_report(stdout: str, stderr: str = "") -> dict[str, Any]:
    """The runner's one JSON object from stdout; anything else there is a protocol error."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    candidates = [line for line in lines if line.lstrip().startswith("{")]
    if len(candidates) != 1:
        tail = (stderr.strip().splitlines() or ["(no stderr)"])[-1][:300]
        raise BenchError(f"the runner printed {len(candidates)} JSON lines instead of one; last stderr line: {tail}")
    try:
        report = json.loads(candidates[0])
    except json.JSONDecodeError as exc:
        raise BenchError(f"the runner's report is not valid JSON: {exc}") from exc
    if not isinstance(report, dict) or "runner" not in report:
        raise BenchError("the runner's report lacks the 'runner' field")
    if report.get("ok") and not isinstance(report.get("latencies_ms"), list):
        raise BenchError("the runner's report lacks 'latencies_ms'")
    return report


__all__ = ["WORKDIR_FOLDERS", "BenchResult", "Staged", "BenchSpec", "Comparison", "LatencyStats", "compare_samples",
           "latency_stats", "parse_report", "run_bench", "runner_path", "stage_file", "stage_runner", "successful_report"]
