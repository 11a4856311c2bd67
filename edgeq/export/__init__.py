"""Export: quantize a prepared model as a spec says, write the artifact and its manifest, cache by content."""

from __future__ import annotations

import datetime as _dt
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeq.errors import ExportError, QuantizationError
from edgeq.export.cache import ArtifactCache, cache_key
from edgeq.export.manifest import Manifest, file_sha256, tensor_specs, toolchain_versions
from edgeq.models.types import LoadedModel
from edgeq.quantize import QuantSpec, quantize
from edgeq.quantize.spec import next_steps

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Artifact:
    """A written .pte or .ptl file and what is known about it."""

    path: Path
    format: str
    sha256: str
    size_bytes: int
    manifest: Manifest
    cached: bool

    @property
    def notes(self) -> list[str]:
        return list(self.manifest.data.get("notes", []))


def build_artifact(loaded: LoadedModel, prepared: Any, spec: QuantSpec, cache: ArtifactCache,
                   profile_name: str, say: Callable[[str], None] | None = None) -> Artifact:
    """Return the artifact for ``spec``, from the cache when an identical one was built before."""
    key = cache_key(fingerprint=loaded.fingerprint, model=prepared, example=loaded.example_inputs,
                    calibration=loaded.calibration, spec=spec.key(), training=loaded.training)
    hit = cache.lookup(key, spec.format)
    if hit is not None:
        log.info("reusing cached %s %s artifact %s", spec.variant, spec.format, key[:12])
        return read_artifact(hit, spec.format, cached=True)
    try:
        return _build(loaded, prepared, spec, cache, profile_name, key, say)
    except (QuantizationError, ExportError) as exc:
        exc.hint = next_steps(spec)  # what to try next, named once here for both flows and both writers
        raise


def _build(loaded: LoadedModel, prepared: Any, spec: QuantSpec, cache: ArtifactCache, profile_name: str, key: str,
           say: Callable[[str], None] | None) -> Artifact:
    result = quantize(prepared, loaded.example_inputs, spec, loaded.calibration, loaded.training, say)
    staging = cache.staging()
    try:
        path = staging / f"model.{spec.format}"
        if spec.format == "pte":
            from edgeq.export.pte import write_pte

            try:
                backend = write_pte(result.model, loaded.example_inputs, path)
            except ExportError as exc:
                if result.boundaries:  # a mixed candidate: say where int8 meets the fp32 layers
                    exc.message += "; where int8 meets the layers kept in fp32: " + "; ".join(result.boundaries)
                raise
        else:
            from edgeq.export.ptl import write_ptl

            backend = write_ptl(result.model, loaded.example_inputs, path, spec.engine)
        Manifest({
            "cache_key": key,
            "model": loaded.name,
            "fingerprint": loaded.fingerprint,
            "variant": spec.variant,
            "precision": spec.precision,
            **spec.key(),
            "sha256": file_sha256(path),
            "size_bytes": path.stat().st_size,
            "inputs": tensor_specs(loaded.example_inputs),
            "backend": backend,
            "notes": result.notes,
            "profile": profile_name,
            "versions": toolchain_versions(),
            "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }).write(staging / "manifest.json")
        entry = cache.commit(staging, key)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return read_artifact(entry / f"model.{spec.format}", spec.format, cached=False)


def read_artifact(path: Path, fmt: str, *, cached: bool) -> Artifact:
    manifest = Manifest.read(path.parent / "manifest.json")
    return Artifact(path=path, format=fmt, sha256=manifest.data["sha256"], size_bytes=manifest.data["size_bytes"],
                    manifest=manifest, cached=cached)


__all__ = ["Artifact", "ArtifactCache", "Manifest", "build_artifact", "file_sha256", "read_artifact"]
