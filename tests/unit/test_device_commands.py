"""doctor, deploy, clean and the pre-push refusal, against a scripted device and the local one."""

import json
from dataclasses import replace

import pytest

from edgeq.errors import ConfigError
from edgeq.device.cleanup import clean
from edgeq.device.doctor import diagnose
from edgeq.pipeline import RunOptions, deploy, run
from edgeq.profiles import load_profile
from edgeq.transport import FakeTransport, LocalTransport


def scripted_device(machine="aarch64", python=None, free_kib=8_000_000, governor="performance", temp="45000"):
    """A device that answers edgeq's probes like a Raspberry Pi would."""
    python = python if python is not None else {"python": "3.11.2", "machine": machine, "torch": "2.13.0",
                                                "executorch": "1.4.1"}

    def handler(argv):
        if argv[:2] == ("uname", "-m"):
            return 0, machine + "\n", ""
        if len(argv) > 2 and argv[1] == "-c":
            return (0, json.dumps(python) + "\n", "") if python else (127, "", "python3: not found\n")
        if argv[0] == "df":
            return 0, f"Filesystem 1024-blocks Used Available Capacity Mounted\n/dev/root 1 1 {free_kib} 1% /\n", ""
        if argv[-1].endswith("scaling_governor"):
            return 0, governor + "\n", ""
        if argv[-1].endswith("thermal_zone0/temp"):
            return 0, temp + "\n", ""
        return 0, "", ""

    return FakeTransport(handler)


def _status(diagnosis):
    return {check.name: (check.status, check.fix) for check in diagnosis.checks}


def test_doctor_passes_a_healthy_device():
    diagnosis = diagnose(load_profile("rpi5"), transport=scripted_device())
    assert diagnosis.healthy and diagnosis.facts.machine == "aarch64"


def test_doctor_names_each_problem_with_its_fix():
    device = scripted_device(machine="x86_64", free_kib=10_000, governor="powersave", temp="81000",
                             python={"python": "3.9.2", "machine": "x86_64", "torch": "2.9.1", "executorch": None})
    checks = _status(diagnose(load_profile("rpi5"), transport=device))
    assert checks["arch"] == ("fail", "use a profile for x86_64 (edgeq profiles list)")
    assert checks["executorch"][0] == "fail" and "pip install executorch" in checks["executorch"][1]
    assert checks["torch"][0] == "warn" and "pip install -U torch" in checks["torch"][1]
    assert checks["free space"][0] == "fail" and checks["free space"][1].startswith("edgeq clean --device")
    assert checks["governor"][0] == "warn" and "scaling_governor" in checks["governor"][1]
    assert checks["temperature"][0] == "warn"


def test_doctor_reports_a_device_without_python():
    checks = _status(diagnose(load_profile("rpi5"), transport=scripted_device(python={})))
    assert checks["python"][0] == "fail" and "python = " in checks["python"][1]


def test_run_refuses_before_pushing_to_a_device_of_another_arch():
    device = scripted_device(machine="x86_64")
    with pytest.raises(ConfigError, match="the device is x86_64, but profile 'rpi5' says aarch64"):
        run("zoo:digits-cnn", load_profile("rpi5"), RunOptions(scheme="none"), transport=device)
    assert not [call for call in device.calls if call[0] == "push"]


@pytest.fixture
def local_profile(tmp_path):
    return replace(load_profile("host"), workdir=str(tmp_path / "device"))


def test_deploy_pushes_verified_artifacts_once(local_profile):
    first = deploy("zoo:digits-cnn", local_profile, RunOptions(scheme="static"), transport=LocalTransport())
    assert [a["variant"] for a in first.artifacts] == ["fp32", "int8-static"] and all(a["pushed"] for a in first.artifacts)
    again = deploy("zoo:digits-cnn", local_profile, RunOptions(scheme="static"), transport=LocalTransport())
    assert not any(a["pushed"] for a in again.artifacts)
    assert LocalTransport().sha256(again.artifacts[1]["remote"]) == again.artifacts[1]["sha256"]


def test_clean_removes_only_what_edgeq_left(local_profile, tmp_path):
    workdir = tmp_path / "device"
    for folder in ("runner", "artifacts"):
        (workdir / folder).mkdir(parents=True)
        (workdir / folder / "x").write_bytes(b"0" * 4096)
    (workdir / "users-notes.txt").write_text("keep me")
    result = clean(local_profile, transport=LocalTransport())
    assert sorted(path.rsplit("/", 1)[1] for path in result.removed) == ["artifacts", "runner"]
    assert result.freed_bytes >= 8192
    assert (workdir / "users-notes.txt").read_text() == "keep me" and not (workdir / "runner").exists()
