"""Tables fitted to a terminal's width: what goes first, what wraps, and what is never cut."""

import io
import re

from rich.console import Console

from edgeq.cli.tables import Column, fit_table, print_table

COLUMNS = [Column("variant", kind="label"), Column("size"), Column("p50"), Column("cv"),
           Column("peak RSS", "RSS", drop=1), Column("load", drop=2)]
ROWS = [{"variant": "int8-static-mixed1 .ptl *", "size": "211.7 KiB", "p50": "203.5 µs", "cv": "12%!",
         "peak RSS": "536 MiB", "load": "3.92 ms"},
        {"variant": "fp32 .pte", "size": "741.0 KiB", "p50": "59.9 µs", "cv": "9%", "peak RSS": "516 MiB",
         "load": "466.8 µs"}]


def shown(columns, rows, width, **options) -> list[str]:
    console = Console(width=width, file=io.StringIO(), record=True)
    print_table(columns, rows, console=console, **options)
    return console.export_text().splitlines()


def test_a_table_that_fits_keeps_every_column_and_its_full_headers():
    fitted = fit_table(COLUMNS, ROWS, 82)
    assert fitted.dropped == () and [c.header.plain for c in fitted.table.columns] == [c.header for c in COLUMNS]


def test_a_little_too_narrow_a_terminal_shortens_headers_before_leaving_a_column_out():
    fitted = fit_table(COLUMNS, ROWS, 80)
    assert fitted.dropped == () and "RSS" in [c.header.plain for c in fitted.table.columns]


def test_a_narrow_terminal_leaves_out_the_least_important_column_first():
    fitted = fit_table(COLUMNS, ROWS, 70)
    assert fitted.dropped == ("peak RSS",)
    assert [c.header.plain for c in fitted.table.columns] == ["variant", "size", "p50", "cv", "load"]


def test_with_nothing_left_to_leave_out_the_label_wraps_and_numbers_stay_whole():
    lines = shown(COLUMNS, ROWS, 45)
    assert "…" not in "".join(lines) and all(len(line) <= 45 for line in lines)
    numbers = [re.findall(r"\d+(?:\.\d+)? (?:KiB|µs)|\d+%!?", line) for line in lines if "KiB" in line]
    assert numbers == [["211.7 KiB", "203.5 µs", "12%!"], ["741.0 KiB", "59.9 µs", "9%"]]
    assert not any("int8-static-mixed1 .ptl" in line for line in lines)  # the label gave the room


def test_a_terminal_too_narrow_for_the_numbers_alone_folds_them_but_cuts_nothing():
    lines = shown(COLUMNS, ROWS, 36)
    text = " ".join(" ".join(lines).split())
    assert "…" not in text and all(len(line) <= 36 for line in lines)
    for part in ("211.7", "741.0", "KiB", "203.5", "59.9", "µs", "12%!", "9%"):
        assert part in text


def test_prose_wraps_before_any_column_is_left_out():
    columns = [Column("check", kind="label"), Column("count", drop=1), Column("detail", kind="prose")]
    rows = [{"check": "executorch", "count": "3",
             "detail": "the device's runtime lacks the quantized embedding kernel that the int8 tables need"}]
    fitted = fit_table(columns, rows, 60)
    assert fitted.dropped == ()
    assert "int8 tables need" in " ".join(shown(columns, rows, 60))


def test_cells_titles_and_headers_print_their_markup_as_text():
    markup = "[bold]m[/] [/] [brackets]"
    lines = shown([Column(markup, kind="label"), Column("n")], [{markup: markup, "n": "[1]"}], 80, title=markup)
    assert lines[0].strip() == markup
    assert sum(markup in line for line in lines) == 3  # title, header, cell
    assert any(line.rstrip().endswith("[1]") for line in lines)
