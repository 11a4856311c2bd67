"""Reports of a lab run, from its records alone — no database here: the store gives a ``RunRecord`` and,
for the HTML page, the ``history`` of earlier runs; the statistics give ``comparisons``.

``render(run, "json" | "junit" | "markdown" | "html")`` is what ``edgeq lab report`` calls. Importing this
package does not import matplotlib; only drawing the HTML page does.
"""

from __future__ import annotations

from pathlib import Path

from edgeq.errors import ConfigError
from edgeq.lab.records import RunRecord
from edgeq.lab.settings import REPORT_FORMATS
from edgeq.lab.reports.html_report import report_html
from edgeq.lab.reports.json_report import report_json
from edgeq.lab.reports.junit_report import report_junit
from edgeq.lab.reports.markdown_report import report_markdown
from edgeq.lab.reports.rows import Comparisons, History, Verdict, VerdictLike

FORMATS = REPORT_FORMATS


def render(run: RunRecord, fmt: str, *, history: History | None = None, comparisons: Comparisons | None = None) -> str:
    """The run in one of ``FORMATS``; ``history`` only feeds the HTML page's history plot."""
    if fmt == "html":
        return report_html(run, history=history, comparisons=comparisons)
    writers = {"json": report_json, "junit": report_junit, "markdown": report_markdown}
    if fmt not in writers:
        raise ConfigError(f"unknown report format {fmt!r}", hint=f"use one of: {', '.join(FORMATS)}")
    return writers[fmt](run, comparisons=comparisons)


def write_reports(run: RunRecord, folder: Path) -> list[Path]:
    """Every report of a run in ``folder``: run.json, junit.xml, summary.md and report.html (what a CI job keeps)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt, name in (("json", "run.json"), ("junit", "junit.xml"), ("markdown", "summary.md"), ("html", "report.html")):
        (folder / name).write_text(render(run, fmt), encoding="utf-8")
        written.append(folder / name)
    return written


__all__ = ["FORMATS", "Comparisons", "History", "Verdict", "VerdictLike", "render", "write_reports", "report_html", "report_json",
           "report_junit", "report_markdown"]
