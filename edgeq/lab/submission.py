"""Submitting a run to the shared queue and following it: what a CI job does while the workers measure.

    run_id = submit(Inventory.load(Path("lab.toml")), LabRequest(models=("zoo:digits-cnn",), label="pr-42"), store)
    run = wait_for(store, run_id, timeout_s=3600)      # every job final; then report and gate as usual

The plan and the builds are ``edgeq lab run``'s (``scheduler.plan``), so a submitted run has exactly the jobs
and artifacts ``edgeq lab run`` would have; ``edgeq lab worker`` processes measure them (``edgeq.lab.worker``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from edgeq.device.inventory import Inventory
from edgeq.errors import CommandTimeout
from edgeq.lab.plan import LabRequest
from edgeq.lab.records import RunRecord
from edgeq.lab.builds import Builds
from edgeq.lab.events import LabEvent
from edgeq.lab.plan import select_devices
from edgeq.lab.scheduler import plan
from edgeq.lab.store import Store
from edgeq.lab.worker import PatientStore

_WAIT_PATIENCE_S = 600.0  # how long ``wait`` rides out a lost store (a database restart) before exit 3


def submit(inventory: Inventory, request: LabRequest, store: Store, *,
           progress: Callable[[LabEvent], None] | None = None) -> str:
    """Plan ``request``'s matrix on the inventory's devices, build and record its artifacts, and queue its jobs
    for the workers, with the inventory's retry budgets and job timeout; returns the run's id."""
    say = progress or (lambda event: None)
    run_id = plan(inventory, request, store, select_devices(inventory, request), Builds(say), say, submitted=True)
    store.enqueue_run(run_id)
    store.finish_if_drained(run_id)  # a matrix whose every job failed to build is finished already
    return run_id


def wait_for(store: Store, run_id: str, *, timeout_s: float | None = None, poll_s: float = 1.0,
             progress: Callable[[RunRecord], None] | None = None, stop: threading.Event | None = None) -> RunRecord:
    """Follow a submitted run until every job is final (or ``stop`` is set); the run as the store has it.

    A store lost meanwhile is waited for, as a worker waits. Raises ``CommandTimeout`` (exit 3) when
    ``timeout_s`` passes first; the run goes on.
    """
    stop = stop or threading.Event()
    patient: Any = PatientStore(store, stop, _WAIT_PATIENCE_S)
    started = time.monotonic()
    while True:
        if patient.finish_if_drained(run_id):
            return patient.run(run_id)
        run = patient.run(run_id)
        if progress is not None:
            progress(run)
        if timeout_s is not None and time.monotonic() - started > timeout_s:
            waiting = sum(job.state in ("queued", "running") for job in run.jobs)
            raise CommandTimeout(f"run {run_id} still has {waiting} of {len(run.jobs)} jobs unfinished after "
                                 f"{timeout_s:g} s", hint="`edgeq lab status` shows the workers and the queue; "
                                 "wait again with a longer --timeout")
        if stop.wait(poll_s):
            return run
