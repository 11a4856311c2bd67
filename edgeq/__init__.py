"""edgeq: take a PyTorch model to an edge device and bring back the truth about it.

Every command is one call here: ``run``, ``deploy``, ``inspect_model``,
``diagnose`` (doctor) and ``clean``; devices are ``DeviceAddress.parse("ssh://…")``.

The names are imported on first use (PEP 562), so ``import edgeq`` and the CLI's
help do not pay for importing torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgeq.errors import EdgeqError
    from edgeq.inspection import inspect_model
    from edgeq.device.cleanup import clean
    from edgeq.device.doctor import diagnose
    from edgeq.models import EvalSet, LoadedModel, TrainSet, load_model
    from edgeq.pipeline import RunOptions, RunResult, deploy, run
    from edgeq.profiles import DeviceProfile, list_profiles, load_profile
    from edgeq.transport import DeviceAddress

# public name -> the module that defines it
_SOURCES = {
    "DeviceAddress": "edgeq.transport",
    "DeviceProfile": "edgeq.profiles",
    "EdgeqError": "edgeq.errors",
    "EvalSet": "edgeq.models",
    "LoadedModel": "edgeq.models",
    "RunOptions": "edgeq.pipeline",
    "RunResult": "edgeq.pipeline",
    "TrainSet": "edgeq.models",
    "clean": "edgeq.device.cleanup",
    "deploy": "edgeq.pipeline",
    "diagnose": "edgeq.device.doctor",
    "inspect_model": "edgeq.inspection",
    "list_profiles": "edgeq.profiles",
    "load_model": "edgeq.models",
    "load_profile": "edgeq.profiles",
    "run": "edgeq.pipeline",
}

__all__ = ["DeviceAddress", "DeviceProfile", "EdgeqError", "EvalSet", "LoadedModel", "RunOptions", "RunResult",
           "TrainSet", "clean", "deploy", "diagnose", "inspect_model", "list_profiles", "load_model", "load_profile",
           "run"]


def __getattr__(name: str) -> Any:
    module = _SOURCES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
