"""A lab worker: a long-running process on one lab host that serves the devices attached to it.

``edgeq lab submit`` plans a run and puts its jobs in the shared store (PostgreSQL across hosts); every
host runs ``edgeq lab worker`` for its own devices. A worker holds a lease on each of its devices for as
long as it lives, renewed by a heartbeat, and claims one job at a time per device from the queue (the
store picks and locks it in one statement). It writes a result only under the lease it claimed with: a
worker presumed dead that comes back late is refused by the store, and its job's result stays the new
owner's. Every heartbeat also reaps: jobs whose worker stopped beating go back to the queue.

The per-device work — health checks, building from the content cache, measuring, classifying the outcome —
is ``LabRun``'s own; this module replaces its in-process queue with the store's.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeq.bench import BenchSpec
from edgeq.device.inventory import DeviceEntry, Inventory
from edgeq.errors import ConfigError, ConnectError, EdgeqError
from edgeq.lab.outcomes import Outcome, outcome_of
from edgeq.lab.plan import BuildKey, LabRequest
from edgeq.lab.records import Claim
from edgeq.lab.scheduler import LabEvent, LabRun, TransportFactory, _Job
from edgeq.lab.store import LeaseLost, Store, StoreError

log = logging.getLogger(__name__)

_BACKOFF_FIRST_S = 0.5
_BACKOFF_MAX_S = 15.0


@dataclass(frozen=True)
class WorkerOptions:
    """How a worker keeps its devices: lease length (a worker silent this long is presumed dead), how
    often it polls an empty queue, and when it exits by itself."""

    name: str | None = None  # default: host:pid:random
    lease_ttl_s: float = 30.0
    poll_s: float = 1.0
    idle_exit_s: float | None = None  # exit after this long with nothing to do (None: run until stopped)
    store_patience_s: float = 600.0  # how long a lost store is waited for before the worker gives up

    def __post_init__(self) -> None:
        if self.lease_ttl_s < 1.0:
            raise ConfigError(f"--lease-ttl must be at least 1 s, got {self.lease_ttl_s:g}")
        if self.poll_s <= 0:
            raise ConfigError(f"--poll must be positive, got {self.poll_s:g}")


class PatientStore:
    """The store with every call retried, with backoff, while the database is unreachable.

    A worker outlives database restarts and network cuts: it waits and goes on. Results written under a
    lease that expired meanwhile are refused as any late write is, and their jobs run again.
    """

    def __init__(self, store: Store, stop: threading.Event, patience_s: float,
                 say: Callable[[LabEvent], None] = lambda event: None) -> None:
        self._store, self._stop, self._patience_s, self._say = store, stop, patience_s, say

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._store, name)
        if not callable(method):
            return method

        def patiently(*args: Any, **kwargs: Any) -> Any:
            delay, since = _BACKOFF_FIRST_S, time.monotonic()
            while True:
                try:
                    return method(*args, **kwargs)
                except ConnectError as exc:
                    if time.monotonic() - since > self._patience_s or self._stop.is_set():
                        raise
                    log.warning("%s; trying again in %.1f s", exc.message, delay)
                    self._say(LabEvent("*", "store", message=f"store unreachable, retrying in {delay:.1f} s"))
                    time.sleep(delay)
                    delay = min(delay * 2, _BACKOFF_MAX_S)

        return patiently


class Worker(LabRun):
    """The devices of one host, serving the shared queue until drained or stopped."""

    def __init__(self, inventory: Inventory, store: Store, *, devices: tuple[str, ...] = (), tags: tuple[str, ...] = (),
                 options: WorkerOptions | None = None, transport_factory: TransportFactory | None = None,
                 progress: Callable[[LabEvent], None] | None = None, stop: threading.Event | None = None,
                 drain: threading.Event | None = None) -> None:
        self.options = options or WorkerOptions()
        self.name = self.options.name or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"
        stop = stop or threading.Event()
        say = progress or (lambda event: None)
        # The matrix options select this host's devices; the models come from the submitted runs.
        request = LabRequest(models=("(submitted runs)",), devices=devices, tags=tags)
        super().__init__(inventory, request, PatientStore(store, stop, self.options.store_patience_s, say),
                         transport_factory=transport_factory, progress=progress, stop=stop)
        self.holder = self.name
        self.drain = drain or threading.Event()
        self.tokens: dict[str, int] = {}
        self._build_lock = self._golden_lock  # one export at a time: job artifacts and the golden one
        self._last_busy = time.monotonic()
        self.refused = 0  # results the store refused because their lease had passed on

    # -- the process ---------------------------------------------------------------------------------------

    def serve(self) -> None:
        """Register, lease the devices, and take jobs until drained, stopped or idle for ``idle_exit_s``."""
        store = self.store
        store.sync_devices([(e.name, e.profile_name, list(e.tags)) for e in self.entries])
        store.register_worker(self.name, socket.gethostname(), os.getpid(), [e.name for e in self.entries])
        self._renew()
        keeper = threading.Thread(target=self._keep, name="lab-heartbeat", daemon=True)
        watcher = threading.Thread(target=self._interrupt_on_stop, daemon=True)
        workers = [threading.Thread(target=self._work, args=(entry,), name=f"lab-{entry.name}", daemon=True)
                   for entry in self.entries]
        for thread in (keeper, watcher, *workers):
            thread.start()
        try:
            for thread in workers:
                while thread.is_alive():
                    thread.join(0.5)
        finally:
            self._workers_done.set()
            self.drain.set()
            keeper.join(timeout=5)
            watcher.join(timeout=5)
            self.store.stop_worker(self.name)
            self.say(LabEvent("*", "stopped", message=f"worker {self.name} stopped"))

    def _keep(self) -> None:
        """The heartbeat: renew the leases (taking back lost ones), then reap jobs whose worker was lost."""
        period = self.options.lease_ttl_s / 3
        while not self._workers_done.wait(period):
            try:
                self._renew()
                for run_job in self.store.reap():
                    log.info("job %s lost its worker and went back to the queue", run_job)
            except EdgeqError as exc:  # the store gone for longer than the worker's patience
                log.error("heartbeat: %s", exc.message)
                self.stop.set()
                return

    def _renew(self) -> None:
        held = self.store.heartbeat(self.name, dict(self.tokens), self.options.lease_ttl_s)
        for device, still in held.items():
            if not still:
                log.warning("%s: the lease expired (this worker was silent too long); taking it again", device)
                self.say(LabEvent(device, "waiting", message="lease lost; taking it again"))
                self.tokens.pop(device, None)
        for entry in self.entries:
            if entry.name not in self.tokens and self.usable.get(entry.name, True):
                token = self.store.acquire_lease(entry.name, self.name, self.options.lease_ttl_s)
                if token is None:
                    self.say(LabEvent(entry.name, "waiting", message="leased to another worker"))
                else:
                    self.tokens[entry.name] = token

    # -- one device --------------------------------------------------------------------------------------

    def _work(self, entry: DeviceEntry) -> None:
        scratch = Path(tempfile.mkdtemp(prefix=f"edgeq-worker-{entry.name}-"))
        benches: dict[tuple[str, BenchSpec], Any] = {}
        profile = self.profiles[entry.profile]
        self.usable[entry.name] = self.store.device(entry.name).health not in ("quarantined", "retired")
        try:
            while not (self.drain.is_set() or self.stop.is_set()) and self.usable[entry.name]:
                token = self.tokens.get(entry.name)
                if token is None:
                    self.stop.wait(self.options.poll_s)
                    continue
                if not self._healthy(entry, token, scratch):
                    break
                try:
                    claim = self.store.claim_job(self.name, entry.name, profile.name, token,
                                                 grace_s=self.options.lease_ttl_s)
                except LeaseLost:
                    self.tokens.pop(entry.name, None)
                    continue
                if claim is None:
                    if self._idle_too_long():
                        self.drain.set()
                    self.say(LabEvent(entry.name, "idle"))
                    self.stop.wait(self.options.poll_s)
                    continue
                self._last_busy = time.monotonic()
                self._run_claim(entry, claim, token, scratch, benches)
                self._last_busy = time.monotonic()
        except EdgeqError as exc:  # the store lost for longer than the worker's patience
            log.error("%s: stopped serving: %s", entry.name, exc.message)
            self.stop.set()
        except Exception:  # noqa: BLE001 - a bug in one device's thread must not take the others down
            log.exception("the worker's thread for %s stopped", entry.name)
        finally:
            self._disconnect(entry)
            shutil.rmtree(scratch, ignore_errors=True)
            self.say(LabEvent(entry.name, "finished"))

    def _idle_too_long(self) -> bool:
        idle_exit_s = self.options.idle_exit_s
        return idle_exit_s is not None and time.monotonic() - self._last_busy > idle_exit_s

    def _run_claim(self, entry: DeviceEntry, claim: Claim, token: int, scratch: Path, benches: dict) -> None:
        record = claim.job
        key = BuildKey(record.model, record.profile, record.scheme, record.format)
        job = _Job(record.id, key, record.variant, record.planned_device, record.name, state="running",
                   infra=claim.infra, invalid=claim.invalid, args=claim.args)
        with self.cond:
            self.running[entry.name] = job
        try:
            problem = self._build(entry, job, record.artifact_sha256)
            if problem is not None:
                self.store.end_attempt(job.id, claim.attempt, problem.state, problem.reason, token,
                                       job_state=problem.state, traceback=problem.traceback)
                self.say(LabEvent(entry.name, problem.state, job.name, problem.reason))
            else:
                self._attempt(entry, job, token, scratch, benches, number=claim.attempt)
        except LeaseLost as exc:
            self.refused += 1
            log.warning("%s on %s: the store refused the result: %s", job.name, entry.name, exc.message)
            self.say(LabEvent(entry.name, "refused", job.name, exc.message))
        except StoreError as exc:
            log.warning("%s on %s: %s", job.name, entry.name, exc.message)
        finally:
            with self.cond:
                self.running.pop(entry.name, None)
            self.store.finish_if_drained(record.run_id)

    def _build(self, entry: DeviceEntry, job: _Job, expected_sha256: str | None) -> Outcome | None:
        """The job's artifact from this host's content cache (built on first use); how the job ends when it
        cannot be built, or None."""
        profile = self.profiles[entry.profile]
        with self._build_lock:
            build = self.builds.build(job.key.model, profile)
            if build is None:
                return self.builds.error(job.key.model, profile.name)
            try:
                job.artifact = build.artifact(build.spec(job.key.scheme, job.key.format))
            except Exception as exc:  # noqa: BLE001 - classified in one place: the model's fault, or edgeq's
                return outcome_of(exc, building=True)
        if expected_sha256 and job.artifact.sha256 != expected_sha256:
            return Outcome("failed", f"this host built other bytes than the submitter (sha256 "
                                     f"{job.artifact.sha256[:12]}…, submitted {expected_sha256[:12]}…): its torch, "
                                     "executorch or edgeq differ")
        return None

    # -- what the in-process lab decides from its own memory, the worker asks the store or the run ------------

    def _bench_spec(self, entry: DeviceEntry, job: _Job) -> BenchSpec:
        profile, args = self.profiles[entry.profile], job.args
        return BenchSpec(runs=int(args.get("runs", 20)), warmup=int(args.get("warmup", 3)),
                         threads=profile.default_threads, timeout_s=float(args.get("job_timeout_s", self.settings.job_timeout_s)),
                         cpus=profile.cpus)

    def _budget(self, job: _Job) -> Any:
        args = job.args
        return dataclasses.replace(self.settings, **{key: args[key] for key in ("infra_retries", "invalid_requeues")
                                                     if key in args})

    def _lose(self, entry: DeviceEntry, health: str, reason: str) -> None:
        """The device is out (quarantined, retired): the queue moves its planned jobs to its siblings."""
        self.say(LabEvent(entry.name, health, message=reason))
        with self.cond:
            self.usable[entry.name] = False

    def _settle(self, entry: DeviceEntry, job: _Job, state: str) -> None:
        job.state = state


def run_worker(inventory: Inventory, store: Store, **kwargs: Any) -> Worker:
    """Serve the inventory's devices (``devices``/``tags`` select this host's) from the shared queue until
    ``drain`` or ``stop`` is set (or ``options.idle_exit_s`` passes idle); returns the finished worker."""
    worker = Worker(inventory, store, **kwargs)
    worker.serve()
    return worker
