"""A lab host of its own: a Linux network namespace joined to this one by a veth pair, that a test can cut off.

    with NetworkHost("edgeq-a") as host:
        subprocess.run(host.prefix + ["python", "worker.py", ...])   # runs inside the namespace
        host.cut()    # the host vanishes from the network: its packets go nowhere, no reset is sent
        host.heal()

The namespace reaches this host only at ``host.gateway`` (the veth's end here); servers that the host's
processes use must listen on that address too. Needs root (``ip netns``), as CI runs.
"""

from __future__ import annotations

import random
import shutil
import subprocess


class NetworkHost:
    def __init__(self, name: str) -> None:
        if shutil.which("ip") is None:
            raise RuntimeError("the `ip` command (Debian's iproute2) is needed for network-namespace hosts")
        suffix = f"{random.randrange(16 ** 4):04x}"
        self.name = f"{name}-{suffix}"
        self._outside, self._inside = f"eqo{suffix}", f"eqi{suffix}"
        subnet = random.randrange(1, 250)
        self.gateway, self.address = f"10.251.{subnet}.1", f"10.251.{subnet}.2"  # a /30 of our own veth pair

    @property
    def prefix(self) -> list[str]:
        """The argv prefix that runs a command inside the namespace."""
        return ["ip", "netns", "exec", self.name]

    def __enter__(self) -> NetworkHost:
        try:
            self._ip("netns", "add", self.name)
            self._ip("link", "add", self._outside, "type", "veth", "peer", "name", self._inside)
            self._ip("link", "set", self._inside, "netns", self.name)
            self._ip("addr", "add", f"{self.gateway}/30", "dev", self._outside)
            self._ip("link", "set", self._outside, "up")
            self._ip("-n", self.name, "addr", "add", f"{self.address}/30", "dev", self._inside)
            self._ip("-n", self.name, "link", "set", self._inside, "up")
            self._ip("-n", self.name, "link", "set", "lo", "up")
        except BaseException:
            self.__exit__()
            raise
        return self

    def cut(self) -> None:
        """Take the host off the network: the link goes down on both ends, as when a cable is pulled."""
        self._ip("link", "set", self._outside, "down")
        self._ip("-n", self.name, "link", "set", self._inside, "down")

    def heal(self) -> None:
        self._ip("link", "set", self._outside, "up")
        self._ip("-n", self.name, "link", "set", self._inside, "up")

    def __exit__(self, *exc_info: object) -> None:
        subprocess.run(["ip", "link", "del", self._outside], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)

    @staticmethod
    def _ip(*args: str) -> None:
        done = subprocess.run(["ip", *args], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"ip {' '.join(args)} failed: {done.stderr.strip()}")
