"""ONNX Runtime's own fp32 and int8 variants of a model, built the way ORT's documentation says.

fp32: ``torch.onnx.export`` (TorchScript exporter, opset 17). int8: ORT's
``quant_pre_process`` (shape inference and graph cleanup), then
``quantize_dynamic`` for dynamic schemes, or ``quantize_static`` with QDQ
nodes, per-channel weights and the model's calibration inputs for static ones.
Results are cached by content in edgeq's artifact cache layout.
"""

from __future__ import annotations

import datetime as _dt
import logging
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import torch
from onnxruntime.quantization import CalibrationDataReader

from edgeq.errors import summarize
from edgeq.export import ArtifactCache, Manifest, file_sha256
from edgeq.export.cache import cache_key
from edgeq.models import LoadedModel

log = logging.getLogger(__name__)

OPSET = 17
_ACTIVATION_TYPES = {"int8": "QInt8", "uint8": "QUInt8"}


@dataclass(frozen=True)
class OnnxArtifact:
    path: Path
    size_bytes: int
    notes: list[str]
    cached: bool


def onnx_versions() -> dict[str, str]:
    return {package: version(package) for package in ("onnx", "onnxruntime", "onnxscript")}


def build_onnx(loaded: LoadedModel, prepared: torch.nn.Module, scheme: str, cache: ArtifactCache, *,
               activations: str | None = None) -> OnnxArtifact:
    """The ORT artifact for ``scheme`` (``none`` for fp32), from the cache when it was built before.

    ``activations`` picks the static int8 activation type: ``int8`` (ORT's default, S8S8) or ``uint8`` (U8S8).
    """
    if scheme == "static" and activations not in _ACTIVATION_TYPES:
        raise ValueError(f"static ONNX quantization needs activations in {sorted(_ACTIVATION_TYPES)}, got {activations!r}")
    spec = {"runtime": "onnxruntime", "scheme": scheme, "opset": OPSET, "per_channel": scheme == "static",
            "quant_format": "QDQ" if scheme == "static" else None,
            "activations": activations if scheme == "static" else None, **onnx_versions()}
    key = cache_key(fingerprint=loaded.fingerprint, model=prepared, example=loaded.example_inputs,
                    calibration=loaded.calibration, spec=spec)
    hit = cache.lookup(key, "onnx")
    if hit is not None:
        return _artifact(hit, cached=True)
    staging = cache.staging()
    try:
        path = staging / "model.onnx"
        notes = _write(loaded, prepared, scheme, activations, staging, path)
        Manifest({"cache_key": key, "model": loaded.name, **spec, "sha256": file_sha256(path),
                  "size_bytes": path.stat().st_size, "notes": notes,
                  "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")},
                 ).write(staging / "manifest.json")
        for scratch in staging.glob("*.tmp.onnx"):
            scratch.unlink()
        entry = cache.commit(staging, key)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return _artifact(entry / "model.onnx", cached=False)


def _artifact(path: Path, *, cached: bool) -> OnnxArtifact:
    manifest = Manifest.read(path.parent / "manifest.json")
    return OnnxArtifact(path=path, size_bytes=path.stat().st_size, notes=list(manifest.data.get("notes", [])),
                        cached=cached)


def optimized_ops(path: Path) -> dict[str, int]:
    """Op counts of the graph ORT actually runs, after its CPU graph optimizations (fusions, QDQ folding)."""
    import collections
    import tempfile

    import onnx
    import onnxruntime

    with tempfile.TemporaryDirectory(prefix="edgeq-ort-") as scratch:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.log_severity_level = 3  # ORT warns that the saved graph is specific to this CPU; we only count it
        options.optimized_model_filepath = str(Path(scratch) / "optimized.onnx")
        onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        graph = onnx.load(options.optimized_model_filepath).graph
    counts = collections.Counter(f"{node.domain}.{node.op_type}" if node.domain else node.op_type for node in graph.node)
    return dict(counts.most_common())


def input_names(loaded: LoadedModel) -> list[str]:
    leaves = torch.utils._pytree.tree_flatten(loaded.example_inputs)[0]
    return [f"input_{index}" for index in range(len(leaves))]


def _write(loaded: LoadedModel, prepared: torch.nn.Module, scheme: str, activations: str | None, staging: Path,
           path: Path) -> list[str]:
    fp32 = path if scheme == "none" else staging / "fp32.tmp.onnx"
    torch.onnx.export(prepared, loaded.example_inputs, str(fp32), dynamo=False, opset_version=OPSET,
                      input_names=input_names(loaded))
    notes = [f"torch.onnx.export (TorchScript exporter), opset {OPSET}"]
    if scheme == "none":
        return notes
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    source = staging / "pre.tmp.onnx"
    try:
        quant_pre_process(str(fp32), str(source))
        notes.append("quant_pre_process: symbolic shape inference and ONNX optimizer")
    except Exception as exc:  # noqa: BLE001 - ORT's preprocessing raises many kinds; quantizing without it still works
        log.warning("quant_pre_process failed for %s, quantizing the raw export: %s", loaded.name, summarize(exc))
        notes.append(f"quant_pre_process failed ({summarize(exc, 120)}); quantized the raw export")
        source = fp32
    if scheme == "dynamic":
        quantize_dynamic(str(source), str(path))
        notes.append("quantize_dynamic: int8 weights, activations quantized at run time (ORT defaults)")
    else:
        quantize_static(str(source), str(path), _CalibrationReader(loaded), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=getattr(QuantType, _ACTIVATION_TYPES[activations]),
                        weight_type=QuantType.QInt8)
        notes.append(f"quantize_static: QDQ, per-channel int8 weights, {activations} activations, MinMax over "
                     f"{len(loaded.calibration)} calibration input(s)")
    return notes


class _CalibrationReader(CalibrationDataReader):
    """Feeds ORT's calibrator the model's own calibration inputs, the ones edgeq calibrates with."""

    def __init__(self, loaded: LoadedModel) -> None:
        self._names = input_names(loaded)
        self._samples: Sequence[Any] = list(loaded.calibration) or [loaded.example_inputs]
        self._iterator: Iterator[Any] = iter(self._samples)

    def get_next(self) -> dict[str, Any] | None:
        sample = next(self._iterator, None)
        if sample is None:
            return None
        leaves = torch.utils._pytree.tree_flatten(sample)[0]
        return {name: leaf.numpy() for name, leaf in zip(self._names, leaves, strict=True)}

    def rewind(self) -> None:
        self._iterator = iter(self._samples)
