"""``edgeq profiles list|show``."""

from __future__ import annotations

import click
from rich.table import Table

from edgeq.cli.output import print_json, stdout
from edgeq.profiles import list_profiles, load_profile


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
    table = Table(title="device profiles")
    for column in ("name", "arch", "engine", "transport", "formats", "cores", "isa", "description"):
        table.add_column(column)
    for p in found:
        table.add_row(p.name, p.arch, p.engine, p.transport, ",".join(p.formats), str(p.cores or "?"), ",".join(p.isa),
                      p.description)
    stdout.print(table)


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
    table = Table(title=f"profile {profile.name}", show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    for key, value in data.items():
        table.add_row(key, ", ".join(value) if isinstance(value, list) else str(value))
    stdout.print(table)
