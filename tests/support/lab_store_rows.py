"""A results store as edgeq wrote it at revision 0003, with a row in every table, and the check that opening it
with today's edgeq upgrades it with every row kept — for the migration tests on SQLite
(tests/unit/test_lab_store.py) and PostgreSQL (tests/integration/test_lab_store_postgres.py).

The rows go in through today's table objects with only the columns revision 0003 had, so the same code
writes them on both engines.
"""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, func, select, update

from edgeq.lab.records import Measurement
from edgeq.lab.store import migrations, open_store
from edgeq.lab.store.schema import (
    artifacts, attempts, devices, health_checks, jobs, latency_samples, lease_grants, leases, measurements, metadata,
    runs, workers,
)

SHA = "ef" * 32
AT = "2026-11-20T10:00:00+00:00"
TABLES = (runs, artifacts, jobs, attempts, measurements, latency_samples, devices, health_checks, lease_grants, leases,
          workers)


def store_at_0003(engine: Engine) -> None:
    """Build the store at revision 0003 and fill it: a run whose job was retried then measured, a failed job,
    a job queued on a device leased by a worker."""
    migrations.upgrade(engine, "0003")
    with engine.begin() as connection:
        connection.execute(runs.insert().values(id="r0003", label="nightly", started_at=AT, status="running",
                                                args={"runs": 20}, queued=True))
        connection.execute(artifacts.insert().values(sha256=SHA, model="m", profile="rpi5", variant="fp32",
                                                     scheme="none", format="pte", size_bytes=10, manifest={},
                                                     created_at=AT))
        connection.execute(devices.insert().values(name="pi", profile="rpi5", tags=[], health="good", reason="",
                                                   since=AT, consecutive_infra=0, recent_outcomes=["infra", "done"]))
        connection.execute(health_checks.insert().values(device="pi", at=AT, outcome="good", reason="",
                                                         golden_p50_ms=1.5))
        token = connection.execute(lease_grants.insert().values(device="pi", holder="w1", granted_at_s=1.0)
                                   ).inserted_primary_key[0]
        connection.execute(leases.insert().values(device="pi", token=token, holder="w1", acquired_at_s=1.0,
                                                  expires_at_s=4e9))
        connection.execute(workers.insert().values(name="w1", host="lab-1", pid=42, devices=["pi"], started_at=AT,
                                                   heartbeat_at_s=1.0))
        cell = {"run_id": "r0003", "model": "m", "profile": "rpi5", "scheme": "none", "variant": "fp32",
                "reason": "", "reused": False, "artifact_sha256": SHA}
        for job_id, fmt, state, device in ((1, "pte", "running", "pi"), (2, "ptl", "failed", "pi"),
                                           (3, "pte", "queued", "pi-2")):
            connection.execute(jobs.insert().values(id=job_id, format=fmt, state=state, planned_device=device, **cell))
        for job_id, number, outcome in ((1, 1, "infra"), (1, 2, "done"), (2, 1, "failed")):
            connection.execute(attempts.insert().values(job_id=job_id, number=number, device="pi", outcome=outcome,
                                                        reason=outcome, started_at=AT, ended_at=AT, lease_token=token,
                                                        worker="w1", started_at_s=1.0))
        connection.execute(measurements.insert().values(
            id=7, job_id=1, attempt_number=2, result_key="key-0003", artifact_sha256=SHA, device="pi", measured_at=AT,
            size_bytes=10, sample_count=3, p50_ms=2.0, versions={"runner": "3"}, conditions={}, lease_token=token))
        connection.execute(latency_samples.insert(), [{"measurement_id": 7, "idx": index, "latency_ms": value}
                                                      for index, value in enumerate((1.0, 2.0, 4.0))])
        connection.execute(update(jobs).where(jobs.c.id == 1).values(state="done", device="pi", measurement_id=7))
    engine.dispose()


def row_counts(connection: Connection) -> dict[str, int]:
    return {table.name: connection.execute(select(func.count()).select_from(table)).scalar_one() for table in TABLES}


def upgrade_keeps_every_row(engine: Engine, url: str) -> None:
    """Fill a store at 0003, open it (which upgrades it to the head revision), and check that every row is
    there, reads as before, and that what the new schema holds can now be written."""
    store_at_0003(engine)
    with engine.connect() as connection:
        before = row_counts(connection)
    with open_store(url, default_path=None) as store:
        with engine.connect() as connection:
            assert row_counts(connection) == before  # rebuilding a table cascaded into nothing
        measured, failed, queued = store.run("r0003").jobs
        assert measured.measurement.samples_ms == (1.0, 2.0, 4.0) and measured.measurement.valid
        assert [a.outcome for a in measured.attempts] == ["infra", "done"] and failed.state == "failed"
        assert store.find_measurement("key-0003") == measured.measurement
        token = store.leases()[0].token
        hot = Measurement(result_key="hot", artifact_sha256=SHA, device="pi", samples_ms=(9.0, 9.5), measured_at=AT,
                          size_bytes=10)
        number = store.start_attempt(queued.id, "pi", token)
        store.end_attempt(queued.id, number, "invalid", "too hot", token, measurement=hot)
        number = store.start_attempt(queued.id, "pi", token)
        store.end_attempt(queued.id, number, "error", "a bug", token, traceback="Traceback …")
        job = store.job(queued.id)
        assert (job.state, job.attempts[0].measurement.samples_ms, job.attempts[1].traceback) == (
            "error", (9.0, 9.5), "Traceback …")
    with engine.connect() as connection:
        assert migrations.current(connection) == migrations.head()
        context = MigrationContext.configure(connection, opts={"version_table": migrations.VERSION_TABLE})
        assert compare_metadata(context, metadata) == []
    engine.dispose()
