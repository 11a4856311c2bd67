"""Numbers as people read them in tables, cards and reports; one spelling for every part of edgeq."""

from __future__ import annotations


def human_bytes(size: float) -> str:
    """1536 → '1.5 KiB'; bytes below 1 KiB stay whole."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def ratio(value: float, suffix: str = "x") -> str:
    """A ratio with the digits it needs: 2.74 → '2.74x', 0.000769 → '0.00077x' (not '0.00x'), 1300.4 → '1300x'."""
    if value >= 100:
        return f"{value:.0f}{suffix}"
    if value >= 0.1 or value == 0:
        return f"{value:.2f}{suffix}"
    return f"{value:.2g}{suffix}"
