"""pytest fixtures for the adb transport: a private adb server, emulated devices, connected transports.

Registered by ``tests/integration/conftest.py``. A missing ``adb`` client fails loudly with the install
command (``adb_server.adb_binary``): CI installs it, and these tests are never skipped.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
from adb_device import AdbDevice
from adb_server import AdbServer, connected_device

from edgeq.transport.adb import ADBTransport
from edgeq.transport.address import DeviceAddress


@pytest.fixture(scope="session")
def adb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AdbServer]:
    """One adb server for the session on a free port, with its own key and log; killed at the end."""
    server = AdbServer(home=tmp_path_factory.mktemp("adb-home")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def adb_devices(adb_server: AdbServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., AdbDevice]]:
    """Make emulated devices (``AdbDevice`` options), each ``adb connect``-ed; all disconnected and stopped after."""
    counter = itertools.count()
    with ExitStack() as stack:
        def make(**options: object) -> AdbDevice:
            root = tmp_path_factory.mktemp(f"adb-device-{next(counter)}")
            return stack.enter_context(connected_device(adb_server, root, **options))
        yield make


@pytest.fixture
def adb_device(adb_devices: Callable[..., AdbDevice]) -> AdbDevice:
    """An online device with shell_v2."""
    return adb_devices()


def adb_address(server: AdbServer, device: AdbDevice) -> DeviceAddress:
    """The address of an emulated device, reached through the private server."""
    return DeviceAddress("adb", serial=device.serial, options={"server": server.socket})


@pytest.fixture
def adb_transport(adb_server: AdbServer, adb_device: AdbDevice) -> Iterator[ADBTransport]:
    transport = ADBTransport.connect(adb_address(adb_server, adb_device))
    yield transport
    transport.close()


@pytest.fixture
def adb_contract_transport(adb_transport: ADBTransport) -> tuple[ADBTransport, str]:
    """``(transport, remote_root)`` for the transport contract suite."""
    return adb_transport, "/data/local/tmp/contract"


@pytest.fixture
def adb_linux_transport(adb_server: AdbServer, adb_devices: Callable[..., AdbDevice]) -> Iterator[ADBTransport]:
    """A transport to an emulated Linux board running adbd: no ``getprop``, ``~`` is its shell's ``$HOME``."""
    transport = ADBTransport.connect(adb_address(adb_server, adb_devices(system="linux")))
    yield transport
    transport.close()


@pytest.fixture
def adb_linux_contract_transport(adb_linux_transport: ADBTransport) -> tuple[ADBTransport, str]:
    """``(transport, remote_root)`` for the transport contract suite, on a Linux board (under its home)."""
    return adb_linux_transport, "~/contract"
