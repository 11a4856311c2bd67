"""Printing shared by commands: pure JSON on stdout, or rich tables."""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

# Pipes and CI logs have no width; rich would assume 80 columns and squeeze the tables.
stdout = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
stderr = Console(stderr=True, highlight=False)


def print_json(data: Any) -> None:
    """Pure JSON on stdout, so ``--json`` output pipes into ``jq``."""
    click.echo(json.dumps(data, indent=2))


def literal(text: str) -> str:
    """Text from a user, a file or a device, for a rich table cell or line: shown as it is, never read as markup
    (a reason like ``KeyError: [bold]`` would otherwise lose its brackets)."""
    return escape(text)


def human_ms(value: float) -> str:
    return f"{value * 1000:.1f} µs" if value < 1 else f"{value:.2f} ms"
