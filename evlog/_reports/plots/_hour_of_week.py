"""The hour-of-week profile: mean AVAILABLE and CHARGING share per hour of the week."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from matplotlib.figure import Figure

from evlog._errors import UsageError
from evlog._reports.plots._figure import check_plot_path, empty_figure, new_figure, save_figure
from evlog._reports.plots._palette import NOT_OBSERVED, STATE_COLOURS
from evlog._reports.plots._time import as_zone, frame_zone

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def hour_of_week_profile(frame: pl.DataFrame, *, tz: str | None = None) -> pl.DataFrame:
    """Mean AVAILABLE and CHARGING share per hour of the week (0 = Monday 00:00-01:00, local).

    `frame` is an `availability` report by hour (per EVSE, or per location: only
    `available_pct` then) or an `intervals` report (EVSE rows are used). Shares are of the time
    with a known status (UNKNOWN, no data and unobserved time left out), pooled over entities
    and weeks. Columns: hour_of_week, weekday, hour, known_s, available_pct, charging_pct.
    """
    if "state" in frame.columns:
        pieces = _hourly_pieces(frame, frame_zone(frame, "interval_start", tz))
    else:
        pieces = _hourly_from_report(frame, frame_zone(frame, "period_start", tz))
    profile = pieces.group_by("hour_of_week").agg(
        known_s=pl.col("known_s").sum(),
        available_s=pl.col("available_s").sum(),
        charging_s=pl.col("charging_s").sum(),
    )
    hours = pl.DataFrame({"hour_of_week": pl.int_range(0, 168, eager=True).cast(pl.Int32)})
    return (
        hours.join(profile.cast({"hour_of_week": pl.Int32}), on="hour_of_week", how="left")
        .with_columns(
            weekday=pl.col("hour_of_week") // 24,
            hour=pl.col("hour_of_week") % 24,
            known_s=pl.col("known_s").fill_null(0.0),
        )
        .with_columns(
            available_pct=pl.when(pl.col("known_s") > 0).then(
                100 * pl.col("available_s") / pl.col("known_s")
            ),
            charging_pct=pl.when(pl.col("known_s") > 0).then(
                100 * pl.col("charging_s") / pl.col("known_s")
            ),
        )
        .select("hour_of_week", "weekday", "hour", "known_s", "available_pct", "charging_pct")
        .sort("hour_of_week")
    )


def _hour_of_week(expr: pl.Expr) -> pl.Expr:
    # weekday() and hour() are Int8: widen before the arithmetic, or Saturday 08:00 (hour 128)
    # wraps round.
    return (expr.dt.weekday().cast(pl.Int32) - 1) * 24 + expr.dt.hour().cast(pl.Int32)


def _hourly_from_report(frame: pl.DataFrame, zone: str) -> pl.DataFrame:
    if frame.is_empty():
        return pl.DataFrame(
            schema={"hour_of_week": pl.Int32, "known_s": pl.Float64, "available_s": pl.Float64,
                    "charging_s": pl.Float64}
        )  # fmt: skip
    longest = frame.select((pl.col("period_end") - pl.col("period_start")).max()).item()
    if longest > timedelta(hours=1):
        raise UsageError(
            "--plot: an hour-of-week profile needs an availability report --by hour"
            f" (periods here are up to {longest})"
        )
    local = as_zone(frame, ["period_start"], zone)
    if "known_s" in frame.columns:  # per-location roll-up: at least one EVSE available
        known, charging = pl.col("known_s"), pl.lit(0.0)
    else:
        known, charging = pl.col("observed_s") - pl.col("unknown_s"), pl.col("charging_s")
    return local.select(
        hour_of_week=_hour_of_week(pl.col("period_start")),
        known_s=known,
        available_s=pl.col("available_s"),
        charging_s=charging,
    )


def _hourly_pieces(intervals: pl.DataFrame, zone: str) -> pl.DataFrame:
    """EVSE intervals cut at local hour boundaries, with the seconds per hour of week."""
    evses = intervals
    if "entity_kind" in intervals.columns:
        evses = evses.filter(pl.col("entity_kind") == "evse")
    evses = evses.filter(~pl.col("state").is_in([*NOT_OBSERVED, "UNKNOWN"]))
    if evses.is_empty():
        return pl.DataFrame(
            schema={"hour_of_week": pl.Int32, "known_s": pl.Float64, "available_s": pl.Float64,
                    "charging_s": pl.Float64}
        )  # fmt: skip
    local = as_zone(evses, ["interval_start", "interval_end"], zone)
    pieces = (
        local.with_columns(
            hour=pl.datetime_ranges(
                pl.col("interval_start").dt.truncate("1h"),
                pl.col("interval_end"),
                "1h",
                closed="left",
            )
        )
        .explode("hour")
        .with_columns(
            piece_s=(
                pl.min_horizontal(pl.col("hour") + pl.duration(hours=1), pl.col("interval_end"))
                - pl.max_horizontal(pl.col("hour"), pl.col("interval_start"))
            ).dt.total_microseconds()
            / 1e6
        )
        .filter(pl.col("piece_s") > 0)
    )
    return pieces.select(
        hour_of_week=_hour_of_week(pl.col("hour")),
        known_s=pl.col("piece_s"),
        available_s=pl.when(pl.col("state") == "AVAILABLE").then(pl.col("piece_s")).otherwise(0.0),
        charging_s=pl.when(pl.col("state") == "CHARGING").then(pl.col("piece_s")).otherwise(0.0),
    )


def hour_of_week_figure(
    frame: pl.DataFrame, *, tz: str | None = None, title: str | None = None
) -> Figure:
    """Mean AVAILABLE (and CHARGING, when known) share per hour of week, Monday 00:00 first."""
    column = "interval_start" if "state" in frame.columns else "period_start"
    zone = frame_zone(frame, column, tz)
    heading = title or "Availability by hour of week"
    profile = hour_of_week_profile(frame, tz=zone)
    if profile["known_s"].sum() == 0:
        return empty_figure(new_figure(12, 4), heading, "no EVSE time with a known status")
    figure = new_figure(12, 4.2)
    ax = figure.add_subplot()
    x = profile["hour_of_week"].to_numpy() + 0.5
    available = profile["available_pct"].fill_null(np.nan).to_numpy()
    ax.step(x, available, where="mid", color=STATE_COLOURS["AVAILABLE"], linewidth=1.8,
            label="AVAILABLE")  # fmt: skip
    has_charging = bool(profile["charging_pct"].drop_nulls().sum() > 0)
    if has_charging:
        charging = profile["charging_pct"].fill_null(np.nan).to_numpy()
        ax.step(x, charging, where="mid", color=STATE_COLOURS["CHARGING"], linewidth=1.8,
                label="CHARGING (utilisation)")  # fmt: skip
    for day in range(1, 7):
        ax.axvline(day * 24, color="#777777", linewidth=0.6)
    for day in (5, 6):
        ax.axvspan(day * 24, day * 24 + 24, color="#000000", alpha=0.04, linewidth=0)
    ax.set_xticks([d * 24 + h for d in range(7) for h in (0, 6, 12, 18)])
    ax.set_xticklabels(
        [
            f"{WEEKDAYS[d]}\n00:00" if h == 0 else f"{h:02d}"
            for d in range(7)
            for h in (0, 6, 12, 18)
        ],
        fontsize=8,
    )
    ax.set_xlim(0, 168)
    ax.set_ylim(0, 100)
    ax.set_ylabel("share of EVSE time with a known status (%)")
    ax.set_xlabel(f"hour of week, Monday 00:00 first ({zone})")
    ax.grid(axis="y", color="#999999", linewidth=0.4, alpha=0.6)
    ax.legend(loc="upper right", fontsize=8, frameon=True, ncols=2)
    samples = profile.filter(pl.col("known_s") > 0).height
    ax.set_title(
        f"{heading} ({zone}) — mean over EVSEs and weeks; {samples} of 168 hours have data",
        fontsize=11,
        loc="left",
    )
    return figure


def plot_hour_of_week(frame: pl.DataFrame, path: str | os.PathLike[str], **options: Any) -> Path:
    """Write `hour_of_week_figure(frame, **options)` to `path` (.png or .svg)."""
    check_plot_path(path)
    return save_figure(hour_of_week_figure(frame, **options), path)
