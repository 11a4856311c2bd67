"""Choose the variant to ship: the fastest within the quality budget; near-ties go to the smaller artifact."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from edgeq.bench.stats import LatencyStats, compare
from edgeq.metrics import Metric, format_value

NEAR_TIE = 0.05  # a smaller artifact may be up to 5 % slower than the fastest and still win


@dataclass(frozen=True)
class Budget:
    """How much of ``metric`` a quantized variant may lose against fp32 (``reference``)."""

    metric: Metric
    max_drop: float
    reference: float
    enforced: bool  # the user set it: missing it fails the run

    def judge(self, value: float | None) -> tuple[bool, str]:
        """``(within, one-line why)`` for a candidate's measured value."""
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


@dataclass(frozen=True)
class Candidate:
    variant: str
    latency: LatencyStats
    size_bytes: int
    within_budget: bool
    why: str


def choose(candidates: Sequence[Candidate]) -> tuple[str, str]:
    """Return ``(variant, one-line reason)``; the first candidate is the float baseline.

    The fastest candidate within budget wins; a smaller one whose speed is not
    significantly different and within 5 % of it wins instead.
    """
    baseline = candidates[0]
    eligible = [c for c in candidates if c is baseline or c.within_budget]
    fastest = min(eligible, key=lambda c: c.latency.p50)
    best = fastest
    for candidate in eligible:
        near = candidate.latency.p50 <= fastest.latency.p50 * (1 + NEAR_TIE)
        if near and candidate.size_bytes < best.size_bytes and compare(candidate.latency, fastest.latency)[0] == "not significant":
            best = candidate
    if best is baseline:
        parts = [f"{c.variant} rejected: {c.why}" for c in candidates[1:] if not c.within_budget]
        for candidate in eligible[1:]:
            verdict, speedup = compare(candidate.latency, baseline.latency)
            parts.append(f"{candidate.variant} is within budget but {verdict} ({speedup:.2f}x), so fp32 stays")
        return baseline.variant, "; ".join(parts) or "only the float variant was built"
    verdict, speedup = compare(best.latency, baseline.latency)
    size_ratio = best.size_bytes / baseline.size_bytes if baseline.size_bytes else 1.0
    speed = f"{speedup:.2f}x faster" if verdict == "faster" else f"speed {verdict} ({speedup:.2f}x)"
    return best.variant, f"{speed} than {baseline.variant} at {size_ratio:.2f}x the size; {best.why}"
