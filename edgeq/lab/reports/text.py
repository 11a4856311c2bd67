"""How numbers and reasons read in the reports people read (Markdown and HTML): one place, so both agree."""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgeq.bench.stats import LatencyStats
from edgeq.units import human_bytes

if TYPE_CHECKING:
    from edgeq.lab.reports.rows import JobRow

DASH = "—"


def ms(latency: LatencyStats | None) -> str:
    """The median in ms, flagged when the spread is too wide to trust it (CV ≥ 10 %)."""
    if latency is None:
        return DASH
    shown = milliseconds(latency.p50)
    return f"{shown} (noisy, CV {latency.cv:.0%})" if latency.noisy else shown


def latency(row: JobRow) -> str:
    """A job's median, marked when its samples were taken by an invalid attempt: kept and shown, never believed."""
    shown = ms(row.latency)
    return f"{shown} (invalid)" if row.untrusted_latency else shown


def milliseconds(value_ms: float) -> str:
    """Three significant digits: ``412 µs``, ``41.2 ms``, ``1234 ms``."""
    if value_ms < 1:
        return f"{value_ms * 1000:.0f} µs"
    return f"{value_ms:.3g} ms" if value_ms < 100 else f"{value_ms:.0f} ms"


def size(size_bytes: int | None) -> str:
    return DASH if size_bytes is None else human_bytes(size_bytes)


def ratio(value: float | None) -> str:
    """``×0.42``: a latency ratio, below 1 faster."""
    return DASH if value is None else f"×{value:.2f}"


def quality(value: float | None, metric: str | None) -> str:
    if value is None:
        return DASH
    shown = f"{value:.3f}" if abs(value) < 10 else f"{value:.4g}"  # accuracies and cosines keep three decimals
    return f"{shown} {metric}" if metric else shown


def one_line(text: str, limit: int = 200) -> str:
    """A reason on one line and bounded: device stderr can be long and multi-line."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
