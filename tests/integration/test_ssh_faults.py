"""What the SSH transport does when things go wrong, each fault against a real OpenSSH sshd on loopback.

The device is this machine, so a test can look at the "device" filesystem directly to check that nothing
partial was left behind. Faults on the wire (a byte flipped, a transfer cut short, sshd dying mid-upload)
are injected by tapping the bytes paramiko uploads; the device-side checks that catch them are the real ones.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import paramiko
import pytest
from sshd import free_port, keygen, process_alive

from edgeq.errors import AuthError, CommandTimeout, ConfigError, ConnectError, TransferError
from edgeq.transport.ssh import SSHTransport

Tap = Callable[[bytes, int], bytes]  # (chunk, bytes sent before it) -> what actually goes on the wire


class _TappedReader:
    def __init__(self, handle, tap: Tap) -> None:
        self.handle, self.tap, self.sent = handle, tap, 0

    def read(self, size: int = -1) -> bytes:
        chunk = self.handle.read(size)
        wire = self.tap(chunk, self.sent) if chunk else chunk
        self.sent += len(chunk)
        return wire


def _tap_uploads(monkeypatch: pytest.MonkeyPatch, tap: Tap) -> None:
    """Pass the bytes of every SFTP upload through ``tap`` on their way to the device."""
    original = paramiko.SFTPClient.putfo

    def putfo(self, fl, remotepath, *args, **kwargs):
        return original(self, _TappedReader(fl, tap), remotepath, *args, **kwargs)

    monkeypatch.setattr(paramiko.SFTPClient, "putfo", putfo)


def _wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- the connection dies --------------------------------------------------------------------------------

@pytest.mark.slow
def test_push_interrupted_by_a_crashed_sshd_leaves_nothing_and_a_retry_succeeds(fresh_sshd, tmp_path, monkeypatch):
    local = tmp_path / "big.pte"
    local.write_bytes(os.urandom(50 * 1024 * 1024))
    target = tmp_path / "device" / "artifacts" / "big.pte"
    transport = SSHTransport.connect(fresh_sshd.address())

    def crash_after_5_mb(chunk: bytes, sent: int) -> bytes:
        if sent >= 5 * 1024 * 1024 and fresh_sshd.running:
            fresh_sshd.kill()
        return chunk

    _tap_uploads(monkeypatch, crash_after_5_mb)
    with pytest.raises((TransferError, ConnectError)) as caught:
        transport.push(local, str(target))
    assert caught.value.exit_code == 3
    assert not target.exists()
    assert all(name.startswith(".big.pte.edgeq-tmp-") for name in os.listdir(target.parent))

    monkeypatch.undo()
    fresh_sshd.restart()
    transport.push(local, str(target))
    assert _digest(target) == _digest(local) == transport.sha256(str(target))
    assert os.listdir(target.parent) == ["big.pte"]  # the interrupted push's temporary is gone too
    transport.close()


def test_connection_lost_during_a_command_is_a_connect_error(fresh_sshd, tmp_path):
    started = tmp_path / "started"
    transport = SSHTransport.connect(fresh_sshd.address())
    outcome: list[BaseException] = []

    def hang() -> None:
        try:
            transport.run(["sh", "-c", f"touch '{started}'; sleep 1000"], timeout_s=60)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome.append(exc)

    runner = threading.Thread(target=hang)
    runner.start()
    assert _wait_for(started.exists)
    fresh_sshd.kill()
    runner.join(timeout=30)
    assert not runner.is_alive()
    assert isinstance(outcome[0], ConnectError) and "lost the connection" in str(outcome[0])
    transport.close()


def test_nothing_listening_is_a_connect_error_naming_the_address(sshd):
    port = free_port()
    with pytest.raises(ConnectError, match=f"127.0.0.1:{port}.*refused") as caught:
        SSHTransport.connect(sshd.address(port=port))
    assert caught.value.exit_code == 3


def test_a_server_that_never_speaks_ssh_is_a_connect_error_after_the_timeout(sshd):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        with pytest.raises(ConnectError, match=f"127.0.0.1:{port}"):
            SSHTransport.connect(sshd.address(port=port), connect_timeout_s=0.5)


# -- who is who: host keys and logins --------------------------------------------------------------------

def test_unknown_host_key_is_refused_by_default_naming_its_fingerprint(sshd, tmp_path):
    known_hosts = tmp_path / "known_hosts"
    with pytest.raises(AuthError) as caught:
        SSHTransport.connect(sshd.address(known_hosts=known_hosts))
    message = str(caught.value)
    assert f"{sshd.host_key_type} {sshd.host_fingerprint}" in message  # as `ssh-keygen -l` shows it
    assert sshd.host_fingerprint.startswith("SHA256:") and "--trust-new-host" in message
    assert caught.value.exit_code == 3
    assert not known_hosts.exists()


def test_unknown_host_key_is_accepted_and_recorded_with_trust_new_host(sshd, tmp_path):
    known_hosts = tmp_path / "ssh" / "known_hosts"
    with SSHTransport.connect(sshd.address(known_hosts=known_hosts, trust_new_host=True)) as transport:
        assert transport.run(["echo", "in"]).stdout == "in\n"
    assert known_hosts.read_text() == sshd.known_hosts_line()
    found = subprocess.run(["ssh-keygen", "-F", sshd.host_entry, "-f", str(known_hosts)], capture_output=True)
    assert found.returncode == 0  # OpenSSH itself reads the entry back for [127.0.0.1]:PORT
    with SSHTransport.connect(sshd.address(known_hosts=known_hosts)) as transport:  # now known: no opt-in needed
        assert transport.run(["echo", "again"]).stdout == "again\n"


def test_trusted_host_key_goes_to_the_users_known_hosts_by_default(sshd, isolated_home):
    default = isolated_home / ".ssh" / "known_hosts"
    default.unlink(missing_ok=True)
    with pytest.raises(AuthError, match=str(default)):
        SSHTransport.connect(sshd.address(known_hosts=None))
    SSHTransport.connect(sshd.address(known_hosts=None, trust_new_host=True)).close()
    assert sshd.host_entry in default.read_text()
    default.unlink()


@pytest.mark.parametrize("new_key_type", ["ed25519", "ecdsa"], ids=["same-type", "other-type"])
def test_changed_host_key_is_refused_even_when_trusting_new_hosts(fresh_sshd, new_key_type):
    known_hosts = fresh_sshd.write_known_hosts()
    recorded = known_hosts.read_text()
    old = fresh_sshd.host_fingerprint
    fresh_sshd.restart(new_host_key=new_key_type)
    with pytest.raises(AuthError, match="CHANGED") as caught:
        SSHTransport.connect(fresh_sshd.address(trust_new_host=True))
    message = str(caught.value)
    assert old in message and fresh_sshd.host_fingerprint in message and old != fresh_sshd.host_fingerprint
    assert caught.value.exit_code == 3
    assert known_hosts.read_text() == recorded


def test_wrong_key_is_an_auth_error(sshd, tmp_path):
    wrong = keygen(tmp_path / "not_authorized")
    with pytest.raises(AuthError, match="refused the login") as caught:
        SSHTransport.connect(sshd.address(identity=wrong))
    assert caught.value.exit_code == 3


def test_key_with_a_passphrase_is_an_auth_error_that_points_to_the_agent(sshd, tmp_path):
    locked = tmp_path / "locked"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "secret", "-f", str(locked)], check=True)
    with pytest.raises(AuthError, match="passphrase.*ssh-add"):
        SSHTransport.connect(sshd.address(identity=locked))


def test_missing_key_file_is_a_configuration_error(sshd, tmp_path):
    with pytest.raises(ConfigError, match="does not exist") as caught:
        SSHTransport.connect(sshd.address(identity=tmp_path / "no_such_key"))
    assert caught.value.exit_code == 2


# -- commands that misbehave -----------------------------------------------------------------------------

def test_hung_command_times_out_and_its_process_group_is_killed(ssh_transport, tmp_path):
    transport, _ = ssh_transport
    pids = tmp_path / "pids"
    with pytest.raises(CommandTimeout, match="process group was killed") as caught:
        transport.run(["sh", "-c", f"sleep 1000 & echo $$ $! > '{pids}'; wait"], timeout_s=1)
    assert caught.value.exit_code == 3
    shell, child = (int(pid) for pid in pids.read_text().split())
    assert not process_alive(shell) and not process_alive(child)


@pytest.mark.slow
def test_command_that_ignores_sigterm_is_killed_after_a_grace_period(ssh_transport, tmp_path):
    transport, _ = ssh_transport
    pids = tmp_path / "pids"
    with pytest.raises(CommandTimeout):
        transport.run(["sh", "-c", f"trap '' TERM; sleep 1000 & echo $$ $! > '{pids}'; wait"], timeout_s=1)
    assert not any(process_alive(int(pid)) for pid in pids.read_text().split())


def test_five_megabytes_of_stdout_and_stderr_come_back_whole(ssh_transport):
    transport, _ = ssh_transport
    writer = ("import sys\n"
              "for i in range(500_000):\n"
              "    sys.stdout.write(f'{i:09d}\\n')\n"
              "    sys.stderr.write(f'{i:08x}e\\n')\n")
    result = transport.run([sys.executable, "-c", writer], timeout_s=120)  # the device is this machine
    assert len(result.stdout) == len(result.stderr) == 5_000_000
    assert result.stdout == "".join(f"{i:09d}\n" for i in range(500_000))
    assert result.stderr == "".join(f"{i:08x}e\n" for i in range(500_000))


# -- transfers that arrive wrong, names that try to be commands ------------------------------------------

@pytest.mark.parametrize("fault", ["corrupted", "truncated"])
def test_transfer_that_arrives_wrong_is_refused_and_leaves_nothing(ssh_transport, tmp_path, monkeypatch, fault):
    transport, root = ssh_transport
    local = tmp_path / "model.pte"
    local.write_bytes(os.urandom(300_000))
    target = Path(root) / "model.pte"

    def spoil(chunk: bytes, sent: int) -> bytes:
        if fault == "corrupted":
            return bytes([chunk[0] ^ 0xFF]) + chunk[1:] if sent == 0 else chunk
        return chunk if sent < 100_000 else b""  # the rest never arrives

    _tap_uploads(monkeypatch, spoil)
    with pytest.raises(TransferError, match="arrived corrupted") as caught:
        transport.push(local, str(target))
    assert caught.value.exit_code == 3
    assert os.listdir(root) == []  # neither the final file nor the temporary


def test_push_into_a_parent_that_is_a_file_is_a_transfer_error(ssh_transport, tmp_path):
    transport, root = ssh_transport
    Path(root).mkdir()
    (Path(root) / "blocker").write_text("a file, not a folder")
    local = tmp_path / "a.pte"
    local.write_bytes(b"x")
    with pytest.raises(TransferError, match="cannot create"):
        transport.push(local, f"{root}/blocker/a.pte")


NASTY_NAMES = [
    "with spaces.pte",
    "it's \"quoted\".pte",
    "x; touch {pwned}; y.pte",
    "$(touch {pwned}).pte",
    "`touch {pwned}`.pte",
    "a\nnewline & | > < *.pte",
]


@pytest.mark.parametrize("pattern", NASTY_NAMES, ids=["spaces", "quotes", "semicolon", "dollar-paren", "backticks",
                                                      "newline-and-metacharacters"])
def test_file_names_with_shell_syntax_round_trip_and_run_nothing(ssh_transport, tmp_path, pattern):
    transport, root = ssh_transport
    pwned = tmp_path / "pwned"
    name = pattern.format(pwned=pwned.name)  # relative: an injected `touch` would land in the device's home
    home_pwned = Path(pwd.getpwuid(os.getuid()).pw_dir) / pwned.name
    folder = f"{root}/dir; touch {pwned}; 'q"  # the parent folder tries too, with an absolute path
    local = tmp_path / "local.pte"
    local.write_bytes(b"payload " * 1000)

    transport.push(local, f"{folder}/{name}")
    assert (Path(folder) / name).read_bytes() == local.read_bytes()
    assert transport.sha256(f"{folder}/{name}") == _digest(local)
    assert transport.run(["cat", f"{folder}/{name}"]).stdout == local.read_text()
    transport.pull(f"{folder}/{name}", tmp_path / "back" / name)
    assert (tmp_path / "back" / name).read_bytes() == local.read_bytes()
    assert sorted(os.listdir(folder)) == [name]
    assert not pwned.exists() and not home_pwned.exists()


def test_a_device_without_the_file_reports_it_missing_not_a_transport_failure(ssh_transport):
    transport, root = ssh_transport
    assert transport.sha256(f"{root}/nothing here; echo") is None
    with pytest.raises(TransferError, match="does not exist"):
        transport.pull(f"{root}/nothing here; echo", Path(root) / "x")



def test_a_full_disk_on_the_device_is_a_transfer_error_leaving_nothing(tmp_path):
    from sshd import SSHServer

    with SSHServer(tmp_path / "sshd", max_file_bytes=1024 * 1024) as server:  # the device has 1 MiB left
        transport = SSHTransport.connect(server.address())
        artifact = tmp_path / "model.pte"
        artifact.write_bytes(os.urandom(3 * 1024 * 1024))
        remote = tmp_path / "device" / "artifacts" / "model.pte"
        with pytest.raises(TransferError) as info:
            transport.push(artifact, str(remote))
        assert info.value.exit_code == 3
        assert not remote.exists() and not list(remote.parent.iterdir())  # no partial file, no temporary
        transport.close()
