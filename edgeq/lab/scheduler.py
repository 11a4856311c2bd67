"""Running a lab matrix: build each artifact once per profile, then measure it on the devices, one
job per device at a time under a lease, every attempt and result in the store.

The building half (``ModelBuild``) and the measuring half (``DeviceBench``) are ``edgeq run``'s own;
this module adds the schedule around them: which device takes which job, retries and re-queues,
health checks and quarantine, and stopping cleanly.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edgeq.bench import BenchSpec, runner_path
from edgeq.bench.stats import median
from edgeq.build import ModelBuild
from edgeq.device.inventory import DeviceEntry, Inventory
from edgeq.device.probe import governor_and_temperature
from edgeq.digest import file_sha256
from edgeq.errors import ConfigError, EdgeqError, summarize
from edgeq.export import Artifact
from edgeq.lab.health import GOLDEN_RUNS, golden_model, judge_golden
from edgeq.lab.outcomes import Outcome, invalid_conditions, outcome_of
from edgeq.lab.plan import BuildKey, LabRequest, select_devices
from edgeq.lab.records import HealthCheck, JobKey, Measurement, RunRecord
from edgeq.measure import DeviceBench, Target, reach
from edgeq.models import load_model
from edgeq.profiles import DeviceProfile, load_profile
from edgeq.quantize import choose_scheme
from edgeq.transport import Transport, open_transport

log = logging.getLogger(__name__)

TransportFactory = Callable[[DeviceEntry, DeviceProfile], Transport]
_LEASE_MARGIN_S = 120.0  # a lease outlives the job's timeout by this much
_LEASE_WAIT_S = 1.0  # how often a device held by another lab run is asked for again
INTERRUPTED = "interrupted: the lab run was stopped"


@dataclass(frozen=True)
class LabEvent:
    """What the lab is doing on a device, for a live view: ``state`` is ``building``, ``health``,
    ``running``, a job's final state, ``quarantined`` or ``finished``."""

    device: str
    state: str
    job: str | None = None
    message: str = ""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def result_key(artifact_sha256: str, device: str, runner_sha256: str, versions: dict[str, Any],
               bench: BenchSpec) -> str:
    """What decides a measurement, hashed: the artifact, the device, the runner, the device's runtime
    versions and how it was timed. ``--reuse`` skips a job whose key is already in the store."""
    decided = {"artifact": artifact_sha256, "device": device, "runner": runner_sha256,
               "versions": {k: versions.get(k) for k in ("python", "torch", "executorch")},
               "runs": bench.runs, "warmup": bench.warmup, "threads": bench.threads}
    return hashlib.sha256(json.dumps(decided, sort_keys=True).encode()).hexdigest()


@dataclass
class _Job:
    """A job's scheduling state in this process (the store holds the record)."""

    id: int
    key: BuildKey
    variant: str
    planned: str
    name: str
    artifact: Artifact | None = None
    state: str = "queued"
    avoid: set[str] = field(default_factory=set)  # devices it failed on with an infra error
    moved: bool = False  # may run on any device of its profile
    infra: int = 0
    invalid: int = 0
    args: dict[str, Any] = field(default_factory=dict)  # a submitted run's arguments (runs, budgets)


class _Builds:
    """The build half for every (model, profile): loaded once, artifacts built once, in this thread."""

    def __init__(self, say: Callable[[LabEvent], None]) -> None:
        self.say = say
        self.models: dict[str, Any] = {}
        self.builds: dict[tuple[str, str], ModelBuild] = {}
        self.errors: dict[tuple[str, ...], Outcome] = {}

    def build(self, model: str, profile: DeviceProfile) -> ModelBuild | None:
        key = (model, profile.name)
        if key in self.builds or key in self.errors:
            return self.builds.get(key)
        try:
            if model not in self.models:
                self.say(LabEvent("*", "building", message=f"loading {model}"))
                self.models[model] = load_model(model)
            self.builds[key] = ModelBuild(self.models[model], profile)
        except Exception as exc:  # noqa: BLE001 - classified in one place: the model's fault, or edgeq's
            self.errors[key] = outcome_of(exc, building=True)
            return None
        return self.builds[key]

    def error(self, model: str, profile: str) -> Outcome:
        """Why ``build`` gave None for (model, profile)."""
        return self.errors[(model, profile)]


class LabRun:
    """One lab run in progress: the store, the devices, the jobs and the workers that take them."""

    def __init__(self, inventory: Inventory, request: LabRequest, store: Any, *,
                 transport_factory: TransportFactory | None = None, progress: Callable[[LabEvent], None] | None = None,
                 stop: threading.Event | None = None) -> None:
        self.inventory, self.request, self.store, self.settings = inventory, request, store, inventory.lab
        self.transport_factory = transport_factory or (lambda entry, profile: open_transport(profile.transport, entry.address))
        self.say = progress or (lambda event: None)
        self.stop = stop or threading.Event()
        self.entries = select_devices(inventory, request)
        # by the inventory's reference (a name or a TOML path); jobs and artifacts carry the profile's name
        self.profiles = {entry.profile: load_profile(entry.profile) for entry in self.entries}
        self.bench_spec = {name: BenchSpec(runs=request.runs, warmup=request.warmup, threads=p.default_threads,
                                           timeout_s=self.settings.job_timeout_s, cpus=p.cpus)
                           for name, p in self.profiles.items()}
        self.runner_sha256 = file_sha256(runner_path())
        self.cond = threading.Condition()
        self.jobs: list[_Job] = []
        self.usable: dict[str, bool] = {}
        self.running: dict[str, _Job] = {}
        self.transports: dict[str, Transport] = {}
        self.golden: dict[str, tuple[ModelBuild, Artifact]] = {}
        self._golden_lock = threading.Lock()
        self.builds = _Builds(self.say)
        self._workers_done = threading.Event()

    # -- planning and building (this thread) --------------------------------------------------------------

    def prepare(self, *, queued: dict[str, Any] | None = None) -> str:
        """Create (or resume) the run in the store, plan its jobs and build what they need; the run's id.

        ``queued``: the run goes to the shared queue with these extra arguments (retry budgets, job
        timeout) for the workers that take its jobs (``edgeq lab submit``); nothing runs here.
        """
        store, request = self.store, self.request
        store.sync_devices([(e.name, e.profile_name, list(e.tags)) for e in self.inventory.devices.values()])
        if request.resume:
            if store.run(request.resume).queued:  # raises when there is no such run
                raise ConfigError(f"run {request.resume} was submitted to the lab's workers; they finish it",
                                  hint=f"follow it with: edgeq lab wait {request.resume}")
            # on one host, resuming means the process that held this run's leases is gone
            store.recover(request.resume, dead_holders=[lease.holder for lease in store.leases()
                                                        if lease.holder.startswith(f"run {request.resume} ")])
            self.run_id = request.resume
        elif queued is not None:  # the workers see it once every job is planned (``Store.enqueue_run``)
            self.run_id = store.create_run(request.label, {**request.to_dict(), **queued})
        else:
            self.run_id = store.create_run(request.label, request.to_dict())
        self.holder = f"run {self.run_id} pid {os.getpid()}@{socket.gethostname()}"
        builds = self.builds
        existing = {job.id: job for job in store.jobs_for(self.run_id)}
        for entry in self.entries:
            profile = self.profiles[entry.profile]
            for model in request.models:
                build = builds.build(model, profile)
                for fmt in self._formats(profile):
                    for scheme in request.schemes:
                        self._plan(entry, profile, model, scheme, fmt, build, builds, existing)
        return self.run_id

    def _formats(self, profile: DeviceProfile) -> list[str]:
        if not self.request.formats:
            return [profile.formats[0]]
        return [fmt for fmt in self.request.formats if fmt in profile.formats]

    def _plan(self, entry: DeviceEntry, profile: DeviceProfile, model: str, scheme: str, fmt: str,
              build: ModelBuild | None, builds: _Builds, existing: dict[int, Any]) -> None:
        resolved = scheme
        if build is not None and scheme == "auto":
            resolved, _ = choose_scheme(build.prepared)
        spec = build.spec(resolved, fmt) if build is not None else None
        variant = spec.variant if spec is not None else ({"none": "fp32", "fp16": "fp16"}.get(scheme) or f"int8-{scheme}")
        key = BuildKey(model, profile.name, resolved, fmt)
        job_id = self.store.add_job(self.run_id, model, profile.name, resolved, fmt, variant, entry.name)
        record = existing.get(job_id)
        job = _Job(job_id, key, variant, entry.name, JobKey(model, entry.name, profile.name, variant, fmt).label)
        if record is not None and record.state not in ("queued", "running"):
            return  # finished before --resume: nothing to do
        if build is None:
            self._finish_now(job, builds.error(model, profile.name))
            return
        try:
            self.say(LabEvent("*", "building", job.name, f"building {variant} .{fmt} for {profile.name}"))
            job.artifact = build.artifact(spec)
        except Exception as exc:  # noqa: BLE001 - classified in one place: the model's fault, or edgeq's
            self._finish_now(job, outcome_of(exc, building=True))
            return
        self.store.put_artifact(job.artifact.sha256, model, profile.name, variant, resolved, fmt,
                                job.artifact.size_bytes, job.artifact.manifest.data)
        self.store.set_job_state(job.id, "queued", "", artifact_sha256=job.artifact.sha256)
        self.jobs.append(job)

    def _finish_now(self, job: _Job, outcome: Outcome) -> None:
        if outcome.traceback:
            log.error("%s: %s\n%s", job.name, outcome.reason, outcome.traceback)
        self.store.set_job_state(job.id, outcome.state, outcome.reason)
        self.say(LabEvent(job.planned, outcome.state, job.name, outcome.reason))

    def _golden(self, profile_ref: str) -> tuple[ModelBuild, Artifact]:
        """The health check's golden artifact for a profile, built the first time a device of it needs one
        (devices that start healthy never do), one build at a time."""
        with self._golden_lock:
            if profile_ref not in self.golden:
                profile = self.profiles[profile_ref]
                build = ModelBuild(golden_model(), profile)
                self.golden[profile_ref] = (build, build.artifact(build.spec("none", profile.formats[0])))
            return self.golden[profile_ref]

    # -- measuring (one worker thread per device) --------------------------------------------------------

    def execute(self) -> None:
        """Run every queued job; returns when all are final, or when ``stop`` is set and the running ones ended."""
        for entry in self.entries:
            record = self.store.device(entry.name)
            self.usable[entry.name] = record.health not in ("quarantined", "retired")
            if not self.usable[entry.name]:
                self.say(LabEvent(entry.name, record.health, message=record.reason))
        for job in self.jobs:
            job.moved = not self.usable.get(job.planned, False)
        workers = [threading.Thread(target=self._work, args=(entry,), name=f"lab-{entry.name}", daemon=True)
                   for entry in self.entries if self.usable[entry.name]]
        watcher = threading.Thread(target=self._interrupt_on_stop, daemon=True)
        watcher.start()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        self._workers_done.set()
        watcher.join()  # no thread of the run may outlive it: daemon threads at interpreter exit can abort it
        for job in self.jobs:
            if job.state == "queued" and not self.stop.is_set():
                reason = f"no healthy device of profile {job.key.profile} was left to run it"
                job.state = "skipped"
                self._finish_now(job, Outcome("skipped", reason))
        self.store.finish_run(self.run_id, "interrupted" if self.stop.is_set() else "finished")

    def _interrupt_on_stop(self) -> None:
        """When the run is stopped, close every device's connection: the running benchmarks end at once."""
        while not self.stop.wait(0.2):
            if self._workers_done.is_set():
                return
        with self.cond:
            transports = list(self.transports.values())
            self.cond.notify_all()
        for transport in transports:
            try:
                transport.close()
            except Exception:  # noqa: BLE001 - closing a broken connection
                log.debug("closing a transport on stop failed", exc_info=True)

    def _take(self, entry: DeviceEntry) -> _Job | None:
        """The next job for this device: its own first, then moved ones of its profile. None when none
        can come any more: nothing of its profile is queued or running (a running job may fail and move)."""
        with self.cond:
            while not self.stop.is_set() and self.usable[entry.name]:
                same = [j for j in self.jobs if j.key.profile == self.profiles[entry.profile].name]
                queued = [j for j in same if j.state == "queued"]
                mine = [j for j in queued if entry.name not in j.avoid and (j.planned == entry.name or j.moved)]
                if not mine:  # a retry comes back to this device when no sibling is left to take it
                    others = [d for d in self._siblings(entry) if d != entry.name]
                    mine = [j for j in queued if j.moved and all(d in j.avoid for d in others)]
                if mine:
                    job = min(mine, key=lambda j: (j.planned != entry.name, j.id))
                    job.state = "running"
                    self.running[entry.name] = job
                    return job
                if not queued and not any(j.state == "running" for j in same):
                    return None
                self.cond.wait(0.5)
        return None

    def _siblings(self, entry: DeviceEntry) -> list[str]:
        return [e.name for e in self.entries if e.profile == entry.profile and self.usable.get(e.name)]

    def _settle(self, entry: DeviceEntry, job: _Job, state: str) -> None:
        with self.cond:
            job.state = state
            self.running.pop(entry.name, None)
            self.cond.notify_all()

    def _work(self, entry: DeviceEntry) -> None:
        scratch = Path(tempfile.mkdtemp(prefix=f"edgeq-lab-{entry.name}-"))
        benches: dict[tuple[str, BenchSpec], DeviceBench] = {}
        try:
            while (job := self._take(entry)) is not None:
                token = self._lease(entry)
                if token is None:
                    self._settle(entry, job, "queued")
                    break
                try:
                    if not self._healthy(entry, token, scratch):
                        with self.cond:
                            job.moved = True
                        self._settle(entry, job, "queued")
                        break
                    self._attempt(entry, job, token, scratch, benches)
                finally:
                    self.store.release_lease(entry.name, token)
        except Exception:  # noqa: BLE001 - a bug in one worker must not hang the others
            log.exception("the lab worker for %s stopped", entry.name)
            with self.cond:
                self.usable[entry.name] = False
                for job in self.jobs:
                    if job.state == "running" and self.running.get(entry.name) is job:
                        job.state, job.moved = "queued", True
                self.running.pop(entry.name, None)
                self.cond.notify_all()
        finally:
            self._disconnect(entry)
            shutil.rmtree(scratch, ignore_errors=True)
            self.say(LabEvent(entry.name, "finished"))

    def _lease(self, entry: DeviceEntry) -> int | None:
        ttl = self.settings.job_timeout_s + _LEASE_MARGIN_S
        while not self.stop.is_set():
            token = self.store.acquire_lease(entry.name, self.holder, ttl)
            if token is not None:
                return token
            self.say(LabEvent(entry.name, "waiting", message="held by another lab run"))
            self.stop.wait(_LEASE_WAIT_S)
        return None

    def _transport(self, entry: DeviceEntry) -> Transport:
        with self.cond:
            transport = self.transports.get(entry.name)
        if transport is None:
            transport = self.transport_factory(entry, self.profiles[entry.profile])
            with self.cond:
                self.transports[entry.name] = transport
        return transport

    def _disconnect(self, entry: DeviceEntry) -> None:
        with self.cond:
            transport = self.transports.pop(entry.name, None)
        if transport is not None:
            try:
                transport.close()
            except Exception:  # noqa: BLE001
                log.debug("closing %s failed", entry.name, exc_info=True)

    def _reach(self, entry: DeviceEntry, fmt: str) -> Target:
        return reach(self._transport(entry), self.profiles[entry.profile], fmt, entry.name, lambda message: None)

    # -- health ----------------------------------------------------------------------------------------------

    def _healthy(self, entry: DeviceEntry, token: int, scratch: Path) -> bool:
        """Run a health check when the device's health is unknown; False when it ends quarantined."""
        record = self.store.device(entry.name)
        if record.health == "good":
            return True
        if record.health in ("quarantined", "retired"):
            self._lose(entry, record.health, record.reason)
            return False
        self.say(LabEvent(entry.name, "health", message="health check"))
        check = self._health_check(entry, scratch)
        self.store.record_health_check(check)
        if check.outcome == "good":
            self.store.set_health(entry.name, "good", "")
            return True
        self.store.set_health(entry.name, "quarantined", f"health check failed: {check.reason}")
        self._lose(entry, "quarantined", check.reason)
        return False

    def _health_check(self, entry: DeviceEntry, scratch: Path) -> HealthCheck:
        profile = self.profiles[entry.profile]
        build, artifact = self._golden(entry.profile)
        try:
            target = self._reach(entry, artifact.format)
            spec = BenchSpec(runs=GOLDEN_RUNS, warmup=2, threads=profile.default_threads,
                             timeout_s=min(self.settings.job_timeout_s, 300.0), cpus=profile.cpus)
            folder = scratch / "golden"
            folder.mkdir(exist_ok=True)
            measured = DeviceBench(target, build.workload, spec, folder, remeasure_noisy=False).measure(artifact)
        except Exception as exc:  # noqa: BLE001 - any failure is the check's finding
            self._disconnect(entry)
            message = exc.message if isinstance(exc, EdgeqError) else summarize(exc)
            return HealthCheck(entry.name, _now(), "bad", message)
        p50 = measured.bench.latency.p50
        verdict = judge_golden(p50, self.store.golden_history(entry.name, self.settings.health_history),
                               self.settings.health_margin)
        return HealthCheck(entry.name, _now(), verdict.outcome, verdict.reason, p50)

    def _lose(self, entry: DeviceEntry, health: str, reason: str) -> None:
        """Take the device out of this run; its jobs move to its siblings."""
        self.say(LabEvent(entry.name, health, message=reason))
        with self.cond:
            self.usable[entry.name] = False
            for job in self.jobs:
                if job.planned == entry.name:
                    job.moved = True
            self.cond.notify_all()

    # -- one attempt -----------------------------------------------------------------------------------------

    def _attempt(self, entry: DeviceEntry, job: _Job, token: int, scratch: Path,
                 benches: dict[tuple[str, BenchSpec], DeviceBench], number: int | None = None) -> None:
        """Run one attempt of ``job`` on the device and record how it ended; ``number``: an attempt the
        shared queue's claim already started (``edgeq lab worker``)."""
        if number is None:
            if self.request.reuse and self._reuse(entry, job):
                return
            number = self.store.start_attempt(job.id, entry.name, token)
        self.say(LabEvent(entry.name, "running", job.name, f"attempt {number}"))
        measurement = None
        try:
            outcome, measurement = self._measure(entry, job, scratch, benches)
        except Exception as exc:  # noqa: BLE001 - classified in one place
            if self.stop.is_set():
                self.store.end_attempt(job.id, number, "infra", INTERRUPTED, token, job_state="queued")
                self._settle(entry, job, "queued")
                return
            outcome = outcome_of(exc)
            if outcome.traceback:
                log.error("%s on %s: %s\n%s", job.name, entry.name, outcome.reason, outcome.traceback)
            else:
                log.debug("%s on %s: %s", job.name, entry.name, outcome.reason, exc_info=exc)
        if outcome.state == "infra":
            self._disconnect(entry)
            benches.clear()
        device = self.store.note_attempt_outcome(entry.name, outcome.state)
        if outcome.state == "done":
            self.store.record_measurement(job.id, number, measurement, token)
            self.say(LabEvent(entry.name, "done", job.name, f"p50 {median(measurement.samples_ms):.3g} ms"))
            self._settle(entry, job, "done")
            return
        state = self._next_state(entry, job, outcome, device)
        self.store.end_attempt(job.id, number, outcome.state, outcome.reason, token, job_state=state, moved=job.moved,
                               measurement=measurement if outcome.state == "invalid" else None,
                               traceback=outcome.traceback)
        retried = " (queued again)" if state == "queued" else ""
        self.say(LabEvent(entry.name, outcome.state, job.name, outcome.reason + retried))
        self._settle(entry, job, state)

    def _reuse(self, entry: DeviceEntry, job: _Job) -> bool:
        """``--reuse``: the job is done without running when the store holds its exact measurement."""
        try:
            facts = self._reach(entry, job.key.format).facts
        except Exception:  # noqa: BLE001 - the attempt that follows meets and classifies the same failure
            return False
        key = self._result_key(entry, job, facts)
        if self.store.reuse_measurement(job.id, key) is None:
            return False
        self.say(LabEvent(entry.name, "done", job.name, "reused: the store holds this exact measurement"))
        self._settle(entry, job, "done")
        return True

    def _result_key(self, entry: DeviceEntry, job: _Job, facts: Any) -> str:
        versions = {"python": facts.python, "torch": facts.torch, "executorch": facts.executorch}
        return result_key(job.artifact.sha256, entry.name, self.runner_sha256, versions, self._bench_spec(entry, job))

    def _bench_spec(self, entry: DeviceEntry, job: _Job) -> BenchSpec:
        """How ``job`` is timed on this device: the run's runs and warmup, the profile's threads and CPUs."""
        return self.bench_spec[entry.profile]

    def _measure(self, entry: DeviceEntry, job: _Job, scratch: Path,
                 benches: dict[tuple[str, BenchSpec], DeviceBench]) -> tuple[Outcome, Measurement]:
        target = self._reach(entry, job.key.format)
        artifact, facts = job.artifact, target.facts
        build = self._builds_for(job)
        spec = self._bench_spec(entry, job)
        bench = benches.get((job.key.model, spec))
        if bench is None:
            folder = scratch / hashlib.sha256(job.key.model.encode()).hexdigest()[:12]
            folder.mkdir(exist_ok=True)
            bench = benches[(job.key.model, spec)] = DeviceBench(target, build.workload, spec, folder,
                                                                 remeasure_noisy=False)
        before = {"governor": facts.governor, "temperature_c": facts.temperature_c}
        measured = bench.measure(artifact)
        _, quality = build.score(measured.outputs, artifact)
        governor, temperature = governor_and_temperature(target.transport)
        after = {"governor": governor, "temperature_c": temperature}
        result = measured.bench
        measurement = Measurement(
            result_key=self._result_key(entry, job, facts), artifact_sha256=artifact.sha256, device=entry.name,
            samples_ms=tuple(result.latencies_ms), measured_at=_now(), size_bytes=artifact.size_bytes,
            load_ms=result.load_ms, peak_rss_mb=result.peak_rss_mb, metric=build.metric.name, quality=quality,
            numerics=measured.numerics,
            versions={**result.versions, "runner": self.runner_sha256[:16], "arch": result.arch, "threads": result.threads,
                      "cpu": facts.cpu},
            conditions={"before": before, "after": after})
        invalid = invalid_conditions(before, after, entry.max_temperature_c)
        if invalid is not None:
            return Outcome("invalid", invalid), measurement
        return Outcome("done", ""), measurement

    def _next_state(self, entry: DeviceEntry, job: _Job, outcome: Outcome, device: Any) -> str:
        """What a job becomes after an attempt that did not end done, and what that means for the device."""
        settings = self._budget(job)
        if outcome.state == "infra":
            job.infra += 1
            if device.consecutive_infra >= settings.quarantine_after:
                why = f"{device.consecutive_infra} infrastructure failures in a row; the last: {outcome.reason}"
                self.store.set_health(entry.name, "quarantined", why)
                self._lose(entry, "quarantined", why)
            else:
                self.store.set_health(entry.name, "unknown", outcome.reason)  # a health check before its next job
            if job.infra <= settings.infra_retries:
                with self.cond:
                    job.avoid.add(entry.name)
                    job.moved = True
                return "queued"
        elif outcome.state == "invalid":
            job.invalid += 1
            if job.invalid <= settings.invalid_requeues:
                return "queued"  # measured again where it was planned: the result is that device's
        return outcome.state

    def _budget(self, job: _Job) -> Any:
        """The retry budgets and quarantine threshold ``job`` runs under: the inventory's ``[lab]`` table."""
        return self.settings

    def _builds_for(self, job: _Job) -> ModelBuild:
        return self.builds.builds[(job.key.model, job.key.profile)]


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
    run_id = lab.prepare()
    lab.execute()
    return store.run(run_id)

