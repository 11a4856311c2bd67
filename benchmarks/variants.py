"""The variants measured for one model, and how each one's artifact is built.

Every runtime gets its fp32 and int8 form where it has one: PyTorch eager
(fp32 only; the torch.ao rows are its int8), torch.ao's legacy engines as
TorchScript-lite .ptl, ExecuTorch .pte lowered to XNNPACK, and ONNX Runtime.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from edgeq.bench import runner_path
from edgeq.export import ArtifactCache, build_artifact
from edgeq.models import LoadedModel
from edgeq.quantize import QuantSpec

HOST_RUNNER = Path(__file__).resolve().parent / "host_runner.py"
LEGACY_ENGINES = ("x86", "fbgemm", "qnnpack")
# ORT's default (S8S8) and the one its x86 CPU kernels fuse everywhere (U8S8); both are measured, not chosen.
ORT_STATIC_ACTIVATIONS = ("int8", "uint8")


@dataclass(frozen=True)
class Plan:
    """One row of the table before anything is built."""

    runtime: str  # eager, torch.ao, executorch, onnxruntime
    precision: str  # fp32, int8
    scheme: str  # none, static, dynamic
    engine: str | None = None  # torch.ao's quantized engine
    activations: str | None = None  # ONNX Runtime static int8: "int8" (S8S8, ORT's default) or "uint8" (U8S8)

    @property
    def detail(self) -> str:
        """What tells rows of one runtime and precision apart (the engine, or the activation type)."""
        if self.engine:
            return self.engine
        return f"{self.activations} activations" if self.activations else ""

    @property
    def label(self) -> str:
        return " ".join(part for part in (self.runtime, self.precision, self.detail and f"({self.detail})") if part)

    @property
    def format(self) -> str:
        """The runner's ``--format``."""
        return {"eager": "eager", "torch.ao": "ptl", "executorch": "pte", "onnxruntime": "onnx"}[self.runtime]


@dataclass(frozen=True)
class Built:
    """A plan's artifact on disk, ready for the runner."""

    plan: Plan
    path: Path
    size_bytes: int
    runner: Path
    cached: bool
    backend: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


def plans(int8_scheme: str) -> list[Plan]:
    """The rows for a model whose int8 scheme (edgeq's choice) is ``int8_scheme``."""
    return [
        Plan("eager", "fp32", "none"),
        *(Plan("torch.ao", "int8", int8_scheme, engine) for engine in LEGACY_ENGINES),
        Plan("executorch", "fp32", "none"),
        Plan("executorch", "int8", int8_scheme),
        Plan("onnxruntime", "fp32", "none"),
        *(Plan("onnxruntime", "int8", int8_scheme, activations=activations) for activations in
          (ORT_STATIC_ACTIVATIONS if int8_scheme == "static" else (None,))),
    ]


def build(plan: Plan, loaded: LoadedModel, prepared: torch.nn.Module, *, host_engine: str,
          edgeq_cache: ArtifactCache, onnx_cache: ArtifactCache, scratch: Path) -> Built:
    """Build (or fetch from the cache) the artifact of ``plan``."""
    if plan.runtime == "eager":
        return _eager(plan, prepared, scratch)
    if plan.runtime == "onnxruntime":
        from benchmarks.onnx_variants import build_onnx, optimized_ops

        onnx = build_onnx(loaded, prepared, plan.scheme, onnx_cache, activations=plan.activations)
        backend = {"backend": "onnxruntime-cpu", "optimized_ops": optimized_ops(onnx.path)}
        return Built(plan, onnx.path, onnx.size_bytes, HOST_RUNNER, onnx.cached, backend, onnx.notes)
    spec = QuantSpec(scheme=plan.scheme, engine=plan.engine or host_engine, format=plan.format)
    artifact = build_artifact(loaded, prepared, spec, edgeq_cache, "host")
    return Built(plan, artifact.path, artifact.size_bytes, runner_path(), artifact.cached,
                 artifact.manifest.data.get("backend"), artifact.notes)


def _eager(plan: Plan, prepared: torch.nn.Module, scratch: Path) -> Built:
    """The whole module pickled for the runner; its size on disk is that of its saved state_dict."""
    path = scratch / "eager-model.pt"
    torch.save(prepared, path)
    state = scratch / "eager-state_dict.pt"
    torch.save(prepared.state_dict(), state)
    return Built(plan, path, state.stat().st_size, HOST_RUNNER, False, None,
                 ["nn.Module in eval mode under torch.inference_mode(); size is torch.save(state_dict)"])
