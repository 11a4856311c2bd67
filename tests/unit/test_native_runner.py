"""The native executor_runner path: log parsing, and a whole run through a stand-in binary."""

import os
import stat
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from edgeq.bench.native import parse_log
from edgeq.device.doctor import diagnose
from edgeq.errors import BenchError, ConfigError
from edgeq.pipeline import RunOptions, run
from edgeq.profiles import load_profile
from edgeq.transport import LocalTransport

FAKE = Path(__file__).parent.parent / "support" / "fake_executor_runner.py"


def test_parse_log_reads_each_iteration_after_warmup():
    log = ("I executor_runner.cpp:1] Model loaded in 12.5 ms.\n"
           + "".join(f"I executor_runner.cpp:2] Iteration {i} of 4: {v} ms\n" for i, v in enumerate([9, 2, 2.5, 3], 1))
           + "I executor_runner.cpp:3] Model executed successfully 4 time(s) in 16.5 ms.\n")
    assert parse_log(log, warmup=1) == (12.5, [2.0, 2.5, 3.0], True)


def test_parse_log_falls_back_to_the_mean_of_older_builds():
    assert parse_log("Model executed successfully 10 time(s) in 50.0 ms.", warmup=2) == (None, [5.0], False)


def test_parse_log_without_success_says_what_the_runner_printed_last():
    with pytest.raises(BenchError, match="did not report a successful run: Loading of method forward failed"):
        parse_log("Model loaded in 1 ms.\nLoading of method forward failed with status 0x20", warmup=0)


@pytest.fixture
def phone(tmp_path):
    binary = tmp_path / "bin" / "executor_runner"
    binary.parent.mkdir()
    binary.write_text(f"#!/bin/sh\nexec {sys.executable} {FAKE} \"$@\"\n")
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    host = load_profile("host")
    return replace(load_profile("pixel-8"), transport="local", arch=host.arch, engine=host.engine, isa=host.isa,
                   workdir=str(tmp_path), runner_binary=str(binary), cpus=(0,), cooldown_s=0.0, threads=1)


SMALL_MODEL = """
import torch

def make():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(144, 3))
    samples = [torch.randn(1, 1, 8, 8) for _ in range(4)]
    with torch.no_grad():
        labels = [int(model(x).argmax()) for x in samples]
    return model, (samples[0],), list(zip(samples, labels))
"""


def test_a_profile_with_the_native_runner_runs_and_checks_accuracy(phone, tmp_path):
    source = tmp_path / "small.py"
    source.write_text(SMALL_MODEL)
    result = run(f"{source}:make", phone, RunOptions(scheme="static", runs=5, warmup=1), transport=LocalTransport())
    fp32, int8 = result.results
    assert fp32.bench.versions == {"executor_runner": phone.runner_binary}
    assert len(fp32.bench.latencies_ms) == 5 and fp32.bench.peak_rss_mb is None
    assert fp32.accuracy == {"metric": "top1", "value": 100.0, "samples": 4}  # its outputs came back whole
    assert int8.numerics["samples"] == 4 and int8.numerics["cosine"] > 0.9


def test_a_missing_native_runner_is_refused_before_anything_is_pushed(phone, tmp_path):
    os.remove(phone.runner_binary)
    with pytest.raises(ConfigError, match="no executor_runner at"):
        run("zoo:digits-lstm", phone, RunOptions(scheme="none"), transport=LocalTransport())
    assert not (tmp_path / "artifacts").exists()


TAGGER_MODEL = """
import torch

class Tagger(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.words = torch.nn.Embedding(300, 32)
        self.head = torch.nn.Linear(32, 4)

    def forward(self, tokens):
        return self.head(self.words(tokens)).mean(1)

def make():
    torch.manual_seed(0)
    return Tagger(), (torch.randint(0, 300, (1, 10)),)
"""


def _tagger(tmp_path):
    source = tmp_path / "tagger.py"
    source.write_text(TAGGER_MODEL)
    return f"{source}:make"


def test_a_runner_built_without_the_quantized_kernels_gets_the_fp32_tables_variant_instead(phone, tmp_path):
    result = run(_tagger(tmp_path), phone, RunOptions(scheme="dynamic", runs=3, warmup=1), transport=LocalTransport())
    [refused] = result.failures
    assert refused.spec.variant == "int8-dynamic" and refused.stage == "run"
    assert "lacks quantized_decomposed::embedding_byte.out" in refused.error and "not pushed" in refused.error
    assert [r.spec.variant for r in result.results] == ["fp32", "int8-dynamic-fp32emb"]
    pushed = {path.stem for path in (tmp_path / "artifacts").iterdir()}
    assert pushed == {r.artifact.sha256 for r in result.results}  # the refused artifact never reached the device


def test_a_runner_built_with_the_quantized_kernels_runs_int8_tables(phone, tmp_path):
    with open(phone.runner_binary, "a") as binary:  # the operator's name, as a linked kernel library leaves it
        binary.write("# registers quantized_decomposed::embedding_byte.out\n")
    result = run(_tagger(tmp_path), phone, RunOptions(scheme="dynamic", runs=3, warmup=1), transport=LocalTransport())
    assert not result.failures
    int8 = result.results[1]
    assert int8.spec.variant == "int8-dynamic" and int8.numerics["cosine"] > 0.99
    assert int8.artifact.size_bytes < result.results[0].artifact.size_bytes / 2


def test_doctor_says_a_runner_built_without_the_quantized_kernels_keeps_embedding_tables_fp32(phone):
    checks = {check.name: check for check in diagnose(phone, transport=LocalTransport()).checks}
    assert checks["executor_runner"].status == "ok"
    assert checks["kernels"].status == "warn"
    assert checks["kernels"].detail.startswith("its executor_runner lacks quantized_decomposed::embedding_byte.out")
    assert "-DEXECUTORCH_BUILD_KERNELS_QUANTIZED=ON" in checks["kernels"].fix


def test_doctor_finds_the_quantized_kernels_a_runner_was_built_with(phone):
    with open(phone.runner_binary, "a") as binary:
        binary.write("# registers quantized_decomposed::embedding_byte.out\n")
    checks = {check.name: check for check in diagnose(phone, transport=LocalTransport()).checks}
    assert (checks["kernels"].status, checks["kernels"].detail) == ("ok", "quantized_decomposed::embedding_byte.out")


def test_doctor_says_where_it_looked_for_a_missing_runner_and_asks_no_kernels(phone):
    os.remove(phone.runner_binary)
    diagnosis = diagnose(phone, transport=LocalTransport())
    checks = {check.name: check for check in diagnosis.checks}
    assert checks["executor_runner"].status == "fail"
    assert checks["executor_runner"].detail == f"no executor_runner at {phone.runner_binary} on the device"
    assert "kernels" not in checks and not diagnosis.healthy
