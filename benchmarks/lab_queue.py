"""``python -m benchmarks.lab_queue``: what the lab's shared job queue costs, on PostgreSQL over loopback.

Workers on several hosts share one queue in the store; this times it with 4 worker processes × 8 devices
(32 in all) and 2,000 short jobs, in two parts, each in a database of its own:

1. **The claim path**, the store alone: each process leases its devices and waits until all the jobs are
   queued, then runs one thread per device that loops ``claim_job`` → ``record_measurement`` (five samples)
   until its device has nothing left. jobs/s is the claim path's own rate: 2,000 over the time from the
   first claim to the last result. Its target is ≥ 200 jobs/s on this machine.
2. **End to end**: 4 real ``edgeq lab worker`` processes (``run_worker``) whose devices are ``FakeDevice``s
   with no device work, healthy from the start (no health checks). The benchmark holds every device's lease
   while the workers start and the jobs are queued, then releases them all: the workers take their devices
   at their next heartbeat (a third of the 10 s lease) and start together, so every step a job takes is in
   the figure: claim, rebuild from the content cache and sha256 check, staging, the runner protocol, the
   writes. The jobs are clones of one submitted tiny model's jobs (``submit``), in runs of one job per device.

A run's jobs are all added before the run is handed to the workers (``Store.enqueue_run``), as ``submit``
does. Both parts report the wait from enqueue to start (attempt 1's ``started_at_s`` minus the job's
``queued_at_s``) and from release to start (minus the database's clock when the devices were let go): in a
burst of 2,000 jobs for 32 devices both are mostly the backlog ahead of the job, not the queue's latency.
CPU a job is the clients' (the claim processes' or the workers' own CPU time while they work) and
PostgreSQL's (its processes' user + system time from ``/proc``). The workers and PostgreSQL share this
machine's cores, so each slows the other. Nothing here asserts a speed.

PostgreSQL is the one the store's tests start (``tests/support/postgres.py``, Debian's package, as an
unprivileged user under root, fsync off): imported from there rather than copied, and stopped, with its
files deleted, however the benchmark ends. Every wait is bounded by ``--timeout-s``; past it the benchmark
fails (exit 1) and stops its processes. Writes ``benchmarks/results/lab-queue.json``.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import multiprocessing
import os
import platform
import queue
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

import click
from sqlalchemy import Engine, func, select, text

from edgeq.lab.records import Claim, Measurement
from edgeq.lab.store import Store, engine_for, open_store
from edgeq.lab.store.schema import attempts, jobs

RESULTS = Path(__file__).resolve().parent / "results" / "lab-queue.json"
TARGET_JOBS_PER_S = 200.0  # the claim path's, from the issue that asked for this benchmark
_REPO = Path(__file__).resolve().parent.parent
_PROFILE = "host"
_FAKE_SHA256 = hashlib.sha256(b"edgeq lab-queue benchmark").hexdigest()
_GRACE_S = 60.0  # a job waits this long for its planned device before a sibling may take it
_POLL_S = 0.1  # how often the main process looks for a drained queue, and a worker at an empty one
_LEASE_TTL_S = 10.0  # the workers' lease (the shortest a worker takes): they renew it, and take free devices, every 3.3 s
_SETTLE_S = 0.5  # after the clients exit, until their backends' CPU is in the postmaster's children's
_HOLDER = "benchmark"
_SAMPLES_MS = (1.0, 1.02, 0.98, 1.01, 0.99)


class _Cell(NamedTuple):
    """One cell of a run's matrix, and the artifact its job measures: what a clone run repeats."""

    model: str
    scheme: str
    format: str
    variant: str
    planned_device: str
    artifact_sha256: str


# -- shared by both parts ---------------------------------------------------------------------------------


def _device_names(workers: int, devices_per_worker: int) -> list[list[str]]:
    return [[f"fake-{w}-{d}" for d in range(devices_per_worker)] for w in range(workers)]


def _enqueue(store: Store, cells: Sequence[_Cell], count: int, args: dict[str, Any], label: str) -> list[str]:
    """Queue ``count`` jobs in runs of one job per cell; returns the runs.

    Each run gets all its jobs, then their artifacts, and only then goes to the workers (``enqueue_run``), as
    ``submit`` does: a worker that drains a run whose later jobs are not added yet would finish it early.
    """
    run_ids = []
    for first in range(0, count, len(cells)):
        chunk = cells[:count - first]
        run_id = store.create_run(label, args)
        added = [store.add_job(run_id, c.model, _PROFILE, c.scheme, c.format, c.variant, c.planned_device)
                 for c in chunk]
        for job_id, cell in zip(added, chunk):
            store.set_job_state(job_id, "queued", "", artifact_sha256=cell.artifact_sha256)
        store.enqueue_run(run_id)
        run_ids.append(run_id)
    return run_ids


def _db_now_s(engine: Engine) -> float:
    with engine.connect() as connection:
        return float(connection.execute(text("SELECT EXTRACT(EPOCH FROM clock_timestamp())")).scalar_one())


def _queue_times_s(engine: Engine, run_ids: Sequence[str]) -> list[tuple[float, float]]:
    """Each job's ``(queued_at_s, started_at_s)``: when it entered the queue and when its first attempt
    started, on the database's clock."""
    query = (select(jobs.c.queued_at_s, attempts.c.started_at_s).join(attempts, attempts.c.job_id == jobs.c.id)
             .where(jobs.c.run_id.in_(run_ids), attempts.c.number == 1))
    with engine.connect() as connection:
        return [(float(queued_s), float(started_s)) for queued_s, started_s in connection.execute(query)]


def _job_states(engine: Engine, run_ids: Sequence[str]) -> dict[str, int]:
    query = select(jobs.c.state, func.count()).where(jobs.c.run_id.in_(run_ids)).group_by(jobs.c.state)
    with engine.connect() as connection:
        return {state: int(count) for state, count in connection.execute(query)}


def _retried(engine: Engine, run_ids: Sequence[str]) -> int:
    """Jobs that took more than one attempt: their ``queued_at_s`` moved, so their wait is not attempt 1's."""
    query = (select(func.count(func.distinct(attempts.c.job_id))).join(jobs, jobs.c.id == attempts.c.job_id)
             .where(jobs.c.run_id.in_(run_ids), attempts.c.number > 1))
    with engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


def _spread_ms(values_s: Sequence[float]) -> dict[str, float]:
    cuts = statistics.quantiles(values_s, n=100, method="inclusive")
    return {"p50": cuts[49] * 1000, "p99": cuts[98] * 1000, "max": max(values_s) * 1000}


def _waits(engine: Engine, run_ids: Sequence[str], released_at_s: float) -> dict[str, dict[str, float]]:
    times_s = _queue_times_s(engine, run_ids)
    return {"enqueue_to_start_ms": _spread_ms([started - queued for queued, started in times_s]),
            "release_to_start_ms": _spread_ms([started - released_at_s for _, started in times_s])}


def _server_cpu_s(data: Path) -> float:
    """PostgreSQL's CPU time so far: the postmaster's own, its ended children's (backends of clients that
    disconnected) and its live children's, user + system, from ``/proc``."""
    postmaster = int((data / "postmaster.pid").read_text().split("\n", 1)[0])
    ticks = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = (Path("/proc") / entry / "stat").read_text()
        except OSError:  # the process ended meanwhile
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # from field 3, the state; the name may hold spaces
        utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
        if int(entry) == postmaster:
            ticks += utime + stime + cutime + cstime
        elif int(fields[1]) == postmaster:
            ticks += utime + stime
    return ticks / os.sysconf("SC_CLK_TCK")


def _collect(report: Any, kind: str, names: Sequence[str], processes: Sequence[Any], deadline: float) -> dict[str, Any]:
    """Each process's ``kind`` message; one that failed, died or is late past ``deadline`` fails the benchmark."""
    got: dict[str, Any] = {}
    while len(got) < len(names):
        try:
            what, name, payload = report.get(timeout=min(1.0, max(0.01, deadline - time.monotonic())))
        except queue.Empty:
            dead = [f"{p.name} (exit {p.exitcode})" for p in processes if p.exitcode not in (None, 0)]
            if dead:
                raise click.ClickException(f"{', '.join(dead)} died before reporting {kind!r}") from None
            if time.monotonic() > deadline:
                raise click.ClickException(f"timed out waiting for {kind!r} from "
                                           f"{', '.join(sorted(set(names) - set(got)))}") from None
            continue
        if what == "error":
            raise click.ClickException(f"{name} failed:\n{payload}")
        if what == kind:
            got[name] = payload
    return got


def _join(processes: Sequence[Any], deadline: float) -> None:
    """Wait for the processes to exit by themselves; one still running past ``deadline`` fails the benchmark."""
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            raise click.ClickException(f"{process.name} did not exit in time")


def _stop(processes: Sequence[Any]) -> None:
    """End this benchmark's own child processes, politely first."""
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        if process.pid is None:
            continue  # never started
        process.join(10)
        if process.is_alive():
            process.kill()
            process.join(5)


# -- part 1: the claim path -------------------------------------------------------------------------------


def _claim_process(url: str, worker: str, device_names: list[str], go: Any, report: Any, wait_s: float) -> None:
    """A worker of part 1: lease its devices, wait for ``go``, drain each device's jobs in a thread of its own;
    reports the first claim's and the last result's wall clock (the same clock in every process on a host)
    and its CPU time while it worked."""
    try:
        with open_store(url, default_path=None) as store:
            tokens = {device: store.acquire_lease(device, worker, ttl_s=wait_s * 3) for device in device_names}
            if None in tokens.values():
                raise RuntimeError(f"could not lease {[d for d, t in tokens.items() if t is None]}")
            report.put(("ready", worker, None))
            if not go.wait(wait_s * 3):  # a backstop: the main process gives up first, on its own bounds
                raise RuntimeError("never told to start")
            cpu_s = time.process_time()
            with ThreadPoolExecutor(len(device_names)) as pool:
                spans = list(pool.map(lambda device: _drain_device(store, worker, device, tokens[device]),
                                      device_names))
            cpu_s = time.process_time() - cpu_s
        report.put(("done", worker, (min(s[0] for s in spans), max(s[1] for s in spans), cpu_s)))
    except BaseException:  # noqa: BLE001 - whatever it was, the main process reports it and stops
        report.put(("error", worker, traceback.format_exc()))


def _drain_device(store: Store, worker: str, device: str, token: int) -> tuple[float, float, int]:
    """Claim and record this device's jobs until there are none; (first claim, last result, jobs), epoch seconds."""
    first_s = last_s = time.time()
    done = 0
    while (claim := store.claim_job(worker, device, _PROFILE, token, grace_s=_GRACE_S)) is not None:
        store.record_measurement(claim.job.id, claim.attempt, _measurement(claim, device), token)
        last_s = time.time()
        done += 1
    return first_s, last_s, done


def _measurement(claim: Claim, device: str) -> Measurement:
    return Measurement(result_key=hashlib.sha256(f"{claim.job.id}/{claim.attempt}".encode()).hexdigest(),
                       artifact_sha256=claim.job.artifact_sha256 or _FAKE_SHA256, device=device,
                       samples_ms=_SAMPLES_MS,
                       measured_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                       size_bytes=1024, versions={"runner": "lab-queue benchmark"}, conditions={})


def claim_path(url: str, server_cpu_s: Callable[[], float], device_names: list[list[str]], count: int,
               timeout_s: float) -> dict[str, Any]:
    """Part 1: ``count`` jobs queued, then claimed and recorded by one process per device group."""
    context = multiprocessing.get_context("spawn")
    go, report = context.Event(), context.Queue()
    engine = engine_for(url, default_path=None)
    processes = [context.Process(target=_claim_process, name=f"claims-{i}", args=(url, f"claims-{i}", names, go,
                                                                                   report, timeout_s))
                 for i, names in enumerate(device_names)]
    names = [p.name for p in processes]
    try:
        with open_store(url, default_path=None) as store:
            store.sync_devices([(name, _PROFILE, []) for group in device_names for name in group])
            store.put_artifact(_FAKE_SHA256, "bench-model", _PROFILE, "fp32", "none", "pte", 1024, {})
            cells = [_Cell("bench-model", "none", "pte", "fp32", name, _FAKE_SHA256)
                     for group in zip(*device_names) for name in group]  # round-robin over the processes
            for process in processes:
                process.start()
            started = time.perf_counter()
            run_ids = _enqueue(store, cells, count, {"runs": len(_SAMPLES_MS), "warmup": 0}, "lab-queue claims")
            enqueue_s = time.perf_counter() - started
        _collect(report, "ready", names, processes, time.monotonic() + timeout_s)
        server_s = server_cpu_s()
        released_at_s = _db_now_s(engine)
        go.set()
        spans = _collect(report, "done", names, processes, time.monotonic() + timeout_s).values()
        _join(processes, time.monotonic() + timeout_s)
        time.sleep(_SETTLE_S)
        server_s = server_cpu_s() - server_s
        states = _job_states(engine, run_ids)
        if states != {"done": count}:
            raise click.ClickException(f"the claim path left its jobs {states}, not {count} done")
        wall_s = max(s[1] for s in spans) - min(s[0] for s in spans)
        return {"jobs": count, "runs": len(run_ids), "enqueue_s": enqueue_s, "wall_s": wall_s,
                "jobs_per_s": count / wall_s, "retried": _retried(engine, run_ids),
                "client_cpu_ms_per_job": sum(s[2] for s in spans) * 1000 / count,
                "server_cpu_ms_per_job": server_s * 1000 / count,
                **_waits(engine, run_ids, released_at_s)}
    finally:
        _stop(processes)
        engine.dispose()


# -- part 2: end to end, with real workers ----------------------------------------------------------------


def _fake_transport(entry: Any, profile: Any) -> Any:
    from edgeq.transport import FakeTransport
    from edgeq.transport.fake_device import FakeDevice

    return FakeTransport(FakeDevice(work_s=0.0))


def _worker_process(url: str, inventory_path: Path, name: str, device_names: list[str], drain: Any, report: Any,
                    idle_exit_s: float) -> None:
    """A worker of part 2: ``edgeq lab worker`` for its devices until the main process sets ``drain``.

    It reports ``ready`` once its first heartbeat found every device leased (to the benchmark), and at the
    end the results the store refused and its CPU time since ready."""
    try:
        from edgeq.device import Inventory
        from edgeq.lab import WorkerOptions, run_worker

        # A worker's device threads leave their scratch folders behind: keep them in the benchmark's own.
        tempfile.tempdir = str(inventory_path.parent)
        waiting: set[str] = set()
        since: list[float] = []

        def progress(event: Any) -> None:
            if since or event.state != "waiting":
                return
            waiting.add(event.device)
            if waiting >= set(device_names):
                since.append(time.process_time())
                report.put(("ready", name, None))

        with open_store(url, default_path=None) as store:
            # ``drain`` is a multiprocessing.Event: the same is_set/set/wait as the threading.Event run_worker
            # expects, set from the main process once the queue is empty. idle_exit_s is only a backstop.
            worker = run_worker(Inventory.load(inventory_path), store, devices=tuple(device_names),
                                transport_factory=_fake_transport, drain=drain, progress=progress,
                                options=WorkerOptions(name=name, lease_ttl_s=_LEASE_TTL_S, poll_s=_POLL_S,
                                                      idle_exit_s=idle_exit_s))
            cpu_s = time.process_time() - since[0] if since else float("nan")
        report.put(("done", name, (worker.refused, cpu_s)))
    except BaseException:  # noqa: BLE001 - whatever it was, the main process reports it and stops
        report.put(("error", name, traceback.format_exc()))


def _template(folder: Path, inventory_path: Path, store: Store) -> tuple[list[_Cell], dict[str, Any]]:
    """One tiny model submitted for every device, its artifact built and recorded; its run is then closed
    before any worker starts (its jobs skipped) and its cells and arguments are what the clone runs repeat."""
    from edgeq.device import Inventory
    from edgeq.lab import submit
    from edgeq.lab.plan import LabRequest

    models = folder / "tiny_models.py"
    models.write_text("from benchmarks.lab_overhead import tiny_mlp\n\n\ndef mlp16():\n    return tiny_mlp(16)\n")
    request = LabRequest(models=(f"{models}:mlp16",), schemes=("none",), runs=5, warmup=1, label="lab-queue template")
    run_id = submit(Inventory.load(inventory_path), request, store)
    run = store.run(run_id)
    for job in run.jobs:
        if job.state == "queued":
            store.set_job_state(job.id, "skipped", "the benchmark's template: its jobs are cloned")
    store.finish_run(run_id, "finished")
    not_built = [job.reason for job in run.jobs if job.artifact_sha256 is None]
    if not_built:
        raise click.ClickException(f"the template's artifact was not built: {not_built[0]}")
    cells = [_Cell(job.model, job.scheme, job.format, job.variant, job.planned_device, job.artifact_sha256 or "")
             for job in run.jobs]
    return cells, dict(run.args)


def _await_drained(engine: Engine, run_ids: Sequence[str], deadline: float) -> float:
    """When no job of ``run_ids`` is queued or running any more, on the database's clock (± ``_POLL_S``)."""
    while True:
        states = _job_states(engine, run_ids)
        if not states.get("queued") and not states.get("running"):
            return _db_now_s(engine)
        if time.monotonic() > deadline:
            raise click.ClickException(f"the workers did not drain the queue in time: {states}")
        time.sleep(_POLL_S)


def end_to_end(url: str, server_cpu_s: Callable[[], float], folder: Path, device_names: list[list[str]], count: int,
               timeout_s: float) -> dict[str, Any]:
    """Part 2: ``count`` jobs through real ``edgeq lab worker`` processes and fake devices."""
    inventory_path = folder / "edgeq-lab.toml"
    inventory_path.write_text("".join(f'[devices.{name}]\nprofile = "{_PROFILE}"\nhost = "{name}"\n'
                                      for group in device_names for name in group))
    context = multiprocessing.get_context("spawn")
    report = context.Queue()
    drains = [context.Event() for _ in device_names]
    engine = engine_for(url, default_path=None)
    processes = [context.Process(target=_worker_process, name=f"worker-{i}",
                                 args=(url, inventory_path, f"worker-{i}", group, drain, report, timeout_s))
                 for i, (group, drain) in enumerate(zip(device_names, drains))]
    names = [p.name for p in processes]
    try:
        with open_store(url, default_path=None) as store:
            cells, args = _template(folder, inventory_path, store)
            held: dict[str, int | None] = {}
            for name in (name for group in device_names for name in group):
                store.set_health(name, "good")
                held[name] = store.acquire_lease(name, _HOLDER, ttl_s=timeout_s * 3)
            if None in held.values():
                raise click.ClickException(f"could not lease {[name for name, t in held.items() if t is None]}")
            for process in processes:
                process.start()
            started = time.perf_counter()
            run_ids = _enqueue(store, cells, count, args, "lab-queue end to end")
            enqueue_s = time.perf_counter() - started
            _collect(report, "ready", names, processes, time.monotonic() + timeout_s)
            server_s = server_cpu_s()
            released_at_s = _db_now_s(engine)
            for name, token in held.items():
                store.release_lease(name, token)
        drained_at_s = _await_drained(engine, run_ids, time.monotonic() + timeout_s)
        for drain in drains:
            drain.set()
        ended = _collect(report, "done", names, processes, time.monotonic() + timeout_s).values()
        _join(processes, time.monotonic() + timeout_s)
        time.sleep(_SETTLE_S)
        server_s = server_cpu_s() - server_s
        states = _job_states(engine, run_ids)
        if states != {"done": count}:
            raise click.ClickException(f"the workers left their jobs {states}, not {count} done")
        first_start_s = min(started for _, started in _queue_times_s(engine, run_ids))
        wall_s = drained_at_s - first_start_s
        return {"jobs": count, "runs": len(run_ids), "enqueue_s": enqueue_s, "wall_s": wall_s,
                "jobs_per_s": count / wall_s, "retried": _retried(engine, run_ids),
                "refused": sum(refused for refused, _ in ended),
                "worker_cpu_ms_per_job": sum(cpu_s for _, cpu_s in ended) * 1000 / count,
                "server_cpu_ms_per_job": server_s * 1000 / count,
                **_waits(engine, run_ids, released_at_s)}
    finally:
        _stop(processes)
        engine.dispose()


# -- the command ------------------------------------------------------------------------------------------


def _postgres_server() -> Any:
    """The store tests' PostgreSQL (``tests/support/postgres.py``), imported as the tests import it."""
    sys.path.insert(0, str(_REPO / "tests" / "support"))
    from postgres import PostgresServer

    return PostgresServer()


def _server_version(url: str) -> str:
    engine = engine_for(url, default_path=None)
    try:
        with engine.connect() as connection:
            return str(connection.execute(text("SHOW server_version")).scalar_one())
    finally:
        engine.dispose()


def _line(part: str, figures: dict[str, Any]) -> str:
    queued, released = figures["enqueue_to_start_ms"], figures["release_to_start_ms"]
    client = figures.get("client_cpu_ms_per_job", figures.get("worker_cpu_ms_per_job"))
    who = "clients" if "client_cpu_ms_per_job" in figures else "workers"
    return (f"{part}: {figures['jobs']} jobs in {figures['wall_s']:.2f} s = {figures['jobs_per_s']:.0f} jobs/s; "
            f"enqueue→start p50 {queued['p50']:.0f} ms, p99 {queued['p99']:.0f} ms; "
            f"release→start p50 {released['p50']:.0f} ms, p99 {released['p99']:.0f} ms; "
            f"CPU a job: {who} {client:.1f} ms, PostgreSQL {figures['server_cpu_ms_per_job']:.1f} ms; "
            f"retried {figures['retried']}" + (f", refused {figures['refused']}" if "refused" in figures else "")
            + f" (queued in {figures['enqueue_s']:.1f} s)")


@click.command()
@click.option("--jobs", default=2000, show_default=True, help="Jobs in the claim-path part.")
@click.option("--e2e-jobs", default=2000, show_default=True, help="Jobs in the end-to-end part.")
@click.option("--workers", default=4, show_default=True, help="Worker processes.")
@click.option("--devices", "devices_per_worker", default=8, show_default=True, help="Devices per worker.")
@click.option("--timeout-s", default=300.0, show_default=True,
              help="Bound on each wait (processes starting, the jobs, processes ending); past it the benchmark fails.")
def main(jobs: int, e2e_jobs: int, workers: int, devices_per_worker: int, timeout_s: float) -> None:
    sys.path.insert(0, str(_REPO))  # the generated model file imports benchmarks, in the workers too
    device_names = _device_names(workers, devices_per_worker)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="edgeq-lab-queue-") as folder, _postgres_server() as server:
        def server_cpu_s() -> float:
            return _server_cpu_s(server.data)

        claims_url = server.create_database("claims")
        version = _server_version(claims_url)
        claims = claim_path(claims_url, server_cpu_s, device_names, jobs, timeout_s)
        click.echo(_line("claim path", claims))
        whole = end_to_end(server.create_database("e2e"), server_cpu_s, Path(folder), device_names, e2e_jobs,
                           timeout_s)
        click.echo(_line("end to end", whole))
    figures = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "arch": platform.machine(), "cpus": os.cpu_count(),
                    "python": platform.python_version(), "load_avg_1m_before": load_before},
        "store": f"PostgreSQL {version} on loopback (fsync off)",
        "workers": workers, "devices_per_worker": devices_per_worker,
        "claim_path": claims, "end_to_end": whole,
        "claim_path_target_jobs_per_s": TARGET_JOBS_PER_S,
    }
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    verdict = "meets" if claims["jobs_per_s"] >= TARGET_JOBS_PER_S else "misses"
    click.echo(f"{workers} workers × {devices_per_worker} devices on {os.cpu_count()} CPUs (load {load_before:.2f} "
               f"before); the claim path {verdict} its {TARGET_JOBS_PER_S:.0f} jobs/s target")
    click.echo(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
