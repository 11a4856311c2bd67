"""``edgeq lab``: run a models × devices matrix, look after the devices, and report and gate on the results.

Each command is one call into ``edgeq.lab`` plus printing; the library is imported inside the command
(it imports torch, SQLAlchemy and the transports), so ``edgeq lab --help`` answers at once.
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
from rich import box
from rich.live import Live
from rich.table import Table

from edgeq.cli.output import literal, print_json, stderr, stdout
from edgeq.device import DEFAULT_INVENTORY
from edgeq.errors import ConfigError, GateFailure, InternalError
from edgeq.lab.records import FINAL_STATES
from edgeq.quantize.spec import SCHEME_CHOICES


class _Many(click.Option):
    """An option that takes every following word up to the next option: ``--models a b c``.

    Commas separate too (``--models a,b``), and the option may be repeated."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("multiple", True)
        super().__init__(*args, **kwargs)

    def add_to_parser(self, parser: Any, ctx: click.Context) -> Any:
        result = super().add_to_parser(parser, ctx)
        for name in self.opts:
            option = parser._long_opt.get(name) or parser._short_opt.get(name)
            if option is not None:
                original = option.process

                def process(value: Any, state: Any, original: Any = original) -> None:
                    values = [value]
                    while state.rargs and not state.rargs[0].startswith("-"):
                        values.append(state.rargs.pop(0))
                    for each in values:
                        original(each, state)

                option.process = process
        return result

    def type_cast_value(self, ctx: click.Context, value: Any) -> tuple[str, ...]:
        words = super().type_cast_value(ctx, value) or ()
        return tuple(part for word in words for part in str(word).split(",") if part)


def _inventory_option(command: Any) -> Any:
    command = click.option("--store", default=None, help="Results store URL (sqlite:///FILE or postgresql://…) "
                           "[default: the inventory's [lab] store, else edgeq-lab.db beside it].")(command)
    return click.option("--inventory", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_INVENTORY,
                        show_default=True, help="The lab's inventory of devices.")(command)


def _open(inventory_path: Path, store_url: str | None) -> tuple[Any, Any]:
    from edgeq.device import Inventory
    from edgeq.lab.store import open_store

    inventory = Inventory.load(inventory_path)
    store = open_store(store_url or inventory.lab.store, default_path=inventory.path.with_name("edgeq-lab.db"))
    return inventory, store


def _run_ref(store: Any, ref: str | None) -> Any:
    """A run by id, else the latest run with that label; ``None`` or ``latest``: the latest run."""
    if ref in (None, "latest"):
        run = store.latest_run()
        if run is None:
            raise ConfigError("the store holds no lab run yet", hint="start one with edgeq lab run --models …")
        return run
    try:
        return store.run(ref)
    except ConfigError:
        run = store.latest_run(label=ref)
        if run is None:
            raise ConfigError(f"no lab run has the id or label {ref!r}", hint="edgeq lab runs lists them") from None
        return run


@click.group()
def lab() -> None:
    """A device lab: models × devices as jobs, device health and quarantine, a results store, reports, a gate."""


@lab.command("devices")
@_inventory_option
@click.option("--json", "as_json", is_flag=True, help="Print the devices as JSON on stdout.")
def devices(inventory: Path, store: str | None, as_json: bool) -> None:
    """Each device's profile, tags, health (and why, since when), last health check and recent failures."""
    inventory_data, opened = _open(inventory, store)
    opened.sync_devices([(e.name, e.profile_name, list(e.tags)) for e in inventory_data.devices.values()])
    records = [opened.device(name) for name in inventory_data.devices]
    if as_json:
        print_json([_device_dict(record) for record in records])
        return
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("device", "profile", "tags", "health", "since", "reason", "last check", "recent failures"):
        table.add_column(column)
    colour = {"good": "green", "unknown": "yellow", "bad": "red", "quarantined": "red", "retired": "dim"}
    for record in records:
        check = record.last_check
        table.add_row(record.name, record.profile, ", ".join(record.tags) or "—",
                      f"[{colour.get(record.health, 'white')}]{record.health}[/]", record.since or "—",
                      record.reason or "—", f"{check.outcome} {check.at}" if check else "never",
                      str(record.recent_failures))
    stdout.print(table)


def _device_dict(record: Any) -> dict[str, Any]:
    import dataclasses

    return dataclasses.asdict(record)


@lab.command("release")
@click.argument("device")
@_inventory_option
def release(device: str, inventory: Path, store: str | None) -> None:
    """Take DEVICE out of quarantine; its next job starts with a health check."""
    inventory_data, opened = _open(inventory, store)
    inventory_data.get(device)
    opened.sync_devices([(e.name, e.profile_name, list(e.tags)) for e in inventory_data.devices.values()])
    opened.set_health(device, "unknown", "released from quarantine", reset_infra=True)
    stdout.print(f"{device}: released; it runs a health check before its next job")


@lab.command("retire")
@click.argument("device")
@click.option("--reason", default="retired", help="Why it is taken out (kept in the store).")
@_inventory_option
def retire(device: str, reason: str, inventory: Path, store: str | None) -> None:
    """Take DEVICE out of the lab for good."""
    inventory_data, opened = _open(inventory, store)
    inventory_data.get(device)
    opened.sync_devices([(e.name, e.profile_name, list(e.tags)) for e in inventory_data.devices.values()])
    opened.set_health(device, "retired", reason)
    stdout.print(f"{device}: retired ({reason})")


def _matrix_options(command: Any) -> Any:
    """The matrix a run measures: ``edgeq lab run`` and ``edgeq lab submit`` take the same options."""
    for option in reversed([
        click.option("--models", cls=_Many, required=True,
                     help="Model sources: zoo:NAME, file.py:factory or .pt2 (several)."),
        click.option("--devices", "device_names", cls=_Many, help="Device names from the inventory [default: all]."),
        click.option("--tags", cls=_Many, help="Only devices with one of these tags."),
        click.option("--profiles", "profile_names", cls=_Many, help="Only devices of these profiles."),
        click.option("--schemes", cls=_Many, help=f"Schemes ({', '.join(SCHEME_CHOICES)}) [default: none auto]."),
        click.option("--formats", cls=_Many, help="Artifact formats (pte, ptl) [default: each profile's first]."),
        click.option("--runs", type=click.IntRange(min=1), default=20, show_default=True, help="Timed runs per job."),
        click.option("--warmup", type=click.IntRange(min=0), default=3, show_default=True, help="Untimed runs first."),
        click.option("--label", default=None, help="A name for the run (a branch, a commit) to gate against later."),
    ]):
        command = option(command)
    return command


@lab.command("run")
@_matrix_options
@click.option("--reuse", is_flag=True, help="Skip jobs whose exact measurement is already in the store.")
@click.option("--resume", default=None, metavar="RUN", help="Finish an earlier, stopped run: only what is missing.")
@_inventory_option
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON on stdout.")
def run(models: tuple[str, ...], device_names: tuple[str, ...], tags: tuple[str, ...], profile_names: tuple[str, ...],
        schemes: tuple[str, ...], formats: tuple[str, ...], runs: int, warmup: int, label: str | None, reuse: bool,
        resume: str | None, inventory: Path, store: str | None, as_json: bool) -> None:
    """Run MODELS on the lab's devices: exit 0 when every job is done, 1 when a job failed or timed out,
    3 when devices kept some from finishing (infra, invalid, skipped) or the run was stopped, 4 when a job
    met a bug in edgeq."""
    from edgeq.lab.plan import DEFAULT_SCHEMES, LabRequest
    from edgeq.lab.reports import report_json
    from edgeq.lab.scheduler import run_lab

    request = LabRequest(models=models, devices=device_names, tags=tags, profiles=profile_names,
                         schemes=schemes or DEFAULT_SCHEMES, formats=formats, runs=runs, warmup=warmup, label=label,
                         reuse=reuse, resume=resume)
    inventory_data, opened = _open(inventory, store)
    stop = threading.Event()
    view = _LiveView()
    with _on_signals(lambda *_: stop.set()), Live(view, console=stderr, refresh_per_second=4, transient=True,
                                                  redirect_stdout=False):
        result = run_lab(inventory_data, request, store=opened, progress=view.update, stop=stop)
    if as_json:
        sys.stdout.write(report_json(result) + "\n")
    else:
        _print_run(result)
    if result.status == "interrupted":
        stderr.print(f"stopped: finished jobs are kept; edgeq lab run … --resume {result.id} finishes the rest")
    _exit_for(result)


@contextmanager
def _on_signals(handler: Any) -> Iterator[None]:
    """SIGINT and SIGTERM call ``handler`` while the block runs (to stop cleanly); then the old handlers return."""
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _exit_for(result: Any) -> None:
    """A run's exit code: 0 every job done, 1 a job failed or timed out, 3 devices kept some from finishing,
    4 a job met a bug in edgeq (as any bug exits)."""
    states = {job.state for job in result.jobs}
    if "error" in states:
        raise SystemExit(InternalError.exit_code)
    if result.status == "interrupted":
        raise SystemExit(3)
    if states & {"failed", "timeout"}:
        raise SystemExit(1)
    if states & {"infra", "invalid", "skipped", "queued", "running"}:
        raise SystemExit(3)


class _LiveView:
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
            table = Table(box=box.SIMPLE, title="edgeq lab: " + (", ".join(f"{n} {s}" for s, n in sorted(self.counts.items()))
                                                                or "starting"))
            for column in ("device", "state", "job", "detail"):
                table.add_column(column, overflow="ellipsis", no_wrap=True, max_width=60)
            for device, (state, job, message) in sorted(self.rows.items()):
                table.add_row(device, state, job, message)
            return table


def _print_run(result: Any) -> None:
    from edgeq.lab.reports.rows import job_rows
    from edgeq.lab.reports.text import latency

    table = Table(box=box.SIMPLE_HEAD, title=f"lab run {result.id}" + (f" ({result.label})" if result.label else ""))
    for column in ("job", "profile", "state", "p50", "attempts", "reason"):
        table.add_column(column, overflow="fold")
    colour = {"done": "green", "failed": "red", "timeout": "red", "infra": "yellow", "invalid": "yellow",
              "error": "red", "skipped": "dim"}
    for row in job_rows(result):
        job = row.job
        state = f"[{colour.get(job.state, 'white')}]{job.state}[/]" + (" (reused)" if job.reused else "")
        table.add_row(literal(job.name), literal(job.profile), state, latency(row), str(len(job.attempts)),
                      literal(row.reason))
    stdout.print(table)


@lab.command("report")
@click.argument("run_ref", metavar="RUN", required=False)
@click.option("--format", "fmt", type=click.Choice(["json", "junit", "markdown", "html"]), default="markdown",
              show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write here [default: stdout].")
@click.option("--baseline", default=None, metavar="RUN|LABEL", help="Mark regressions against this run.")
@_inventory_option
def report(run_ref: str | None, fmt: str, output: Path | None, baseline: str | None, inventory: Path,
           store: str | None) -> None:
    """Report RUN (an id, a label, or latest) as JSON, JUnit XML, Markdown or a self-contained HTML page."""
    from edgeq.lab.gate import compare_runs
    from edgeq.lab.reports import render

    _, opened = _open(inventory, store)
    result = _run_ref(opened, run_ref)
    comparisons = None
    if baseline is not None:
        comparisons = {row.key: row.as_verdict() for row in compare_runs(_run_ref(opened, baseline), result).rows}
    history = None
    if fmt == "html":
        history = {}  # earlier runs only: the page draws this run's point itself
        for job in result.jobs:
            device = job.device or job.planned_device
            history[job.key] = [point for point in opened.device_history(device, job.model, job.variant, job.format)
                                if point[0] != result.id]
    text = render(result, fmt, history=history, comparisons=comparisons)
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        output.write_text(text, encoding="utf-8")
        stderr.print(f"wrote {output}")


def _gate_options(command: Any) -> Any:
    for option in reversed([
        click.option("--alpha", type=float, default=0.05, show_default=True, help="Significance level (Mann-Whitney U)."),
        click.option("--min-effect", type=float, default=0.05, show_default=True,
                     help="Smallest change of the median latency that counts (0.05 = 5 %)."),
        click.option("--max-size-growth", type=float, default=0.01, show_default=True,
                     help="How much an artifact may grow (0.01 = 1 %)."),
        click.option("--max-quality-drop", type=float, default=None,
                     help="How much quality may drop, in the metric's unit [default: the metric's budget]."),
        click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON on stdout."),
    ]):
        command = option(command)
    return command


def _compare(baseline_ref: str, run_ref: str | None, inventory: Path, store: str | None, **settings: Any) -> Any:
    from edgeq.lab.gate import GateSettings, compare_runs

    as_json = settings.pop("as_json")
    _, opened = _open(inventory, store)
    result = compare_runs(_run_ref(opened, baseline_ref), _run_ref(opened, run_ref), GateSettings(**settings))
    if as_json:
        print_json(result.to_dict())
    else:
        table = Table(box=box.SIMPLE_HEAD, title=f"{result.run} against {result.baseline}")
        for column in ("job", "profile", "verdict", "status", "why"):
            table.add_column(column, overflow="fold")
        colour = {"regression": "red", "inconclusive": "yellow", "missing": "yellow", "improvement": "green", "ok": "white"}
        for row in result.rows:
            table.add_row(literal(row.key.label), literal(row.key.profile), row.latency.verdict if row.latency else "—",
                          f"[{colour[row.status]}]{row.status}[/]", literal(row.reason))
        stdout.print(table)
        stdout.print(f"gate: {result.status}")
    return result


@lab.command("compare")
@click.argument("run_a", metavar="RUN_A")
@click.argument("run_b", metavar="RUN_B")
@_gate_options
@_inventory_option
def compare(run_a: str, run_b: str, inventory: Path, store: str | None, **settings: Any) -> None:
    """RUN_B against RUN_A, job by job: faster, slower, no significant change or inconclusive."""
    _compare(run_a, run_b, inventory, store, **settings)


@lab.command("gate")
@click.option("--baseline", required=True, metavar="RUN|LABEL", help="The run (or latest run with this label) to beat.")
@click.option("--run", "run_ref", default=None, metavar="RUN", help="The run to judge [default: the latest].")
@_gate_options
@_inventory_option
def gate(baseline: str, run_ref: str | None, inventory: Path, store: str | None, **settings: Any) -> None:
    """Exit 0 when RUN has no regression against the baseline, 1 when it has, 3 when it cannot tell."""
    result = _compare(baseline, run_ref, inventory, store, **settings)
    if result.status == "regression":
        raise GateFailure("a regression against the baseline: " + "; ".join(
            f"{row.key.label}: {row.reason}" for row in result.rows if row.status == "regression"))
    if result.status == "inconclusive":
        stderr.print("gate: inconclusive — " + ("; ".join(f"{row.key.label}: {row.reason}"
                                                          for row in result.rows if row.status in ("inconclusive", "missing"))
                                                or "nothing to compare"), markup=False, highlight=False)
        raise SystemExit(3)


# -- a lab across hosts: workers next to their devices, runs submitted from CI ----------------------------


@lab.command("worker")
@click.option("--devices", "device_names", cls=_Many, help="This host's devices, from the inventory [default: all].")
@click.option("--tags", cls=_Many, help="Only devices with one of these tags.")
@click.option("--name", default=None, help="The worker's name in the store [default: host:pid:random].")
@click.option("--lease-ttl", type=float, default=30.0, show_default=True,
              help="Seconds a silent worker keeps its devices before its jobs go to others.")
@click.option("--poll", type=float, default=1.0, show_default=True, help="Seconds between looks at an empty queue.")
@click.option("--exit-when-idle", type=float, default=None, metavar="SECONDS",
              help="Exit after this long with nothing to do [default: run until SIGTERM].")
@_inventory_option
def worker(device_names: tuple[str, ...], tags: tuple[str, ...], name: str | None, lease_ttl: float, poll: float,
           exit_when_idle: float | None, inventory: Path, store: str | None) -> None:
    """Serve this host's devices from the shared queue (runs from edgeq lab submit) until SIGTERM.

    SIGTERM drains: no new jobs, running ones finish, then exit. A second SIGTERM (or Ctrl-C) hands the
    running jobs back to the queue at once. A worker killed outright loses nothing: its leases expire and
    the other workers put its jobs back in the queue.
    """
    from edgeq.lab.worker import WorkerOptions, run_worker

    options = WorkerOptions(name=name, lease_ttl_s=lease_ttl, poll_s=poll, idle_exit_s=exit_when_idle)
    inventory_data, opened = _open(inventory, store)
    drain, stop = threading.Event(), threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        if drain.is_set() or signum == signal.SIGINT:
            stop.set()
            stderr.print("worker: stopping now; running jobs go back to the queue")
        else:
            drain.set()
            stderr.print("worker: draining; running jobs finish first (SIGTERM again to hand them back)")

    with _on_signals(on_signal):
        done = run_worker(inventory_data, opened, devices=device_names, tags=tags, options=options,
                          progress=_log_event, drain=drain, stop=stop)
    stderr.print(f"worker {done.name}: stopped" + (f"; {done.refused} late result(s) refused" if done.refused else ""))


def _log_event(event: Any) -> None:
    """A worker runs unattended: one line per event that ends or changes something, for its log."""
    if event.state in ("idle", "running", "building"):
        return
    stderr.print(" ".join(part for part in (event.device, event.state, event.job or "", event.message) if part),
                 markup=False, highlight=False)


@lab.command("submit")
@_matrix_options
@_inventory_option
def submit(models: tuple[str, ...], device_names: tuple[str, ...], tags: tuple[str, ...],
           profile_names: tuple[str, ...], schemes: tuple[str, ...], formats: tuple[str, ...], runs: int, warmup: int,
           label: str | None, inventory: Path, store: str | None) -> None:
    """Plan MODELS on the lab's devices and queue the jobs for the workers; prints the run's id.

    The inventory names the devices of every host (their addresses are not used here). Follow the run
    with edgeq lab wait RUN.
    """
    from edgeq.lab.plan import DEFAULT_SCHEMES, LabRequest
    from edgeq.lab.submission import submit as submit_run

    request = LabRequest(models=models, devices=device_names, tags=tags, profiles=profile_names,
                         schemes=schemes or DEFAULT_SCHEMES, formats=formats, runs=runs, warmup=warmup, label=label)
    inventory_data, opened = _open(inventory, store)
    run_id = submit_run(inventory_data, request, opened, progress=_log_event)
    jobs = opened.jobs_for(run_id)
    stderr.print(f"submitted run {run_id}: {len(jobs)} jobs"
                 + (f" ({sum(job.state == 'failed' for job in jobs)} failed to build)"
                    if any(job.state == "failed" for job in jobs) else ""))
    sys.stdout.write(run_id + "\n")


@lab.command("wait")
@click.argument("run_ref", metavar="RUN")
@click.option("--timeout", type=float, default=None, help="Give up (exit 3) after this many seconds.")
@click.option("--reports", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write run.json, junit.xml, summary.md and report.html here when the run ends.")
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON on stdout.")
@_inventory_option
def wait(run_ref: str, timeout: float | None, reports: Path | None, as_json: bool, inventory: Path,
         store: str | None) -> None:
    """Follow a submitted run until every job has ended; exit as edgeq lab run would (0, 1, 3 or 4)."""
    from edgeq.lab.reports import render, report_json
    from edgeq.lab.submission import wait_for

    _, opened = _open(inventory, store)
    run_id = _run_ref(opened, run_ref).id
    view = _QueueView()
    stop = threading.Event()
    with _on_signals(lambda *_: stop.set()), Live(view, console=stderr, refresh_per_second=2, transient=True,
                                                  redirect_stdout=False):
        result = wait_for(opened, run_id, timeout_s=timeout, progress=view.update, stop=stop)
    if reports is not None:
        reports.mkdir(parents=True, exist_ok=True)
        for fmt, name in (("json", "run.json"), ("junit", "junit.xml"), ("markdown", "summary.md"), ("html", "report.html")):
            (reports / name).write_text(render(result, fmt), encoding="utf-8")
        stderr.print(f"wrote the reports of run {run_id} to {reports}")
    if as_json:
        sys.stdout.write(report_json(result) + "\n")
    else:
        _print_run(result)
    if stop.is_set():
        stderr.print(f"stopped waiting; the run goes on: edgeq lab wait {run_id}")
        raise SystemExit(3)
    _exit_for(result)


class _QueueView:
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
            table.add_row(job.name, job.state, job.device or "", str(len(job.attempts)))
        return table


@lab.command("status")
@click.option("--lost-after", type=float, default=90.0, show_default=True,
              help="Seconds without a heartbeat after which a worker is shown lost.")
@click.option("--json", "as_json", is_flag=True, help="Print workers and queue as JSON on stdout.")
@_inventory_option
def status(lost_after: float, as_json: bool, inventory: Path, store: str | None) -> None:
    """The workers (host, devices, last heartbeat, alive or lost) and the queue (waiting, running, oldest)."""
    import dataclasses

    _, opened = _open(inventory, store)
    workers, queue = opened.workers(), opened.queue()
    if as_json:
        print_json({"workers": [{**dataclasses.asdict(w), "state": w.state(lost_after)} for w in workers],
                    "queue": dataclasses.asdict(queue)})
        return
    table = Table(box=box.SIMPLE_HEAD, title="workers")
    for column in ("worker", "host", "devices", "last heartbeat", "state"):
        table.add_column(column, overflow="fold")
    colour = {"alive": "green", "lost": "red", "stopped": "dim"}
    for record in workers:
        state = record.state(lost_after)
        table.add_row(record.name, record.host, ", ".join(record.devices), f"{record.heartbeat_age_s:.0f} s ago",
                      f"[{colour[state]}]{state}[/]")
    stdout.print(table)
    profiles = sorted(set(queue.pending) | set(queue.leased))
    stdout.print("queue: " + (", ".join(f"{p}: {queue.pending.get(p, 0)} waiting, {queue.leased.get(p, 0)} running"
                                          for p in profiles) or "empty"))
    if queue.oldest_job is not None:
        stdout.print(f"oldest waiting: job {queue.oldest_job} of run {queue.oldest_run}, {queue.oldest_wait_s:.0f} s")
