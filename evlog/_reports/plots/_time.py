"""Time zones and time axes of the plots: every time axis is labelled with its zone."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import matplotlib.dates as mdates
import numpy as np
import polars as pl
from matplotlib.axes import Axes


def frame_zone(frame: pl.DataFrame, column: str, tz: str | None = None) -> str:
    """The time zone to show: `tz` if given, else the zone of `frame[column]`, else UTC."""
    if tz:
        return tz
    if column in frame.columns:
        dtype = frame.schema[column]
        if isinstance(dtype, pl.Datetime) and dtype.time_zone:
            return dtype.time_zone
    return "UTC"


def as_zone(frame: pl.DataFrame, columns: Sequence[str], zone: str) -> pl.DataFrame:
    """`columns` of `frame` converted to `zone` (naive timestamps are taken as UTC)."""
    return frame.with_columns(
        (
            pl.col(c).dt.convert_time_zone(zone)
            if frame.schema[c].time_zone  # type: ignore[attr-defined]
            else pl.col(c).dt.replace_time_zone("UTC").dt.convert_time_zone(zone)
        )
        for c in columns
    )


def date_numbers(series: pl.Series) -> np.ndarray[Any, Any]:
    """Matplotlib date numbers (days since the epoch, UTC) of a timestamp column."""
    dtype = series.dtype
    if isinstance(dtype, pl.Datetime) and dtype.time_zone:
        series = series.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    micros = series.cast(pl.Datetime("us")).dt.epoch("us").to_numpy().astype("float64")
    return np.asarray(micros / 86_400e6)


def time_axis(ax: Axes, zone: str) -> None:
    """Date ticks of the x axis in `zone`, and the zone in its label."""
    from zoneinfo import ZoneInfo

    tzinfo = ZoneInfo(zone)
    locator = mdates.AutoDateLocator(tz=tzinfo, minticks=4, maxticks=12)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    formatter = mdates.ConciseDateFormatter(locator, tz=tzinfo)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_formatter(formatter)
    ax.set_xlabel(f"time ({zone})")


def period_ticks(ax: Axes, periods: pl.DataFrame, max_ticks: int) -> None:
    """Label columns 0, 1, ... of the x axis with the `period_start` of the rows of `periods`
    (period_start, period_end; one row per column), at most `max_ticks` of them."""
    step = max(1, math.ceil(periods.height / max_ticks))
    length = periods["period_end"][0] - periods["period_start"][0]
    fmt = "%a\n%d %b" if length >= timedelta(days=1) else "%a %d %b\n%H:%M"
    ax.set_xticks(range(0, periods.height, step))
    ax.set_xticklabels(
        [f"{p:{fmt}}" for p in periods["period_start"].to_list()[::step]],
        rotation=45 if periods.height > 8 else 0,
        ha="right" if periods.height > 8 else "center",
        fontsize=8,
    )
