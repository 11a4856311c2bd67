"""How a lab job ended, decided in one place from edgeq's error tree (LAVA's failure classes): the outcome
says who is at fault, so only the right party pays.

* the model or its artifact is at fault → ``failed`` (never retried: it would fail again anywhere);
* the benchmark outlived the job's timeout → ``timeout`` (never retried: a hang is a finding);
* the device, the connection or the device's environment failed (disk full, permission denied, a file that
  vanished under the runner) → ``infra`` (retried, and the device gets a health check);
* the measurement was taken on a device too hot or whose governor changed → ``invalid``;
* edgeq itself failed (``InternalError``, or an exception edgeq does not classify) → ``error``: a bug in
  edgeq, never retried and never counted against the device, its traceback kept for the report.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Any

from edgeq.errors import (BenchError, CommandTimeout, ConfigError, DeviceEnvironmentError, EdgeqError, ExportError,
                          InternalError, ModelError, QuantizationError, TransportError, summarize)

BUG = "this is a bug in edgeq, please report it"


@dataclass(frozen=True)
class Outcome:
    state: str  # a records.FINAL_STATES value
    reason: str
    traceback: str | None = None  # set for ``error``: where edgeq failed


def outcome_of(exc: BaseException, *, building: bool = False) -> Outcome:
    """The job state an exception raised while running a job means; ``building``: raised while its artifact was
    built, where no device takes part, so an error edgeq classifies is the model's."""
    if isinstance(exc, OSError):  # the operating system refused: full disk, no permission, a file gone
        return Outcome("infra", f"the environment failed: {summarize(exc)}")
    if isinstance(exc, EdgeqError) and not isinstance(exc, InternalError):
        classified = _classified(exc, building)
        if classified is not None:
            return classified
    where = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return Outcome("error", f"{BUG}: {summarize(exc)}", where)


def _classified(exc: EdgeqError, building: bool) -> Outcome | None:
    if building:
        return Outcome("failed", exc.message)
    if isinstance(exc, CommandTimeout):
        return Outcome("timeout", exc.message)
    if isinstance(exc, (TransportError, DeviceEnvironmentError)):
        return Outcome("infra", exc.message)
    if isinstance(exc, ConfigError):  # found while probing: the device cannot run what its profile promises
        return Outcome("infra", f"the device cannot run the job: {exc.message}")
    if isinstance(exc, (BenchError, ModelError, QuantizationError, ExportError)):
        return Outcome("failed", exc.message)
    return None  # an error class no job should meet (a gate's, the store's): edgeq went wrong


def invalid_conditions(before: dict[str, Any], after: dict[str, Any], max_temperature_c: float | None) -> str | None:
    """Why a measurement cannot be trusted (too hot, governor changed during it), or None."""
    hottest = max((t for t in (before.get("temperature_c"), after.get("temperature_c")) if t is not None), default=None)
    if max_temperature_c is not None and hottest is not None and hottest > max_temperature_c:
        return f"the device reached {hottest:.1f} °C during the measurement (its limit is {max_temperature_c:g} °C)"
    governor, governor_after = before.get("governor"), after.get("governor")
    if governor and governor_after and governor != governor_after:
        return f"the CPU governor changed from {governor} to {governor_after} during the measurement"
    return None
