"""The host side for tests of the adb device emulator: the real ``adb`` client and a private adb server.

The server listens on its own free port (``ADB_SERVER_SOCKET=tcp:localhost:PORT``) with its own ``HOME``
(its RSA key) and ``TMPDIR`` (its log), so tests never meet a user's adb server; ``stop()`` kills it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from adb_device import AdbDevice


def adb_binary() -> str:
    """The adb client: ``EDGEQ_ADB`` or ``adb`` on PATH; a loud error with the install command otherwise."""
    found = os.environ.get("EDGEQ_ADB") or shutil.which("adb")
    if not found:
        raise RuntimeError("the adb client is missing: install it with `sudo apt-get install -y adb` "
                           "(Debian/Ubuntu) or point EDGEQ_ADB at it; .ci/run installs it")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AdbServer:
    """A private adb server on its own port (``ADB_SERVER_SOCKET``), so tests never touch a user's server."""

    def __init__(self, port: int | None = None, home: Path | None = None) -> None:
        self.binary = adb_binary()
        self.port = port or free_port()
        self.home = home

    @property
    def socket(self) -> str:
        """The server's address in adb's own notation (``ADB_SERVER_SOCKET``)."""
        return f"tcp:localhost:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ, ADB_SERVER_SOCKET=self.socket)
        if self.home is not None:
            env["HOME"] = str(self.home)  # where the server keeps its RSA key
            env["TMPDIR"] = str(self.home)  # and its log, away from a user's /tmp/adb.UID.log
        return env

    def adb(self, *args: str, timeout_s: float = 30) -> subprocess.CompletedProcess:
        """Run the real client against this server."""
        return subprocess.run([self.binary, *args], capture_output=True, text=True,
                              timeout=timeout_s, env=self.env, stdin=subprocess.DEVNULL)

    def start(self) -> AdbServer:
        if self.home is not None:
            (self.home / ".android").mkdir(parents=True, exist_ok=True)
        result = self.adb("start-server")
        if result.returncode != 0:
            raise RuntimeError(f"adb start-server failed: {result.stderr.strip()}")
        return self

    def stop(self) -> None:
        self.adb("kill-server")

    def connect(self, device: AdbDevice, *, timeout_s: float = 10) -> str:
        """``adb connect`` the device; returns its state once the handshake settled (device, unauthorized, ...)."""
        self.adb("connect", device.serial, timeout_s=timeout_s)
        return self.state(device.serial)

    def disconnect(self, device: AdbDevice) -> None:
        self.adb("disconnect", device.serial)

    def state(self, serial: str) -> str:
        """The state ``adb devices`` shows for ``serial``, or "absent"."""
        for line in self.adb("devices").stdout.splitlines()[1:]:
            name, _, state = line.partition("\t")
            if name == serial:
                return state.strip()
        return "absent"


@contextmanager
def connected_device(server: AdbServer, root: Path, **options: object) -> Iterator[AdbDevice]:
    """An emulated device, started and ``adb connect``-ed; disconnected and stopped afterwards."""
    device = AdbDevice(root, **options).start()  # type: ignore[arg-type]
    try:
        server.connect(device)
        yield device
    finally:
        server.disconnect(device)
        device.stop()
