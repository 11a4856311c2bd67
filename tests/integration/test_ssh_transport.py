"""The SSH transport's everyday behaviour beyond the shared contract, against real SSH servers on loopback."""

import json
import os
import pwd
import sys

import pytest

from edgeq.errors import ConfigError, ConnectError, InternalError
from edgeq.transport import open_transport
from edgeq.transport.ssh import SSHTransport


def test_open_transport_connects_an_ssh_address(sshd):
    with open_transport("ssh", sshd.address()) as transport:
        assert isinstance(transport, SSHTransport) and transport.run(["echo", "ok"]).stdout == "ok\n"


def test_arguments_reach_the_command_exactly_as_given(ssh_transport):
    transport, _ = ssh_transport
    args = ["", "a b", "it's", '"double"', "$HOME", "*", "; echo injected", "`id`", "back\\slash", "line\nbreak", "é"]
    result = transport.run([sys.executable, "-c", "import sys, json; print(json.dumps(sys.argv[1:]))", *args])
    assert json.loads(result.stdout) == args and result.stderr == ""


def test_commands_read_an_empty_stdin_instead_of_waiting_for_one(ssh_transport):
    transport, _ = ssh_transport
    assert transport.run(["cat"], timeout_s=30).stdout == ""


def test_expand_resolves_home_on_the_device(ssh_transport):
    transport, _ = ssh_transport
    home = pwd.getpwuid(os.getuid()).pw_dir  # the login's home, not the test's $HOME
    assert transport.expand("~") == home
    assert transport.expand("~/.cache/edgeq") == os.path.join(home, ".cache/edgeq")
    assert transport.expand("/abs/~x") == "/abs/~x"


def test_close_is_idempotent_and_a_closed_transport_is_not_reused(sshd):
    transport = SSHTransport.connect(sshd.address())
    transport.close()
    transport.close()
    with pytest.raises(InternalError, match="after close"):
        transport.run(["true"])


@pytest.mark.parametrize(("server", "method"), [("sshd", "sftp"), ("sshd_no_sftp", "exec"), ("dropbear", "exec")])
def test_files_go_over_sftp_when_offered_and_through_exec_channels_otherwise(request, server, method, tmp_path):
    with SSHTransport.connect(request.getfixturevalue(server).address()) as transport:
        assert transport.transfer_method == method


def test_exec_transfers_can_be_chosen_where_sftp_is_offered(sshd, tmp_path):
    local = tmp_path / "model.pte"
    local.write_bytes(os.urandom(100_000))
    with SSHTransport.connect(sshd.address(), transfer="exec") as transport:
        transport.push(local, str(tmp_path / "device" / "model.pte"))
        transport.pull(str(tmp_path / "device" / "model.pte"), tmp_path / "back.pte")
        assert transport.transfer_method == "exec"
    assert (tmp_path / "back.pte").read_bytes() == local.read_bytes()
    assert os.listdir(tmp_path / "device") == ["model.pte"]


def test_insisting_on_sftp_where_there_is_none_is_a_connect_error_that_says_so(sshd_no_sftp, tmp_path):
    local = tmp_path / "model.pte"
    local.write_bytes(b"x")
    with SSHTransport.connect(sshd_no_sftp.address(), transfer="sftp") as transport:
        with pytest.raises(ConnectError, match="offers no SFTP"):
            transport.push(local, str(tmp_path / "device" / "model.pte"))
    assert os.listdir(tmp_path / "device") == []


def test_an_unknown_transfer_method_is_a_configuration_error(sshd):
    with pytest.raises(ConfigError, match="scp"):
        SSHTransport(sshd.address(), transfer="scp")


def test_the_transfer_method_is_probed_again_after_a_reconnect(fresh_sshd, tmp_path):
    transport = SSHTransport.connect(fresh_sshd.address())
    assert transport.transfer_method == "sftp"
    fresh_sshd.sftp = False  # the same device comes back hardened: no sftp subsystem
    fresh_sshd.restart()
    local = tmp_path / "model.pte"
    local.write_bytes(b"after the reboot")
    transport.push(local, str(tmp_path / "device" / "model.pte"))
    assert transport.transfer_method == "exec"
    assert (tmp_path / "device" / "model.pte").read_bytes() == local.read_bytes()
    transport.close()
