"""The contract every transport passes: local, the public fake, and adb and SSH against real parts on loopback.

SSH runs it three times: OpenSSH with SFTP, and the exec-channel fallback against OpenSSH without the sftp
subsystem and against Dropbear. adb runs it twice: an Android device, and a plain Linux board running adbd
(no ``getprop``, ``~`` is the shell's home).
"""

import hashlib
import sys

import pytest

from edgeq.errors import CommandFailed, TransferError
from edgeq.transport import FakeTransport, LocalTransport


def _echo_handler(argv):
    if argv[:2] == ("echo", "hello"):
        return 0, "hello\n", ""
    return 3, "", "boom\n"


@pytest.fixture(params=["local", "fake", "adb", "adb-linux", "ssh", "ssh-no-sftp", "dropbear"])
def transport(request, tmp_path):
    if request.param == "local":
        return LocalTransport(), str(tmp_path / "device")
    if request.param == "adb":
        return request.getfixturevalue("adb_contract_transport")  # tests/support/adb_fixtures.py
    if request.param == "adb-linux":
        return request.getfixturevalue("adb_linux_contract_transport")
    if request.param == "ssh":
        return request.getfixturevalue("ssh_transport")  # a real sshd on loopback: tests/support/ssh_fixtures.py
    if request.param == "ssh-no-sftp":
        return request.getfixturevalue("ssh_no_sftp_transport")
    if request.param == "dropbear":
        return request.getfixturevalue("dropbear_transport")
    return FakeTransport(_echo_handler), "/device"


def test_run_returns_output_and_exit_code(transport):
    t, _ = transport
    result = t.run(["echo", "hello"])
    assert (result.returncode, result.stdout) == (0, "hello\n") and result.duration_s >= 0


def test_run_raises_on_failure_only_when_asked(transport):
    t, _ = transport
    argv = {"local": [sys.executable, "-c", "import sys; sys.stderr.write('boom\\n'); sys.exit(3)"],
            "fake": ["false"]}.get(t.name, ["sh", "-c", "echo boom >&2; exit 3"])  # a device's shell
    assert t.run(argv, check=False).returncode == 3
    with pytest.raises(CommandFailed, match="boom"):
        t.run(argv)


def test_push_then_pull_round_trips_and_verifies(transport, tmp_path):
    t, root = transport
    local = tmp_path / "model with spaces; and 'quotes'.pte"
    local.write_bytes(b"\x00artifact" * 1000)
    t.push(local, f"{root}/a/b.pte")
    assert t.sha256(f"{root}/a/b.pte") == hashlib.sha256(local.read_bytes()).hexdigest()
    back = tmp_path / "back.pte"
    t.pull(f"{root}/a/b.pte", back)
    assert back.read_bytes() == local.read_bytes()


def test_sha256_of_a_missing_file_is_none(transport):
    t, root = transport
    assert t.sha256(f"{root}/missing") is None


def test_pull_of_a_missing_file_is_a_transfer_error(transport, tmp_path):
    t, root = transport
    with pytest.raises(TransferError):
        t.pull(f"{root}/missing", tmp_path / "x")


def test_local_push_leaves_no_partial_file(tmp_path):
    local = tmp_path / "a.bin"
    local.write_bytes(b"x" * 10)
    LocalTransport().push(local, str(tmp_path / "dev" / "a.bin"))
    assert sorted(p.name for p in (tmp_path / "dev").iterdir()) == ["a.bin"]


def test_fake_transport_records_calls():
    fake = FakeTransport()
    fake.run(["uname", "-m"])
    assert fake.calls == [("run", "uname", "-m")]
