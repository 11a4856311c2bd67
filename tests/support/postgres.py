"""A real PostgreSQL server for tests, from Debian's package: its own data directory, a loopback port, a password.

The results store is tested against the server it meets in the field, not a mock. ``initdb`` and
``pg_ctl`` refuse to run as root, so as root the server runs as a system user (``edgeq-pg``, added with
``useradd --system`` when missing) through ``runuser``; as anyone else it runs as that user. Its files live
in a directory of their own under the system temp dir (pytest's are private to root), and it listens on
127.0.0.1 only, with password (SCRAM) authentication, so a wrong password is refused as in production.

    with PostgresServer() as server:
        url = server.create_database("store")   # postgresql+psycopg://edgeq:…@127.0.0.1:PORT/store

A missing package fails loudly with the install command (``.ci/run`` installs it): these tests are never
skipped.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

INSTALL = "apt-get install -y --no-install-recommends postgresql"
SYSTEM_USER = "edgeq-pg"  # who runs the server when the tests run as root
DB_USER = "edgeq"
HOST = "127.0.0.1"
START_TIMEOUT_S = 30


class PostgresMissing(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


def require_postgres() -> Path:
    """The directory holding initdb and pg_ctl (the newest installed major version), or an install hint."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda path: int(Path(path).parents[1].name))
    if not found:
        raise PostgresMissing("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb); the results "
                              f"store's PostgreSQL tests need a real server: run `{INSTALL}` (as root or with "
                              "sudo), as .ci/run does")
    return Path(found[-1]).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _system_user() -> pwd.struct_passwd:
    """The unprivileged user the server runs as under root; made once per machine."""
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        made = subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                               "--shell", "/usr/sbin/nologin", SYSTEM_USER], capture_output=True, text=True)
        try:
            return pwd.getpwnam(SYSTEM_USER)  # made now, or by a session running alongside
        except KeyError:
            raise RuntimeError(f"cannot add the user {SYSTEM_USER!r} that runs PostgreSQL under root: "
                               f"{made.stderr.strip()}") from None


class PostgresServer:
    """One PostgreSQL cluster: ``start``, ``create_database``, ``stop`` (which also deletes its files)."""

    def __init__(self, *, port: int | None = None, also_listen: tuple[str, ...] = ()) -> None:
        """``also_listen``: more addresses to serve besides loopback (a network namespace's gateway), each
        allowed to connect from its /24 with a password."""
        self.bin = require_postgres()
        self.also_listen = also_listen
        self.port = port or free_port()
        self.password = secrets.token_hex(12)
        self.root = Path(tempfile.mkdtemp(prefix="edgeq-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._owner = _system_user() if os.geteuid() == 0 else None
        self.started = False

    def url(self, database: str, *, password: str | None = None, host: str = HOST) -> str:
        """The SQLAlchemy URL of ``database`` on this server (with another ``password``, to see it refused;
        through another of its addresses, ``host``)."""
        return f"postgresql+psycopg://{DB_USER}:{password or self.password}@{host}:{self.port}/{database}"

    def start(self) -> PostgresServer:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        password_file = self.root / "password"
        password_file.write_text(self.password + "\n")
        if self._owner is not None:
            for path in (self.root, password_file):
                os.chown(path, self._owner.pw_uid, self._owner.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", DB_USER, f"--pwfile={password_file}", "--auth-local=trust",
                  "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions")
        password_file.unlink()
        if self.also_listen:
            with (self.data / "pg_hba.conf").open("a") as hba:
                hba.writelines(f"host all all {address.rsplit('.', 1)[0]}.0/24 scram-sha-256\n"
                               for address in self.also_listen)
        self.resume()

    def resume(self) -> None:
        """Start the server on its data (again, after ``pause``)."""
        # Durability is not under test: fsync off makes every commit (and the whole session) fast.
        listen = ",".join((HOST, *self.also_listen))
        options = (f"-p {self.port} -k {self.root} -c listen_addresses={listen} -c fsync=off -c synchronous_commit=off "
                   "-c full_page_writes=off -c max_connections=100")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", str(START_TIMEOUT_S),
                  "start")
        self.started = True

    def pause(self) -> None:
        """Stop the server and keep its data, as a database restart does: clients lose their connections."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        self.started = False

    def create_database(self, name: str) -> str:
        """A new, empty database; returns its URL."""
        import psycopg  # the lab extra; imported here so the module loads without it

        with psycopg.connect(host=HOST, port=self.port, user=DB_USER, password=self.password, dbname="postgres",
                             autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """Stop the server at once (nothing in it is kept) and delete its files."""
        try:
            if self.started:
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
                self.started = False
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self, program: str, *args: str) -> None:
        argv = [str(self.bin / program), *args]
        if self._owner is not None:
            argv = ["runuser", "-u", SYSTEM_USER, "--", *argv]
        done = subprocess.run(argv, cwd=self.root, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=START_TIMEOUT_S * 2)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{program} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}"
                               + (f"\nserver log:\n{log}" if log else ""))
