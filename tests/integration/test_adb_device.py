"""The adb device emulator itself: the real client sees a device, and the wire protocol follows the spec."""

import socket
import struct
import subprocess
import threading
import time

import pytest
from adb_device import (
    A_CLSE,
    A_CNXN,
    A_OKAY,
    A_OPEN,
    A_VERSION_MIN,
    A_WRTE,
    AdbDevice,
    Message,
    pack_message,
    read_message,
)


def _wait_until(condition, timeout_s=10.0):
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()


def _raw_adb(server, *args):
    """The real client with bytes out, so pty newlines stay visible."""
    return subprocess.run([server.binary, *args], capture_output=True, env=server.env, stdin=subprocess.DEVNULL,
                          timeout=30)


class _WireClient:
    """A bare protocol peer speaking version 0x01000000 (checksums on) with a small max payload."""

    def __init__(self, device, *, max_payload=4096):
        self.sock = socket.create_connection(("127.0.0.1", device.port), timeout=10)
        self.max_payload = max_payload

    def send(self, command, arg0, arg1, payload=b""):
        self.sock.sendall(pack_message(Message(command, arg0, arg1, payload)))

    def receive(self):
        return read_message(self.sock, max_payload=1 << 20, check_sum=True)

    def close(self):
        self.sock.close()


def test_real_client_runs_a_shell_command_on_the_device(adb_server, adb_device):
    result = adb_server.adb("-s", adb_device.serial, "shell", "echo hi")
    assert (result.returncode, result.stdout) == (0, "hi\n")
    assert adb_device.opened[-1].startswith("shell,v2,") and adb_device.opened[-1].endswith(":echo hi")


def test_real_client_lists_the_device_with_its_features(adb_server, adb_device):
    assert adb_server.state(adb_device.serial) == "device"
    features = adb_server.adb("-s", adb_device.serial, "features").stdout.split()
    assert {"shell_v2", "cmd", "stat_v2"} <= set(features)


def test_shell_v2_keeps_stderr_apart_and_returns_the_exit_code(adb_server, adb_device):
    result = adb_server.adb("-s", adb_device.serial, "shell", "echo out; echo err >&2; exit 3")
    assert (result.returncode, result.stdout, result.stderr) == (3, "out\n", "err\n")


def test_shell_v2_forwards_stdin_until_it_closes(adb_server, adb_device):
    result = subprocess.run([adb_server.binary, "-s", adb_device.serial, "shell", "-T", "tr a-z A-Z"],
                            input="hello\n", capture_output=True, text=True, env=adb_server.env, timeout=30)
    assert result.stdout == "HELLO\n"


def test_old_device_merges_streams_with_pty_newlines_and_no_exit_code(adb_server, adb_devices):
    device = adb_devices(shell_v2=False)
    result = _raw_adb(adb_server, "-s", device.serial, "shell", "echo out; echo err >&2; exit 3")
    assert (result.returncode, result.stdout) == (0, b"out\r\nerr\r\n")
    assert device.opened[-1] == "shell:echo out; echo err >&2; exit 3"


def test_commands_see_data_local_tmp_as_the_device_folder(adb_server, adb_device):
    (adb_device.root / "note.txt").write_text("on the device\n")
    command = "cat /data/local/tmp/note.txt; getprop ro.build.version.sdk"
    result = adb_server.adb("-s", adb_device.serial, "shell", command)
    assert result.stdout == "on the device\n29\n"


def test_linux_board_has_no_getprop_and_its_home_is_the_device_folder(adb_server, adb_devices, tmp_path):
    board = adb_devices(system="linux")
    (board.root / "note.txt").write_text("on the board\n")
    result = adb_server.adb("-s", board.serial, "shell", 'command -v getprop; echo "$HOME"; cat /home/edgeq/note.txt')
    assert result.stdout == "/home/edgeq\non the board\n"
    push = adb_server.adb("-s", board.serial, "push", str(board.root / "note.txt"), "/home/edgeq/a/note.txt")
    assert push.returncode == 0 and (board.root / "a/note.txt").read_text() == "on the board\n"


def test_sync_push_makes_folders_and_pull_returns_the_bytes(adb_server, adb_device, tmp_path):
    local = tmp_path / "blob"
    local.write_bytes(bytes(range(256)) * 1000)
    push = adb_server.adb("-s", adb_device.serial, "push", str(local), "/data/local/tmp/a/b/blob")
    assert push.returncode == 0, push.stdout + push.stderr
    assert (adb_device.root / "a/b/blob").read_bytes() == local.read_bytes()
    pull = adb_server.adb("-s", adb_device.serial, "pull", "/data/local/tmp/a/b/blob", str(tmp_path / "back"))
    assert pull.returncode == 0 and (tmp_path / "back").read_bytes() == local.read_bytes()


@pytest.mark.parametrize(("shell_v2", "message"), [(True, "No such file or directory"), (False, "does not exist")],
                         ids=["stat_v2-errno", "stat_v1-zero-mode"])
def test_sync_pull_of_a_missing_file_fails_in_the_client(adb_server, adb_devices, tmp_path, shell_v2, message):
    device = adb_devices(shell_v2=shell_v2)  # the old device has no stat_v2 either: the client falls back to STAT
    result = adb_server.adb("-s", device.serial, "pull", "/data/local/tmp/missing", str(tmp_path / "x"))
    assert result.returncode != 0 and message in result.stdout + result.stderr


def test_sync_lists_a_folder(adb_server, adb_device):
    (adb_device.root / "b.bin").write_bytes(b"12345")
    (adb_device.root / "b.bin").chmod(0o644)
    (adb_device.root / "a").mkdir()
    listing = adb_server.adb("-s", adb_device.serial, "ls", "/data/local/tmp").stdout.splitlines()
    assert [line.split()[-1] for line in listing] == ["a", "b.bin"]
    assert listing[1].split()[:2] == ["000081a4", "00000005"]  # mode 0100644, size 5


def test_sync_refuses_paths_outside_data_local_tmp(adb_server, adb_device, tmp_path):
    local = tmp_path / "blob"
    local.write_bytes(b"x")
    result = adb_server.adb("-s", adb_device.serial, "push", str(local), "/system/blob")
    assert result.returncode != 0 and "Permission denied" in result.stdout + result.stderr


def test_unauthorized_device_comes_online_when_the_key_is_accepted(adb_server, adb_devices):
    device = adb_devices(auth="never")
    assert adb_server.state(device.serial) == "unauthorized"
    device.authorize()
    assert _wait_until(lambda: adb_server.state(device.serial) == "device")


def test_offline_device_stays_offline_in_the_client(adb_server, adb_devices):
    device = adb_devices()
    device.go_offline()
    assert _wait_until(lambda: adb_server.state(device.serial) == "offline")


def test_negotiates_version_and_max_payload_with_an_old_client(tmp_path):
    with AdbDevice(tmp_path / "device") as device:
        client = _WireClient(device)
        client.send(A_CNXN, A_VERSION_MIN, client.max_payload, b"host::\0")
        reply = client.receive()
        assert (reply.command, reply.arg0) == (A_CNXN, A_VERSION_MIN)
        assert b"features=shell_v2,cmd,stat_v2" in reply.payload
        client.send(A_OPEN, 7, 0, b"shell,v2,raw:head -c 20000 /dev/zero\0")
        assert client.receive().command == A_OKAY
        packets = bytearray()
        while (message := client.receive()).command == A_WRTE:
            assert len(message.payload) <= client.max_payload  # the client's limit, not the device's
            packets += message.payload
            client.send(A_OKAY, 7, message.arg0)
        assert message.command == A_CLSE
        stdout = bytearray()
        while packets:
            kind, length = struct.unpack("<BI", packets[:5])
            if kind == 1:
                stdout += packets[5:5 + length]
            del packets[:5 + length]
        assert stdout == bytes(20000)
        client.close()


def test_drops_a_connection_whose_checksum_is_wrong_before_version_0x01000001(tmp_path):
    with AdbDevice(tmp_path / "device") as device:
        client = _WireClient(device)
        client.send(A_CNXN, A_VERSION_MIN, client.max_payload, b"host::\0")
        client.receive()
        bad = bytearray(pack_message(Message(A_OPEN, 1, 0, b"shell,v2,raw:true\0")))
        bad[16] ^= 0xFF  # the checksum word
        client.sock.sendall(bad)
        assert client.receive() is None
        client.close()


def test_stop_kills_commands_left_running_and_ends_its_threads(tmp_path):
    device = AdbDevice(tmp_path / "device").start()
    client = _WireClient(device)
    client.send(A_CNXN, A_VERSION_MIN, client.max_payload, b"host::\0")
    client.receive()
    client.send(A_OPEN, 1, 0, b"shell,v2,raw:sleep 600\0")
    assert client.receive().command == A_OKAY
    assert _wait_until(lambda: device.running_commands())
    device.stop()
    assert device.running_commands() == []
    ours = ("adb-conn", "adb-svc", f"adb-device-{device.port}")
    assert not [t for t in threading.enumerate() if t.name.startswith(ours)]
    client.close()


def test_rejects_a_device_root_that_cannot_be_pasted_into_commands(tmp_path):
    with pytest.raises(ValueError, match="plain path"):
        AdbDevice(tmp_path / "it's")
