"""edgeq: take a PyTorch model to an edge device and bring back the truth about it."""

from edgeq.errors import EdgeqError
from edgeq.models import EvalSet, LoadedModel, TrainSet, load_model
from edgeq.pipeline import RunOptions, RunResult, run
from edgeq.profiles import DeviceProfile, list_profiles, load_profile

__all__ = ["DeviceProfile", "EdgeqError", "EvalSet", "LoadedModel", "RunOptions", "RunResult", "TrainSet",
           "list_profiles", "load_model", "load_profile", "run"]
