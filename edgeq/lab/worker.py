"""The lab's worker: one thread per device, claiming jobs from the store's queue — the lab's only scheduler.

``edgeq lab run`` runs one in its own process for the run it planned (``run_id``: it serves that run and stops
when nothing of it is left for its devices); ``edgeq lab worker`` runs one on each lab host for the devices
attached there, serving every submitted run until drained. Either way a worker holds a lease on each of its
devices, renewed by a heartbeat that also tells the device (``fence``: a command whose lease stops being
renewed is stopped on the device itself) and reaps the jobs of lost workers. Per device it runs a health check
when the device's health is unknown, claims a job (the store picks and locks it), builds its artifact from
the content cache, measures it through the measuring half ``edgeq run`` uses, and ends the attempt; what
follows (a retry, a move, quarantine) the store decides in that same transaction (``policy``). A result
written under a lease that passed on is refused by the database, and counted here as ``refused``.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgeq.bench import BenchSpec, runner_path
from edgeq.device.inventory import DeviceEntry, Inventory
from edgeq.digest import file_sha256
from edgeq.errors import ConnectError, EdgeqError, summarize
from edgeq.lab.attempt import AttemptRunner
from edgeq.lab.builds import Builds
from edgeq.lab.events import LabEvent
from edgeq.transport.fence import FencedTransport
from edgeq.lab.health import GOLDEN_RUNS, judge_golden
from edgeq.lab.outcomes import outcome_of
from edgeq.lab.plan import LabRequest, select_devices
from edgeq.lab.settings import WorkerOptions
from edgeq.lab.records import HealthCheck
from edgeq.lab.store import LeaseLost, Store
from edgeq.lab.store.engine import now
from edgeq.measure import Target, reach
from edgeq.profiles import DeviceProfile, load_profile
from edgeq.transport import Transport, open_transport

log = logging.getLogger(__name__)

TransportFactory = Callable[[DeviceEntry, DeviceProfile], Transport]
_BACKOFF_FIRST_S = 0.5
_BACKOFF_MAX_S = 15.0


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


class Worker(AttemptRunner):
    """Devices of this host serving the queue: of every submitted run until drained or stopped, or of one run
    (``run_id``) until nothing of it is left for them."""

    def __init__(self, inventory: Inventory, store: Store, *, devices: tuple[str, ...] = (), tags: tuple[str, ...] = (),
                 entries: list[DeviceEntry] | None = None, options: WorkerOptions | None = None,
                 run_id: str | None = None, builds: Builds | None = None,
                 transport_factory: TransportFactory | None = None, progress: Callable[[LabEvent], None] | None = None,
                 stop: threading.Event | None = None, drain: threading.Event | None = None) -> None:
        self.options = options or WorkerOptions()
        self.name = self.options.name or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"
        self.stop = stop or threading.Event()
        self.drain = drain or threading.Event()
        self.say = progress or (lambda event: None)
        self.store: Any = PatientStore(store, self.stop, self.options.store_patience_s, self.say)
        self.settings, self.run_id = inventory.lab, run_id
        self.entries = entries if entries is not None else select_devices(
            inventory, LabRequest(models=("(the queue's)",), devices=devices, tags=tags))
        self.profiles = {entry.profile: load_profile(entry.profile) for entry in self.entries}
        self.transport_factory = transport_factory or (lambda entry, profile: open_transport(profile.transport, entry.address))
        self.builds = builds or Builds(self.say)
        self.runner_sha256 = file_sha256(runner_path())
        self.refused = 0  # results the store refused because their lease had passed on
        self._lock = threading.Lock()
        self._tokens: dict[str, int] = {}
        self._transports: dict[str, FencedTransport] = {}
        self._usable: dict[str, bool] = {}
        self._done = threading.Event()
        self._last_busy = time.monotonic()

    # -- the process ---------------------------------------------------------------------------------------

    def serve(self) -> None:
        """Lease the devices, and take jobs until drained, stopped, idle for ``idle_exit_s``, or (with ``run_id``)
        until the run has nothing left for them."""
        store = self.store
        store.sync_devices([(e.name, e.profile_name, list(e.tags)) for e in self.entries])
        if self.run_id is None:
            store.register_worker(self.name, socket.gethostname(), os.getpid(), [e.name for e in self.entries])
        for entry in self.entries:
            record = store.device(entry.name)
            self._usable[entry.name] = record.health not in ("quarantined", "retired")
            if not self._usable[entry.name]:
                self.say(LabEvent(entry.name, record.health, message=record.reason))
        self._renew()
        keeper = threading.Thread(target=self._keep, name="lab-heartbeat", daemon=True)
        watcher = threading.Thread(target=self._interrupt_on_stop, name="lab-stop", daemon=True)
        devices = [threading.Thread(target=self._work, args=(entry,), name=f"lab-{entry.name}", daemon=True)
                   for entry in self.entries if self._usable[entry.name]]
        for thread in (keeper, watcher, *devices):
            thread.start()
        try:
            for thread in devices:
                while thread.is_alive():
                    thread.join(0.5)
        finally:
            self._done.set()
            keeper.join()
            watcher.join()  # no thread of the worker may outlive it: daemon threads at exit can abort the process
            self._give_back()
            self.say(LabEvent("*", "stopped", message=f"worker {self.name} stopped"))

    def _give_back(self) -> None:
        """The devices' leases end now (their watchdogs stop anything left), and the worker is shown stopped."""
        for device, token in list(self._tokens.items()):
            self._clear_lease_file(device)
            if self.run_id is not None:
                self.store.release_lease(device, token)
        if self.run_id is None:
            self.store.stop_worker(self.name)
        for entry in self.entries:
            self._disconnect(entry)

    def _keep(self) -> None:
        """The heartbeat: renew the leases (taking back lost ones) and tell the devices, then reap jobs whose
        worker was lost."""
        period = self.options.lease_ttl_s / 3
        while not self._done.wait(period):
            try:
                self._renew()
                for job in self.store.reap():
                    log.info("job %s lost its worker and went back to the queue", job)
            except EdgeqError as exc:  # the store gone for longer than the worker's patience
                log.error("heartbeat: %s", exc.message)
                self.stop.set()
                return

    def _renew(self) -> None:
        ttl = self.options.lease_ttl_s
        with self._lock:
            held = dict(self._tokens)
        renewed = self.store.heartbeat(self.name, held, ttl)
        for device, still in renewed.items():
            if still:
                self._announce(device, held[device])
                continue
            log.warning("%s: the lease expired (this worker was silent too long); taking it again", device)
            self.say(LabEvent(device, "waiting", message="lease lost; taking it again"))
            with self._lock:
                self._tokens.pop(device, None)
        for entry in self.entries:
            if entry.name in self._tokens or not self._usable.get(entry.name, True):
                continue
            token = self.store.acquire_lease(entry.name, self.name, ttl)
            if token is None:
                self.say(LabEvent(entry.name, "waiting", message="leased to another worker or lab run"))
                continue
            with self._lock:
                self._tokens[entry.name] = token
            self._announce(entry.name, token)

    def _announce(self, device: str, token: int) -> None:
        """Tell the device its lease is held (its watchdog's evidence); a device that cannot be told stops what
        runs there by itself, which is right: nobody can reach it."""
        transport = self._transports.get(device)
        if transport is None:
            return
        try:
            transport.renewed(token)
        except EdgeqError as exc:
            log.debug("%s: could not renew its lease file: %s", device, exc.message)

    def _interrupt_on_stop(self) -> None:
        """When the worker is stopped, close every device's connection: the running benchmarks end at once."""
        while not self.stop.wait(0.2):
            if self._done.is_set():
                return
        for entry in self.entries:
            with self._lock:
                transport = self._transports.get(entry.name)
            if transport is not None:
                try:
                    transport.close()
                except Exception:  # noqa: BLE001 - closing a broken connection
                    log.debug("closing %s on stop failed", entry.name, exc_info=True)

    # -- one device ------------------------------------------------------------------------------------------

    def _work(self, entry: DeviceEntry) -> None:
        scratch = Path(tempfile.mkdtemp(prefix=f"edgeq-lab-{entry.name}-"))
        benches: dict[tuple[str, BenchSpec], Any] = {}
        profile = self.profiles[entry.profile]
        idle = False
        try:
            while not (self.drain.is_set() or self.stop.is_set()) and self._usable[entry.name]:
                token = self._tokens.get(entry.name)
                if token is None:  # leased to another worker or lab run: wait for it, while the run needs it
                    if self.run_id is not None and not self.store.pending(self.run_id, profile.name):
                        break
                    self.stop.wait(self.options.poll_s)
                    continue
                if not self._healthy(entry, token, scratch):
                    break
                try:
                    claim = self.store.claim_job(self.name, entry.name, profile.name, token,
                                                 grace_s=self.options.lease_ttl_s, run_id=self.run_id)
                except LeaseLost:
                    with self._lock:
                        self._tokens.pop(entry.name, None)
                    continue
                if claim is None:
                    if self.run_id is not None and not self.store.pending(self.run_id, profile.name):
                        break  # nothing of the run is queued or running for this profile: nothing can come
                    if self._idle_too_long():
                        self.drain.set()
                    if not idle:
                        self.say(LabEvent(entry.name, "idle"))
                    idle = True
                    self.stop.wait(self.options.poll_s)
                    continue
                idle = False
                self._last_busy = time.monotonic()
                self._run_claim(entry, claim, token, scratch, benches)
                self._last_busy = time.monotonic()
        except EdgeqError as exc:  # the store lost for longer than the worker's patience
            log.error("%s: stopped serving: %s", entry.name, exc.message)
            self.stop.set()
        except Exception:  # noqa: BLE001 - a bug in one device's thread must not take the others down
            log.exception("the worker's thread for %s stopped", entry.name)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
            self.say(LabEvent(entry.name, "finished"))

    def _idle_too_long(self) -> bool:
        idle_exit_s = self.options.idle_exit_s
        return idle_exit_s is not None and time.monotonic() - self._last_busy > idle_exit_s

    def _transport(self, entry: DeviceEntry) -> FencedTransport:
        with self._lock:
            transport = self._transports.get(entry.name)
        if transport is None:
            profile = self.profiles[entry.profile]
            transport = FencedTransport(self.transport_factory(entry, profile), entry.name, profile.workdir,
                                        self.options.lease_ttl_s)
            with self._lock:
                self._transports[entry.name] = transport
                token = self._tokens.get(entry.name)
            if token is not None:
                transport.renewed(token)  # before the device's first command runs under it
        return transport

    def _disconnect(self, entry: DeviceEntry) -> None:
        with self._lock:
            transport = self._transports.pop(entry.name, None)
        if transport is not None:
            try:
                transport.close()
            except Exception:  # noqa: BLE001
                log.debug("closing %s failed", entry.name, exc_info=True)

    def _reach(self, entry: DeviceEntry, fmt: str) -> Target:
        return reach(self._transport(entry), self.profiles[entry.profile], fmt, entry.name, lambda message: None)

    def _lose(self, entry: DeviceEntry, health: str, reason: str) -> None:
        """This worker stops serving the device (quarantined, retired, or a bug met in its health check) and
        gives its lease back: the queue moves its planned jobs to its siblings (at once for a device out of the
        lab, after one lease length for one merely unserved)."""
        self.say(LabEvent(entry.name, health, message=reason))
        self._usable[entry.name] = False
        with self._lock:
            token = self._tokens.pop(entry.name, None)
        if token is not None:
            self._clear_lease_file(entry.name)
            self.store.release_lease(entry.name, token)
        self.store.move_jobs_of(entry.name)

    def _clear_lease_file(self, device: str) -> None:
        transport = self._transports.get(device)
        if transport is not None:
            try:
                transport.released()
            except EdgeqError as exc:
                log.debug("%s: could not clear its lease file: %s", device, exc.message)

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
        if check is None:
            return False
        self.store.record_health_check(check)
        if check.outcome == "good":
            self.store.set_health(entry.name, "good", "")
            return True
        self.store.set_health(entry.name, "quarantined", f"health check failed: {check.reason}")
        self._lose(entry, "quarantined", check.reason)
        return False

    def _health_check(self, entry: DeviceEntry, scratch: Path) -> HealthCheck | None:
        """The golden artifact measured on the device; None when edgeq itself failed (a bug is not the
        device's fault: the device is left as it is and this worker stops serving it)."""
        profile = self.profiles[entry.profile]
        try:
            build, artifact = self.builds.golden(profile)
            target = self._reach(entry, artifact.format)
            spec = BenchSpec(runs=GOLDEN_RUNS, warmup=2, threads=profile.default_threads,
                             timeout_s=min(self.settings.job_timeout_s, 300.0), cpus=profile.cpus)
            folder = scratch / "golden"
            folder.mkdir(exist_ok=True)
            measured = build.device_bench(target, spec, folder).measure(artifact)
        except Exception as exc:  # noqa: BLE001 - any failure is the check's finding, or a bug in edgeq
            self._disconnect(entry)
            outcome = outcome_of(exc)
            if outcome.state == "error":
                log.error("%s: the health check met a bug: %s\n%s", entry.name, outcome.reason, outcome.traceback)
                self._lose(entry, "error", outcome.reason)
                return None
            return HealthCheck(entry.name, now(), "bad", exc.message if isinstance(exc, EdgeqError) else summarize(exc))
        p50 = measured.bench.latency.p50
        verdict = judge_golden(p50, self.store.golden_history(entry.name, self.settings.health_history),
                               self.settings.health_margin)
        return HealthCheck(entry.name, now(), verdict.outcome, verdict.reason, p50)



def run_worker(inventory: Inventory, store: Store, **kwargs: Any) -> Worker:
    """Serve the inventory's devices (``devices``/``tags`` select this host's) from the shared queue until
    ``drain`` or ``stop`` is set (or ``options.idle_exit_s`` passes idle); returns the finished worker."""
    worker = Worker(inventory, store, **kwargs)
    worker.serve()
    return worker
