"""The queue: the lab's one scheduler. ``edgeq lab run`` and ``edgeq lab submit`` fill it; the workers —
in the ``lab run`` process, or ``edgeq lab worker`` processes on other hosts — claim from it, heartbeat, and
reap what a lost worker left behind."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, ColumnElement, String, bindparam, case, exists, func, or_, select, update

from edgeq.lab.policy import Budgets, after_attempt
from edgeq.lab.records import Claim, JobRecord, QueueStatus, WorkerRecord
from edgeq.lab.store.attempts import ORPHANED, interrupt
from edgeq.lab.store.engine import DbNowS, StoreBase, now, upsert
from edgeq.lab.store.leases import fence, renew
from edgeq.lab.store.schema import attempts, devices, jobs, leases, runs, workers

LOST = "lost its worker: the device's lease expired without a heartbeat"


class Queue(StoreBase):
    def register_worker(self, name: str, host: str, pid: int, device_names: Sequence[str]) -> None:
        """A worker starts (or starts again under the same name): alive from now on, by its heartbeat."""
        with self._write(f"register worker {name!r}") as connection:
            statement = upsert(connection, workers).values(name=name, host=host, pid=pid, devices=list(device_names),
                                                           started_at=now(), heartbeat_at_s=DbNowS())
            connection.execute(statement.on_conflict_do_update(index_elements=[workers.c.name], set_={
                "host": host, "pid": pid, "devices": list(device_names), "started_at": now(),
                "heartbeat_at_s": DbNowS(), "stopped_at": None}))

    def heartbeat(self, worker: str, held: dict[str, int], ttl_s: float) -> dict[str, bool]:
        """The worker is alive: its heartbeat and its devices' leases renewed in one transaction.

        Returns, per device, whether its lease is still held under that token (False: it expired or
        passed on, and every write under it will be refused).
        """
        with self._write(f"renew the leases of worker {worker!r}") as connection:
            connection.execute(update(workers).where(workers.c.name == worker).values(heartbeat_at_s=DbNowS()))
            return {device: renew(connection, device, token, ttl_s) for device, token in held.items()}

    def stop_worker(self, worker: str) -> None:
        """A worker drained and exits: its leases end now and it is shown ``stopped``.

        The leases are ended, not deleted, so its devices' jobs wait one grace period for it to come back (a
        restart) before its profile's other devices take them.
        """
        with self._write(f"stop worker {worker!r}") as connection:
            connection.execute(update(leases).where(leases.c.holder == worker, leases.c.expires_at_s > DbNowS())
                               .values(expires_at_s=func.max(DbNowS(), leases.c.acquired_at_s + 0.001)
                                       if connection.dialect.name == "sqlite"
                                       else func.greatest(DbNowS(), leases.c.acquired_at_s + 0.001)))
            connection.execute(update(workers).where(workers.c.name == worker).values(stopped_at=now()))

    def workers(self) -> list[WorkerRecord]:
        """Every worker the store has seen, by name, with how long ago it last beat."""
        query = select(workers, (DbNowS() - workers.c.heartbeat_at_s).label("age_s")).order_by(workers.c.name)
        with self._read() as connection:
            return [WorkerRecord(row.name, row.host, row.pid, tuple(row.devices), row.started_at, float(row.age_s),
                                 row.stopped_at) for row in connection.execute(query)]

    def claim_job(self, worker: str, device: str, profile: str, token: int, *, grace_s: float,
                  run_id: str | None = None) -> Claim | None:
        """Take the next queued job that ``device`` (of ``profile``) may run — of any submitted run, or of
        ``run_id`` only — and start its attempt under the device's lease, in one transaction; None when there
        is none.

        The job is picked and locked in the same statement that claims it (``FOR UPDATE SKIP LOCKED`` on
        PostgreSQL; SQLite's write lock serializes claims), so two workers never take the same job. The order
        is the lab's one rule: the device's own jobs first; then jobs that may move — moved ones (an infra
        retry), those whose planned device is quarantined or retired, and those whose planned device no
        worker has served for ``grace_s``; a job that failed with an infra error on this device only when no
        other healthy, served device of the profile could take it.
        """
        what = f"claim a job for {device!r}"
        with self._write(what) as connection:
            now_s = fence(connection, device, token, what)
            _lose_attempts(connection, (attempts.c.device == device) & (attempts.c.outcome == "running")
                           & (attempts.c.lease_token != token), ORPHANED)
            row = None
            for statement in _CLAIMS[run_id is not None]:  # its own jobs first; only when it has none, movable ones
                row = connection.execute(statement, {"claim_device": device, "claim_profile": profile,
                                                     "served_since_s": now_s - grace_s, "claim_run": run_id}).first()
                if row is not None:
                    break
            if row is None:
                return None
            number = row.earlier + 1
            connection.execute(attempts.insert().values(job_id=row.id, number=number, device=device, outcome="running",
                                                        reason="", started_at=now(), lease_token=token, worker=worker,
                                                        started_at_s=now_s))
        job = JobRecord(id=row.id, run_id=row.run_id, model=row.model, profile=row.profile, scheme=row.scheme,
                        format=row.format, variant=row.variant, planned_device=row.planned_device, state="running",
                        reason=row.reason, device=device, artifact_sha256=row.artifact_sha256)
        args = row.args if isinstance(row.args, dict) else json.loads(row.args)
        return Claim(job, number, dict(args))

    def reap(self) -> list[int]:
        """Put back the jobs whose worker was lost: running attempts whose device lease expired end ``infra``,
        and what follows for each job is ``policy.after_attempt``'s (queued again for any device of its
        profile, or ``infra`` once its run's retry budget is spent). A lost worker says nothing about its
        device: the device's health is left alone. Returns the jobs it touched.

        Every worker runs this on its heartbeat; the updates are conditional, so two reapers, or a reaper and
        a late writer, never both end the same attempt.
        """
        with self._write("reap lost jobs") as connection:
            live = exists().where(leases.c.device == attempts.c.device, leases.c.token == attempts.c.lease_token,
                                  leases.c.expires_at_s > DbNowS())
            submitted = attempts.c.job_id.in_(select(jobs.c.id).join(runs, runs.c.id == jobs.c.run_id)
                                              .where(runs.c.queued.is_(True)))
            return _lose_attempts(connection, (attempts.c.outcome == "running") & submitted & ~live, LOST)

    def move_jobs_of(self, device: str) -> int:
        """The queued jobs planned on ``device`` may go to any device of their profile from now on (its worker
        stopped serving it); how many."""
        with self._write(f"move the jobs of {device!r}") as connection:
            return int(connection.execute(update(jobs).where(jobs.c.planned_device == device, jobs.c.state == "queued")
                                          .values(moved=True)).rowcount)

    def enqueue_run(self, run_id: str) -> None:
        """Hand a planned run to the workers: from now on they take its jobs (once every job is in the store,
        so no worker finishes the run while jobs are still being added)."""
        with self._write(f"queue run {run_id}") as connection:
            if not connection.execute(update(runs).where(runs.c.id == run_id).values(queued=True)).rowcount:
                raise self._no_run(run_id)
            # its jobs wait from now: building them was not waiting for a device
            connection.execute(update(jobs).where(jobs.c.run_id == run_id, jobs.c.state == "queued")
                               .values(queued_at_s=DbNowS()))

    def finish_if_drained(self, run_id: str) -> bool:
        """A submitted run whose every job is final becomes ``finished``; True when it is (now or before)."""
        pending = exists().where(jobs.c.run_id == run_id, jobs.c.state.in_(("queued", "running")))
        with self._write(f"finish run {run_id}") as connection:
            connection.execute(update(runs).where(runs.c.id == run_id, runs.c.queued.is_(True), runs.c.status == "running",
                                                  ~pending).values(status="finished", finished_at=now()))
            return connection.execute(select(runs.c.status).where(runs.c.id == run_id)).scalar() == "finished"

    def queue(self) -> QueueStatus:
        """Jobs of submitted, running runs: waiting and running per profile, and the one waiting longest."""
        submitted = select(runs.c.id).where(runs.c.queued.is_(True), runs.c.status == "running")
        in_queue = jobs.c.run_id.in_(submitted)
        with self._read() as connection:
            counts = connection.execute(select(jobs.c.state, jobs.c.profile, func.count())
                                        .where(in_queue, jobs.c.state.in_(("queued", "running")))
                                        .group_by(jobs.c.state, jobs.c.profile)).all()
            oldest = connection.execute(select(jobs.c.id, jobs.c.run_id, DbNowS() - jobs.c.queued_at_s)
                                        .where(in_queue, jobs.c.state == "queued")
                                        .order_by(jobs.c.queued_at_s, jobs.c.id).limit(1)).first()
        by_state: dict[str, dict[str, int]] = {"queued": {}, "running": {}}
        for state, profile, count in counts:
            by_state[state][profile] = int(count)
        return QueueStatus(by_state["queued"], by_state["running"], *(
            (oldest[0], oldest[1], float(oldest[2] or 0.0)) if oldest else (None, None, None)))


def _claim_statements(one_run: bool) -> tuple[Any, Any]:
    """The two statements that claim a job for a device, built once with bind parameters (``claim_device``,
    ``claim_profile``, ``served_since_s``, and ``claim_run`` with ``one_run``): a worker claims thousands of
    times, and building the expressions would cost more than running them.

    Each picks, locks and claims a job in one statement and returns what the worker needs of it: the first
    the device's own jobs (an index lookup on state, profile, planned device), the second the profile's jobs
    that may move.
    """
    device, profile, since = bindparam("claim_device"), bindparam("claim_profile"), bindparam("served_since_s")
    failed_on = _failed_on(device)
    planned_out = exists().where(devices.c.name == jobs.c.planned_device,
                                 devices.c.health.in_(("quarantined", "retired")))
    planned_served = exists().where(leases.c.device == jobs.c.planned_device, leases.c.expires_at_s > since)
    sibling = devices.alias("sibling")
    sibling_can_take = exists().where(  # another healthy, served device of the profile that has not failed it
        sibling.c.profile == profile, sibling.c.name != device, sibling.c.health.not_in(("quarantined", "retired")),
        exists().where(leases.c.device == sibling.c.name, leases.c.expires_at_s > DbNowS()),
        ~_failed_on(sibling.c.name))
    waiting = (select(jobs.c.id).join(runs, runs.c.id == jobs.c.run_id)
               .where(runs.c.queued.is_(True), runs.c.status == "running", jobs.c.state == "queued",
                      jobs.c.profile == profile, jobs.c.artifact_sha256.is_not(None)))
    if one_run:
        waiting = waiting.where(jobs.c.run_id == bindparam("claim_run", type_=String))
    own = waiting.where(jobs.c.planned_device == device, ~failed_on).order_by(jobs.c.id)
    movable = (waiting.where(or_(jobs.c.planned_device == device, jobs.c.moved.is_(True), planned_out,
                                 ~planned_served & (jobs.c.queued_at_s < since)),
                             or_(~failed_on, ~sibling_can_take))
               .order_by(case((failed_on, 1), else_=0), case((jobs.c.planned_device == device, 0), else_=1),
                         jobs.c.id))

    def attempts_that(*where: ColumnElement[bool]) -> Any:
        return select(func.count()).where(attempts.c.job_id == jobs.c.id, *where).scalar_subquery()

    return tuple(
        update(jobs).where(jobs.c.id == candidate.limit(1).with_for_update(of=jobs, skip_locked=True).scalar_subquery())
        .values(state="running", device=device)
        .returning(jobs, attempts_that().label("earlier"),
                   select(runs.c.args).where(runs.c.id == jobs.c.run_id).scalar_subquery().label("args"))
        for candidate in (own, movable))


def _failed_on(device: Any) -> ColumnElement[bool]:
    """The job failed with an infra error on ``device`` before."""
    return exists().where(attempts.c.job_id == jobs.c.id, attempts.c.device == device, attempts.c.outcome == "infra")


_CLAIMS = {False: _claim_statements(False), True: _claim_statements(True)}


def _lose_attempts(connection: Connection, where: ColumnElement[bool], reason: str) -> list[int]:
    """Running attempts that lost their device end ``infra``; each job becomes what ``policy.after_attempt``
    says (queued for any device of its profile, or ``infra`` once its run's retry budget is spent, with the
    history of its attempts)."""
    touched = interrupt(connection, where, reason)
    for job_id in touched:
        history = connection.execute(select(attempts.c.number, attempts.c.device, attempts.c.worker,
                                            attempts.c.outcome, attempts.c.reason)
                                     .where(attempts.c.job_id == job_id).order_by(attempts.c.number)).all()
        args = connection.execute(select(runs.c.args).join(jobs, jobs.c.run_id == runs.c.id)
                                  .where(jobs.c.id == job_id)).scalar_one()
        infra = sum(row.outcome == "infra" for row in history)
        decision = after_attempt("infra", reason, infra_attempts=infra,
                                 invalid_attempts=sum(row.outcome == "invalid" for row in history), infra_in_a_row=0,
                                 budgets=Budgets.of_run(args or {}))
        if decision.job_state == "queued":
            values: dict[str, Any] = {"state": "queued", "reason": reason, "moved": decision.moved,
                                      "queued_at_s": DbNowS()}
        else:
            told = "; ".join(f"attempt {row.number} on {row.device}" + (f" ({row.worker})" if row.worker else "")
                             + f": {row.outcome}, {row.reason}" for row in history)
            values = {"state": decision.job_state, "reason": f"lost its device {infra} times: {told}"}
        connection.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.state == "running").values(**values))
    return touched
