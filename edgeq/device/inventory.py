"""The inventory file: device instances (address, port, user, key, serial) mapped to their profiles.

```toml
# edgeq-lab.toml
[devices.pi-desk]
profile = "rpi5"
address = "ssh://pi@192.168.1.20"    # or: host = "...", port = 22, user = "pi"
identity = "~/.ssh/id_ed25519"

tags = ["arm", "desk"]                # optional: for `edgeq lab run --tags`
max_temperature_c = 80                # optional: a lab measurement taken hotter than this is invalid

[devices.pixel]
profile = "pixel-8"
serial = "1A2B3C4D"                   # adb

[lab]                                 # optional: how `edgeq lab` runs (every key has a default)
store = "sqlite:///lab.db"            # or postgresql://user@host/db; default: edgeq-lab.db beside this file
job_timeout_s = 900
infra_retries = 2                     # an infra failure is retried at most this often, on a sibling first
invalid_requeues = 1                  # a too-hot or governor-changed measurement is taken again this often
quarantine_after = 3                  # infra failures in a row that quarantine a device
health_margin = 0.5                   # a golden latency outside median ± 50 % of its history is bad
health_history = 5                    # how many earlier good health checks make that band
```
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeq.errors import ConfigError
from edgeq.lab.policy import Budgets
from edgeq.transport.address import DeviceAddress

DEFAULT_INVENTORY = Path("edgeq-lab.toml")
_KEYS = {"profile", "address", "host", "port", "user", "serial", "identity", "known_hosts", "description", "tags",
         "max_temperature_c"}


@dataclass(frozen=True)
class DeviceEntry:
    name: str
    address: DeviceAddress
    profile: str  # a profile's name or the path of its TOML file, as the inventory names it
    description: str = ""
    tags: tuple[str, ...] = ()
    max_temperature_c: float | None = None

    @property
    def profile_name(self) -> str:
        """The name of the device's profile: how the results store knows it, the same on every host (a TOML path
        differs from host to host). A profile that does not load is known by its file's stem."""
        from edgeq.errors import ProfileError
        from edgeq.profiles import load_profile

        try:
            return load_profile(self.profile).name
        except ProfileError:
            return Path(self.profile).stem if self.profile.endswith(".toml") else self.profile


@dataclass(frozen=True)
class LabSettings:
    """The ``[lab]`` table: where results go and how patient the lab is with jobs and devices."""

    store: str | None = None  # a database URL; None: SQLite in edgeq-lab.db beside the inventory
    job_timeout_s: float = 900.0
    infra_retries: int = Budgets.infra_retries
    invalid_requeues: int = Budgets.invalid_requeues
    quarantine_after: int = Budgets.quarantine_after
    health_margin: float = 0.5
    health_history: int = 5

    @property
    def budgets(self) -> Budgets:
        """How patient a run planned from this inventory is: what the lab's one decision after an attempt reads."""
        return Budgets(self.infra_retries, self.invalid_requeues, self.quarantine_after)

    @classmethod
    def parse(cls, path: Path, table: Any) -> LabSettings:
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [lab] must be a table")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(table) - set(fields))
        if unknown:
            raise ConfigError(f"{path}: [lab]: unknown key {unknown[0]!r}", hint=f"allowed keys: {', '.join(fields)}")
        values: dict[str, Any] = {}
        for key, value in table.items():
            default = getattr(cls, key)
            if key == "store":
                ok = isinstance(value, str) and value
            elif isinstance(default, int):
                ok = isinstance(value, int) and not isinstance(value, bool) and value >= (1 if key == "quarantine_after" else 0)
            else:
                ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
            if not ok:
                kind = "a URL string" if key == "store" else ("a whole number ≥ 0" if isinstance(default, int) else "a number > 0")
                raise ConfigError(f"{path}: [lab]: key {key!r} must be {kind}, got {value!r}")
            values[key] = float(value) if isinstance(default, float) else value
        return cls(**values)


@dataclass(frozen=True)
class Inventory:
    path: Path
    devices: dict[str, DeviceEntry]
    lab: LabSettings = LabSettings()

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
        unknown = sorted(set(data) - {"devices", "lab"})
        if unknown:
            raise ConfigError(f"{path}: unknown table {unknown[0]!r}",
                              hint="devices live under [devices.NAME], lab settings under [lab]")
        devices = {name: _entry(path, name, fields) for name, fields in data.get("devices", {}).items()}
        return cls(path, devices, LabSettings.parse(path, data.get("lab", {})))

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
    tags = fields.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(tag, str) and tag for tag in tags):
        raise ConfigError(f"{where}: key 'tags' must be a list of names", hint='write it as tags = ["arm", "desk"]')
    hot = fields.get("max_temperature_c")
    if hot is not None and (isinstance(hot, bool) or not isinstance(hot, (int, float)) or hot <= 0):
        raise ConfigError(f"{where}: key 'max_temperature_c' must be a temperature in °C, got {hot!r}")
    return DeviceEntry(name, address, fields["profile"], str(fields.get("description", "")), tuple(tags),
                       None if hot is None else float(hot))


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
