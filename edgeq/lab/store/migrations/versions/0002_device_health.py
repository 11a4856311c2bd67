"""Device health and leases: devices, their health checks, fenced leases; attempts and measurements carry the token.

Devices named by earlier runs are added as ``unknown``, so each runs a health check before its next job.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

HEALTH_STATES = ("good", "unknown", "bad", "quarantined", "retired")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def upgrade() -> None:
    devices = op.create_table(
        "devices",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("profile", sa.String(200), nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("health", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("since", sa.String(40)),
        sa.Column("consecutive_infra", sa.Integer, nullable=False),
        sa.Column("recent_outcomes", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_devices")),
        sa.CheckConstraint(_one_of("health", HEALTH_STATES), name=op.f("ck_devices_health")),
        sa.CheckConstraint("consecutive_infra >= 0", name=op.f("ck_devices_consecutive_infra")),
    )
    op.create_table(
        "health_checks",
        sa.Column("id", sa.Integer, autoincrement=True),
        sa.Column("device", sa.String(200), nullable=False),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("outcome", sa.String(8), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("golden_p50_ms", sa.Float),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_health_checks")),
        sa.ForeignKeyConstraint(["device"], ["devices.name"], name=op.f("fk_health_checks_device_devices")),
        sa.CheckConstraint("outcome IN ('good', 'bad')", name=op.f("ck_health_checks_outcome")),
    )
    op.create_index(op.f("ix_health_checks_device_id"), "health_checks", ["device", "id"])
    op.create_table(
        "lease_grants",
        # The fencing counter. SQLite's AUTOINCREMENT never hands out a number twice, even after deletes.
        sa.Column("token", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True),
        sa.Column("device", sa.String(200), nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("granted_at_s", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_lease_grants")),
        sa.ForeignKeyConstraint(["device"], ["devices.name"], name=op.f("fk_lease_grants_device_devices")),
        sa.UniqueConstraint("device", "token", name=op.f("uq_lease_grants_device_token")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "leases",
        sa.Column("device", sa.String(200), nullable=False),
        sa.Column("token", sa.BigInteger, nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("acquired_at_s", sa.Float, nullable=False),
        sa.Column("expires_at_s", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("device", name=op.f("pk_leases")),
        sa.UniqueConstraint("token", name=op.f("uq_leases_token")),
        sa.ForeignKeyConstraint(["device"], ["devices.name"], name=op.f("fk_leases_device_devices")),
        sa.ForeignKeyConstraint(["device", "token"], ["lease_grants.device", "lease_grants.token"],
                                name=op.f("fk_leases_device_token_lease_grants")),
        sa.CheckConstraint("expires_at_s > acquired_at_s", name=op.f("ck_leases_ttl")),
    )
    # Plain ADD COLUMNs: SQLite keeps the tables (and their partial indexes) as they are.
    op.add_column("attempts", sa.Column("lease_token", sa.BigInteger))
    op.add_column("measurements", sa.Column("lease_token", sa.BigInteger))
    op.create_index(op.f("uq_attempts_running_device"), "attempts", ["device"], unique=True,
                    sqlite_where=sa.text("outcome = 'running' AND lease_token IS NOT NULL"),
                    postgresql_where=sa.text("outcome = 'running' AND lease_token IS NOT NULL"))

    jobs = sa.table("jobs", sa.column("id"), sa.column("planned_device"), sa.column("device"), sa.column("profile"))
    profiles: dict[str, str] = {}
    for planned, device, profile in op.get_bind().execute(
            sa.select(jobs.c.planned_device, jobs.c.device, jobs.c.profile).order_by(jobs.c.id)):
        for name in (planned, device):
            if name:
                profiles.setdefault(name, profile)
    op.bulk_insert(devices, [
        {"name": name, "profile": profile, "tags": [], "health": "unknown", "reason": "", "since": None,
         "consecutive_infra": 0, "recent_outcomes": []}
        for name, profile in sorted(profiles.items())
    ])


def downgrade() -> None:
    op.drop_index(op.f("uq_attempts_running_device"), "attempts")
    op.drop_column("measurements", "lease_token")
    op.drop_column("attempts", "lease_token")
    for table in ("leases", "lease_grants", "health_checks", "devices"):
        op.drop_table(table)
