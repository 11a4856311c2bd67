"""`edgeq run` against devices reached through real parts: the adb client and its emulated device, sshd, Dropbear."""

import json
import sys
from pathlib import Path

import pytest
from adb_fixtures import adb_address
from edgeq_cli import edgeq

from edgeq.transport import LocalTransport

pytestmark = pytest.mark.slow


def write_profile(path: Path, transport: str, workdir: str) -> Path:
    """A profile for this machine's CPU, reached over ``transport``; its Python is this venv's (torch, executorch)."""
    from edgeq.profiles import describe_host

    host = describe_host()
    path.write_text(f'name = "emulated-{transport}"\narch = "{host["arch"]}"\nengine = "{host["engine"]}"\n'
                    f'transport = "{transport}"\nformats = ["pte", "ptl"]\nthreads = 1\n'
                    f'python = "{sys.executable}"\nworkdir = "{workdir}"\n')
    return path


def test_run_through_the_real_adb_client_matches_the_hosts_result_shape(adb_server, adb_device, tmp_path):
    profile = write_profile(tmp_path / "phone.toml", "adb", "/data/local/tmp/edgeq")
    address = adb_address(adb_server, adb_device)
    device = f"adb://{address.serial}?server={address.options['server']}"
    proc = edgeq("run", "zoo:digits-cnn", "--device", device, "--profile", str(profile), "--scheme", "static",
                 "--runs", "5", "--warmup", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["device"]["name"] == f"adb://{address.serial}" and result["device"]["transport"] == "adb"
    assert {r["variant"] for r in result["results"]} == {"fp32", "int8-static"}
    for row in result["results"]:
        on_device = adb_device.root / "edgeq" / "artifacts" / Path(row["artifact"]).name.replace("model", row["sha256"])
        assert LocalTransport().sha256(str(on_device)) == row["sha256"]  # the device holds exactly what was built
    fp32, int8 = result["results"]
    assert fp32["accuracy"]["value"] - int8["accuracy"]["value"] <= 1.0


def test_run_over_adb_on_a_linux_board_without_getprop(adb_server, adb_devices, tmp_path):
    board = adb_devices(system="linux")  # adbd on plain Linux: no getprop, ~ is the shell's $HOME
    profile = write_profile(tmp_path / "board.toml", "adb", "~/.cache/edgeq/device")
    address = adb_address(adb_server, board)
    proc = edgeq("run", "zoo:digits-cnn", "--device", f"adb://{address.serial}?server={address.options['server']}",
                 "--profile", str(profile), "--scheme", "static", "--runs", "3", "--warmup", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["device"]["transport"] == "adb" and {r["variant"] for r in result["results"]} == {"fp32", "int8-static"}
    for row in result["results"]:
        on_device = board.root / ".cache/edgeq/device/artifacts" / f"{row['sha256']}.{row['format']}"
        assert LocalTransport().sha256(str(on_device)) == row["sha256"]


def test_run_over_ssh_against_a_real_sshd_matches_the_hosts_result_shape(sshd, tmp_path):
    profile = write_profile(tmp_path / "board.toml", "ssh", str(tmp_path / "board-workdir"))
    device = f"ssh://{sshd.user}@127.0.0.1:{sshd.port}"
    common = ["--device", device, "--profile", str(profile), "--identity", str(sshd.client_key),
              "--known-hosts", str(tmp_path / "known_hosts")]
    refused = edgeq("doctor", *common)
    assert refused.returncode == 3 and "SHA256:" in refused.stderr and "--trust-new-host" in refused.stderr
    proc = edgeq("run", "zoo:digits-cnn", *common, "--trust-new-host", "--scheme", "static", "--runs", "5",
                 "--warmup", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["device"]["name"] == device and result["device"]["transport"] == "ssh"
    assert result["device"]["arch"] and result["device"]["executorch"] == "1.4.1"
    assert_artifacts_on_the_board(result, tmp_path / "board-workdir")
    doctor = edgeq("doctor", *common, "--json")  # the key is known now
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert json.loads(doctor.stdout)["healthy"]


@pytest.mark.parametrize("server", ["dropbear", "sshd_no_sftp"])
def test_run_over_ssh_without_sftp_streams_verified_artifacts_through_exec_channels(request, server, tmp_path):
    board = request.getfixturevalue(server)  # a real Dropbear, or OpenSSH without the sftp subsystem
    profile = write_profile(tmp_path / "board.toml", "ssh", str(tmp_path / "board-workdir"))
    device = f"ssh://{board.user}@127.0.0.1:{board.port}"
    proc = edgeq("--debug", "run", "zoo:digits-cnn", "--device", device, "--profile", str(profile),
                 "--identity", str(board.client_key), "--known-hosts", str(board.write_known_hosts(tmp_path / "kh")),
                 "--scheme", "static", "--runs", "3", "--warmup", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    assert "offers no SFTP" in proc.stderr and "files go through cat on exec channels" in proc.stderr
    result = json.loads(proc.stdout)
    assert result["device"]["name"] == device and result["device"]["transport"] == "ssh"
    assert_artifacts_on_the_board(result, tmp_path / "board-workdir")


def assert_artifacts_on_the_board(result: dict, workdir: Path) -> None:
    """Both variants ran from exactly the artifacts that were built, as their SHA-256 on the device shows."""
    assert {r["variant"] for r in result["results"]} == {"fp32", "int8-static"}
    for row in result["results"]:
        on_device = workdir / "artifacts" / f"{row['sha256']}.{row['format']}"
        assert LocalTransport().sha256(str(on_device)) == row["sha256"]
    assert not [p for p in workdir.rglob("*") if ".edgeq-tmp-" in p.name]
    fp32, int8 = result["results"]
    assert fp32["accuracy"]["value"] - int8["accuracy"]["value"] <= 1.0


def test_a_hung_benchmark_is_killed_and_reported_as_an_infrastructure_fault(sshd, tmp_path):
    profile = write_profile(tmp_path / "board.toml", "ssh", str(tmp_path / "board-workdir"))
    sshd.write_known_hosts(tmp_path / "known_hosts")
    proc = edgeq("run", "zoo:digits-cnn", "--device", f"ssh://{sshd.user}@127.0.0.1:{sshd.port}", "--profile",
                 str(profile), "--identity", str(sshd.client_key), "--known-hosts", str(tmp_path / "known_hosts"),
                 "--scheme", "none", "--timeout", "0.5")  # the runner cannot even import torch in half a second
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.startswith("error:") and "Traceback" not in proc.stderr
    assert "timed out" in proc.stderr.lower() or "timeout" in proc.stderr.lower()
    leftovers = [p for p in (tmp_path / "board-workdir").rglob("*") if ".edgeq-tmp-" in p.name]
    assert not leftovers
