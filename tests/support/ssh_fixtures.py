"""pytest fixtures for the SSH transport: a real OpenSSH sshd on loopback and transports connected to it.

Registered by ``tests/integration/conftest.py``. A missing sshd fails loudly with the install command
(``sshd.require_sshd``): CI installs it, and these tests are never skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sshd import SSHServer

from edgeq.transport.ssh import SSHTransport


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHServer]:
    """One sshd for the session, for tests that leave it as they found it (no kills, no new host keys)."""
    server = SSHServer(tmp_path_factory.mktemp("sshd")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fresh_sshd(tmp_path: Path) -> Iterator[SSHServer]:
    """An sshd of the test's own, to kill or give a new host key."""
    server = SSHServer(tmp_path / "sshd").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def ssh_transport(sshd: SSHServer, tmp_path: Path) -> Iterator[tuple[SSHTransport, str]]:
    """``(transport, remote_root)``, as the transport contract suite wants: the device is this machine."""
    transport = SSHTransport.connect(sshd.address())
    try:
        yield transport, str(tmp_path / "device")
    finally:
        transport.close()
