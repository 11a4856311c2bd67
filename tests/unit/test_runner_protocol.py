import json
import subprocess
import sys

import pytest
import torch

from edgeq.bench import parse_report, runner_path
from edgeq.errors import BenchError


def test_report_is_the_one_json_line_among_other_output():
    report = parse_report('loading...\n{"runner": 1, "ok": true, "latencies_ms": [1.0]}\n')
    assert report["latencies_ms"] == [1.0]


def test_two_json_lines_are_a_protocol_error():
    with pytest.raises(BenchError, match="2 JSON lines"):
        parse_report('{"runner": 1}\n{"runner": 1}\n')


def test_no_json_line_quotes_the_last_stderr_line():
    with pytest.raises(BenchError, match="Segmentation fault"):
        parse_report("", "loading\nSegmentation fault\n")


def test_runner_reports_a_bad_artifact_as_one_json_error(tmp_path):
    (tmp_path / "bad.pte").write_bytes(b"garbage")
    torch.save((torch.zeros(1),), tmp_path / "in.pt")
    proc = subprocess.run([sys.executable, str(runner_path()), "--artifact", str(tmp_path / "bad.pte"), "--format", "pte",
                           "--inputs", str(tmp_path / "in.pt")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == 1 and json.loads(lines[0])["ok"] is False


def test_runner_runs_a_ptl_and_prints_timings(tmp_path):
    model = torch.jit.trace(torch.nn.Linear(4, 2).eval(), (torch.randn(1, 4),))
    model._save_for_lite_interpreter(str(tmp_path / "m.ptl"))
    torch.save((torch.randn(1, 4),), tmp_path / "in.pt")
    proc = subprocess.run([sys.executable, str(runner_path()), "--artifact", str(tmp_path / "m.ptl"), "--format", "ptl",
                           "--inputs", str(tmp_path / "in.pt"), "--runs", "7", "--warmup", "1", "--threads", "1"],
                          capture_output=True, text=True, timeout=300)
    report = parse_report(proc.stdout, proc.stderr)
    assert report["ok"] and len(report["latencies_ms"]) == 7 and report["outputs"][0]["shape"] == [1, 2]


def test_runner_pins_cpus_and_times_at_least_the_minimum(tmp_path):
    import json
    import subprocess
    import sys

    import torch

    from edgeq.bench import runner_path

    model = torch.jit.script(torch.nn.Linear(4, 2))
    model._save_for_lite_interpreter(str(tmp_path / "m.ptl"))
    torch.save((torch.randn(1, 4),), tmp_path / "in.pt")
    proc = subprocess.run([sys.executable, str(runner_path()), "--artifact", str(tmp_path / "m.ptl"), "--format", "ptl",
                           "--inputs", str(tmp_path / "in.pt"), "--runs", "3", "--warmup", "0", "--min-time-s", "0.05",
                           "--cpus", "0"], capture_output=True, text=True, timeout=120)
    report = json.loads(proc.stdout)
    assert report["ok"] and report["cpus"] == [0]
    assert len(report["latencies_ms"]) > 3  # 3 runs of a tiny Linear take far less than 50 ms


def test_a_runtime_failure_names_what_executorch_logged_not_its_bare_error_code():
    from edgeq.bench import BenchSpec, run_bench
    from edgeq.transport import FakeTransport

    stderr = ("[cpuinfo_utils.cpp:87] Failed to open midr file /sys/devices/soc0/image_version\n"
              "[XNNCompiler.cpp:1610] Failed to create static slice node 94 with code: xnn_status_invalid_parameter\n"
              "[method.cpp:128] Init failed for backend XnnpackBackend: 0x1\n")
    report = {"runner": 2, "ok": False, "error": {"type": "RuntimeError", "message": "Failed to execute method forward, error: 0x1"}}
    device = FakeTransport(lambda argv: (1, json.dumps(report) + "\n", stderr))
    with pytest.raises(BenchError) as caught:
        run_bench(device, python="python3", runner="r.py", artifact="m.pte", fmt="pte", engine=None, inputs="in.pt",
                  spec=BenchSpec())
    assert caught.value.message.endswith(
        "error: 0x1 (XNNCompiler.cpp: Failed to create static slice node 94 with code: xnn_status_invalid_parameter)")
