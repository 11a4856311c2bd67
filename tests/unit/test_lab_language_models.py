"""The lab's language-model parts that need no model: a job's decode times compared in tokens per second by the
gate, and how the lab's --runs time a language model."""

import random
import re

import pytest

from edgeq.lab.gate import compare_runs
from edgeq.lab.records import JobRecord, Measurement, RunRecord
from edgeq.llm.build import settings_for_runs


def run(run_id: str, scheme: str, ms_per_token: float) -> RunRecord:
    rng = random.Random(run_id)
    samples = tuple(ms_per_token * rng.uniform(0.97, 1.03) for _ in range(93))
    measured = Measurement(result_key=run_id, artifact_sha256="a" * 64, device="board", samples_ms=samples,
                           measured_at="2026-12-07T06:00:00+00:00", size_bytes=869_000, metric="greedy_agreement",
                           quality=98.6)
    variant = "fp32" if scheme == "none" else scheme
    job = JobRecord(id=1, run_id=run_id, model="zoo:tiny-llama", profile="host", scheme=scheme, format="pte",
                    variant=variant, planned_device="board", state="done", device="board",
                    artifact_sha256="a" * 64, measurement=measured)
    return RunRecord(id=run_id, label=None, started_at="2026-12-07T06:00:00+00:00", status="finished", args={},
                     jobs=(job,))


@pytest.mark.parametrize("scheme", ["8da4w", "fp32", "8da4w-emb4"])
def test_a_language_models_slower_decoding_is_a_regression_said_in_tokens_per_second(scheme):
    (row,) = compare_runs(run("base", scheme, 2.0), run("slower", scheme, 2.5)).rows
    assert row.status == "regression"
    found = re.match(r"decode ([\d.]+) tokens/s vs ([\d.]+) \(time per token: median 2\d\.\d % slower", row.reason)
    assert found, row.reason
    assert float(found[1]) == pytest.approx(400, rel=0.03) and float(found[2]) == pytest.approx(500, rel=0.03)


def test_another_models_fp32_is_still_compared_in_milliseconds():
    (row,) = compare_runs(run("base", "none", 2.0), run("slower", "none", 2.5)).rows
    assert row.status == "regression" and row.reason.startswith("latency: median")


@pytest.mark.parametrize("runs, processes, generations", [(20, 3, 7), (3, 3, 1), (2, 2, 1), (1, 1, 1)])
def test_the_labs_runs_are_timed_generations_over_at_most_three_processes(runs, processes, generations):
    settings = settings_for_runs(runs, threads=2, timeout_s=60.0)
    assert (settings.processes, settings.generations, settings.threads) == (processes, generations, 2)
    assert settings.processes * settings.generations >= runs
