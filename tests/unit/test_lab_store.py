"""The lab's results store on real SQLite files: records in and out, the schema's invariants, fenced leases,
recovery after a kill, threads, and the migration of stores made by earlier revisions."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import replace

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from lab_store_rows import upgrade_keeps_every_row
from sqlalchemy import func, inspect, select, text, update
from sqlalchemy.exc import IntegrityError

from edgeq.errors import ConfigError, ConnectError
from edgeq.lab.records import Attempt, DeviceRecord, HealthCheck, Measurement
from edgeq.lab.store import LeaseLost, NotInStore, StoreError, engine_for, migrations, open_store
from edgeq.lab.store.schema import artifacts, attempts, latency_samples, measurements, metadata

SHA = "ab" * 32
AT = "2026-12-02T15:04:05+00:00"


def measurement(key="key-1", device="pi", samples=(4.0, 5.0, 6.5), **fields):
    return Measurement(result_key=key, artifact_sha256=SHA, device=device, samples_ms=tuple(samples), measured_at=AT,
                       size_bytes=1234, **fields)


@pytest.fixture
def store(tmp_path):
    with open_store(None, default_path=tmp_path / "edgeq-lab.sqlite") as opened:
        opened.sync_devices([("pi", "rpi5", ["desk"]), ("pi-2", "rpi5", [])])
        opened.put_artifact(SHA, "mobilenet", "rpi5", "int8-pte", "int8", "pte", 1234, {"sha256": SHA})
        yield opened


def leased_job(store, device="pi", holder="host:1", run_id=None, model="mobilenet"):
    """``(run_id, job_id, token, attempt)``: a job with an attempt running on a device the holder leased."""
    run_id = run_id or store.create_run("nightly", {})
    job_id = store.add_job(run_id, model, "rpi5", "int8", "pte", "int8-pte", device)
    token = store.acquire_lease(device, holder, ttl_s=30)
    return run_id, job_id, token, store.start_attempt(job_id, device, token)


# -- opening ----------------------------------------------------------------------------------------


def test_a_new_store_is_created_at_the_newest_revision(tmp_path):
    path = tmp_path / "lab" / "edgeq-lab.sqlite"
    open_store(None, default_path=path).close()
    with engine_for(None, default_path=path).connect() as connection:
        assert migrations.current(connection) == migrations.head() == "0005"
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_a_plain_path_is_a_sqlite_store(tmp_path):
    with open_store(str(tmp_path / "mine.db"), default_path=tmp_path / "unused.db") as store:
        assert store.url == str(tmp_path / "mine.db")
    assert (tmp_path / "mine.db").exists() and not (tmp_path / "unused.db").exists()


def _schema(engine):
    """What a database's tables are made of, as reflection reports it (partial indexes with their WHERE)."""
    found = inspect(engine)
    return {table: ([(c["name"], str(c["type"]), c["nullable"]) for c in found.get_columns(table)],
                    found.get_pk_constraint(table)["constrained_columns"],
                    sorted((f["constrained_columns"], f["referred_table"], f["referred_columns"], f["options"])
                           for f in found.get_foreign_keys(table)),
                    sorted((u["name"], u["column_names"]) for u in found.get_unique_constraints(table)),
                    sorted((i["name"], i["column_names"], i["unique"], str(i["dialect_options"].get("sqlite_where")))
                           for i in found.get_indexes(table)),
                    sorted((c["name"], c["sqltext"]) for c in found.get_check_constraints(table)))
            for table in found.get_table_names() if table != migrations.VERSION_TABLE}


def test_the_migrations_build_the_schema_the_code_declares(tmp_path):
    migrated = engine_for(None, default_path=tmp_path / "migrated.sqlite")
    migrations.upgrade(migrated)
    declared = engine_for(None, default_path=tmp_path / "declared.sqlite")
    metadata.create_all(declared)
    with migrated.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": migrations.VERSION_TABLE})
        assert compare_metadata(context, metadata) == []
    assert _schema(migrated) == _schema(declared)


def test_migrations_go_down_and_up_again(tmp_path):
    engine = engine_for(None, default_path=tmp_path / "lab.sqlite")
    migrations.upgrade(engine)
    migrations.downgrade(engine, "0001")
    assert "leases" not in inspect(engine).get_table_names()
    migrations.downgrade(engine, "base")
    migrations.upgrade(engine)
    with engine.connect() as connection:
        assert migrations.current(connection) == "0005"


def test_a_store_made_by_the_first_revision_is_upgraded_with_its_rows_kept(tmp_path):
    path = tmp_path / "old.sqlite"
    engine = engine_for(None, default_path=path)
    migrations.upgrade(engine, "0001")
    with engine.begin() as connection:
        for statement in (
            "INSERT INTO runs (id, label, started_at, finished_at, status, args) VALUES "
            "('r1', 'nightly', '2026-01-05T10:00:00+00:00', '2026-01-05T11:00:00+00:00', 'finished', '{\"runs\": 50}')",
            f"INSERT INTO artifacts VALUES ('{SHA}', 'mobilenet', 'rpi5', 'int8-pte', 'int8', 'pte', 1234, '{{}}', "
            "'2026-01-05T10:00:00+00:00')",
            "INSERT INTO jobs (id, run_id, model, profile, scheme, format, variant, planned_device, state, reason, "
            "device, artifact_sha256, measurement_id, reused) VALUES (1, 'r1', 'mobilenet', 'rpi5', 'int8', 'pte', "
            f"'int8-pte', 'pi', 'queued', '', NULL, '{SHA}', NULL, 0)",
            "INSERT INTO attempts VALUES (1, 1, 'pi', 'done', '', '2026-01-05T10:01:00+00:00', "
            "'2026-01-05T10:02:00+00:00')",
            f"INSERT INTO measurements (id, job_id, attempt_number, result_key, artifact_sha256, device, measured_at, "
            f"size_bytes, sample_count, p50_ms, versions, conditions) VALUES (7, 1, 1, 'key-old', '{SHA}', 'pi', "
            "'2026-01-05T10:02:00+00:00', 1234, 2, 5.5, '{\"runner\": \"1\"}', '{}')",
            "INSERT INTO latency_samples VALUES (7, 0, 5.0), (7, 1, 6.0)",
            "UPDATE jobs SET state = 'done', device = 'pi', measurement_id = 7 WHERE id = 1",
        ):
            connection.exec_driver_sql(statement)
    engine.dispose()

    with open_store(f"sqlite:///{path}", default_path=tmp_path / "unused.sqlite") as store:
        (job,) = store.run("r1").jobs
        assert (job.state, job.device) == ("done", "pi")
        assert job.attempts == (Attempt(1, "pi", "done", "", "2026-01-05T10:01:00+00:00", "2026-01-05T10:02:00+00:00"),)
        assert job.measurement.samples_ms == (5.0, 6.0) and job.measurement.versions == {"runner": "1"}
        assert store.find_measurement("key-old") == job.measurement
        assert store.run("r1").args == {"runs": 50}
        # The device the old run named is in the new devices table, unknown until a health check.
        assert store.devices() == [DeviceRecord("pi", "rpi5", (), "unknown")]
        _, job_id, token, number = leased_job(store, holder="host:1")
        store.record_measurement(job_id, number, measurement(), token)
        assert store.find_measurement("key-1").samples_ms == (4.0, 5.0, 6.5)
    with engine.connect() as connection:
        assert migrations.current(connection) == "0005"
        context = MigrationContext.configure(connection, opts={"version_table": migrations.VERSION_TABLE})
        assert compare_metadata(context, metadata) == []


def test_a_store_at_revision_0003_is_upgraded_with_every_row_kept(tmp_path):
    path = tmp_path / "0003.sqlite"
    upgrade_keeps_every_row(engine_for(None, default_path=path), str(path))


def test_a_store_from_a_newer_edgeq_is_refused(tmp_path):
    path = tmp_path / "lab.sqlite"
    open_store(None, default_path=path).close()
    with engine_for(None, default_path=path).begin() as connection:
        connection.execute(text(f"UPDATE {migrations.VERSION_TABLE} SET version_num = '0099'"))
    with pytest.raises(ConfigError, match="revision 0099, newer than this edgeq knows") as info:
        open_store(None, default_path=path)
    assert "upgrade edgeq" in info.value.hint


@pytest.mark.parametrize("url, message", [
    ("mysql://lab:secret@db/results", "unsupported results store mysql://lab@db/results"),
    ("sqlite://", "names no file"),
    ("postgresql://lab:secret@db:port/results", "'postgresql://lab@db:port/results' is not a database URL"),
])
def test_bad_store_urls_are_configuration_errors_without_the_password(tmp_path, url, message):
    with pytest.raises(ConfigError, match=message) as info:
        open_store(url, default_path=tmp_path / "unused.sqlite")
    assert "secret" not in str(info.value) and info.value.exit_code == 2


def test_an_unreachable_postgresql_is_a_connect_error_naming_the_url_without_the_password(tmp_path):
    import socket
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConnectError, match="cannot reach the results store") as info:
        open_store(f"postgresql://lab:secret@127.0.0.1:{port}/results", default_path=tmp_path / "unused.sqlite")
    assert f"postgresql+psycopg://lab@127.0.0.1:{port}/results" in info.value.message
    assert "secret" not in str(info.value) and info.value.exit_code == 3
    assert "PostgreSQL runs there" in info.value.hint


# -- records in and out -----------------------------------------------------------------------------


def test_a_run_comes_back_with_its_jobs_attempts_and_measurements(store):
    run_id = store.create_run("nightly", {"models": ["mobilenet"], "runs": 50})
    job_id = store.add_job(run_id, "mobilenet", "rpi5", "int8", "pte", "int8-pte", "pi")
    token = store.acquire_lease("pi", "host:1", ttl_s=30)
    first = store.start_attempt(job_id, "pi", token)
    assert store.end_attempt(job_id, first, "infra", "ssh: connection reset", token).job_state == "queued"
    second = store.start_attempt(job_id, "pi", token)
    taken = measurement(samples=[5.25, 4.5, 6.0, 5.0], load_ms=12.5, peak_rss_mb=88.0, metric="top1_agreement",
                        quality=0.98, numerics={"cosine": 0.999, "max_abs_err": 0.01},
                        versions={"runner": "3", "torch": "2.13.0"}, conditions={"governor": "performance"})
    store.record_measurement(job_id, second, taken, token)
    store.finish_run(run_id, "finished")

    run = store.run(run_id)
    assert (run.label, run.status, run.args) == ("nightly", "finished", {"models": ["mobilenet"], "runs": 50})
    assert run.finished_at is not None
    (job,) = run.jobs
    assert (job.state, job.device, job.artifact_sha256, job.reused, job.name) == ("done", "pi", SHA, False,
                                                                                   "mobilenet/pi/int8-pte.pte")
    assert [(a.number, a.device, a.outcome, a.reason) for a in job.attempts] == [
        (1, "pi", "infra", "ssh: connection reset"), (2, "pi", "done", "")]
    assert all(a.ended_at for a in job.attempts)
    assert job.measurement == taken
    assert store.jobs_for(run_id) == [job] and store.job(job_id) == job
    assert store.latest_run("nightly") == run and store.latest_run("other") is None


def test_runs_are_listed_newest_first(store):
    ids = [store.create_run(label, {}) for label in ("a", "b", "a")]
    assert [run.id for run in store.runs()] == ids[::-1]
    assert [run.id for run in store.runs("a", limit=1)] == [ids[2]]
    assert store.runs()[0].jobs == ()


def test_an_unknown_run_names_the_store_and_is_a_usage_error(store):
    with pytest.raises(NotInStore, match=f"{store.url} has no run 'nope'") as info:
        store.run("nope")
    assert isinstance(info.value, ConfigError) and isinstance(info.value, StoreError) and info.value.exit_code == 2


def test_devices_come_in_unknown_and_keep_their_health_across_syncs(store):
    assert store.device("pi") == DeviceRecord("pi", "rpi5", ("desk",), "unknown", since=store.device("pi").since)
    store.set_health("pi", "bad", "golden model 40% slower")
    records = store.sync_devices([("pi", "rpi5-oc", ["desk", "fan"]), ("new", "pixel-8", [])])
    assert [(d.name, d.profile, d.tags, d.health, d.reason) for d in records] == [
        ("new", "pixel-8", (), "unknown", ""), ("pi", "rpi5-oc", ("desk", "fan"), "bad", "golden model 40% slower"),
        ("pi-2", "rpi5", (), "unknown", "")]
    with pytest.raises(ConfigError, match="no device 'ghost'"):
        store.device("ghost")


def test_health_checks_are_kept_and_the_golden_history_is_newest_first(store):
    for day, outcome, golden in ((1, "good", 10.0), (2, "bad", 30.0), (3, "good", 11.0), (4, "good", None)):
        store.record_health_check(HealthCheck("pi", f"2026-12-0{day}T00:00:00+00:00", outcome, "", golden))
    assert store.golden_history("pi") == [11.0, 10.0]
    assert store.golden_history("pi", limit=1) == [11.0]
    assert store.device("pi").last_check == HealthCheck("pi", "2026-12-04T00:00:00+00:00", "good", "", None)
    assert store.device("pi-2").last_check is None


def test_attempt_outcomes_count_against_the_device(store):
    for outcome in ("infra", "infra", "done", "infra", "infra", "skipped"):
        record = store.note_attempt_outcome("pi", outcome)
    assert (record.consecutive_infra, record.recent_failures) == (2, 4)
    for _ in range(12):
        record = store.note_attempt_outcome("pi", "failed")
    assert (record.consecutive_infra, record.recent_failures) == (0, 0)  # the window holds the last ten


def test_health_since_changes_with_the_health_and_only_a_release_starts_the_count_over(store):
    store.note_attempt_outcome("pi", "infra")
    quarantined = store.set_health("pi", "quarantined", "3 infra failures in a row")
    assert (quarantined.health, quarantined.consecutive_infra) == ("quarantined", 1)
    assert store.set_health("pi", "quarantined", "still").since == quarantined.since
    assert store.set_health("pi", "good").consecutive_infra == 1  # a passing health check forgives nothing
    assert store.set_health("pi", "unknown", "released", reset_infra=True).consecutive_infra == 0


def test_device_history_lists_a_variants_median_per_run_oldest_first(store):
    medians = []
    for samples, p50_ms in (([1.0, 3.0, 2.0], 2.0), ([2.0, 4.0], 3.0), ([9.0], 9.0)):
        run_id, job_id, token, number = leased_job(store)
        store.record_measurement(job_id, number, measurement(samples=samples), token)
        store.release_lease("pi", token)
        medians.append((run_id, store.run(run_id).started_at, p50_ms))
    assert store.device_history("pi", "mobilenet", "int8-pte", "pte") == medians
    assert store.device_history("pi", "mobilenet", "int8-pte", "pte", limit=2) == medians[1:]
    assert store.device_history("pi-2", "mobilenet", "int8-pte", "pte") == []


def test_an_artifact_is_kept_once_by_its_sha256(store):
    store.put_artifact(SHA, "other-name", "rpi4", "fp32-pte", "fp32", "pte", 99, {})
    with store._engine.connect() as connection:
        rows = connection.execute(select(artifacts.c.model, artifacts.c.manifest)).all()
    assert rows == [("mobilenet", {"sha256": SHA})]


# -- the schema's invariants ------------------------------------------------------------------------


def test_a_job_is_added_once_per_cell_of_a_run(store):
    run_id = store.create_run(None, {})
    first = store.add_job(run_id, "mobilenet", "rpi5", "int8", "pte", "int8-pte", "pi")
    assert store.add_job(run_id, "mobilenet", "rpi5", "int8", "pte", "int8-pte", "pi") == first
    assert store.add_job(run_id, "mobilenet", "rpi5", "int8", "pte", "int8-pte", "pi-2") != first
    assert store.add_job(store.create_run(None, {}), "mobilenet", "rpi5", "int8", "pte", "int8-pte", "pi") != first
    assert len(store.jobs_for(run_id)) == 2


def test_a_second_measurement_for_a_job_is_refused_by_the_schema(store):
    _, job_id, token, number = leased_job(store)
    store.record_measurement(job_id, number, measurement(), token)
    with pytest.raises(StoreError, match="attempt 1 already ended done"):
        store.record_measurement(job_id, number, measurement(key="key-2"), token)
    # A writer that skips the store's checks meets the unique constraint itself, even from a second attempt
    # running under the device's live lease.
    with store._engine.begin() as connection, pytest.raises(IntegrityError, match="measurements.job_id"):
        connection.execute(attempts.insert().values(job_id=job_id, number=2, device="pi", outcome="running", reason="",
                                                    started_at=AT, lease_token=token))
        connection.execute(measurements.insert().values(
            job_id=job_id, attempt_number=2, result_key="key-3", artifact_sha256=SHA, device="pi", measured_at=AT,
            size_bytes=1, sample_count=0, versions={}, conditions={}, lease_token=token))
    assert store.job(job_id).measurement.result_key == "key-1"


def test_a_job_is_not_done_without_its_measurement(store):
    job_id = store.add_job(store.create_run(None, {}), "mobilenet", "rpi5", "int8", "pte", "int8-pte", "pi")
    with pytest.raises(StoreError, match="done_has_measurement"):
        store.set_job_state(job_id, "done")
    with pytest.raises(StoreError, match="ck_jobs_state"):
        store.set_job_state(job_id, "finished-ish")
    assert store.job(job_id).state == "queued"


def test_a_job_runs_one_attempt_at_a_time_and_a_done_job_runs_no_more(store):
    _, job_id, token, number = leased_job(store)
    other = store.acquire_lease("pi-2", "host:1", ttl_s=30)
    with pytest.raises(StoreError, match="attempts.job_id"):  # uq_attempts_running_job
        store.start_attempt(job_id, "pi-2", other)
    store.record_measurement(job_id, number, measurement(), token)
    with pytest.raises(StoreError, match="the job is done, not queued"):
        store.start_attempt(job_id, "pi-2", other)


def test_an_attempt_ends_done_only_with_its_measurement(store):
    _, job_id, token, number = leased_job(store)
    with pytest.raises(StoreError, match="record_measurement"):
        store.end_attempt(job_id, number, "done", "", token)


# -- leases and fencing -----------------------------------------------------------------------------


def test_a_lease_refuses_another_holder_until_it_expires(store):
    token = store.acquire_lease("pi", "host:1", ttl_s=30)
    assert token is not None
    assert store.acquire_lease("pi", "host:2", ttl_s=30) is None
    assert [(lease.holder, lease.token) for lease in store.leases()] == [("host:1", token)]
    store.shift_clock(29)
    assert store.acquire_lease("pi", "host:2", ttl_s=30) is None
    store.shift_clock(2)
    taken = store.acquire_lease("pi", "host:2", ttl_s=30)
    assert taken > token
    assert not store.renew_lease("pi", token, ttl_s=30) and not store.release_lease("pi", token)
    assert store.renew_lease("pi", taken, ttl_s=30)


def test_a_renewed_lease_outlives_its_first_ttl(store):
    token = store.acquire_lease("pi", "host:1", ttl_s=30)
    store.shift_clock(20)
    assert store.renew_lease("pi", token, ttl_s=30)
    store.shift_clock(20)  # 40 s after it was granted for 30
    assert store.acquire_lease("pi", "host:2", ttl_s=30) is None
    assert store.release_lease("pi", token)
    assert store.acquire_lease("pi", "host:2", ttl_s=30) is not None


def test_fencing_tokens_only_grow(store):
    tokens = []
    for holder in ("a", "b", "a", "a"):
        tokens.append(store.acquire_lease("pi", holder, ttl_s=30))
        store.release_lease("pi", tokens[-1])
    tokens.append(store.acquire_lease("pi-2", "a", ttl_s=30))
    assert tokens == sorted(set(tokens))


def test_a_lease_needs_a_known_device_and_a_positive_ttl(store):
    with pytest.raises(StoreError, match="FOREIGN KEY"):
        store.acquire_lease("ghost", "host:1", ttl_s=30)
    with pytest.raises(StoreError, match="ck_leases_ttl"):
        store.acquire_lease("pi", "host:1", ttl_s=0)


def test_a_stale_token_cannot_record_a_result(store):
    _, job_id, old, number = leased_job(store, holder="host:1")
    store.shift_clock(31)  # the 30 s lease lapsed
    with pytest.raises(LeaseLost, match="lease token .* on 'pi' is no longer held"):
        store.record_measurement(job_id, number, measurement(), old)
    new = store.acquire_lease("pi", "host:2", ttl_s=30)
    for stale_write in (lambda: store.record_measurement(job_id, number, measurement(), old),
                        lambda: store.end_attempt(job_id, number, "infra", "", old),
                        lambda: store.start_attempt(job_id, "pi", old)):
        with pytest.raises(LeaseLost):
            stale_write()
    job = store.job(job_id)
    assert (job.state, job.measurement, job.attempts[0].outcome) == ("running", None, "running")
    # The new holder's token is not the attempt's: it cannot finish another holder's attempt either.
    with pytest.raises(LeaseLost, match="runs under lease token .*, not "):
        store.record_measurement(job_id, number, measurement(), new)


def test_a_new_holder_interrupts_the_attempt_orphaned_on_its_device(store):
    _, job_id, old, number = leased_job(store, holder="host:1")
    store.release_lease("pi", old)  # or lost it: the new holder cannot tell
    new = store.acquire_lease("pi", "host:2", ttl_s=30)
    other_job = store.add_job(store.create_run(None, {}), "mobilenet", "rpi5", "int8", "pte", "int8-pte", "pi")
    store.start_attempt(other_job, "pi", new)
    orphan = store.job(job_id)
    assert orphan.state == "queued" and orphan.reason.startswith("interrupted")
    assert orphan.attempts[0].outcome == "infra"


def test_a_write_around_the_store_with_a_stale_token_is_refused_by_the_database(store):
    _, job_id, old, number = leased_job(store, holder="host:1")
    store.shift_clock(31)  # the holder went silent; its lease lapsed and passed on
    new = store.acquire_lease("pi", "host:2", ttl_s=30)
    late = measurements.insert().values(job_id=job_id, attempt_number=number, result_key="late", artifact_sha256=SHA,
                                        device="pi", measured_at=AT, size_bytes=1, sample_count=0, versions={},
                                        conditions={}, lease_token=old)
    with store._engine.begin() as connection, pytest.raises(IntegrityError, match="edgeq fence: a measurement"):
        connection.execute(late)
    with store._engine.begin() as connection, pytest.raises(IntegrityError, match="edgeq fence: an attempt ends done"):
        connection.execute(update(attempts).where(attempts.c.job_id == job_id).values(outcome="done"))
    with store._engine.begin() as connection, pytest.raises(IntegrityError, match="edgeq fence: an attempt starts"):
        connection.execute(attempts.insert().values(job_id=job_id, number=number + 1, device="pi", outcome="running",
                                                    reason="", started_at=AT, lease_token=old))
    # Not even the lease's current token helps a measurement of an attempt that runs under another.
    with store._engine.begin() as connection, pytest.raises(IntegrityError, match="edgeq fence: a measurement"):
        connection.execute(late.values(lease_token=new))
    job = store.job(job_id)
    assert (job.measurement, [a.outcome for a in job.attempts]) == (None, ["running"])


def test_an_attempt_ends_once_whoever_writes(store):
    _, job_id, token, number = leased_job(store)
    store.end_attempt(job_id, number, "failed", "ExportError", token)
    with store._engine.begin() as connection, pytest.raises(IntegrityError, match="edgeq fence: an attempt ends once"):
        connection.execute(update(attempts).where(attempts.c.job_id == job_id).values(outcome="infra"))
    with pytest.raises(LeaseLost, match="already ended failed"):
        store.end_attempt(job_id, number, "infra", "reset", token)


def test_the_reaper_and_a_late_writer_cannot_both_end_an_attempt(store):
    run_id = store.create_run("shared", {"infra_retries": 2})
    store.sync_devices([("pi-2", "rpi5", [])])
    job_id = store.add_job(run_id, "mobilenet", "rpi5", "int8", "pte", "int8-pte", "pi")
    store.set_job_state(job_id, "queued", artifact_sha256=SHA)
    store.enqueue_run(run_id)
    first = store.acquire_lease("pi", "worker-a", ttl_s=30)
    claim = store.claim_job("worker-a", "pi", "rpi5", first, grace_s=30)
    store.shift_clock(31)  # worker-a stops beating (SIGSTOP); its lease lapses
    assert store.reap() == [job_id]  # the reaper ends the attempt and queues the job for any device
    second = store.acquire_lease("pi-2", "worker-b", ttl_s=30)
    retry = store.claim_job("worker-b", "pi-2", "rpi5", second, grace_s=30)
    assert retry.job.id == job_id and retry.attempt == 2
    store.record_measurement(job_id, retry.attempt, measurement(key="b", device="pi-2"), second)
    with pytest.raises(LeaseLost):  # worker-a wakes up and writes what it measured
        store.record_measurement(job_id, claim.attempt, measurement(key="a"), first)
    job = store.job(job_id)
    assert [(a.outcome, a.device) for a in job.attempts] == [("infra", "pi"), ("done", "pi-2")]
    assert job.state == "done" and job.measurement.result_key == "b"
    # worker-a takes its device back and goes on serving: nothing it left behind is in the way
    again = store.acquire_lease("pi", "worker-a", ttl_s=30)
    other = store.add_job(run_id, "resnet", "rpi5", "int8", "pte", "int8-pte", "pi")
    store.set_job_state(other, "queued", artifact_sha256=SHA)
    served = store.claim_job("worker-a", "pi", "rpi5", again, grace_s=30)
    store.record_measurement(other, served.attempt, measurement(key="a2"), again)
    with store._engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(measurements)).scalar() == 2
        assert connection.execute(select(func.count()).select_from(attempts)
                                  .where(attempts.c.outcome == "running")).scalar() == 0


# -- reuse ------------------------------------------------------------------------------------------


def test_reuse_finds_a_measurement_by_its_result_key(store):
    source_run, job_id, token, number = leased_job(store)
    taken = measurement(key="sha+pi+runner3+torch2.13")
    store.record_measurement(job_id, number, taken, token)
    assert store.find_measurement("sha+pi+runner3+torch2.13") == taken
    assert store.find_measurement("sha+pi+runner4+torch2.13") is None

    run_id = store.create_run(None, {"reuse": True})
    again = store.add_job(run_id, "mobilenet", "rpi5", "int8", "pte", "int8-pte", "pi")
    claimed = store.start_attempt(again, "pi", token)  # as a worker's claim starts it
    assert store.reuse_measurement(again, claimed, "no-such-key", token) is None
    assert store.job(again).attempts[0].outcome == "running"
    assert store.reuse_measurement(again, claimed, "sha+pi+runner3+torch2.13", token) == taken
    job = store.job(again)
    assert (job.state, job.reused, job.measurement, job.attempts, job.device) == ("done", True, taken, (), "pi")
    assert source_run in job.reason
    assert store.device_history("pi", "mobilenet", "int8-pte", "pte")[-1].run_id == source_run  # reuse is no new point


def test_an_invalid_attempts_samples_are_kept_but_never_the_jobs_result_nor_reused(store):
    _, job_id, token, number = leased_job(store)
    hot = measurement(key="hot-key", samples=(9.0, 9.5, 10.0))
    assert store.end_attempt(job_id, number, "invalid", "88 °C", token, measurement=hot).job_state == "queued"
    job = store.job(job_id)
    assert job.measurement is None and job.attempts[0].measurement == replace(hot, valid=False)
    assert store.find_measurement("hot-key") is None and store.measurements_of(SHA) == []
    cool = measurement(key="cool-key")
    store.record_measurement(job_id, store.start_attempt(job_id, "pi", token), cool, token)
    job = store.job(job_id)
    assert job.state == "done" and job.measurement == cool and job.attempts[0].measurement.samples_ms == hot.samples_ms


def test_only_an_invalid_attempt_keeps_samples_without_being_the_result(store):
    _, job_id, token, number = leased_job(store)
    with pytest.raises(StoreError, match="with a measurement"):
        store.end_attempt(job_id, number, "infra", "reset", token, measurement=measurement())
    with pytest.raises(StoreError, match="marked invalid"):
        store.record_measurement(job_id, number, measurement(valid=False), token)
    assert store.job(job_id).attempts[0].outcome == "running"


def test_a_bug_in_edgeq_counts_nothing_against_the_device(store):
    after_infra = store.note_attempt_outcome("pi", "infra")
    after_bug = store.note_attempt_outcome("pi", "error")
    assert after_bug == after_infra  # neither a failure in a row nor one that ends the row


# -- kills and recovery -----------------------------------------------------------------------------


def test_recover_requeues_what_a_killed_run_left_running(store):
    run_id, done_job, token, number = leased_job(store, holder="host:111")
    store.record_measurement(done_job, number, measurement(), token)
    running_job = store.add_job(run_id, "resnet", "rpi5", "int8", "pte", "int8-pte", "pi")
    store.start_attempt(running_job, "pi", token)
    marked_job = store.add_job(run_id, "vit", "rpi5", "int8", "pte", "int8-pte", "pi-2")
    store.set_job_state(marked_job, "running")  # killed between marking the job and starting its attempt
    live_token = store.acquire_lease("pi-2", "host:222", ttl_s=30)  # another worker, alive
    live_job = store.add_job(run_id, "bert", "rpi5", "int8", "pte", "int8-pte", "pi-2")
    store.start_attempt(live_job, "pi-2", live_token)

    assert store.recover(run_id, dead_holders={"host:111"}) == [running_job, marked_job]
    jobs = {job.id: job for job in store.jobs_for(run_id)}
    assert jobs[done_job].state == "done" and jobs[done_job].measurement is not None
    assert jobs[running_job].state == "queued"
    assert [(a.outcome, a.reason) for a in jobs[running_job].attempts] == [("infra", "interrupted")]
    assert jobs[live_job].state == "running" and jobs[live_job].attempts[-1].outcome == "running"
    assert [lease.holder for lease in store.leases()] == ["host:222"]
    # --resume runs the re-queued job once more: one measurement per job, no job twice.
    token = store.acquire_lease("pi", "host:333", ttl_s=30)
    store.record_measurement(running_job, store.start_attempt(running_job, "pi", token), measurement(key="k2"), token)
    assert [a.outcome for a in store.job(running_job).attempts] == ["infra", "done"]
    assert store.recover(run_id) == []  # the live worker's attempt is still its own


def test_recover_clears_expired_leases_and_keeps_held_ones(store):
    run_id, job_id, token, _ = leased_job(store, holder="host:1")
    store.shift_clock(31)
    assert store.recover(run_id) == [job_id]
    assert store.leases() == []


_WORKER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from edgeq.lab.records import Measurement
    from edgeq.lab.store import open_store

    store = open_store(sys.argv[1], default_path=Path("unused"))
    token = store.acquire_lease("pi", "worker:" + sys.argv[3], ttl_s=60)
    for job in store.jobs_for(sys.argv[2]):
        if job.state != "queued":
            continue
        number = store.start_attempt(job.id, "pi", token)
        time.sleep(0.01)
        store.record_measurement(job.id, number, Measurement(f"key-{job.id}", sys.argv[4], "pi",
                                 tuple(float(i) for i in range(200)), "2026-12-02T15:04:05+00:00", 1), token)
""")


def test_a_run_killed_mid_write_and_resumed_records_every_job_exactly_once(store, tmp_path):
    run_id = store.create_run("killed", {})
    job_ids = [store.add_job(run_id, f"model-{i}", "rpi5", "int8", "pte", "int8-pte", "pi") for i in range(40)]
    worker = subprocess.Popen([sys.executable, "-c", _WORKER, store.url, run_id, "1", SHA], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while sum(job.state == "done" for job in store.jobs_for(run_id)) < 5:
        assert worker.poll() is None and time.monotonic() < deadline, worker.stderr.read().decode()
        time.sleep(0.01)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()

    store.recover(run_id, dead_holders={"worker:1"})
    resumed = subprocess.run([sys.executable, "-c", _WORKER, store.url, run_id, "2", SHA], capture_output=True,
                             text=True)
    assert resumed.returncode == 0, resumed.stderr
    jobs = store.jobs_for(run_id)
    assert [job.id for job in jobs] == job_ids
    assert all(job.state == "done" and len(job.measurement.samples_ms) == 200 for job in jobs)
    assert all([a.outcome for a in job.attempts][-1] == "done" and
               [a.outcome for a in job.attempts].count("done") == 1 for job in jobs)
    with store._engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        assert connection.execute(select(func.count()).select_from(measurements)).scalar() == 40
        assert connection.execute(select(func.count()).select_from(latency_samples)).scalar() == 40 * 200


# -- threads ----------------------------------------------------------------------------------------


def test_threads_writing_at_once_lose_nothing(store):
    threads, writes = 8, 20
    store.sync_devices([(f"dev-{t}", "rpi5", []) for t in range(threads)])
    run_id = store.create_run("parallel", {})
    errors = []

    def worker(index: int) -> None:
        try:
            device = f"dev-{index}"
            token = store.acquire_lease(device, f"thread:{index}", ttl_s=60)
            for write in range(writes):
                job_id = store.add_job(run_id, f"model-{write}", "rpi5", "int8", "pte", "int8-pte", device)
                number = store.start_attempt(job_id, device, token)
                store.record_measurement(job_id, number, measurement(key=f"{device}-{write}", device=device,
                                                                     samples=[float(write)] * 50), token)
                store.note_attempt_outcome("pi", "infra")  # every thread on one row: no update may be lost
        except Exception as exc:  # noqa: BLE001 - reported below, with the thread that raised it
            errors.append((index, exc))

    pool = [threading.Thread(target=worker, args=(index,)) for index in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    assert errors == []
    jobs = store.jobs_for(run_id)
    assert len(jobs) == threads * writes and all(job.state == "done" for job in jobs)
    keys = {job.measurement.result_key for job in jobs}
    assert keys == {f"dev-{t}-{w}" for t in range(threads) for w in range(writes)}
    assert store.device("pi").consecutive_infra == threads * writes
