"""``edgeq lab`` as CI calls it: the gate's exit codes on stored runs, reports, and bad input.

The runs are measured through the scheduler on ``FakeDevice``s whose latencies are set (the same, 20 %
slower, very noisy); the commands are the real CLI in a subprocess, reading the same SQLite store.
"""

import json
from pathlib import Path

import pytest
from edgeq_cli import edgeq
from junitparser import JUnitXml

from edgeq.device import Inventory
from edgeq.lab.plan import LabRequest
from edgeq.lab.records import Measurement
from edgeq.lab.scheduler import run_lab
from edgeq.lab.store import open_store
from edgeq.transport import FakeTransport
from edgeq.transport.fake_device import FakeDevice

MODEL = f"{Path(__file__).resolve().parent.parent / 'support' / 'lab_models.py'}:mlp_a"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """An inventory, a store, and four runs of the same artifact: labelled base, same, slower and noisy."""
    folder = tmp_path_factory.mktemp("lab-cli")
    inventory_path = folder / "edgeq-lab.toml"
    inventory_path.write_text('[devices.board]\nprofile = "host"\nhost = "board"\n')
    inventory = Inventory.load(inventory_path)
    store = open_store(None, default_path=folder / "edgeq-lab.db")
    for label, device in (("base", FakeDevice(seed=1)), ("same", FakeDevice(seed=2)),
                          ("slower", FakeDevice(latency_ms=1.2, seed=3)), ("noisy", FakeDevice(spread=1.5, seed=4))):
        run_lab(inventory, LabRequest(models=(MODEL,), schemes=("none",), runs=30, warmup=1, label=label), store=store,
                transport_factory=lambda entry, profile, device=device: FakeTransport(device))
    return inventory_path


def lab_cli(lab: Path, *args: str):
    return edgeq("lab", *args, "--inventory", str(lab))


@pytest.mark.parametrize("run, code, verdict", [
    ("same", 0, "no significant change"),
    ("slower", 1, "slower"),
    ("noisy", 3, "inconclusive"),
])
def test_the_gate_exits_by_the_latency_verdict(lab, run, code, verdict):
    proc = lab_cli(lab, "gate", "--baseline", "base", "--run", run, "--json")
    assert proc.returncode == code, proc.stderr
    (row,) = json.loads(proc.stdout)["rows"]
    assert row["verdict"] == verdict and row["latency"]["n_candidate"] == 30


def test_a_regression_names_the_job_and_how_much_slower_it_is(lab):
    proc = lab_cli(lab, "gate", "--baseline", "base", "--run", "slower")
    assert proc.returncode == 1
    assert "slower" in proc.stdout and "mlp_a/board/fp32" in proc.stderr and "Traceback" not in proc.stderr


def test_compare_prints_each_job_and_exits_0(lab):
    proc = lab_cli(lab, "compare", "base", "slower")
    assert proc.returncode == 0 and "slower" in proc.stdout and "regression" in proc.stdout


def test_the_junit_report_has_one_case_per_job_and_marks_the_regression(lab, tmp_path):
    out = tmp_path / "lab.xml"
    proc = lab_cli(lab, "report", "slower", "--format", "junit", "-o", str(out), "--baseline", "base")
    assert proc.returncode == 0, proc.stderr
    cases = [case for suite in JUnitXml.fromfile(str(out)) for case in suite]
    assert [case.name for case in cases] == [f"{MODEL}/board/fp32.pte"]
    assert cases[0].result and cases[0].result[0].type == "regression"


def test_lab_devices_lists_health_as_json(lab):
    proc = lab_cli(lab, "devices", "--json")
    assert proc.returncode == 0, proc.stderr
    (device,) = json.loads(proc.stdout)
    assert (device["name"], device["health"], device["profile"]) == ("board", "good", "host")


def test_release_and_retire_change_a_devices_health(lab):
    assert lab_cli(lab, "retire", "board", "--reason", "screen cracked").returncode == 0
    assert json.loads(lab_cli(lab, "devices", "--json").stdout)[0]["health"] == "retired"
    assert lab_cli(lab, "release", "board").returncode == 0
    assert json.loads(lab_cli(lab, "devices", "--json").stdout)[0]["health"] == "unknown"


@pytest.mark.parametrize("args, message", [
    (("run", "--models", "zoo:digits-cnn", "--devices", "nope"), "has no device named 'nope'"),
    (("run", "--models", "zoo:digits-cnn", "--tags", "gpu"), "no device is tagged 'gpu'"),
    (("gate", "--baseline", "no-such-label"), "no lab run has the id or label 'no-such-label'"),
    (("release", "ghost"), "has no device named 'ghost'"),
])
def test_bad_arguments_exit_2_with_one_line(lab, args, message):
    proc = lab_cli(lab, *args)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_a_malformed_inventory_exits_2_naming_the_file_and_the_key(tmp_path):
    path = tmp_path / "edgeq-lab.toml"
    path.write_text('[devices.pi]\nprofile = "rpi5"\nhost = "pi"\ntags = "arm"\n')
    proc = edgeq("lab", "devices", "--inventory", str(path))
    assert proc.returncode == 2
    assert str(path) in proc.stderr and "'tags'" in proc.stderr and "Traceback" not in proc.stderr


def test_a_store_that_cannot_be_reached_exits_3(tmp_path):
    path = tmp_path / "edgeq-lab.toml"
    path.write_text('[devices.pi]\nprofile = "rpi5"\nhost = "pi"\n')
    proc = edgeq("lab", "devices", "--inventory", str(path), "--store", "postgresql://edgeq:secret@127.0.0.1:1/lab")
    assert proc.returncode == 3, proc.stderr
    assert "127.0.0.1:1" in proc.stderr and "secret" not in proc.stderr and "Traceback" not in proc.stderr


def test_waiting_on_a_run_no_worker_takes_times_out_with_exit_3_and_the_way_on(lab):
    submitted = lab_cli(lab, "submit", "--models", MODEL, "--schemes", "none", "--runs", "3")
    assert submitted.returncode == 0, submitted.stderr
    run_id = submitted.stdout.strip()
    waited = lab_cli(lab, "wait", run_id, "--timeout", "1")
    assert waited.returncode == 3
    assert f"run {run_id} still has 1 of 1 jobs unfinished after 1 s" in waited.stderr
    assert "edgeq lab status" in waited.stderr and "Traceback" not in waited.stderr
    status = lab_cli(lab, "status", "--json")
    assert status.returncode == 0 and json.loads(status.stdout)["queue"]["pending"] == {"host": 1}
    assert json.loads(status.stdout)["queue"]["oldest_run"] == run_id


def test_a_worker_for_a_device_the_inventory_lacks_is_refused_with_exit_2(lab):
    proc = lab_cli(lab, "worker", "--devices", "nosuch")
    assert proc.returncode == 2 and "nosuch" in proc.stderr and "Traceback" not in proc.stderr


def one_job_run(folder: Path, end) -> tuple[Path, str]:
    """An inventory and a finished run of one job on ``board``, written straight to the store; ``end(store, job_id,
    attempt, token)`` ends its attempt."""
    inventory = folder / "edgeq-lab.toml"
    inventory.write_text('[devices.board]\nprofile = "host"\nhost = "board"\n')
    store = open_store(None, default_path=folder / "edgeq-lab.db")
    store.sync_devices([("board", "host", [])])
    store.put_artifact("ab" * 32, "m", "host", "fp32", "none", "pte", 100, {})
    run_id = store.create_run("one", {})
    job_id = store.add_job(run_id, "m", "host", "none", "pte", "fp32", "board")
    store.set_job_state(job_id, "queued", artifact_sha256="ab" * 32)
    token = store.acquire_lease("board", "test", ttl_s=30)
    end(store, job_id, store.start_attempt(job_id, "board", token), token)
    store.finish_run(run_id, "finished")
    store.close()
    return inventory, run_id


def test_the_run_table_shows_the_median_the_store_and_reports_keep(tmp_path):
    samples = tuple(float(ms) for ms in range(1, 21))  # the median is 10.5; the upper-middle sample is 11

    def measured(store, job_id, attempt, token):
        taken = Measurement("k", "ab" * 32, "board", samples, "2026-12-06T00:00:00+00:00", 100)
        store.record_measurement(job_id, attempt, taken, token)

    inventory, run_id = one_job_run(tmp_path, measured)
    proc = edgeq("lab", "wait", run_id, "--inventory", str(inventory))
    assert proc.returncode == 0, proc.stderr
    (row,) = [line for line in proc.stdout.splitlines() if "m/board/fp32.pte" in line]
    assert "10.5 ms" in row
    with open_store(None, default_path=tmp_path / "edgeq-lab.db") as store:
        assert store.device_history("board", "m", "fp32", "pte")[0].p50_ms == 10.5
    report = edgeq("lab", "report", run_id, "--format", "json", "--inventory", str(inventory))
    (reported,) = json.loads(report.stdout)["jobs"]
    assert reported["latency_ms"]["p50"] == 10.5


def test_a_run_with_a_bug_in_edgeq_exits_4_and_says_so(tmp_path):
    def broken(store, job_id, attempt, token):
        store.end_attempt(job_id, attempt, "error", "this is a bug in edgeq, please report it: KeyError: [x]", token,
                          traceback="Traceback …")

    inventory, run_id = one_job_run(tmp_path, broken)
    proc = edgeq("lab", "wait", run_id, "--inventory", str(inventory))
    assert proc.returncode == 4
    assert "this is a bug in edgeq, please report it: KeyError: [x]" in " ".join(proc.stdout.split())
