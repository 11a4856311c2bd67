"""``edgeq lab``: run a models × devices matrix, in this process or through workers on the lab's hosts.

Each command is one call into ``edgeq.lab`` plus printing; the library is imported inside the command (it
imports torch, SQLAlchemy and the transports), so ``edgeq lab --help`` answers at once. The results commands
(``report``, ``compare``, ``gate``) and the device commands (``devices``, ``release``, ``retire``, ``status``)
live beside this module.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.live import Live

from edgeq.cli.lab_devices import devices, release, retire, status
from edgeq.cli.lab_results import compare, gate, report
from edgeq.cli.lab_views import LiveView, QueueView, print_run
from edgeq.cli.options import Many, default_of, inventory_options, matrix_options
from edgeq.cli.output import line, stderr
from edgeq.lab.settings import WorkerOptions


@click.group()
def lab() -> None:
    """A device lab: models × devices as jobs, device health and quarantine, a results store, reports, a gate."""


for _command in (devices, release, retire, status, report, compare, gate):
    lab.add_command(_command)


def _request(**options: Any) -> Any:
    from edgeq.lab.plan import LabRequest

    return LabRequest(models=options["models"], devices=options["device_names"], tags=options["tags"],
                      profiles=options["profile_names"], schemes=options["schemes"], formats=options["formats"],
                      runs=options["runs"], warmup=options["warmup"], label=options["label"],
                      reuse=options.get("reuse", False), resume=options.get("resume"))


@lab.command("run")
@matrix_options
@click.option("--reuse", is_flag=True, help="Skip jobs whose exact measurement is already in the store.")
@click.option("--resume", default=None, metavar="RUN", help="Finish an earlier, stopped run: only what is missing.")
@inventory_options
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON on stdout.")
def run(inventory: Path, store: str | None, as_json: bool, **matrix: Any) -> None:
    """Run MODELS on the lab's devices: exit 0 when every job is done, 1 when a job failed or timed out,
    3 when devices kept some from finishing (infra, invalid, skipped) or the run was stopped, 4 when a job
    met a bug in edgeq."""
    from edgeq.lab.runs import open_lab
    from edgeq.lab.scheduler import run_lab

    request = _request(**matrix)
    inventory_data, opened = open_lab(inventory, store)
    stop, view = threading.Event(), LiveView()
    with _on_signals(lambda *_: stop.set()), Live(view, console=stderr, refresh_per_second=4, transient=True,
                                                  redirect_stdout=False):
        result = run_lab(inventory_data, request, store=opened, progress=view.update, stop=stop)
    _finish(result, as_json)


def _finish(result: Any, as_json: bool) -> None:
    """Print a run (table or JSON) and end with the exit its outcome means."""
    from edgeq.lab.reports import report_json
    from edgeq.lab.runs import run_problem

    if as_json:
        sys.stdout.write(report_json(result) + "\n")
    else:
        print_run(result)
    problem = run_problem(result)
    if problem is not None:
        raise problem


@contextmanager
def _on_signals(handler: Any) -> Iterator[None]:
    """SIGINT and SIGTERM call ``handler`` while the block runs (to stop cleanly); then the old handlers return."""
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


# -- a lab across hosts: workers next to their devices, runs submitted from CI ----------------------------


@lab.command("worker")
@click.option("--devices", "device_names", cls=Many, help="This host's devices, from the inventory [default: all].")
@click.option("--tags", cls=Many, help="Only devices with one of these tags.")
@click.option("--name", default=None, help="The worker's name in the store [default: host:pid:random].")
@click.option("--lease-ttl", type=float, default=default_of(WorkerOptions, "lease_ttl_s"), show_default=True,
              help="Seconds a silent worker keeps its devices; its jobs then go to others, and its devices stop them.")
@click.option("--poll", type=float, default=default_of(WorkerOptions, "poll_s"), show_default=True,
              help="Seconds between looks at an empty queue.")
@click.option("--exit-when-idle", type=float, default=None, metavar="SECONDS",
              help="Exit after this long with nothing to do [default: run until SIGTERM].")
@inventory_options
def worker(device_names: tuple[str, ...], tags: tuple[str, ...], name: str | None, lease_ttl: float, poll: float,
           exit_when_idle: float | None, inventory: Path, store: str | None) -> None:
    """Serve this host's devices from the shared queue (runs from edgeq lab submit) until SIGTERM.

    SIGTERM drains: no new jobs, running ones finish, then exit. A second SIGTERM (or Ctrl-C) hands the
    running jobs back to the queue at once. A worker killed outright loses nothing: its leases expire, its
    devices stop what it ran there, and the other workers put its jobs back in the queue.
    """
    from edgeq.lab.runs import open_lab
    from edgeq.lab.worker import run_worker

    options = WorkerOptions(name=name, lease_ttl_s=lease_ttl, poll_s=poll, idle_exit_s=exit_when_idle)
    inventory_data, opened = open_lab(inventory, store)
    drain, stop = threading.Event(), threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        if drain.is_set() or signum == signal.SIGINT:
            stop.set()
            line("worker: stopping now; running jobs go back to the queue", console=stderr)
        else:
            drain.set()
            line("worker: draining; running jobs finish first (SIGTERM again to hand them back)", console=stderr)

    with _on_signals(on_signal):
        done = run_worker(inventory_data, opened, devices=device_names, tags=tags, options=options,
                          progress=_log_event, drain=drain, stop=stop)
    line(f"worker {done.name}: stopped" + (f"; {done.refused} late result(s) refused" if done.refused else ""),
         console=stderr)


def _log_event(event: Any) -> None:
    """A worker runs unattended: one line per event that ends or changes something, for its log."""
    if event.state in ("idle", "running", "building"):
        return
    line(" ".join(part for part in (event.device, event.state, event.job or "", event.message) if part),
         console=stderr)


@lab.command("submit")
@matrix_options
@inventory_options
def submit(inventory: Path, store: str | None, **matrix: Any) -> None:
    """Plan MODELS on the lab's devices and queue the jobs for the workers; prints the run's id.

    The inventory names the devices of every host (their addresses are not used here). Follow the run
    with edgeq lab wait RUN.
    """
    from edgeq.lab.runs import open_lab
    from edgeq.lab.submission import submit as submit_run

    inventory_data, opened = open_lab(inventory, store)
    run_id = submit_run(inventory_data, _request(**matrix), opened, progress=_log_event)
    jobs = opened.jobs_for(run_id)
    failed = sum(job.state == "failed" for job in jobs)
    line(f"submitted run {run_id}: {len(jobs)} jobs" + (f" ({failed} failed to build)" if failed else ""), console=stderr)
    sys.stdout.write(run_id + "\n")


@lab.command("wait")
@click.argument("run_ref", metavar="RUN")
@click.option("--timeout", type=float, default=None, help="Give up (exit 3) after this many seconds.")
@click.option("--reports", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write run.json, junit.xml, summary.md and report.html here when the run ends.")
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON on stdout.")
@inventory_options
def wait(run_ref: str, timeout: float | None, reports: Path | None, as_json: bool, inventory: Path,
         store: str | None) -> None:
    """Follow a submitted run until every job has ended; exit as edgeq lab run would (0, 1, 3 or 4)."""
    from edgeq.errors import Inconclusive
    from edgeq.lab.reports import write_reports
    from edgeq.lab.runs import find_run, open_lab
    from edgeq.lab.submission import wait_for

    _, opened = open_lab(inventory, store)
    run_id = find_run(opened, run_ref).id
    view, stop = QueueView(), threading.Event()
    with _on_signals(lambda *_: stop.set()), Live(view, console=stderr, refresh_per_second=2, transient=True,
                                                  redirect_stdout=False):
        result = wait_for(opened, run_id, timeout_s=timeout, progress=view.update, stop=stop)
    if reports is not None:
        write_reports(result, reports)
        line(f"wrote the reports of run {run_id} to {reports}", console=stderr)
    if stop.is_set():
        raise Inconclusive(f"stopped waiting for run {run_id}; it goes on", hint=f"edgeq lab wait {run_id}")
    _finish(result, as_json)
