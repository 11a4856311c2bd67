"""The options every device command shares: which device, which profile, how to connect."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from edgeq.device import DEFAULT_INVENTORY, resolve_device
from edgeq.profiles import DeviceProfile, load_profile
from edgeq.quantize.spec import SCHEME_CHOICES
from edgeq.transport import DeviceAddress


def device_options(command: Callable[..., Any] | None = None, *,
                   default_profile: str | None = "host") -> Callable[..., Any]:
    """Add ``--profile --device --inventory --identity --known-hosts --trust-new-host``; the command gets
    ``profile`` (a DeviceProfile, or None when neither is given and ``default_profile`` is None) and
    ``device`` (a DeviceAddress or None) instead."""
    if command is None:
        return functools.partial(device_options, default_profile=default_profile)

    @click.option("--profile", "profile_name", default=None,
                  help="Device profile name or TOML path [default: the inventory's for --device"
                       + (f", else {default_profile}]." if default_profile else "]."))
    @click.option("--device", default=None,
                  help="ssh://user@host[:port], adb://SERIAL, or a device name from the inventory.")
    @click.option("--inventory", type=click.Path(dir_okay=False, path_type=Path), default=None,
                  help=f"Inventory of device instances [default: ./{DEFAULT_INVENTORY}].")
    @click.option("--identity", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
                  help="SSH private key.")
    @click.option("--known-hosts", type=click.Path(dir_okay=False, path_type=Path), default=None,
                  help="SSH known_hosts file [default: ~/.ssh/known_hosts].")
    @click.option("--trust-new-host", is_flag=True,
                  help="Accept and record an SSH host key seen for the first time (a changed key is always refused).")
    @functools.wraps(command)
    def wrapper(*args: Any, profile_name: str | None, device: str | None, inventory: Path | None,
                identity: Path | None, known_hosts: Path | None, trust_new_host: bool, **kwargs: Any) -> Any:
        address, inventory_profile = resolve_device(device, inventory=inventory, identity=identity,
                                                    known_hosts=known_hosts, trust_new_host=trust_new_host)
        name = profile_name or inventory_profile or default_profile
        profile = load_profile(name) if name else None
        return command(*args, profile=profile, device=address, **kwargs)

    return wrapper


__all__ = ["SCHEME_CHOICES", "DeviceAddress", "DeviceProfile", "device_options"]
