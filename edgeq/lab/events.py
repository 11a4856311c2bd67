"""What the lab tells a live view while it works."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LabEvent:
    """What the lab is doing on a device: ``state`` is ``building``, ``health``, ``running``, a job's final
    state, ``quarantined``, ``waiting``, ``idle``, ``refused``, ``store``, ``stopped`` or ``finished``."""

    device: str
    state: str
    job: str | None = None
    message: str = ""
