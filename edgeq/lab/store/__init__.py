"""The lab's results store: runs, jobs and every attempt, measurements, artifacts, devices, health, leases and
the queue.

SQLite by default (a file next to the inventory; no server to run), PostgreSQL by URL; one schema for both
(``schema.py``), built and upgraded by Alembic (``migrations/``) when the store is opened. Every write is one
short transaction, so a run killed at any point leaves the store as it was after its last write, and
``recover`` puts the killed run's work back in the queue.

    store = open_store(None, default_path=Path("edgeq-lab.sqlite"))
    token = store.acquire_lease("pi-desk", holder="lab-host:4242", ttl_s=60)
    number = store.start_attempt(job_id, "pi-desk", token)
    store.record_measurement(job_id, number, measurement, token)   # refused once the lease is lost

The store is split by concern — where it lives (``engine``), results (``results``), attempts and what follows
them (``attempts``), devices and their health (``devices``), leases (``leases``), the queue (``queue``) — and
the database keeps the promises itself (``rules``): a measurement is accepted only from the attempt holding
its device's live lease, whoever writes it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy.exc import DBAPIError, OperationalError

from edgeq.errors import ConfigError, summarize
from edgeq.lab.store import migrations
from edgeq.lab.store.attempts import Attempts
from edgeq.lab.store.devices import RECENT_ATTEMPTS, Devices
from edgeq.lab.store.engine import LeaseLost, NotInStore, StoreError, display, engine_for, unreachable
from edgeq.lab.store.leases import Lease, Leases
from edgeq.lab.store.queue import Queue
from edgeq.lab.store.results import HistoryPoint, Results

__all__ = ["RECENT_ATTEMPTS", "HistoryPoint", "Lease", "LeaseLost", "NotInStore", "Store", "StoreError",
           "engine_for", "open_store"]

log = logging.getLogger(__name__)


class Store(Results, Attempts, Devices, Leases, Queue):
    """The lab's results, read and written as ``edgeq.lab.records``; safe to share between threads."""


def open_store(url: str | None, *, default_path: Path | None) -> Store:
    """The store at ``url`` (``--store``, ``[lab] store``), or a SQLite file at ``default_path`` when None.

    A new database is built at the newest revision, an older store is upgraded in place with its rows kept,
    and a store written by a newer edgeq is refused.
    """
    engine = engine_for(url, default_path=default_path)
    where = display(engine.url)
    try:
        with engine.connect() as connection:
            revision = migrations.current(connection)
        if revision is not None and not migrations.known(revision):
            raise ConfigError(f"the results store {where} is at revision {revision}, newer than this edgeq knows "
                              f"(its newest is {migrations.head()})",
                              hint="upgrade edgeq on this host, or pass --store with another store")
        if revision != migrations.head():
            log.info("results store %s: revision %s -> %s", where, revision or "(empty)", migrations.head())
            migrations.upgrade(engine)
    except OperationalError as exc:
        engine.dispose()
        raise unreachable(engine.url, exc) from exc
    except DBAPIError as exc:
        engine.dispose()
        raise StoreError(f"cannot set up the results store in {where}: {summarize(exc.orig)}",
                         hint="give the store a database of its own") from exc
    except BaseException:
        engine.dispose()
        raise
    return Store(engine)
