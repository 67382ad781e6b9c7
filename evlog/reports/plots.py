"""Pictures of the reports (matplotlib, no display needed): `--plot FILE.png|svg` and notebooks.

Each plot is a pair: `<plot>_figure(frame, ...)` builds a `matplotlib.figure.Figure` (show it in a
notebook, or tweak it), `plot_<plot>(frame, path, ...)` writes it. The file type follows the
suffix of `path`: `.png` or `.svg`, anything else is a `UsageError` naming `--plot`. No pyplot and
no global backend: figures are drawn on their own Agg canvas, so importing this module changes
nothing for a notebook's inline backend.

Plots, and the report frame each one reads (`evlog.open_lake(...).<report>(...)`):

| plot                    | input                                 | what it shows                  |
|-------------------------|---------------------------------------|--------------------------------|
| `timeline_figure`       | `intervals`                           | state bands per entity,        |
|                         |                                       | outages, flapping episodes     |
| `uptime_heatmap_figure` | `uptime` (any `by`, `day` the norm)   | stations x periods, uptime_pct |
| `flap_ranking_figure`   | `flaps`                               | worst flappers: disconnects,   |
|                         |                                       | time flapping                  |
| `hour_of_week_figure`   | `availability` by hour (or location   | mean AVAILABLE and CHARGING    |
|                         | roll-up by hour), or `intervals`      | share per hour of week         |
| `status_share_figure`   | `availability` by day/week/month      | network share per status and   |
|                         |                                       | period (stacked bars)          |
| `heatmap_figure`        | any frame with entity, period and a   | the general heat map behind    |
|                         | percentage column                     | the uptime one                 |

`plot_report(report, frame, path)` is the one call the CLI makes for `--plot FILE`:

    availability  -> hour-of-week profile when the periods are an hour or shorter, else the
                     status share per period (per-location roll-up: heat map of available_pct)
    uptime        -> daily uptime heat map
    flaps         -> worst-flapper ranking
    intervals     -> state timeline

Every time axis is labelled with its time zone: the zone of the frame's timestamps (the report's
`--tz`), unless `tz=` says otherwise. Colours come from the Okabe-Ito palette, which stays
distinguishable with the common colour-vision deficiencies; the same state always has the same
colour in every plot.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import matplotlib.dates as mdates
import numpy as np
import polars as pl
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from evlog.errors import UsageError
from evlog.reports.flaps import FlapSettings

PLOT_SUFFIXES: tuple[str, ...] = (".png", ".svg")
DPI = 110

# Okabe & Ito (2008), "Color Universal Design": safe for deuteranopia, protanopia, tritanopia.
OKABE_ITO = {
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
    "black": "#000000",
}
NO_DATA_GREY = "#D9D9D9"
UNKNOWN_GREY = "#8C8C8C"

STATE_COLOURS: dict[str, str] = {
    "AVAILABLE": OKABE_ITO["bluish_green"],
    "CHARGING": OKABE_ITO["blue"],
    "RESERVED": OKABE_ITO["sky_blue"],
    "BLOCKED": OKABE_ITO["orange"],
    "OUT_OF_ORDER": OKABE_ITO["vermillion"],
    "INOPERATIVE": OKABE_ITO["reddish_purple"],
    "PLANNED": OKABE_ITO["yellow"],
    "REMOVED": OKABE_ITO["black"],
    "UNKNOWN": UNKNOWN_GREY,
    "online": OKABE_ITO["bluish_green"],
    "offline": OKABE_ITO["vermillion"],
    "no_data": NO_DATA_GREY,
    "unobserved": "#FFFFFF",  # drawn hatched: the recorder was not listening
}
STATE_LABELS: dict[str, str] = {
    "no_data": "no data (before first event / after a gap)",
    "unobserved": "unobserved (recorder not listening)",
}
OTHER_STATE_COLOUR = "#BBBBBB"
# Time in these states makes an entity "interesting" for the timeline's selection.
BAD_STATES = frozenset({"offline", "OUT_OF_ORDER", "INOPERATIVE", "UNKNOWN", "BLOCKED"})
NOT_OBSERVED = frozenset({"no_data", "unobserved"})
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

REPORT_PLOTS: dict[str, str] = {
    "availability": "hour-of-week profile (hourly periods) or status share per period",
    "uptime": "uptime heat map (stations x periods)",
    "flaps": "worst-flapper ranking",
    "intervals": "state timeline",
}


# ------------------------------------------------------------------------------------------------
# files


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
    if not target.parent.is_dir():
        raise UsageError(f"--plot: directory {str(target.parent)!r} does not exist")
    return target


def save_figure(figure: Figure, path: str | os.PathLike[str]) -> Path:
    """Write `figure` as PNG or SVG according to the suffix of `path`; returns the path."""
    target = check_plot_path(path)
    fmt = target.suffix.lower().lstrip(".")
    # No creation date in the file: the same report gives the same bytes.
    metadata: dict[str, Any] = {"Date": None} if fmt == "svg" else {"Software": None}
    figure.savefig(target, format=fmt, dpi=DPI, bbox_inches="tight", metadata=metadata)
    return target


def _new_figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _empty(figure: Figure, title: str, message: str = "no rows in the window") -> Figure:
    ax = figure.add_subplot()
    ax.set_title(title)
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="#555555")
    ax.set_axis_off()
    return figure


# ------------------------------------------------------------------------------------------------
# time helpers


def frame_zone(frame: pl.DataFrame, column: str, tz: str | None = None) -> str:
    """The time zone to show: `tz` if given, else the zone of `frame[column]`, else UTC."""
    if tz:
        return tz
    if column in frame.columns:
        dtype = frame.schema[column]
        if isinstance(dtype, pl.Datetime) and dtype.time_zone:
            return dtype.time_zone
    return "UTC"


def _utc(expr: pl.Expr) -> pl.Expr:
    """A timestamp column as naive UTC, whatever zone (or none: UTC) it is in."""
    return expr.dt.convert_time_zone("UTC").dt.replace_time_zone(None)


def _as_zone(frame: pl.DataFrame, columns: Sequence[str], zone: str) -> pl.DataFrame:
    return frame.with_columns(
        (
            pl.col(c).dt.convert_time_zone(zone)
            if frame.schema[c].time_zone  # type: ignore[attr-defined]
            else pl.col(c).dt.replace_time_zone("UTC").dt.convert_time_zone(zone)
        )
        for c in columns
    )


def _date_numbers(series: pl.Series) -> np.ndarray[Any, Any]:
    """Matplotlib date numbers (days since the epoch, UTC) of a timestamp column."""
    dtype = series.dtype
    if isinstance(dtype, pl.Datetime) and dtype.time_zone:
        series = series.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    micros = series.cast(pl.Datetime("us")).dt.epoch("us").to_numpy().astype("float64")
    return np.asarray(micros / 86_400e6)


def _time_axis(ax: Axes, zone: str) -> None:
    from zoneinfo import ZoneInfo

    tzinfo = ZoneInfo(zone)
    locator = mdates.AutoDateLocator(tz=tzinfo, minticks=4, maxticks=12)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    formatter = mdates.ConciseDateFormatter(locator, tz=tzinfo)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_formatter(formatter)
    ax.set_xlabel(f"time ({zone})")


def _window_text(start: Any, end: Any) -> str:
    return f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M}"


def _short_id(entity_id: str, width: int = 30) -> str:
    return entity_id if len(entity_id) <= width else "…" + entity_id[-(width - 1) :]


# ------------------------------------------------------------------------------------------------
# state timeline


@dataclass(frozen=True)
class Episode:
    """A flapping episode of one station: from its first disconnect to its last reconnect."""

    entity_id: str
    start: Any
    end: Any


def merge_adjacent(intervals: pl.DataFrame) -> pl.DataFrame:
    """Join touching intervals of the same entity and state (undo a split at period boundaries)."""
    if intervals.is_empty():
        return intervals
    ordered = intervals.sort("entity_kind", "entity_id", "start")
    key = pl.struct("entity_kind", "entity_id")
    starts_run = (
        (pl.col("state") != pl.col("state").shift(1).over(key))
        | (pl.col("start") != pl.col("end").shift(1).over(key))
        | pl.col("state").shift(1).over(key).is_null()
    )
    return (
        ordered.with_columns(run=starts_run.fill_null(True).cum_sum())
        .group_by("entity_kind", "entity_id", "run", maintain_order=True)
        .agg(
            pl.col("location_id").first(),
            pl.col("state").first(),
            pl.col("start").min(),
            pl.col("end").max(),
            pl.col("duration_s").sum(),
        )
        .drop("run")
    )


def flapping_episodes(
    intervals: pl.DataFrame, settings: FlapSettings | None = None
) -> list[Episode]:
    """The flapping episodes in station intervals, by the `flaps` report's definition.

    Every run of `settings.count` consecutive disconnects (online -> offline) whose first and last
    lie within `settings.window` spans from its first disconnect to the end of its last offline
    interval; overlapping or touching spans merge into one episode.
    """
    settings = settings or FlapSettings()
    stations = (
        intervals.filter(pl.col("entity_kind") == "station")
        if "entity_kind" in intervals.columns
        else intervals
    )
    stations = merge_adjacent(stations) if not stations.is_empty() else stations
    episodes: list[Episode] = []
    for (entity_id,), rows in stations.group_by("entity_id", maintain_order=True):
        states = rows["state"].to_list()
        starts = rows["start"].to_list()
        ends = rows["end"].to_list()
        disconnects = [
            (starts[i], ends[i])
            for i in range(1, len(states))
            if states[i] == "offline" and states[i - 1] == "online"
        ]
        spans = [
            (disconnects[i][0], disconnects[i + settings.count - 1][1])
            for i in range(len(disconnects) - settings.count + 1)
            if disconnects[i + settings.count - 1][0] - disconnects[i][0] <= settings.window
        ]
        for span_start, span_end in sorted(spans):
            last = episodes[-1] if episodes else None
            if last and last.entity_id == entity_id and span_start <= last.end:
                episodes[-1] = Episode(str(entity_id), last.start, max(last.end, span_end))
            else:
                episodes.append(Episode(str(entity_id), span_start, span_end))
    return episodes


def rank_entities(intervals: pl.DataFrame) -> pl.DataFrame:
    """Entities by how interesting their timeline is, most interesting first.

    Score = share of observed time in a bad state (offline, OUT_OF_ORDER, INOPERATIVE, UNKNOWN,
    BLOCKED) + 0.5 x state changes relative to the busiest entity of the same kind.
    Columns: entity_kind, entity_id, bad_share, changes, score.
    """
    merged = merge_adjacent(intervals)
    observed = ~pl.col("state").is_in(list(NOT_OBSERVED))
    stats = merged.group_by("entity_kind", "entity_id").agg(
        bad_s=pl.col("duration_s").filter(pl.col("state").is_in(list(BAD_STATES))).sum(),
        observed_s=pl.col("duration_s").filter(observed).sum(),
        changes=(observed.cast(pl.Int64).sum() - 1).clip(lower_bound=0),
    )
    return (
        stats.with_columns(
            bad_share=pl.when(pl.col("observed_s") > 0)
            .then(pl.col("bad_s") / pl.col("observed_s"))
            .otherwise(0.0)
        )
        .with_columns(
            score=pl.col("bad_share")
            + 0.5
            * pl.col("changes")
            / pl.col("changes").max().over("entity_kind").clip(lower_bound=1)
        )
        .sort(["score", "entity_id"], descending=[True, False])
        .select("entity_kind", "entity_id", "bad_share", "changes", "score")
    )


def _pick_entities(intervals: pl.DataFrame, max_entities: int) -> list[tuple[str, str]]:
    """Up to `max_entities` (kind, id), stations first, each kind worst first; shared fairly."""
    ranked = rank_entities(intervals)
    kinds = [k for k in ("station", "evse") if k in set(ranked["entity_kind"].to_list())]
    kinds += sorted(set(ranked["entity_kind"].to_list()) - set(kinds))
    per_kind = {k: ranked.filter(pl.col("entity_kind") == k)["entity_id"].to_list() for k in kinds}
    quota = {k: 0 for k in kinds}
    left = max_entities
    while left > 0 and any(quota[k] < len(per_kind[k]) for k in kinds):
        for k in kinds:
            if left > 0 and quota[k] < len(per_kind[k]):
                quota[k] += 1
                left -= 1
    return [(k, e) for k in kinds for e in per_kind[k][: quota[k]]]


def timeline_figure(
    intervals: pl.DataFrame,
    *,
    max_entities: int = 20,
    tz: str | None = None,
    title: str | None = None,
    flap_settings: FlapSettings | None = None,
    entities: Sequence[str] = (),
) -> Figure:
    """A state timeline: one row of coloured bands per entity (the `intervals` report frame).

    With more than `max_entities` entities, the most interesting ones are drawn (see
    `rank_entities`), stations and EVSEs sharing the rows; `entities` picks ids explicitly.
    Station rows mark each outage (offline for `flap_settings.threshold` or longer) with a
    triangle at its start and each flapping episode with a black bar under the row.
    """
    settings = flap_settings or FlapSettings()
    zone = frame_zone(intervals, "start", tz)
    heading = title or "State timeline"
    if intervals.is_empty():
        return _empty(_new_figure(10, 3), heading)
    if "entity_kind" not in intervals.columns:
        intervals = intervals.with_columns(entity_kind=pl.lit("evse"))
    all_entities = intervals.select("entity_kind", "entity_id").unique().height
    if entities:
        wanted = set(entities)
        chosen = [(k, e) for k, e in _pick_entities(intervals, all_entities) if e in wanted]
    else:
        chosen = _pick_entities(intervals, max_entities)
    rows = {entity: i for i, (_, entity) in enumerate(chosen)}
    data = intervals.filter(pl.col("entity_id").is_in(list(rows)))
    if data.is_empty():
        return _empty(_new_figure(10, 3), heading, "none of the chosen entities has intervals")

    figure = _new_figure(12, 1.6 + 0.32 * len(rows))
    ax = figure.add_subplot()
    starts = _date_numbers(data["start"])
    ends = _date_numbers(data["end"])
    row_of = np.array([rows[e] for e in data["entity_id"].to_list()])
    states = data["state"].to_list()
    present: list[str] = []
    for state in [*STATE_COLOURS, *sorted(set(states) - set(STATE_COLOURS))]:
        mask = np.array([s == state for s in states])
        if not mask.any():
            continue
        present.append(state)
        hatched = state == "unobserved"
        for row in np.unique(row_of[mask]):
            pick = mask & (row_of == row)
            ax.broken_barh(
                list(zip(starts[pick], ends[pick] - starts[pick], strict=True)),
                (row - 0.35, 0.7),
                facecolors=STATE_COLOURS.get(state, OTHER_STATE_COLOUR),
                edgecolor="#777777" if hatched else "none",
                hatch="////" if hatched else None,
                linewidth=0.3 if hatched else 0,
            )

    # Outages and flapping episodes of stations.
    marks: list[Any] = []
    station_data = data.filter(pl.col("entity_kind") == "station")
    if not station_data.is_empty():
        merged = merge_adjacent(station_data)
        outages = merged.filter(
            (pl.col("state") == "offline")
            & (pl.col("duration_s") >= settings.threshold.total_seconds())
        )
        if not outages.is_empty():
            ax.scatter(
                _date_numbers(outages["start"]),
                [rows[e] - 0.42 for e in outages["entity_id"].to_list()],
                marker="v",
                s=28,
                color=OKABE_ITO["black"],
                zorder=4,
                clip_on=False,
            )
            marks.append(
                ax.scatter([], [], marker="v", s=28, color=OKABE_ITO["black"],
                           label=f"outage start (offline ≥ {_duration_text(settings.threshold)})")
            )  # fmt: skip
        episodes = flapping_episodes(station_data, settings)
        for episode in episodes:
            x0, x1 = _date_numbers(pl.Series([episode.start, episode.end]))
            ax.broken_barh(
                [(x0, max(x1 - x0, 0))],
                (rows[episode.entity_id] + 0.36, 0.12),
                facecolors=OKABE_ITO["black"],
                zorder=3,
            )
        if episodes:
            marks.append(Patch(facecolor=OKABE_ITO["black"], label="flapping episode"))

    kinds = {entity: kind for kind, entity in chosen}
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([f"{_kind_tag(kinds[e])} {_short_id(e)}" for e in rows], fontsize=8)
    ax.set_ylim(len(rows) - 0.4, -0.6)
    ax.set_xlim(float(starts.min()), float(ends.max()))
    _time_axis(ax, zone)
    ax.grid(axis="x", color="#999999", linewidth=0.4, alpha=0.6)
    ax.set_axisbelow(True)
    window = _window_text(data["start"].min(), data["end"].max())
    shown = f"{len(rows)} of {all_entities} entities" + (
        ", most eventful first" if not entities and len(rows) < all_entities else ""
    )
    ax.set_title(f"{heading} — {window} ({zone}); {shown}", fontsize=11, loc="left")
    handles = [
        Patch(
            facecolor=STATE_COLOURS.get(s, OTHER_STATE_COLOUR),
            edgecolor="#777777",
            hatch="////" if s == "unobserved" else None,
            linewidth=0.5,
            label=STATE_LABELS.get(s, s),
        )
        for s in present
    ]
    figure.legend(
        handles=[*handles, *marks],
        loc="outside lower center",
        ncols=min(6, len(handles) + len(marks)),
        fontsize=8,
        frameon=False,
    )
    return figure


def _kind_tag(kind: str) -> str:
    return {"station": "[station]", "evse": "[EVSE]"}.get(kind, f"[{kind}]")


def _duration_text(duration: timedelta) -> str:
    seconds = int(duration.total_seconds())
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def plot_timeline(intervals: pl.DataFrame, path: str | os.PathLike[str], **options: Any) -> Path:
    """Write `timeline_figure(intervals, **options)` to `path` (.png or .svg)."""
    check_plot_path(path)
    return save_figure(timeline_figure(intervals, **options), path)


# ------------------------------------------------------------------------------------------------
# heat maps


def heatmap_figure(
    frame: pl.DataFrame,
    *,
    value: str,
    entity: str,
    value_label: str,
    title: str,
    tz: str | None = None,
    max_entities: int = 60,
) -> Figure:
    """Entities x periods coloured by a percentage column; null (no observed time) is grey.

    Rows are sorted worst first (lowest mean); at most `max_entities` rows are drawn.
    """
    zone = frame_zone(frame, "period_start", tz)
    if frame.is_empty():
        return _empty(_new_figure(10, 3), title)
    frame = _as_zone(frame, ["period_start", "period_end"], zone)
    periods = frame.select("period_start", "period_end").unique().sort("period_start")
    order = (
        frame.group_by(entity)
        .agg(mean=pl.col(value).mean(), observed=pl.col(value).is_not_null().any())
        .sort(["observed", "mean", entity], descending=[True, False, False], nulls_last=True)
    )
    total = order.height
    names = order[entity].head(max_entities).to_list()
    grid = np.full((len(names), periods.height), np.nan)
    column_of = {p: i for i, p in enumerate(periods["period_start"].to_list())}
    row_of = {name: i for i, name in enumerate(names)}
    for name, start, cell in frame.select(entity, "period_start", value).iter_rows():
        if name in row_of and cell is not None:
            grid[row_of[name], column_of[start]] = cell

    figure = _new_figure(max(7.0, 2.6 + 0.55 * periods.height), 1.8 + 0.3 * len(names))
    ax = figure.add_subplot()
    finite = grid[np.isfinite(grid)]
    low = float(finite.min()) if finite.size else 0.0
    vmin = max(0.0, min(90.0, math.floor(low / 10) * 10))
    cmap = ListedColormap(_viridis_colours()).with_extremes(bad=NO_DATA_GREY)
    image = ax.imshow(
        np.ma.masked_invalid(grid), aspect="auto", cmap=cmap, vmin=vmin, vmax=100.0,
        interpolation="nearest",
    )  # fmt: skip
    bar = figure.colorbar(image, ax=ax, extend="min" if low < vmin else "neither", pad=0.01)
    bar.set_label(f"{value_label} (%)")
    if grid.size <= 600:
        for (r, c), cell in np.ndenumerate(grid):
            if np.isfinite(cell):
                dark = (cell - vmin) / max(100.0 - vmin, 1e-9) < 0.55
                ax.text(c, r, f"{cell:.1f}", ha="center", va="center", fontsize=7,
                        color="white" if dark else "black")  # fmt: skip
            else:
                ax.text(c, r, "\u2013", ha="center", va="center", fontsize=7, color="#555555")
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels([_short_id(str(n)) for n in names], fontsize=8)
    step = max(1, math.ceil(periods.height / 16))
    length = periods["period_end"][0] - periods["period_start"][0]
    fmt = "%a\n%d %b" if length >= timedelta(days=1) else "%a %d %b\n%H:%M"
    ax.set_xticks(range(0, periods.height, step))
    ax.set_xticklabels(
        [f"{p:{fmt}}" for p in periods["period_start"].to_list()[::step]],
        rotation=45 if periods.height > 8 else 0,
        ha="right" if periods.height > 8 else "center",
        fontsize=8,
    )
    ax.set_xlabel(f"period start ({zone})")
    ax.set_ylabel(entity)
    window = _window_text(periods["period_start"].min(), periods["period_end"].max())
    more = f"; worst {len(names)} of {total} shown" if total > len(names) else ""
    ax.set_title(f"{title} — {window} ({zone}){more}", fontsize=11, loc="left")
    figure.legend(
        handles=[
            Patch(facecolor=NO_DATA_GREY, edgecolor="#777777", label="no data (nothing observed)")
        ],
        loc="outside lower right",
        fontsize=8,
        frameon=False,
    )
    return figure


def _viridis_colours() -> list[Any]:
    from matplotlib import colormaps

    return list(colormaps["viridis"](np.linspace(0, 1, 256)))


def uptime_heatmap_figure(
    uptime: pl.DataFrame, *, tz: str | None = None, title: str | None = None, max_entities: int = 60
) -> Figure:
    """Stations x periods (days, normally) coloured by `uptime_pct` (the `uptime` report frame)."""
    return heatmap_figure(
        uptime,
        value="uptime_pct",
        entity="station_id",
        value_label="uptime, online / observed time",
        title=title or "Station uptime",
        tz=tz,
        max_entities=max_entities,
    )


def plot_uptime_heatmap(uptime: pl.DataFrame, path: str | os.PathLike[str], **options: Any) -> Path:
    """Write `uptime_heatmap_figure(uptime, **options)` to `path` (.png or .svg)."""
    check_plot_path(path)
    return save_figure(uptime_heatmap_figure(uptime, **options), path)


# ------------------------------------------------------------------------------------------------
# worst flappers


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
        return _empty(_new_figure(10, 3), heading, "no disconnects in the window")
    shown = totals.head(top)
    n = shown.height
    figure = _new_figure(12, 1.9 + 0.36 * n)
    left, right = figure.subplots(1, 2, sharey=True, width_ratios=[1.1, 1])
    y = np.arange(n)
    short = shown["short_disconnects"].to_numpy()
    longer = shown["disconnects"].to_numpy() - short
    left.barh(y, short, color=OKABE_ITO["orange"], label="short (reconnected quickly)")
    left.barh(y, longer, left=short, color=OKABE_ITO["vermillion"], label="longer")
    for i, (d, e) in enumerate(zip(shown["disconnects"], shown["flapping_episodes"], strict=True)):
        left.text(d, i, f" {d}  ({e} ep.)", va="center", fontsize=7)
    left.set_xlabel("disconnects (online → offline), count")
    left.legend(loc="lower right", fontsize=8, frameon=False)
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
    left.set_yticklabels([_short_id(s) for s in shown["station_id"].to_list()], fontsize=8)
    left.set_ylim(n - 0.5, -0.5)
    for ax in (left, right):
        ax.grid(axis="x", color="#999999", linewidth=0.4, alpha=0.6)
        ax.set_axisbelow(True)
    window = _window_text(flaps["period_start"].min(), flaps["period_end"].max())
    more = f"; top {n} of {totals.height} stations with disconnects"
    figure.suptitle(f"{heading} — {window} ({zone}){more}", fontsize=11, x=0.01, ha="left")
    return figure


def plot_flap_ranking(flaps: pl.DataFrame, path: str | os.PathLike[str], **options: Any) -> Path:
    """Write `flap_ranking_figure(flaps, **options)` to `path` (.png or .svg)."""
    check_plot_path(path)
    return save_figure(flap_ranking_figure(flaps, **options), path)


# ------------------------------------------------------------------------------------------------
# hour of week


def hour_of_week_profile(frame: pl.DataFrame, *, tz: str | None = None) -> pl.DataFrame:
    """Mean AVAILABLE and CHARGING share per hour of the week (0 = Monday 00:00-01:00, local).

    `frame` is an `availability` report by hour (per EVSE, or per location: only
    `available_pct` then) or an `intervals` report (EVSE rows are used). Shares are of the time
    with a known status (UNKNOWN, no data and unobserved time left out), pooled over entities
    and weeks. Columns: hour_of_week, weekday, hour, known_s, available_pct, charging_pct.
    """
    if "state" in frame.columns:
        pieces = _hourly_pieces(frame, frame_zone(frame, "start", tz))
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
    local = _as_zone(frame, ["period_start"], zone)
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
    local = _as_zone(evses, ["start", "end"], zone)
    pieces = (
        local.with_columns(
            hour=pl.datetime_ranges(
                pl.col("start").dt.truncate("1h"), pl.col("end"), "1h", closed="left"
            )
        )
        .explode("hour")
        .with_columns(
            piece_s=(
                pl.min_horizontal(pl.col("hour") + pl.duration(hours=1), pl.col("end"))
                - pl.max_horizontal(pl.col("hour"), pl.col("start"))
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
    column = "start" if "state" in frame.columns else "period_start"
    zone = frame_zone(frame, column, tz)
    heading = title or "Availability by hour of week"
    profile = hour_of_week_profile(frame, tz=zone)
    if profile["known_s"].sum() == 0:
        return _empty(_new_figure(12, 4), heading, "no EVSE time with a known status")
    figure = _new_figure(12, 4.2)
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


# ------------------------------------------------------------------------------------------------
# status share per period


STATUS_ORDER = ("AVAILABLE", "CHARGING", "RESERVED", "BLOCKED", "OUT_OF_ORDER", "INOPERATIVE",
                "PLANNED", "REMOVED", "UNKNOWN")  # fmt: skip


def status_share_figure(
    availability: pl.DataFrame, *, tz: str | None = None, title: str | None = None
) -> Figure:
    """Stacked bars per period: the share of all EVSE time in each status (plus no data and
    unobserved), from an `availability` report per EVSE (any `by`)."""
    heading = title or "EVSE time by status"
    zone = frame_zone(availability, "period_start", tz)
    if availability.is_empty():
        return _empty(_new_figure(10, 3), heading)
    parts = [(s, f"{s.lower()}_s") for s in STATUS_ORDER] + [
        ("no_data", "no_data_s"),
        ("unobserved", "unobserved_s"),
    ]
    parts = [(s, c) for s, c in parts if c in availability.columns]
    local = _as_zone(availability, ["period_start", "period_end"], zone)
    sums = (
        local.group_by("period_start", "period_end")
        .agg(pl.col(c).sum() for _, c in parts)
        .sort("period_start")
    )
    total = sums.select(pl.sum_horizontal(c for _, c in parts)).to_series().to_numpy()
    total = np.where(total > 0, total, np.nan)
    figure = _new_figure(max(8.0, 2.5 + 0.6 * sums.height), 4.6)
    ax = figure.add_subplot()
    x = np.arange(sums.height)
    bottom = np.zeros(sums.height)
    for state, column in parts:
        share = np.nan_to_num(100 * sums[column].to_numpy() / total)
        if not share.any():
            continue
        ax.bar(
            x, share, bottom=bottom, width=0.8, label=STATE_LABELS.get(state, state),
            color=STATE_COLOURS[state], edgecolor="#777777" if state == "unobserved" else "none",
            hatch="////" if state == "unobserved" else None, linewidth=0.4,
        )  # fmt: skip
        bottom += share
    length = sums["period_end"][0] - sums["period_start"][0]
    fmt = "%a\n%d %b" if length >= timedelta(days=1) else "%a %d %b\n%H:%M"
    step = max(1, math.ceil(sums.height / 20))
    ax.set_xticks(x[::step])
    ax.set_xticklabels([f"{p:{fmt}}" for p in sums["period_start"].to_list()[::step]], fontsize=8,
                       rotation=45 if sums.height > 8 else 0,
                       ha="right" if sums.height > 8 else "center")  # fmt: skip
    ax.set_ylim(0, 100)
    ax.set_ylabel("share of EVSE time (%)")
    ax.set_xlabel(f"period start ({zone})")
    evses = availability["evse_id"].n_unique() if "evse_id" in availability.columns else 0
    window = _window_text(sums["period_start"].min(), sums["period_end"].max())
    ax.set_title(f"{heading} — {window} ({zone}); {evses} EVSEs", fontsize=11, loc="left")
    figure.legend(loc="outside right center", fontsize=8, frameon=False, reverse=True)
    return figure


def plot_status_share(
    availability: pl.DataFrame, path: str | os.PathLike[str], **options: Any
) -> Path:
    """Write `status_share_figure(availability, **options)` to `path` (.png or .svg)."""
    check_plot_path(path)
    return save_figure(status_share_figure(availability, **options), path)


# ------------------------------------------------------------------------------------------------
# the CLI's entry point


def plot_report(
    report: str,
    frame: pl.DataFrame,
    path: str | os.PathLike[str],
    *,
    tz: str | None = None,
    title: str | None = None,
) -> Path:
    """Draw the picture that suits `report` (its name on the command line) from its frame.

    availability -> hour-of-week profile if the periods are an hour or shorter, else the status
    share per period (with the per-location roll-up: a heat map of available_pct); uptime -> heat
    map; flaps -> worst-flapper ranking; intervals -> state timeline. Returns the path written.
    Raises `UsageError` (naming `--plot`) for a bad suffix or a report without a plot.
    """
    target = check_plot_path(path)
    name = report.strip().lower()
    figure: Figure
    if name == "availability":
        figure = _availability_figure(frame, tz=tz, title=title)
    elif name == "uptime":
        figure = uptime_heatmap_figure(frame, tz=tz, title=title)
    elif name == "flaps":
        figure = flap_ranking_figure(frame, tz=tz, title=title)
    elif name == "intervals":
        figure = timeline_figure(frame, tz=tz, title=title)
    else:
        choices = ", ".join(REPORT_PLOTS)
        raise UsageError(f"--plot: no plot for the {report} report (plots exist for {choices})")
    return save_figure(figure, target)


def _availability_figure(frame: pl.DataFrame, *, tz: str | None, title: str | None) -> Figure:
    if frame.is_empty():
        return _empty(_new_figure(10, 3), title or "Availability")
    longest = frame.select((pl.col("period_end") - pl.col("period_start")).max()).item()
    if longest <= timedelta(hours=1):
        return hour_of_week_figure(frame, tz=tz, title=title)
    if "evse_id" not in frame.columns:  # per-location roll-up
        return heatmap_figure(
            frame,
            value="available_pct",
            entity="location_id",
            value_label="time with at least one EVSE AVAILABLE",
            title=title or "Location availability",
            tz=tz,
        )
    return status_share_figure(frame, tz=tz, title=title)
