"""The results store's tables, as SQLAlchemy Core: one schema for SQLite and PostgreSQL.

This is the schema at the head revision; ``migrations/`` builds it revision by revision, and a test keeps
the two equal. The lab's invariants live here as constraints, not as checks in Python, so a bug in a
worker cannot break them:

- one lease row per device (primary key), its token one the device was granted (``lease_grants``, whose
  autoincrementing key is the monotonic fencing counter);
- one job per cell of a run's matrix (``uq_jobs_cell``), so a resumed run does not add jobs twice;
- one running attempt per job, and one running leased attempt per device (partial unique indexes);
- one valid measurement per job (a partial unique index on ``measurements.job_id``) and one measurement per
  attempt; an ``invalid`` attempt's samples are kept as a measurement marked ``valid = false``;
- no job ``done`` without its measurement (a check);
- states are the values ``edgeq.lab.records`` names (checks);
- every attempt and measurement carries the lease token it ran under, and triggers (``rules.py``) refuse an
  attempt started, a measurement kept or an attempt ended ``done`` without its device's live lease, and an
  attempt ended twice.

Times the records carry are ISO-8601 strings in UTC, as in ``records.py``; lease times are seconds on the
database's clock (``*_at_s``), the one clock every worker host shares.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON, BigInteger, Boolean, CheckConstraint, Column, Float, ForeignKey, ForeignKeyConstraint, Index, Integer,
    MetaData, String, Table, Text, UniqueConstraint, false, text, true,
)

from edgeq.lab.records import FINAL_STATES, HEALTH_STATES, JOB_STATES, RUN_STATES

# Constraint names are part of the schema: migrations and error messages refer to them.
metadata = MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})

# SQLite gives an autoincrementing key only to a column declared exactly INTEGER PRIMARY KEY.
_BigId = BigInteger().with_variant(Integer(), "sqlite")
_Time = String(40)  # ISO-8601, UTC
_Sha256 = String(64)
_Name = String(200)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


ATTEMPT_OUTCOMES = ("running", *FINAL_STATES)
CHECK_OUTCOMES = ("good", "bad")

runs = Table(
    "runs", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),  # the order runs were created in
    Column("id", String(16), nullable=False, unique=True),
    Column("label", _Name),
    Column("started_at", _Time, nullable=False),
    Column("finished_at", _Time),
    Column("status", String(16), nullable=False),
    Column("args", JSON, nullable=False),
    # submitted to the shared queue (``edgeq lab submit``): workers take its jobs; else one process runs it
    Column("queued", Boolean, nullable=False, server_default=false()),
    CheckConstraint(_one_of("status", RUN_STATES), name="status"),
)

artifacts = Table(
    "artifacts", metadata,
    Column("sha256", _Sha256, primary_key=True),
    Column("model", _Name, nullable=False),
    Column("profile", _Name, nullable=False),
    Column("variant", _Name, nullable=False),
    Column("scheme", _Name, nullable=False),
    Column("format", String(16), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("manifest", JSON, nullable=False),
    Column("created_at", _Time, nullable=False),
    CheckConstraint("length(sha256) = 64", name="sha256"),
)

jobs = Table(
    "jobs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("model", _Name, nullable=False),
    Column("profile", _Name, nullable=False),
    Column("scheme", _Name, nullable=False),
    Column("format", String(16), nullable=False),
    Column("variant", _Name, nullable=False),
    Column("planned_device", _Name, nullable=False),
    Column("state", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("device", _Name),
    Column("artifact_sha256", ForeignKey("artifacts.sha256"), nullable=True),
    # The measurement this job reports: its own, or, when ``reused``, one an earlier job took.
    Column("measurement_id", Integer, nullable=True),
    Column("reused", Boolean, nullable=False),
    # lost its device (worker gone, device quarantined): any device of its profile may take it
    Column("moved", Boolean, nullable=False, server_default=false()),
    Column("queued_at_s", Float),  # when it last entered the queue, on the database's clock
    ForeignKeyConstraint(["measurement_id"], ["measurements.id"], ondelete="SET NULL", use_alter=True),
    UniqueConstraint("run_id", "model", "profile", "scheme", "format", "planned_device", name="uq_jobs_cell"),
    CheckConstraint(_one_of("state", JOB_STATES), name="state"),
    CheckConstraint("state <> 'done' OR measurement_id IS NOT NULL", name="done_has_measurement"),
    CheckConstraint("measurement_id IS NOT NULL OR NOT reused", name="reused_has_measurement"),
)
Index("ix_jobs_state_profile_planned_device", jobs.c.state, jobs.c.profile, jobs.c.planned_device)

attempts = Table(
    "attempts", metadata,
    Column("job_id", ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
    Column("number", Integer, primary_key=True, autoincrement=False),
    Column("device", _Name, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("started_at", _Time, nullable=False),
    Column("ended_at", _Time),
    Column("lease_token", BigInteger, nullable=False),  # the device's lease it ran under (0: older than leases)
    Column("worker", _Name),  # the ``edgeq lab worker`` that claimed it; NULL in a one-host run
    Column("started_at_s", Float),  # the database's clock, for queue times
    Column("traceback", Text),  # an ``error`` attempt's traceback: the bug in edgeq it met
    CheckConstraint("number >= 1", name="number"),
    CheckConstraint(_one_of("outcome", ATTEMPT_OUTCOMES), name="outcome"),
)
Index("uq_attempts_running_job", attempts.c.job_id, unique=True,
      sqlite_where=text("outcome = 'running'"), postgresql_where=text("outcome = 'running'"))
Index("uq_attempts_running_device", attempts.c.device, unique=True,
      sqlite_where=text("outcome = 'running' AND lease_token IS NOT NULL"),
      postgresql_where=text("outcome = 'running' AND lease_token IS NOT NULL"))  # always true since 0005

measurements = Table(
    "measurements", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    Column("attempt_number", Integer, nullable=False),
    Column("result_key", String(64), nullable=False, index=True),
    Column("artifact_sha256", ForeignKey("artifacts.sha256"), nullable=False),
    Column("device", _Name, nullable=False),
    Column("measured_at", _Time, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("sample_count", Integer, nullable=False),
    Column("p50_ms", Float),  # the samples' median, kept for history queries
    Column("load_ms", Float),
    Column("peak_rss_mb", Float),
    Column("metric", String(32)),
    Column("quality", Float),
    Column("numerics", JSON(none_as_null=True)),
    Column("versions", JSON, nullable=False),
    Column("conditions", JSON, nullable=False),
    Column("lease_token", BigInteger, nullable=False),  # the lease it was written under (0: older than leases)
    # false: an ``invalid`` attempt's (too hot, governor changed): kept and reported, never a job's result
    Column("valid", Boolean, nullable=False, server_default=true()),
    ForeignKeyConstraint(["job_id", "attempt_number"], ["attempts.job_id", "attempts.number"], ondelete="CASCADE"),
    UniqueConstraint("job_id", "attempt_number"),
    CheckConstraint("sample_count >= 0", name="sample_count"),
)
Index("uq_measurements_job_id", measurements.c.job_id, unique=True,
      sqlite_where=text("valid"), postgresql_where=text("valid"))

latency_samples = Table(
    "latency_samples", metadata,
    Column("measurement_id", ForeignKey("measurements.id", ondelete="CASCADE"), primary_key=True),
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("latency_ms", Float, nullable=False),
)

devices = Table(
    "devices", metadata,
    Column("name", _Name, primary_key=True),
    Column("profile", _Name, nullable=False),
    Column("tags", JSON, nullable=False),
    Column("health", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("since", _Time),
    Column("consecutive_infra", Integer, nullable=False),
    Column("recent_outcomes", JSON, nullable=False),  # the outcomes of its last attempts, newest first
    CheckConstraint(_one_of("health", HEALTH_STATES), name="health"),
    CheckConstraint("consecutive_infra >= 0", name="consecutive_infra"),
)

health_checks = Table(
    "health_checks", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("device", ForeignKey("devices.name"), nullable=False),
    Column("at", _Time, nullable=False),
    Column("outcome", String(8), nullable=False),
    Column("reason", Text, nullable=False),
    Column("golden_p50_ms", Float),
    CheckConstraint(_one_of("outcome", CHECK_OUTCOMES), name="outcome"),
)
Index("ix_health_checks_device_id", health_checks.c.device, health_checks.c.id)

lease_grants = Table(
    "lease_grants", metadata,
    Column("token", _BigId, primary_key=True, autoincrement=True),  # the fencing counter: never reused
    Column("device", ForeignKey("devices.name"), nullable=False),
    Column("holder", _Name, nullable=False),
    Column("granted_at_s", Float, nullable=False),
    UniqueConstraint("device", "token", name="uq_lease_grants_device_token"),
    sqlite_autoincrement=True,
)

leases = Table(
    "leases", metadata,
    Column("device", ForeignKey("devices.name"), primary_key=True),  # one lease per device
    Column("token", BigInteger, nullable=False, unique=True),
    Column("holder", _Name, nullable=False),
    Column("acquired_at_s", Float, nullable=False),
    Column("expires_at_s", Float, nullable=False),
    ForeignKeyConstraint(["device", "token"], ["lease_grants.device", "lease_grants.token"]),
    CheckConstraint("expires_at_s > acquired_at_s", name="ttl"),
)

workers = Table(
    "workers", metadata,
    Column("name", _Name, primary_key=True),  # host:pid:random, unique per process
    Column("host", _Name, nullable=False),
    Column("pid", Integer, nullable=False),
    Column("devices", JSON, nullable=False),
    Column("started_at", _Time, nullable=False),
    Column("heartbeat_at_s", Float, nullable=False),  # the database's clock
    Column("stopped_at", _Time),
)

lab_clock = Table(
    "lab_clock", metadata,
    # One row: seconds added to the database's clock, which decides every lease. Always 0 in a lab; tests that
    # own their clock move it (``Store.shift_clock``) instead of waiting for real time to pass.
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("offset_s", Float, nullable=False, server_default=text("0")),
    CheckConstraint("id = 1", name="one_row"),
)
