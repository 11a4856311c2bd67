"""Numbers as people read them in tables, cards and reports; one spelling for every part of edgeq."""

from __future__ import annotations


def human_bytes(size: float) -> str:
    """1536 → '1.5 KiB'; bytes below 1 KiB stay whole."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover
