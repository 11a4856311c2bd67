"""The results store on a real PostgreSQL server: the same outcomes as on SQLite, leases and fencing between
two hosts' connections, one measurement per job, concurrent writers, and the migrations from earlier revisions."""

import threading
import time

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from lab_store_rows import upgrade_keeps_every_row
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from edgeq.errors import ConnectError
from edgeq.lab.records import DeviceRecord, HealthCheck, Measurement
from edgeq.lab.store import LeaseLost, StoreError, engine_for, migrations, open_store
from edgeq.lab.store.schema import attempts, leases, measurements, metadata

SHA = "cd" * 32
AT = "2026-12-02T15:04:05+00:00"


def measurement(key="key-1", device="pi", samples=(4.0, 5.0, 6.5), **fields):
    return Measurement(result_key=key, artifact_sha256=SHA, device=device, samples_ms=tuple(samples), measured_at=AT,
                       size_bytes=1234, **fields)


def prepared(store):
    store.sync_devices([("pi", "rpi5", ["desk"]), ("pi-2", "rpi5", [])])
    store.put_artifact(SHA, "mobilenet", "rpi5", "int8-pte", "int8", "pte", 1234, {"sha256": SHA})
    return store


@pytest.fixture
def store(postgres_url):
    with open_store(postgres_url, default_path=None) as opened:
        yield prepared(opened)


@pytest.fixture
def other_host(postgres_url, store):
    """A second store on the same database: another worker host's own engine and connections."""
    with open_store(postgres_url, default_path=None) as opened:
        yield opened


def lab_run(store):
    """A small run with every kind of ending: a retry after infra, a failure, a timeout, a reuse, a skip."""
    run_id = store.create_run("nightly", {"models": ["mobilenet", "resnet"]})
    token = store.acquire_lease("pi", "host:1", ttl_s=30)
    retried = store.add_job(run_id, "mobilenet", "rpi5", "int8", "pte", "int8-pte", "pi")
    store.end_attempt(retried, store.start_attempt(retried, "pi", token), "infra", "connection reset", token)
    store.record_measurement(retried, store.start_attempt(retried, "pi", token),
                             measurement(numerics={"cosine": 0.999}, versions={"runner": "3"}), token)
    failed = store.add_job(run_id, "resnet", "rpi5", "int8", "pte", "int8-pte", "pi")
    store.end_attempt(failed, store.start_attempt(failed, "pi", token), "failed", "ExportError", token)
    timed_out = store.add_job(run_id, "vit", "rpi5", "int8", "pte", "int8-pte", "pi")
    store.end_attempt(timed_out, store.start_attempt(timed_out, "pi", token), "timeout", "600 s", token)
    reused = store.add_job(run_id, "mobilenet", "rpi5", "int8", "pte", "int8-pte", "pi-2")
    other = store.acquire_lease("pi-2", "host:1", ttl_s=30)
    store.reuse_measurement(reused, store.start_attempt(reused, "pi-2", other), "key-1", other)
    store.release_lease("pi-2", other)
    skipped = store.add_job(run_id, "bert", "rpi5", "int8", "pte", "int8-pte", "pi-2")
    store.set_job_state(skipped, "skipped", "no healthy device of profile rpi5")
    store.release_lease("pi", token)
    store.finish_run(run_id, "finished")
    return run_id


def outcomes(run):
    return [(job.name, job.state, job.reason if job.state != "done" else "", job.reused,
             [(a.number, a.outcome, a.reason) for a in job.attempts], job.measurement)
            for job in run.jobs]


def test_the_same_run_gives_the_same_job_outcomes_as_on_sqlite(store, tmp_path):
    with open_store(None, default_path=tmp_path / "edgeq-lab.sqlite") as sqlite_store:
        on_sqlite = sqlite_store.run(lab_run(prepared(sqlite_store)))
    on_postgres = store.run(lab_run(store))
    assert outcomes(on_postgres) == outcomes(on_sqlite)
    assert (on_postgres.status, on_postgres.args) == ("finished", {"models": ["mobilenet", "resnet"]})
    assert on_postgres.jobs[0].measurement == measurement(numerics={"cosine": 0.999}, versions={"runner": "3"})


def test_devices_and_their_health_round_trip(store):
    store.record_health_check(HealthCheck("pi", AT, "good", "", 10.5))
    store.note_attempt_outcome("pi", "infra")
    record = store.set_health("pi", "bad", "golden 40% slower")
    assert record == DeviceRecord("pi", "rpi5", ("desk",), "bad", "golden 40% slower", record.since,
                                  HealthCheck("pi", AT, "good", "", 10.5), recent_failures=1, consecutive_infra=1)
    assert store.golden_history("pi") == [10.5]


def test_the_migrations_build_the_schema_the_code_declares(postgres_url):
    engine = engine_for(postgres_url, default_path=None)
    migrations.upgrade(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": migrations.VERSION_TABLE})
        assert compare_metadata(context, metadata) == []
    migrations.downgrade(engine, "base")
    migrations.upgrade(engine)
    engine.dispose()


def test_a_store_made_by_the_first_revision_is_upgraded_with_its_rows_kept(postgres_url):
    engine = engine_for(postgres_url, default_path=None)
    migrations.upgrade(engine, "0001")
    with engine.begin() as connection:
        for statement in (
            "INSERT INTO runs (id, label, started_at, status, args) VALUES "
            "('r1', 'nightly', '2026-01-05T10:00:00+00:00', 'finished', '{\"runs\": 50}')",
            f"INSERT INTO artifacts VALUES ('{SHA}', 'mobilenet', 'rpi5', 'int8-pte', 'int8', 'pte', 1234, '{{}}', "
            "'2026-01-05T10:00:00+00:00')",
            "INSERT INTO jobs (id, run_id, model, profile, scheme, format, variant, planned_device, state, reason, "
            "reused) VALUES (1, 'r1', 'mobilenet', 'rpi5', 'int8', 'pte', 'int8-pte', 'pi', 'running', '', false)",
            "INSERT INTO attempts VALUES (1, 1, 'pi', 'running', '', '2026-01-05T10:01:00+00:00', NULL)",
        ):
            connection.exec_driver_sql(statement)
    engine.dispose()
    with open_store(postgres_url, default_path=None) as store:
        assert store.devices() == [DeviceRecord("pi", "rpi5", (), "unknown")]
        # The old run was killed mid-attempt: it recovers and finishes under the new lease rules.
        assert store.recover("r1") == [1]
        token = store.acquire_lease("pi", "host:1", ttl_s=30)
        store.put_artifact(SHA, "mobilenet", "rpi5", "int8-pte", "int8", "pte", 1234, {})
        store.record_measurement(1, store.start_attempt(1, "pi", token), measurement(), token)
        (job,) = store.run("r1").jobs
        assert [(a.number, a.outcome, a.reason) for a in job.attempts] == [(1, "infra", "interrupted"), (2, "done", "")]
        assert store.run("r1").args == {"runs": 50}


def test_a_store_at_revision_0003_is_upgraded_with_every_row_kept(postgres_url):
    upgrade_keeps_every_row(engine_for(postgres_url, default_path=None), postgres_url)


def test_a_lease_passes_between_hosts_only_when_it_expires_and_the_old_token_is_fenced_off(store, other_host):
    run_id = store.create_run(None, {})
    job_id = store.add_job(run_id, "mobilenet", "rpi5", "int8", "pte", "int8-pte", "pi")
    old = store.acquire_lease("pi", "host-a:1", ttl_s=30)
    number = store.start_attempt(job_id, "pi", old)
    assert other_host.acquire_lease("pi", "host-b:1", ttl_s=30) is None
    store.shift_clock(31)  # the database's clock, which both hosts read: host-a's lease has lapsed for both
    new = other_host.acquire_lease("pi", "host-b:1", ttl_s=30)
    assert new > old
    with pytest.raises(LeaseLost):
        store.record_measurement(job_id, number, measurement(), old)
    assert store.job(job_id).measurement is None
    assert not store.renew_lease("pi", old, ttl_s=30) and not store.release_lease("pi", old)
    assert other_host.renew_lease("pi", new, ttl_s=30)
    assert other_host.start_attempt(job_id, "pi", new) == 2  # the orphaned attempt 1 ended, the job re-queued
    assert [a.outcome for a in other_host.job(job_id).attempts] == ["infra", "running"]


def test_hosts_racing_for_a_free_device_get_one_lease(store, other_host):
    winners, barrier = [], threading.Barrier(8)

    def race(index: int) -> None:
        barrier.wait()
        token = (store, other_host)[index % 2].acquire_lease("pi", f"host:{index}", ttl_s=30)
        if token is not None:
            winners.append(token)

    pool = [threading.Thread(target=race, args=(index,)) for index in range(8)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    assert len(winners) == 1 and [lease.token for lease in store.leases()] == winners


def test_a_lease_cannot_change_hands_while_a_fenced_write_is_in_flight(store, other_host):
    token = store.acquire_lease("pi", "host-a:1", ttl_s=30)
    store.shift_clock(31)  # the lease has expired, but the write below locked its row first
    took_at = []
    with store._engine.connect() as writer, writer.begin():
        # What every fenced write does first: the lease row, locked until the write commits.
        assert writer.execute(select(leases.c.token).where(leases.c.token == token).with_for_update(read=True)).first()
        taker = threading.Thread(target=lambda: took_at.append((other_host.acquire_lease("pi", "host-b:1", ttl_s=30),
                                                                time.monotonic())))
        taker.start()
        time.sleep(0.5)  # time for the taker to reach the lock; it must still be waiting (a slow machine passes too)
        assert took_at == []
        committed_at = time.monotonic()
    taker.join()
    (new_token, at), = took_at
    assert new_token > token and at >= committed_at


def test_one_measurement_per_job_even_when_two_writers_race(store, other_host):
    run_id = store.create_run(None, {})
    job_id = store.add_job(run_id, "mobilenet", "rpi5", "int8", "pte", "int8-pte", "pi")
    token = store.acquire_lease("pi", "host:1", ttl_s=30)
    number = store.start_attempt(job_id, "pi", token)
    results, barrier = [], threading.Barrier(2)

    def write(target, key: str) -> None:
        barrier.wait()
        try:
            target.record_measurement(job_id, number, measurement(key=key), token)
            results.append(key)
        except StoreError as exc:
            results.append(type(exc).__name__)

    pool = [threading.Thread(target=write, args=(target, key)) for target, key in ((store, "a"), (other_host, "b"))]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    # the loser meets the unique index, or finds the attempt ended when the winner committed first
    winner, loser = sorted(results, key=len)
    assert winner in ("a", "b") and loser in ("StoreError", "LeaseLost")
    # A writer around the store meets the unique index too, even from a second attempt under the live lease.
    with store._engine.begin() as connection, pytest.raises(IntegrityError, match="uq_measurements_job_id"):
        connection.execute(attempts.insert().values(job_id=job_id, number=number + 1, device="pi", outcome="running",
                                                    reason="", started_at=AT, lease_token=token))
        connection.execute(measurements.insert().values(
            job_id=job_id, attempt_number=number + 1, result_key="raw", artifact_sha256=SHA, device="pi",
            measured_at=AT, size_bytes=1, sample_count=0, versions={}, conditions={}, lease_token=token))


def test_a_write_around_the_store_with_a_stale_token_is_refused_by_the_database(store, other_host):
    run_id = store.create_run(None, {})
    job_id = store.add_job(run_id, "mobilenet", "rpi5", "int8", "pte", "int8-pte", "pi")
    old = store.acquire_lease("pi", "host-a:1", ttl_s=30)
    number = store.start_attempt(job_id, "pi", old)
    store.shift_clock(31)
    new = other_host.acquire_lease("pi", "host-b:1", ttl_s=30)
    late = measurements.insert().values(job_id=job_id, attempt_number=number, result_key="late", artifact_sha256=SHA,
                                        device="pi", measured_at=AT, size_bytes=1, sample_count=0, versions={},
                                        conditions={}, lease_token=old)
    for statement, refusal in ((late, "a measurement"), (late.values(lease_token=new), "a measurement"),
                               (update(attempts).where(attempts.c.job_id == job_id).values(outcome="done"),
                                "an attempt ends done")):
        with store._engine.begin() as connection, pytest.raises(IntegrityError, match=f"edgeq fence: {refusal}"):
            connection.execute(statement)
    job = other_host.job(job_id)
    assert (job.measurement, [a.outcome for a in job.attempts]) == (None, ["running"])


def test_threads_on_two_hosts_writing_at_once_lose_nothing(store, other_host):
    threads, writes = 8, 20
    store.sync_devices([(f"dev-{t}", "rpi5", []) for t in range(threads)])
    run_id = store.create_run("parallel", {})
    errors = []

    def worker(index: int) -> None:
        target, device = (store, other_host)[index % 2], f"dev-{index}"
        try:
            token = target.acquire_lease(device, f"thread:{index}", ttl_s=60)
            for write in range(writes):
                job_id = target.add_job(run_id, f"model-{write}", "rpi5", "int8", "pte", "int8-pte", device)
                number = target.start_attempt(job_id, device, token)
                target.record_measurement(job_id, number, measurement(key=f"{device}-{write}", device=device,
                                                                      samples=[float(write)] * 50), token)
                target.note_attempt_outcome("pi", "infra")  # one row for every thread: no update may be lost
        except Exception as exc:  # noqa: BLE001 - reported below, with the thread that raised it
            errors.append((index, exc))

    pool = [threading.Thread(target=worker, args=(index,)) for index in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    assert errors == []
    jobs = store.jobs_for(run_id)
    assert len(jobs) == threads * writes and all(job.state == "done" and len(job.measurement.samples_ms) == 50
                                                 for job in jobs)
    assert store.device("pi").consecutive_infra == threads * writes


def test_a_wrong_password_or_database_is_a_connect_error_without_the_password(postgres):
    with pytest.raises(ConnectError, match="password authentication failed") as info:
        open_store(postgres.url("postgres", password="not-the-password"), default_path=None)
    assert "not-the-password" not in str(info.value) and postgres.password not in str(info.value)
    assert f"postgresql+psycopg://edgeq@127.0.0.1:{postgres.port}/postgres" in info.value.message
    with pytest.raises(ConnectError, match='database "missing" does not exist') as info:
        open_store(postgres.url("missing"), default_path=None)
    assert "createdb" in info.value.hint
