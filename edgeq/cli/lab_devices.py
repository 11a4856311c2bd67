"""``edgeq lab devices``, ``release``, ``retire`` and ``status``: the lab's devices and workers."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from edgeq.cli.lab_views import print_devices, print_status
from edgeq.cli.options import inventory_options
from edgeq.cli.output import line, print_json


@click.command("devices")
@inventory_options
@click.option("--json", "as_json", is_flag=True, help="Print the devices as JSON on stdout.")
def devices(inventory: Path, store: str | None, as_json: bool) -> None:
    """Each device's profile, tags, health (and why, since when), last health check and recent failures."""
    from edgeq.lab import runs

    inventory_data, opened = runs.open_lab(inventory, store)
    records = runs.devices(opened, inventory_data)
    if as_json:
        print_json([dataclasses.asdict(record) for record in records])
    else:
        print_devices(records)


@click.command("release")
@click.argument("device")
@inventory_options
def release(device: str, inventory: Path, store: str | None) -> None:
    """Take DEVICE out of quarantine; its next job starts with a health check."""
    from edgeq.lab import runs

    inventory_data, opened = runs.open_lab(inventory, store)
    runs.release(opened, inventory_data, device)
    line(device, ": released; it runs a health check before its next job")


@click.command("retire")
@click.argument("device")
@click.option("--reason", default="retired", help="Why it is taken out (kept in the store).")
@inventory_options
def retire(device: str, reason: str, inventory: Path, store: str | None) -> None:
    """Take DEVICE out of the lab for good."""
    from edgeq.lab import runs

    inventory_data, opened = runs.open_lab(inventory, store)
    runs.retire(opened, inventory_data, device, reason)
    line(device, f": retired ({reason})")


@click.command("status")
@click.option("--lost-after", type=float, default=90.0, show_default=True,
              help="Seconds without a heartbeat after which a worker is shown lost.")
@click.option("--json", "as_json", is_flag=True, help="Print workers and queue as JSON on stdout.")
@inventory_options
def status(lost_after: float, as_json: bool, inventory: Path, store: str | None) -> None:
    """The workers (host, devices, last heartbeat, alive or lost) and the queue (waiting, running, oldest)."""
    from edgeq.lab.runs import open_lab

    _, opened = open_lab(inventory, store)
    workers, queue = opened.workers(), opened.queue()
    if as_json:
        print_json({"workers": [{**dataclasses.asdict(w), "state": w.state(lost_after)} for w in workers],
                    "queue": dataclasses.asdict(queue)})
    else:
        print_status(workers, queue, lost_after)
