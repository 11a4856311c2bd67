"""``edgeq lab``: run a models × devices matrix, look after the devices, and report and gate on the results.

Each command is one call into ``edgeq.lab`` plus printing; the library is imported inside the command
(it imports torch, SQLAlchemy and the transports), so ``edgeq lab --help`` answers at once.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click
from rich import box
from rich.live import Live
from rich.table import Table

from edgeq.cli.output import print_json, stderr, stdout
from edgeq.device import DEFAULT_INVENTORY
from edgeq.errors import ConfigError, GateFailure
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
    opened.sync_devices([(e.name, e.profile, list(e.tags)) for e in inventory_data.devices.values()])
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
    opened.sync_devices([(e.name, e.profile, list(e.tags)) for e in inventory_data.devices.values()])
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
    opened.sync_devices([(e.name, e.profile, list(e.tags)) for e in inventory_data.devices.values()])
    opened.set_health(device, "retired", reason)
    stdout.print(f"{device}: retired ({reason})")


@lab.command("run")
@click.option("--models", cls=_Many, required=True, help="Model sources: zoo:NAME, file.py:factory or .pt2 (several).")
@click.option("--devices", "device_names", cls=_Many, help="Device names from the inventory [default: all].")
@click.option("--tags", cls=_Many, help="Only devices with one of these tags.")
@click.option("--profiles", "profile_names", cls=_Many, help="Only devices of these profiles.")
@click.option("--schemes", cls=_Many, help=f"Schemes ({', '.join(SCHEME_CHOICES)}) [default: none auto].")
@click.option("--formats", cls=_Many, help="Artifact formats (pte, ptl) [default: each profile's first].")
@click.option("--runs", type=click.IntRange(min=1), default=20, show_default=True, help="Timed runs per job.")
@click.option("--warmup", type=click.IntRange(min=0), default=3, show_default=True, help="Untimed runs first.")
@click.option("--label", default=None, help="A name for the run (a branch, a commit) to gate against later.")
@click.option("--reuse", is_flag=True, help="Skip jobs whose exact measurement is already in the store.")
@click.option("--resume", default=None, metavar="RUN", help="Finish an earlier, stopped run: only what is missing.")
@_inventory_option
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON on stdout.")
def run(models: tuple[str, ...], device_names: tuple[str, ...], tags: tuple[str, ...], profile_names: tuple[str, ...],
        schemes: tuple[str, ...], formats: tuple[str, ...], runs: int, warmup: int, label: str | None, reuse: bool,
        resume: str | None, inventory: Path, store: str | None, as_json: bool) -> None:
    """Run MODELS on the lab's devices: exit 0 when every job is done, 1 when a job failed or timed out,
    3 when devices kept some from finishing (infra, invalid, skipped) or the run was stopped."""
    from edgeq.lab.plan import DEFAULT_SCHEMES, LabRequest
    from edgeq.lab.reports import report_json
    from edgeq.lab.scheduler import run_lab

    request = LabRequest(models=models, devices=device_names, tags=tags, profiles=profile_names,
                         schemes=schemes or DEFAULT_SCHEMES, formats=formats, runs=runs, warmup=warmup, label=label,
                         reuse=reuse, resume=resume)
    inventory_data, opened = _open(inventory, store)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    view = _LiveView()
    try:
        with Live(view, console=stderr, refresh_per_second=4, transient=True, redirect_stdout=False):
            result = run_lab(inventory_data, request, store=opened, progress=view.update, stop=stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if as_json:
        sys.stdout.write(report_json(result) + "\n")
    else:
        _print_run(result)
    states = {job.state for job in result.jobs}
    if result.status == "interrupted":
        stderr.print(f"stopped: finished jobs are kept; edgeq lab run … --resume {result.id} finishes the rest")
        raise SystemExit(3)
    if states & {"failed", "timeout"}:
        raise SystemExit(1)
    if states & {"infra", "invalid", "skipped"}:
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
            if event.job and event.state in ("done", "failed", "timeout", "infra", "invalid", "skipped"):
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
    table = Table(box=box.SIMPLE_HEAD, title=f"lab run {result.id}" + (f" ({result.label})" if result.label else ""))
    for column in ("job", "state", "p50", "attempts", "reason"):
        table.add_column(column, overflow="fold")
    colour = {"done": "green", "failed": "red", "timeout": "red", "infra": "yellow", "invalid": "yellow",
              "skipped": "dim"}
    for job in result.jobs:
        samples = job.measurement.samples_ms if job.measurement else ()
        p50 = f"{sorted(samples)[len(samples) // 2]:.3g} ms" if samples else "—"
        state = f"[{colour.get(job.state, 'white')}]{job.state}[/]" + (" (reused)" if job.reused else "")
        table.add_row(job.name, state, p50, str(len(job.attempts)), job.reason or "")
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
            history[(device, job.model, job.variant)] = [
                point for point in opened.device_history(device, job.model, job.variant) if point[0] != result.id]
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
        for column in ("model", "device", "variant", "verdict", "status", "why"):
            table.add_column(column, overflow="fold")
        colour = {"regression": "red", "inconclusive": "yellow", "missing": "yellow", "improvement": "green", "ok": "white"}
        for row in result.rows:
            table.add_row(row.model, row.device, row.variant, row.latency.verdict if row.latency else "—",
                          f"[{colour[row.status]}]{row.status}[/]", row.reason)
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
            f"{row.model}/{row.device}/{row.variant}: {row.reason}" for row in result.rows if row.status == "regression"))
    if result.status == "inconclusive":
        stderr.print("gate: inconclusive — " + ("; ".join(f"{row.model}/{row.device}/{row.variant}: {row.reason}"
                                                          for row in result.rows if row.status in ("inconclusive", "missing"))
                                                or "nothing to compare"))
        raise SystemExit(3)
