"""edgeq: take a PyTorch model to an edge device and bring back the truth about it.

Every command is one call here: ``run``, ``deploy``, ``inspect_model``,
``diagnose`` (doctor) and ``clean``; devices are ``DeviceAddress.parse("ssh://…")``.
"""

from edgeq.errors import EdgeqError
from edgeq.inspection import inspect_model
from edgeq.lab.cleanup import clean
from edgeq.lab.doctor import diagnose
from edgeq.models import EvalSet, LoadedModel, TrainSet, load_model
from edgeq.pipeline import RunOptions, RunResult, deploy, run
from edgeq.profiles import DeviceProfile, list_profiles, load_profile
from edgeq.transport import DeviceAddress

__all__ = ["DeviceAddress", "DeviceProfile", "EdgeqError", "EvalSet", "LoadedModel", "RunOptions", "RunResult",
           "TrainSet", "clean", "deploy", "diagnose", "inspect_model", "list_profiles", "load_model", "load_profile",
           "run"]
