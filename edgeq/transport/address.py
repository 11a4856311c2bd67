"""Where a device is: ``ssh://user@host[:port]``, ``adb://SERIAL``, or ``local``; parsed once, validated."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from edgeq.errors import ConfigError

SCHEMES = ("local", "ssh", "adb")


@dataclass(frozen=True)
class DeviceAddress:
    """A device instance to connect to, with the connection options that go with it."""

    kind: str  # local | ssh | adb
    host: str = ""
    port: int | None = None
    user: str | None = None
    serial: str | None = None
    identity: Path | None = None  # SSH private key
    known_hosts: Path | None = None  # SSH known_hosts file to check host keys against (and extend on trust)
    trust_new_host: bool = False  # accept and record an unknown SSH host key (never a changed one)
    options: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str, **connection: object) -> DeviceAddress:
        """Parse a ``--device`` value; ``connection`` carries ``identity``, ``known_hosts``, ``trust_new_host``."""
        if text == "local":
            return cls("local", **connection)  # type: ignore[arg-type]
        parsed = urllib.parse.urlsplit(text)
        if parsed.scheme == "ssh":
            if not parsed.hostname:
                raise ConfigError(f"device {text!r} names no host", hint="write it as ssh://user@host[:port]")
            try:
                port = parsed.port
            except ValueError as exc:
                raise ConfigError(f"device {text!r} has a bad port", hint="write it as ssh://user@host:2222") from exc
            return cls("ssh", host=parsed.hostname, port=port, user=parsed.username or None, **connection)  # type: ignore[arg-type]
        if parsed.scheme == "adb":
            serial = urllib.parse.unquote(parsed.netloc + parsed.path)
            if not serial:
                raise ConfigError(f"device {text!r} names no serial", hint="write it as adb://SERIAL (see `adb devices`)")
            query = dict(urllib.parse.parse_qsl(parsed.query))
            unknown = sorted(set(query) - {"server"})
            if unknown:
                raise ConfigError(f"device {text!r}: unknown option {unknown[0]!r}",
                                  hint="the one option is ?server=tcp:HOST:PORT (which adb server to ask)")
            return cls("adb", serial=serial, options=query, **connection)  # type: ignore[arg-type]
        raise ConfigError(f"cannot read device {text!r}",
                          hint="use ssh://user@host[:port], adb://SERIAL, or a device name from the inventory")

    def __str__(self) -> str:
        if self.kind == "ssh":
            user = f"{self.user}@" if self.user else ""
            port = f":{self.port}" if self.port else ""
            return f"ssh://{user}{self.host}{port}"
        if self.kind == "adb":
            return f"adb://{self.serial}"
        return "local"
