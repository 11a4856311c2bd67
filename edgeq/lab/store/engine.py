"""Where the store lives and how it is reached: URLs, engines, transactions, the database's clock, and the
store's errors — the database's refusals become edgeq errors here and nowhere else."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Connection, Engine, Float, Insert, Table, create_engine, event, make_url
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from edgeq.errors import ConfigError, ConnectError, EdgeqError, summarize
from edgeq.lab.store import migrations, rules

_BUSY_TIMEOUT_S = 30.0  # how long a SQLite writer waits for another thread's or process's transaction
_CONNECT_TIMEOUT_S = 10
_TCP_USER_TIMEOUT_MS = 30_000
# Connections kept open for reuse. Each device's thread holds one at a time, plus the heartbeat: beyond this
# more are opened (never refused: a lab's threads bound them) and closed again when given back.
_POOL_SIZE = 16
_URL_FORMS = "give a file path, sqlite:///PATH, or postgresql://USER:PASSWORD@HOST:PORT/DATABASE"


class StoreError(EdgeqError):
    """The results store refused a write that would break one of its invariants, or could not make it."""

    exit_code = 3


class LeaseLost(StoreError):
    """A write carried a lease token that is no longer the device's current lease: the result is not kept."""


class NotInStore(StoreError, ConfigError):
    """The store has no run, job or device by that name: usually a mistyped id (a usage error, exit 2)."""

    exit_code = 2


class DbNowS(FunctionElement[float]):
    """Seconds since the epoch on the database's clock: the one clock every worker host shares, for leases
    (moved by ``lab_clock.offset_s`` in tests that own their clock)."""

    type = Float()
    inherit_cache = True


@compiles(DbNowS, "sqlite")
def _sqlite_now_s(element: DbNowS, compiler: Any, **kw: Any) -> str:
    return rules.now_s("sqlite")


@compiles(DbNowS, "postgresql")
def _postgresql_now_s(element: DbNowS, compiler: Any, **kw: Any) -> str:
    return rules.now_s("postgresql")


def now() -> str:
    """This host's time for the records: ISO-8601, UTC, seconds."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def upsert(connection: Connection, table: Table) -> Insert:
    """INSERT with ON CONFLICT, which both dialects spell the same way."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)  # type: ignore[return-value]


class StoreBase:
    """The engine and its transactions; the store's parts (``results``, ``devices``, ``leases``, ``queue``) are
    mixins over it."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.url = display(engine.url)  # without the password: safe to print

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> StoreBase:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    @contextmanager
    def _write(self, what: str) -> Iterator[Connection]:
        """One write transaction; the database's refusals become edgeq errors here and nowhere else."""
        with self._errors(what), self._engine.connect() as connection:
            connection.execution_options(**{migrations.WRITE_TRANSACTION: True})
            with connection.begin():
                yield connection

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """One read transaction: the queries in it see one state of the store."""
        with self._errors("read the store"), self._engine.connect() as connection, connection.begin():
            yield connection

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except IntegrityError as exc:
            if rules.FENCE in str(exc.orig):
                raise LeaseLost(f"the results store refused to {what}: {_fence_message(exc)}",
                                hint="the device's lease expired or passed to another holder; nothing was written") from exc
            raise StoreError(f"the results store refused to {what}: {summarize(exc.orig)}") from exc
        except OperationalError as exc:
            if exc.connection_invalidated or self._engine.dialect.name != "sqlite":
                raise unreachable(self._engine.url, exc, doing=what) from exc
            raise StoreError(f"cannot {what} in {self.url}: {summarize(exc.orig)}",
                             hint="another process may hold the store locked; try again") from exc

    def _no_run(self, run_id: str) -> NotInStore:
        return NotInStore(f"the results store {self.url} has no run {run_id!r}",
                          hint="`edgeq lab runs` lists the runs it has")

    def _no_device(self, name: str) -> NotInStore:
        return NotInStore(f"the results store {self.url} has no device {name!r}",
                          hint="devices enter the store from the inventory when a lab run starts")


def _fence_message(exc: IntegrityError) -> str:
    text = str(exc.orig)
    return text[text.index(rules.FENCE):].splitlines()[0]


def engine_for(url: str | None, *, default_path: Path | None) -> Engine:
    """The SQLAlchemy engine ``open_store`` uses, set up for the lab; for the migrations and their tests."""
    parsed = _parse(url, default_path)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    try:
        return create_engine(parsed, pool_pre_ping=True, pool_size=_POOL_SIZE, max_overflow=-1, connect_args={
            "connect_timeout": _CONNECT_TIMEOUT_S, "application_name": "edgeq-lab",
            # A store behind a cut network answers nothing, not even a reset: without these, a query sent
            # just before the cut waits for the kernel's retransmissions (about 15 minutes). With them it
            # fails within ~30 s and the caller (a worker's backoff) takes over.
            "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3,
            "tcp_user_timeout": _TCP_USER_TIMEOUT_MS})
    except ModuleNotFoundError as exc:
        raise ConfigError(f"the results store {display(parsed)} needs psycopg, which is not installed",
                          hint="pip install 'edgeq[lab]'") from exc


def _parse(url: str | None, default_path: Path | None) -> URL:
    if url is None and default_path is None:
        raise ConfigError("no results store given", hint="pass --store, or set store in the [lab] table")
    if url is None or ("://" not in url and not url.startswith("sqlite:")):
        return URL.create("sqlite", database=str(Path(url).expanduser() if url else default_path))
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:  # ValueError: a port that is not a number
        shown = re.sub(r"(://[^:/@]*):[^@/]*@", r"\1@", url)  # the password stays out of the message
        raise ConfigError(f"store {shown!r} is not a database URL", hint=_URL_FORMS) from exc
    backend, _, driver = parsed.drivername.partition("+")
    if backend in ("postgresql", "postgres") and driver in ("", "psycopg"):
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite" and driver in ("", "pysqlite"):
        if parsed.database in (None, "", ":memory:"):
            raise ConfigError(f"store {url!r} names no file", hint="a results store is a file: sqlite:///PATH")
        return parsed.set(drivername="sqlite")
    raise ConfigError(f"unsupported results store {display(parsed)}: edgeq keeps results in SQLite or PostgreSQL "
                      "(through psycopg 3)", hint=_URL_FORMS)


def _sqlite_engine(url: URL) -> Engine:
    path = Path(url.database or "")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the results store's directory {path.parent}: {exc.strerror}") from exc
    engine = create_engine(url, pool_size=_POOL_SIZE, max_overflow=-1,
                           connect_args={"check_same_thread": False, "timeout": _BUSY_TIMEOUT_S})
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection: Any, connection_record: Any) -> None:
    # SQLAlchemy, not the sqlite3 module, says when a transaction begins (see _sqlite_begin): otherwise
    # sqlite3 would run DDL and reads outside transactions.
    dbapi_connection.isolation_level = None
    dbapi_connection.execute("PRAGMA journal_mode=WAL")  # readers and the writer do not block each other
    dbapi_connection.execute("PRAGMA foreign_keys=ON")


def _sqlite_begin(connection: Connection) -> None:
    write = connection.get_execution_options().get(migrations.WRITE_TRANSACTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def display(url: URL) -> str:
    """A store's URL as messages print it: never the password."""
    if url.get_backend_name() == "sqlite":
        return str(url.database)
    bare = URL.create(url.drivername, url.username, None, url.host, url.port, url.database, url.query)
    return bare.render_as_string()


def unreachable(url: URL, exc: OperationalError, doing: str | None = None) -> ConnectError:
    where = display(url)
    if url.get_backend_name() == "sqlite":
        return ConnectError(f"cannot open the results store {where}: {summarize(exc.orig)}",
                            hint="check that its directory exists and is writable, or pass --store")
    lost = (f"lost the results store {where} while trying to {doing}" if doing
            else f"cannot reach the results store {where}")
    return ConnectError(f"{lost}: {summarize(exc.orig)}",
                        hint="check that PostgreSQL runs there and that the URL's host, port, user, password and "
                             "database are right (createdb makes the database)")
