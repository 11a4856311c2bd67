"""What a run returns: one ``VariantResult`` per artifact measured, the ``RunResult`` contract of
DESIGN.md around them, and what ``deploy`` left on the device."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeq.bench import BenchResult
from edgeq.export import Artifact
from edgeq.models.tracing import user_name
from edgeq.profiles import DeviceProfile
from edgeq.quantize import QuantSpec
from edgeq.selection import Budget


@dataclass
class VariantResult:
    spec: QuantSpec
    artifact: Artifact
    bench: BenchResult
    accuracy: dict[str, Any] | None
    numerics: dict[str, float] | None
    scheme_reason: str
    quality: float | None = None
    within_budget: bool = True
    budget_note: str = "the float reference"
    remeasured: bool = False  # the first measurement was noisy (CV ≥ 10 %); this is the steadier of two

    def to_dict(self) -> dict[str, Any]:
        return {
            "variant": self.spec.variant,
            "precision": self.spec.precision,
            "scheme": self.spec.scheme,
            "scheme_reason": self.scheme_reason,
            "observer": self.spec.observer if self.spec.scheme == "static" else None,
            "float_layers": [user_name(name) for name in self.spec.float_layers],
            "engine": self.spec.engine,
            "format": self.spec.format,
            "artifact": str(self.artifact.path),
            "sha256": self.artifact.sha256,
            "size_bytes": self.artifact.size_bytes,
            "cached": self.artifact.cached,
            "latency_ms": self.bench.latency.to_dict(),
            "remeasured": self.remeasured,
            "load_ms": self.bench.load_ms,
            "first_run_ms": self.bench.first_run_ms,
            "peak_rss_mb": self.bench.peak_rss_mb,
            "accuracy": self.accuracy,
            "numerics": self.numerics,
            "quality": self.quality,
            "within_budget": self.within_budget,
            "budget_note": self.budget_note,
            "outputs": self.bench.outputs,
            "backend": self.artifact.manifest.data.get("backend"),
            "notes": self.artifact.notes,
        }


@dataclass
class RunResult:
    model: str
    profile: DeviceProfile
    transport: str
    results: list[VariantResult]
    chosen: dict[str, Any]
    budget: Budget
    search: list[str]
    out_dir: Path | None
    address: str | None = None  # the device instance, when one was named
    conditions: dict[str, Any] = field(default_factory=dict)  # governor and temperature before/after, warnings

    @property
    def budget_met(self) -> bool:
        """Some quantized variant met the budget (or none was asked for)."""
        quantized = [r for r in self.results if r.spec.scheme != "none"]
        return not quantized or any(r.within_budget for r in quantized)

    def to_dict(self) -> dict[str, Any]:
        first = self.results[0].bench
        return {
            "model": self.model,
            "profile": self.profile.name,
            "results": [r.to_dict() for r in self.results],
            "device": {
                "name": self.address or self.profile.name,
                "transport": self.transport,
                "arch": first.arch,
                "torch": first.versions.get("torch"),
                "executorch": first.versions.get("executorch"),
                "python": first.versions.get("python"),
                "threads": first.threads,
                "cpu": self.profile.cpu,
                **self.conditions,
            },
            "budget": {"metric": self.budget.metric.name, "unit": self.budget.metric.unit, "max_drop": self.budget.max_drop,
                       "fp32_value": self.budget.reference, "enforced": self.budget.enforced, "met": self.budget_met},
            "search": self.search,
            "chosen": self.chosen,
        }


@dataclass
class DeployResult:
    """What ``edgeq deploy`` left on the device: the runner and each artifact, verified by SHA-256 there."""

    device: str
    workdir: str
    runner: str
    artifacts: list[dict[str, Any]]
    warnings: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"device": self.device, "workdir": self.workdir, "runner": self.runner, "artifacts": self.artifacts,
                "warnings": self.warnings}


def write_out_dir(result: RunResult, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for variant in result.results:
        target = out_dir / f"{variant.spec.variant}.{variant.spec.format}"
        shutil.copyfile(variant.artifact.path, target)
        shutil.copyfile(variant.artifact.path.parent / "manifest.json", out_dir / f"{variant.spec.variant}.{variant.spec.format}.manifest.json")
    (out_dir / "result.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
