"""Status share per period: stacked bars of all EVSE time by status (the `availability` report)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from evlog._reports.plots._figure import (
    check_plot_path,
    empty_figure,
    new_figure,
    save_figure,
    short_id,
    window_text,
)
from evlog._reports.plots._palette import STATE_COLOURS, STATE_LABELS
from evlog._reports.plots._time import as_zone, frame_zone, period_ticks

STATUS_ORDER = ("AVAILABLE", "CHARGING", "RESERVED", "BLOCKED", "OUT_OF_ORDER", "INOPERATIVE",
                "PLANNED", "REMOVED", "UNKNOWN")  # fmt: skip


def _status_parts(availability: pl.DataFrame) -> list[tuple[str, str]]:
    """(state, column) of each status the frame has, then no data and unobserved."""
    parts = [(s, f"{s.lower()}_s") for s in STATUS_ORDER]
    parts += [("no_data", "no_data_s"), ("unobserved", "unobserved_s")]
    return [(s, c) for s, c in parts if c in availability.columns]


def _stack(
    ax: Axes,
    positions: np.ndarray,
    rows: pl.DataFrame,
    parts: list[tuple[str, str]],
    total: np.ndarray,
    *,
    horizontal: bool,
) -> None:
    """Stacked bars at `positions`, one segment per state: its share (%) of `total`."""
    base = np.zeros(len(positions))
    for state, column in parts:
        share = np.nan_to_num(100 * rows[column].to_numpy() / total)
        if not share.any():
            continue
        style: dict[str, Any] = {
            "label": STATE_LABELS.get(state, state),
            "color": STATE_COLOURS[state],
            "edgecolor": "#777777" if state == "unobserved" else "none",
            "hatch": "////" if state == "unobserved" else None,
            "linewidth": 0.4,
        }
        if horizontal:
            ax.barh(positions, share, left=base, height=0.8, **style)
        else:
            ax.bar(positions, share, bottom=base, width=0.8, **style)
        base += share


def status_share_figure(
    availability: pl.DataFrame, *, tz: str | None = None, title: str | None = None
) -> Figure:
    """Stacked bars per period: the share of all EVSE time in each status (plus no data and
    unobserved), from an `availability` report per EVSE (any `by`)."""
    heading = title or "EVSE time by status"
    zone = frame_zone(availability, "period_start", tz)
    if availability.is_empty():
        return empty_figure(new_figure(10, 3), heading)
    parts = _status_parts(availability)
    local = as_zone(availability, ["period_start", "period_end"], zone)
    sums = (
        local.group_by("period_start", "period_end")
        .agg(pl.col(c).sum() for _, c in parts)
        .sort("period_start")
    )
    total = sums.select(pl.sum_horizontal(c for _, c in parts)).to_series().to_numpy()
    total = np.where(total > 0, total, np.nan)
    figure = new_figure(max(8.0, 2.5 + 0.6 * sums.height), 4.6)
    ax = figure.add_subplot()
    _stack(ax, np.arange(sums.height), sums, parts, total, horizontal=False)
    period_ticks(ax, sums, 20)
    ax.set_ylim(0, 100)
    ax.set_ylabel("share of EVSE time (%)")
    ax.set_xlabel(f"period start ({zone})")
    evses = availability["evse_id"].n_unique() if "evse_id" in availability.columns else 0
    window = window_text(sums["period_start"].min(), sums["period_end"].max())
    ax.set_title(f"{heading} — {window} ({zone}); {evses} EVSEs", fontsize=11, loc="left")
    figure.legend(loc="outside right center", fontsize=8, frameon=False, reverse=True)
    return figure


def evse_share_figure(
    availability: pl.DataFrame, *, max_evses: int = 40, title: str | None = None
) -> Figure:
    """One period (`--by none`): a stacked bar per EVSE of its time by status, least AVAILABLE
    first (one bar for the whole network would say little)."""
    heading = title or "EVSE time by status"
    if availability.is_empty():
        return empty_figure(new_figure(10, 3), heading)
    parts = _status_parts(availability)
    per_evse = (
        availability.group_by("evse_id")
        .agg(pl.col(c).sum() for _, c in parts)
        .with_columns(total=pl.sum_horizontal(c for _, c in parts))
        .with_columns(share=pl.col("available_s") / pl.col("total"))
        .sort(["share", "evse_id"], nulls_last=True)
    )
    shown = per_evse.head(max_evses)
    figure = new_figure(10, 1.4 + 0.24 * shown.height)
    ax = figure.add_subplot()
    y = np.arange(shown.height)[::-1]  # least available at the top
    total = np.where(shown["total"].to_numpy() > 0, shown["total"].to_numpy(), np.nan)
    _stack(ax, y, shown, parts, total, horizontal=True)
    ax.set_yticks(y, [short_id(str(e), 28) for e in shown["evse_id"]], fontsize=7)
    ax.set_xlim(0, 100)
    ax.set_xlabel("share of the EVSE's time (%)")
    hidden = per_evse.height - shown.height
    more = f"; {hidden} more EVSEs not shown" if hidden > 0 else ""
    window = window_text(availability["period_start"].min(), availability["period_end"].max())
    ax.set_title(f"{heading}, least available first — {window}{more}", fontsize=10, loc="left")
    figure.legend(loc="outside right center", fontsize=8, frameon=False, reverse=True)
    return figure


def plot_status_share(
    availability: pl.DataFrame, path: str | os.PathLike[str], **options: Any
) -> Path:
    """Write `status_share_figure(availability, **options)` to `path` (.png or .svg)."""
    check_plot_path(path)
    return save_figure(status_share_figure(availability, **options), path)
