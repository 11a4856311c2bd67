"""Comparing two lab runs job by job, and the regression gate CI calls on a pull request.

Jobs are matched by their whole identity (``JobKey``: model, planned device, profile, variant, format), so
the ``.pte`` and ``.ptl`` of one device are two jobs. Each measured in both runs gets the latency verdict of
``edgeq.bench.verdict.compare_samples`` — faster, slower, no significant change or inconclusive — and its size
and quality are checked against budgets. An ``invalid`` measurement (a hot device, a governor that changed)
is never a regression: its samples are kept but never compared, and the gate is inconclusive, as after an
infrastructure failure or a bug in edgeq.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgeq.bench.stats import median
from edgeq.bench.verdict import Comparison, compare_samples
from edgeq.errors import EdgeqError, GateFailure, Inconclusive
from edgeq.lab.settings import GateSettings
from edgeq.lab.records import JobKey, JobRecord, Measurement, RunRecord
from edgeq.metrics import METRICS


@dataclass(frozen=True)
class JobComparison:
    """One job in both runs."""

    key: JobKey
    status: str  # "regression", "improvement", "ok", "inconclusive", "missing"
    reason: str
    latency: Comparison | None = None

    def as_verdict(self) -> dict[str, Any]:
        """What the reports mark a job with: a regression of any kind (latency, size, quality) reads ``slower``."""
        verdict = "slower" if self.status == "regression" else (self.latency.verdict if self.latency else "inconclusive")
        return {"verdict": verdict, "ratio": self.latency.ratio if self.latency else None, "reason": self.reason}

    def to_dict(self) -> dict[str, Any]:
        key = self.key
        return {"job": key.label, "model": key.model, "device": key.device, "profile": key.profile,
                "variant": key.variant, "format": key.format, "status": self.status, "reason": self.reason,
                "verdict": self.latency.verdict if self.latency else None,
                "latency": self.latency.to_dict() if self.latency else None}


@dataclass(frozen=True)
class GateResult:
    baseline: str
    run: str
    rows: tuple[JobComparison, ...]

    @property
    def status(self) -> str:
        """``regression`` (exit 1), ``inconclusive`` (exit 3) or ``clean`` (exit 0)."""
        statuses = {row.status for row in self.rows}
        if "regression" in statuses:
            return "regression"
        if statuses & {"inconclusive", "missing"} or not self.rows:
            return "inconclusive"
        return "clean"

    def problem(self) -> EdgeqError | None:
        """What the gate's status means for a CI job, as the error it exits with: a regression (1), a comparison
        that cannot tell (3); None when clean."""
        if self.status == "regression":
            return GateFailure("a regression against the baseline: " + "; ".join(
                f"{row.key.label}: {row.reason}" for row in self.rows if row.status == "regression"))
        if self.status == "inconclusive":
            return Inconclusive("gate: inconclusive — " + ("; ".join(
                f"{row.key.label}: {row.reason}" for row in self.rows if row.status in ("inconclusive", "missing"))
                or "nothing to compare"))
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"baseline": self.baseline, "run": self.run, "status": self.status,
                "rows": [row.to_dict() for row in self.rows]}


def compare_runs(baseline: RunRecord, candidate: RunRecord, settings: GateSettings | None = None) -> GateResult:
    """Every job of ``candidate`` against the job of ``baseline`` with the same key."""
    settings = settings or GateSettings()
    old = {job.key: job for job in baseline.jobs}
    rows = [_compare(job.key, old.get(job.key), job, settings) for job in sorted(candidate.jobs, key=lambda j: j.key)]
    return GateResult(baseline.id, candidate.id, tuple(rows))


def _compare(key: JobKey, old: JobRecord | None, new: JobRecord, settings: GateSettings) -> JobComparison:
    row = lambda status, reason, latency=None: JobComparison(key, status, reason, latency)  # noqa: E731
    if new.state != "done" or new.measurement is None:
        status = "regression" if new.state in ("failed", "timeout") else "inconclusive"
        return row(status, f"{new.state} in this run: {new.reason or 'no measurement'}")
    if old is None or old.state != "done" or old.measurement is None:
        return row("missing", "no measurement of it in the baseline" + (f" ({old.state})" if old else ""))
    a, b = old.measurement, new.measurement
    latency = compare_samples(b.samples_ms, a.samples_ms, alpha=settings.alpha, min_effect=settings.min_effect)
    speed = _speed(new, a, b, latency)
    problems = []
    if latency.verdict == "slower":
        problems.append(speed)
    if a.size_bytes and b.size_bytes > a.size_bytes * (1 + settings.max_size_growth):
        problems.append(f"size {b.size_bytes} bytes vs {a.size_bytes} (+{b.size_bytes / a.size_bytes - 1:.1%}, "
                        f"budget {settings.max_size_growth:.0%})")
    quality = _quality_drop(a.metric, a.quality, b.quality, settings)
    if quality:
        problems.append(quality)
    moved = f" (measured on {b.device}, the baseline on {a.device})" if a.device != b.device else ""
    if problems:
        return row("regression", "; ".join(problems) + moved, latency)
    if latency.verdict == "inconclusive":
        return row("inconclusive", f"{speed}{moved}", latency)
    status = "improvement" if latency.verdict == "faster" else "ok"
    return row(status, f"{speed}{moved}", latency)


def _speed(job: JobRecord, before: Measurement, after: Measurement, latency: Comparison) -> str:
    """The latency verdict in the job's terms: a language model's in decode tokens per second."""
    if not job.per_token:
        return f"latency: {latency.reason}"
    rate = lambda m: 1000.0 / median(m.samples_ms)  # noqa: E731
    return f"decode {rate(after):.4g} tokens/s vs {rate(before):.4g} (time per token: {latency.reason})"


def _quality_drop(metric: str | None, before: float | None, after: float | None, settings: GateSettings) -> str | None:
    if metric is None or before is None or after is None:
        return None
    known = METRICS.get(metric)
    budget = settings.max_quality_drop if settings.max_quality_drop is not None else (
        known.default_max_drop if known is not None else 0.0)
    drop = before - after
    if drop > budget:
        return f"{metric} {after:.4g} vs {before:.4g} (drop {drop:.4g}, budget {budget:g})"
    return None
