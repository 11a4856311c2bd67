"""What ``edgeq lab`` commands print: the live views while a run works, and the tables of runs, comparisons,
devices and workers — all laid out by ``edgeq.cli.tables`` (they fit the terminal, and text from devices,
models and the store is printed as it is)."""

from __future__ import annotations

import threading
from typing import Any

from rich.console import RenderableType
from rich import box

from edgeq.cli.output import as_text, line, stderr
from edgeq.cli.tables import Column, fit_table, print_table
from edgeq.lab.records import FINAL_STATES

_STATE_COLOURS = {"done": "green", "failed": "red", "timeout": "red", "infra": "yellow", "invalid": "yellow",
                  "error": "red", "skipped": "dim"}
_HEALTH_COLOURS = {"good": "green", "unknown": "yellow", "bad": "red", "quarantined": "red", "retired": "dim"}
_STATUS_COLOURS = {"regression": "red", "inconclusive": "yellow", "missing": "yellow", "improvement": "green",
                   "ok": "white"}
_WORKER_COLOURS = {"alive": "green", "lost": "red", "stopped": "dim"}
_LIVE = (Column("device", kind="label"), Column("state", kind="label"), Column("job", kind="label"),
         Column("detail", kind="prose"))


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

    def __rich__(self) -> RenderableType:
        with self.lock:
            counts = ", ".join(f"{n} {s}" for s, n in sorted(self.counts.items())) or "starting"
            rows = [{"device": device, "state": as_text(state, _STATE_COLOURS.get(state, "")), "job": job,
                     "detail": message} for device, (state, job, message) in sorted(self.rows.items())]
        return fit_table(_LIVE, rows, stderr.width, title=f"edgeq lab: {counts}", box=box.SIMPLE).table


class QueueView:
    """A submitted run's jobs by state while ``edgeq lab wait`` follows it."""

    def __init__(self) -> None:
        self.run: Any = None

    def update(self, run: Any) -> None:
        self.run = run

    def __rich__(self) -> RenderableType:
        run = self.run
        if run is None:
            return "waiting for the store"
        counts: dict[str, int] = {}
        for job in run.jobs:
            counts[job.state] = counts.get(job.state, 0) + 1
        rows = [{"job": job.name, "state": job.state, "device": job.device or "", "attempts": str(len(job.attempts))}
                for job in run.jobs if job.state == "running"][:20]
        columns = (Column("job", kind="label"), Column("state", kind="label"), Column("device", kind="label"),
                   Column("attempts"))
        title = f"run {run.id}: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        return fit_table(columns, rows, stderr.width, title=title, box=box.SIMPLE).table


def print_run(result: Any) -> None:
    from edgeq.lab.reports.rows import job_rows
    from edgeq.lab.reports.text import latency

    columns = (Column("job", kind="label"), Column("profile", kind="label", drop=1), Column("state", kind="label"),
               Column("p50"), Column("attempts", short="att.", drop=2), Column("reason", kind="prose"))
    rows = []
    for row in job_rows(result):
        job = row.job
        state = as_text(job.state + (" (reused)" if job.reused else ""), _STATE_COLOURS.get(job.state, ""))
        rows.append({"job": job.name, "profile": job.profile, "state": state, "p50": latency(row),
                     "attempts": str(len(job.attempts)), "reason": row.reason})
    title = f"lab run {result.id}" + (f" ({result.label})" if result.label else "")
    print_table(columns, rows, title=title, box=box.SIMPLE_HEAD)


def print_comparison(result: Any) -> None:
    columns = (Column("job", kind="label"), Column("profile", kind="label", drop=1), Column("verdict", kind="label"),
               Column("status", kind="label"), Column("why", kind="prose"))
    rows = [{"job": row.key.label, "profile": row.key.profile, "verdict": row.latency.verdict if row.latency else "—",
             "status": as_text(row.status, _STATUS_COLOURS[row.status]), "why": row.reason} for row in result.rows]
    print_table(columns, rows, title=f"{result.run} against {result.baseline}", box=box.SIMPLE_HEAD)
    line(f"gate: {result.status}")


def print_devices(records: list[Any]) -> None:
    columns = (Column("device", kind="label"), Column("profile", kind="label", drop=3),
               Column("tags", kind="label", drop=1), Column("health", kind="label"), Column("since", kind="label", drop=2),
               Column("reason", kind="prose"), Column("last check", kind="label", drop=4),
               Column("recent failures", short="failures"))
    rows = [{"device": r.name, "profile": r.profile, "tags": ", ".join(r.tags) or "—",
             "health": as_text(r.health, _HEALTH_COLOURS.get(r.health, "")), "since": r.since or "—",
             "reason": r.reason or "—", "last check": f"{r.last_check.outcome} {r.last_check.at}" if r.last_check
             else "never", "recent failures": str(r.recent_failures)} for r in records]
    print_table(columns, rows, box=box.SIMPLE_HEAD)


def print_status(workers: list[Any], queue: Any, lost_after_s: float) -> None:
    columns = (Column("worker", kind="label"), Column("host", kind="label", drop=1), Column("devices", kind="prose"),
               Column("last heartbeat", short="beat"), Column("state", kind="label"))
    rows = [{"worker": w.name, "host": w.host, "devices": ", ".join(w.devices),
             "last heartbeat": f"{w.heartbeat_age_s:.0f} s ago",
             "state": as_text(w.state(lost_after_s), _WORKER_COLOURS[w.state(lost_after_s)])} for w in workers]
    print_table(columns, rows, title="workers", box=box.SIMPLE_HEAD)
    profiles = sorted(set(queue.pending) | set(queue.leased))
    line("queue: " + (", ".join(f"{p}: {queue.pending.get(p, 0)} waiting, {queue.leased.get(p, 0)} running"
                                for p in profiles) or "empty"))
    if queue.oldest_job is not None:
        line(f"oldest waiting: job {queue.oldest_job} of run {queue.oldest_run}, {queue.oldest_wait_s:.0f} s")
