"""A lab of six real OpenSSH devices on loopback, each misbehaving in its own way, on both stores.

Every device is an sshd whose sessions go through ``tests/support/lab_device_shell.sh`` (its ForceCommand):
a home of its own, and one fault — a slow benchmark, a benchmark that hangs, a connection that drops in
the middle of a job, a thermal zone at 91 °C. The devices have no SFTP subsystem, so files stream through
exec channels, as on boards. The artifacts, the runner and the measurements are real.

    fleet (profile lab-x86):  good-1, good-2, slow, drop
    lab-x86-solo:             hang (its first job's benchmark hangs), hot (max_temperature_c = 80); neither
                              takes the fleet's jobs, and neither job moves (timeout is not retried, invalid
                              is measured again on its own device)
"""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from edgeq_cli import edgeq
from sshd import SSHServer

from edgeq.device import Inventory
from edgeq.lab.plan import LabRequest
from edgeq.lab.scheduler import run_lab
from edgeq.lab.store import open_store

# one worker runs the module (make test: --dist loadgroup), so the six devices start and the matrix runs once
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("lab-on-devices")]

SUPPORT = Path(__file__).resolve().parent.parent / "support"
SHELL = SUPPORT / "lab_device_shell.sh"
MODELS = (f"{SUPPORT / 'lab_models.py'}:mlp_a", f"{SUPPORT / 'lab_models.py'}:mlp_b")
DEVICES = {"good-1": ("lab-x86", "good"), "good-2": ("lab-x86", "good"), "slow": ("lab-x86", "slow"),
           "drop": ("lab-x86", "drop"), "hang": ("lab-x86-solo", "hang"), "hot": ("lab-x86-solo", "hot")}
JOB_TIMEOUT_S = 20


def _profile(folder: Path, name: str) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(f'name = "{name}"\narch = "x86_64"\nengine = "x86"\ntransport = "ssh"\nformats = ["pte"]\n'
                    f'threads = 1\nruntime = "python"\npython = "{sys.executable}"\nworkdir = "~/edgeq"\n')
    return path


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """The six devices and their inventory (with a [lab] table), for the module."""
    folder = tmp_path_factory.mktemp("lab")
    profiles = {name: _profile(folder, name) for name in {profile for profile, _ in DEVICES.values()}}
    servers, entries = [], []
    for name, (profile, mode) in DEVICES.items():
        server = SSHServer(folder / f"sshd-{name}", sftp=False,
                           force_command=f"{SHELL} {mode} {folder / 'homes' / name} {sys.executable}").start()
        servers.append(server)
        address = server.address()
        entries.append(f'[devices.{name}]\nprofile = "{profiles[profile]}"\n'
                       f'address = "ssh://{address.user}@{address.host}:{address.port}"\n'
                       f'identity = "{address.identity}"\nknown_hosts = "{address.known_hosts}"\n'
                       + ('max_temperature_c = 80\n' if mode == "hot" else "") + f'tags = ["{mode}"]\n')
    inventory = folder / "edgeq-lab.toml"
    inventory.write_text("".join(entries) + f"[lab]\njob_timeout_s = {JOB_TIMEOUT_S}\n")
    try:
        yield inventory
    finally:
        for server in servers:
            server.stop()


@functools.cache
def _run(inventory: Path, store_url: str):
    for marker in inventory.parent.glob("homes/*/hung-once"):  # each run meets the hang once
        marker.unlink()
    store = open_store(store_url, default_path=inventory.with_name("unused.db"))
    run = run_lab(Inventory.load(inventory), LabRequest(models=MODELS, schemes=("none", "dynamic"), runs=5, warmup=1),
                  store=store)
    return run, store


def outcomes(run) -> dict[str, str]:
    return {job.name: job.state for job in run.jobs}


@pytest.fixture(scope="module")
def sqlite_run(lab):
    return _run(lab, f"sqlite:///{lab.with_name('lab.db')}")


def test_the_matrix_runs_to_completion_with_each_fault_ending_as_it_should(sqlite_run):
    run, store = sqlite_run
    assert run.status == "finished" and len(run.jobs) == len(DEVICES) * 2 * 2
    for job in run.jobs:
        mode = DEVICES[job.planned_device][1]
        if mode == "hang" and job.state == "timeout":
            assert len(job.attempts) == 1, job  # never retried
            assert f"within {JOB_TIMEOUT_S}" in job.reason
        elif mode == "hot":
            assert job.state == "invalid" and "91.0 °C" in job.reason and len(job.attempts) == 2
        else:
            assert job.state == "done", job
            assert job.measurement is not None and len(job.measurement.samples_ms) == 5
        if mode == "drop":
            assert job.device in ("good-1", "good-2", "slow")  # finished on a sibling of the same profile
    hung = [job for job in run.jobs if job.planned_device == "hang" and job.state == "timeout"]
    assert len(hung) == 1  # the one benchmark that hung; the device's other jobs ran


def test_the_dropping_device_is_quarantined_with_its_reason_and_the_rest_are_healthy(sqlite_run, lab):
    _, store = sqlite_run
    health = {device.name: device for device in store.devices()}
    assert health["drop"].health == "quarantined"
    assert "health check failed" in health["drop"].reason and health["drop"].last_check.outcome == "bad"
    assert {name: health[name].health for name in ("good-1", "good-2", "slow", "hang", "hot")} == dict.fromkeys(
        ("good-1", "good-2", "slow", "hang", "hot"), "good")


def test_lab_devices_shows_each_devices_health(sqlite_run, lab):
    proc = edgeq("lab", "devices", "--inventory", str(lab), "--store", f"sqlite:///{lab.with_name('lab.db')}", "--json")
    assert proc.returncode == 0, proc.stderr
    shown = {device["name"]: device for device in json.loads(proc.stdout)}
    assert set(shown) == set(DEVICES)
    assert shown["drop"]["health"] == "quarantined" and shown["drop"]["since"]
    assert shown["good-1"]["last_check"]["outcome"] == "good" and shown["good-1"]["profile"] == "lab-x86"  # the name: the same on every host
    table = edgeq("lab", "devices", "--inventory", str(lab), "--store", f"sqlite:///{lab.with_name('lab.db')}")
    assert "quarantined" in table.stdout and "health check failed" in table.stdout


def test_the_same_run_on_postgresql_gives_the_same_outcomes(sqlite_run, lab, postgres_url):
    drop = Inventory.load(lab)  # the first run quarantined "drop" in SQLite; PostgreSQL starts from scratch
    assert "drop" in drop.devices
    run, store = _run(lab, postgres_url)
    assert outcomes(run) == outcomes(sqlite_run[0])
    assert store.device("drop").health == "quarantined"


def test_a_lab_run_killed_mid_way_then_resumed_records_every_job_exactly_once(lab):
    """``kill -9`` of ``edgeq lab run`` once its first job is done (one device, two jobs in turn), then
    ``--resume``: nothing lost, nothing twice."""
    url = f"sqlite:///{lab.with_name('killed.db')}"
    args = ["lab", "run", "--models", MODELS[0], "--schemes", "none", "dynamic", "--devices", "good-1",
            "--runs", "5", "--warmup", "1", "--inventory", str(lab), "--store", url]
    process = subprocess.Popen([sys.executable, "-m", "edgeq", *args], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env=os.environ.copy())
    store = open_store(url, default_path=lab.with_name("unused.db"))
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and process.poll() is None:
            run = store.latest_run()
            if run is not None and any(job.state == "done" for job in run.jobs):
                break
            time.sleep(0.2)
        assert process.poll() is None, "the run finished before it could be killed"
        process.send_signal(signal.SIGKILL)
        process.wait()
    finally:
        if process.poll() is None:
            process.kill()
    killed = store.latest_run()
    assert killed.status == "running" and {job.state for job in killed.jobs} - {"done", "queued", "running"} == set()

    resumed = edgeq(*args, "--resume", killed.id, "--json")
    assert resumed.returncode == 0, resumed.stderr
    run = store.run(killed.id)
    assert run.status == "finished" and len(run.jobs) == 2
    for job in run.jobs:
        assert job.state == "done" and job.measurement is not None
        assert [attempt.outcome for attempt in job.attempts].count("done") == 1, job.attempts


def test_a_worker_process_serves_real_devices_from_a_run_submitted_elsewhere(sqlite_run, lab):
    # the store of the run above, whose health checks found good-1 and good-2 good (PostgreSQL across
    # hosts is tests/integration/test_lab_workers.py; a worker serves a SQLite store on its own host too)
    store = ["--inventory", str(lab), "--store", f"sqlite:///{lab.with_name('lab.db')}"]
    submitted = edgeq("lab", "submit", "--models", MODELS[0], "--devices", "good-1", "good-2", "--schemes", "none",
                      "--runs", "3", "--warmup", "0", "--label", "pr-42", *store)
    assert submitted.returncode == 0, submitted.stderr
    run_id = submitted.stdout.strip()
    assert f"submitted run {run_id}: 2 jobs" in submitted.stderr
    worker = subprocess.Popen([sys.executable, "-m", "edgeq", "lab", "worker", "--devices", "good-1", "good-2",
                               "--exit-when-idle", "2", "--lease-ttl", "15", *store],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    waited = edgeq("lab", "wait", "pr-42", "--timeout", "300", "--json", *store)
    _, worker_log = worker.communicate(timeout=120)
    assert waited.returncode == 0, waited.stderr + worker_log
    assert worker.returncode == 0 and "Traceback" not in worker_log
    jobs = json.loads(waited.stdout)["jobs"]
    assert {(job["planned_device"], job["device"], job["state"]) for job in jobs} == {
        ("good-1", "good-1", "done"), ("good-2", "good-2", "done")}
    status = edgeq("lab", "status", "--json", *store)
    assert status.returncode == 0
    (record,) = json.loads(status.stdout)["workers"]
    assert record["state"] == "stopped" and record["devices"] == ["good-1", "good-2"]
    assert json.loads(status.stdout)["queue"]["pending"] == {}
