"""Figures as PNG bytes, drawn on matplotlib's object API (a Figure with its own Agg canvas):
no pyplot, so nothing process-wide is set and no display is needed."""
from __future__ import annotations

import io
from collections.abc import Sequence

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
