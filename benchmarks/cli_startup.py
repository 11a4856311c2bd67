"""``python -m benchmarks.cli_startup``: how long ``edgeq`` takes to print help or list profiles, as fresh processes.

These commands must not import torch (``tests/unit/test_cli_startup.py`` checks
that); this times what a user waits for. Target: 0.5 s each. The figures go to
``benchmarks/results/cli-startup.json``, from which ``benchmarks/report.py``
renders the "CLI start-up" section of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import click
from rich import box
from rich.console import Console
from rich.table import Table

COMMANDS = (("--help",), ("profiles", "list"), ("run", "--help"))
TARGET_MS = 500.0
RESULTS = Path(__file__).resolve().parent / "results" / "cli-startup.json"


@dataclass(frozen=True)
class Timing:
    command: str
    samples_ms: list[float]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples_ms)


def edgeq_executable() -> Path:
    """The console script next to this interpreter (the venv's), as a user would start it."""
    script = Path(sys.executable).with_name("edgeq")
    if not script.is_file():
        raise click.ClickException(f"no edgeq console script at {script}; install edgeq into this environment")
    return script


def time_once(argv: list[str]) -> float:
    """Wall time of ``argv`` as a fresh process, in ms; a failing command is an error."""
    start = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
    elapsed_ms = (time.perf_counter() - start) * 1000
    if done.returncode != 0:
        raise click.ClickException(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()[-300:]}")
    return elapsed_ms


def measure(script: Path, runs: int) -> list[Timing]:
    """``runs`` rounds, each starting every command once, so a busy spell on the host slows all of them alike."""
    samples: dict[tuple[str, ...], list[float]] = {command: [] for command in COMMANDS}
    time_once([str(script), "--help"])  # untimed: warm the OS file cache for every timed start alike
    for _ in range(runs):
        for command in COMMANDS:
            samples[command].append(time_once([str(script), *command]))
    return [Timing(" ".join(("edgeq", *command)), found) for command, found in samples.items()]


def write(timings: list[Timing], runs: int, out: Path) -> None:
    """The figures as JSON, for ``benchmarks/report.py``."""
    document = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"arch": platform.machine(), "cores": os.cpu_count(), "python": platform.python_version(),
                    "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None},
        "runs": runs, "target_ms": TARGET_MS,
        "commands": [{"command": t.command, "median_ms": t.median_ms, "min_ms": min(t.samples_ms),
                      "max_ms": max(t.samples_ms), "samples_ms": t.samples_ms} for t in timings],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


@click.command()
@click.option("--runs", default=10, type=click.IntRange(min=1), show_default=True, help="Fresh processes per command.")
@click.option("--out", type=click.Path(path_type=Path), default=RESULTS, show_default=True, help="Results JSON.")
def main(runs: int, out: Path) -> None:
    """Time ``edgeq --help``, ``edgeq profiles list`` and ``edgeq run --help``, each as fresh processes."""
    timings = measure(edgeq_executable(), runs)
    write(timings, runs, out)
    console = Console(highlight=False)
    console.print(f"edgeq start-up, {runs} fresh processes per command "
                  f"({platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()})")
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("command", "median ms", "min ms", "max ms", f"≤ {TARGET_MS:.0f} ms"):
        table.add_column(column, justify="left" if column == "command" else "right")
    for timing in timings:
        table.add_row(timing.command, f"{timing.median_ms:.0f}", f"{min(timing.samples_ms):.0f}",
                      f"{max(timing.samples_ms):.0f}", "yes" if timing.median_ms <= TARGET_MS else "[red]no[/]")
    console.print(table)
    console.print(f"wrote {out}; `python -m benchmarks.report` puts it into docs/benchmarks.md")


if __name__ == "__main__":
    main()
