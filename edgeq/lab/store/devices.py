"""Devices in the store: the inventory's instances, their health and its history, and what their attempts
counted against them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, case, func, select, update

from edgeq.lab.records import FINAL_STATES, DeviceRecord, HealthCheck
from edgeq.lab.store.engine import StoreBase, StoreError, now, upsert
from edgeq.lab.store.schema import devices, health_checks

RECENT_ATTEMPTS = 10  # the window ``DeviceRecord.recent_failures`` counts infra failures in
# Taken out: what an attempt means no longer changes it; a person brings it back (``edgeq lab release``).
_OUT = ("quarantined", "retired")


class Devices(StoreBase):
    def sync_devices(self, entries: Iterable[tuple[str, str, Sequence[str]]]) -> list[DeviceRecord]:
        """Bring the inventory's ``(name, profile name, tags)`` into the store; returns every device it knows.

        A new device starts ``unknown``, so it runs a health check before its first job; a known one keeps
        its health and history and takes the inventory's profile and tags. Devices left out are kept.
        """
        rows = [{"name": name, "profile": profile, "tags": list(tags), "health": "unknown", "reason": "",
                 "since": now(), "consecutive_infra": 0, "recent_outcomes": []} for name, profile, tags in entries]
        with self._write("sync the devices") as connection:
            if rows:
                statement = upsert(connection, devices).values(rows)
                connection.execute(statement.on_conflict_do_update(
                    index_elements=[devices.c.name],
                    set_={"profile": statement.excluded.profile, "tags": statement.excluded.tags}))
        return self.devices()

    def device(self, name: str) -> DeviceRecord:
        """One device with its health, its last health check and its failure counts."""
        with self._read() as connection:
            found = _devices(connection, devices.c.name == name)
        if not found:
            raise self._no_device(name)
        return found[0]

    def devices(self) -> list[DeviceRecord]:
        """Every device the store knows, by name."""
        with self._read() as connection:
            return _devices(connection, None)

    def set_health(self, name: str, health: str, reason: str = "", *, reset_infra: bool = False) -> DeviceRecord:
        """Move a device to ``health`` (``since`` changes only with it).

        A passing health check does not forgive infra failures — three in a row quarantine a device even when
        it answers its checks between them; a job that ends, or ``reset_infra`` (a release), starts the count over.
        """
        with self._write(f"set {name!r} {health}") as connection:
            changed = connection.execute(update(devices).where(devices.c.name == name).values(
                health=health, reason=reason, since=case((devices.c.health != health, now()), else_=devices.c.since),
                consecutive_infra=0 if reset_infra else devices.c.consecutive_infra)).rowcount
        if not changed:
            raise self._no_device(name)
        return self.device(name)

    def record_health_check(self, check: HealthCheck) -> None:
        """Keep a health check in the device's history (``set_health`` decides what it means)."""
        with self._write(f"record a health check of {check.device!r}") as connection:
            connection.execute(health_checks.insert().values(device=check.device, at=check.at, outcome=check.outcome,
                                                             reason=check.reason, golden_p50_ms=check.golden_p50_ms))

    def golden_history(self, device: str, limit: int = 10) -> list[float]:
        """The golden artifact's median latency in the device's good health checks, newest first."""
        query = (select(health_checks.c.golden_p50_ms)
                 .where(health_checks.c.device == device, health_checks.c.outcome == "good",
                        health_checks.c.golden_p50_ms.is_not(None))
                 .order_by(health_checks.c.id.desc()).limit(limit))
        with self._read() as connection:
            return [float(value) for value in connection.execute(query).scalars()]

    def note_attempt_outcome(self, device: str, outcome: str) -> DeviceRecord:
        """Count an outcome against a device without ending an attempt: infra failures in a row and among recent
        attempts (``end_attempt`` counts its own attempt the same way, in its transaction)."""
        if outcome not in FINAL_STATES:
            raise StoreError(f"cannot count outcome {outcome!r} against {device!r}",
                             hint=f"an attempt ends as one of {', '.join(FINAL_STATES)}")
        with self._write(f"count an attempt against {device!r}") as connection:
            row = locked_device(connection, device)
            if row is None:
                raise self._no_device(device)
            in_a_row = row.consecutive_infra + 1 if outcome == "infra" else (
                row.consecutive_infra if outcome in ("skipped", "error") else 0)
            count_outcome(connection, row, outcome, in_a_row)
        return self.device(device)


def locked_device(connection: Connection, device: str) -> Any:
    """The device's row, locked until the transaction ends (its counts are read and written in it)."""
    return connection.execute(select(devices.c.name, devices.c.health, devices.c.recent_outcomes,
                                     devices.c.consecutive_infra)
                              .where(devices.c.name == device).with_for_update()).first()


def count_outcome(connection: Connection, row: Any, outcome: str, infra_in_a_row: int) -> None:
    """An attempt's outcome among the device's recent ones, and its run of infra failures. A skipped job ran
    nothing and a bug is edgeq's: neither is among the device's outcomes. A success on a device with no infra
    failure in its window changes nothing the window counts, so the common case writes nothing."""
    if outcome == "done" and row.consecutive_infra == 0 and "infra" not in row.recent_outcomes:
        return
    values: dict[str, Any] = {"consecutive_infra": infra_in_a_row}
    if outcome not in ("skipped", "error"):
        values["recent_outcomes"] = [outcome, *row.recent_outcomes][:RECENT_ATTEMPTS]
    connection.execute(update(devices).where(devices.c.name == row.name).values(**values))


def change_health(connection: Connection, row: Any, health: str, reason: str) -> None:
    """What an attempt means for the device's health; a device already out (quarantined, retired) stays as it is."""
    if row.health in _OUT:
        return
    connection.execute(update(devices).where(devices.c.name == row.name).values(
        health=health, reason=reason, since=case((devices.c.health != health, now()), else_=devices.c.since)))


def _devices(connection: Connection, where: ColumnElement[bool] | None) -> list[DeviceRecord]:
    newest = select(func.max(health_checks.c.id)).group_by(health_checks.c.device)
    checks = {row.device: HealthCheck(row.device, row.at, row.outcome, row.reason, row.golden_p50_ms)
              for row in connection.execute(select(health_checks).where(health_checks.c.id.in_(newest)))}
    query = select(devices).order_by(devices.c.name)
    if where is not None:
        query = query.where(where)
    return [DeviceRecord(name=row.name, profile=row.profile, tags=tuple(row.tags), health=row.health,
                         reason=row.reason, since=row.since, last_check=checks.get(row.name),
                         recent_failures=row.recent_outcomes.count("infra"), consecutive_infra=row.consecutive_infra)
            for row in connection.execute(query)]
