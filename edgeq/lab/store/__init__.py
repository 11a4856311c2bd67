"""The lab's results store: runs, jobs and every attempt, measurements, artifacts, devices, health and leases.

SQLite by default (a file next to the inventory; no server to run), PostgreSQL by URL; one schema for both
(``schema.py``), built and upgraded by Alembic (``migrations/``) when the store is opened. Every write is one
short transaction, so a run killed at any point leaves the store as it was after its last write, and
``recover`` puts the killed run's work back in the queue.

    store = open_store(None, default_path=Path("edgeq-lab.sqlite"))
    token = store.acquire_lease("pi-desk", holder="lab-host:4242", ttl_s=60)
    number = store.start_attempt(job_id, "pi-desk", token)
    store.record_measurement(job_id, number, measurement, token)   # refused once the lease is lost

Leases are fenced: every write an attempt makes carries the lease's token, and the write is refused
(``LeaseLost``) unless that token is still the device's current, unexpired lease. The check runs in the
write's own transaction and locks the lease row until it commits, so a lease cannot change hands between
the check and the write, on SQLite or across hosts on one PostgreSQL.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import (
    URL, ColumnElement, Connection, Engine, Float, Insert, Table, case, create_engine, delete, event, exists, func,
    bindparam, make_url, or_, select, update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from edgeq.bench.stats import median
from edgeq.errors import ConfigError, ConnectError, EdgeqError, summarize
from edgeq.lab.records import (
    FINAL_STATES, Attempt, Claim, DeviceRecord, HealthCheck, JobRecord, Measurement, QueueStatus, RunRecord, WorkerRecord,
)
from edgeq.lab.store import migrations
from edgeq.lab.store.schema import (
    artifacts, attempts, devices, health_checks, jobs, latency_samples, lease_grants, leases, measurements, runs, workers,
)

__all__ = ["HistoryPoint", "Lease", "LeaseLost", "NotInStore", "Store", "StoreError", "engine_for", "open_store"]

log = logging.getLogger(__name__)

RECENT_ATTEMPTS = 10  # the window ``DeviceRecord.recent_failures`` counts infra failures in
_BUSY_TIMEOUT_S = 30.0  # how long a SQLite writer waits for another thread's or process's transaction
_CONNECT_TIMEOUT_S = 10
_TCP_USER_TIMEOUT_MS = 30_000
# Connections kept open for reuse. Each device's thread holds one at a time, plus the heartbeat: beyond this
# more are opened (never refused: a lab's threads bound them) and closed again when given back.
_POOL_SIZE = 16
_ORPHANED = "interrupted: the device's lease passed to another holder"
_URL_FORMS = "give a file path, sqlite:///PATH, or postgresql://USER:PASSWORD@HOST:PORT/DATABASE"


class StoreError(EdgeqError):
    """The results store refused a write that would break one of its invariants, or could not make it."""

    exit_code = 3


class LeaseLost(StoreError):
    """A write carried a lease token that is no longer the device's current lease: the result is not kept."""


class NotInStore(StoreError, ConfigError):
    """The store has no run, job or device by that name: usually a mistyped id (a usage error, exit 2)."""

    exit_code = 2


@dataclass(frozen=True)
class Lease:
    """Who holds a device now, under which fencing token, and for how much longer (the database's clock)."""

    device: str
    holder: str
    token: int
    expires_in_s: float


class HistoryPoint(NamedTuple):
    """One run's median latency of a model's variant on a device, for trend plots."""

    run_id: str
    started_at: str
    p50_ms: float


def open_store(url: str | None, *, default_path: Path | None) -> Store:
    """The store at ``url`` (``--store``, ``[lab] store``), or a SQLite file at ``default_path`` when None.

    A new database is built at the newest revision, an older store is upgraded in place with its rows kept,
    and a store written by a newer edgeq is refused.
    """
    engine = engine_for(url, default_path=default_path)
    where = _display(engine.url)
    try:
        with engine.connect() as connection:
            revision = migrations.current(connection)
        if revision is not None and not migrations.known(revision):
            raise ConfigError(f"the results store {where} is at revision {revision}, newer than this edgeq knows "
                              f"(its newest is {migrations.head()})",
                              hint="upgrade edgeq on this host, or pass --store with another store")
        if revision != migrations.head():
            log.info("results store %s: revision %s -> %s", where, revision or "(empty)", migrations.head())
            migrations.upgrade(engine)
    except OperationalError as exc:
        engine.dispose()
        raise _unreachable(engine.url, exc) from exc
    except DBAPIError as exc:
        engine.dispose()
        raise StoreError(f"cannot set up the results store in {where}: {summarize(exc.orig)}",
                         hint="give the store a database of its own") from exc
    except BaseException:
        engine.dispose()
        raise
    return Store(engine)


def engine_for(url: str | None, *, default_path: Path | None) -> Engine:
    """The SQLAlchemy engine ``open_store`` uses, set up for the lab; for the migrations and their tests."""
    parsed = _parse(url, default_path)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    try:
        return create_engine(parsed, pool_pre_ping=True, pool_size=_POOL_SIZE, max_overflow=-1, connect_args={
            "connect_timeout": _CONNECT_TIMEOUT_S, "application_name": "edgeq-lab",
            # A store behind a cut network answers nothing, not even a reset: without these, a query sent
            # just before the cut waits for the kernel's retransmissions (about 15 minutes). With them it
            # fails within ~30 s and the caller (a worker's backoff) takes over.
            "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3,
            "tcp_user_timeout": _TCP_USER_TIMEOUT_MS})
    except ModuleNotFoundError as exc:
        raise ConfigError(f"the results store {_display(parsed)} needs psycopg, which is not installed",
                          hint="pip install 'edgeq[lab]'") from exc


class Store:
    """The lab's results, read and written as ``edgeq.lab.records``; safe to share between threads."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.url = _display(engine.url)  # without the password: safe to print

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    # -- runs ----------------------------------------------------------------------------------------

    def create_run(self, label: str | None, args: dict[str, Any]) -> str:
        """A new run, ``running``; returns its short id (eight hex digits). Workers take its jobs only after
        ``enqueue_run``."""
        with self._write("create a run") as connection:
            while True:
                run_id = secrets.token_hex(4)
                if connection.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is None:
                    break
            connection.execute(runs.insert().values(id=run_id, label=label, started_at=_now(), status="running",
                                                    args=args))
        return run_id

    def finish_run(self, run_id: str, status: str) -> None:
        """Close a run as ``finished`` or ``interrupted``."""
        with self._write(f"finish run {run_id}") as connection:
            changed = connection.execute(update(runs).where(runs.c.id == run_id)
                                         .values(status=status, finished_at=_now())).rowcount
            if not changed:
                raise self._no_run(run_id)

    def run(self, run_id: str) -> RunRecord:
        """A run with its jobs, their attempts and measurements."""
        with self._read() as connection:
            row = connection.execute(select(runs).where(runs.c.id == run_id)).first()
            if row is None:
                raise self._no_run(run_id)
            return _run(row, self._jobs(connection, jobs.c.run_id == run_id))

    def runs(self, label: str | None = None, limit: int | None = None, *, with_jobs: bool = False) -> list[RunRecord]:
        """Runs, newest first; their jobs only with ``with_jobs`` (a listing does not need them)."""
        query = select(runs).order_by(runs.c.seq.desc()).limit(limit)
        if label is not None:
            query = query.where(runs.c.label == label)
        with self._read() as connection:
            return [_run(row, self._jobs(connection, jobs.c.run_id == row.id) if with_jobs else ())
                    for row in connection.execute(query)]

    def latest_run(self, label: str | None = None) -> RunRecord | None:
        """The newest run (with that label), with its jobs; None in an empty store."""
        newest = self.runs(label, limit=1)
        return self.run(newest[0].id) if newest else None

    def recover(self, run_id: str, *, dead_holders: Collection[str] = ()) -> list[int]:
        """Put back in the queue what a killed run left running, so ``--resume`` runs it exactly once.

        Leases that expired or whose holder is known dead (``dead_holders``: the killed process's) are
        cleared; the run's attempts still ``running`` without their lease become ``infra`` with reason
        ``interrupted``, and its ``running`` jobs with no live attempt go back to ``queued``. Attempts under a
        lease still held (a live worker on another host) are left alone. Returns the re-queued job ids.
        """
        with self._write(f"recover run {run_id}") as connection:
            if connection.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is None:
                raise self._no_run(run_id)
            now_s = connection.execute(select(_DbNowS())).scalar_one()
            connection.execute(delete(leases).where((leases.c.expires_at_s <= now_s)
                                                    | leases.c.holder.in_(list(dead_holders))))
            lease_held = exists().where(leases.c.device == attempts.c.device, leases.c.token == attempts.c.lease_token)
            _interrupt(connection, (attempts.c.outcome == "running")
                       & attempts.c.job_id.in_(select(jobs.c.id).where(jobs.c.run_id == run_id))
                       & ~lease_held, "interrupted")
            return _requeue(connection, jobs.c.run_id == run_id, "interrupted")

    # -- jobs and attempts ---------------------------------------------------------------------------

    def add_job(self, run_id: str, model: str, profile: str, scheme: str, format: str, variant: str,
                planned_device: str) -> int:
        """A ``queued`` job for one cell of the run's matrix; the same cell again returns the same job."""
        cell = {"run_id": run_id, "model": model, "profile": profile, "scheme": scheme, "format": format,
                "planned_device": planned_device}
        with self._write(f"add job {model}/{planned_device}/{variant} to run {run_id}") as connection:
            connection.execute(_insert(connection, jobs).values(**cell, variant=variant, state="queued", reason="",
                                                                reused=False, queued_at_s=_DbNowS())
                               .on_conflict_do_nothing())
            return connection.execute(select(jobs.c.id).filter_by(**cell)).scalar_one()

    def job(self, job_id: int) -> JobRecord:
        """One job with its attempts and measurement."""
        with self._read() as connection:
            found = self._jobs(connection, jobs.c.id == job_id)
        if not found:
            raise NotInStore(f"the results store {self.url} has no job {job_id}")
        return found[0]

    def jobs_for(self, run_id: str) -> list[JobRecord]:
        """A run's jobs in the order they were added, with their attempts and measurements."""
        with self._read() as connection:
            return self._jobs(connection, jobs.c.run_id == run_id)

    def set_job_state(self, job_id: int, state: str, reason: str = "", device: str | None = None,
                      artifact_sha256: str | None = None) -> None:
        """What the scheduler decided for a job (``queued`` again, ``skipped``, ``failed``, ...).

        ``done`` is refused by the schema unless the job has its measurement (``record_measurement``).
        """
        values: dict[str, Any] = {"state": state, "reason": reason}
        if device is not None:
            values["device"] = device
        if artifact_sha256 is not None:
            values["artifact_sha256"] = artifact_sha256
        with self._write(f"set job {job_id} to {state!r}") as connection:
            if not connection.execute(update(jobs).where(jobs.c.id == job_id).values(**values)).rowcount:
                raise NotInStore(f"the results store {self.url} has no job {job_id}")

    def start_attempt(self, job_id: int, device: str, lease_token: int) -> int:
        """A new ``running`` attempt of a queued job on a device the caller holds; returns its number.

        An attempt still running on the device under an older lease is orphaned (its holder lost the
        device): it ends ``infra`` (``interrupted``) and its job goes back to the queue.
        """
        what = f"start an attempt of job {job_id} on {device!r}"
        with self._write(what) as connection:
            _fence(connection, device, lease_token, what)
            orphaned = _interrupt(connection, (attempts.c.device == device) & (attempts.c.outcome == "running")
                                  & attempts.c.lease_token.is_distinct_from(lease_token), _ORPHANED)
            _requeue(connection, jobs.c.id.in_(orphaned), _ORPHANED)
            if not connection.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.state.in_(("queued", "running")))
                                      .values(state="running", device=device)).rowcount:
                state = connection.execute(select(jobs.c.state).where(jobs.c.id == job_id)).scalar()
                raise StoreError(f"cannot {what}: " + (f"the job is {state}, not queued" if state else "no such job"))
            number = connection.execute(select(func.coalesce(func.max(attempts.c.number), 0) + 1)
                                        .where(attempts.c.job_id == job_id)).scalar_one()
            connection.execute(attempts.insert().values(job_id=job_id, number=number, device=device, outcome="running",
                                                        reason="", started_at=_now(), lease_token=lease_token))
        return number

    def end_attempt(self, job_id: int, number: int, outcome: str, reason: str, lease_token: int, *,
                    job_state: str | None = None, moved: bool = False, measurement: Measurement | None = None,
                    traceback: str | None = None) -> None:
        """End a running attempt as ``outcome`` (not ``done``: that is ``record_measurement``).

        ``job_state`` is what the job becomes in the same transaction (``queued`` for a retry, ``failed``, ...),
        so a kill between the two cannot leave them disagreeing. ``moved``: any device of the job's profile
        may take it next (a retry after an infra failure). ``measurement``: what an ``invalid`` attempt measured,
        kept marked invalid (never the job's result); ``traceback``: an ``error`` attempt's.
        """
        what = f"end attempt {number} of job {job_id}"
        if outcome not in FINAL_STATES or outcome == "done":
            raise StoreError(f"cannot {what} as {outcome!r}",
                             hint=f"an attempt ends as one of {', '.join(s for s in FINAL_STATES if s != 'done')}; "
                                  "a measured one through record_measurement")
        if measurement is not None and outcome != "invalid":
            raise StoreError(f"cannot {what} as {outcome!r} with a measurement",
                             hint="only an invalid attempt keeps its samples this way; a valid one is recorded "
                                  "through record_measurement")
        with self._write(what) as connection:
            attempt = _running_attempt(connection, job_id, number, lease_token, what)
            if measurement is not None:
                _insert_measurement(connection, job_id, number, replace(measurement, valid=False), lease_token)
            connection.execute(update(attempts).where(attempts.c.job_id == job_id, attempts.c.number == number)
                               .values(outcome=outcome, reason=reason, ended_at=_now(), traceback=traceback))
            if job_state is not None:
                queue = {"queued_at_s": _DbNowS(), **({"moved": True} if moved else {})} if job_state == "queued" else {}
                connection.execute(update(jobs).where(jobs.c.id == job_id)
                                   .values(state=job_state, reason=reason, device=attempt.device, **queue))

    def record_measurement(self, job_id: int, attempt_number: int, measurement: Measurement, lease_token: int) -> None:
        """Keep a job's measurement and its samples, and mark the attempt and the job ``done``, atomically.

        Refused (``LeaseLost``) once the device's lease has passed on or expired; a job has at most one valid
        measurement (the schema refuses a second).
        """
        what = f"record the measurement of job {job_id}"
        if not measurement.valid:
            raise StoreError(f"cannot {what}: it is marked invalid", hint="end the attempt invalid with end_attempt")
        with self._write(what) as connection:
            attempt = _running_attempt(connection, job_id, attempt_number, lease_token, what)
            if measurement.device != attempt.device:
                raise StoreError(f"cannot {what}: it was taken on {measurement.device!r}, "
                                 f"but attempt {attempt_number} runs on {attempt.device!r}")
            measurement_id = _insert_measurement(connection, job_id, attempt_number, measurement, lease_token)
            connection.execute(update(attempts).where(attempts.c.job_id == job_id, attempts.c.number == attempt_number)
                               .values(outcome="done", reason="", ended_at=_now()))
            connection.execute(update(jobs).where(jobs.c.id == job_id).values(
                state="done", reason="", device=measurement.device, artifact_sha256=measurement.artifact_sha256,
                measurement_id=measurement_id, reused=False))

    def find_measurement(self, result_key: str) -> Measurement | None:
        """The newest measurement taken under ``result_key`` (same artifact, device, runner, runtime versions)."""
        with self._read() as connection:
            found = _measurements(connection, measurements.c.id == _newest_with_key(result_key))
        return next(iter(found.values()), None)

    def measurements_of(self, artifact_sha256: str) -> list[tuple[Measurement, str]]:
        """Every measurement of this exact artifact with its device's profile, the newest first (the release's
        evidence: a latency taken on a lab device instead of on the packaging host)."""
        with self._read() as connection:
            found = _measurements(connection,
                                  (measurements.c.artifact_sha256 == artifact_sha256) & measurements.c.valid)
            profiles = dict(connection.execute(select(devices.c.name, devices.c.profile)).all())
        return [(found[key], profiles.get(found[key].device, "")) for key in sorted(found, reverse=True)]

    def reuse_measurement(self, job_id: int, result_key: str) -> Measurement | None:
        """``--reuse``: a queued job whose exact measurement is in the store becomes ``done`` by pointing at it.

        Nothing runs; the job is ``reused`` and its reason says where the measurement came from. None (and
        the job untouched) when the store has no measurement under ``result_key``.
        """
        what = f"reuse a measurement for job {job_id}"
        with self._write(what) as connection:
            found = _measurements(connection, measurements.c.id == _newest_with_key(result_key))
            if not found:
                return None
            (measurement_id, measurement), = found.items()
            source = connection.execute(select(jobs.c.run_id).join(measurements, measurements.c.job_id == jobs.c.id)
                                        .where(measurements.c.id == measurement_id)).scalar_one()
            if not connection.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.state == "queued").values(
                    state="done", reason=f"reused: measured in run {source} at {measurement.measured_at}",
                    device=measurement.device, artifact_sha256=measurement.artifact_sha256,
                    measurement_id=measurement_id, reused=True)).rowcount:
                raise StoreError(f"cannot {what}: it is not a queued job")
        return measurement

    # -- artifacts -----------------------------------------------------------------------------------

    def put_artifact(self, sha256: str, model: str, profile: str, variant: str, scheme: str, format: str,
                     size_bytes: int, manifest: dict[str, Any]) -> None:
        """Remember a built artifact by its content; the same sha256 again keeps the first record."""
        with self._write(f"keep artifact {sha256[:12]}") as connection:
            connection.execute(_insert(connection, artifacts).values(
                sha256=sha256, model=model, profile=profile, variant=variant, scheme=scheme, format=format,
                size_bytes=size_bytes, manifest=manifest, created_at=_now()).on_conflict_do_nothing())

    # -- devices and their health --------------------------------------------------------------------

    def sync_devices(self, entries: Iterable[tuple[str, str, Sequence[str]]]) -> list[DeviceRecord]:
        """Bring the inventory's ``(name, profile, tags)`` into the store; returns every device it knows.

        A new device starts ``unknown``, so it runs a health check before its first job; a known one keeps
        its health and history and takes the inventory's profile and tags. Devices left out are kept.
        """
        rows = [{"name": name, "profile": profile, "tags": list(tags), "health": "unknown", "reason": "",
                 "since": _now(), "consecutive_infra": 0, "recent_outcomes": []} for name, profile, tags in entries]
        with self._write("sync the devices") as connection:
            if rows:
                statement = _insert(connection, devices).values(rows)
                connection.execute(statement.on_conflict_do_update(
                    index_elements=[devices.c.name],
                    set_={"profile": statement.excluded.profile, "tags": statement.excluded.tags}))
        return self.devices()

    def device(self, name: str) -> DeviceRecord:
        """One device with its health, its last health check and its failure counts."""
        with self._read() as connection:
            found = _devices(connection, devices.c.name == name)
        if not found:
            raise self._no_device(name)
        return found[0]

    def devices(self) -> list[DeviceRecord]:
        """Every device the store knows, by name."""
        with self._read() as connection:
            return _devices(connection, None)

    def set_health(self, name: str, health: str, reason: str = "", *, reset_infra: bool = False) -> DeviceRecord:
        """Move a device to ``health`` (``since`` changes only with it).

        A passing health check does not forgive infra failures — three in a row quarantine a device even when
        it answers its checks between them; a job that ends, or ``reset_infra`` (a release), starts the count over.
        """
        with self._write(f"set {name!r} {health}") as connection:
            changed = connection.execute(update(devices).where(devices.c.name == name).values(
                health=health, reason=reason,
                since=case((devices.c.health != health, _now()), else_=devices.c.since),
                consecutive_infra=0 if reset_infra else devices.c.consecutive_infra)).rowcount
        if not changed:
            raise self._no_device(name)
        return self.device(name)

    def record_health_check(self, check: HealthCheck) -> None:
        """Keep a health check in the device's history (``set_health`` decides what it means)."""
        with self._write(f"record a health check of {check.device!r}") as connection:
            connection.execute(health_checks.insert().values(device=check.device, at=check.at, outcome=check.outcome,
                                                             reason=check.reason, golden_p50_ms=check.golden_p50_ms))

    def golden_history(self, device: str, limit: int = 10) -> list[float]:
        """The golden artifact's median latency in the device's good health checks, newest first."""
        query = (select(health_checks.c.golden_p50_ms)
                 .where(health_checks.c.device == device, health_checks.c.outcome == "good",
                        health_checks.c.golden_p50_ms.is_not(None))
                 .order_by(health_checks.c.id.desc()).limit(limit))
        with self._read() as connection:
            return [float(value) for value in connection.execute(query).scalars()]

    def note_attempt_outcome(self, device: str, outcome: str) -> DeviceRecord:
        """Count an attempt's outcome against its device: infra failures in a row and among recent attempts.

        The caller decides what the counts mean (three infra failures in a row quarantine a device);
        ``skipped`` ran nothing and ``error`` is edgeq's fault, not the device's: they count for nothing.
        """
        if outcome not in FINAL_STATES:
            raise StoreError(f"cannot count outcome {outcome!r} against {device!r}",
                             hint=f"an attempt ends as one of {', '.join(FINAL_STATES)}")
        with self._write(f"count an attempt against {device!r}") as connection:
            row = connection.execute(select(devices.c.recent_outcomes, devices.c.consecutive_infra)
                                     .where(devices.c.name == device).with_for_update()).first()
            if row is None:
                raise self._no_device(device)
            if outcome not in ("skipped", "error"):
                connection.execute(update(devices).where(devices.c.name == device).values(
                    recent_outcomes=[outcome, *row.recent_outcomes][:RECENT_ATTEMPTS],
                    consecutive_infra=row.consecutive_infra + 1 if outcome == "infra" else 0))
        return self.device(device)

    def device_history(self, device: str, model: str, variant: str, format: str, limit: int = 20) -> list[HistoryPoint]:
        """A variant's median latency, in one format, on a device in its last ``limit`` runs that measured it,
        oldest first."""
        query = (select(runs.c.id, runs.c.started_at, measurements.c.p50_ms)
                 .select_from(jobs.join(runs, jobs.c.run_id == runs.c.id)
                              .join(measurements, measurements.c.id == jobs.c.measurement_id))
                 .where(jobs.c.device == device, jobs.c.model == model, jobs.c.variant == variant,
                        jobs.c.format == format, jobs.c.state == "done", jobs.c.reused.is_(False),
                        measurements.c.p50_ms.is_not(None))
                 .order_by(runs.c.seq.desc(), jobs.c.id.desc()).limit(limit))
        with self._read() as connection:
            rows = connection.execute(query).all()
        return [HistoryPoint(run_id, started_at, float(p50_ms)) for run_id, started_at, p50_ms in reversed(rows)]

    # -- leases --------------------------------------------------------------------------------------

    def acquire_lease(self, device: str, holder: str, ttl_s: float) -> int | None:
        """Lease a device for ``ttl_s`` seconds; returns the fencing token, or None while another lease holds.

        Every grant takes a new token from a counter that only grows, so a later holder's token is always
        larger and the writes of an earlier one are refused. The same holder asking again gets a new token.
        """
        with self._write(f"lease {device!r}") as connection:
            current = connection.execute(select(leases.c.expires_at_s).where(leases.c.device == device)
                                         .with_for_update()).first()
            now_s = connection.execute(select(_DbNowS())).scalar_one()  # read once the row is ours: waiting takes time
            if current is not None and current.expires_at_s > now_s:
                return None
            token = connection.execute(lease_grants.insert().values(device=device, holder=holder, granted_at_s=now_s)
                                       ).inserted_primary_key[0]
            values = {"token": token, "holder": holder, "acquired_at_s": now_s, "expires_at_s": now_s + ttl_s}
            if current is not None:
                connection.execute(update(leases).where(leases.c.device == device).values(**values))
            elif connection.execute(_insert(connection, leases).values(device=device, **values)
                                    .on_conflict_do_nothing().returning(leases.c.device)).first() is None:
                connection.get_transaction().rollback()  # another holder's first lease won the race
                return None
        return int(token)

    def renew_lease(self, device: str, token: int, ttl_s: float) -> bool:
        """Extend a held lease to ``ttl_s`` from now; False when it was lost (expired or taken)."""
        with self._write(f"renew the lease on {device!r}") as connection:
            return _renew(connection, device, token, ttl_s)

    def release_lease(self, device: str, token: int) -> bool:
        """Give a device back; False when the lease had already passed on (nothing is released then)."""
        with self._write(f"release the lease on {device!r}") as connection:
            return bool(connection.execute(delete(leases).where(leases.c.device == device,
                                                                leases.c.token == token)).rowcount)

    def leases(self) -> list[Lease]:
        """The leases held now, by device."""
        now_s = _DbNowS()
        query = (select(leases.c.device, leases.c.holder, leases.c.token, leases.c.expires_at_s - now_s)
                 .where(leases.c.expires_at_s > now_s).order_by(leases.c.device))
        with self._read() as connection:
            return [Lease(device, holder, int(token), float(left_s))
                    for device, holder, token, left_s in connection.execute(query)]

    # -- the shared queue: ``edgeq lab submit`` fills it, ``edgeq lab worker`` processes empty it ---------

    def register_worker(self, name: str, host: str, pid: int, device_names: Sequence[str]) -> None:
        """A worker starts (or starts again under the same name): alive from now on, by its heartbeat."""
        with self._write(f"register worker {name!r}") as connection:
            statement = _insert(connection, workers).values(name=name, host=host, pid=pid, devices=list(device_names),
                                                            started_at=_now(), heartbeat_at_s=_DbNowS())
            connection.execute(statement.on_conflict_do_update(index_elements=[workers.c.name], set_={
                "host": host, "pid": pid, "devices": list(device_names), "started_at": _now(),
                "heartbeat_at_s": _DbNowS(), "stopped_at": None}))

    def heartbeat(self, worker: str, held: dict[str, int], ttl_s: float) -> dict[str, bool]:
        """The worker is alive: its heartbeat and its devices' leases renewed in one transaction.

        Returns, per device, whether its lease is still held under that token (False: it expired or
        passed on, and every write under it will be refused).
        """
        with self._write(f"renew the leases of worker {worker!r}") as connection:
            connection.execute(update(workers).where(workers.c.name == worker).values(heartbeat_at_s=_DbNowS()))
            return {device: _renew(connection, device, token, ttl_s) for device, token in held.items()}

    def stop_worker(self, worker: str) -> None:
        """A worker drained and exits: its leases end now and it is shown ``stopped``.

        The leases are ended, not deleted, so its devices' jobs wait one grace period for it to come back (a
        restart) before its profile's other devices take them.
        """
        with self._write(f"stop worker {worker!r}") as connection:
            connection.execute(update(leases).where(leases.c.holder == worker, leases.c.expires_at_s > _DbNowS())
                               .values(expires_at_s=func.max(_DbNowS(), leases.c.acquired_at_s + 0.001)
                                       if connection.dialect.name == "sqlite"
                                       else func.greatest(_DbNowS(), leases.c.acquired_at_s + 0.001)))
            connection.execute(update(workers).where(workers.c.name == worker).values(stopped_at=_now()))

    def workers(self) -> list[WorkerRecord]:
        """Every worker the store has seen, by name, with how long ago it last beat."""
        query = select(workers, (_DbNowS() - workers.c.heartbeat_at_s).label("age_s")).order_by(workers.c.name)
        with self._read() as connection:
            return [WorkerRecord(row.name, row.host, row.pid, tuple(row.devices), row.started_at, float(row.age_s),
                                 row.stopped_at) for row in connection.execute(query)]

    def claim_job(self, worker: str, device: str, profile: str, token: int, *, grace_s: float) -> Claim | None:
        """Take the next queued job of a submitted run that ``device`` (of ``profile``) may run, and start its
        attempt under the device's lease, in one transaction; None when there is none.

        The job is picked and locked in the same statement that claims it (``FOR UPDATE SKIP LOCKED`` on
        PostgreSQL; SQLite's write lock serializes claims), so two workers never take the same job. A device
        takes the jobs planned for it; a moved job (its worker died, it failed here or there), a job whose
        planned device is quarantined or retired, and one whose planned device no worker has served for
        ``grace_s`` go to any device of the profile. A job that failed with an infra error on this device
        comes last.
        """
        what = f"claim a job for {device!r}"
        with self._write(what) as connection:
            now_s = _fence(connection, device, token, what)
            _lose_attempts(connection, (attempts.c.device == device) & (attempts.c.outcome == "running")
                           & attempts.c.lease_token.is_distinct_from(token), _ORPHANED)
            row = None
            for statement in _CLAIMS:  # the device's own jobs first; only when it has none, jobs that may move
                row = connection.execute(statement, {"claim_device": device, "claim_profile": profile,
                                                     "served_since_s": now_s - grace_s}).first()
                if row is not None:
                    break
            if row is None:
                return None
            number = row.earlier + 1
            connection.execute(attempts.insert().values(job_id=row.id, number=number, device=device, outcome="running",
                                                        reason="", started_at=_now(), lease_token=token, worker=worker,
                                                        started_at_s=now_s))
        job = JobRecord(id=row.id, run_id=row.run_id, model=row.model, profile=row.profile, scheme=row.scheme,
                        format=row.format, variant=row.variant, planned_device=row.planned_device, state="running",
                        reason=row.reason, device=device, artifact_sha256=row.artifact_sha256)
        args = row.args if isinstance(row.args, dict) else json.loads(row.args)
        return Claim(job, number, int(row.infra), int(row.invalid), dict(args))

    def reap(self) -> list[int]:
        """Put back the jobs whose worker was lost: running attempts of submitted runs whose device lease
        expired end ``infra``; each job is queued again for any device of its profile, or, once its infra
        retry budget is spent, ends ``infra`` with the history of its attempts. Returns the jobs it touched.

        Every worker runs this on its heartbeat; two at once do not touch the same attempt twice.
        """
        with self._write("reap lost jobs") as connection:
            live = exists().where(leases.c.device == attempts.c.device, leases.c.token == attempts.c.lease_token,
                                  leases.c.expires_at_s > _DbNowS())
            submitted = attempts.c.job_id.in_(select(jobs.c.id).join(runs, runs.c.id == jobs.c.run_id)
                                              .where(runs.c.queued.is_(True)))
            return _lose_attempts(connection, (attempts.c.outcome == "running") & submitted & ~live,
                                  "lost its worker: the device's lease expired without a heartbeat")

    def enqueue_run(self, run_id: str) -> None:
        """Hand a planned run to the workers: from now on they take its jobs (``edgeq lab submit``, once every
        job is in the store, so no worker finishes the run while jobs are still being added)."""
        with self._write(f"queue run {run_id}") as connection:
            if not connection.execute(update(runs).where(runs.c.id == run_id).values(queued=True)).rowcount:
                raise self._no_run(run_id)
            # its jobs wait from now: building them was not waiting for a device
            connection.execute(update(jobs).where(jobs.c.run_id == run_id, jobs.c.state == "queued")
                               .values(queued_at_s=_DbNowS()))

    def finish_if_drained(self, run_id: str) -> bool:
        """A submitted run whose every job is final becomes ``finished``; True when it is (now or before)."""
        pending = exists().where(jobs.c.run_id == run_id, jobs.c.state.in_(("queued", "running")))
        with self._write(f"finish run {run_id}") as connection:
            connection.execute(update(runs).where(runs.c.id == run_id, runs.c.queued.is_(True), runs.c.status == "running",
                                                  ~pending).values(status="finished", finished_at=_now()))
            return connection.execute(select(runs.c.status).where(runs.c.id == run_id)).scalar() == "finished"

    def queue(self) -> QueueStatus:
        """Jobs of submitted, running runs: waiting and running per profile, and the one waiting longest."""
        submitted = select(runs.c.id).where(runs.c.queued.is_(True), runs.c.status == "running")
        in_queue = jobs.c.run_id.in_(submitted)
        with self._read() as connection:
            counts = connection.execute(select(jobs.c.state, jobs.c.profile, func.count())
                                        .where(in_queue, jobs.c.state.in_(("queued", "running")))
                                        .group_by(jobs.c.state, jobs.c.profile)).all()
            oldest = connection.execute(select(jobs.c.id, jobs.c.run_id, _DbNowS() - jobs.c.queued_at_s)
                                        .where(in_queue, jobs.c.state == "queued")
                                        .order_by(jobs.c.queued_at_s, jobs.c.id).limit(1)).first()
        by_state: dict[str, dict[str, int]] = {"queued": {}, "running": {}}
        for state, profile, count in counts:
            by_state[state][profile] = int(count)
        return QueueStatus(by_state["queued"], by_state["running"], *(
            (oldest[0], oldest[1], float(oldest[2] or 0.0)) if oldest else (None, None, None)))

    # -- plumbing ------------------------------------------------------------------------------------

    @contextmanager
    def _write(self, what: str) -> Iterator[Connection]:
        """One write transaction; the database's refusals become edgeq errors here and nowhere else."""
        with self._errors(what), self._engine.connect() as connection:
            connection.execution_options(**{migrations.WRITE_TRANSACTION: True})
            with connection.begin():
                yield connection

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """One read transaction: the queries in it see one state of the store."""
        with self._errors("read the store"), self._engine.connect() as connection, connection.begin():
            yield connection

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except IntegrityError as exc:
            raise StoreError(f"the results store refused to {what}: {summarize(exc.orig)}") from exc
        except OperationalError as exc:
            if exc.connection_invalidated or self._engine.dialect.name != "sqlite":
                raise _unreachable(self._engine.url, exc, doing=what) from exc
            raise StoreError(f"cannot {what} in {self.url}: {summarize(exc.orig)}",
                             hint="another process may hold the store locked; try again") from exc

    def _jobs(self, connection: Connection, where: ColumnElement[bool]) -> list[JobRecord]:
        chosen = select(jobs.c.id).where(where)
        invalid = _invalid_measurements(connection, chosen)
        by_job: dict[int, list[Attempt]] = defaultdict(list)
        for row in connection.execute(select(attempts).where(attempts.c.job_id.in_(chosen))
                                      .order_by(attempts.c.job_id, attempts.c.number)):
            by_job[row.job_id].append(Attempt(row.number, row.device, row.outcome, row.reason, row.started_at,
                                              row.ended_at, invalid.get((row.job_id, row.number)), row.traceback))
        found = _measurements(connection, measurements.c.id.in_(select(jobs.c.measurement_id).where(where)))
        return [JobRecord(id=row.id, run_id=row.run_id, model=row.model, profile=row.profile, scheme=row.scheme,
                          format=row.format, variant=row.variant, planned_device=row.planned_device, state=row.state,
                          reason=row.reason, device=row.device, artifact_sha256=row.artifact_sha256,
                          attempts=tuple(by_job[row.id]), measurement=found.get(row.measurement_id),
                          reused=bool(row.reused))
                for row in connection.execute(select(jobs).where(where).order_by(jobs.c.id))]

    def _no_run(self, run_id: str) -> NotInStore:
        return NotInStore(f"the results store {self.url} has no run {run_id!r}",
                           hint="`edgeq lab runs` lists the runs it has")

    def _no_device(self, name: str) -> NotInStore:
        return NotInStore(f"the results store {self.url} has no device {name!r}",
                           hint="devices enter the store from the inventory when a lab run starts")


# -- queries shared by the methods ------------------------------------------------------------------


class _DbNowS(FunctionElement[float]):
    """Seconds since the epoch on the database's clock: the one clock every worker host shares, for leases."""

    type = Float()
    inherit_cache = True


@compiles(_DbNowS, "sqlite")
def _sqlite_now_s(element: _DbNowS, compiler: Any, **kw: Any) -> str:
    return "((julianday('now') - 2440587.5) * 86400.0)"


@compiles(_DbNowS, "postgresql")
def _postgresql_now_s(element: _DbNowS, compiler: Any, **kw: Any) -> str:
    return "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)"


def _fence(connection: Connection, device: str, token: int, what: str) -> float:
    """Refuse the write unless ``token`` is the device's current, unexpired lease; hold the lease row until commit.
    Returns the database's clock (seconds), read in the same query.

    The row lock (FOR SHARE on PostgreSQL; SQLite's write lock is the whole database) keeps a new holder
    from taking the lease between this check and the write's commit.
    """
    held = connection.execute(select(_DbNowS()).where(leases.c.device == device, leases.c.token == token,
                                                      leases.c.expires_at_s > _DbNowS())
                              .with_for_update(of=leases, read=True)).first()
    if held is None:
        raise LeaseLost(f"cannot {what}: lease token {token} on {device!r} is no longer held",
                        hint="another worker took the device or the lease expired unrenewed; nothing was written")
    return float(held[0])


def _renew(connection: Connection, device: str, token: int, ttl_s: float) -> bool:
    """Extend the device's lease under ``token`` to ``ttl_s`` from now; False when it is no longer held."""
    return bool(connection.execute(update(leases).where(
        leases.c.device == device, leases.c.token == token, leases.c.expires_at_s > _DbNowS())
        .values(expires_at_s=_DbNowS() + ttl_s)).rowcount)


def _running_attempt(connection: Connection, job_id: int, number: int, token: int, what: str) -> Any:
    """The attempt a fenced write ends: it must be running under ``token``, whose lease must still be held."""
    fenced = connection.execute(  # the common case in one query: the attempt, its device's lease locked
        select(attempts.c.device, attempts.c.outcome, attempts.c.lease_token)
        .join(leases, (leases.c.device == attempts.c.device) & (leases.c.token == token)
              & (leases.c.expires_at_s > _DbNowS()))
        .where(attempts.c.job_id == job_id, attempts.c.number == number)
        .with_for_update(of=leases, read=True)).first()
    if fenced is not None and fenced.outcome == "running" and fenced.lease_token == token:
        return fenced
    attempt = connection.execute(select(attempts.c.device, attempts.c.outcome, attempts.c.lease_token)
                                 .where(attempts.c.job_id == job_id, attempts.c.number == number)).first()
    if attempt is None:
        raise StoreError(f"cannot {what}: job {job_id} has no attempt {number}")
    _fence(connection, attempt.device, token, what)
    if attempt.outcome != "running":
        raise StoreError(f"cannot {what}: attempt {number} already ended {attempt.outcome}")
    if attempt.lease_token != token:
        raise LeaseLost(f"cannot {what}: attempt {number} runs under lease token {attempt.lease_token}, not {token}")
    return attempt


def _interrupt(connection: Connection, where: ColumnElement[bool], reason: str) -> list[int]:
    """End running attempts as ``infra``; returns their jobs."""
    ended = connection.execute(update(attempts).where(where).values(outcome="infra", reason=reason, ended_at=_now())
                               .returning(attempts.c.job_id))
    return sorted({job_id for job_id, in ended})


def _claim_statements() -> tuple[Any, Any]:
    """The two statements that claim a job for a device, built once with bind parameters (``claim_device``,
    ``claim_profile``, ``served_since_s``): a worker claims thousands of times, and building the
    expressions would cost more than running them.

    Each picks, locks and claims a job in one statement and returns what the worker needs of it. The first
    takes the device's own jobs (an index lookup on state, profile, planned device); the second the
    profile's jobs that may move — moved ones, those whose planned device is quarantined or retired, those
    whose planned device no worker has served since ``served_since_s`` — the ones that failed here with an
    infra error last.
    """
    device, profile, since = bindparam("claim_device"), bindparam("claim_profile"), bindparam("served_since_s")
    failed_here = exists().where(attempts.c.job_id == jobs.c.id, attempts.c.device == device,
                                 attempts.c.outcome == "infra")
    planned_out = exists().where(devices.c.name == jobs.c.planned_device,
                                 devices.c.health.in_(("quarantined", "retired")))
    planned_served = exists().where(leases.c.device == jobs.c.planned_device, leases.c.expires_at_s > since)
    waiting = (select(jobs.c.id).join(runs, runs.c.id == jobs.c.run_id)
               .where(runs.c.queued.is_(True), runs.c.status == "running", jobs.c.state == "queued",
                      jobs.c.profile == profile, jobs.c.artifact_sha256.is_not(None)))
    own = waiting.where(jobs.c.planned_device == device, ~failed_here).order_by(jobs.c.id)
    movable = (waiting.where(or_(jobs.c.planned_device == device, jobs.c.moved.is_(True), planned_out,
                                 ~planned_served & (jobs.c.queued_at_s < since)))
               .order_by(case((failed_here, 1), else_=0), case((jobs.c.planned_device == device, 0), else_=1),
                         jobs.c.id))

    def attempts_that(*where: ColumnElement[bool]) -> Any:
        return select(func.count()).where(attempts.c.job_id == jobs.c.id, *where).scalar_subquery()

    return tuple(
        update(jobs).where(jobs.c.id == candidate.limit(1).with_for_update(of=jobs, skip_locked=True).scalar_subquery())
        .values(state="running", device=device)
        .returning(jobs, attempts_that().label("earlier"), attempts_that(attempts.c.outcome == "infra").label("infra"),
                   attempts_that(attempts.c.outcome == "invalid").label("invalid"),
                   select(runs.c.args).where(runs.c.id == jobs.c.run_id).scalar_subquery().label("args"))
        for candidate in (own, movable))


_CLAIMS = _claim_statements()


def _lose_attempts(connection: Connection, where: ColumnElement[bool], reason: str) -> list[int]:
    """Running attempts of submitted runs that lost their device end ``infra``; each job goes back to the
    queue for any device of its profile, or ends ``infra`` once its run's retry budget is spent."""
    touched = _interrupt(connection, where, reason)
    for job_id in touched:
        history = connection.execute(select(attempts.c.number, attempts.c.device, attempts.c.worker,
                                            attempts.c.outcome, attempts.c.reason)
                                     .where(attempts.c.job_id == job_id).order_by(attempts.c.number)).all()
        args = connection.execute(select(runs.c.args).join(jobs, jobs.c.run_id == runs.c.id)
                                  .where(jobs.c.id == job_id)).scalar_one()
        infra = sum(row.outcome == "infra" for row in history)
        if infra <= int(args.get("infra_retries", 2)):
            values: dict[str, Any] = {"state": "queued", "reason": reason, "moved": True, "queued_at_s": _DbNowS()}
        else:
            told = "; ".join(f"attempt {row.number} on {row.device}" + (f" ({row.worker})" if row.worker else "")
                             + f": {row.outcome}, {row.reason}" for row in history)
            values = {"state": "infra", "reason": f"lost its device {infra} times: {told}"}
        connection.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.state == "running").values(**values))
    return touched


def _requeue(connection: Connection, where: ColumnElement[bool], reason: str) -> list[int]:
    """Jobs ``running`` with no attempt running go back to ``queued``; returns them."""
    live = select(attempts.c.job_id).where(attempts.c.outcome == "running")
    requeued = connection.execute(update(jobs).where(where, jobs.c.state == "running", jobs.c.id.not_in(live))
                                  .values(state="queued", reason=reason, queued_at_s=_DbNowS()).returning(jobs.c.id))
    return sorted(job_id for job_id, in requeued)


def _newest_with_key(result_key: str) -> Any:
    return (select(func.max(measurements.c.id)).where(measurements.c.result_key == result_key, measurements.c.valid)
            .scalar_subquery())


def _insert_measurement(connection: Connection, job_id: int, attempt_number: int, measurement: Measurement,
                        lease_token: int) -> int:
    """A measurement and its samples, in their order; returns its id."""
    samples = [float(value) for value in measurement.samples_ms]
    measurement_id = connection.execute(measurements.insert().values(
        job_id=job_id, attempt_number=attempt_number, result_key=measurement.result_key,
        artifact_sha256=measurement.artifact_sha256, device=measurement.device, measured_at=measurement.measured_at,
        size_bytes=measurement.size_bytes, sample_count=len(samples), p50_ms=median(samples) if samples else None,
        load_ms=measurement.load_ms, peak_rss_mb=measurement.peak_rss_mb, metric=measurement.metric,
        quality=measurement.quality, numerics=measurement.numerics, versions=measurement.versions,
        conditions=measurement.conditions, lease_token=lease_token, valid=measurement.valid)).inserted_primary_key[0]
    if samples:
        connection.execute(latency_samples.insert(), [
            {"measurement_id": measurement_id, "idx": index, "latency_ms": value} for index, value in enumerate(samples)])
    return int(measurement_id)


def _measurements(connection: Connection, where: ColumnElement[bool]) -> dict[int, Measurement]:
    samples: dict[int, list[float]] = defaultdict(list)
    for measurement_id, latency_ms in connection.execute(
            select(latency_samples.c.measurement_id, latency_samples.c.latency_ms)
            .where(latency_samples.c.measurement_id.in_(select(measurements.c.id).where(where)))
            .order_by(latency_samples.c.measurement_id, latency_samples.c.idx)):
        samples[measurement_id].append(latency_ms)
    return {row.id: Measurement(
        result_key=row.result_key, artifact_sha256=row.artifact_sha256, device=row.device,
        samples_ms=tuple(samples[row.id]), measured_at=row.measured_at, size_bytes=row.size_bytes,
        load_ms=row.load_ms, peak_rss_mb=row.peak_rss_mb, metric=row.metric, quality=row.quality,
        numerics=row.numerics, versions=row.versions, conditions=row.conditions, valid=bool(row.valid))
        for row in connection.execute(select(measurements).where(where))}


def _invalid_measurements(connection: Connection, chosen_jobs: Any) -> dict[tuple[int, int], Measurement]:
    """The samples the chosen jobs' invalid attempts took, by (job, attempt number)."""
    where = measurements.c.job_id.in_(chosen_jobs) & ~measurements.c.valid
    found = _measurements(connection, where)
    return {(row.job_id, row.attempt_number): found[row.id] for row in connection.execute(
        select(measurements.c.id, measurements.c.job_id, measurements.c.attempt_number).where(where))}


def _devices(connection: Connection, where: ColumnElement[bool] | None) -> list[DeviceRecord]:
    newest = select(func.max(health_checks.c.id)).group_by(health_checks.c.device)
    checks = {row.device: HealthCheck(row.device, row.at, row.outcome, row.reason, row.golden_p50_ms)
              for row in connection.execute(select(health_checks).where(health_checks.c.id.in_(newest)))}
    query = select(devices).order_by(devices.c.name)
    if where is not None:
        query = query.where(where)
    return [DeviceRecord(name=row.name, profile=row.profile, tags=tuple(row.tags), health=row.health,
                         reason=row.reason, since=row.since, last_check=checks.get(row.name),
                         recent_failures=row.recent_outcomes.count("infra"), consecutive_infra=row.consecutive_infra)
            for row in connection.execute(query)]


def _run(row: Any, job_records: Iterable[JobRecord]) -> RunRecord:
    return RunRecord(id=row.id, label=row.label, started_at=row.started_at, status=row.status, args=row.args,
                     finished_at=row.finished_at, jobs=tuple(job_records), queued=bool(row.queued))


def _insert(connection: Connection, table: Table) -> Insert:
    """INSERT with ON CONFLICT, which both dialects spell the same way."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)  # type: ignore[return-value]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# -- opening ----------------------------------------------------------------------------------------


def _parse(url: str | None, default_path: Path | None) -> URL:
    if url is None and default_path is None:
        raise ConfigError("no results store given", hint="pass --store, or set store in the [lab] table")
    if url is None or ("://" not in url and not url.startswith("sqlite:")):
        return URL.create("sqlite", database=str(Path(url).expanduser() if url else default_path))
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:  # ValueError: a port that is not a number
        shown = re.sub(r"(://[^:/@]*):[^@/]*@", r"\1@", url)  # the password stays out of the message
        raise ConfigError(f"store {shown!r} is not a database URL", hint=_URL_FORMS) from exc
    backend, _, driver = parsed.drivername.partition("+")
    if backend in ("postgresql", "postgres") and driver in ("", "psycopg"):
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite" and driver in ("", "pysqlite"):
        if parsed.database in (None, "", ":memory:"):
            raise ConfigError(f"store {url!r} names no file", hint="a results store is a file: sqlite:///PATH")
        return parsed.set(drivername="sqlite")
    raise ConfigError(f"unsupported results store {_display(parsed)}: edgeq keeps results in SQLite or PostgreSQL "
                      "(through psycopg 3)", hint=_URL_FORMS)


def _sqlite_engine(url: URL) -> Engine:
    path = Path(url.database or "")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the results store's directory {path.parent}: {exc.strerror}") from exc
    engine = create_engine(url, pool_size=_POOL_SIZE, max_overflow=-1,
                           connect_args={"check_same_thread": False, "timeout": _BUSY_TIMEOUT_S})
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection: Any, connection_record: Any) -> None:
    # SQLAlchemy, not the sqlite3 module, says when a transaction begins (see _sqlite_begin): otherwise
    # sqlite3 would run DDL and reads outside transactions.
    dbapi_connection.isolation_level = None
    dbapi_connection.execute("PRAGMA journal_mode=WAL")  # readers and the writer do not block each other
    dbapi_connection.execute("PRAGMA foreign_keys=ON")


def _sqlite_begin(connection: Connection) -> None:
    write = connection.get_execution_options().get(migrations.WRITE_TRANSACTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _display(url: URL) -> str:
    """A store's URL as messages print it: never the password."""
    if url.get_backend_name() == "sqlite":
        return str(url.database)
    bare = URL.create(url.drivername, url.username, None, url.host, url.port, url.database, url.query)
    return bare.render_as_string()


def _unreachable(url: URL, exc: OperationalError, doing: str | None = None) -> ConnectError:
    where = _display(url)
    if url.get_backend_name() == "sqlite":
        return ConnectError(f"cannot open the results store {where}: {summarize(exc.orig)}",
                            hint="check that its directory exists and is writable, or pass --store")
    lost = (f"lost the results store {where} while trying to {doing}" if doing
            else f"cannot reach the results store {where}")
    return ConnectError(f"{lost}: {summarize(exc.orig)}",
                        hint="check that PostgreSQL runs there and that the URL's host, port, user, password and "
                             "database are right (createdb makes the database)")
