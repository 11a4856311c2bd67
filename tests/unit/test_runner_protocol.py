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


def _run_with_check_out(tmp_path, check_out):
    """The runner on a small .ptl with check inputs, its outputs written to ``check_out``; its report."""
    model = torch.jit.trace(torch.nn.Linear(4, 2).eval(), (torch.randn(1, 4),))
    model._save_for_lite_interpreter(str(tmp_path / "m.ptl"))
    torch.save((torch.randn(1, 4),), tmp_path / "in.pt")
    torch.save([(torch.randn(1, 4),), (torch.randn(1, 4),)], tmp_path / "check.pt")
    proc = subprocess.run([sys.executable, str(runner_path()), "--artifact", str(tmp_path / "m.ptl"), "--format", "ptl",
                           "--inputs", str(tmp_path / "in.pt"), "--runs", "2", "--warmup", "0", "--threads", "1",
                           "--check", str(tmp_path / "check.pt"), "--check-out", str(check_out)],
                          capture_output=True, text=True, timeout=300)
    return parse_report(proc.stdout, proc.stderr)


def test_the_runner_writes_its_outputs_through_a_temporary_name_of_its_own(tmp_path):
    out = tmp_path / "outputs" / "digest.pt"
    out.parent.mkdir()
    (tmp_path / "outputs" / "digest.pt.tmp").mkdir()  # what a fixed name would meet: another runner's file
    report = _run_with_check_out(tmp_path, out)
    assert report["ok"] and report["check_count"] == 2
    assert len(torch.load(out, weights_only=True)) == 2
    assert sorted(path.name for path in out.parent.iterdir()) == ["digest.pt", "digest.pt.tmp"]  # nothing left behind


def test_an_output_the_operating_system_refuses_is_reported_as_the_environments_failure(tmp_path):
    (tmp_path / "outputs").write_text("a file where the runner expects a folder")
    report = _run_with_check_out(tmp_path, tmp_path / "outputs" / "digest.pt")
    assert report["ok"] is False and report["error"]["environment"] is True


def test_an_environment_failure_on_the_device_is_raised_as_one():
    from edgeq.bench import BenchSpec, run_bench
    from edgeq.errors import DeviceEnvironmentError
    from edgeq.transport import FakeTransport

    report = {"runner": 4, "ok": False,
              "error": {"type": "OSError", "message": "[Errno 28] No space left on device", "environment": True}}
    device = FakeTransport(lambda argv: (1, json.dumps(report) + "\n", ""))
    with pytest.raises(DeviceEnvironmentError, match="No space left on device"):
        run_bench(device, python="python3", runner="r.py", artifact="m.pte", fmt="pte", engine=None, inputs="in.pt",
                  spec=BenchSpec())
