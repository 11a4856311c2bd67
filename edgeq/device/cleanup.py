"""``edgeq clean``: remove what edgeq left in a device's work dir, and nothing else."""

from __future__ import annotations

from dataclasses import dataclass

from edgeq.bench import WORKDIR_FOLDERS
from edgeq.profiles import DeviceProfile
from edgeq.transport import DeviceAddress, Transport, open_transport


@dataclass
class Cleanup:
    device: str
    workdir: str
    removed: list[str]
    freed_bytes: int | None  # None when the device has no `du`

    def to_dict(self) -> dict[str, object]:
        return {"device": self.device, "workdir": self.workdir, "removed": self.removed, "freed_bytes": self.freed_bytes}


def _size_kib(transport: Transport, paths: list[str]) -> int | None:
    result = transport.run(["du", "-sk", *paths], timeout_s=60.0, check=False)
    try:
        return sum(int(line.split()[0]) for line in result.stdout.splitlines() if line.strip())
    except (ValueError, IndexError):
        return None


def clean(profile: DeviceProfile, device: DeviceAddress | None = None, transport: Transport | None = None) -> Cleanup:
    """Delete edgeq's folders (runner, artifacts, inputs, outputs) under the profile's work dir."""
    owned = transport is None
    transport = transport or open_transport(profile.transport, device)
    try:
        workdir = transport.expand(profile.workdir)
        present = [f"{workdir}/{folder}" for folder in WORKDIR_FOLDERS
                   if transport.run(["test", "-d", f"{workdir}/{folder}"], timeout_s=30.0, check=False).ok]
        size = _size_kib(transport, present) if present else 0
        if present:
            transport.run(["rm", "-rf", "--", *present], timeout_s=120.0)
        return Cleanup(str(device) if device else profile.name, workdir, present, None if size is None else size * 1024)
    finally:
        if owned:
            transport.close()
