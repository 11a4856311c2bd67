"""Latency statistics with their spread, keeping the samples they summarize (``edgeq.bench.verdict`` compares them)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

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
    samples_ms: tuple[float, ...] = field(default=(), repr=False)  # as measured, in order; for compare_samples

    @property
    def noisy(self) -> bool:
        return self.cv >= NOISY_CV

    def to_dict(self) -> dict[str, float | int | bool]:
        """The run result's ``latency_ms``: the summary only, never the samples."""
        return {"p50": self.p50, "p90": self.p90, "p99": self.p99, "mean": self.mean, "std": self.std, "cv": self.cv,
                "runs": self.runs, "noisy": self.noisy}


def median(values: Sequence[float]) -> float:
    """The median: the middle value, or the mean of the two middle ones. The one median of edgeq — the store,
    the reports and every table print this, so they agree on a job's p50."""
    if not values:
        raise ValueError("no values to take the median of")
    return statistics.median(values)


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
    return LatencyStats(p50=median(ordered), p90=_percentile(ordered, 0.9), p99=_percentile(ordered, 0.99),
                        mean=mean, std=std, cv=std / mean if mean else 0.0, runs=len(ordered),
                        samples_ms=tuple(float(sample) for sample in samples_ms))

