"""The lab: the inventory of real device instances (and, later, jobs, leases and results)."""

from edgeq.lab.inventory import DEFAULT_INVENTORY, DeviceEntry, Inventory, resolve_device

__all__ = ["DEFAULT_INVENTORY", "DeviceEntry", "Inventory", "resolve_device"]
