"""How the lab's long-running parts and its gate behave, as small frozen dataclasses that import nothing heavy:
the CLI reads their defaults (each stated once, here) without loading torch or the database."""

from __future__ import annotations

from dataclasses import dataclass

from edgeq.errors import ConfigError

REPORT_FORMATS = ("json", "junit", "markdown", "html")


@dataclass(frozen=True)
class WorkerOptions:
    """How a worker keeps its devices: lease length (a worker silent this long is presumed dead, and what runs
    on its devices is stopped), how often it polls an empty queue, and when it exits by itself."""

    name: str | None = None  # default: host:pid:random
    lease_ttl_s: float = 30.0
    poll_s: float = 1.0
    idle_exit_s: float | None = None  # exit after this long with nothing to do (None: run until stopped)
    store_patience_s: float = 600.0  # how long a lost store is waited for before the worker gives up

    def __post_init__(self) -> None:
        if self.lease_ttl_s < 10.0:
            raise ConfigError(f"--lease-ttl must be at least 10 s, got {self.lease_ttl_s:g}",
                              hint="a device's watchdog stops a job a few seconds before its lease can expire")
        if self.poll_s <= 0:
            raise ConfigError(f"--poll must be positive, got {self.poll_s:g}")


@dataclass(frozen=True)
class GateSettings:
    alpha: float = 0.05  # significance level of the Mann-Whitney U test
    min_effect: float = 0.05  # the smallest change of the median that counts: 5 %
    max_size_growth: float = 0.01  # an artifact may grow by 1 % before it is a regression
    max_quality_drop: float | None = None  # in the metric's unit; None: the metric's default budget

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ConfigError(f"--alpha must lie between 0 and 1, got {self.alpha}")
        if not 0 <= self.min_effect < 1:
            raise ConfigError(f"--min-effect must be at least 0 and below 1, got {self.min_effect}")
        if self.max_size_growth < 0 or (self.max_quality_drop is not None and self.max_quality_drop < 0):
            raise ConfigError("--max-size-growth and --max-quality-drop must be ≥ 0")
