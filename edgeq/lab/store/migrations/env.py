"""Alembic's entry point for the store's migrations; ``edgeq.lab.store.migrations.upgrade`` runs it."""

from alembic import context

from edgeq.errors import InternalError
from edgeq.lab.store.migrations import VERSION_TABLE
from edgeq.lab.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None or context.is_offline_mode():
    raise InternalError("the store's migrations run on a connection: call edgeq.lab.store.migrations.upgrade(engine)")
# The caller holds the transaction (and, on PostgreSQL, the upgrade lock); the revisions run inside it.
# target_metadata is for autogenerate only: revisions name every constraint themselves (op.f).
context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()
