"""The device lab: a matrix of models × devices run as jobs under leases, with device health and
quarantine, a results store, reports and a statistical regression gate.

    from edgeq.lab import LabRequest, open_store, run_lab, compare_runs, render
    run = run_lab(Inventory.load(Path("edgeq-lab.toml")), LabRequest(models=("zoo:digits-cnn",), label="main"))

Across hosts, ``submit`` queues a run in a shared PostgreSQL store, ``run_worker`` serves one host's devices
from that queue, and ``wait_for`` follows the run to its end.

Device instances themselves (inventory, probe, doctor) live in ``edgeq.device``. The names are imported
on first use, so ``import edgeq.lab`` loads neither torch nor SQLAlchemy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgeq.lab.gate import compare_runs
    from edgeq.lab.settings import GateSettings, WorkerOptions
    from edgeq.lab.plan import LabRequest
    from edgeq.lab.reports import render
    from edgeq.lab.events import LabEvent
    from edgeq.lab.scheduler import LabRun, run_lab
    from edgeq.lab.store import Store, open_store
    from edgeq.lab.submission import submit, wait_for
    from edgeq.lab.worker import Worker, run_worker

_SOURCES = {
    "GateSettings": "edgeq.lab.settings", "compare_runs": "edgeq.lab.gate", "LabRequest": "edgeq.lab.plan",
    "render": "edgeq.lab.reports", "LabEvent": "edgeq.lab.events", "LabRun": "edgeq.lab.scheduler",
    "run_lab": "edgeq.lab.scheduler", "Store": "edgeq.lab.store", "open_store": "edgeq.lab.store",
    "submit": "edgeq.lab.submission", "wait_for": "edgeq.lab.submission", "Worker": "edgeq.lab.worker",
    "WorkerOptions": "edgeq.lab.settings", "run_worker": "edgeq.lab.worker",
}
__all__ = sorted(_SOURCES)


def __getattr__(name: str) -> Any:
    module = _SOURCES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
