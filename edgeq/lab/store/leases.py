"""Leases: who may use a device now, under which fencing token, until when on the database's clock.

Every grant takes a new token from a counter that only grows (``lease_grants``), so a later holder's token is
always larger and an earlier holder's writes are refused — by ``fence`` in the write's own transaction, and
by the database's triggers (``rules``) for a writer that goes around the store.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, delete, select, update

from edgeq.lab.store.engine import DbNowS, LeaseLost, StoreBase, upsert
from edgeq.lab.store.schema import lab_clock, lease_grants, leases


@dataclass(frozen=True)
class Lease:
    """Who holds a device now, under which fencing token, and for how much longer (the database's clock)."""

    device: str
    holder: str
    token: int
    expires_in_s: float


class Leases(StoreBase):
    def acquire_lease(self, device: str, holder: str, ttl_s: float) -> int | None:
        """Lease a device for ``ttl_s`` seconds; returns the fencing token, or None while another lease holds.

        The same holder asking again gets a new token.
        """
        with self._write(f"lease {device!r}") as connection:
            current = connection.execute(select(leases.c.expires_at_s).where(leases.c.device == device)
                                         .with_for_update()).first()
            now_s = connection.execute(select(DbNowS())).scalar_one()  # read once the row is ours: waiting takes time
            if current is not None and current.expires_at_s > now_s:
                return None
            token = connection.execute(lease_grants.insert().values(device=device, holder=holder, granted_at_s=now_s)
                                       ).inserted_primary_key[0]
            values = {"token": token, "holder": holder, "acquired_at_s": now_s, "expires_at_s": now_s + ttl_s}
            if current is not None:
                connection.execute(update(leases).where(leases.c.device == device).values(**values))
            elif connection.execute(upsert(connection, leases).values(device=device, **values)
                                    .on_conflict_do_nothing().returning(leases.c.device)).first() is None:
                connection.get_transaction().rollback()  # another holder's first lease won the race
                return None
        return int(token)

    def renew_lease(self, device: str, token: int, ttl_s: float) -> bool:
        """Extend a held lease to ``ttl_s`` from now; False when it was lost (expired or taken)."""
        with self._write(f"renew the lease on {device!r}") as connection:
            return renew(connection, device, token, ttl_s)

    def release_lease(self, device: str, token: int) -> bool:
        """Give a device back; False when the lease had already passed on (nothing is released then)."""
        with self._write(f"release the lease on {device!r}") as connection:
            return bool(connection.execute(delete(leases).where(leases.c.device == device,
                                                                leases.c.token == token)).rowcount)

    def leases(self) -> list[Lease]:
        """The leases held now, by device."""
        now_s = DbNowS()
        query = (select(leases.c.device, leases.c.holder, leases.c.token, leases.c.expires_at_s - now_s)
                 .where(leases.c.expires_at_s > now_s).order_by(leases.c.device))
        with self._read() as connection:
            return [Lease(device, holder, int(token), float(left_s))
                    for device, holder, token, left_s in connection.execute(query)]

    def shift_clock(self, seconds: float) -> None:
        """Move the store's clock — the one every lease, heartbeat and queue time is read on, by every process
        that uses this database — ``seconds`` ahead. For tests that own their clock: a lease "expires" at once
        instead of after a real wait that a busy machine could outrun."""
        with self._write("move the store's clock") as connection:
            connection.execute(update(lab_clock).where(lab_clock.c.id == 1)
                               .values(offset_s=lab_clock.c.offset_s + seconds))


def fence(connection: Connection, device: str, token: int, what: str) -> float:
    """Refuse the write unless ``token`` is the device's current, unexpired lease; hold the lease row until commit.
    Returns the database's clock (seconds), read in the same query.

    The row lock (FOR SHARE on PostgreSQL; SQLite's write lock is the whole database) keeps a new holder
    from taking the lease between this check and the write's commit.
    """
    held = connection.execute(select(DbNowS()).where(leases.c.device == device, leases.c.token == token,
                                                     leases.c.expires_at_s > DbNowS())
                              .with_for_update(of=leases, read=True)).first()
    if held is None:
        raise LeaseLost(f"cannot {what}: lease token {token} on {device!r} is no longer held",
                        hint="another worker took the device or the lease expired unrenewed; nothing was written")
    return float(held[0])


def renew(connection: Connection, device: str, token: int, ttl_s: float) -> bool:
    """Extend the device's lease under ``token`` to ``ttl_s`` from now; False when it is no longer held."""
    return bool(connection.execute(update(leases).where(
        leases.c.device == device, leases.c.token == token, leases.c.expires_at_s > DbNowS())
        .values(expires_at_s=DbNowS() + ttl_s)).rowcount)
