"""Transports: how edgeq reaches a device. ``local`` here; SSH and adb plug in behind the same contract."""

from __future__ import annotations

from edgeq.errors import ConfigError
from edgeq.transport.base import CommandResult, Transport
from edgeq.transport.fake import FakeTransport
from edgeq.transport.local import LocalTransport


def open_transport(kind: str) -> Transport:
    """The transport a profile names; only ``local`` needs no device address."""
    if kind == "local":
        return LocalTransport()
    raise ConfigError(f"transport {kind!r} needs a device address",
                      hint="SSH and adb devices are not supported yet; run with --profile host")


__all__ = ["CommandResult", "FakeTransport", "LocalTransport", "Transport", "open_transport"]
