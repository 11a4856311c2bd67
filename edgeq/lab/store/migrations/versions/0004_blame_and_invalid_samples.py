"""Outcomes that blame the right party, and every sample kept.

A job or attempt may end ``error``: a bug in edgeq, never the device's fault; the attempt keeps the traceback.
An ``invalid`` attempt's samples are kept as a measurement marked ``valid = false``: a job has at most one
valid measurement (its result) and an attempt at most one measurement.

SQLite cannot change a CHECK or UNIQUE constraint in place, so ``jobs``, ``attempts`` and ``measurements``
are rebuilt with their rows (``migrations.upgrade`` turns SQLite's foreign-key actions off meanwhile, so
rebuilding a table does not cascade into the rows that refer to it); PostgreSQL alters them.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

OLD_FINAL_STATES = ("done", "failed", "timeout", "infra", "invalid", "skipped")
NEW_FINAL_STATES = ("done", "failed", "timeout", "infra", "invalid", "error", "skipped")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def _states(final: tuple[str, ...]) -> None:
    """The job states and attempt outcomes the checks allow, with ``final`` as the ways to end."""
    for table, column, before in (("jobs", "state", ("queued", "running")), ("attempts", "outcome", ("running",))):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(op.f(f"ck_{table}_{column}"), type_="check")
            batch.create_check_constraint(op.f(f"ck_{table}_{column}"), _one_of(column, (*before, *final)))


def upgrade() -> None:
    _states(NEW_FINAL_STATES)
    with op.batch_alter_table("attempts") as batch:
        batch.add_column(sa.Column("traceback", sa.Text))
    with op.batch_alter_table("measurements") as batch:
        batch.add_column(sa.Column("valid", sa.Boolean, nullable=False, server_default=sa.true()))
        batch.drop_constraint(op.f("uq_measurements_job_id"), type_="unique")
        batch.create_unique_constraint(op.f("uq_measurements_job_id_attempt_number"), ["job_id", "attempt_number"])
    op.create_index(op.f("uq_measurements_job_id"), "measurements", ["job_id"], unique=True,
                    sqlite_where=sa.text("valid"), postgresql_where=sa.text("valid"))


def downgrade() -> None:
    # The older schema holds neither: a bug's jobs read as failed (never retried, as before), and only the
    # valid measurements stay (their samples go with the invalid ones).
    op.execute("UPDATE jobs SET state = 'failed' WHERE state = 'error'")
    op.execute("UPDATE attempts SET outcome = 'failed' WHERE outcome = 'error'")
    op.execute("DELETE FROM latency_samples WHERE measurement_id IN (SELECT id FROM measurements WHERE NOT valid)")
    op.execute("DELETE FROM measurements WHERE NOT valid")
    op.drop_index(op.f("uq_measurements_job_id"), "measurements")
    with op.batch_alter_table("measurements") as batch:
        batch.drop_constraint(op.f("uq_measurements_job_id_attempt_number"), type_="unique")
        batch.create_unique_constraint(op.f("uq_measurements_job_id"), ["job_id"])
        batch.drop_column("valid")
    with op.batch_alter_table("attempts") as batch:
        batch.drop_column("traceback")
    _states(OLD_FINAL_STATES)
