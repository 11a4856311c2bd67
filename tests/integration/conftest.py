"""Fixtures for the integration tests: real parts (an adb client and server, sshd) on loopback."""

from adb_fixtures import adb_contract_transport, adb_device, adb_devices, adb_server, adb_transport  # noqa: F401
from ssh_fixtures import fresh_sshd, ssh_transport, sshd  # noqa: F401
