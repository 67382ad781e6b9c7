"""Reliability: the ports of the last report month against the standard's uptime target."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import polars as pl
from matplotlib.figure import Figure

from evlog._reports.plots._figure import check_plot_path, new_figure, save_figure
from evlog._reports.plots._palette import NO_DATA_GREY, OKABE_ITO


def reliability_figure(
    frame: pl.DataFrame, *, max_ports: int = 40, title: str | None = None
) -> Figure:
    """Ports of the last report month against the target line, worst first (horizontal bars)."""
    ports = frame.filter(pl.col("scope") == "port")
    if ports.is_empty():
        figure = new_figure(7, 2.5)
        ax = figure.add_subplot()
        ax.text(0.5, 0.5, "no ports in the window", ha="center", va="center")
        ax.set_axis_off()
        return figure
    month = str(ports.get_column("report_month").max())
    latest = ports.filter(pl.col("report_month") == month).sort(["uptime_pct", "port_id"])
    shown = latest.head(max_ports)
    target = float(shown.get_column("target_pct")[0])
    standard = str(shown.get_column("standard")[0])
    figure = new_figure(8, 1.2 + 0.28 * shown.height)
    ax = figure.add_subplot()
    labels = [str(p) for p in shown.get_column("port_id")]
    values = [float(v) if v is not None else 0.0 for v in shown.get_column("uptime_pct")]
    colour = {True: OKABE_ITO["bluish_green"], False: OKABE_ITO["vermillion"], None: NO_DATA_GREY}
    colours = [colour[ok] for ok in shown.get_column("passed")]
    positions = list(range(len(labels)))[::-1]  # worst at the top
    bars = ax.barh(positions, values, color=colours)
    ax.bar_label(bars, labels=bar_labels(shown), padding=2, fontsize=7)
    ax.set_yticks(positions, labels)
    ax.axvline(
        target, color=OKABE_ITO["black"], linestyle="--", linewidth=1, label=f"target {target:g} %"
    )
    low = min([*values, target])
    ax.set_xlim(max(0.0, low - max(1.0, (100 - low) * 0.1)), 100.0)
    ax.set_xlabel("uptime %")
    hidden = latest.height - shown.height
    suffix = f" ({hidden} more ports not shown)" if hidden > 0 else ""
    unjudged = latest.get_column("passed").null_count()
    if unjudged:  # grey bars: too little of their basis observed (no_verdict_reason)
        suffix += f"\n{unjudged} of {latest.height} ports without a verdict: too little observed"
    ax.set_title(title or f"{standard} reliability, {month}: ports worst first{suffix}")
    ax.legend(loc="lower right")
    return figure


def bar_labels(ports: pl.DataFrame) -> list[str]:
    """A bar's figure, and whether it has a verdict (grey bars have none)."""
    return [
        "nothing observed"
        if value is None
        else f"{value:.2f}"
        if passed is not None
        else f"{value:.2f}, no verdict"
        for value, passed in ports.select("uptime_pct", "passed").iter_rows()
    ]


def plot_reliability(frame: pl.DataFrame, path: str | os.PathLike[str], **options: Any) -> Path:
    """Write `reliability_figure(frame, **options)` to `path` (.png or .svg)."""
    check_plot_path(path)
    return save_figure(reliability_figure(frame, **options), path)
