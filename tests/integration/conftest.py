"""Fixtures for the integration tests: real parts (an adb client and server, sshd, Dropbear, PostgreSQL) on loopback."""

from adb_fixtures import (  # noqa: F401
    adb_contract_transport, adb_device, adb_devices, adb_linux_contract_transport, adb_linux_transport, adb_server,
    adb_transport,
)
from ssh_fixtures import (  # noqa: F401
    any_ssh_transport, dropbear, dropbear_transport, fresh_sshd, ssh_no_sftp_transport, ssh_transport, sshd,
    sshd_no_sftp,
)
from postgres_fixtures import postgres, postgres_url  # noqa: F401
