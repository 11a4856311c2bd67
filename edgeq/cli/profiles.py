"""``edgeq profiles list|show``."""

from __future__ import annotations

import click
from rich import box

from edgeq.cli.output import print_json
from edgeq.cli.tables import Column, print_table
from edgeq.profiles import list_profiles, load_profile

# a narrow terminal leaves out the core count first, then the ISA flags; the description wraps
_PROFILES = (Column("name", kind="label"), Column("arch", kind="label"), Column("engine", kind="label"),
             Column("transport", kind="label"), Column("formats", kind="label"), Column("cores", drop=1),
             Column("isa", kind="label", drop=2), Column("description", kind="prose"))
_KEYS = (Column("key", kind="label"), Column("value", kind="prose"))


@click.group()
def profiles() -> None:
    """List and show device profiles."""


@profiles.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_command(as_json: bool) -> None:
    """Every shipped device profile."""
    found = list_profiles()
    if as_json:
        print_json([p.to_dict() for p in found])
        return
    print_table(_PROFILES, [{"name": p.name, "arch": p.arch, "engine": p.engine, "transport": p.transport,
                             "formats": ",".join(p.formats), "cores": str(p.cores or "?"), "isa": ",".join(p.isa),
                             "description": p.description} for p in found],
                title="device profiles", box=box.HEAVY_HEAD)


@profiles.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def show_command(name: str, as_json: bool) -> None:
    """One profile, by name or TOML path, with its defaults filled in."""
    profile = load_profile(name)
    data = profile.to_dict()
    if as_json:
        print_json(data)
        return
    print_table(_KEYS, [{"key": key, "value": ", ".join(value) if isinstance(value, list) else str(value)}
                        for key, value in data.items()],
                title=f"profile {profile.name}", show_header=False, box=box.HEAVY_HEAD)
