"""Resolve a model source string: ``zoo:NAME``, ``path/file.py:factory`` or ``program.pt2``."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import inspect
import sys
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from edgeq.errors import ModelError, summarize
from edgeq.models.types import EvalSet, LoadedModel, TrainSet


_CALIBRATION_SAMPLES = 128


@dataclass(frozen=True)
class ModelSource:
    """A parsed model source; ``kind`` is ``zoo``, ``file`` or ``pt2``."""

    kind: str
    target: str
    factory: str | None = None

    @classmethod
    def parse(cls, text: str) -> ModelSource:
        if text.startswith("zoo:"):
            return cls("zoo", text[4:])
        if text.endswith(".pt2"):
            return cls("pt2", text)
        path, sep, factory = text.rpartition(":")
        if sep and path.endswith(".py") and factory.isidentifier():
            return cls("file", path, factory)
        if text.endswith(".py"):
            raise ModelError(f"model source {text!r} names a file but no factory", hint=f"write it as {text}:make_model")
        raise ModelError(
            f"cannot read model source {text!r}",
            hint="use zoo:NAME, path/to/file.py:factory, or a saved torch.export program .pt2",
        )

    def __str__(self) -> str:
        if self.kind == "zoo":
            return f"zoo:{self.target}"
        return f"{self.target}:{self.factory}" if self.factory else self.target


def load_model(source: str | ModelSource) -> LoadedModel:
    """Resolve a source into a ``LoadedModel`` in eval mode, or raise ``ModelError`` saying why."""
    parsed = source if isinstance(source, ModelSource) else ModelSource.parse(source)
    if parsed.kind == "zoo":
        from edgeq.models.zoo import load_zoo

        return load_zoo(parsed.target)
    if parsed.kind == "pt2":
        return _load_pt2(Path(parsed.target))
    return _load_factory(Path(parsed.target), parsed.factory or "")


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _load_pt2(path: Path) -> LoadedModel:
    if not path.is_file():
        raise ModelError(f"model file {path} does not exist")
    try:
        program = torch.export.load(str(path))
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds for a bad archive
        raise ModelError(f"{path}: not a torch.export program ({summarize(exc)})",
                         hint="save one with torch.export.save(torch.export.export(model, inputs), 'model.pt2')") from exc
    example = getattr(program, "example_inputs", None)
    if not example or not example[0]:
        raise ModelError(f"{path}: the program carries no example inputs", hint="export it again with torch 2.5 or newer")
    args, kwargs = example
    return LoadedModel(name=str(path), model=program.module(), example_inputs=(*args, *kwargs.values()),
                       keywords=tuple(kwargs), fingerprint=f"pt2:{_file_digest(path)}")


def _import_file(path: Path) -> Any:
    if not path.is_file():
        raise ModelError(f"model file {path} does not exist")
    module_name = f"edgeq_user_{hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ModelError(f"cannot import {path} as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    sys.path.insert(0, str(path.resolve().parent))  # let the file import its neighbours
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - user code may raise anything
        raise ModelError(f"importing {path} failed: {_where(exc, path)}") from exc
    finally:
        sys.path.remove(str(path.resolve().parent))
    return module


def _where(exc: BaseException, path: Path) -> str:
    """``ExcType: message (file.py:LINE)``, pointing at the user's own line when there is one."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).resolve() == path.resolve()]
    at = f" (at {path.name}:{frames[-1].lineno})" if frames else ""
    return f"{summarize(exc)}{at}"


def _factories_hint(module: Any) -> str:
    """The file's own public functions, which could be the factory; its classes are named apart (a class is the
    model, not the factory that returns it with its inputs)."""
    mine = {n: v for n, v in vars(module).items() if not n.startswith("_") and getattr(v, "__module__", None) == module.__name__}
    functions = sorted(n for n, v in mine.items() if inspect.isfunction(v))
    classes = sorted(n for n, v in mine.items() if inspect.isclass(v))
    hint = f"functions there: {', '.join(functions)}" if functions else "there is no function there"
    if classes:
        hint += f"; classes: {', '.join(classes)} (a factory returns (model, example_inputs))"
    return hint


def _load_factory(path: Path, factory_name: str) -> LoadedModel:
    module = _import_file(path)
    factory = getattr(module, factory_name, None)
    if not callable(factory):
        raise ModelError(f"{path} has no function {factory_name!r}", hint=_factories_hint(module))
    try:
        returned = factory()
    except Exception as exc:  # noqa: BLE001 - user code may raise anything
        raise ModelError(f"{path}:{factory_name}() raised {_where(exc, path)}") from exc
    where = f"{path}:{factory_name}()"
    if not isinstance(returned, (tuple, list)) or len(returned) not in (2, 3, 4):
        raise ModelError(f"{where} returned {type(returned).__name__}",
                         hint="return (model, example_inputs), optionally followed by an evaluation and training data")
    model, example = returned[0], returned[1]
    if not isinstance(model, torch.nn.Module):
        raise ModelError(f"{where} returned {type(model).__name__} as the model; expected a torch.nn.Module")
    keywords = tuple(example) if isinstance(example, Mapping) else ()
    inputs = normalize_inputs(example, where=where, keywords=keywords)
    loaded = LoadedModel(name=f"{path.name}:{factory_name}", model=model, example_inputs=inputs, keywords=keywords,
                         fingerprint=f"file:{_file_digest(path)}:{factory_name}")
    if len(returned) >= 3 and returned[2] is not None:
        _attach_evaluation(loaded, returned[2], where)
    if len(returned) == 4 and returned[3] is not None:
        loaded.training = _training(returned[3], where, keywords)
    loaded.calibration = _calibration_from(loaded)
    return loaded


def _calibration_from(loaded: LoadedModel) -> list[tuple[Any, ...]]:
    """Calibrate on training inputs when the model brings them, else on its evaluation inputs."""
    training = loaded.training
    if isinstance(training, TrainSet):
        return list(training.inputs[:_CALIBRATION_SAMPLES])
    if loaded.eval_set is not None:
        return list(loaded.eval_set.inputs[:_CALIBRATION_SAMPLES])
    return []


def _training(training: Any, where: str, keywords: tuple[str, ...]) -> Any:
    """The fourth item: a ``TrainSet``, a list of ``(inputs, target)`` pairs, or a loop ``train(model)``."""
    if isinstance(training, TrainSet) or callable(training):
        return training
    if isinstance(training, Sequence) and training and all(isinstance(s, (tuple, list)) and len(s) == 2 for s in training):
        return TrainSet(inputs=[normalize_inputs(x, where=f"{where} training sample", keywords=keywords) for x, _ in training],
                        targets=[y for _, y in training])
    raise ModelError(f"{where}: cannot use the fourth item ({type(training).__name__}) for training",
                     hint="return an edgeq.TrainSet, a list of (inputs, target) pairs, or a function train(model)")


def normalize_inputs(example: Any, *, where: str, keywords: tuple[str, ...] = ()) -> tuple[Any, ...]:
    """Inputs as a tuple of positional arguments whose leaves are all tensors.

    A dict holds keyword inputs (``{"input_ids": …, "attention_mask": …}``): its values come out in the
    order of ``keywords``, the names the model's example inputs used.
    """
    if isinstance(example, Mapping):
        if set(example) != set(keywords) or not keywords:
            expected = f"the keywords {', '.join(keywords)}" if keywords else "positional inputs (a tuple)"
            raise ModelError(f"{where}: inputs name {', '.join(map(str, example)) or 'nothing'}, but the example inputs take {expected}",
                             hint="give every sample the same form as the example inputs")
        example = tuple(example[name] for name in keywords)
    inputs = (example,) if isinstance(example, torch.Tensor) else example
    if isinstance(inputs, list):
        inputs = tuple(inputs)
    if not isinstance(inputs, tuple) or not inputs:
        raise ModelError(f"{where}: example inputs must be a tensor, a tuple of tensors or a dict of keyword inputs, "
                         f"got {type(example).__name__}")
    leaves, _ = torch.utils._pytree.tree_flatten(inputs)
    for leaf in leaves:
        if not isinstance(leaf, torch.Tensor):
            raise ModelError(f"{where}: example inputs hold a {type(leaf).__name__}; only tensors (nested in tuples, lists or dicts) are supported")
    return inputs


def _attach_evaluation(loaded: LoadedModel, evaluation: Any, where: str) -> None:
    if isinstance(evaluation, EvalSet):
        loaded.eval_set = dataclasses.replace(evaluation, inputs=[
            normalize_inputs(x, where=f"{where} evaluation sample", keywords=loaded.keywords) for x in evaluation.inputs])
    elif callable(evaluation):
        loaded.evaluator = evaluation
    elif isinstance(evaluation, Sequence) and evaluation and all(isinstance(s, (tuple, list)) and len(s) == 2 for s in evaluation):
        loaded.eval_set = EvalSet(
            inputs=[normalize_inputs(x, where=f"{where} evaluation sample", keywords=loaded.keywords) for x, _ in evaluation],
            labels=[int(y) for _, y in evaluation],
        )
    else:
        raise ModelError(
            f"{where}: cannot use the third item ({type(evaluation).__name__}) for evaluation",
            hint="return an edgeq.EvalSet, a list of (inputs, label) pairs, or a function evaluate(forward) -> score",
        )
