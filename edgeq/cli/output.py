"""Printing shared by commands: pure JSON on stdout, or rich tables.

Text that comes from a message, a path, user input or a device is printed as it is, never read as rich markup:
``literal`` escapes it for a markup string, ``as_text`` and ``line`` put styles around it, ``progress`` shows it
in the spinner, and ``edgeq.cli.tables`` in table cells.
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
from rich.markup import escape
from rich.spinner import Spinner
from rich.text import Text

# Pipes and CI logs have no width; rich would assume 80 columns and squeeze the tables.
stdout = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
stderr = Console(stderr=True, highlight=False)

Part = str | Text | tuple[str, str]  # literal text, or (literal text, style)


def print_json(data: Any) -> None:
    """Pure JSON on stdout, so ``--json`` output pipes into ``jq``."""
    click.echo(json.dumps(data, indent=2))


def literal(text: str) -> str:
    """Text from a user, a file or a device, for a rich table cell or line: shown as it is, never read as markup
    (a reason like ``KeyError: [bold]`` would otherwise lose its brackets)."""
    return escape(text)


def human_ms(value: float) -> str:
    return f"{value * 1000:.1f} µs" if value < 1 else f"{value:.2f} ms"


def as_text(value: object, style: str = "") -> Text:
    """``value`` as a renderable that prints as it is, in ``style`` (a cell, a title, a spinner's message): no
    markup is read from it, so it needs no ``literal``."""
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
    spinner = Spinner("dots", text=as_text(first), style="status.spinner")
    with Live(spinner, console=stderr, refresh_per_second=12.5, transient=True) as live:
        def say(message: str) -> None:
            spinner.update(text=as_text(message))
            live.refresh()

        yield say
