"""pytest fixtures for the results store on PostgreSQL: one real server per session, a fresh database per test.

Registered by ``tests/integration/conftest.py``. A missing PostgreSQL package fails loudly with the install
command (``postgres.require_postgres``): CI installs it, and these tests are never skipped.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from postgres import PostgresServer

_databases = itertools.count()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session, on a free loopback port; stopped and deleted at the end."""
    with PostgresServer() as server:
        yield server


@pytest.fixture
def postgres_url(postgres: PostgresServer) -> str:
    """The URL of a new, empty database on the session's server (``postgresql+psycopg://edgeq:…@127.0.0.1:…``)."""
    return postgres.create_database(f"test_{next(_databases)}")
