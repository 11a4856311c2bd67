"""What follows an attempt: one pure function for the in-process lab, the workers and the store's reaper.

An attempt ended with an outcome (``edgeq.lab.outcomes``). What becomes of its job — done, measured again
here, moved to a sibling, given up — and of its device's health follows from that outcome, the job's
attempts so far, the device's infra failures in a row and the run's budgets. The store writes the decision in
the attempt's own transaction, so no writer decides it a second way.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from edgeq.errors import ConfigError

# Outcomes that leave the device's health as it is. The device ran the job (the model or its artifact
# failed, the benchmark hung): its run of infra failures ends. Nothing of the device was tried (a bug in
# edgeq, a job skipped): its run of infra failures stays as it was.
_RAN_ON_THE_DEVICE = ("failed", "timeout")
_NOTHING_OF_THE_DEVICE = ("error", "skipped")


@dataclass(frozen=True)
class Budgets:
    """How patient the lab is, from the inventory's ``[lab]`` table (a submitted run carries its own)."""

    infra_retries: int = 2  # an infra failure is retried at most this often, on a sibling first
    invalid_requeues: int = 1  # a too-hot or governor-changed measurement is taken again this often
    quarantine_after: int = 3  # infra failures in a row that quarantine a device

    def __post_init__(self) -> None:
        for key in ("infra_retries", "invalid_requeues"):
            if getattr(self, key) < 0:
                raise ConfigError(f"[lab] {key} must be ≥ 0, got {getattr(self, key)}")
        if self.quarantine_after < 1:
            raise ConfigError(f"[lab] quarantine_after must be ≥ 1, got {self.quarantine_after}")

    @classmethod
    def of_run(cls, args: dict[str, Any]) -> Budgets:
        """The budgets a run was planned with (its arguments in the store), these defaults for what it lacks."""
        return cls(**{f.name: int(args[f.name]) for f in dataclasses.fields(cls) if args.get(f.name) is not None})

    def to_args(self) -> dict[str, int]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Decision:
    """A job's next state and what its attempt means for the device."""

    job_state: str  # "queued" again, or the job's final state
    moved: bool  # queued for any device of the profile (an infra retry), not only the one it was planned on
    device_health: str | None  # the device's new health ("unknown": a health check before its next job), or None
    health_reason: str
    infra_in_a_row: int  # the device's infra failures in a row, this attempt counted


def after_attempt(outcome: str, reason: str, *, infra_attempts: int, invalid_attempts: int, infra_in_a_row: int,
                  budgets: Budgets) -> Decision:
    """What follows an attempt that ended ``outcome`` (``reason`` says why).

    ``infra_attempts`` and ``invalid_attempts`` count the job's attempts with that outcome, this one included;
    ``infra_in_a_row`` is the device's run of infra failures before this attempt.
    """
    if outcome == "done":
        return Decision("done", False, None, "", 0)
    if outcome == "infra":
        in_a_row = infra_in_a_row + 1
        if in_a_row >= budgets.quarantine_after:
            health, why = "quarantined", f"{in_a_row} infrastructure failures in a row; the last: {reason}"
        else:
            health, why = "unknown", reason  # a health check before its next job
        retried = infra_attempts <= budgets.infra_retries
        return Decision("queued" if retried else "infra", retried, health, why, in_a_row)
    if outcome == "invalid":  # measured again where it was planned: the result is that device's
        again = invalid_attempts <= budgets.invalid_requeues
        return Decision("queued" if again else "invalid", False, None, "", 0)
    if outcome in _RAN_ON_THE_DEVICE:
        return Decision(outcome, False, None, "", 0)
    if outcome in _NOTHING_OF_THE_DEVICE:
        return Decision(outcome, False, None, "", infra_in_a_row)
    raise ValueError(f"no attempt ends {outcome!r}")
