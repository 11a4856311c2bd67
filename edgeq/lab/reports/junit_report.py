"""The run as JUnit XML, so CI shows the lab like any test run: one test case per job, named by its label.

The dialect is ``junit-10.xsd``, the one Jenkins' xUnit plugin validates against and pytest's ``junitxml``
writes: ``<properties>`` belong to a ``<testsuite>``, never to a ``<testcase>``, and ``<testsuites>`` carries
no ``skipped``. So each job is a ``<testsuite>`` of its own (named, like its one case, by the job's label) whose
properties keep what a CI reader needs of it — device, versions, latency, verdict — and whose ``hostname`` is
the device it ran on; ``<testsuites>`` holds the run's totals. CI tools group cases by ``classname``
(``edgeq.lab.<model>``), which gives the per-model view for free.

``invalid`` is an ``<error>``, like ``timeout`` and ``infra``: the device was too hot or its governor changed,
so the numbers say nothing about the model — the job did not fail, it could not be judged. ``error`` (a bug in
edgeq) is an ``<error>`` too, with its traceback in ``<system-err>``. Written with the standard library so the
report needs no extra package.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime

from edgeq.lab.records import Attempt, RunRecord
from edgeq.lab.reports.rows import Comparisons, JobRow, job_rows, measured

# A final state -> (result element, its ``type``). ``done`` has none unless its verdict is ``slower``.
_RESULT_OF_STATE = {
    "failed": ("failure", "failed"),
    "timeout": ("error", "timeout"),
    "infra": ("error", "infra"),
    "invalid": ("error", "invalid"),
    "error": ("error", "edgeq-bug"),
    "skipped": ("skipped", None),
    "queued": ("skipped", None),  # an interrupted run's jobs that never started
    "running": ("error", "interrupted"),  # the run ended while this job ran
}
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")  # ANSI escapes from stderr, NUL


def _xml_text(text: str) -> str:
    """Characters XML 1.0 cannot hold (a device's colored stderr has some) would make the file unreadable."""
    return _NOT_XML.sub("\ufffd", text)


def _wall_seconds(attempt: Attempt) -> float:
    if not attempt.ended_at:
        return 0.0
    return max(0.0, (datetime.fromisoformat(attempt.ended_at) - datetime.fromisoformat(attempt.started_at)).total_seconds())


def _seconds(row: JobRow) -> float:
    """The measured seconds (the sum of the samples); a job that measured nothing shows its attempts' wall
    time instead, so a timeout reads as the time it took and not as zero."""
    if row.job.measurement and row.job.measurement.samples_ms:
        return sum(row.job.measurement.samples_ms) / 1000
    return sum(_wall_seconds(attempt) for attempt in row.job.attempts)


def _properties(run: RunRecord, row: JobRow) -> dict[str, object]:
    job, measurement, latency = row.job, measured(row.job), row.latency
    versions = measurement.versions if measurement else {}
    return {
        "run_id": run.id,
        "run_label": run.label,
        "run_status": run.status,
        "model": job.model,
        "device": row.device,
        "planned_device": job.planned_device if row.moved else None,
        "profile": job.profile,
        "variant": job.variant,
        "scheme": job.scheme,
        "format": job.format,
        "artifact_sha256": job.artifact_sha256 or (measurement.artifact_sha256 if measurement else None),
        "device_torch": versions.get("torch"),
        "device_executorch": versions.get("executorch"),
        "runner": versions.get("runner"),
        "p50_ms": f"{latency.p50:.4f}" if latency else None,
        "p90_ms": f"{latency.p90:.4f}" if latency else None,
        "cv": f"{latency.cv:.4f}" if latency else None,
        "runs": latency.runs if latency else None,
        "latency_valid": "false" if row.untrusted_latency else None,  # samples of an invalid attempt
        "size_bytes": row.size_bytes,
        "quality": row.quality,
        "metric": row.metric,
        "vs_fp32": f"{row.vs_fp32:.4f}" if row.vs_fp32 is not None else None,
        "verdict": row.verdict.verdict if row.verdict else None,
        "ratio": f"{row.verdict.ratio:.4f}" if row.verdict and row.verdict.ratio is not None else None,
        "attempts": len(job.attempts),
        "reused": "true" if job.reused else None,
    }


def _attempts_log(row: JobRow) -> str:
    """Every attempt on one line: where it ran, how it ended and why — what a reader needs after an infra retry."""
    return "\n".join(f"attempt {attempt.number} on {attempt.device}: {attempt.outcome}"
                     + (f" — {attempt.reason}" if attempt.reason else "") for attempt in row.job.attempts)


def _result(row: JobRow) -> tuple[str, str | None, str] | None:
    """(element, type, message) for the case, or None when it passed."""
    if row.regressed:
        verdict = row.verdict
        ratio = f" (×{verdict.ratio:.2f})" if verdict.ratio is not None else ""
        return "failure", "regression", (verdict.reason or "slower than the baseline") + ratio
    if row.state not in _RESULT_OF_STATE:
        return None
    element, kind = _RESULT_OF_STATE[row.state]
    return element, kind, row.reason or row.state


def _testcase(row: JobRow) -> ET.Element:
    case = ET.Element("testcase", name=_xml_text(row.name), classname=_xml_text(f"edgeq.lab.{row.job.model}"),
                      time=f"{_seconds(row):.3f}")
    result = _result(row)
    if result is not None:
        element, kind, message = result
        attributes = {"message": _xml_text(" ".join(message.split()))} | ({"type": kind} if kind else {})
        ET.SubElement(case, element, attributes).text = _xml_text(message)
    if row.job.attempts:
        ET.SubElement(case, "system-out").text = _xml_text(_attempts_log(row))
    tracebacks = [attempt.traceback for attempt in row.job.attempts if attempt.traceback]
    if tracebacks:
        ET.SubElement(case, "system-err").text = _xml_text(tracebacks[-1])
    return case


def _totals(cases: list[ET.Element], *, skipped: bool) -> dict[str, str]:
    """The totals JUnit readers expect, taken from the cases; ``skipped``: counted too (a suite may say it,
    ``<testsuites>`` may not)."""
    def count(tag: str) -> str:
        return str(sum(case.find(tag) is not None for case in cases))

    totals = {"tests": str(len(cases)), "failures": count("failure"), "errors": count("error")}
    if skipped:
        totals["skipped"] = count("skipped")
    return {**totals, "time": f"{sum(float(case.get('time', '0')) for case in cases):.3f}"}


def _testsuite(run: RunRecord, row: JobRow) -> ET.Element:
    """One job as a suite of one case: the properties the dialect allows only on a suite are the job's."""
    case = _testcase(row)
    started = row.job.attempts[0].started_at if row.job.attempts else run.started_at
    suite = ET.Element("testsuite", name=_xml_text(row.name), id=str(row.job.id), hostname=_xml_text(row.device),
                       timestamp=started, **_totals([case], skipped=True))
    properties = ET.SubElement(suite, "properties")
    for name, value in _properties(run, row).items():
        if value is not None:
            ET.SubElement(properties, "property", name=name, value=_xml_text(str(value)))
    suite.append(case)
    return suite


def report_junit(run: RunRecord, *, comparisons: Comparisons | None = None) -> str:
    """JUnit XML (``junit-10.xsd``): ``<testsuites>`` with the run's totals, one ``<testsuite>`` per job."""
    suites = [_testsuite(run, row) for row in job_rows(run, comparisons)]
    root = ET.Element("testsuites", name=f"edgeq-lab {run.id}",
                      **_totals([suite.find("testcase") for suite in suites], skipped=False))
    root.extend(suites)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
