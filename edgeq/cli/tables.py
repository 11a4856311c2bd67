"""Tables that fit the terminal: the least important columns are left out first, headers and labels are
shortened or wrapped, and a number is never cut from its unit.

``fit_table`` is the one place a command's table is laid out; ``print_table`` prints it on a console of
any width and says which columns it left out. Every cell is printed as it is (``edgeq.cli.output.as_text``).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from edgeq.cli.output import as_text, stdout
from edgeq.errors import InternalError

Cell = str | Text
KINDS = ("number", "label", "prose")
_RULER_WIDTH = 10_000  # wide enough that measuring a table never clamps it
_PROSE_WIDTH = 24  # what a prose column needs at least before other columns are left out for it


@dataclass(frozen=True)
class Column:
    """One column: its header, a shorter header for narrow terminals, and what may happen to its cells.

    ``kind``: a ``number`` is right-aligned and stays whole on one line (``203.5 µs``, ``12%!``); a ``label``
    (a variant, a layer's name) wraps only when no column is left to leave out; ``prose`` (a detail, a
    description) wraps first. ``drop`` orders the columns a narrow terminal leaves out (1 goes first); 0 keeps
    the column always.
    """

    header: str
    short: str | None = None
    kind: str = "number"
    drop: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InternalError(f"column kind {self.kind!r} is not one of {', '.join(KINDS)}")


@dataclass(frozen=True)
class FittedTable:
    table: Table
    dropped: tuple[str, ...]  # the headers of the columns left out, least important first


def fit_table(columns: Sequence[Column], rows: Sequence[Mapping[str, Cell]], width: int, *,
              title: Cell | None = None, caption: Cell | None = None, **options: Any) -> FittedTable:
    """Lay ``rows`` (cells by column header; a missing cell is "—") out in ``width`` columns.

    Prose wraps from the start; in order, until the rest fits on one line per row: short headers, then the
    droppable columns, least important first; then labels wrap. Numbers are never wrapped or cut to "…" while
    any text can give; ``options`` go to ``rich.table.Table`` (box, padding, …).
    """
    kept = list(columns)
    dropped: list[Column] = []
    droppable = sorted((c for c in columns if c.drop), key=lambda c: c.drop)
    short = False
    while _measure(_layout(kept, rows, short, title, caption, options, prose_limit=True)).maximum > width:
        if not short:
            short = True
        elif droppable:
            dropped.append(droppable.pop(0))
            kept.remove(dropped[-1])
        else:  # nothing left to leave out: labels wrap too; numbers only when the text alone cannot make room
            wrap_numbers = _measure(_layout(kept, rows, short, title, caption, options)).minimum > width
            return FittedTable(_layout(kept, rows, short, title, caption, options, wrap_numbers=wrap_numbers),
                               tuple(c.header for c in dropped))
    return FittedTable(_layout(kept, rows, short, title, caption, options), tuple(c.header for c in dropped))


def print_table(columns: Sequence[Column], rows: Sequence[Mapping[str, Cell]], *, console: Console = stdout,
                title: Cell | None = None, caption: Cell | None = None, **options: Any) -> tuple[str, ...]:
    """Fit the table to ``console``'s width and print it, with a line naming the columns it left out;
    returns their headers."""
    fitted = fit_table(columns, rows, console.width, title=title, caption=caption, **options)
    console.print(fitted.table)
    if fitted.dropped:
        console.print(as_text(f"left out to fit {console.width} columns: {', '.join(fitted.dropped)} "
                              "(--json has every column)", "dim"))
    return fitted.dropped


def _layout(columns: Sequence[Column], rows: Sequence[Mapping[str, Cell]], short: bool, title: Cell | None,
            caption: Cell | None, options: Mapping[str, Any], *, prose_limit: bool = False,
            wrap_numbers: bool = False) -> Table:
    """The table; ``prose_limit`` caps prose columns (to measure what the rest needs), ``wrap_numbers`` is the
    last resort on a terminal too narrow for the numbers alone: a value folds onto a second line."""
    table = Table(title=None if title is None else as_text(title), caption=None if caption is None else as_text(caption),
                  **{"box": box.SIMPLE_HEAD, **options})
    for column in columns:
        header = as_text(column.short if short and column.short else column.header)
        if column.kind == "number":
            table.add_column(header, justify="right", no_wrap=not wrap_numbers, overflow="fold")
        else:
            limit = _PROSE_WIDTH if prose_limit and column.kind == "prose" else None
            table.add_column(header, justify="left", overflow="fold", max_width=limit)
    for row in rows:
        table.add_row(*(as_text(row.get(column.header, "—")) for column in columns))
    return table


def _measure(table: Table) -> Measurement:
    """The width ``table`` takes with every cell on one line (maximum), and with its text wrapped (minimum)."""
    ruler = Console(width=_RULER_WIDTH, file=io.StringIO(), color_system=None)
    return Measurement.get(ruler, ruler.options, table)
