"""The first schema: runs, their jobs and attempts, measurements with their latency samples, artifacts.

Revision ID: 0001
Revises: -
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

RUN_STATES = ("running", "finished", "interrupted")
JOB_STATES = ("queued", "running", "done", "failed", "timeout", "infra", "invalid", "skipped")
ATTEMPT_OUTCOMES = ("running", "done", "failed", "timeout", "infra", "invalid", "skipped")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.create_table(
        "runs",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(16), nullable=False),
        sa.Column("label", sa.String(200)),
        sa.Column("started_at", sa.String(40), nullable=False),
        sa.Column("finished_at", sa.String(40)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("args", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_runs")),
        sa.UniqueConstraint("id", name=op.f("uq_runs_id")),
        sa.CheckConstraint(_one_of("status", RUN_STATES), name=op.f("ck_runs_status")),
    )
    op.create_table(
        "artifacts",
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("profile", sa.String(200), nullable=False),
        sa.Column("variant", sa.String(200), nullable=False),
        sa.Column("scheme", sa.String(200), nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("manifest", sa.JSON, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_artifacts")),
        sa.CheckConstraint("length(sha256) = 64", name=op.f("ck_artifacts_sha256")),
    )
    # jobs.measurement_id and measurements.job_id point at each other: SQLite takes the reference to a table
    # that does not exist yet; PostgreSQL gets it once both tables do.
    job_measurement = sa.ForeignKeyConstraint(["measurement_id"], ["measurements.id"], ondelete="SET NULL",
                                              name=op.f("fk_jobs_measurement_id_measurements"))
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer, autoincrement=True),
        sa.Column("run_id", sa.String(16), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("profile", sa.String(200), nullable=False),
        sa.Column("scheme", sa.String(200), nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("variant", sa.String(200), nullable=False),
        sa.Column("planned_device", sa.String(200), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("device", sa.String(200)),
        sa.Column("artifact_sha256", sa.String(64)),
        sa.Column("measurement_id", sa.Integer),
        sa.Column("reused", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE", name=op.f("fk_jobs_run_id_runs")),
        sa.ForeignKeyConstraint(["artifact_sha256"], ["artifacts.sha256"],
                                name=op.f("fk_jobs_artifact_sha256_artifacts")),
        *([job_measurement] if sqlite else []),
        sa.UniqueConstraint("run_id", "model", "profile", "scheme", "format", "planned_device",
                            name=op.f("uq_jobs_cell")),
        sa.CheckConstraint(_one_of("state", JOB_STATES), name=op.f("ck_jobs_state")),
        sa.CheckConstraint("state <> 'done' OR measurement_id IS NOT NULL", name=op.f("ck_jobs_done_has_measurement")),
        sa.CheckConstraint("measurement_id IS NOT NULL OR NOT reused", name=op.f("ck_jobs_reused_has_measurement")),
    )
    op.create_table(
        "attempts",
        sa.Column("job_id", sa.Integer, nullable=False),
        sa.Column("number", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("device", sa.String(200), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("started_at", sa.String(40), nullable=False),
        sa.Column("ended_at", sa.String(40)),
        sa.PrimaryKeyConstraint("job_id", "number", name=op.f("pk_attempts")),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="CASCADE", name=op.f("fk_attempts_job_id_jobs")),
        sa.CheckConstraint("number >= 1", name=op.f("ck_attempts_number")),
        sa.CheckConstraint(_one_of("outcome", ATTEMPT_OUTCOMES), name=op.f("ck_attempts_outcome")),
    )
    op.create_index(op.f("uq_attempts_running_job"), "attempts", ["job_id"], unique=True,
                    sqlite_where=sa.text("outcome = 'running'"), postgresql_where=sa.text("outcome = 'running'"))
    op.create_table(
        "measurements",
        sa.Column("id", sa.Integer, autoincrement=True),
        sa.Column("job_id", sa.Integer, nullable=False),
        sa.Column("attempt_number", sa.Integer, nullable=False),
        sa.Column("result_key", sa.String(64), nullable=False),
        sa.Column("artifact_sha256", sa.String(64), nullable=False),
        sa.Column("device", sa.String(200), nullable=False),
        sa.Column("measured_at", sa.String(40), nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("sample_count", sa.Integer, nullable=False),
        sa.Column("p50_ms", sa.Float),
        sa.Column("load_ms", sa.Float),
        sa.Column("peak_rss_mb", sa.Float),
        sa.Column("metric", sa.String(32)),
        sa.Column("quality", sa.Float),
        sa.Column("numerics", sa.JSON(none_as_null=True)),
        sa.Column("versions", sa.JSON, nullable=False),
        sa.Column("conditions", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_measurements")),
        sa.UniqueConstraint("job_id", name=op.f("uq_measurements_job_id")),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="CASCADE", name=op.f("fk_measurements_job_id_jobs")),
        sa.ForeignKeyConstraint(["job_id", "attempt_number"], ["attempts.job_id", "attempts.number"],
                                ondelete="CASCADE", name=op.f("fk_measurements_job_id_attempt_number_attempts")),
        sa.ForeignKeyConstraint(["artifact_sha256"], ["artifacts.sha256"],
                                name=op.f("fk_measurements_artifact_sha256_artifacts")),
        sa.CheckConstraint("sample_count >= 0", name=op.f("ck_measurements_sample_count")),
    )
    op.create_index(op.f("ix_measurements_result_key"), "measurements", ["result_key"])
    op.create_table(
        "latency_samples",
        sa.Column("measurement_id", sa.Integer, nullable=False),
        sa.Column("idx", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("measurement_id", "idx", name=op.f("pk_latency_samples")),
        sa.ForeignKeyConstraint(["measurement_id"], ["measurements.id"], ondelete="CASCADE",
                                name=op.f("fk_latency_samples_measurement_id_measurements")),
    )
    if not sqlite:
        op.create_foreign_key(job_measurement.name, "jobs", "measurements", ["measurement_id"], ["id"],
                              ondelete="SET NULL")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(op.f("fk_jobs_measurement_id_measurements"), "jobs", type_="foreignkey")
    for table in ("latency_samples", "measurements", "attempts", "jobs", "artifacts", "runs"):
        op.drop_table(table)
