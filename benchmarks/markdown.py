"""How the benchmark pages write numbers and text in Markdown: one rule for every section."""

from __future__ import annotations

from typing import Any


def ms(value: float) -> str:
    """Milliseconds with as many digits as tell: 123, 12.3, 1.23, 0.123."""
    for limit, digits in ((100, 0), (10, 1), (1, 2)):
        if value >= limit:
            return f"{value:.{digits}f}"
    return f"{value:.3f}"


def size(size_bytes: int) -> str:
    if size_bytes < 1 << 20:
        return f"{size_bytes / 1024:.0f} KiB"
    return f"{size_bytes / (1 << 20):.1f} MiB"


def cv(latency: dict[str, Any]) -> str:
    """The coefficient of variation, flagged when noisy."""
    return f"{latency['cv']:.1%}" + (" ⚠ noisy" if latency["noisy"] else "")


def prose(text: str) -> str:
    """Hand-wrapped prose from notes.py as one Markdown line, so it can sit in a list item."""
    return " ".join(text.split())


def escape(text: str) -> str:
    """Text from a run (an error message) as one table cell."""
    return text.replace("|", "\\|").replace("\n", " ")
