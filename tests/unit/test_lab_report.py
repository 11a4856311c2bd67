"""The lab's reports, from a hand-built run: 2 models × 2 devices × fp32/int8, with one job for each way a
job can end badly (failed, timeout, invalid, skipped), one infra failure retried to done on a sibling, and
one regression found by the comparison."""

from __future__ import annotations

import json
import random
import re
import statistics
import subprocess
import sys
from dataclasses import replace
from html import escape

import pytest
from junit10 import junit10_problems
from junitparser import Error, Failure, JUnitXml, Properties, Skipped

from edgeq.bench.verdict import Comparison
from edgeq.errors import ConfigError
from edgeq.lab.records import Attempt, JobKey, JobRecord, Measurement, RunRecord
from edgeq.lab.reports import (FORMATS, Verdict, render, report_html, report_json, report_junit,
                               report_markdown)
from edgeq.lab.reports.rows import job_rows

RUN_ID = "r-20261202-1"
STARTED = "2026-12-02T15:00:00+00:00"
VERSIONS = {"runner": "3", "torch": "2.9.1", "executorch": "1.0.1", "python": "3.11.2"}
REASONS = {
    "failed": "ExportError: aten.upsample_bicubic2d has no XNNPACK kernel | try --format ptl",
    "timeout": "the benchmark outlived its 600 s timeout",
    "invalid": "device got too hot: 82 °C after the runs (limit 75 °C)",
    "skipped": "no healthy device of profile x86-avx2",
    "infra": "ssh: connection reset by peer",
}
SLOWER = "median 20.1 % slower (95 % CI 17.9–22.4 %), p = 3e-12"


def measurement(device: str, sha: str, p50_ms: float, size_bytes: int, quality: float, seed: int) -> Measurement:
    rng = random.Random(seed)
    samples = tuple(round(p50_ms * rng.lognormvariate(0, 0.04), 3) for _ in range(50))
    return Measurement(result_key=f"key-{sha}-{device}", artifact_sha256=sha, device=device, samples_ms=samples,
                       measured_at="2026-12-02T15:10:00+00:00", size_bytes=size_bytes, load_ms=30.0,
                       peak_rss_mb=80.0, metric="top1_agreement", quality=quality, versions=VERSIONS,
                       conditions={"governor": "performance", "temp_c_before": 51.0, "temp_c_after": 58.0})


def attempt(device: str, outcome: str, reason: str = "", number: int = 1, minutes: int = 1) -> Attempt:
    return Attempt(number=number, device=device, outcome=outcome, reason=reason,
                   started_at="2026-12-02T15:00:00+00:00", ended_at=f"2026-12-02T15:{minutes:02d}:00+00:00")


def profile_of(device: str) -> str:
    return "rpi4" if device.startswith("pi4") else "x86-avx2"


def key(model: str, device: str, variant: str) -> JobKey:
    return JobKey(model, device, profile_of(device), variant, "pte")


def job(id: int, model: str, device: str, variant: str, state: str, *, ran_on: str | None = None,
        attempts: tuple[Attempt, ...] | None = None, measured: Measurement | None = None, reason: str = "") -> JobRecord:
    profile = profile_of(device)
    scheme = "none" if variant == "fp32" else "static"
    sha = f"{model}-{variant}-{profile}".ljust(64, "0")[:64]
    ran_on = ran_on or device
    if attempts is None:
        attempts = () if state == "skipped" else (attempt(ran_on, state, reason),)
    return JobRecord(id=id, run_id=RUN_ID, model=model, profile=profile, scheme=scheme, format="pte", variant=variant,
                     planned_device=device, state=state, reason=reason, device=None if state == "skipped" else ran_on,
                     artifact_sha256=sha, attempts=attempts, measurement=measured)


def build_run() -> RunRecord:
    mob, res = "mobilenet_v3_small", "resnet18"
    jobs = (
        job(1, mob, "pi4-a", "fp32", "done", measured=measurement("pi4-a", "a" * 64, 40.0, 10_200_000, 1.0, 1)),
        job(2, mob, "pi4-a", "int8-static", "done", ran_on="pi4-b",
            attempts=(attempt("pi4-a", "infra", REASONS["infra"]), attempt("pi4-b", "done", number=2)),
            measured=measurement("pi4-b", "b" * 64, 18.0, 2_700_000, 0.962, 2)),
        job(3, mob, "nuc-a", "fp32", "done", measured=measurement("nuc-a", "c" * 64, 4.0, 10_200_000, 1.0, 3)),
        job(4, mob, "nuc-a", "int8-static", "done", measured=measurement("nuc-a", "d" * 64, 3.1, 2_800_000, 0.958, 4)),
        job(5, res, "pi4-a", "fp32", "failed", reason=REASONS["failed"]),
        job(6, res, "pi4-a", "int8-static", "timeout", reason=REASONS["timeout"]),
        job(7, res, "nuc-a", "fp32", "invalid", reason=REASONS["invalid"],
            measured=measurement("nuc-a", "e" * 64, 30.0, 46_800_000, 1.0, 7)),
        job(8, res, "nuc-a", "int8-static", "skipped", reason=REASONS["skipped"]),
    )
    return RunRecord(id=RUN_ID, label="nightly", started_at=STARTED, status="finished",
                     args={"models": [mob, res], "devices": ["pi4-a", "nuc-a"]},
                     finished_at="2026-12-02T15:40:00+00:00", jobs=jobs)


COMPARISONS = {
    key("mobilenet_v3_small", "nuc-a", "int8-static"): Verdict("slower", 1.201, SLOWER),
    key("mobilenet_v3_small", "pi4-a", "int8-static"): {"verdict": "no significant change", "ratio": 1.01,
                                                        "reason": "median 1.0 % slower (95 % CI -1.2 % to +2.9 %)"},
}
HISTORY = {
    key("mobilenet_v3_small", "pi4-a", "fp32"): [("r-1", "2026-11-28T15:00:00+00:00", 41.0),
                                                  ("r-2", "2026-11-30T15:00:00+00:00", 40.4)],
    key("mobilenet_v3_small", "nuc-a", "int8-static"): [("r-1", "2026-11-28T15:00:00+00:00", 2.6),
                                                         ("r-2", "2026-11-30T15:00:00+00:00", 2.6)],
}


@pytest.fixture(scope="module")
def run() -> RunRecord:
    return build_run()


@pytest.fixture(scope="module")
def junit(run) -> str:
    return report_junit(run, comparisons=COMPARISONS)


@pytest.fixture(scope="module")
def suites(junit):
    """Each job's ``<testsuite>``, by name: the dialect keeps a job's properties there."""
    return {suite.name: suite for suite in JUnitXml.fromstring(junit)}


@pytest.fixture(scope="module")
def cases(suites):
    found = {}
    for suite in suites.values():
        (case,) = suite
        found[case.name] = case
    return found


@pytest.fixture(scope="module")
def html(run) -> str:
    return report_html(run, history=HISTORY, comparisons=COMPARISONS)


def properties(suite) -> dict[str, str]:
    return {prop.name: prop.value for prop in suite.child(Properties)}


def only_result(case):
    (result,) = case.result
    return result


# JUnit

def test_junit_has_one_case_per_job_named_model_device_variant(run, cases):
    assert sorted(cases) == sorted(job.name for job in run.jobs)
    assert "mobilenet_v3_small/pi4-a/int8-static.pte" in cases  # named for its planned cell, though it ran on pi4-b
    assert {case.classname for case in cases.values()} == {"edgeq.lab.mobilenet_v3_small", "edgeq.lab.resnet18"}


def test_junit_testsuites_is_named_for_the_run_and_counts_its_results(junit):
    xml = JUnitXml.fromstring(junit)
    assert xml.name == f"edgeq-lab {RUN_ID}"
    assert (xml.tests, xml.failures, xml.errors) == (8, 2, 2)


def test_junit_has_one_suite_per_job_named_like_its_case_and_hosted_on_the_device_it_ran_on(run, suites):
    assert sorted(suites) == sorted(job.name for job in run.jobs)
    retried = suites["mobilenet_v3_small/pi4-a/int8-static.pte"]
    assert (retried.hostname, retried.tests, retried.failures, retried.errors) == ("pi4-b", 1, 0, 0)
    assert sum(suite.skipped for suite in suites.values()) == 1


def test_junit_failed_job_is_a_failure_with_its_reason(cases):
    result = only_result(cases["resnet18/pi4-a/fp32.pte"])
    assert isinstance(result, Failure) and result.type == "failed"
    assert result.message == REASONS["failed"]


def test_junit_timeout_is_an_error(cases):
    result = only_result(cases["resnet18/pi4-a/int8-static.pte"])
    assert isinstance(result, Error) and result.type == "timeout" and result.message == REASONS["timeout"]


def test_junit_infra_job_is_an_error(run):
    retried = next(job for job in run.jobs if job.id == 2)
    given_up = replace(retried, state="infra", reason=REASONS["infra"], measurement=None,
                       attempts=(attempt("pi4-a", "infra", REASONS["infra"]), attempt("pi4-b", "infra", REASONS["infra"], 2)))
    (suite,) = JUnitXml.fromstring(report_junit(replace(run, jobs=(given_up,))))
    (case,) = suite
    result = only_result(case)
    assert isinstance(result, Error) and result.type == "infra" and result.message == REASONS["infra"]


def test_junit_invalid_job_is_an_error_of_type_invalid(cases):
    result = only_result(cases["resnet18/nuc-a/fp32.pte"])
    assert isinstance(result, Error) and result.type == "invalid" and result.message == REASONS["invalid"]


def test_junit_skipped_job_is_skipped(cases):
    result = only_result(cases["resnet18/nuc-a/int8-static.pte"])
    assert isinstance(result, Skipped) and result.message == REASONS["skipped"]


def test_junit_slower_verdict_is_a_regression_failure(cases):
    result = only_result(cases["mobilenet_v3_small/nuc-a/int8-static.pte"])
    assert isinstance(result, Failure) and result.type == "regression"
    assert SLOWER in result.message


def test_junit_job_retried_on_a_sibling_passes_and_keeps_its_attempts(cases, suites):
    case = cases["mobilenet_v3_small/pi4-a/int8-static.pte"]
    assert case.is_passed
    props = properties(suites[case.name])
    assert (props["device"], props["planned_device"], props["attempts"]) == ("pi4-b", "pi4-a", "2")
    assert props["verdict"] == "no significant change"
    assert REASONS["infra"] in case.system_out


def test_junit_properties_carry_device_versions_and_latency(run, cases, suites):
    case = cases["mobilenet_v3_small/pi4-a/fp32.pte"]
    props = properties(suites[case.name])
    measured = run.jobs[0].measurement
    assert {key: props[key] for key in ("device", "profile", "variant", "scheme", "format", "device_torch",
                                        "device_executorch", "size_bytes", "quality")} == {
        "device": "pi4-a", "profile": "rpi4", "variant": "fp32", "scheme": "none", "format": "pte",
        "device_torch": "2.9.1", "device_executorch": "1.0.1", "size_bytes": "10200000", "quality": "1.0"}
    assert props["artifact_sha256"] == run.jobs[0].artifact_sha256
    assert float(props["p50_ms"]) == pytest.approx(statistics.median(measured.samples_ms), abs=1e-4)
    assert float(props["p90_ms"]) > float(props["p50_ms"]) and 0 < float(props["cv"]) < 0.1
    assert case.time == pytest.approx(sum(measured.samples_ms) / 1000, abs=1e-3)


def test_junit_survives_terminal_escapes_in_a_reason(run):
    colored = replace(run.jobs[4], reason="\x1b[31mSegmentation fault\x1b[0m\x00")
    (suite,) = JUnitXml.fromstring(report_junit(replace(run, jobs=(colored,))))
    (case,) = suite
    assert "Segmentation fault" in only_result(case).message


def bug_job() -> JobRecord:
    """A job that met a bug in edgeq: its attempt ended ``error`` with the traceback kept."""
    reason = "this is a bug in edgeq, please report it: KeyError: 'latencies_ms'"
    trace = "Traceback (most recent call last):\n  File \"edgeq/bench/__init__.py\", line 130\nKeyError: 'latencies_ms'"
    broken = replace(attempt("nuc-a", "error", reason), traceback=trace)
    return job(9, "resnet18", "nuc-a", "int8-static", "error", attempts=(broken,), reason=reason)


def test_junit_follows_the_junit_10_schema(junit, run):
    assert junit10_problems(junit) == []
    assert junit10_problems(report_junit(replace(run, jobs=(*run.jobs, bug_job())))) == []


def test_the_schema_check_refuses_what_junit_10_refuses():
    old_report = ('<testsuites name="edgeq-lab" tests="1" failures="0" errors="0" skipped="0" time="0.100">'
                  '<testsuite name="edgeq-lab r1" tests="1" failures="0" errors="0"><testcase name="m/pi/fp32">'
                  '<properties><property name="device" value="pi"/></properties></testcase></testsuite></testsuites>')
    assert junit10_problems(old_report) == [
        "/testsuites: attribute 'skipped' is not allowed",
        "/testsuites/testsuite[0]/testcase[0]/properties[0]: <properties> is not allowed inside <testcase>"]


def test_junit_bug_in_edgeq_is_an_error_with_its_traceback(run):
    (suite,) = JUnitXml.fromstring(report_junit(replace(run, jobs=(bug_job(),))))
    (case,) = suite
    result = only_result(case)
    assert isinstance(result, Error) and result.type == "edgeq-bug"
    assert result.message.startswith("this is a bug in edgeq") and "KeyError: 'latencies_ms'" in case.system_err


def test_junit_invalid_job_keeps_its_latency_marked_not_valid(suites):
    props = properties(suites["resnet18/nuc-a/fp32.pte"])
    assert props["latency_valid"] == "false" and float(props["p50_ms"]) > 0
    assert "latency_valid" not in properties(suites["mobilenet_v3_small/nuc-a/fp32.pte"])


# Markdown

def test_markdown_shows_an_invalid_jobs_median_marked_invalid(run):
    row = next(line for line in report_markdown(run).splitlines() if "**invalid**" in line)
    assert re.search(r"\| \S+ ms \(invalid\) \|", row)

def test_markdown_shows_every_problem_jobs_reason(run):
    markdown = report_markdown(run, comparisons=COMPARISONS)
    for state in ("failed", "timeout", "invalid", "skipped"):
        assert REASONS[state].replace("|", "\\|") in markdown, state


def test_markdown_opens_with_the_counts_and_the_regressions(run):
    markdown = report_markdown(run, comparisons=COMPARISONS)
    assert "8 jobs: 4 done, 1 failed, 1 timeout, 1 invalid, 1 skipped; 1 regression" in markdown
    assert markdown.index("Regressions") < markdown.index("#### mobilenet_v3_small")
    assert f"`mobilenet_v3_small/nuc-a/int8-static.pte`: {SLOWER}" in markdown


def test_markdown_has_a_table_per_model_with_the_ratio_to_fp32(run):
    markdown = report_markdown(run, comparisons=COMPARISONS)
    assert "| device | profile | variant | format | p50 | vs fp32 | size | quality | verdict | state |" in markdown
    assert markdown.count("#### ") == 2
    retried = next(line for line in markdown.splitlines() if line.startswith("| pi4-a (ran on pi4-b) |"))
    assert "×0.4" in retried and "2 attempts" in retried and "no significant change" in retried


def test_markdown_of_a_big_run_stays_under_the_comment_limit(run):
    template = run.jobs[4]
    jobs = tuple(replace(template, id=index, model=f"model{index // 40:03d}", variant=f"int8-{index % 40}",
                         reason="x" * 150) for index in range(3000))
    markdown = report_markdown(replace(run, jobs=jobs))
    assert len(markdown) < 65_536
    shown = sum(line.startswith("| pi4-a |") for line in markdown.splitlines())
    assert f"{3000 - shown} more jobs not shown" in markdown


# JSON

def test_json_round_trips_with_the_same_keys_for_every_job(run):
    document = json.loads(report_json(run, comparisons=COMPARISONS))
    assert list(document) == ["schema", "run", "summary", "jobs"]
    assert len(document["jobs"]) == 8
    assert len({tuple(job) for job in document["jobs"]}) == 1
    by_name = {job["name"]: job for job in document["jobs"]}
    assert by_name["resnet18/nuc-a/int8-static.pte"]["latency_ms"] is None
    assert len(by_name["mobilenet_v3_small/pi4-a/fp32.pte"]["samples_ms"]) == 50
    assert document["summary"]["regressions"] == ["mobilenet_v3_small/nuc-a/int8-static.pte"]
    assert document["summary"]["states"] == {"done": 4, "failed": 1, "timeout": 1, "invalid": 1, "skipped": 1}


def test_json_turns_a_nan_quality_into_null(run):
    broken = replace(run.jobs[0], measurement=replace(run.jobs[0].measurement, quality=float("nan")))
    (only,) = json.loads(report_json(replace(run, jobs=(broken,))))["jobs"]
    assert only["quality"] is None


# HTML

def test_html_is_self_contained(html):
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", html)
    assert not re.search(r"url\(\s*['\"]?(?:https?:)?//", html)
    assert "<script" not in html and "<link" not in html and "@import" not in html


def test_html_has_the_four_plots_as_inline_svg(html):
    for plot_id in ("plot-latency", "plot-fp32-int8", "plot-size-quality", "plot-history"):
        figure = re.search(rf'<figure id="{plot_id}">(.*?)</figure>', html, re.S)
        assert figure, plot_id
        assert "<svg" in figure.group(1) and "<figcaption>" in figure.group(1), plot_id
    assert html.count("<figure") == 4 and "<?xml" not in html


def test_html_svg_ids_are_unique_across_figures(html):
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids))


def test_html_lists_every_job_with_its_reason(run, html):
    for job in run.jobs:
        assert f"<td>{job.name}</td>" in html
    for state in ("failed", "timeout", "invalid", "skipped"):
        assert escape(REASONS[state]) in html, state


def test_html_shows_a_bugs_traceback_under_its_attempt(run):
    page = report_html(replace(run, jobs=(bug_job(),)))
    assert "this is a bug in edgeq, please report it" in page
    assert "<details><summary>traceback</summary><pre>Traceback (most recent call last):" in page


def test_html_says_so_when_there_is_no_history(run):
    page = report_html(run)
    history = re.search(r'<figure id="plot-history">(.*?)</figure>', page, re.S).group(1)
    assert "<svg" not in history and "No earlier runs" in history


def test_importing_the_reports_does_not_import_matplotlib():
    code = "import sys, edgeq.lab, edgeq.lab.reports; print('matplotlib' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


# the shared rows and the dispatch

def test_int8_retried_on_a_sibling_is_compared_with_fp32_of_its_planned_device(run):
    rows = {row.name: row for row in job_rows(run)}
    retried, fp32 = rows["mobilenet_v3_small/pi4-a/int8-static.pte"], rows["mobilenet_v3_small/pi4-a/fp32.pte"]
    assert retried.vs_fp32 == pytest.approx(retried.latency.p50 / fp32.latency.p50)


def test_an_invalid_job_is_never_a_regression(run):
    rows = {row.name: row for row in job_rows(run, {key("resnet18", "nuc-a", "fp32"): Verdict("slower", 1.5, "hot")})}
    assert not rows["resnet18/nuc-a/fp32.pte"].regressed


def test_comparisons_may_be_the_statistics_modules_own_results(run):
    comparison = Comparison("slower", 1.2, 1.15, 1.25, 1e-9, 50, 50, SLOWER)
    rows = {row.name: row for row in job_rows(run, {key("mobilenet_v3_small", "nuc-a", "int8-static"): comparison})}
    assert rows["mobilenet_v3_small/nuc-a/int8-static.pte"].regressed


def test_an_unknown_verdict_is_a_config_error():
    with pytest.raises(ConfigError, match="verdict 'worse'"):
        Verdict("worse")


@pytest.mark.parametrize("fmt", [fmt for fmt in FORMATS if fmt != "html"])
def test_render_dispatches_on_the_format(run, fmt):
    writers = {"json": report_json, "junit": report_junit, "markdown": report_markdown}
    assert render(run, fmt, comparisons=COMPARISONS, history=HISTORY) == writers[fmt](run, comparisons=COMPARISONS)


def test_render_rejects_an_unknown_format(run):
    with pytest.raises(ConfigError, match="unknown report format 'pdf'"):
        render(run, "pdf")
