"""Time a few artifacts the way ``make bench`` times every variant: fresh runner processes in interleaved rounds.

Used by the experiments beside the main tables (``lstm_lowerings``, ``int8_ceiling``), so that their figures
compare with the tables' own.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from benchmarks.variants import HOST_RUNNER
from edgeq.bench import BenchSpec, latency_stats, run_bench, runner_path
from edgeq.transport import LocalTransport


@dataclass(frozen=True)
class Timed:
    """An artifact to time: its row in the results, the file, and the runner's ``--format``."""

    row: dict[str, Any]
    path: Path
    format: str  # pte or onnx
    check: bool = True  # run the check inputs through it in the first round

    @property
    def runner(self) -> Path:
        return runner_path() if self.format == "pte" else HOST_RUNNER


def time_in_rounds(artifacts: list[Timed], *, inputs: Path, spec: BenchSpec, processes: int, scratch: Path,
                   say: Callable[[str], None], check_inputs: Path | None = None) -> dict[int, Any]:
    """Time every artifact in ``processes`` rounds (the order reversed every other round) and write its pooled
    latency into its row; returns the check outputs of the first round, by position in ``artifacts``."""
    samples: list[list[list[float]]] = [[] for _ in artifacts]
    check_outputs: dict[int, Any] = {}
    for round_index in range(processes):
        say(f"timing round {round_index + 1}/{processes}")
        order = list(enumerate(artifacts))
        for index, artifact in order if round_index % 2 == 0 else order[::-1]:
            check = check_inputs is not None and artifact.check and round_index == 0
            out = scratch / "check-out.pt"
            out.unlink(missing_ok=True)
            bench = run_bench(LocalTransport(), python=sys.executable, runner=str(artifact.runner),
                              artifact=str(artifact.path), fmt=artifact.format, engine=None, inputs=str(inputs),
                              spec=spec, check=str(check_inputs) if check else None,
                              check_out=str(out) if check else None, local_check_out=out if check else None)
            samples[index].append(bench.latencies_ms)
            if check:
                check_outputs[index] = bench.check_outputs
    for artifact, per_process in zip(artifacts, samples, strict=True):
        artifact.row["latency_ms"] = latency_stats([value for process in per_process for value in process]).to_dict()
        artifact.row["process_p50_ms"] = [latency_stats(process).p50 for process in per_process]
        artifact.row["latencies_ms"] = per_process
    return check_outputs


@dataclass(frozen=True)
class Rounds:
    """How long an experiment times each artifact: runs and warmup per process, and how many processes."""

    runs: int
    warmup: int
    processes: int


def rounds_options(defaults: Rounds, out: Path) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The options of an experiment's command: ``--runs``, ``--warmup``, ``--processes`` and ``--out``."""
    options = (
        click.option("--runs", default=defaults.runs, type=click.IntRange(min=5), show_default=True,
                     help="Timed runs per process."),
        click.option("--warmup", default=defaults.warmup, type=click.IntRange(min=0), show_default=True,
                     help="Untimed runs before them."),
        click.option("--processes", default=defaults.processes, type=click.IntRange(min=1), show_default=True,
                     help="Fresh processes per artifact, in interleaved rounds; their runs are pooled."),
        click.option("--out", type=click.Path(path_type=Path), default=out, show_default=True, help="Results JSON."),
    )

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def write_results(document: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
