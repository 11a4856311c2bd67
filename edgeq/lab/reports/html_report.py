"""The run as one self-contained HTML page: the plots a person would rather look at than read, then every
job in a table. Inline CSS and inline SVG only — no script, font or stylesheet from the network — so the file
opens anywhere, attached to a CI run or mailed."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from edgeq.bench.stats import median
from edgeq.lab.records import Attempt, RunRecord
from edgeq.lab.reports import text
from edgeq.lab.reports.rows import PROBLEM_STATES, Comparisons, History, JobRow, headline, job_rows

if TYPE_CHECKING:
    from edgeq.lab.reports.plots import Plot

# The border of every drawn plot; a screenshot test finds the plots by it, so nothing else on the page uses it.
FRAME_COLOR = "#4a5f86"

_CSS = f"""
body {{ font: 14px/1.45 system-ui, sans-serif; color: #1d232b; background: #fff; margin: 0; }}
main {{ max-width: 1040px; margin: 0 auto; padding: 16px 24px 48px; }}
h1 {{ font-size: 22px; margin: 8px 0 4px; }}
h2 {{ font-size: 17px; margin: 28px 0 8px; }}
.meta {{ color: #5a6470; margin: 0 0 8px; }}
.headline {{ font-weight: 600; font-size: 16px; }}
.regressions li {{ color: #9b1c1c; }}
figure {{ margin: 0 0 28px; }}
.plot-area {{ border: 2px solid {FRAME_COLOR}; padding: 6px; background: #fff; }}
.plot-area svg {{ display: block; width: 100%; height: auto; }}
.plot-note {{ border: 1px dashed #b8bec6; padding: 24px; color: #5a6470; }}
figcaption {{ color: #3d4650; font-size: 13px; margin-top: 6px; }}
figcaption b {{ color: #1d232b; }}
.jobs {{ overflow-x: auto; }}
table {{ border-collapse: collapse; width: 100%; font-size: 13px; }}
th, td {{ border-bottom: 1px solid #dde1e6; padding: 4px 6px; text-align: left; vertical-align: top; }}
th {{ background: #f3f5f7; }}
td.num {{ text-align: right; white-space: nowrap; }}
tr.failed td, tr.timeout td, tr.infra td, tr.error td {{ background: #fdeeee; }}
tr.invalid td {{ background: #fdf6e3; }}
tr.skipped td {{ color: #6b7480; }}
tr.regressed td {{ background: #fbe3e3; }}
.attempts {{ color: #5a6470; font-size: 12px; }}
.attempts pre {{ white-space: pre-wrap; font-size: 11px; }}
"""
_COLUMNS = ("job", "profile", "state", "reason", "p50", "p90", "CV", "vs fp32", "size", "quality", "verdict",
            "attempts")


def _figure(plot: Plot) -> str:
    """A ``<figure id=plot-…>``: the framed SVG, or the note saying why there is nothing to draw."""
    body = f'<div class="plot-area">{plot.svg}</div>' if plot.svg else f'<div class="plot-note">{escape(plot.note)}</div>'
    caption = f"<figcaption><b>{escape(plot.title)}.</b> {escape(plot.caption)}</figcaption>"
    return f'<figure id="{plot.id}">\n{body}\n{caption}\n</figure>'


def _attempt(attempt: Attempt) -> str:
    """One attempt: where it ran and how it ended; an invalid one's median (kept, never gated), a bug's traceback."""
    line = f"{attempt.number}. {attempt.device}: {attempt.outcome}"
    if attempt.measurement is not None and attempt.measurement.samples_ms:
        line += f", p50 {text.milliseconds(median(attempt.measurement.samples_ms))}"
    if attempt.reason:
        line += f" — {text.one_line(attempt.reason, 160)}"
    if attempt.traceback:
        return escape(line) + f"<details><summary>traceback</summary><pre>{escape(attempt.traceback)}</pre></details>"
    return escape(line)


def _attempts(row: JobRow) -> str:
    return "<br>".join(_attempt(attempt) for attempt in row.job.attempts)


def _verdict(row: JobRow) -> str:
    if row.verdict is None:
        return text.DASH
    ratio = f" {text.ratio(row.verdict.ratio)}" if row.verdict.ratio is not None else ""
    return f'<span title="{escape(row.verdict.reason)}">{escape(row.verdict.verdict + ratio)}</span>'


def _job_row(row: JobRow) -> str:
    latency = row.latency
    reason = row.reason if row.state != "done" else (row.verdict.reason if row.regressed else "")
    cells = (
        f"<td>{escape(row.name)}</td>",
        f"<td>{escape(row.key.profile)}</td>",
        f"<td>{escape(row.state)}</td>",
        f"<td>{escape(text.one_line(reason, 400))}</td>",
        f'<td class="num">{escape(text.latency(row))}</td>',
        f'<td class="num">{escape(text.milliseconds(latency.p90)) if latency else text.DASH}</td>',
        f'<td class="num">{f"{latency.cv:.1%}" if latency else text.DASH}</td>',
        f'<td class="num">{escape(text.ratio(row.vs_fp32))}</td>',
        f'<td class="num">{escape(text.size(row.size_bytes))}</td>',
        f'<td class="num">{escape(text.quality(row.quality, row.metric))}</td>',
        f"<td>{_verdict(row)}</td>",
        f'<td class="attempts">{_attempts(row)}</td>',
    )
    classes = " ".join(name for name in (row.state, "regressed" if row.regressed else "") if name)
    return f'<tr class="{escape(classes)}">' + "".join(cells) + "</tr>"


def _header(run: RunRecord, rows: list[JobRow]) -> str:
    title = f"edgeq lab run {run.id}" + (f" — {run.label}" if run.label else "")
    when = f"started {run.started_at}" + (f", finished {run.finished_at}" if run.finished_at else "") + f" ({run.status})"
    regressed = [row for row in rows if row.regressed]
    items = "".join(f"<li>{escape(row.name)}: {escape(row.verdict.reason or 'slower than the baseline')}</li>"
                    for row in regressed)
    problems = sum(row.state in PROBLEM_STATES for row in rows)
    jump = ' <a href="#jobs">every job and its reason</a>' if problems else ""
    return (f"<h1>{escape(title)}</h1>\n<p class=\"meta\">{escape(when)}</p>\n"
            f"<p class=\"headline\">{escape(headline(rows))}.{jump}</p>\n"
            + (f'<ul class="regressions">{items}</ul>\n' if items else ""))


def report_html(run: RunRecord, *, history: History | None = None, comparisons: Comparisons | None = None) -> str:
    """The page: header and regressions, the four plots (each ``<figure id="plot-…">``), and the job table."""
    from edgeq.lab.reports import plots  # matplotlib loads only when a page is drawn, never with edgeq.lab

    rows = job_rows(run, comparisons)
    figures = "\n".join(_figure(plot) for plot in plots.draw(rows, history, run.started_at))
    table_head = "".join(f"<th>{escape(column)}</th>" for column in _COLUMNS)
    table_body = "\n".join(_job_row(row) for row in rows)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{escape(f'edgeq lab run {run.id}')}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main>\n"
        f"{_header(run, rows)}<h2>Plots</h2>\n{figures}\n"
        f'<h2 id="jobs">Jobs</h2>\n<div class="jobs"><table>\n<thead><tr>{table_head}</tr></thead>\n'
        f"<tbody>\n{table_body}\n</tbody>\n</table></div>\n"
        "</main>\n</body>\n</html>\n"
    )
