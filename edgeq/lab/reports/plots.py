"""The HTML report's four plots, drawn with matplotlib into SVG text.

Importing this module imports matplotlib, so only ``report_html`` imports it, inside the function. Figures are
``matplotlib.figure.Figure`` objects on their own, never pyplot's global state, so reports can be drawn from
several threads. Only trusted rows (done and measured) are drawn: an invalid job's samples were taken on a hot
or throttled device and would mislead.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

from edgeq.lab.reports.rows import FP32_SCHEME, History, JobRow, by_model
from edgeq.quantize.spec import artifact_label

WIDTH_IN = 10.0
MAX_MODELS = 8  # per plot; a bigger run's other models are in the tables
MAX_DEVICES = 6
MAX_CELLS = 16
_LOG_SPREAD = 20  # a panel whose values span more than this factor gets a log axis
_MIB = 1024 * 1024


@dataclass(frozen=True)
class Plot:
    """One figure of the page: its SVG, or the note shown in its place when there is nothing to draw."""

    id: str
    title: str
    caption: str
    svg: str | None
    note: str


def _series(row: JobRow, formats: int) -> str:
    """What a bar or box is labelled: the variant, and its format when the run has several."""
    return row.job.variant if formats < 2 else artifact_label(row.job.variant, row.job.format)


class _Style:
    """One color per series across all four plots, fp32 first, so a reader learns the colors once."""

    def __init__(self, rows: Sequence[JobRow]) -> None:
        self.formats = len({row.job.format for row in rows})
        ordered = sorted(rows, key=lambda row: (row.job.scheme != FP32_SCHEME, row.job.variant, row.job.format))
        names = list(dict.fromkeys(_series(row, self.formats) for row in ordered))
        palette = colormaps["tab10"].colors
        self.colors = {name: palette[index % len(palette)] for index, name in enumerate(names)}

    def label(self, row: JobRow) -> str:
        return _series(row, self.formats)

    def color(self, row: JobRow) -> tuple[float, float, float]:
        return self.colors[self.label(row)]


def _cells(rows: Sequence[JobRow]) -> dict[tuple[str, str], list[JobRow]]:
    cells: dict[tuple[str, str], list[JobRow]] = {}
    for row in rows:
        cells.setdefault(row.cell, []).append(row)
    return cells


def _log_if_spread(ax: Axes, values: Sequence[float], axis: str = "y") -> None:
    positive = [value for value in values if value > 0]
    if positive and max(positive) / min(positive) > _LOG_SPREAD:
        (ax.set_yscale if axis == "y" else ax.set_xscale)("log")


def _cut_note(fig: Figure, shown: int, total: int, what: str) -> None:
    if total > shown:
        fig.suptitle(f"first {shown} of {total} {what}; the tables below list them all", fontsize=9)


def _latency_panel(ax: Axes, model: str, device: str, rows: list[JobRow], style: _Style) -> None:
    samples = [list(row.job.measurement.samples_ms) for row in rows]
    positions = list(range(1, len(rows) + 1))
    boxes = ax.boxplot(samples, positions=positions, widths=0.6, patch_artist=True,
                       flierprops={"markersize": 2, "alpha": 0.5}, medianprops={"color": "black"})
    for box, row in zip(boxes["boxes"], rows):
        box.set_facecolor(style.color(row))
        box.set_alpha(0.8)
    labels = [style.label(row) + (f"\n(on {row.device})" if row.moved else "") for row in rows]
    ax.set_xticks(positions, labels, fontsize=8)
    ax.set_title(f"{model} · {device}", fontsize=9)
    ax.set_ylabel("ms", fontsize=8)
    ax.tick_params(axis="y", labelsize=8)
    _log_if_spread(ax, [value for values in samples for value in values])


def _latency_figure(rows: Sequence[JobRow], style: _Style) -> Figure | None:
    """Box plots of every run's latency, one panel per model (rows) and planned device (columns)."""
    models = by_model(rows)
    if not models:
        return None
    shown = list(models.items())[:MAX_MODELS]
    grids = [(model, list(_cells(model_rows).items())[:MAX_DEVICES]) for model, model_rows in shown]
    columns = max(len(cells) for _, cells in grids)
    fig = Figure(figsize=(WIDTH_IN, 0.6 + 2.6 * len(grids)), layout="constrained")
    axes = fig.subplots(len(grids), columns, squeeze=False)
    for (model, cells), axes_row in zip(grids, axes):
        for ax, ((_, device), cell_rows) in zip(axes_row, cells):
            _latency_panel(ax, model, device, cell_rows, style)
        for ax in axes_row[len(cells):]:
            ax.set_axis_off()
    _cut_note(fig, len(shown), len(models), "models")
    return fig


def _bars(ax: Axes, cells: list[tuple[tuple[str, str], list[JobRow]]], style: _Style,
          value_of: Callable[[JobRow], float | None], unit: str) -> None:
    """Horizontal bars grouped by cell, one per series, each non-fp32 bar marked with its ratio to fp32."""
    series = list(style.colors)
    height = 0.8 / len(series)
    values = []
    for index, (_, cell_rows) in enumerate(cells):
        fp32 = next((value_of(row) for row in cell_rows if row.job.scheme == FP32_SCHEME), None)
        for row in cell_rows:
            value = value_of(row)
            if value is None:
                continue
            y = index - 0.4 + height * (series.index(style.label(row)) + 0.5)
            ax.barh(y, value, height=height * 0.9, color=style.color(row), label=style.label(row))
            if fp32 and row.job.scheme != FP32_SCHEME:
                ax.annotate(f"×{value / fp32:.2f}", (value, y), xytext=(3, 0), textcoords="offset points",
                            va="center", fontsize=7)
            values.append(value)
    ax.set_yticks(range(len(cells)), [f"{model} · {device}" for (model, device), _ in cells], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(unit, fontsize=8)
    ax.tick_params(axis="x", labelsize=8)
    ax.margins(x=0.15)
    _log_if_spread(ax, values, axis="x")


def _fp32_int8_figure(rows: Sequence[JobRow], style: _Style) -> Figure | None:
    """Median latency and artifact size of each variant, side by side for each model and planned device."""
    cells = list(_cells(rows).items())
    if not cells:
        return None
    shown = cells[:MAX_CELLS]
    fig = Figure(figsize=(WIDTH_IN, 1.2 + 0.28 * len(shown) * len(style.colors)), layout="constrained")
    latency_ax, size_ax = fig.subplots(1, 2, sharey=True)
    _bars(latency_ax, shown, style, lambda row: row.latency.p50, "median latency (ms)")
    _bars(size_ax, shown, style, lambda row: row.size_bytes / _MIB if row.size_bytes else None, "artifact size (MiB)")
    handles, labels = latency_ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    fig.legend(unique.values(), unique.keys(), loc="outside upper center", ncols=min(len(unique), 6), fontsize=8)
    _cut_note(fig, len(shown), len(cells), "models and devices")
    return fig


def _quality_panel(ax: Axes, model: str, rows: list[JobRow], style: _Style) -> None:
    """Size against quality, one point per series: the trade the quantization made."""
    variants = {style.label(row): row for row in rows if row.size_bytes}  # one point per variant, whatever device
    scored = [row for row in variants.values() if row.quality is not None]
    if scored:
        for row in scored:
            ax.scatter(row.size_bytes / _MIB, row.quality, s=60, color=style.color(row), zorder=3)
            ax.annotate(style.label(row), (row.size_bytes / _MIB, row.quality), xytext=(5, 4),
                        textcoords="offset points", fontsize=7)
        ax.set_ylabel(scored[0].metric or "quality", fontsize=8)
        ax.set_xlabel("size (MiB)", fontsize=8)
        ax.margins(0.25)
    else:  # nothing scored the model: its sizes still say what int8 saved
        names = list(variants)
        ax.bar(names, [row.size_bytes / _MIB for row in variants.values()],
               color=[style.color(row) for row in variants.values()])
        ax.set_ylabel("size (MiB); no quality measured", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
    ax.tick_params(labelsize=7)
    ax.set_title(model, fontsize=9)
    ax.grid(alpha=0.3)


def _size_quality_figure(rows: Sequence[JobRow], style: _Style) -> Figure | None:
    models = {model: model_rows for model, model_rows in by_model(rows).items() if any(row.size_bytes for row in model_rows)}
    if not models:
        return None
    shown = list(models.items())[:MAX_MODELS]
    columns = min(len(shown), 4)
    lines = -(-len(shown) // columns)
    fig = Figure(figsize=(WIDTH_IN, 0.4 + 2.8 * lines), layout="constrained")
    axes = fig.subplots(lines, columns, squeeze=False).flatten()
    for ax, (model, model_rows) in zip(axes, shown):
        _quality_panel(ax, model, model_rows, style)
    for ax in axes[len(shown):]:
        ax.set_axis_off()
    _cut_note(fig, len(shown), len(models), "models")
    return fig


def _history_lines(rows: Sequence[JobRow], history: History, started_at: str) -> dict[str, list[tuple[JobRow, list]]]:
    """Per device, each job that has earlier runs: its points, this run's last."""
    lines: dict[str, list[tuple[JobRow, list]]] = {}
    now = datetime.fromisoformat(started_at)
    for row in rows:
        earlier = history.get(row.key, ())
        if earlier:
            points = [(datetime.fromisoformat(at), p50_ms) for _, at, p50_ms in earlier] + [(now, row.latency.p50)]
            lines.setdefault(row.device, []).append((row, points))
    return lines


def _history_figure(rows: Sequence[JobRow], history: History | None, started_at: str, style: _Style) -> Figure | None:
    """Each device's median latency over earlier runs, one line per model and variant; the star is this run."""
    lines = _history_lines(rows, history or {}, started_at)
    if not lines:
        return None
    shown = list(lines.items())[:MAX_DEVICES]
    columns = min(len(shown), 2)
    panels = -(-len(shown) // columns)
    fig = Figure(figsize=(WIDTH_IN, 0.4 + 3.0 * panels), layout="constrained")
    axes = fig.subplots(panels, columns, squeeze=False).flatten()
    markers = "osD^vP"
    for ax, (device, device_lines) in zip(axes, shown):
        models = list(dict.fromkeys(row.job.model for row, _ in device_lines))
        for row, points in device_lines:
            times, p50s = zip(*points)
            marker = markers[models.index(row.job.model) % len(markers)]
            ax.plot(times, p50s, marker=marker, markersize=4, color=style.color(row),
                    label=f"{row.job.model} {style.label(row)}")
            ax.plot(times[-1:], p50s[-1:], marker="*", markersize=12, color=style.color(row), linestyle="none")
        locator = AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        ax.set_title(device, fontsize=9)
        ax.set_ylabel("median latency (ms)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        _log_if_spread(ax, [p50 for _, points in device_lines for _, p50 in points])
    for ax in axes[len(shown):]:
        ax.set_axis_off()
    _cut_note(fig, len(shown), len(lines), "devices")
    return fig


_SVG_REFERENCE = re.compile(r'(\bid="|href="#|url\(#)')


def to_svg(fig: Figure, prefix: str) -> str:
    """The figure as an ``<svg>`` element for inlining: no XML prolog, and ids prefixed so that several
    figures in one page do not share an id (matplotlib reuses glyph ids across figures)."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):]
    return _SVG_REFERENCE.sub(lambda match: f"{match.group(1)}{prefix}-", svg).strip()


def draw(rows: Sequence[JobRow], history: History | None, started_at: str) -> list[Plot]:
    """The page's four plots, in page order; a plot with nothing to draw carries a note instead."""
    trusted = [row for row in rows if row.trusted]
    style = _Style(trusted)
    figures = (
        ("plot-latency", "Latency distribution", "Every run's latency for each variant, per model and device: the "
         "box holds the middle half of the runs, the line is the median, whiskers reach 1.5 × the box, dots lie "
         "beyond. Only done jobs: failed, timed-out, infra and invalid jobs are left out.",
         _latency_figure(trusted, style), "No job was measured, so there is no latency to show."),
        ("plot-fp32-int8", "fp32 against int8", "Median latency and artifact size of each variant, side by side; "
         "×N is the variant's value over fp32's on the same device (below 1 is faster or smaller).",
         _fp32_int8_figure(trusted, style), "No job was measured, so no variant can be compared with fp32."),
        ("plot-size-quality", "Size and accuracy", "Each variant's artifact size against its quality (the model's "
         "metric), per model: up and to the left is better.",
         _size_quality_figure(trusted, style), "No measured job recorded an artifact size."),
        ("plot-history", "Latency history", "Each device's median latency in earlier runs of the same model and "
         "variant, oldest first; the star is this run.",
         _history_figure(trusted, history, started_at, style),
         "No earlier runs of these jobs are in the store, so there is no history to draw yet."),
    )
    return [Plot(plot_id, title, caption, to_svg(fig, plot_id) if fig is not None else None, note)
            for plot_id, title, caption, fig, note in figures]
