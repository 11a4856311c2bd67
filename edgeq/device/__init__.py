"""What edgeq knows of a device instance: the inventory that names it, what it really is (probe),
whether it can run edgeq's artifacts (doctor), and removing what edgeq left there (cleanup).

``edgeq run`` and the lab both use these; neither the pipeline nor the transports import the lab.
"""

from edgeq.device.inventory import DEFAULT_INVENTORY, DeviceEntry, Inventory, LabSettings, resolve_device

__all__ = ["DEFAULT_INVENTORY", "DeviceEntry", "Inventory", "LabSettings", "resolve_device"]
