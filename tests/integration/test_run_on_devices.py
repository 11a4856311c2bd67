"""`edgeq run` against devices reached through real parts: the adb client and its emulated device, sshd."""

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
