"""The SSH transport's everyday behaviour beyond the shared contract, against a real sshd on loopback."""

import json
import os
import pwd
import sys

import pytest

from edgeq.errors import InternalError
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
