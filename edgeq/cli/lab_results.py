"""``edgeq lab report``, ``compare`` and ``gate``: what the store's runs say, and whether a run regressed."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from edgeq.cli.lab_views import print_comparison
from edgeq.cli.options import default_of, inventory_options
from edgeq.cli.output import line, print_json, stderr
from edgeq.lab.settings import REPORT_FORMATS, GateSettings


@click.command("report")
@click.argument("run_ref", metavar="RUN", required=False)
@click.option("--format", "fmt", type=click.Choice(REPORT_FORMATS), default="markdown", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write here [default: stdout].")
@click.option("--baseline", default=None, metavar="RUN|LABEL", help="Mark regressions against this run.")
@inventory_options
def report(run_ref: str | None, fmt: str, output: Path | None, baseline: str | None, inventory: Path,
           store: str | None) -> None:
    """Report RUN (an id, a label, or latest) as JSON, JUnit XML, Markdown or a self-contained HTML page."""
    from edgeq.lab.gate import compare_runs
    from edgeq.lab.reports import render
    from edgeq.lab.runs import find_run, history, open_lab

    _, opened = open_lab(inventory, store)
    result = find_run(opened, run_ref)
    comparisons = None
    if baseline is not None:
        comparisons = {row.key: row.as_verdict() for row in compare_runs(find_run(opened, baseline), result).rows}
    text = render(result, fmt, history=history(opened, result) if fmt == "html" else None, comparisons=comparisons)
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        output.write_text(text, encoding="utf-8")
        line(f"wrote {output}", console=stderr)


def _gate_options(command: Any) -> Any:
    for option in reversed([
        click.option("--alpha", type=float, default=default_of(GateSettings, "alpha"), show_default=True,
                     help="Significance level (Mann-Whitney U)."),
        click.option("--min-effect", type=float, default=default_of(GateSettings, "min_effect"), show_default=True,
                     help="Smallest change of the median latency that counts (0.05 = 5 %)."),
        click.option("--max-size-growth", type=float, default=default_of(GateSettings, "max_size_growth"),
                     show_default=True, help="How much an artifact may grow (0.01 = 1 %)."),
        click.option("--max-quality-drop", type=float, default=None,
                     help="How much quality may drop, in the metric's unit [default: the metric's budget]."),
        click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON on stdout."),
    ]):
        command = option(command)
    return command


def _compare(baseline_ref: str, run_ref: str | None, inventory: Path, store: str | None, as_json: bool,
             **settings: Any) -> Any:
    from edgeq.lab.gate import compare_runs
    from edgeq.lab.runs import find_run, open_lab

    _, opened = open_lab(inventory, store)
    result = compare_runs(find_run(opened, baseline_ref), find_run(opened, run_ref), GateSettings(**settings))
    if as_json:
        print_json(result.to_dict())
    else:
        print_comparison(result)
    return result


@click.command("compare")
@click.argument("run_a", metavar="RUN_A")
@click.argument("run_b", metavar="RUN_B")
@_gate_options
@inventory_options
def compare(run_a: str, run_b: str, inventory: Path, store: str | None, **settings: Any) -> None:
    """RUN_B against RUN_A, job by job: faster, slower, no significant change or inconclusive."""
    _compare(run_a, run_b, inventory, store, **settings)


@click.command("gate")
@click.option("--baseline", required=True, metavar="RUN|LABEL", help="The run (or latest run with this label) to beat.")
@click.option("--run", "run_ref", default=None, metavar="RUN", help="The run to judge [default: the latest].")
@_gate_options
@inventory_options
def gate(baseline: str, run_ref: str | None, inventory: Path, store: str | None, **settings: Any) -> None:
    """Exit 0 when RUN has no regression against the baseline, 1 when it has, 3 when it cannot tell."""
    problem = _compare(baseline, run_ref, inventory, store, **settings).problem()
    if problem is not None:
        raise problem
