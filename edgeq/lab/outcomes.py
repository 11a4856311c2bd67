"""How a lab job ended, decided in one place from edgeq's error tree (LAVA's three failure classes).

* the model or its artifact is at fault → ``failed`` (never retried: it would fail again anywhere);
* the benchmark outlived the job's timeout → ``timeout`` (never retried: a hang is a finding);
* the device or the connection failed → ``infra`` (retried, and the device gets a health check);
* the measurement was taken on a device too hot or whose governor changed → ``invalid``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgeq.errors import (BenchError, CommandTimeout, ConfigError, EdgeqError, ExportError, ModelError,
                          QuantizationError, TransportError, summarize)


@dataclass(frozen=True)
class Outcome:
    state: str  # a records.FINAL_STATES value
    reason: str


def outcome_of(exc: BaseException) -> Outcome:
    """The job state an exception raised while running a job means."""
    message = exc.message if isinstance(exc, EdgeqError) else summarize(exc)
    if isinstance(exc, CommandTimeout):
        return Outcome("timeout", message)
    if isinstance(exc, TransportError):
        return Outcome("infra", message)
    if isinstance(exc, ConfigError):  # found while probing: the device cannot run what its profile promises
        return Outcome("infra", f"the device cannot run the job: {message}")
    if isinstance(exc, (BenchError, ModelError, QuantizationError, ExportError)):
        return Outcome("failed", message)
    return Outcome("infra", f"unexpected {type(exc).__name__}: {message}")


def invalid_conditions(before: dict[str, Any], after: dict[str, Any], max_temperature_c: float | None) -> str | None:
    """Why a measurement cannot be trusted (too hot, governor changed during it), or None."""
    hottest = max((t for t in (before.get("temperature_c"), after.get("temperature_c")) if t is not None), default=None)
    if max_temperature_c is not None and hottest is not None and hottest > max_temperature_c:
        return f"the device reached {hottest:.1f} °C during the measurement (its limit is {max_temperature_c:g} °C)"
    governor, governor_after = before.get("governor"), after.get("governor")
    if governor and governor_after and governor != governor_after:
        return f"the CPU governor changed from {governor} to {governor_after} during the measurement"
    return None
