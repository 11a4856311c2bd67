"""Model sources: the zoo, a user's factory in a .py file, or a saved torch.export program."""

from edgeq.models.sources import ModelSource, load_model, normalize_inputs
from edgeq.models.types import EvalSet, Evaluator, LoadedModel, TrainLoop, TrainSet
from edgeq.models.zoo import ZOO

__all__ = ["ZOO", "EvalSet", "Evaluator", "LoadedModel", "ModelSource", "TrainLoop", "TrainSet", "load_model",
           "normalize_inputs"]
