"""The adb transport through the real Debian ``adb`` client, against the emulated device in tests/support."""

import hashlib
import os
import time

import pytest
from adb_device import AdbDevice
from adb_fixtures import adb_address, adb_linux_transport  # noqa: F401 -- a fixture

from edgeq.errors import AuthError, CommandFailed, CommandTimeout, ConfigError, ConnectError, TransferError
from edgeq.transport import open_transport
from edgeq.transport.adb import DEFAULT_WORKDIR, ADBTransport
from edgeq.transport.address import DeviceAddress

NASTY_NAME = "model with spaces; touch PWNED 'quoted' \"double\" $(id).pte"


def _connect(adb_server, device, **options):
    return ADBTransport.connect(adb_address(adb_server, device), **options)


def _files_under(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def _wait_until(condition, timeout_s=10.0):
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()


def test_run_returns_stdout_stderr_and_exit_code_through_shell_v2(adb_transport):
    result = adb_transport.run(["sh", "-c", "echo out; echo err >&2; exit 7"], check=False)
    assert adb_transport.shell_v2
    assert (result.returncode, result.stdout, result.stderr) == (7, "out\n", "err\n")


def test_run_raises_command_failed_with_the_stderr_tail(adb_transport):
    with pytest.raises(CommandFailed, match="no such thing"):
        adb_transport.run(["sh", "-c", "echo 'no such thing' >&2; exit 2"])


def test_run_returns_exit_code_on_an_old_device_without_shell_v2(adb_server, adb_devices):
    transport = _connect(adb_server, adb_devices(shell_v2=False))
    result = transport.run(["sh", "-c", "printf 'a\\nb'; exit 5"], check=False)
    assert not transport.shell_v2
    assert (result.returncode, result.stdout) == (5, "a\nb")  # no pty \r, no markers
    assert transport.run(["echo", "ok"]).stdout == "ok\n"


def test_run_carries_five_megabytes_of_output(adb_transport):
    result = adb_transport.run(["sh", "-c", "head -c 5242880 /dev/zero | tr '\\0' x; echo done >&2"])
    assert len(result.stdout) == 5 * 1024 * 1024 and set(result.stdout) == {"x"}
    assert result.stderr == "done\n"


def test_arguments_reach_the_device_literally(adb_transport, adb_device):
    argv = ["printf", "%s|", "a b", "c;touch PWNED", "'q'", '"d"', "$HOME", "`id`", "*"]
    assert adb_transport.run(argv).stdout == "a b|c;touch PWNED|'q'|\"d\"|$HOME|`id`|*|"
    assert not (adb_device.root / "PWNED").exists()


def test_push_then_pull_round_trips_with_matching_sha256(adb_transport, adb_device, tmp_path):
    local = tmp_path / "model.pte"
    local.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    remote = f"{DEFAULT_WORKDIR}/artifacts/model.pte"
    adb_transport.push(local, remote)
    digest = hashlib.sha256(local.read_bytes()).hexdigest()
    assert adb_transport.sha256(remote) == digest
    assert hashlib.sha256((adb_device.root / "edgeq/artifacts/model.pte").read_bytes()).hexdigest() == digest
    back = tmp_path / "pulled" / "model.pte"
    adb_transport.pull(remote, back)
    assert back.read_bytes() == local.read_bytes()
    assert _files_under(adb_device.root) == ["edgeq/artifacts/model.pte"]  # no temporary name left behind
    assert sorted(p.name for p in back.parent.iterdir()) == ["model.pte"]


def test_file_names_with_spaces_quotes_and_semicolons_are_not_injected(adb_transport, adb_device, tmp_path):
    local = tmp_path / NASTY_NAME
    local.write_bytes(b"weights" * 100)
    remote = f"{DEFAULT_WORKDIR}/dir with space/{NASTY_NAME}"
    adb_transport.push(local, remote)
    assert adb_transport.sha256(remote) == hashlib.sha256(local.read_bytes()).hexdigest()
    assert adb_transport.run(["cat", remote]).stdout == "weights" * 100
    back = tmp_path / "back" / NASTY_NAME
    adb_transport.pull(remote, back)
    assert back.read_bytes() == local.read_bytes()
    assert _files_under(adb_device.root) == [f"edgeq/dir with space/{NASTY_NAME}"]


def test_tilde_means_the_shell_users_writable_folder(adb_transport):
    assert adb_transport.os == "android"
    assert adb_transport.expand("~") == "/data/local/tmp"
    assert adb_transport.expand("~/.cache/edgeq") == "/data/local/tmp/.cache/edgeq"
    assert adb_transport.expand("/sdcard/x") == "/sdcard/x"


def test_open_transport_connects_adb_addresses(adb_server, adb_device):
    with open_transport("adb", adb_address(adb_server, adb_device)) as transport:
        assert isinstance(transport, ADBTransport)
        assert transport.run(["getprop", "sys.boot_completed"]).stdout.strip() == "1"


def test_unauthorized_device_is_an_auth_error_saying_to_accept_the_key(adb_server, adb_devices):
    device = adb_devices(auth="never")
    with pytest.raises(AuthError, match="unauthorized") as caught:
        _connect(adb_server, device)
    assert "RSA key prompt" in caught.value.hint and caught.value.exit_code == 3


def test_offline_device_is_a_connect_error(adb_server, adb_devices):
    device = adb_devices()
    device.go_offline()
    assert _wait_until(lambda: adb_server.state(device.serial) == "offline")
    with pytest.raises(ConnectError, match="offline") as caught:
        _connect(adb_server, device, offline_grace_s=0.5)
    assert "adb devices" in caught.value.hint


def test_device_unplugged_after_connecting_is_a_connect_error_not_a_command_failure(adb_server, adb_devices):
    device = adb_devices()
    transport = _connect(adb_server, device)
    device.disconnect()
    assert _wait_until(lambda: adb_server.state(device.serial) != "device")
    with pytest.raises(ConnectError):
        transport.run(["echo", "hi"])


def test_network_device_not_yet_connected_is_adb_connected(adb_server, tmp_path):
    with AdbDevice(tmp_path / "device") as device:
        try:
            assert adb_server.state(device.serial) == "absent"
            transport = _connect(adb_server, device)
            assert transport.run(["echo", "hi"]).stdout == "hi\n"
        finally:
            adb_server.disconnect(device)


def test_unknown_serial_is_a_connect_error(adb_server):
    address = DeviceAddress("adb", serial="EDGEQ-NO-SUCH-DEVICE", options={"server": adb_server.socket})
    with pytest.raises(ConnectError, match="no device EDGEQ-NO-SUCH-DEVICE"):
        ADBTransport.connect(address)


def test_booting_device_is_a_connect_error(adb_server, adb_devices):
    with pytest.raises(ConnectError, match="still booting") as caught:
        _connect(adb_server, adb_devices(booted=False))
    assert "getprop sys.boot_completed" in caught.value.hint


@pytest.mark.parametrize("shell_v2", [True, False], ids=["shell_v2", "old-adbd"])
def test_linux_board_without_getprop_connects_as_linux(adb_server, adb_devices, shell_v2):
    transport = _connect(adb_server, adb_devices(system="linux", shell_v2=shell_v2))
    assert (transport.os, transport.shell_v2) == ("linux", shell_v2)
    assert transport.run(["sh", "-c", "command -v getprop"], check=False).returncode != 0
    assert transport.run(["echo", "hi"]).stdout == "hi\n"


def test_tilde_on_a_linux_board_is_its_shells_home(adb_linux_transport):
    assert adb_linux_transport.expand("~") == "/home/edgeq"
    assert adb_linux_transport.expand("~/.cache/edgeq/device") == "/home/edgeq/.cache/edgeq/device"
    assert adb_linux_transport.expand("/data/local/tmp/x") == "/data/local/tmp/x"


def test_tilde_asks_the_device_when_the_transport_was_not_connected(adb_server, adb_devices):
    device = adb_devices(system="linux")
    transport = ADBTransport(device.serial, server=adb_server.socket)
    assert transport.os is None
    assert transport.expand("~/x") == "/home/edgeq/x" and transport.os == "linux"


def test_push_then_pull_round_trips_under_the_home_of_a_linux_board(adb_server, adb_devices, tmp_path):
    device = adb_devices(system="linux")
    transport = _connect(adb_server, device)
    local = tmp_path / NASTY_NAME
    local.write_bytes(os.urandom(1024 * 1024 + 3))
    remote = f"~/.cache/edgeq/device/artifacts/{NASTY_NAME}"
    transport.push(local, remote)
    digest = hashlib.sha256(local.read_bytes()).hexdigest()
    assert transport.sha256(remote) == digest
    assert transport.sha256("~/.cache/edgeq/device/missing") is None
    back = tmp_path / "back" / "model.pte"
    transport.pull(remote, back)
    assert back.read_bytes() == local.read_bytes()
    assert _files_under(device.root) == [f".cache/edgeq/device/artifacts/{NASTY_NAME}"]


@pytest.mark.parametrize("shell_v2", [True, False], ids=["shell_v2", "old-device"])
def test_hung_command_times_out_and_is_killed_on_the_device(adb_server, adb_devices, shell_v2):
    device = adb_devices(shell_v2=shell_v2)
    transport = _connect(adb_server, device)
    with pytest.raises(CommandTimeout, match="sleep did not finish within 1 s"):
        transport.run(["sleep", "600"], timeout_s=1)
    assert _wait_until(lambda: not device.running_commands()), device.running_commands()


def test_hung_device_times_out(adb_transport, adb_device):
    adb_device.state = "hung"
    with pytest.raises(CommandTimeout):
        adb_transport.run(["echo", "hi"], timeout_s=1)


def test_corrupted_push_is_a_transfer_error_leaving_nothing_at_the_final_path(adb_server, adb_devices, tmp_path):
    device = adb_devices(corrupt_push=True)
    transport = _connect(adb_server, device)
    local = tmp_path / "model.pte"
    local.write_bytes(os.urandom(200_000))
    with pytest.raises(TransferError, match="arrived corrupted"):
        transport.push(local, f"{DEFAULT_WORKDIR}/model.pte")
    assert transport.sha256(f"{DEFAULT_WORKDIR}/model.pte") is None
    assert _files_under(device.root) == []


def test_push_to_a_full_disk_is_a_transfer_error_leaving_nothing(adb_server, adb_devices, tmp_path):
    device = adb_devices(free_bytes=100_000)
    transport = _connect(adb_server, device)
    local = tmp_path / "model.pte"
    local.write_bytes(os.urandom(300_000))
    with pytest.raises(TransferError, match="No space left on device"):
        transport.push(local, f"{DEFAULT_WORKDIR}/model.pte")
    assert _files_under(device.root) == []


def test_push_where_the_shell_user_cannot_write_is_a_transfer_error(adb_transport, tmp_path):
    local = tmp_path / "model.pte"
    local.write_bytes(b"x")
    with pytest.raises(TransferError, match="Permission denied"):
        adb_transport.push(local, "/system/model.pte")


def test_missing_adb_client_is_a_config_error_with_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setenv("EDGEQ_ADB", str(tmp_path / "no-adb-here"))
    with pytest.raises(ConfigError, match="EDGEQ_ADB") as caught:
        ADBTransport("SERIAL")
    assert "apt-get install -y adb" in caught.value.hint
    monkeypatch.delenv("EDGEQ_ADB")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigError, match="not installed"):
        ADBTransport("SERIAL")
