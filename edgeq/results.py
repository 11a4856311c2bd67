"""What a run returns: one ``VariantResult`` per artifact measured, the ``RunResult`` contract of
DESIGN.md around them, and what ``deploy`` left on the device."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeq.bench import BenchResult
from edgeq.export import Artifact
from edgeq.models.tracing import user_name
from edgeq.profiles import DeviceProfile
from edgeq.quantize import QuantSpec
from edgeq.selection import Budget, Candidate, choose


def _variant_fields(spec: QuantSpec, status: str, scheme_reason: str) -> dict[str, Any]:
    """What a result row says of the variant itself, measured (``ok``) or ``failed``."""
    return {
        "variant": spec.variant,
        "label": spec.label,
        "status": status,
        "precision": spec.precision,
        "scheme": spec.scheme,
        "scheme_reason": scheme_reason,
        "observer": spec.observer if spec.scheme == "static" else None,
        "float_layers": [user_name(name) for name in spec.float_layers],
        "engine": spec.engine,
        "format": spec.format,
        "flow": spec.flow,
    }


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

    @property
    def label(self) -> str:
        return self.spec.label

    @property
    def is_float(self) -> bool:
        return self.spec.scheme == "none"

    def to_dict(self) -> dict[str, Any]:
        return {
            **_variant_fields(self.spec, "ok", self.scheme_reason),
            "artifact": str(self.artifact.path),
            "sha256": self.artifact.sha256,
            "size_bytes": self.artifact.size_bytes,
            "cached": self.artifact.cached,
            "latency_ms": self.bench.latency.to_dict(),
            "remeasured": self.remeasured,
            "load_ms": self.bench.load_ms,
            "first_run_ms": self.bench.first_run_ms,
            "peak_rss_mb": self.bench.peak_rss_mb,
            "model_rss_mb": self.bench.model_rss_mb,
            "baseline_rss_mb": self.bench.baseline_rss_mb,
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
class FailedVariant:
    """A candidate that could not be built or run: a finding of the run, not its end.

    ``stage`` is where it failed: ``quantize``, ``export`` (torch.export or lowering) or ``run`` (on the device).
    """

    spec: QuantSpec
    stage: str
    error: str
    scheme_reason: str

    @property
    def label(self) -> str:
        return self.spec.label

    @property
    def is_float(self) -> bool:
        return self.spec.scheme == "none"

    @property
    def note(self) -> str:
        return f"{self.label} failed at {self.stage}: {self.error}"

    def to_dict(self) -> dict[str, Any]:
        return {
            **_variant_fields(self.spec, "failed", self.scheme_reason),
            "failed_stage": self.stage,
            "error": self.error,
            **{key: None for key in ("artifact", "sha256", "size_bytes", "latency_ms", "load_ms", "first_run_ms",
                                     "peak_rss_mb", "model_rss_mb", "baseline_rss_mb", "accuracy", "numerics", "quality",
                                     "outputs", "backend")},
            "within_budget": False,
            "budget_note": f"failed at {self.stage}: {self.error}",
            "notes": [],
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
    failures: list[FailedVariant] = field(default_factory=list)  # candidates that could not be built or run
    warnings: list[str] = field(default_factory=list)  # what the user should know about the numbers

    @property
    def budget_met(self) -> bool:
        """Some quantized variant met the budget (or none was tried)."""
        quantized = [r for r in self.results if r.spec.scheme != "none"]
        if not quantized:
            return not any(f.spec.scheme != "none" for f in self.failures)
        return any(r.within_budget for r in quantized)

    def to_dict(self) -> dict[str, Any]:
        first = self.results[0].bench
        return {
            "model": self.model,
            "profile": self.profile.name,
            "results": [r.to_dict() for r in self.results] + [f.to_dict() for f in self.failures],
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
                       "fp32_value": self.budget.reference, "enforced": self.budget.enforced, "met": self.budget_met,
                       "samples": self.budget.samples, "cannot_judge": self.budget.cannot_judge},
            "search": self.search,
            "chosen": self.chosen,
            "warnings": self.warnings,
        }


def recommend(results: Sequence[VariantResult], formats: Sequence[str], caution: str | None = None) -> dict[str, Any]:
    """A run's ``chosen``: the artifact ``selection.choose`` picks among ``results`` (fp32 first), named by the
    label every output uses, with why; ``caution`` says what the accuracy judgement rests on when that is little.
    ``formats`` orders the formats in the reason's list of p50s."""
    by_label = {r.spec.label: r for r in results}
    label, why = choose([Candidate(label, r.bench.latency, r.artifact.size_bytes, r.within_budget, r.budget_note)
                         for label, r in by_label.items()])
    if len({r.spec.format for r in results}) > 1:
        within = sorted((r for r in results if r.within_budget), key=lambda r: r.bench.latency.p50)
        measured = [f for f in formats if any(r.spec.format == f for r in within)]
        why += (f"; p50 of each candidate within budget, in {' and '.join(f'.{f}' for f in measured)}: "
                + ", ".join(f"{r.spec.label} {r.bench.latency.p50:.3g} ms" for r in within))
    spec = by_label[label].spec
    return {"variant": spec.variant, "format": spec.format, "label": label, "reason": why, "caution": caution}


@dataclass
class DeployResult:
    """What ``edgeq deploy`` left on the device: the runner and each artifact, verified by SHA-256 there."""

    device: str
    workdir: str
    runner: str
    artifacts: list[dict[str, Any]]
    warnings: list[str]
    failed: list[FailedVariant] = field(default_factory=list)  # int8 variants that could not be built

    def to_dict(self) -> dict[str, Any]:
        return {"device": self.device, "workdir": self.workdir, "runner": self.runner, "artifacts": self.artifacts,
                "failed": [{"variant": f.spec.variant, "format": f.spec.format, "failed_stage": f.stage, "error": f.error}
                           for f in self.failed],
                "warnings": self.warnings}


def write_out_dir(result: RunResult, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for variant in result.results:
        target = out_dir / f"{variant.spec.variant}.{variant.spec.format}"
        shutil.copyfile(variant.artifact.path, target)
        shutil.copyfile(variant.artifact.path.parent / "manifest.json", out_dir / f"{variant.spec.variant}.{variant.spec.format}.manifest.json")
    (out_dir / "result.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
