"""Choose the variant to ship: the fastest within the quality budget; near-ties go to the smaller artifact."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from edgeq.bench.stats import LatencyStats
from edgeq.bench.verdict import Comparison, compare_samples
from edgeq.metrics import Metric, caution, format_value
from edgeq.units import ratio

NEAR_TIE = 0.05  # a smaller artifact may be up to 5 % slower than the fastest and still win


@dataclass(frozen=True)
class Budget:
    """How much of ``metric`` a quantized variant may lose against fp32 (``reference``), judged on ``samples``
    check samples (None: the model's own evaluation function decides). ``cannot_judge`` says why the metric
    cannot tell this model's variants apart on these samples (its outputs are all ~0, say), if it cannot."""

    metric: Metric
    max_drop: float
    reference: float
    enforced: bool  # the user set it: missing it fails the run
    samples: int | None = None
    cannot_judge: str | None = None

    def judge(self, value: float | None) -> tuple[bool, str]:
        """``(within, one-line why)`` for a candidate's measured value."""
        if self.cannot_judge is not None:
            return False, f"numerics cannot judge this model on these inputs: {self.cannot_judge}"
        if value is None:
            return False, f"no {self.metric.name} measured"
        drop = self.reference - value
        within = drop <= self.max_drop + 1e-9
        shown = format_value(self.metric, drop)
        if not within and float(shown) <= self.max_drop:
            shown = f"{drop:.2g}"  # a miss too small for the usual digits must not read as within budget
        unit = f" {self.metric.unit}" if self.metric.unit else ""
        return within, (
            f"{self.metric.name} {format_value(self.metric, value)} vs fp32 {format_value(self.metric, self.reference)} "
            f"(drop {shown}{unit}, budget {self.max_drop:g})")

    @property
    def caution(self) -> str | None:
        """What a judgement of this budget rests on, when that is too little to trust (``metrics.caution``)."""
        return caution(self.metric, self.samples)


@dataclass(frozen=True)
class Candidate:
    label: str  # the artifact, as every output names it (``QuantSpec.label``)
    latency: LatencyStats
    size_bytes: int
    within_budget: bool
    why: str


def choose(candidates: Sequence[Candidate]) -> tuple[str, str]:
    """Return ``(label, one-line reason)``; the first candidate is the float baseline.

    The fastest candidate within budget wins; a smaller one whose median is within
    5 % of it, and which the latency verdict does not call slower, wins instead.
    """
    baseline = candidates[0]
    eligible = [c for c in candidates if c is baseline or c.within_budget]
    fastest = min(eligible, key=lambda c: c.latency.p50)
    best = fastest
    for candidate in eligible:
        near = candidate.latency.p50 <= fastest.latency.p50 * (1 + NEAR_TIE)
        if near and candidate.size_bytes < best.size_bytes and _speed(candidate, fastest).verdict != "slower":
            best = candidate
    if best is baseline:
        parts = [f"{c.label} rejected: {c.why}" for c in candidates[1:] if not c.within_budget]
        for candidate in eligible[1:]:
            speed = _speed(candidate, baseline)
            parts.append(f"{candidate.label} is within budget but {speed.verdict} ({ratio(speed.speedup)}), "
                         f"so {baseline.label} stays")
        return baseline.label, "; ".join(parts) or "only the float variant was built"
    speed = _speed(best, baseline)
    size_ratio = best.size_bytes / baseline.size_bytes if baseline.size_bytes else 1.0
    against = (f"{ratio(speed.speedup)} faster than {baseline.label}" if speed.verdict == "faster"
               else f"speed against {baseline.label}: {speed.verdict} ({ratio(speed.speedup)})")
    return best.label, f"{against} at {ratio(size_ratio)} the size; {best.why}"


def _speed(candidate: Candidate, baseline: Candidate) -> Comparison:
    return compare_samples(candidate.latency.samples_ms, baseline.latency.samples_ms)
