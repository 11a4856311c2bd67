"""Device health checks: is the device reachable, does it run a small golden artifact, and is the
golden latency where it has always been on that device?

A device whose golden median latency leaves its own band — the median of its last good checks,
± ``margin`` of it — is ``bad`` even though it answers: it got slower (throttled, busy, another
firmware) and its numbers would be wrong. The band needs a few checks to exist; until then a check
passes on reachability and a clean run alone.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from edgeq.models import LoadedModel

GOLDEN_RUNS = 10
_MIN_HISTORY = 3  # good checks before the latency band is enforced


def golden_model() -> LoadedModel:
    """The health check's model: a small MLP with fixed weights, the same on every host."""
    generator = torch.Generator().manual_seed(20261202)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.1)
    example = (torch.randn(1, 64, generator=generator),)
    return LoadedModel(name="edgeq:golden-mlp", model=model.eval(), example_inputs=example, fingerprint="golden-mlp:v1")


@dataclass(frozen=True)
class Verdict:
    outcome: str  # "good" or "bad"
    reason: str


def judge_golden(p50_ms: float, history_ms: Sequence[float], margin: float) -> Verdict:
    """Whether a golden median latency fits the device's band from its earlier good checks."""
    if len(history_ms) < _MIN_HISTORY:
        return Verdict("good", f"golden p50 {p50_ms:.3g} ms ({len(history_ms)} earlier check(s): no band yet)")
    centre = statistics.median(history_ms)
    low, high = centre * (1 - margin), centre * (1 + margin)
    if not low <= p50_ms <= high:
        return Verdict("bad", f"golden p50 {p50_ms:.3g} ms is outside the device's band {low:.3g}–{high:.3g} ms "
                              f"(median of its last {len(history_ms)} good checks ± {margin:.0%})")
    return Verdict("good", f"golden p50 {p50_ms:.3g} ms within {low:.3g}–{high:.3g} ms")
