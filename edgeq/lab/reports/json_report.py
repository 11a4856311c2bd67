"""The run as one JSON document for tools: every job with the same keys (``null`` where nothing is known),
its raw samples and its verdict, so a script can recompute or re-judge anything the other reports show.
An invalid job's samples are there too, with ``"valid": false``; every attempt lists the samples it took."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from typing import Any

from edgeq.lab.records import Attempt, RunRecord
from edgeq.lab.reports.rows import Comparisons, JobRow, job_rows, measured, state_counts

SCHEMA = "edgeq.lab.report/1"


def _finite(value: Any) -> Any:
    """NaN and infinity are not JSON; they become ``null`` wherever they hide."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def _measurement_fields(row: JobRow) -> dict[str, Any]:
    measurement = measured(row.job)
    keys = ("result_key", "measured_at", "size_bytes", "load_ms", "peak_rss_mb", "metric", "quality", "numerics",
            "versions", "conditions", "valid")
    fields = {key: getattr(measurement, key) if measurement else None for key in keys}
    return {**fields, "samples_ms": list(measurement.samples_ms) if measurement else None}


def _attempt_fields(attempt: Attempt) -> dict[str, Any]:
    fields = {key: value for key, value in asdict(attempt).items() if key != "measurement"}
    return {**fields, "samples_ms": list(attempt.measurement.samples_ms) if attempt.measurement else None}


def _job_fields(row: JobRow) -> dict[str, Any]:
    job = row.job
    return {
        "name": row.name,
        "id": job.id,
        "model": job.model,
        "profile": job.profile,
        "planned_device": job.planned_device,
        "device": row.device,
        "variant": job.variant,
        "scheme": job.scheme,
        "format": job.format,
        "state": job.state,
        "reason": row.reason,
        "artifact_sha256": job.artifact_sha256,
        "reused": job.reused,
        "attempts": [_attempt_fields(attempt) for attempt in job.attempts],
        "latency_ms": row.latency.to_dict() if row.latency else None,
        "vs_fp32": row.vs_fp32,
        "verdict": asdict(row.verdict) if row.verdict else None,
        "regressed": row.regressed,
        **_measurement_fields(row),
    }


def report_json(run: RunRecord, *, comparisons: Comparisons | None = None) -> str:
    """The run, a summary (state counts, regressions) and one object per job, as indented JSON."""
    rows = job_rows(run, comparisons)
    document = {
        "schema": SCHEMA,
        "run": {"id": run.id, "label": run.label, "status": run.status, "started_at": run.started_at,
                "finished_at": run.finished_at, "args": run.args},
        "summary": {"jobs": len(rows), "states": state_counts(rows),
                    "regressions": [row.name for row in rows if row.regressed]},
        "jobs": [_job_fields(row) for row in rows],
    }
    return json.dumps(_finite(document), indent=2, allow_nan=False, default=str)
