"""Printing shared by commands: pure JSON on stdout, or rich tables.

Text that comes from a message, a path, user input or a device is printed as it is: ``literal`` and ``line``
put styles around it and never parse rich markup (``[bold]``, ``[/]``) out of it. Every command prints through
them, ``progress`` and ``edgeq.cli.tables``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click
from rich.console import Console
from rich.live import Live
from rich.spinner import Spinner
from rich.text import Text

# Pipes and CI logs have no width; rich would assume 80 columns and squeeze the tables.
stdout = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
stderr = Console(stderr=True, highlight=False)

Part = str | Text | tuple[str, str]  # literal text, or (literal text, style)


def print_json(data: Any) -> None:
    """Pure JSON on stdout, so ``--json`` output pipes into ``jq``."""
    click.echo(json.dumps(data, indent=2))


def human_ms(value: float) -> str:
    return f"{value * 1000:.1f} µs" if value < 1 else f"{value:.2f} ms"


def literal(value: object, style: str = "") -> Text:
    """Text from a user, a file or a device, in ``style``, for a rich table cell, a title or a line: shown as it is,
    never read as markup (a reason like ``KeyError: [bold]`` would otherwise lose its brackets)."""
    return value if isinstance(value, Text) else Text(str(value), style=style)


def styled(*parts: Part) -> Text:
    """One line from literal parts and ``(text, style)`` pairs: ``styled(("error:", "bold red"), " ", message)``."""
    return Text.assemble(*parts)


def line(*parts: Part, console: Console = stdout, soft_wrap: bool = False) -> None:
    """Print ``styled(*parts)``; ``soft_wrap`` leaves long lines whole for the terminal to wrap."""
    console.print(styled(*parts), soft_wrap=soft_wrap)


@contextmanager
def progress(first: str = "starting") -> Iterator[Callable[[str], None]]:
    """A spinner on stderr showing each of the library's progress messages as it comes, printed as it is; yields
    the callback to pass the library. It leaves nothing behind on the terminal, and prints nothing off one."""
    spinner = Spinner("dots", text=literal(first), style="status.spinner")
    with Live(spinner, console=stderr, refresh_per_second=12.5, transient=True) as live:
        def say(message: str) -> None:
            spinner.update(text=literal(message))
            live.refresh()

        yield say
