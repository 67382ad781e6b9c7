"""Every plot's canvas and file: figure size, the empty picture, saving by suffix, short labels."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from evlog._errors import UsageError
from evlog._reports.files import check_output_file, write_file

PLOT_SUFFIXES: tuple[str, ...] = (".png", ".svg")
DPI = 110


def check_plot_path(path: str | os.PathLike[str]) -> Path:
    """`path` as a Path if it names a PNG or SVG file; a `UsageError` naming `--plot` otherwise.

    The CLI can call this before running a report, so a typo fails before any work is done.
    """
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in PLOT_SUFFIXES:
        shown = suffix or "no suffix"
        raise UsageError(
            f"--plot: expected a file ending in .png or .svg, got {str(path)!r} ({shown})"
        )
    return check_output_file(target, "--plot")


def save_figure(figure: Figure, path: str | os.PathLike[str]) -> Path:
    """Write `figure` as PNG or SVG according to the suffix of `path`; returns the path."""
    target = check_plot_path(path)
    fmt = target.suffix.lower().lstrip(".")
    # No creation date in the file: the same report gives the same bytes.
    metadata: dict[str, Any] = {"Date": None} if fmt == "svg" else {"Software": None}
    write_file(
        target,
        lambda tmp: figure.savefig(
            tmp, format=fmt, dpi=DPI, bbox_inches="tight", metadata=metadata
        ),
        "the plot to",
    )
    return target


def new_figure(width: float, height: float) -> Figure:
    """A blank figure of `width` x `height` inches on its own Agg canvas (no pyplot, no backend)."""
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def empty_figure(figure: Figure, title: str, message: str = "no rows in the window") -> Figure:
    """`figure` with only `title` and `message`: a report without rows still gives a picture."""
    ax = figure.add_subplot()
    ax.set_title(title)
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="#555555")
    ax.set_axis_off()
    return figure


def window_text(start: Any, end: Any) -> str:
    """The window a figure shows, for its title."""
    return f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M}"


def short_id(entity_id: str, width: int = 30) -> str:
    """`entity_id` cut to `width` characters from the left (ids differ at their ends)."""
    return entity_id if len(entity_id) <= width else "…" + entity_id[-(width - 1) :]
