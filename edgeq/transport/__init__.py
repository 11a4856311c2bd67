"""Transports: how edgeq reaches a device. Every one offers the same verbs (see ``base.Transport``).

The SSH and adb transports are imported when a device needs them (paramiko is slow to import); the
rest is light, so the CLI can parse a ``DeviceAddress`` without loading either.
"""

from __future__ import annotations

import importlib

from edgeq.errors import ConfigError
from edgeq.transport.address import DeviceAddress
from edgeq.transport.base import CommandResult, Transport
from edgeq.transport.fake import FakeTransport
from edgeq.transport.local import LocalTransport

# kind -> (module, class); each class has ``connect(address) -> Transport``. Imported on first use
# (paramiko alone takes a while to import).
_TRANSPORTS = {
    "local": ("edgeq.transport.local", "LocalTransport"),
    "ssh": ("edgeq.transport.ssh", "SSHTransport"),
    "adb": ("edgeq.transport.adb", "ADBTransport"),
}


def open_transport(kind: str, address: DeviceAddress | None = None) -> Transport:
    """A connected transport of ``kind`` (the profile's) to ``address`` (the device instance)."""
    if address is None:
        if kind != "local":
            raise ConfigError(f"the profile's transport is {kind!r}: it needs a device address",
                              hint=f"pass --device {'ssh://user@host' if kind == 'ssh' else 'adb://SERIAL'}")
        return LocalTransport()
    if address.kind != kind:
        raise ConfigError(f"device {address} is reached over {address.kind}, but the profile says {kind!r}",
                          hint="pick a profile for this device, or the device address that matches the profile")
    module, name = _TRANSPORTS[kind]
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"the {kind} transport is not available in this build of edgeq") from exc
    return cls.connect(address)


__all__ = ["CommandResult", "DeviceAddress", "FakeTransport", "LocalTransport", "Transport", "open_transport"]
