"""What ``edgeq lab`` commands print: the live views while a run works, and the tables of runs, comparisons,
devices and workers. Text from devices, models and the store is printed literally (``literal``)."""

from __future__ import annotations

import threading
from typing import Any

from rich import box
from rich.table import Table

from edgeq.cli.output import literal, stdout
from edgeq.lab.records import FINAL_STATES

_STATE_COLOURS = {"done": "green", "failed": "red", "timeout": "red", "infra": "yellow", "invalid": "yellow",
                  "error": "red", "skipped": "dim"}
_HEALTH_COLOURS = {"good": "green", "unknown": "yellow", "bad": "red", "quarantined": "red", "retired": "dim"}
_STATUS_COLOURS = {"regression": "red", "inconclusive": "yellow", "missing": "yellow", "improvement": "green",
                   "ok": "white"}


class LiveView:
    """What each device is doing, for rich's Live display (updated from the lab's worker threads)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rows: dict[str, tuple[str, str, str]] = {}
        self.counts: dict[str, int] = {}

    def update(self, event: Any) -> None:
        with self.lock:
            self.rows[event.device] = (event.state, event.job or "", event.message)
            if event.job and event.state in FINAL_STATES:
                self.counts[event.state] = self.counts.get(event.state, 0) + 1

    def __rich__(self) -> Table:
        with self.lock:
            counts = ", ".join(f"{n} {s}" for s, n in sorted(self.counts.items())) or "starting"
            table = Table(box=box.SIMPLE, title=f"edgeq lab: {counts}")
            for column in ("device", "state", "job", "detail"):
                table.add_column(column, overflow="ellipsis", no_wrap=True, max_width=60)
            for device, (state, job, message) in sorted(self.rows.items()):
                table.add_row(literal(device), state, literal(job), literal(message))
            return table


class QueueView:
    """A submitted run's jobs by state while ``edgeq lab wait`` follows it."""

    def __init__(self) -> None:
        self.run: Any = None

    def update(self, run: Any) -> None:
        self.run = run

    def __rich__(self) -> Any:
        run = self.run
        if run is None:
            return "waiting for the store"
        counts: dict[str, int] = {}
        for job in run.jobs:
            counts[job.state] = counts.get(job.state, 0) + 1
        table = Table(box=box.SIMPLE, title=f"run {run.id}: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
        for column in ("job", "state", "device", "attempts"):
            table.add_column(column, overflow="ellipsis", no_wrap=True, max_width=60)
        for job in [job for job in run.jobs if job.state == "running"][:20]:
            table.add_row(literal(job.name), job.state, literal(job.device or ""), str(len(job.attempts)))
        return table


def print_run(result: Any) -> None:
    from edgeq.lab.reports.rows import job_rows
    from edgeq.lab.reports.text import latency

    table = Table(box=box.SIMPLE_HEAD, title=f"lab run {result.id}" + (f" ({literal(result.label)})" if result.label else ""))
    for column in ("job", "profile", "state", "p50", "attempts", "reason"):
        table.add_column(column, overflow="fold")
    for row in job_rows(result):
        job = row.job
        state = f"[{_STATE_COLOURS.get(job.state, 'white')}]{job.state}[/]" + (" (reused)" if job.reused else "")
        table.add_row(literal(job.name), literal(job.profile), state, latency(row), str(len(job.attempts)),
                      literal(row.reason))
    stdout.print(table)


def print_comparison(result: Any) -> None:
    table = Table(box=box.SIMPLE_HEAD, title=f"{result.run} against {result.baseline}")
    for column in ("job", "profile", "verdict", "status", "why"):
        table.add_column(column, overflow="fold")
    for row in result.rows:
        table.add_row(literal(row.key.label), literal(row.key.profile), row.latency.verdict if row.latency else "—",
                      f"[{_STATUS_COLOURS[row.status]}]{row.status}[/]", literal(row.reason))
    stdout.print(table)
    stdout.print(f"gate: {result.status}")


def print_devices(records: list[Any]) -> None:
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("device", "profile", "tags", "health", "since", "reason", "last check", "recent failures"):
        table.add_column(column)
    for record in records:
        check = record.last_check
        table.add_row(literal(record.name), literal(record.profile), literal(", ".join(record.tags)) or "—",
                      f"[{_HEALTH_COLOURS.get(record.health, 'white')}]{record.health}[/]", record.since or "—",
                      literal(record.reason) or "—", f"{check.outcome} {check.at}" if check else "never",
                      str(record.recent_failures))
    stdout.print(table)


def print_status(workers: list[Any], queue: Any, lost_after_s: float) -> None:
    table = Table(box=box.SIMPLE_HEAD, title="workers")
    for column in ("worker", "host", "devices", "last heartbeat", "state"):
        table.add_column(column, overflow="fold")
    colour = {"alive": "green", "lost": "red", "stopped": "dim"}
    for record in workers:
        state = record.state(lost_after_s)
        table.add_row(literal(record.name), literal(record.host), literal(", ".join(record.devices)),
                      f"{record.heartbeat_age_s:.0f} s ago", f"[{colour[state]}]{state}[/]")
    stdout.print(table)
    profiles = sorted(set(queue.pending) | set(queue.leased))
    stdout.print("queue: " + (", ".join(f"{literal(p)}: {queue.pending.get(p, 0)} waiting, {queue.leased.get(p, 0)} "
                                          "running" for p in profiles) or "empty"))
    if queue.oldest_job is not None:
        stdout.print(f"oldest waiting: job {queue.oldest_job} of run {queue.oldest_run}, {queue.oldest_wait_s:.0f} s")
