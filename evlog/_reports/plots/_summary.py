"""The summary's one-page picture: the distributions of EVSE in-service and station uptime, the
worst EVSEs, and the summary's key lines."""

from __future__ import annotations

import itertools
import os
import textwrap
from pathlib import Path

import polars as pl
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from evlog._reports.plots._figure import check_plot_path, new_figure, save_figure, short_id
from evlog._reports.plots._palette import OKABE_ITO

BINS = [0, 50, 80, 90, 95, 97, 99, 100.0001]  # the bands operators act on: 97 % and up
KEY_SECTIONS = ("network", "coverage", "availability", "uptime", "flapping", "at the end")


def _histogram(ax: Axes, values: pl.Series, title: str, colour: str) -> None:
    clean = [float(v) for v in values.drop_nulls()]
    counts = [sum(lo <= v < hi for v in clean) for lo, hi in itertools.pairwise(BINS)]
    labels = ["<50", "50-80", "80-90", "90-95", "95-97", "97-99", "99-100"]
    bars = ax.bar(labels, counts, color=colour)
    ax.bar_label(bars, fontsize=7)
    ax.set_title(f"{title} ({len(clean)} measured)", loc="left", fontsize=9)
    ax.tick_params(labelsize=7)


def summary_figure(
    lines: pl.DataFrame, evses: pl.DataFrame, stations: pl.DataFrame, worst: int = 10
) -> Figure:
    """Four panels: EVSE in-service and station uptime histograms (percent bands), the worst
    EVSEs by in-service share, and the summary's key figures as text."""
    figure = new_figure(11, 7.5)
    grid = figure.add_gridspec(2, 2)
    _histogram(
        figure.add_subplot(grid[0, 0]),
        evses.get_column("in_service_pct") if evses.height else pl.Series([], dtype=pl.Float64),
        "EVSEs by in-service %",
        OKABE_ITO["blue"],
    )
    _histogram(
        figure.add_subplot(grid[0, 1]),
        stations.get_column("uptime_pct") if stations.height else pl.Series([], dtype=pl.Float64),
        "stations by uptime %",
        OKABE_ITO["bluish_green"],
    )
    ax = figure.add_subplot(grid[1, 0])
    shown = (
        evses.filter(pl.col("in_service_pct").is_not_null())
        .sort(["in_service_pct", "evse_id"])
        .head(worst)
        if evses.height
        else evses
    )
    if shown.height:
        positions = list(range(shown.height))[::-1]
        values = [float(v) for v in shown.get_column("in_service_pct")]
        bars = ax.barh(positions, values, color=OKABE_ITO["vermillion"])
        ax.bar_label(bars, labels=[f"{v:.1f}" for v in values], fontsize=7, padding=2)
        ax.set_yticks(positions, [short_id(str(e), 22) for e in shown.get_column("evse_id")])
        ax.set_xlim(0, 105)
    ax.set_title("worst EVSEs: in service %", loc="left", fontsize=9)
    ax.tick_params(labelsize=7)
    text = figure.add_subplot(grid[1, 1])
    text.set_axis_off()
    # the network's figures, not the lists of entities under them
    ids = {*evses.get_column("evse_id"), *stations.get_column("station_id")}
    key = lines.filter(pl.col("section").is_in(KEY_SECTIONS) & ~pl.col("item").is_in(ids))
    rows = [
        textwrap.shorten(
            f"{r['item']}: " + (f"{r['value']:g} " if r["value"] is not None else "") + r["detail"],
            64,
        )
        for r in key.iter_rows(named=True)
    ]
    text.text(0, 1, "\n".join(rows), va="top", ha="left", fontsize=7.5, family="monospace")
    start = lines.filter(pl.col("item") == "start").get_column("detail")
    end = lines.filter(pl.col("item") == "end").get_column("detail")
    when = f"{start[0]} to {end[0]}" if start.len() and end.len() else ""
    figure.suptitle(f"network summary {when}", fontsize=11)
    return figure


def plot_summary(
    lines: pl.DataFrame, evses: pl.DataFrame, stations: pl.DataFrame, path: str | os.PathLike[str]
) -> Path:
    """Write `summary_figure(...)` to `path` (.png or .svg)."""
    check_plot_path(path)
    return save_figure(summary_figure(lines, evses, stations), path)
