"""The inventory file: device instances (address, port, user, key, serial) mapped to their profiles.

```toml
# edgeq-lab.toml
[devices.pi-desk]
profile = "rpi5"
address = "ssh://pi@192.168.1.20"    # or: host = "...", port = 22, user = "pi"
identity = "~/.ssh/id_ed25519"

[devices.pixel]
profile = "pixel-8"
serial = "1A2B3C4D"                   # adb
```
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeq.errors import ConfigError
from edgeq.transport.address import DeviceAddress

DEFAULT_INVENTORY = Path("edgeq-lab.toml")
_KEYS = {"profile", "address", "host", "port", "user", "serial", "identity", "known_hosts", "description"}


@dataclass(frozen=True)
class DeviceEntry:
    name: str
    address: DeviceAddress
    profile: str
    description: str = ""


@dataclass(frozen=True)
class Inventory:
    path: Path
    devices: dict[str, DeviceEntry]

    @classmethod
    def load(cls, path: Path) -> Inventory:
        """Parse and validate ``path``; every error names the file, the device and the key."""
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"inventory {path} does not exist",
                              hint="create it (see docs/devices.md) or pass --device ssh://… / adb://…") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
        unknown = sorted(set(data) - {"devices"})
        if unknown:
            raise ConfigError(f"{path}: unknown table {unknown[0]!r}", hint="devices live under [devices.NAME]")
        devices = {name: _entry(path, name, fields) for name, fields in data.get("devices", {}).items()}
        return cls(path, devices)

    def get(self, name: str) -> DeviceEntry:
        if name not in self.devices:
            raise ConfigError(f"{self.path} has no device named {name!r}",
                              hint=f"known: {', '.join(sorted(self.devices)) or 'none'}")
        return self.devices[name]


def _entry(path: Path, name: str, fields: Any) -> DeviceEntry:
    where = f"{path}: device {name!r}"
    if not isinstance(fields, dict):
        raise ConfigError(f"{where} must be a table", hint=f"write it as [devices.{name}]")
    unknown = sorted(set(fields) - _KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}", hint=f"allowed keys: {', '.join(sorted(_KEYS))}")
    if not isinstance(fields.get("profile"), str):
        raise ConfigError(f"{where}: key 'profile' is required", hint="name a profile (edgeq profiles list) or a .toml path")
    connection = {key: Path(fields[key]).expanduser() for key in ("identity", "known_hosts") if key in fields}
    if "address" in fields:
        address = DeviceAddress.parse(str(fields["address"]), **connection)
    elif "serial" in fields:
        address = DeviceAddress("adb", serial=str(fields["serial"]), **connection)
    elif "host" in fields:
        port = fields.get("port")
        if port is not None and (not isinstance(port, int) or not 0 < port < 65536):
            raise ConfigError(f"{where}: key 'port' must be a TCP port number, got {port!r}")
        address = DeviceAddress("ssh", host=str(fields["host"]), port=port, user=fields.get("user"), **connection)
    else:
        raise ConfigError(f"{where}: no way to reach it", hint="give 'address' (ssh://… or adb://…), 'host', or 'serial'")
    return DeviceEntry(name, address, fields["profile"], str(fields.get("description", "")))


def resolve_device(device: str | None, *, inventory: Path | None = None, identity: Path | None = None,
                   known_hosts: Path | None = None, trust_new_host: bool = False) -> tuple[DeviceAddress | None, str | None]:
    """``--device`` as an address, and the profile the inventory names for it (None for a bare address)."""
    if device is None:
        return None, None
    connection: dict[str, Any] = {"trust_new_host": trust_new_host}
    if "://" in device or device == "local":
        for key, value in (("identity", identity), ("known_hosts", known_hosts)):
            if value is not None:
                connection[key] = value
        return DeviceAddress.parse(device, **connection), None
    entry = Inventory.load(inventory or DEFAULT_INVENTORY).get(device)
    overrides = {key: value for key, value in (("identity", identity), ("known_hosts", known_hosts)) if value is not None}
    return dataclasses.replace(entry.address, **overrides, trust_new_host=trust_new_host), entry.profile
