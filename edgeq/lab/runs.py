"""A lab's runs and devices as its users ask for them: the store an inventory names, a run by id, label or
``latest``, what a finished run means (the exit a CI job should take), the history a report draws, and a
person's decisions about a device (release it from quarantine, retire it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeq.device.inventory import Inventory
from edgeq.errors import ConfigError, EdgeqError, GateFailure, Inconclusive, InternalError
from edgeq.lab.records import DeviceRecord, JobKey, RunRecord

DEFAULT_STORE_NAME = "edgeq-lab.db"  # SQLite beside the inventory, when neither --store nor [lab] store names one


def open_lab(inventory_path: Path, store_url: str | None = None) -> tuple[Inventory, Any]:
    """The inventory and its results store: ``store_url``, else its ``[lab] store``, else SQLite beside it."""
    from edgeq.lab.store import open_store

    inventory = Inventory.load(inventory_path)
    store = open_store(store_url or inventory.lab.store, default_path=inventory.path.with_name(DEFAULT_STORE_NAME))
    return inventory, store


def find_run(store: Any, ref: str | None) -> RunRecord:
    """A run by id, else the latest run with that label; ``None`` or ``latest``: the latest run."""
    if ref in (None, "latest"):
        run = store.latest_run()
        if run is None:
            raise ConfigError("the store holds no lab run yet", hint="start one with edgeq lab run --models …")
        return run
    try:
        return store.run(ref)
    except ConfigError:
        run = store.latest_run(label=ref)
        if run is None:
            raise ConfigError(f"no lab run has the id or label {ref!r}", hint="edgeq lab runs lists them") from None
        return run


def run_problem(run: RunRecord) -> EdgeqError | None:
    """What a run that ended means, as the error its caller exits with: a bug in edgeq (4), a job the model
    failed or that timed out (1), devices that kept jobs from finishing or a stopped run (3); None when every
    job is done."""
    by_state: dict[str, list[str]] = {}
    for job in run.jobs:
        by_state.setdefault(job.state, []).append(job.key.label)

    def named(*states: str) -> str:
        found = [f"{state}: {', '.join(by_state[state][:3])}" + (" …" if len(by_state[state]) > 3 else "")
                 for state in states if state in by_state]
        return "; ".join(found)

    if "error" in by_state:
        return InternalError(f"run {run.id}: a job met a bug in edgeq ({named('error')})",
                             hint="the report and the store keep its traceback; please report it")
    if run.status == "interrupted":
        return Inconclusive(f"run {run.id} was stopped; finished jobs are kept",
                            hint=f"edgeq lab run … --resume {run.id} finishes the rest")
    if by_state.keys() & {"failed", "timeout"}:
        return GateFailure(f"run {run.id}: {named('failed', 'timeout')}")
    if by_state.keys() & {"infra", "invalid", "skipped", "queued", "running"}:
        return Inconclusive(f"run {run.id}: devices kept jobs from finishing ({named('infra', 'invalid', 'skipped')})",
                            hint="edgeq lab devices shows their health; a run with --resume measures them again")
    return None


def history(store: Any, run: RunRecord) -> dict[JobKey, list[Any]]:
    """Each job's earlier points (median latency per run on its device), for the HTML report's trend plots;
    the run's own point is the page's to draw."""
    return {job.key: [point for point in store.device_history(job.device or job.planned_device, job.model, job.variant,
                                                              job.format) if point.run_id != run.id]
            for job in run.jobs}


def devices(store: Any, inventory: Inventory) -> list[DeviceRecord]:
    """The inventory's devices as the store knows them (new ones enter it ``unknown``)."""
    store.sync_devices([(e.name, e.profile_name, list(e.tags)) for e in inventory.devices.values()])
    return [store.device(name) for name in inventory.devices]


def release(store: Any, inventory: Inventory, device: str) -> DeviceRecord:
    """Take a device out of quarantine; its next job starts with a health check and its infra count anew."""
    inventory.get(device)
    devices(store, inventory)
    return store.set_health(device, "unknown", "released from quarantine", reset_infra=True)


def retire(store: Any, inventory: Inventory, device: str, reason: str) -> DeviceRecord:
    """Take a device out of the lab for good (``release`` brings it back)."""
    inventory.get(device)
    devices(store, inventory)
    return store.set_health(device, "retired", reason)
