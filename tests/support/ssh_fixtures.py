"""pytest fixtures for the SSH transport: real SSH servers on loopback and transports connected to them.

Three kinds of server, as devices have them: OpenSSH with SFTP, OpenSSH without the sftp subsystem
(hardened), and Dropbear (many boards; no SFTP either). Registered by ``tests/integration/conftest.py``.
A missing server fails loudly with the install command (``sshd.require_sshd``,
``dropbear.require_dropbear``): CI installs both, and these tests are never skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dropbear import DropbearServer
from sshd import SSHServer

from edgeq.transport.ssh import SSHTransport

# kind -> how files move to it: the SFTP path, and the exec (cat) fallback on both servers without SFTP.
SERVER_KINDS = {"openssh": "sftp", "openssh-no-sftp": "exec", "dropbear": "exec"}


def new_server(kind: str, root: Path, **options: object) -> SSHServer:
    """A server of ``kind`` (one of ``SERVER_KINDS``), not started; ``options`` as ``SSHServer`` takes them."""
    if kind == "dropbear":
        return DropbearServer(root, **options)  # type: ignore[arg-type]
    return SSHServer(root, sftp=kind == "openssh", **options)  # type: ignore[arg-type]


def _session_server(tmp_path_factory: pytest.TempPathFactory, kind: str) -> Iterator[SSHServer]:
    server = new_server(kind, tmp_path_factory.mktemp(kind)).start()
    try:
        yield server
    finally:
        server.stop()


def _connected(server: SSHServer, tmp_path: Path) -> Iterator[tuple[SSHTransport, str]]:
    transport = SSHTransport.connect(server.address())
    try:
        yield transport, str(tmp_path / "device")
    finally:
        transport.close()


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHServer]:
    """One sshd for the session, for tests that leave it as they found it (no kills, no new host keys)."""
    yield from _session_server(tmp_path_factory, "openssh")


@pytest.fixture(scope="session")
def sshd_no_sftp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHServer]:
    """One sshd without the sftp subsystem for the session, left as it was found."""
    yield from _session_server(tmp_path_factory, "openssh-no-sftp")


@pytest.fixture(scope="session")
def dropbear(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHServer]:
    """One Dropbear server (no SFTP) for the session, left as it was found."""
    yield from _session_server(tmp_path_factory, "dropbear")


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
    yield from _connected(sshd, tmp_path)


@pytest.fixture
def ssh_no_sftp_transport(sshd_no_sftp: SSHServer, tmp_path: Path) -> Iterator[tuple[SSHTransport, str]]:
    """``(transport, remote_root)`` to the sshd without SFTP: files go through exec channels."""
    yield from _connected(sshd_no_sftp, tmp_path)


@pytest.fixture
def dropbear_transport(dropbear: SSHServer, tmp_path: Path) -> Iterator[tuple[SSHTransport, str]]:
    """``(transport, remote_root)`` to Dropbear: files go through exec channels."""
    yield from _connected(dropbear, tmp_path)


@pytest.fixture(params=list(SERVER_KINDS))
def any_ssh_transport(request: pytest.FixtureRequest) -> tuple[SSHTransport, str]:
    """``(transport, remote_root)`` to each kind of server in turn, for behaviour every one must share."""
    fixture = {"openssh": "ssh_transport", "openssh-no-sftp": "ssh_no_sftp_transport",
               "dropbear": "dropbear_transport"}[request.param]
    return request.getfixturevalue(fixture)
