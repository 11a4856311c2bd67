"""A queue shared by workers on several hosts: submitted runs, workers and their heartbeats, queue times.

Runs made by ``edgeq lab run`` keep running in their own process (``queued`` false); runs made by
``edgeq lab submit`` are taken job by job by ``edgeq lab worker`` processes. A job that lost its device
(its worker died, or the device was quarantined) is ``moved``: any device of its profile may take it.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("queued", sa.Boolean, nullable=False, server_default=sa.false()))
    op.add_column("jobs", sa.Column("moved", sa.Boolean, nullable=False, server_default=sa.false()))
    op.add_column("jobs", sa.Column("queued_at_s", sa.Float))
    op.add_column("attempts", sa.Column("worker", sa.String(200)))
    op.add_column("attempts", sa.Column("started_at_s", sa.Float))
    op.create_index(op.f("ix_jobs_state_profile_planned_device"), "jobs", ["state", "profile", "planned_device"])
    op.create_table(
        "workers",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("host", sa.String(200), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("devices", sa.JSON, nullable=False),
        sa.Column("started_at", sa.String(40), nullable=False),
        sa.Column("heartbeat_at_s", sa.Float, nullable=False),
        sa.Column("stopped_at", sa.String(40)),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_workers")),
    )


def downgrade() -> None:
    op.drop_table("workers")
    op.drop_index(op.f("ix_jobs_state_profile_planned_device"), "jobs")
    for table, column in (("attempts", "started_at_s"), ("attempts", "worker"), ("jobs", "queued_at_s"),
                          ("jobs", "moved"), ("runs", "queued")):
        op.drop_column(table, column)
