"""What the lab keeps: runs, their jobs and every attempt, measurements, devices and their health.

These frozen records are the boundary between the parts of the lab: the scheduler writes them through
``edgeq.lab.store.Store``, the store gives them back, and reports, ``compare`` and ``gate`` read them.
Nothing here touches a database, a device or torch.

Times are ISO-8601 strings in UTC (``2026-12-02T15:04:05+00:00``); latencies are milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edgeq.quantize.spec import LANGUAGE_MODEL_PROGRAMS

# How a job ends. ``failed``: the model or the artifact is at fault (never retried); ``timeout``: the
# benchmark outlived the job's timeout (never retried); ``infra``: the device, the connection or the device's
# environment failed (retried at most twice, preferably on another device of the profile); ``invalid``: the
# device got too hot or its governor changed during the measurement (re-queued once, then kept as invalid,
# never a regression); ``error``: a bug in edgeq (never retried, never the device's fault); ``skipped``: not
# run (no healthy device of its profile, or the run was stopped before it started).
FINAL_STATES = ("done", "failed", "timeout", "infra", "invalid", "error", "skipped")
JOB_STATES = ("queued", "running", *FINAL_STATES)
# A device's health. ``unknown`` after an infra failure: it runs a health check before its next job.
HEALTH_STATES = ("good", "unknown", "bad", "quarantined", "retired")
RUN_STATES = ("running", "finished", "interrupted")


@dataclass(frozen=True)
class Measurement:
    """One benchmark of one artifact on one device: the raw samples and what they were taken under.

    ``result_key`` is what decides the result — the artifact's sha256, the device, the runner's version
    and the device's runtime versions — hashed; ``--reuse`` looks a measurement up by it.
    """

    result_key: str
    artifact_sha256: str
    device: str
    samples_ms: tuple[float, ...]
    measured_at: str
    size_bytes: int
    load_ms: float | None = None
    peak_rss_mb: float | None = None
    metric: str | None = None  # what ``quality`` measures: accuracy, top1_agreement, cosine
    quality: float | None = None
    numerics: dict[str, Any] | None = None  # cosine, max_abs_err, ... against the eager fp32 model
    versions: dict[str, Any] = field(default_factory=dict)  # runner, torch, executorch, python on the device
    conditions: dict[str, Any] = field(default_factory=dict)  # governor and temperature before and after
    valid: bool = True  # False: taken by an ``invalid`` attempt (too hot, governor changed): kept, never gated


@dataclass(frozen=True)
class Attempt:
    """One try of a job on one device; a job has one attempt per retry or re-queue."""

    number: int  # 1, 2, ...
    device: str
    outcome: str  # a FINAL_STATES value, or "running" while it runs
    reason: str
    started_at: str
    ended_at: str | None = None
    measurement: Measurement | None = None  # an invalid attempt's samples, kept (a done one's are the job's)
    traceback: str | None = None  # an ``error`` attempt's traceback: the bug in edgeq to report


@dataclass(frozen=True, order=True)
class JobKey:
    """What a job is, in every report, table and comparison: a model's variant (its scheme) in one format, for
    the device the matrix planned it on, of one profile. Two runs' jobs with the same key are the same job."""

    model: str
    device: str  # the planned device: a retry may run the job on a sibling, its key stays
    profile: str
    variant: str
    format: str

    @property
    def label(self) -> str:
        """``model/device/variant.format``: the job's name in tables, reports and JUnit, unique within a run
        (a device has one profile there) and the same from run to run."""
        return f"{self.model}/{self.device}/{self.variant}.{self.format}"


@dataclass(frozen=True)
class JobRecord:
    """One cell of the matrix: a model's variant (scheme and format) for one profile, run on one device."""

    id: int
    run_id: str
    model: str
    profile: str
    scheme: str
    format: str
    variant: str
    planned_device: str  # the device the matrix put it on; ``device`` is where it last ran
    state: str
    reason: str = ""
    device: str | None = None
    artifact_sha256: str | None = None
    attempts: tuple[Attempt, ...] = ()
    measurement: Measurement | None = None
    reused: bool = False  # the measurement came from the store (``--reuse``), nothing was run

    @property
    def key(self) -> JobKey:
        return JobKey(self.model, self.planned_device, self.profile, self.variant, self.format)

    @property
    def per_token(self) -> bool:
        """A language model's job: its samples are decode times per token. Its scheme says so (fp32 or a language
        model's scheme: another model's fp32 is ``none``)."""
        return self.scheme in LANGUAGE_MODEL_PROGRAMS

    @property
    def name(self) -> str:
        """The key's label: the test case name in JUnit and the row name in every report."""
        return self.key.label


@dataclass(frozen=True)
class RunRecord:
    id: str
    label: str | None
    started_at: str
    status: str  # RUN_STATES
    args: dict[str, Any]  # what the run was asked: models, devices, schemes, formats, runs, ...
    finished_at: str | None = None
    jobs: tuple[JobRecord, ...] = ()
    queued: bool = False  # submitted to the shared queue: ``edgeq lab worker`` processes run its jobs


@dataclass(frozen=True)
class HealthCheck:
    device: str
    at: str
    outcome: str  # "good" or "bad"
    reason: str
    golden_p50_ms: float | None = None  # the golden artifact's median latency, when it ran


@dataclass(frozen=True)
class DeviceRecord:
    name: str
    profile: str
    tags: tuple[str, ...]
    health: str  # HEALTH_STATES
    reason: str = ""  # why it is bad, quarantined or retired
    since: str | None = None  # when it entered this health state
    last_check: HealthCheck | None = None
    recent_failures: int = 0  # infra failures among its recent attempts
    consecutive_infra: int = 0  # infra failures in a row; three quarantine it


@dataclass(frozen=True)
class Claim:
    """A job a worker took from the queue for one of its devices, with its attempt already running."""

    job: JobRecord
    attempt: int  # the attempt's number, running under the device's lease
    args: dict[str, Any]  # the run's arguments: runs, warmup, retry budgets, job timeout, reuse


@dataclass(frozen=True)
class WorkerRecord:
    """An ``edgeq lab worker`` process as the store knows it: alive while its heartbeat is recent."""

    name: str
    host: str
    pid: int
    devices: tuple[str, ...]
    started_at: str
    heartbeat_age_s: float  # seconds since its last heartbeat, on the database's clock
    stopped_at: str | None = None  # set when it drained and exited

    def state(self, lost_after_s: float) -> str:
        """``stopped`` (exited cleanly), ``alive``, or ``lost`` (no heartbeat for ``lost_after_s``)."""
        if self.stopped_at is not None:
            return "stopped"
        return "alive" if self.heartbeat_age_s < lost_after_s else "lost"


@dataclass(frozen=True)
class QueueStatus:
    """The shared queue now: jobs waiting and running per profile, and the oldest waiting job."""

    pending: dict[str, int]  # profile -> queued jobs of submitted runs
    leased: dict[str, int]  # profile -> running jobs of submitted runs
    oldest_job: int | None = None
    oldest_run: str | None = None
    oldest_wait_s: float | None = None
