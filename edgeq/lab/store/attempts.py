"""Attempts: a job run once on a device under its lease, and how it ended.

Ending an attempt is one transaction: the attempt's outcome (a conditional update: an attempt ends once), its
measurement when it took one, what follows for the job and the device — decided by ``policy.after_attempt``
from the run's budgets, the job's attempts and the device's run of infra failures — all or nothing. The
reaper's and a late writer's updates are conditional too, so they cannot both win; the database's triggers
(``rules``) refuse a measurement from an attempt that no longer holds its device's live lease.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from typing import Any

from sqlalchemy import ColumnElement, Connection, delete, exists, func, select, update

from edgeq.lab.policy import Budgets, Decision, after_attempt
from edgeq.lab.records import FINAL_STATES, Measurement
from edgeq.lab.store.devices import change_health, count_outcome, locked_device
from edgeq.lab.store.engine import DbNowS, LeaseLost, StoreBase, StoreError, now
from edgeq.lab.store.leases import fence
from edgeq.lab.store.results import insert_measurement, measurements_where, newest_with_key
from edgeq.lab.store.schema import attempts, jobs, leases, measurements, runs

ORPHANED = "interrupted: the device's lease passed to another holder"


class Attempts(StoreBase):
    def start_attempt(self, job_id: int, device: str, lease_token: int) -> int:
        """A new ``running`` attempt of a queued job on a device the caller holds; returns its number.

        An attempt still running on the device under an older lease is orphaned (its holder lost the
        device): it ends ``infra`` (``interrupted``) and its job goes back to the queue.
        """
        what = f"start an attempt of job {job_id} on {device!r}"
        with self._write(what) as connection:
            fence(connection, device, lease_token, what)
            orphaned = interrupt(connection, (attempts.c.device == device) & (attempts.c.outcome == "running")
                                 & (attempts.c.lease_token != lease_token), ORPHANED)
            requeue(connection, jobs.c.id.in_(orphaned), ORPHANED)
            if not connection.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.state.in_(("queued", "running")))
                                      .values(state="running", device=device)).rowcount:
                state = connection.execute(select(jobs.c.state).where(jobs.c.id == job_id)).scalar()
                raise StoreError(f"cannot {what}: " + (f"the job is {state}, not queued" if state else "no such job"))
            number = connection.execute(select(func.coalesce(func.max(attempts.c.number), 0) + 1)
                                        .where(attempts.c.job_id == job_id)).scalar_one()
            connection.execute(attempts.insert().values(job_id=job_id, number=number, device=device, outcome="running",
                                                        reason="", started_at=now(), lease_token=lease_token))
        return number

    def end_attempt(self, job_id: int, number: int, outcome: str, reason: str, lease_token: int, *,
                    measurement: Measurement | None = None, traceback: str | None = None,
                    interrupted: bool = False) -> Decision:
        """End a running attempt as ``outcome`` and write what follows, in one transaction; returns the decision.

        ``measurement``: what an ``invalid`` attempt measured, kept marked invalid (never the job's result);
        ``traceback``: an ``error`` attempt's. ``interrupted``: the lab was stopped under it (``infra``): the job
        goes back to the queue and nothing counts against the device. Refused (``LeaseLost``) once the
        device's lease has passed on or expired, and when the attempt already ended (the reaper ended it).
        """
        what = f"end attempt {number} of job {job_id}"
        if outcome not in FINAL_STATES or outcome == "done":
            raise StoreError(f"cannot {what} as {outcome!r}",
                             hint=f"an attempt ends as one of {', '.join(s for s in FINAL_STATES if s != 'done')}; "
                                  "a measured one through record_measurement")
        if measurement is not None and outcome != "invalid":
            raise StoreError(f"cannot {what} as {outcome!r} with a measurement",
                             hint="only an invalid attempt keeps its samples this way; a valid one is recorded "
                                  "through record_measurement")
        if interrupted and outcome != "infra":
            raise StoreError(f"cannot {what}: an interrupted attempt ends infra, not {outcome!r}")
        with self._write(what) as connection:
            attempt = running_attempt(connection, job_id, number, lease_token, what)
            if measurement is not None:
                insert_measurement(connection, job_id, number, replace(measurement, valid=False), lease_token)
            return conclude(connection, job_id, number, attempt.device, outcome, reason, traceback=traceback,
                            interrupted=interrupted)

    def record_measurement(self, job_id: int, attempt_number: int, measurement: Measurement,
                           lease_token: int) -> Decision:
        """Keep a job's measurement and its samples, and mark the attempt and the job ``done``, atomically.

        Refused (``LeaseLost``) once the device's lease has passed on or expired, by the store and by the
        database's triggers; a job has at most one valid measurement (the schema refuses a second).
        """
        what = f"record the measurement of job {job_id}"
        if not measurement.valid:
            raise StoreError(f"cannot {what}: it is marked invalid", hint="end the attempt invalid with end_attempt")
        with self._write(what) as connection:
            attempt = running_attempt(connection, job_id, attempt_number, lease_token, what)
            if measurement.device != attempt.device:
                raise StoreError(f"cannot {what}: it was taken on {measurement.device!r}, "
                                 f"but attempt {attempt_number} runs on {attempt.device!r}")
            measurement_id = insert_measurement(connection, job_id, attempt_number, measurement, lease_token)
            return conclude(connection, job_id, attempt_number, attempt.device, "done", "",
                            result=(measurement_id, measurement.artifact_sha256))

    def reuse_measurement(self, job_id: int, number: int, result_key: str, lease_token: int) -> Measurement | None:
        """``--reuse``: a claimed job whose exact measurement is in the store becomes ``done`` by pointing at it,
        and its attempt, which ran nothing, is dropped. None (and nothing changed) when there is none."""
        what = f"reuse a measurement for job {job_id}"
        with self._write(what) as connection:
            running_attempt(connection, job_id, number, lease_token, what)
            found = measurements_where(connection, measurements.c.id == newest_with_key(result_key))
            if not found:
                return None
            (measurement_id, measurement), = found.items()
            source = connection.execute(select(jobs.c.run_id).join(measurements, measurements.c.job_id == jobs.c.id)
                                        .where(measurements.c.id == measurement_id)).scalar_one()
            connection.execute(delete(attempts).where(attempts.c.job_id == job_id, attempts.c.number == number))
            checked(connection.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.state == "running").values(
                state="done", reason=f"reused: measured in run {source} at {measurement.measured_at}",
                device=measurement.device, artifact_sha256=measurement.artifact_sha256,
                measurement_id=measurement_id, reused=True)).rowcount, f"cannot {what}: it is not running")
        return measurement

    def recover(self, run_id: str, *, dead_holders: Collection[str] = ()) -> list[int]:
        """Put back in the queue what a killed run left running, so ``--resume`` runs it exactly once.

        Leases that expired or whose holder is known dead (``dead_holders``: the killed process's) are
        cleared; the run's attempts still ``running`` without their lease become ``infra`` with reason
        ``interrupted``, and its ``running`` jobs with no live attempt go back to ``queued``. Attempts under a
        lease still held (a live worker on another host) are left alone. Returns the re-queued job ids.
        """
        with self._write(f"recover run {run_id}") as connection:
            if connection.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is None:
                raise self._no_run(run_id)
            now_s = connection.execute(select(DbNowS())).scalar_one()
            connection.execute(delete(leases).where((leases.c.expires_at_s <= now_s)
                                                    | leases.c.holder.in_(list(dead_holders))))
            lease_held = exists().where(leases.c.device == attempts.c.device, leases.c.token == attempts.c.lease_token)
            interrupt(connection, (attempts.c.outcome == "running")
                      & attempts.c.job_id.in_(select(jobs.c.id).where(jobs.c.run_id == run_id)) & ~lease_held,
                      "interrupted")
            return requeue(connection, jobs.c.run_id == run_id, "interrupted")


def running_attempt(connection: Connection, job_id: int, number: int, token: int, what: str) -> Any:
    """The attempt a fenced write ends: it must be running under ``token``, whose lease must still be held."""
    fenced = connection.execute(  # the common case in one query: the attempt, its device's lease locked
        select(attempts.c.device, attempts.c.outcome, attempts.c.lease_token)
        .join(leases, (leases.c.device == attempts.c.device) & (leases.c.token == token)
              & (leases.c.expires_at_s > DbNowS()))
        .where(attempts.c.job_id == job_id, attempts.c.number == number)
        .with_for_update(of=leases, read=True)).first()
    if fenced is not None and fenced.outcome == "running" and fenced.lease_token == token:
        return fenced
    attempt = connection.execute(select(attempts.c.device, attempts.c.outcome, attempts.c.lease_token)
                                 .where(attempts.c.job_id == job_id, attempts.c.number == number)).first()
    if attempt is None:
        raise StoreError(f"cannot {what}: job {job_id} has no attempt {number}")
    fence(connection, attempt.device, token, what)
    if attempt.outcome != "running":
        raise LeaseLost(f"cannot {what}: attempt {number} already ended {attempt.outcome}",
                        hint="its device's lease lapsed and the reaper ended it; nothing was written")
    raise LeaseLost(f"cannot {what}: attempt {number} runs under lease token {attempt.lease_token}, not {token}")


def conclude(connection: Connection, job_id: int, number: int, device: str, outcome: str, reason: str, *,
             traceback: str | None = None, result: tuple[int, str] | None = None,
             interrupted: bool = False) -> Decision:
    """End the running attempt and write what follows for its job and its device (``policy.after_attempt``).

    Every update is conditional — the attempt still running, the job still running — and its row count is
    checked: a writer that lost a race to the reaper changes nothing and learns it (``LeaseLost``).
    """
    checked(connection.execute(update(attempts).where(attempts.c.job_id == job_id, attempts.c.number == number,
                                                      attempts.c.outcome == "running")
                               .values(outcome=outcome, reason=reason, ended_at=now(), traceback=traceback)).rowcount,
            f"attempt {number} of job {job_id} already ended")
    row = locked_device(connection, device)
    in_a_row = row.consecutive_infra if row is not None else 0
    if interrupted:
        decision = Decision("queued", False, None, "", in_a_row)
    elif outcome == "done":  # what follows a result needs neither the budgets nor the job's history
        decision = after_attempt("done", "", infra_attempts=0, invalid_attempts=0, infra_in_a_row=in_a_row,
                                 budgets=Budgets())
    else:
        decision = _decide(connection, job_id, outcome, reason, in_a_row)
    if not interrupted and row is not None:
        count_outcome(connection, row, outcome, decision.infra_in_a_row)
        if decision.device_health is not None:
            change_health(connection, row, decision.device_health, decision.health_reason)
    values: dict[str, Any] = {"state": decision.job_state, "reason": reason, "device": device}
    if decision.job_state == "queued":
        values["queued_at_s"] = DbNowS()
        if decision.moved:
            values["moved"] = True
    if result is not None:
        values.update(measurement_id=result[0], artifact_sha256=result[1], reused=False)
    checked(connection.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.state == "running")
                               .values(**values)).rowcount, f"job {job_id} is no longer running")
    return decision


def _decide(connection: Connection, job_id: int, outcome: str, reason: str, infra_in_a_row: int) -> Decision:
    """``policy.after_attempt`` for a job's latest attempt, with its run's budgets and its attempts so far."""
    args = connection.execute(select(runs.c.args).join(jobs, jobs.c.run_id == runs.c.id)
                              .where(jobs.c.id == job_id)).scalar_one()
    counts = dict(connection.execute(select(attempts.c.outcome, func.count()).where(attempts.c.job_id == job_id)
                                     .group_by(attempts.c.outcome)).all())
    return after_attempt(outcome, reason, infra_attempts=int(counts.get("infra", 0)),
                         invalid_attempts=int(counts.get("invalid", 0)), infra_in_a_row=infra_in_a_row,
                         budgets=Budgets.of_run(args or {}))


def checked(rowcount: int, what: str) -> None:
    """A conditional update changed its one row, or another writer changed it first."""
    if rowcount != 1:
        raise LeaseLost(f"the results store did not change it: {what}",
                        hint="another writer (the reaper, or the device's new holder) got there first; nothing was "
                             "written")


def interrupt(connection: Connection, where: ColumnElement[bool], reason: str) -> list[int]:
    """End running attempts as ``infra``; returns their jobs."""
    ended = connection.execute(update(attempts).where(where, attempts.c.outcome == "running")
                               .values(outcome="infra", reason=reason, ended_at=now()).returning(attempts.c.job_id))
    return sorted({job_id for job_id, in ended})


def requeue(connection: Connection, where: ColumnElement[bool], reason: str) -> list[int]:
    """Jobs ``running`` with no attempt running go back to ``queued``; returns them."""
    live = select(attempts.c.job_id).where(attempts.c.outcome == "running")
    requeued = connection.execute(update(jobs).where(where, jobs.c.state == "running", jobs.c.id.not_in(live))
                                  .values(state="queued", reason=reason, queued_at_s=DbNowS()).returning(jobs.c.id))
    return sorted(job_id for job_id, in requeued)
