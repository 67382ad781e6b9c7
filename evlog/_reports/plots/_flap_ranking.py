"""The worst flappers of the `flaps` report: disconnects and time inside flapping episodes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from matplotlib.figure import Figure

from evlog._reports.plots._figure import (
    check_plot_path,
    empty_figure,
    new_figure,
    save_figure,
    short_id,
    window_text,
)
from evlog._reports.plots._palette import OKABE_ITO
from evlog._reports.plots._time import frame_zone


def flap_totals(flaps: pl.DataFrame) -> pl.DataFrame:
    """The `flaps` report summed over its periods per station, worst first (as the report ranks:
    most time flapping, then most short disconnects, then most disconnects)."""
    return (
        flaps.group_by("station_id")
        .agg(
            pl.col("disconnects").sum(),
            pl.col("short_disconnects").sum(),
            pl.col("flapping_episodes").sum(),
            pl.col("flapping_s").sum(),
            pl.col("online_s").sum(),
            pl.col("observed_s").sum(),
        )
        .with_columns(
            uptime_pct=pl.when(pl.col("observed_s") > 0).then(
                100 * pl.col("online_s") / pl.col("observed_s")
            )
        )
        .sort(
            ["flapping_s", "short_disconnects", "disconnects", "station_id"],
            descending=[True, True, True, False],
        )
    )


def flap_ranking_figure(
    flaps: pl.DataFrame, *, top: int = 15, title: str | None = None, tz: str | None = None
) -> Figure:
    """Horizontal bars per station, worst first: disconnects (short ones apart), time flapping."""
    heading = title or "Worst flappers"
    zone = frame_zone(flaps, "period_start", tz)
    totals = flap_totals(flaps).filter(pl.col("disconnects") > 0) if not flaps.is_empty() else flaps
    if totals.is_empty():
        return empty_figure(new_figure(10, 3), heading, "no disconnects in the window")
    shown = totals.head(top)
    n = shown.height
    figure = new_figure(12, 1.9 + 0.36 * n)
    left, right = figure.subplots(1, 2, sharey=True, width_ratios=[1.1, 1])
    y = np.arange(n)
    short = shown["short_disconnects"].to_numpy()
    longer = shown["disconnects"].to_numpy() - short
    left.barh(y, short, color=OKABE_ITO["orange"], label="short (reconnected quickly)")
    left.barh(y, longer, left=short, color=OKABE_ITO["vermillion"], label="longer")
    for i, (d, e) in enumerate(zip(shown["disconnects"], shown["flapping_episodes"], strict=True)):
        left.text(d, i, f" {d}  ({e} ep.)", va="center", fontsize=7)
    left.set_xlabel("disconnects (online → offline), count")
    # below the plots, not over the bars and their labels
    figure.legend(loc="outside lower left", ncols=2, fontsize=8, frameon=False)
    most = shown.get_column("disconnects").cast(pl.Int64).max()
    left.set_xlim(0, max(1, most if isinstance(most, int) else 1) * 1.3)
    flapping = shown["flapping_s"].to_numpy()
    unit, size = ("hours", 3600.0) if flapping.max() >= 3 * 3600 else ("minutes", 60.0)
    right.barh(y, flapping / size, color=OKABE_ITO["reddish_purple"])
    for i, (f, u) in enumerate(zip(flapping, shown["uptime_pct"].to_list(), strict=True)):
        up = "n/a" if u is None else f"{u:.2f} %"
        right.text(f / size, i, f" {f / size:.1f}  (uptime {up})", va="center", fontsize=7)
    right.set_xlim(0, max(float(flapping.max() / size), 1.0) * 1.45)
    right.set_xlabel(f"time inside flapping episodes, {unit}")
    left.set_yticks(y)
    left.set_yticklabels([short_id(s) for s in shown["station_id"].to_list()], fontsize=8)
    left.set_ylim(n - 0.5, -0.5)
    for ax in (left, right):
        ax.grid(axis="x", color="#999999", linewidth=0.4, alpha=0.6)
        ax.set_axisbelow(True)
    window = window_text(flaps["period_start"].min(), flaps["period_end"].max())
    more = f"; top {n} of {totals.height} stations with disconnects"
    figure.suptitle(f"{heading} — {window} ({zone}){more}", fontsize=11, x=0.01, ha="left")
    return figure


def plot_flap_ranking(flaps: pl.DataFrame, path: str | os.PathLike[str], **options: Any) -> Path:
    """Write `flap_ranking_figure(flaps, **options)` to `path` (.png or .svg)."""
    check_plot_path(path)
    return save_figure(flap_ranking_figure(flaps, **options), path)
