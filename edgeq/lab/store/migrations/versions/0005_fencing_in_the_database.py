"""The database keeps the lab's promises itself, and tests own its clock.

Every attempt and measurement carries the lease token it ran under (``NOT NULL``; rows from before leases
get token 0, a token never granted), and triggers (``edgeq.lab.store.rules``) refuse an attempt started, a
measurement kept or an attempt ended ``done`` without the device's live lease, and an attempt ended twice —
whoever writes. ``lab_clock`` holds the offset tests add to the database's clock.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from edgeq.lab.store import rules

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lab_clock",
        sa.Column("id", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("offset_s", sa.Float, nullable=False, server_default=sa.text("0")),
        sa.CheckConstraint("id = 1", name=op.f("ck_lab_clock_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lab_clock")),
    )
    for table in ("attempts", "measurements"):
        op.execute(f"UPDATE {table} SET lease_token = 0 WHERE lease_token IS NULL")
        with op.batch_alter_table(table) as batch:
            batch.alter_column("lease_token", existing_type=sa.BigInteger, nullable=False)
    rules.create(op.get_bind())  # after the rebuilds: SQLite drops a rebuilt table's triggers


def downgrade() -> None:
    rules.drop(op.get_bind())
    for table in ("measurements", "attempts"):
        with op.batch_alter_table(table) as batch:
            batch.alter_column("lease_token", existing_type=sa.BigInteger, nullable=True)
    op.drop_table("lab_clock")
