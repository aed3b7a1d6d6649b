"""Figures as PNG bytes, drawn on matplotlib's object API (a Figure with its own Agg canvas):
no pyplot, so nothing process-wide is set and no display is needed."""
from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 150


def new_figure(width: float, height: float) -> Figure:
    """A figure of `width` x `height` inches on its own Agg canvas."""
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def png_bytes(figure: Figure, dpi: int = DPI) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def heatmap_png(matrix: np.ndarray, names: Sequence[str], title: str, *, value_format: str = "{:.1f}%",
                vmin: float = 0.0, vmax: float = 100.0, colorbar_label: str = "") -> bytes:
    """A square matrix as an annotated heatmap, `names` on both axes (rows top to bottom)."""
    matrix = np.asarray(matrix, dtype=float)
    side = 2.5 + 0.9 * len(names)  # room for the annotations as the matrix grows
    figure = new_figure(side + 1.0, side)
    axes = figure.add_subplot()
    image = axes.imshow(matrix, cmap="Blues", vmin=vmin, vmax=vmax)
    axes.set_xticks(range(len(names)), labels=names, rotation=45, ha="right", rotation_mode="anchor")
    axes.set_yticks(range(len(names)), labels=names)
    axes.set_title(title)
    middle = (vmin + vmax) / 2
    for (row, column), value in np.ndenumerate(matrix):
        # dark cells get white text so the number stays readable
        axes.text(column, row, value_format.format(value), ha="center", va="center",
                  color="white" if value > middle else "black")
    figure.colorbar(image, ax=axes, shrink=0.8, label=colorbar_label)
    return png_bytes(figure)


def error_bars_png(categories: Sequence[str], series: dict[str, tuple[Sequence[float], Sequence[float]]], *,
                   points: dict[str, Sequence[Sequence[float]]] | None = None, ylabel: str, title: str) -> bytes:
    """Means with +-std error bars, one group per category and one marker per series;
    `points` adds each underlying value (e.g. each seed) as a small dot beside its mean. The
    axis spans the values, not zero: differences of a point or two stay visible."""
    figure = new_figure(2.0 + 1.2 * len(categories) * max(1, len(series)) / 2, 4.0)
    axes = figure.add_subplot()
    width = 0.8 / max(1, len(series))
    x = np.arange(len(categories))
    for i, (label, (means, stds)) in enumerate(series.items()):
        offset = x - 0.4 + width * (i + 0.5)
        axes.errorbar(offset, means, yerr=stds, fmt="o", capsize=5, markersize=7, label=label)
        for position, values in zip(offset, (points or {}).get(label, [])):
            axes.plot([position + width / 4] * len(values), values, ".", color="grey", markersize=4)
    axes.set_xticks(x, labels=categories)
    axes.set_ylabel(ylabel)
    axes.set_title(title, fontsize=10)
    axes.legend()
    return png_bytes(figure)


def lines_png(panels: Sequence[tuple[str, str, str, dict[str, tuple]]], groups: Sequence[str] = ()) -> bytes:
    """Side-by-side panels of (title, x label, y label, {label: (xs, ys, group, dashed)}): lines
    of one group share a colour in every panel (in the order of `groups`, then as they come),
    dashed ones are drawn with square markers; None values are skipped."""
    figure = new_figure(5.5 * len(panels), 4.0)
    palette = [c["color"] for c in matplotlib.rcParams["axes.prop_cycle"]]
    colors = {group: palette[i % len(palette)] for i, group in enumerate(groups)}
    for index, (title, xlabel, ylabel, lines) in enumerate(panels, start=1):
        axes = figure.add_subplot(1, len(panels), index)
        for label, (xs, ys, group, dashed) in lines.items():
            kept = [(x, y) for x, y in zip(xs, ys) if y is not None]
            color = colors.setdefault(group, palette[len(colors) % len(palette)])
            if kept:
                axes.plot(*zip(*kept), color=color, linestyle="--" if dashed else "-", marker="s" if dashed else "o",
                          markersize=4 if dashed else 3, label=label)
        axes.set_title(title, fontsize=10)
        axes.set_xlabel(xlabel)
        axes.set_ylabel(ylabel)
        if lines:
            axes.legend(fontsize=7)
    return png_bytes(figure)
