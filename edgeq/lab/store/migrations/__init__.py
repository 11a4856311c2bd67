"""The results store's Alembic migrations, run from code: users need no ``alembic.ini``.

``upgrade(engine)`` brings a store to this edgeq's head revision: an empty database is built from the first
revision up, an older store is migrated in place with its rows kept. ``current`` and ``known`` let
``open_store`` refuse a store written by a newer edgeq. A new revision goes in ``versions/``, named
``NNNN_what.py`` with ``revision = "NNNN"``; ``alembic.command.revision(config(), "what", rev_id="NNNN")``
writes the skeleton.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, text

from edgeq.errors import InternalError

VERSION_TABLE = "edgeq_lab_version"  # not alembic_version: a PostgreSQL database may hold other apps' migrations
# A connection execution option: its transaction writes, so SQLite takes the write lock at BEGIN (IMMEDIATE),
# not halfway through, where a busy database fails at once instead of waiting.
WRITE_TRANSACTION = "edgeq_write"
_LOCK_KEY = 0x6564_6765_716C  # pg_advisory_xact_lock key: one upgrade at a time on a PostgreSQL store
_DIR = Path(__file__).parent


def config(connection: Connection | None = None) -> Config:
    """An Alembic configuration for the store's scripts, migrating ``connection``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_DIR))
    cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    """The newest revision this edgeq knows."""
    return ScriptDirectory.from_config(config()).get_current_head() or ""


def known(revision: str) -> bool:
    """Whether ``revision`` is one of this edgeq's (a store at an unknown one was written by a newer edgeq)."""
    try:
        return ScriptDirectory.from_config(config()).get_revision(revision) is not None
    except CommandError:
        return False


def current(connection: Connection) -> str | None:
    """The revision the store is at; None for a database edgeq never wrote to."""
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the store to ``revision`` in one transaction: all of it is applied, or none."""
    with _migrating(engine) as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        command.upgrade(config(connection), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Migrate the store back to ``revision``, for tests of the migrations and for going back a release."""
    with _migrating(engine) as connection:
        command.downgrade(config(connection), revision)


@contextmanager
def _migrating(engine: Engine) -> Iterator[Connection]:
    """A write transaction for the revisions. On SQLite, foreign-key actions are off while it runs (SQLite's own
    recipe for changing a table: a rebuilt table is dropped first, and ``ON DELETE CASCADE`` would empty the
    tables that refer to it) and the references are checked before it commits."""
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:  # on the driver's connection: a PRAGMA inside a transaction does nothing
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
        try:
            connection.execution_options(**{WRITE_TRANSACTION: True})
            with connection.begin():
                yield connection
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        raise InternalError(f"a migration of the results store broke {len(broken)} reference(s), "
                                            f"the first in table {broken[0][0]}; nothing was changed")
        finally:
            if sqlite:
                connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")
