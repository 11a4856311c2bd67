"""The other runtimes' files for a language model (llama.cpp's GGUF, ONNX Runtime GenAI's folder), cached by
content in edgeq's artifact cache layout, so that a rerun of the benchmark spends its time measuring."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from edgeq.export import ArtifactCache, Manifest
from edgeq.export.cache import model_digest

MODEL_NAME = "model"  # the file or folder inside a cache entry


@dataclass(frozen=True)
class PeerArtifact:
    path: Path  # a file (GGUF) or a folder (an ONNX Runtime GenAI model)
    size_bytes: int
    manifest: dict[str, Any]
    cached: bool


def cached_peer(cache: ArtifactCache, model: torch.nn.Module, spec: dict[str, Any],
                write: Callable[[Path], dict[str, Any]]) -> PeerArtifact:
    """``spec``'s artifact of ``model``; ``write(path)`` makes it at ``path`` on a miss and returns what the
    manifest should say about it beyond ``spec``."""
    key = hashlib.sha256(json.dumps({"model": model_digest(model), "spec": spec}, sort_keys=True).encode()).hexdigest()
    entry = cache.entry(key)
    if (entry / "manifest.json").is_file():
        return _read(entry, cached=True)
    staging = cache.staging()
    try:
        facts = write(staging / MODEL_NAME)
        Manifest({"cache_key": key, **spec, **facts, "size_bytes": _size(staging / MODEL_NAME),
                  "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")},
                 ).write(staging / "manifest.json")
        entry = cache.commit(staging, key)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return _read(entry, cached=False)


def _read(entry: Path, *, cached: bool) -> PeerArtifact:
    manifest = Manifest.read(entry / "manifest.json").data
    return PeerArtifact(entry / MODEL_NAME, _size(entry / MODEL_NAME), manifest, cached)


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file())
