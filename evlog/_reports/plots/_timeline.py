"""The state timeline of the `intervals` report: bands per entity, outages, flapping episodes."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from evlog._reports._flap_rule import FlapSettings
from evlog._reports.plots._figure import (
    check_plot_path,
    empty_figure,
    new_figure,
    save_figure,
    short_id,
    window_text,
)
from evlog._reports.plots._palette import (
    BAD_STATES,
    NOT_OBSERVED,
    OKABE_ITO,
    OTHER_STATE_COLOUR,
    STATE_COLOURS,
    STATE_LABELS,
)
from evlog._reports.plots._time import date_numbers, frame_zone, time_axis


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
    ordered = intervals.sort("entity_kind", "entity_id", "interval_start")
    key = pl.struct("entity_kind", "entity_id")
    starts_run = (
        (pl.col("state") != pl.col("state").shift(1).over(key))
        | (pl.col("interval_start") != pl.col("interval_end").shift(1).over(key))
        | pl.col("state").shift(1).over(key).is_null()
    )
    return (
        ordered.with_columns(run=starts_run.fill_null(True).cum_sum())
        .group_by("entity_kind", "entity_id", "run", maintain_order=True)
        .agg(
            pl.col("location_id").first(),
            pl.col("state").first(),
            pl.col("interval_start").min(),
            pl.col("interval_end").max(),
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
        starts = rows["interval_start"].to_list()
        ends = rows["interval_end"].to_list()
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
    zone = frame_zone(intervals, "interval_start", tz)
    heading = title or "State timeline"
    if intervals.is_empty():
        return empty_figure(new_figure(10, 3), heading)
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
        return empty_figure(new_figure(10, 3), heading, "none of the chosen entities has intervals")

    figure = new_figure(12, 1.6 + 0.32 * len(rows))
    ax = figure.add_subplot()
    starts = date_numbers(data["interval_start"])
    ends = date_numbers(data["interval_end"])
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
                date_numbers(outages["interval_start"]),
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
            x0, x1 = date_numbers(pl.Series([episode.start, episode.end]))
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
    ax.set_yticklabels([f"{_kind_tag(kinds[e])} {short_id(e)}" for e in rows], fontsize=8)
    ax.set_ylim(len(rows) - 0.4, -0.6)
    ax.set_xlim(float(starts.min()), float(ends.max()))
    time_axis(ax, zone)
    ax.grid(axis="x", color="#999999", linewidth=0.4, alpha=0.6)
    ax.set_axisbelow(True)
    window = window_text(data["interval_start"].min(), data["interval_end"].max())
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
