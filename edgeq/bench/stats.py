"""Latency statistics with their spread, and comparisons that say faster, slower or not significant."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass

NOISY_CV = 0.10


@dataclass(frozen=True)
class LatencyStats:
    p50: float
    p90: float
    p99: float
    mean: float
    std: float
    cv: float
    runs: int

    @property
    def noisy(self) -> bool:
        return self.cv >= NOISY_CV

    def to_dict(self) -> dict[str, float | int | bool]:
        return {**asdict(self), "noisy": self.noisy}


def _percentile(ordered: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def latency_stats(samples_ms: Sequence[float]) -> LatencyStats:
    if not samples_ms:
        raise ValueError("no latency samples")
    ordered = sorted(samples_ms)
    mean = statistics.fmean(ordered)
    std = statistics.stdev(ordered) if len(ordered) > 1 else 0.0
    return LatencyStats(p50=_percentile(ordered, 0.5), p90=_percentile(ordered, 0.9), p99=_percentile(ordered, 0.99),
                        mean=mean, std=std, cv=std / mean if mean else 0.0, runs=len(ordered))


def compare(candidate: LatencyStats, baseline: LatencyStats) -> tuple[str, float]:
    """``("faster" | "slower" | "not significant", speedup)`` of candidate against baseline, by median.

    A difference counts when it exceeds 5 % and both runs' interquantile
    spread (p90 - p50) would not explain it.
    """
    speedup = baseline.p50 / candidate.p50 if candidate.p50 else math.inf
    gap = abs(baseline.p50 - candidate.p50)
    noise = max(candidate.p90 - candidate.p50, baseline.p90 - baseline.p50)
    if gap < 0.05 * min(baseline.p50, candidate.p50) or gap < noise:
        return "not significant", speedup
    return ("faster" if speedup > 1 else "slower"), speedup
