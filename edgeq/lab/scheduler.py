"""``edgeq lab run``: plan a matrix, build each artifact once per profile, queue its jobs in the store, and
serve them with an in-process worker (``edgeq.lab.worker``) — the same queue and the same worker that
``edgeq lab submit`` and ``edgeq lab worker`` use across hosts. There is no second scheduler.

Planning is shared too: ``plan`` creates (or resumes) the run, expands the matrix into jobs and builds their
artifacts; a submitted run is planned the same way and left to the workers.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from typing import Any

from edgeq.device.inventory import DeviceEntry, Inventory
from edgeq.errors import ConfigError
from edgeq.lab.builds import Builds
from edgeq.lab.events import LabEvent
from edgeq.lab.outcomes import outcome_of
from edgeq.lab.plan import LabRequest, select_devices
from edgeq.lab.records import JobKey, RunRecord
from edgeq.lab.attempt import result_key
from edgeq.lab.settings import WorkerOptions
from edgeq.lab.worker import TransportFactory, Worker
from edgeq.profiles import DeviceProfile, load_profile
from edgeq.quantize.spec import artifact_label

__all__ = ["LabEvent", "LabRun", "TransportFactory", "plan", "result_key", "run_lab"]

log = logging.getLogger(__name__)


class LabRun:
    """One lab run in this process: ``prepare`` plans it, ``execute`` serves it from the queue until every job
    is final (or ``stop`` is set)."""

    def __init__(self, inventory: Inventory, request: LabRequest, store: Any, *,
                 transport_factory: TransportFactory | None = None, progress: Callable[[LabEvent], None] | None = None,
                 stop: threading.Event | None = None) -> None:
        self.inventory, self.request, self.store = inventory, request, store
        self.transport_factory = transport_factory
        self.say = progress or (lambda event: None)
        self.stop = stop or threading.Event()
        self.entries = select_devices(inventory, request)
        self.builds = Builds(self.say)
        self.run_id = ""

    def prepare(self) -> str:
        """Create (or resume) the run in the store, plan its jobs and build what they need; the run's id."""
        self.run_id = plan(self.inventory, self.request, self.store, self.entries, self.builds, self.say)
        return self.run_id

    def execute(self) -> None:
        """Queue the run's jobs and serve them on its devices; returns when all are final, or when ``stop`` is
        set and the running ones were interrupted (back in the queue for ``--resume``)."""
        store = self.store
        store.enqueue_run(self.run_id)
        worker = Worker(self.inventory, store, entries=self.entries, run_id=self.run_id, builds=self.builds,
                        options=WorkerOptions(name=holder(self.run_id), poll_s=0.2),
                        transport_factory=self.transport_factory, progress=self.say, stop=self.stop)
        worker.serve()
        if not self.stop.is_set():
            for job in store.jobs_for(self.run_id):
                if job.state == "queued":  # no device of its profile is left to take it
                    reason = f"no healthy device of profile {job.profile} was left to run it"
                    store.set_job_state(job.id, "skipped", reason)
                    self.say(LabEvent(job.planned_device, "skipped", _name(job), reason))
        store.finish_run(self.run_id, "interrupted" if self.stop.is_set() else "finished")


def holder(run_id: str) -> str:
    """Who holds the devices of a run in this process: ``--resume`` knows the holders of a killed run by it."""
    return f"run {run_id} pid {os.getpid()}@{socket.gethostname()}"


def plan(inventory: Inventory, request: LabRequest, store: Any, entries: list[DeviceEntry], builds: Builds,
         say: Callable[[LabEvent], None], *, submitted: bool = False) -> str:
    """Create (or resume) ``request``'s run, add a job per cell of its matrix and build the jobs' artifacts;
    the run's id. The run carries the inventory's budgets and job timeout, which every worker and the reaper
    read from it. ``submitted``: the run is for ``edgeq lab worker`` processes (``edgeq lab submit``)."""
    store.sync_devices([(e.name, e.profile_name, list(e.tags)) for e in inventory.devices.values()])
    settings = inventory.lab
    if request.resume:
        if _submitted(store.run(request.resume)):  # raises when there is no such run
            raise ConfigError(f"run {request.resume} was submitted to the lab's workers; they finish it",
                              hint=f"follow it with: edgeq lab wait {request.resume}")
        # on one host, resuming means the process that held this run's leases is gone
        store.recover(request.resume, dead_holders=[lease.holder for lease in store.leases()
                                                    if lease.holder.startswith(f"run {request.resume} ")])
        store.reopen_run(request.resume)
        run_id = request.resume
    else:
        run_id = store.create_run(request.label, {
            **request.to_dict(), "reuse": request.reuse, "job_timeout_s": settings.job_timeout_s,
            **settings.budgets.to_args(), "submitted": submitted})
    existing = {job.id: job for job in store.jobs_for(run_id)}
    profiles = {entry.profile: load_profile(entry.profile) for entry in entries}
    for entry in entries:
        profile = profiles[entry.profile]
        for model in request.models:
            for fmt in _formats(request, profile):
                for scheme in request.schemes:
                    _plan_job(store, run_id, entry, profile, model, scheme, fmt, builds, existing, say)
    return run_id


def _formats(request: LabRequest, profile: DeviceProfile) -> list[str]:
    """The formats asked for that the profile runs; without ``--formats``, the profile's first."""
    if not request.formats:
        return [profile.formats[0]]
    return [fmt for fmt in request.formats if fmt in profile.formats]


def _submitted(run: RunRecord) -> bool:
    """A run ``edgeq lab submit`` handed to the workers (stores from before 0005 tell it by ``queued`` alone)."""
    return bool(run.args.get("submitted", run.queued))


def _plan_job(store: Any, run_id: str, entry: DeviceEntry, profile: DeviceProfile, model: str, scheme: str,
              fmt: str, builds: Builds, existing: dict[int, Any], say: Callable[[LabEvent], None]) -> None:
    build = builds.build(model, profile)
    resolved, spec = scheme, None
    if build is not None:
        try:
            resolved = build.resolve(scheme)
            spec = build.spec(resolved, fmt)
        except ConfigError as exc:  # a language model's scheme for another model, a .ptl of a language model
            say(LabEvent(entry.name, "skipped", f"{model}/{entry.name}/{scheme}.{fmt}", f"not planned: {exc.message}"))
            return
    variant = spec.variant if spec is not None else ({"none": "fp32", "fp16": "fp16"}.get(scheme) or f"int8-{scheme}")
    job_id = store.add_job(run_id, model, profile.name, resolved, fmt, variant, entry.name)
    name = JobKey(model, entry.name, profile.name, variant, fmt).label
    record = existing.get(job_id)
    if record is not None and record.state not in ("queued", "running"):
        return  # finished before --resume: nothing to do
    if build is None:
        _finish_now(store, job_id, entry.name, name, "failed", builds.error(model, profile.name), None, say)
        return
    try:
        say(LabEvent("*", "building", name, f"building {artifact_label(variant, fmt)} for {profile.name}"))
        _, artifact = builds.artifact(model, profile, resolved, fmt)
    except Exception as exc:  # noqa: BLE001 - classified in one place: the model's fault, or edgeq's
        outcome = outcome_of(exc, building=True)
        _finish_now(store, job_id, entry.name, name, outcome.state, outcome.reason, outcome.traceback, say)
        return
    store.put_artifact(artifact.sha256, model, profile.name, variant, resolved, fmt, artifact.size_bytes,
                       artifact.manifest.data)
    if record is None or record.state == "queued":
        store.set_job_state(job_id, "queued", "", artifact_sha256=artifact.sha256)


def _finish_now(store: Any, job_id: int, device: str, name: str, state: str, reason: str, traceback: str | None,
                say: Callable[[LabEvent], None]) -> None:
    if traceback:
        log.error("%s: %s\n%s", name, reason, traceback)
    store.set_job_state(job_id, state, reason)
    say(LabEvent(device, state, name, reason))


def _name(job: Any) -> str:
    return JobKey(job.model, job.planned_device, job.profile, job.variant, job.format).label


def run_lab(inventory: Inventory, request: LabRequest, *, store: Any = None,
            transport_factory: TransportFactory | None = None, progress: Callable[[LabEvent], None] | None = None,
            stop: threading.Event | None = None) -> RunRecord:
    """Run ``request``'s matrix on the inventory's devices; the finished (or stopped) run as the store has it.

    ``store`` defaults to ``[lab] store`` of the inventory, else SQLite in ``edgeq-lab.db`` beside it;
    ``transport_factory(entry, profile)`` opens a device's connection (tests plug in ``FakeTransport``);
    setting ``stop`` stops the run cleanly: running jobs are interrupted and go back to the queue, leases
    are released, finished results are kept (``--resume`` finishes the rest).
    """
    if store is None:
        from edgeq.lab.store import open_store

        store = open_store(inventory.lab.store, default_path=inventory.path.with_name("edgeq-lab.db"))
    lab = LabRun(inventory, request, store, transport_factory=transport_factory, progress=progress, stop=stop)
    lab.prepare()
    lab.execute()
    return store.run(lab.run_id)
