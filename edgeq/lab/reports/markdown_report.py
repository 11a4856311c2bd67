"""A compact Markdown summary of a run for a pull-request comment: the headline, the regressions, then one
table per model. It stays under GitHub's comment limit however big the run: what does not fit is cut with
a note that says how much was left out."""

from __future__ import annotations

from edgeq.lab.records import RunRecord
from edgeq.lab.reports import text
from edgeq.lab.reports.rows import PROBLEM_STATES, Comparisons, JobRow, by_model, headline, job_rows

MAX_CHARS = 65_536  # GitHub refuses a comment body longer than this
MAX_REGRESSIONS_LISTED = 20
_NOTE_ROOM = 300  # kept free for the truncation note
_COLUMNS = ("device", "profile", "variant", "format", "p50", "vs fp32", "size", "quality", "verdict", "state")


def _cell(value: str) -> str:
    """A table cell on one line: pipes would end the cell, and GitHub would render ``<module>`` as HTML."""
    return text.one_line(value, 160).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _verdict(row: JobRow) -> str:
    if row.verdict is None:
        return text.DASH
    shown = f"{row.verdict.verdict} {text.ratio(row.verdict.ratio)}" if row.verdict.ratio is not None else row.verdict.verdict
    return f"**{shown}**" if row.regressed else shown


def _state(row: JobRow) -> str:
    if row.state in PROBLEM_STATES or (row.state != "done" and row.reason):
        return f"**{row.state}**: {row.reason}" if row.reason else f"**{row.state}**"
    attempts = len(row.job.attempts)
    notes = [f"{attempts} attempts" if attempts > 1 else "", "reused" if row.job.reused else ""]
    notes = [note for note in notes if note]
    return f"{row.state} ({', '.join(notes)})" if notes else row.state


def _table_row(row: JobRow) -> str:
    key = row.key
    device = key.device + (f" (ran on {row.device})" if row.moved else "")
    cells = (device, key.profile, key.variant, key.format, text.latency(row), text.ratio(row.vs_fp32),
             text.size(row.size_bytes), text.quality(row.quality, row.metric), _verdict(row), _state(row))
    return "| " + " | ".join(_cell(cell) for cell in cells) + " |"


def _regressions(rows: list[JobRow]) -> list[str]:
    regressed = [row for row in rows if row.regressed]
    if not regressed:
        return []
    lines = ["**Regressions**", ""]
    for row in regressed[:MAX_REGRESSIONS_LISTED]:
        reason = _cell(row.verdict.reason or "slower than the baseline")
        lines.append(f"- `{row.name}`: {reason} {text.ratio(row.verdict.ratio)}")
    if len(regressed) > MAX_REGRESSIONS_LISTED:
        lines.append(f"- … and {len(regressed) - MAX_REGRESSIONS_LISTED} more")
    return [*lines, ""]


def _header(run: RunRecord, rows: list[JobRow]) -> list[str]:
    label = f" ({_cell(run.label)})" if run.label else ""
    status = "" if run.status == "finished" else f" — run {run.status}"
    return [f"### edgeq lab run `{run.id}`{label}{status}", "", f"**{headline(rows)}**", "", *_regressions(rows)]


def _model_lines(model: str, rows: list[JobRow]) -> list[tuple[str, int]]:
    """A model's table as (line, jobs it shows): the count lets truncation say how many jobs it left out."""
    head = [(f"#### {_cell(model)}", 0), ("", 0), ("| " + " | ".join(_COLUMNS) + " |", 0),
            ("|" + "---|" * len(_COLUMNS), 0)]
    return [*head, *((_table_row(row), 1) for row in rows), ("", 0)]


def report_markdown(run: RunRecord, *, comparisons: Comparisons | None = None, max_chars: int = MAX_CHARS) -> str:
    """The PR comment; at most ``max_chars`` characters, tables cut at a row boundary with a note."""
    rows = job_rows(run, comparisons)
    lines = _header(run, rows)
    used = sum(len(line) + 1 for line in lines)
    shown = 0
    for model, model_rows in by_model(rows).items():
        for line, jobs in _model_lines(model, model_rows):
            if used + len(line) + 1 > max_chars - _NOTE_ROOM:
                return "\n".join([*lines, "", _truncation_note(run, len(rows) - shown, max_chars)]) + "\n"
            lines.append(line)
            used += len(line) + 1
            shown += jobs
    return "\n".join(lines).rstrip("\n") + "\n"


def _truncation_note(run: RunRecord, left_out: int, max_chars: int) -> str:
    return (f"_… {left_out} more job{'s' if left_out != 1 else ''} not shown (a comment holds {max_chars} characters); "
            f"`edgeq lab report {run.id} --format html` shows every job._")
