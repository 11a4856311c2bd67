"""Content-addressed artifact cache: the same model, weights, inputs, spec and toolchain give the same key."""

from __future__ import annotations

import functools
import hashlib
import json
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from edgeq.export.manifest import tensor_specs, toolchain_versions


def _digest_tensors(digest: Any, tensors: Sequence[torch.Tensor]) -> None:
    for tensor in tensors:
        t = tensor.detach().contiguous().cpu()
        digest.update(str((tuple(t.shape), t.dtype)).encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")


def model_digest(model: torch.nn.Module) -> str:
    """Weights, buffers and structure of a module."""
    digest = hashlib.sha256(repr(model).encode())
    state = model.state_dict()
    for name in sorted(state):
        digest.update(name.encode())
        if isinstance(state[name], torch.Tensor):
            _digest_tensors(digest, [state[name]])
    return digest.hexdigest()


def samples_digest(samples: Sequence[Any]) -> str:
    digest = hashlib.sha256()
    for sample in samples:
        _digest_tensors(digest, torch.utils._pytree.tree_flatten(sample)[0])
    return digest.hexdigest()


@functools.cache
def code_digest() -> str:
    """The source of edgeq's quantization and export code: a change there must not reuse old artifacts."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for path in sorted([*root.joinpath("quantize").glob("*.py"), *root.joinpath("export").glob("*.py"),
                        root / "models" / "tracing.py"]):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def training_digest(training: Any) -> str | None:
    """What QAT fine-tunes with: the samples, targets and settings, or the loop's qualified name."""
    if training is None:
        return None
    inputs = getattr(training, "inputs", None)
    if inputs is None:  # a loop: its code is covered by the source file's fingerprint
        return f"loop:{getattr(training, '__module__', '')}.{getattr(training, '__qualname__', repr(training))}"
    targets = [t if isinstance(t, torch.Tensor) else torch.tensor(t) for t in training.targets]
    loss = f"{getattr(training.loss, '__module__', '')}.{getattr(training.loss, '__qualname__', '')}"
    return f"{samples_digest(inputs)}:{samples_digest(targets)}:{loss}:{training.batch_size}:{training.learning_rate}"


def cache_key(*, fingerprint: str, model: torch.nn.Module, example: tuple[Any, ...],
              calibration: Sequence[Any], spec: dict[str, Any], training: Any = None) -> str:
    material = {
        "fingerprint": fingerprint,
        "model": model_digest(model),
        "inputs": tensor_specs(example),
        "example": samples_digest([example]),
        "calibration": samples_digest(calibration) if spec.get("scheme") == "static" else None,
        "training": training_digest(training) if spec.get("scheme") == "qat" else None,
        "spec": spec,
        "toolchain": toolchain_versions(),
        "code": code_digest(),
        "layout": 1,
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


class ArtifactCache:
    """One folder per key holding ``model.<format>`` and ``manifest.json``; entries appear atomically."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def entry(self, key: str) -> Path:
        return self.root / key[:2] / key

    def lookup(self, key: str, fmt: str) -> Path | None:
        entry = self.entry(key)
        artifact = entry / f"model.{fmt}"
        return artifact if artifact.is_file() and (entry / "manifest.json").is_file() else None

    def staging(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=".staging-", dir=self.root))

    def commit(self, staging: Path, key: str) -> Path:
        """Move a finished staging folder into place; a concurrent writer's identical entry wins."""
        entry = self.entry(key)
        entry.parent.mkdir(parents=True, exist_ok=True)
        try:
            staging.rename(entry)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            if not entry.is_dir():
                raise
        return entry
