"""What the SSH transport does when things go wrong, each fault against a real SSH server on loopback.

The device is this machine, so a test can look at the "device" filesystem directly to check that nothing
partial was left behind. Faults on the wire (a byte flipped, a transfer cut short, sshd dying mid-upload)
are injected by tapping the bytes uploaded, over SFTP or through the exec channel a server without SFTP
gets; the device-side checks that catch them are the real ones. Transfer faults run against every kind of
server (``ssh_fixtures.SERVER_KINDS``: OpenSSH with SFTP, OpenSSH without it, Dropbear).
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import paramiko
import pytest
from ssh_fixtures import SERVER_KINDS, new_server
from sshd import SSHServer, descendants, free_port, keygen, process_alive

from edgeq.errors import AuthError, CommandTimeout, ConfigError, ConnectError, TransferError
from edgeq.transport.ssh import SSHTransport

Tap = Callable[[bytes, int], bytes]  # (chunk, bytes sent before it) -> what actually goes on the wire
EXEC_KINDS = [kind for kind, method in SERVER_KINDS.items() if method == "exec"]  # servers without SFTP


class _TappedReader:
    def __init__(self, handle, tap: Tap) -> None:
        self.handle, self.tap, self.sent = handle, tap, 0

    def read(self, size: int = -1) -> bytes:
        chunk = self.handle.read(size)
        wire = self.tap(chunk, self.sent) if chunk else chunk
        self.sent += len(chunk)
        return wire


def _tap_uploads(monkeypatch: pytest.MonkeyPatch, tap: Tap) -> None:
    """Pass the bytes of every upload, over SFTP or through an exec channel, through ``tap`` on their way."""
    putfo, send_file = paramiko.SFTPClient.putfo, SSHTransport._send_file

    def tapped_putfo(self, fl, remotepath, *args, **kwargs):
        return putfo(self, _TappedReader(fl, tap), remotepath, *args, **kwargs)

    def tapped_send_file(self, handle, channel):
        return send_file(self, _TappedReader(handle, tap), channel)

    monkeypatch.setattr(paramiko.SFTPClient, "putfo", tapped_putfo)
    monkeypatch.setattr(SSHTransport, "_send_file", tapped_send_file)


@pytest.fixture
def server_of_kind(tmp_path: Path) -> Iterator[Callable[..., SSHServer]]:
    """``start(kind, **options)``: a started server of the test's own, stopped at the end."""
    started: list[SSHServer] = []

    def start(kind: str, **options: object) -> SSHServer:
        started.append(new_server(kind, tmp_path / kind, **options).start())
        return started[-1]

    yield start
    for server in started:
        server.stop()


def _wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- the connection dies --------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_push_interrupted_by_a_crashed_server_leaves_nothing_and_a_retry_succeeds(server_of_kind, tmp_path,
                                                                                  monkeypatch, kind):
    server = server_of_kind(kind)
    local = tmp_path / "big.pte"
    local.write_bytes(os.urandom(50 * 1024 * 1024))
    target = tmp_path / "device" / "artifacts" / "big.pte"
    transport = SSHTransport.connect(server.address())
    assert transport.transfer_method == SERVER_KINDS[kind]

    def crash_after_5_mb(chunk: bytes, sent: int) -> bytes:
        if sent >= 5 * 1024 * 1024 and server.running:
            server.kill()
        return chunk

    _tap_uploads(monkeypatch, crash_after_5_mb)
    with pytest.raises((TransferError, ConnectError)) as caught:
        transport.push(local, str(target))
    assert caught.value.exit_code == 3
    assert not target.exists()
    assert all(name.startswith(".big.pte.edgeq-tmp-") for name in os.listdir(target.parent))

    monkeypatch.undo()
    server.restart()
    transport.push(local, str(target))
    assert _digest(target) == _digest(local) == transport.sha256(str(target))
    assert os.listdir(target.parent) == ["big.pte"]  # the interrupted push's temporary is gone too
    assert transport.transfer_method == SERVER_KINDS[kind]  # probed again on the new connection
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
def test_transfer_that_arrives_wrong_is_refused_and_leaves_nothing(any_ssh_transport, tmp_path, monkeypatch, fault):
    transport, root = any_ssh_transport
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
def test_file_names_with_shell_syntax_round_trip_and_run_nothing(any_ssh_transport, tmp_path, pattern):
    transport, root = any_ssh_transport
    pwned = tmp_path / "pwned"
    name = pattern.format(pwned=pwned.name)  # relative: an injected `touch` would land in the device's home
    home_pwned = Path(transport.expand("~")) / pwned.name
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



@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_a_full_disk_on_the_device_is_a_transfer_error_leaving_nothing(server_of_kind, tmp_path, kind):
    server = server_of_kind(kind, max_file_bytes=1024 * 1024)  # the device has 1 MiB left
    transport = SSHTransport.connect(server.address())
    artifact = tmp_path / "model.pte"
    artifact.write_bytes(os.urandom(3 * 1024 * 1024))
    remote = tmp_path / "device" / "artifacts" / "model.pte"
    with pytest.raises(TransferError) as info:
        transport.push(artifact, str(remote))
    assert info.value.exit_code == 3 and f"127.0.0.1:{server.port}" in str(info.value)  # names the device
    assert not remote.exists() and not list(remote.parent.iterdir())  # no partial file, no temporary
    transport.close()


def _stop_cat(server: SSHServer, touching: str) -> list[int]:
    """SIGSTOP the server's ``cat`` whose arguments or stdin/stdout name ``touching``: a transfer that stalls.

    Only that one: a login shell's start-up files may run a ``cat`` of their own (pyenv does, holding a lock).
    """
    stopped = []
    for pid in descendants(server.process.pid):
        proc = Path(f"/proc/{pid}")
        try:
            argv = [os.fsdecode(arg) for arg in (proc / "cmdline").read_bytes().split(b"\0")]
            streams = [os.readlink(proc / "fd" / fd) for fd in ("0", "1")]
        except OSError:
            continue
        if argv[0] == "cat" and any(touching in name for name in [*argv[1:], *streams]):
            os.kill(pid, signal.SIGSTOP)
            stopped.append(pid)
    return stopped


@pytest.mark.slow
@pytest.mark.parametrize("kind", EXEC_KINDS)
def test_a_stalled_upload_without_sftp_is_a_transfer_error_after_the_idle_timeout(server_of_kind, tmp_path,
                                                                                monkeypatch, kind):
    server = server_of_kind(kind)
    transport = SSHTransport.connect(server.address(), idle_timeout_s=1.0)
    local = tmp_path / "model.pte"
    local.write_bytes(os.urandom(20 * 1024 * 1024))  # far more than the SSH windows and pipes hold
    target = tmp_path / "device" / "model.pte"
    stopped: list[int] = []

    def stall_after_1_mb(chunk: bytes, sent: int) -> bytes:
        if sent >= 1024 * 1024 and not stopped:
            stopped.extend(_stop_cat(server, ".model.pte.edgeq-tmp-"))
        return chunk

    _tap_uploads(monkeypatch, stall_after_1_mb)
    started = time.monotonic()
    with pytest.raises(TransferError, match=f"127.0.0.1:{server.port}.*no data moved for 1 s"):
        transport.push(local, str(target))
    assert stopped and time.monotonic() - started < 30
    assert os.listdir(target.parent) == []  # the temporary was removed (the stopped cats die with the server)
    transport.close()


@pytest.mark.parametrize("kind", EXEC_KINDS)
def test_a_stalled_download_without_sftp_is_a_transfer_error_leaving_nothing(server_of_kind, tmp_path, monkeypatch,
                                                                              kind):
    server = server_of_kind(kind)
    transport = SSHTransport.connect(server.address(), idle_timeout_s=1.0)
    remote = tmp_path / "device" / "outputs.bin"
    remote.parent.mkdir()
    remote.write_bytes(os.urandom(20 * 1024 * 1024))
    local = tmp_path / "here" / "outputs.bin"
    stopped: list[int] = []
    recv = paramiko.Channel.recv

    def stall_once_cat_runs(channel, size):
        if not stopped:
            stopped.extend(_stop_cat(server, str(remote)))
        return recv(channel, size)

    monkeypatch.setattr(paramiko.Channel, "recv", stall_once_cat_runs)
    started = time.monotonic()
    with pytest.raises(TransferError, match=f"127.0.0.1:{server.port}.*no data moved for 1 s"):
        transport.pull(str(remote), local)
    assert stopped and time.monotonic() - started < 30
    assert os.listdir(local.parent) == []  # no partial download
    transport.close()
