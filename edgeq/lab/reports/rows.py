"""One row per job, as every report shows it: the job, its latency summary, its ratio to fp32 and its verdict.

The four formats differ only in how they print these rows, so what a job *is* in a report — its reason,
what it is compared with, whether it regressed — is decided here once, from the records alone.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from edgeq.bench.stats import LatencyStats, latency_stats
from edgeq.bench.verdict import VERDICTS
from edgeq.errors import ConfigError
from edgeq.lab.records import JOB_STATES, JobKey, JobRecord, Measurement, RunRecord

FP32_SCHEME = "none"  # QuantSpec's scheme of the float variant, the baseline of "vs fp32"
PROBLEM_STATES = ("failed", "timeout", "infra", "invalid", "error")  # ends whose reason every report shows


class VerdictLike(Protocol):
    """What a report needs of a comparison; ``edgeq.bench.verdict.Comparison`` is one."""

    @property
    def verdict(self) -> str: ...

    @property
    def ratio(self) -> float | None: ...

    @property
    def reason(self) -> str: ...


# A job's key -> its comparison with its baseline, an object or a plain dict.
Comparisons = Mapping[JobKey, VerdictLike | Mapping[str, Any]]
# A job's key -> earlier runs of it on the device it ran on, oldest first: (run_id, started_at ISO, p50_ms).
History = Mapping[JobKey, Sequence[tuple[str, str, float]]]


@dataclass(frozen=True)
class Verdict:
    """A job's comparison as the reports print it. ``ratio`` is the job's median over the baseline's
    (above 1 is slower), ``None`` when it could not be computed; ``reason`` says why in one line."""

    verdict: str
    ratio: float | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ConfigError(f"verdict {self.verdict!r} is not known", hint=f"use one of: {', '.join(VERDICTS)}")


def as_verdict(value: VerdictLike | Mapping[str, Any]) -> Verdict:
    """Read a ``Comparison``, a ``Verdict`` or a dict alike, so callers pass what they have."""
    if isinstance(value, Verdict):
        return value
    keys = ("verdict", "ratio", "reason")
    fields = value if isinstance(value, Mapping) else {key: getattr(value, key, None) for key in keys}
    ratio = fields.get("ratio")
    finite = ratio is not None and math.isfinite(float(ratio))
    return Verdict(str(fields.get("verdict")), float(ratio) if finite else None, str(fields.get("reason") or ""))


@dataclass(frozen=True)
class JobRow:
    """A job with what the reports derive from it. ``latency`` is set whenever samples exist, even for an
    ``invalid`` job (its last invalid attempt's samples); only ``trusted`` rows (done and measured) are plotted,
    compared with fp32 or with a baseline."""

    job: JobRecord
    latency: LatencyStats | None
    vs_fp32: float | None  # this p50 over the fp32 p50 of the same model, planned device and format
    verdict: Verdict | None

    @property
    def key(self) -> JobKey:
        return self.job.key

    @property
    def name(self) -> str:
        return self.job.name

    @property
    def device(self) -> str:
        """Where the job last ran (a sibling of the planned device after an infra retry)."""
        return self.job.device or self.job.planned_device

    @property
    def cell(self) -> tuple[str, str]:
        """The matrix cell, (model, planned device): fp32 and int8 of one cell are compared even when a retry
        moved one of them to a sibling of the same profile."""
        return self.job.model, self.job.planned_device

    @property
    def state(self) -> str:
        return self.job.state

    @property
    def reason(self) -> str:
        """The job's reason, or the last attempt's when the job itself has none."""
        if self.job.reason or not self.job.attempts:
            return self.job.reason
        return self.job.attempts[-1].reason

    @property
    def trusted(self) -> bool:
        return self.state == "done" and self.latency is not None

    @property
    def untrusted_latency(self) -> bool:
        """The latency shown comes from samples taken on a hot or re-governed device: kept, never believed."""
        return self.latency is not None and not self.trusted

    @property
    def regressed(self) -> bool:
        """A done job the comparison found slower; an invalid job is never a regression."""
        return self.state == "done" and self.verdict is not None and self.verdict.verdict == "slower"

    @property
    def moved(self) -> bool:
        return self.device != self.job.planned_device

    @property
    def size_bytes(self) -> int | None:
        return self.job.measurement.size_bytes if self.job.measurement else None

    @property
    def quality(self) -> float | None:
        quality = self.job.measurement.quality if self.job.measurement else None
        return quality if quality is not None and math.isfinite(quality) else None

    @property
    def metric(self) -> str | None:
        return self.job.measurement.metric if self.job.measurement else None


def measured(job: JobRecord) -> Measurement | None:
    """What the reports show of a job's samples: its result, else what its last invalid attempt measured."""
    if job.measurement is not None:
        return job.measurement
    return next((attempt.measurement for attempt in reversed(job.attempts) if attempt.measurement), None)


def _latency(job: JobRecord) -> LatencyStats | None:
    found = measured(job)
    return latency_stats(found.samples_ms) if found and found.samples_ms else None


def _order(job: JobRecord) -> tuple[str, str, bool, str, str]:
    """Model, then device, fp32 first, then the other variants by name: the order of every table."""
    return job.model, job.planned_device, job.scheme != FP32_SCHEME, job.variant, job.format


def _fp32_p50(jobs: Sequence[JobRecord], latencies: Mapping[int, LatencyStats | None]) -> dict[tuple, float]:
    """The fp32 median of each (model, planned device, format), and of each (model, planned device) as a
    fallback when the int8 variant was written in a format fp32 was not."""
    baselines: dict[tuple, float] = {}
    for job in jobs:
        latency = latencies[job.id]
        if job.scheme == FP32_SCHEME and job.state == "done" and latency is not None and latency.p50 > 0:
            baselines.setdefault((job.model, job.planned_device, job.format), latency.p50)
            baselines.setdefault((job.model, job.planned_device), latency.p50)
    return baselines


def _vs_fp32(job: JobRecord, latency: LatencyStats | None, baselines: Mapping[tuple, float]) -> float | None:
    if job.scheme == FP32_SCHEME or job.state != "done" or latency is None:
        return None
    baseline = baselines.get((job.model, job.planned_device, job.format)) or baselines.get((job.model, job.planned_device))
    return latency.p50 / baseline if baseline else None


def _verdict_of(job: JobRecord, comparisons: Comparisons | None) -> Verdict | None:
    found = comparisons.get(job.key) if comparisons else None
    return as_verdict(found) if found is not None else None


def job_rows(run: RunRecord, comparisons: Comparisons | None = None) -> list[JobRow]:
    """Every job of ``run`` as a report row, in table order."""
    jobs = sorted(run.jobs, key=_order)
    latencies = {job.id: _latency(job) for job in jobs}
    baselines = _fp32_p50(jobs, latencies)
    return [JobRow(job, latencies[job.id], _vs_fp32(job, latencies[job.id], baselines), _verdict_of(job, comparisons))
            for job in jobs]


def by_model(rows: Iterable[JobRow]) -> dict[str, list[JobRow]]:
    """Rows grouped by model, keeping their order."""
    groups: dict[str, list[JobRow]] = {}
    for row in rows:
        groups.setdefault(row.job.model, []).append(row)
    return groups


def state_counts(rows: Sequence[JobRow]) -> dict[str, int]:
    """How many jobs ended in each state, in ``JOB_STATES`` order; ``done`` always, others when present."""
    counts = Counter(row.state for row in rows)
    return {state: counts[state] for state in (*JOB_STATES, *sorted(set(counts) - set(JOB_STATES)))
            if counts[state] or state == "done"}


def headline(rows: Sequence[JobRow]) -> str:
    """``8 jobs: 4 done, 1 failed, …; 1 regression``: the one line a reader sees first."""
    states = ", ".join(f"{count} {state}" for state, count in state_counts(rows).items())
    regressions = sum(row.regressed for row in rows)
    if regressions:
        compared = f"{regressions} regression{'s' if regressions > 1 else ''}"
    elif any(row.verdict for row in rows):
        compared = "no regressions"
    else:
        compared = "not compared with a baseline"
    return f"{len(rows)} job{'s' if len(rows) != 1 else ''}: {states}; {compared}"
