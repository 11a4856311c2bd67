"""Runs, their jobs, the measurements they kept and the artifacts they measured: what reports, the gate and
releases read."""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Iterable
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Connection, exists, func, select, update

from edgeq.bench.stats import median
from edgeq.lab.records import Attempt, JobRecord, Measurement, RunRecord
from edgeq.lab.store.engine import DbNowS, NotInStore, StoreBase, StoreError, now, upsert
from edgeq.lab.store.schema import artifacts, attempts, devices, jobs, latency_samples, measurements, runs


class HistoryPoint(NamedTuple):
    """One run's median latency of a model's variant on a device, for trend plots."""

    run_id: str
    started_at: str
    p50_ms: float


class Results(StoreBase):
    # -- runs ----------------------------------------------------------------------------------------

    def create_run(self, label: str | None, args: dict[str, Any]) -> str:
        """A new run, ``running``; returns its short id (eight hex digits). Workers take its jobs only after
        ``enqueue_run``."""
        with self._write("create a run") as connection:
            while True:
                run_id = secrets.token_hex(4)
                if connection.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is None:
                    break
            connection.execute(runs.insert().values(id=run_id, label=label, started_at=now(), status="running",
                                                    args=args))
        return run_id

    def finish_run(self, run_id: str, status: str) -> None:
        """Close a run as ``finished`` or ``interrupted``."""
        with self._write(f"finish run {run_id}") as connection:
            changed = connection.execute(update(runs).where(runs.c.id == run_id)
                                         .values(status=status, finished_at=now())).rowcount
            if not changed:
                raise self._no_run(run_id)

    def reopen_run(self, run_id: str) -> None:
        """A stopped or killed run runs again (``--resume``): its queued jobs can be claimed once more."""
        with self._write(f"reopen run {run_id}") as connection:
            if not connection.execute(update(runs).where(runs.c.id == run_id)
                                      .values(status="running", finished_at=None)).rowcount:
                raise self._no_run(run_id)

    def run(self, run_id: str) -> RunRecord:
        """A run with its jobs, their attempts and measurements."""
        with self._read() as connection:
            row = connection.execute(select(runs).where(runs.c.id == run_id)).first()
            if row is None:
                raise self._no_run(run_id)
            return _run(row, _jobs(connection, jobs.c.run_id == run_id))

    def runs(self, label: str | None = None, limit: int | None = None, *, with_jobs: bool = False) -> list[RunRecord]:
        """Runs, newest first; their jobs only with ``with_jobs`` (a listing does not need them)."""
        query = select(runs).order_by(runs.c.seq.desc()).limit(limit)
        if label is not None:
            query = query.where(runs.c.label == label)
        with self._read() as connection:
            return [_run(row, _jobs(connection, jobs.c.run_id == row.id) if with_jobs else ())
                    for row in connection.execute(query)]

    def latest_run(self, label: str | None = None) -> RunRecord | None:
        """The newest run (with that label), with its jobs; None in an empty store."""
        newest = self.runs(label, limit=1)
        return self.run(newest[0].id) if newest else None

    def pending(self, run_id: str, profile: str | None = None) -> int:
        """How many of the run's jobs (of ``profile``) are queued or running: work a device may still get."""
        query = select(func.count()).where(jobs.c.run_id == run_id, jobs.c.state.in_(("queued", "running")))
        if profile is not None:
            query = query.where(jobs.c.profile == profile)
        with self._read() as connection:
            return int(connection.execute(query).scalar_one())

    # -- jobs ----------------------------------------------------------------------------------------

    def add_job(self, run_id: str, model: str, profile: str, scheme: str, format: str, variant: str,
                planned_device: str) -> int:
        """A ``queued`` job for one cell of the run's matrix; the same cell again returns the same job."""
        cell = {"run_id": run_id, "model": model, "profile": profile, "scheme": scheme, "format": format,
                "planned_device": planned_device}
        with self._write(f"add job {model}/{planned_device}/{variant} to run {run_id}") as connection:
            connection.execute(upsert(connection, jobs).values(**cell, variant=variant, state="queued", reason="",
                                                               reused=False, queued_at_s=DbNowS())
                               .on_conflict_do_nothing())
            return connection.execute(select(jobs.c.id).filter_by(**cell)).scalar_one()

    def job(self, job_id: int) -> JobRecord:
        """One job with its attempts and measurement."""
        with self._read() as connection:
            found = _jobs(connection, jobs.c.id == job_id)
        if not found:
            raise NotInStore(f"the results store {self.url} has no job {job_id}")
        return found[0]

    def jobs_for(self, run_id: str) -> list[JobRecord]:
        """A run's jobs in the order they were added, with their attempts and measurements."""
        with self._read() as connection:
            return _jobs(connection, jobs.c.run_id == run_id)

    def set_job_state(self, job_id: int, state: str, reason: str = "", device: str | None = None,
                      artifact_sha256: str | None = None) -> None:
        """What planning decided for a job that no attempt decides (built and ``queued``, ``failed`` to build,
        ``skipped``). Refused for a job an attempt runs: that attempt's end decides it.

        ``done`` is refused by the schema unless the job has its measurement (``record_measurement``).
        """
        values: dict[str, Any] = {"state": state, "reason": reason}
        if device is not None:
            values["device"] = device
        if artifact_sha256 is not None:
            values["artifact_sha256"] = artifact_sha256
        running = exists().where(attempts.c.job_id == jobs.c.id, attempts.c.outcome == "running")
        with self._write(f"set job {job_id} to {state!r}") as connection:
            if not connection.execute(update(jobs).where(jobs.c.id == job_id, ~running).values(**values)).rowcount:
                if connection.execute(select(jobs.c.id).where(jobs.c.id == job_id)).first() is None:
                    raise NotInStore(f"the results store {self.url} has no job {job_id}")
                raise StoreError(f"cannot set job {job_id} to {state!r}: an attempt of it is running",
                                 hint="the attempt's end decides what the job becomes")

    # -- measurements and artifacts ------------------------------------------------------------------

    def find_measurement(self, result_key: str) -> Measurement | None:
        """The newest valid measurement taken under ``result_key`` (same artifact, device, runner, runtime
        versions)."""
        with self._read() as connection:
            found = measurements_where(connection, measurements.c.id == newest_with_key(result_key))
        return next(iter(found.values()), None)

    def measurements_of(self, artifact_sha256: str) -> list[tuple[Measurement, str]]:
        """Every valid measurement of this exact artifact with its device's profile, the newest first (the
        release's evidence: a latency taken on a lab device instead of on the packaging host)."""
        with self._read() as connection:
            found = measurements_where(connection,
                                       (measurements.c.artifact_sha256 == artifact_sha256) & measurements.c.valid)
            profiles = dict(connection.execute(select(devices.c.name, devices.c.profile)).all())
        return [(found[key], profiles.get(found[key].device, "")) for key in sorted(found, reverse=True)]

    def put_artifact(self, sha256: str, model: str, profile: str, variant: str, scheme: str, format: str,
                     size_bytes: int, manifest: dict[str, Any]) -> None:
        """Remember a built artifact by its content; the same sha256 again keeps the first record."""
        with self._write(f"keep artifact {sha256[:12]}") as connection:
            connection.execute(upsert(connection, artifacts).values(
                sha256=sha256, model=model, profile=profile, variant=variant, scheme=scheme, format=format,
                size_bytes=size_bytes, manifest=manifest, created_at=now()).on_conflict_do_nothing())

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


def newest_with_key(result_key: str) -> Any:
    return (select(func.max(measurements.c.id)).where(measurements.c.result_key == result_key, measurements.c.valid)
            .scalar_subquery())


def insert_measurement(connection: Connection, job_id: int, attempt_number: int, measurement: Measurement,
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


def measurements_where(connection: Connection, where: ColumnElement[bool]) -> dict[int, Measurement]:
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
    found = measurements_where(connection, where)
    return {(row.job_id, row.attempt_number): found[row.id] for row in connection.execute(
        select(measurements.c.id, measurements.c.job_id, measurements.c.attempt_number).where(where))}


def _jobs(connection: Connection, where: ColumnElement[bool]) -> list[JobRecord]:
    chosen = select(jobs.c.id).where(where)
    invalid = _invalid_measurements(connection, chosen)
    by_job: dict[int, list[Attempt]] = defaultdict(list)
    for row in connection.execute(select(attempts).where(attempts.c.job_id.in_(chosen))
                                  .order_by(attempts.c.job_id, attempts.c.number)):
        by_job[row.job_id].append(Attempt(row.number, row.device, row.outcome, row.reason, row.started_at,
                                          row.ended_at, invalid.get((row.job_id, row.number)), row.traceback))
    found = measurements_where(connection, measurements.c.id.in_(select(jobs.c.measurement_id).where(where)))
    return [JobRecord(id=row.id, run_id=row.run_id, model=row.model, profile=row.profile, scheme=row.scheme,
                      format=row.format, variant=row.variant, planned_device=row.planned_device, state=row.state,
                      reason=row.reason, device=row.device, artifact_sha256=row.artifact_sha256,
                      attempts=tuple(by_job[row.id]), measurement=found.get(row.measurement_id),
                      reused=bool(row.reused))
            for row in connection.execute(select(jobs).where(where).order_by(jobs.c.id))]


def _run(row: Any, job_records: Iterable[JobRecord]) -> RunRecord:
    return RunRecord(id=row.id, label=row.label, started_at=row.started_at, status=row.status, args=row.args,
                     finished_at=row.finished_at, jobs=tuple(job_records), queued=bool(row.queued))
