"""Fine-tuning for quantization-aware training, shared by both flows."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch

from edgeq.errors import ModelError, QuantizationError, summarize
from edgeq.models.types import Training, TrainSet

log = logging.getLogger(__name__)
_MAX_GRAD_NORM = 10.0  # fake quantization can make a step explode; clipping keeps fine-tuning a fine-tune


class TrainingDiverged(Exception):
    pass


def stack_samples(samples: Sequence[tuple[Any, ...]]) -> tuple[Any, ...]:
    """One batch from per-sample inputs: every tensor leaf concatenated along its first dimension."""
    leaves = [torch.utils._pytree.tree_flatten(sample) for sample in samples]
    spec = leaves[0][1]
    columns = zip(*(flat for flat, _ in leaves))
    return torch.utils._pytree.tree_unflatten([torch.cat(column) for column in columns], spec)


def _targets(targets: Sequence[Any]) -> Any:
    first = targets[0]
    if isinstance(first, torch.Tensor):
        return torch.cat([t.reshape(1, *t.shape) if t.dim() == 0 else t for t in targets])
    return torch.tensor(list(targets))


def _batches(training: TrainSet, epoch: int) -> Iterator[tuple[tuple[Any, ...], Any]]:
    order = torch.randperm(len(training.inputs), generator=torch.Generator().manual_seed(epoch)).tolist()
    for start in range(0, len(order), training.batch_size):
        picked = order[start:start + training.batch_size]
        if len(picked) == 1 < training.batch_size:
            continue  # a trailing batch of one breaks BatchNorm's batch statistics
        yield stack_samples([training.inputs[i] for i in picked]), _targets([training.targets[i] for i in picked])


def fine_tune(module: torch.nn.Module, training: Training, epochs: int, *,
              to_train: Callable[[torch.nn.Module], Any], to_eval: Callable[[torch.nn.Module], Any],
              say: Callable[[str], None] | None = None) -> str:
    """Train ``module`` (fake-quantized) in place; returns a note saying what was done."""
    to_train(module)
    try:
        if not isinstance(training, TrainSet):
            training(module)
            return "fine-tuned with the model's own training loop"
        optimizer = torch.optim.SGD(module.parameters(), lr=training.learning_rate, momentum=0.9)
        steps = 0
        for epoch in range(epochs):
            if say:
                say(f"quantization-aware training: epoch {epoch + 1}/{epochs}")
            for inputs, targets in _batches(training, epoch):
                optimizer.zero_grad()
                loss = training.loss(module(*inputs), targets)
                if not torch.isfinite(loss):
                    raise TrainingDiverged(f"the loss is {loss.item()} at step {steps + 1}")
                loss.backward()
                torch.nn.utils.clip_grad_norm_(module.parameters(), _MAX_GRAD_NORM)
                optimizer.step()
                steps += 1
        return f"fine-tuned {epochs} epoch(s), {steps} steps of {training.batch_size} on {len(training.inputs)} samples"
    except TrainingDiverged as exc:
        raise QuantizationError(f"quantization-aware training diverged: {exc}",
                                hint="lower the TrainSet's learning_rate, or keep the layers inspect ranks first in float") from exc
    except Exception as exc:  # noqa: BLE001 - user loss, loop or model
        raise ModelError(f"quantization-aware training failed: {summarize(exc)}",
                         hint="check the training data matches forward() and the loss takes (outputs, targets)") from exc
    finally:
        to_eval(module)


def training_example(training: Training, example: tuple[Any, ...]) -> tuple[Any, ...]:
    """Inputs to export the trainable graph with: a batch of two, so export keeps the batch dimension free."""
    samples = list(training.inputs[:2]) if isinstance(training, TrainSet) and len(training.inputs) >= 2 else [example, example]
    return stack_samples(samples)


def require_training(training: Training | None) -> Training:
    """The training data QAT needs, or a ``ModelError`` saying how to give it."""
    if training is None:
        raise ModelError("quantization-aware training needs training data, and the model brought none",
                         hint="return a TrainSet or train(model) loop as the factory's fourth item, or pass training= to edgeq.run")
    return training
