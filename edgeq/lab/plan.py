"""What a lab run is asked to do, and the matrix it expands to: models × devices × formats × schemes.

A job is one variant of one model on one device. Artifacts depend only on the profile, so a
``BuildKey`` (model, profile, scheme, format) is built once and measured on every device of that
profile.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeq.device.inventory import DeviceEntry, Inventory
from edgeq.errors import ConfigError
from edgeq.quantize.spec import RUN_SCHEME_CHOICES

# fp32, and the scheme edgeq expects to be fastest for each model (8da4w for a language model); a scheme that does
# not apply to a model (8da4w to a CNN, static to a language model) is not planned for it
DEFAULT_SCHEMES = ("none", "auto")


@dataclass(frozen=True)
class LabRequest:
    """``edgeq lab run``'s arguments. Empty ``devices``/``tags``/``profiles`` select every device."""

    models: tuple[str, ...]
    devices: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    profiles: tuple[str, ...] = ()
    schemes: tuple[str, ...] = DEFAULT_SCHEMES
    formats: tuple[str, ...] = ()  # empty: each profile's first format
    runs: int = 20
    warmup: int = 3
    label: str | None = None
    reuse: bool = False  # skip jobs whose exact measurement is already in the store
    resume: str | None = None  # finish this earlier run: only what is missing

    def __post_init__(self) -> None:
        if not self.models:
            raise ConfigError("a lab run needs at least one model", hint="pass --models zoo:digits-cnn …")
        for scheme in self.schemes:
            if scheme not in RUN_SCHEME_CHOICES:
                raise ConfigError(f"unknown scheme {scheme!r} in --schemes", hint=f"use: {', '.join(RUN_SCHEME_CHOICES)}")
        if self.runs < 1 or self.warmup < 0:
            raise ConfigError("--runs must be ≥ 1 and --warmup ≥ 0")

    def to_dict(self) -> dict[str, object]:
        return {"models": list(self.models), "devices": list(self.devices), "tags": list(self.tags),
                "profiles": list(self.profiles), "schemes": list(self.schemes), "formats": list(self.formats),
                "runs": self.runs, "warmup": self.warmup}


def select_devices(inventory: Inventory, request: LabRequest) -> list[DeviceEntry]:
    """The inventory's devices the request names; an unknown name, tag or profile is an error naming it."""
    entries = list(inventory.devices.values())
    if not entries:
        raise ConfigError(f"{inventory.path} names no devices", hint="add [devices.NAME] tables (see docs/lab.md)")
    if request.devices:
        for name in request.devices:
            inventory.get(name)
        entries = [e for e in entries if e.name in request.devices]
    if request.tags:
        known = {tag for e in inventory.devices.values() for tag in e.tags}
        for tag in request.tags:
            if tag not in known:
                raise ConfigError(f"{inventory.path}: no device is tagged {tag!r} (--tags)",
                                  hint=f"tags in use: {', '.join(sorted(known)) or 'none'}")
        entries = [e for e in entries if set(request.tags) & set(e.tags)]
    if request.profiles:
        known = {e.profile for e in inventory.devices.values()}
        for profile in request.profiles:
            if profile not in known:
                raise ConfigError(f"{inventory.path}: no device uses profile {profile!r} (--profiles)",
                                  hint=f"profiles in use: {', '.join(sorted(known))}")
        entries = [e for e in entries if e.profile in request.profiles]
    if not entries:
        raise ConfigError(f"{inventory.path}: no device matches all of --devices, --tags and --profiles")
    return entries


@dataclass(frozen=True)
class BuildKey:
    """One artifact: shared by every device of the profile."""

    model: str
    profile: str
    scheme: str  # resolved: never "auto"
    format: str


@dataclass(frozen=True)
class PlannedJob:
    build: BuildKey
    device: str  # where the matrix puts it (a retry may move it to a sibling of the same profile)
