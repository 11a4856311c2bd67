"""Choose the variant to ship: the fastest within the accuracy budget; ties go to the smaller artifact."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from edgeq.bench.stats import LatencyStats, compare

DEFAULT_MAX_DROP = 1.0  # points of the model's metric (top-1 %)
DEFAULT_MIN_COSINE = 0.99  # when the model brings no metric


@dataclass(frozen=True)
class Candidate:
    variant: str
    latency: LatencyStats
    size_bytes: int
    accuracy: float | None
    cosine: float | None


def within_budget(candidate: Candidate, baseline: Candidate, max_drop: float) -> tuple[bool, str]:
    if candidate is baseline:
        return True, "the float reference"
    if candidate.accuracy is not None and baseline.accuracy is not None:
        drop = baseline.accuracy - candidate.accuracy
        return drop <= max_drop, f"accuracy {candidate.accuracy:.2f} vs {baseline.accuracy:.2f} ({-drop:+.2f}, budget -{max_drop:g})"
    if candidate.cosine is not None:
        return candidate.cosine >= DEFAULT_MIN_COSINE, f"output cosine {candidate.cosine:.4f} vs fp32 (budget ≥ {DEFAULT_MIN_COSINE})"
    return False, "no accuracy or numerics measured"


def choose(candidates: Sequence[Candidate], max_drop: float = DEFAULT_MAX_DROP) -> tuple[str, str]:
    """Return ``(variant, one-line reason)``; the first candidate is the float baseline."""
    baseline = candidates[0]
    eligible, rejected = [], []
    for candidate in candidates:
        ok, why = within_budget(candidate, baseline, max_drop)
        (eligible if ok else rejected).append((candidate, why))
    best, best_why = eligible[0]
    for candidate, why in eligible[1:]:
        verdict, _ = compare(candidate.latency, best.latency)
        if verdict == "faster" or (verdict == "not significant" and candidate.size_bytes < best.size_bytes):
            best, best_why = candidate, why
    if best is baseline:
        parts = [f"{c.variant} rejected: {why}" for c, why in rejected]
        for candidate, _ in eligible[1:]:
            verdict, speedup = compare(candidate.latency, baseline.latency)
            parts.append(f"{candidate.variant} is {verdict} ({speedup:.2f}x) and no smaller in a way that pays")
        return baseline.variant, "; ".join(parts) or "only the float variant was built"
    verdict, speedup = compare(best.latency, baseline.latency)
    size_ratio = best.size_bytes / baseline.size_bytes if baseline.size_bytes else 1.0
    speed = f"{speedup:.2f}x faster" if verdict == "faster" else f"speed {verdict} ({speedup:.2f}x)"
    return best.variant, f"{speed} than {baseline.variant} at {size_ratio:.2f}x the size; {best_why}"
