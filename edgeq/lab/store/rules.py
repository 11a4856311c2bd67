"""The promises the database keeps by itself, on SQLite and PostgreSQL alike: triggers, so that a writer that
goes around ``Store`` (a script, a bug, a worker presumed dead that wakes up) cannot break them.

- an attempt starts only under its device's live lease (the token it carries is the lease's, unexpired);
- a measurement is kept only from an attempt still running under its device's live lease, on that device;
- an attempt ends ``done`` only under its device's live lease, ends once, and keeps the token it ran under.

"Live" is read on the database's clock (``now_s``), the one clock every worker host shares, moved by
``lab_clock.offset_s`` in tests that own their clock. A refusal raises an integrity error whose message
starts with ``FENCE``; ``Store`` turns it into ``LeaseLost``. On PostgreSQL the triggers lock the lease row
they read (``FOR SHARE``) until the write commits, so the lease cannot pass on in between.

SQLite drops a table's triggers when a migration rebuilds the table (``batch_alter_table``): a revision that
rebuilds ``attempts`` or ``measurements`` calls ``create`` again afterwards.
"""

from __future__ import annotations

from sqlalchemy import Connection, event, text

from edgeq.lab.store.schema import metadata

FENCE = "edgeq fence"

_SQLITE_NOW_S = ("((julianday('now') - 2440587.5) * 86400.0 "
                 "+ COALESCE((SELECT offset_s FROM lab_clock WHERE id = 1), 0.0))")
_POSTGRESQL_NOW_S = "edgeq_now_s()"  # in the triggers; statements inline it (``now_s``)
_POSTGRESQL_NOW_S_INLINE = ("(CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION) "
                            "+ COALESCE((SELECT offset_s FROM lab_clock WHERE id = 1), 0))")

# (name, table, timing and event, condition under which the write is refused, why)
_RULES = (
    ("edgeq_attempt_needs_live_lease", "attempts", "BEFORE INSERT",
     "NOT EXISTS (SELECT 1 FROM leases WHERE leases.device = NEW.device AND leases.token = NEW.lease_token "
     "AND leases.expires_at_s > {now}{lock})",
     "an attempt starts only under its device's live lease"),
    ("edgeq_measurement_needs_live_lease", "measurements", "BEFORE INSERT",
     "NOT EXISTS (SELECT 1 FROM attempts JOIN leases ON leases.device = attempts.device "
     "AND leases.token = attempts.lease_token WHERE attempts.job_id = NEW.job_id "
     "AND attempts.number = NEW.attempt_number AND attempts.outcome = 'running' "
     "AND attempts.lease_token = NEW.lease_token AND attempts.device = NEW.device "
     "AND leases.expires_at_s > {now}{lock_leases})",
     "a measurement is kept only from the attempt running under its device's live lease"),
    ("edgeq_attempt_ends_once", "attempts", "BEFORE UPDATE",
     "(OLD.outcome <> 'running' AND NEW.outcome <> OLD.outcome) OR NEW.lease_token <> OLD.lease_token",
     "an attempt ends once and keeps the lease token it ran under"),
    ("edgeq_done_needs_live_lease", "attempts", "BEFORE UPDATE",
     "NEW.outcome = 'done' AND OLD.outcome = 'running' AND NOT EXISTS (SELECT 1 FROM leases "
     "WHERE leases.device = OLD.device AND leases.token = OLD.lease_token AND leases.expires_at_s > {now}{lock})",
     "an attempt ends done only under its device's live lease"),
)


def now_s(dialect: str) -> str:
    """SQL for the database's clock in seconds since the epoch, test offset included (inlined, so that the
    planner sees an expression, not a function call per row)."""
    return _POSTGRESQL_NOW_S_INLINE if dialect == "postgresql" else _SQLITE_NOW_S


def create(connection: Connection) -> None:
    """Install the rules (and, on PostgreSQL, the clock function they read) and the clock's one row."""
    connection.execute(text("INSERT INTO lab_clock (id, offset_s) SELECT 1, 0 "
                            "WHERE NOT EXISTS (SELECT 1 FROM lab_clock WHERE id = 1)"))
    for statement in _statements(connection.dialect.name):
        connection.exec_driver_sql(statement)


def drop(connection: Connection) -> None:
    postgresql = connection.dialect.name == "postgresql"
    for name, table, _, _, _ in _RULES:
        connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if postgresql else ""))
        if postgresql:
            connection.exec_driver_sql(f"DROP FUNCTION IF EXISTS {name}()")
    if postgresql:
        connection.exec_driver_sql("DROP FUNCTION IF EXISTS edgeq_now_s()")


def _statements(dialect: str) -> list[str]:
    if dialect == "postgresql":
        found = ["CREATE OR REPLACE FUNCTION edgeq_now_s() RETURNS double precision LANGUAGE sql VOLATILE AS $$ "
                 f"SELECT {_POSTGRESQL_NOW_S_INLINE} $$"]
        for name, table, when, refused, why in _RULES:
            condition = refused.format(now=_POSTGRESQL_NOW_S, lock=" FOR SHARE", lock_leases=" FOR SHARE OF leases")
            found.append(f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                         f"IF {condition} THEN RAISE EXCEPTION '{FENCE}: {_quoted(why)}' "
                         "USING ERRCODE = 'integrity_constraint_violation'; END IF; RETURN NEW; END $$")
            found.append(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            found.append(f"CREATE TRIGGER {name} {when} ON {table} FOR EACH ROW EXECUTE FUNCTION {name}()")
        return found
    found = []
    for name, table, when, refused, why in _RULES:
        condition = refused.format(now=_SQLITE_NOW_S, lock="", lock_leases="")
        found.append(f"DROP TRIGGER IF EXISTS {name}")
        found.append(f"CREATE TRIGGER {name} {when} ON {table} FOR EACH ROW WHEN {condition} "
                     f"BEGIN SELECT RAISE(ABORT, '{FENCE}: {_quoted(why)}'); END")
    return found


def _quoted(text_: str) -> str:
    return text_.replace("'", "''")


@event.listens_for(metadata, "after_create")
def _after_create(target: object, connection: Connection, **kw: object) -> None:
    """A schema made by ``metadata.create_all`` keeps the same promises as one the migrations made."""
    create(connection)
