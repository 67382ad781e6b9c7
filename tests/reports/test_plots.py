"""Plots draw the report frames' values, and render to real PNG and SVG files, from a recorded lake.

Each figure is built with its `<plot>_figure` function and read back (bar widths and heights, the
heat map's array, line data, tick labels) before anything is saved; the values are compared with
the report frames. Where a plot recomputes a report's notion in Python (merged intervals, flapping
episodes, outages, the hour-of-week profile), the recomputation is compared with the report too.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection, PolyCollection
from matplotlib.colors import to_rgba
from matplotlib.container import BarContainer
from matplotlib.figure import Figure

import evlog
from evlog._errors import UsageError
from evlog._record.offline import record_stream, record_webhook_files
from evlog._reports import plots
from evlog._reports._flap_rule import FlapSettings
from evlog._simulate import simulate
from evlog._time import parse_instant

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# The flaps report's defaults, and a stricter rule that finds more episodes in the same lake.
FLAP_RULES = {
    "default": FlapSettings(),
    "2 within 1h, short < 2m": FlapSettings(
        threshold=timedelta(minutes=2), count=2, window=timedelta(hours=1)
    ),
}


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> evlog.EvlogLake:
    feed = tmp_path_factory.mktemp("feed") / "sim"
    manifest = simulate(feed, stations=4, days=2, seed=1)
    root = tmp_path_factory.mktemp("lake") / "lake"
    spans = json.loads((feed / "manifest.json").read_text())["coverage"]

    def coverage(source: str) -> list[tuple[Any, Any]]:
        return [
            (parse_instant(c["from"], "from"), parse_instant(c["to"], "to"))
            for c in spans
            if c["source"] == source
        ]

    record_stream(root, [str(feed / "here")], coverage=coverage("here_stream"))
    record_webhook_files(root, [str(feed / "edrv")], coverage=coverage("edrv_webhooks"))
    assert manifest["stations"] == 4
    return evlog.open_lake(root)


@pytest.fixture(scope="module")
def report(lake: evlog.EvlogLake) -> Callable[..., pl.DataFrame]:
    """`report(name, **options)`: the report frame, replayed once per module and arguments."""

    @cache
    def run(name: str, **options: Any) -> pl.DataFrame:
        frame: pl.DataFrame = getattr(lake, name)(**options)
        return frame

    return run


def flap_options(settings: FlapSettings) -> dict[str, Any]:
    return {
        "flap_threshold": settings.threshold,
        "flap_count": settings.count,
        "flap_window": settings.window,
    }


# ------------------------------------------------------------------------------------------------
# reading a figure back


def only_axes(figure: Figure) -> Axes:
    (ax,) = [a for a in figure.axes if a.get_label() != "<colorbar>"]
    return ax


def tick_texts(labels: list[Any]) -> list[str]:
    return [label.get_text() for label in labels]


def rectangles(collection: PolyCollection) -> list[tuple[float, float, float, float]]:
    """(x0, x1, y0, y1) of each rectangle of a `broken_barh` collection."""
    boxes = []
    for path in collection.get_paths():
        xs, ys = path.vertices[:, 0], path.vertices[:, 1]
        boxes.append((float(xs.min()), float(xs.max()), float(ys.min()), float(ys.max())))
    return boxes


def date_number(value: datetime) -> float:
    return value.timestamp() / 86_400


def bar_widths(ax: Axes) -> list[list[float]]:
    return [[float(p.get_width()) for p in c] for c in ax.containers if isinstance(c, BarContainer)]


# ------------------------------------------------------------------------------------------------
# Python recomputations against the reports


def test_merged_intervals_are_the_intervals_report_without_period_splits(
    report: Callable[..., pl.DataFrame],
) -> None:
    by_day = report("intervals", by="day")
    whole = report("intervals")
    assert by_day.height > whole.height, "the lake should have intervals that span midnight"
    merged = plots.merge_adjacent(by_day)
    key = ["entity_kind", "entity_id", "interval_start"]
    columns = ["entity_kind", "entity_id", "location_id", "state", "interval_start", "interval_end"]
    assert merged.sort(key).select(columns).equals(whole.sort(key).select(columns))
    durations = merged.sort(key)["duration_s"].to_numpy()
    assert durations == pytest.approx(whole.sort(key)["duration_s"].to_numpy(), abs=1e-6)


def test_merging_joins_only_touching_intervals_of_one_state() -> None:
    t = [datetime(2026, 11, 2, h, tzinfo=UTC) for h in range(5)]
    intervals = pl.DataFrame(
        {
            "entity_kind": "station",
            "entity_id": ["s1", "s1", "s1", "s2"],
            "location_id": "l1",
            "state": "online",
            "interval_start": [t[0], t[1], t[3], t[1]],
            "interval_end": [t[1], t[2], t[4], t[2]],
            "duration_s": 3600.0,
        }
    )
    merged = plots.merge_adjacent(intervals)
    assert merged.select("entity_id", "interval_start", "interval_end", "duration_s").rows() == [
        ("s1", t[0], t[2], 7200.0),  # touching: one interval
        ("s1", t[3], t[4], 3600.0),  # an hour later: a new one
        ("s2", t[1], t[2], 3600.0),  # another entity
    ]


@pytest.mark.parametrize("rule", list(FLAP_RULES))
def test_flapping_episodes_are_the_flaps_reports(
    report: Callable[..., pl.DataFrame], rule: str
) -> None:
    settings = FLAP_RULES[rule]
    episodes = plots.flapping_episodes(report("intervals"), settings)
    assert episodes, "the lake should have flapping stations"
    drawn = pl.DataFrame(
        {
            "station_id": [e.entity_id for e in episodes],
            "start": [e.start for e in episodes],
            "seconds": [(e.end - e.start).total_seconds() for e in episodes],
        }
    )
    whole = report("flaps", by="none", **flap_options(settings))
    totals = drawn.group_by("station_id").agg(episodes=pl.len(), seconds=pl.col("seconds").sum())
    expected = whole.filter(pl.col("flapping_episodes") > 0).select(
        "station_id", episodes="flapping_episodes", seconds="flapping_s"
    )
    got = totals.sort("station_id")
    want = expected.sort("station_id")
    assert got["station_id"].to_list() == want["station_id"].to_list()
    assert got["episodes"].to_list() == want["episodes"].to_list()
    assert got["seconds"].to_list() == pytest.approx(want["seconds"].to_list(), abs=1e-3)
    # and each episode counts in the day it starts in
    daily = report("flaps", by="day", **flap_options(settings)).filter(
        pl.col("flapping_episodes") > 0
    )
    per_day = drawn.group_by("station_id", period_start=pl.col("start").dt.truncate("1d")).len()
    assert sorted(per_day.iter_rows()) == sorted(
        daily.select("station_id", "period_start", "flapping_episodes").iter_rows()
    )


def test_hour_of_week_profile_of_intervals_is_the_availability_reports(
    report: Callable[..., pl.DataFrame],
) -> None:
    hourly = report("availability", by="hour")
    from_report = plots.hour_of_week_profile(hourly)
    from_intervals = plots.hour_of_week_profile(report("intervals"))
    assert from_report.filter(pl.col("known_s") > 0).height >= 40
    for column in ("known_s", "available_pct", "charging_pct"):
        got = from_intervals[column].fill_null(-1.0).to_numpy()
        want = from_report[column].fill_null(-1.0).to_numpy()
        assert got == pytest.approx(want, abs=1e-6), column


def test_hour_of_week_profile_covers_the_whole_week() -> None:
    hours = pl.datetime_range(
        datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 9, tzinfo=UTC), "1h",
        closed="left", eager=True, time_zone="UTC",
    )  # fmt: skip
    frame = pl.DataFrame(
        {
            "period_start": hours,
            "period_end": hours + timedelta(hours=1),
            "observed_s": 3600.0,
            "unknown_s": 0.0,
            "available_s": [900.0 * (1 + i % 3) for i in range(len(hours))],
            "charging_s": 600.0,
        }
    )
    profile = plots.hour_of_week_profile(frame)
    assert profile.height == 168
    assert profile["known_s"].to_list() == [3600.0] * 168
    expected = [100 * 900.0 * (1 + i % 3) / 3600 for i in range(168)]
    assert profile["available_pct"].to_list() == pytest.approx(expected)
    assert profile.filter(pl.col("hour_of_week") == 167)["weekday"].item() == 6  # Sunday 23:00


# ------------------------------------------------------------------------------------------------
# what each figure draws


def test_timeline_draws_every_interval_in_its_row_and_colour(
    report: Callable[..., pl.DataFrame],
) -> None:
    intervals = report("intervals")
    figure = plots.timeline_figure(intervals, max_entities=1000)
    ax = only_axes(figure)
    rows = [label.split(" ", 1)[1] for label in tick_texts(ax.get_yticklabels())]
    assert sorted(rows) == sorted(intervals["entity_id"].unique().to_list())
    drawn = set()
    for collection in ax.collections:
        if not isinstance(collection, PolyCollection):
            continue
        colour = tuple(collection.get_facecolor()[0])
        for x0, x1, y0, y1 in rectangles(collection):
            if y1 - y0 == pytest.approx(0.7):  # a state band, not an episode bar
                drawn.add((round(y0 + 0.35, 6), round(x0, 6), round(x1, 6), colour))
    expected = {
        (
            float(rows.index(entity)),
            round(date_number(start), 6),
            round(date_number(end), 6),
            to_rgba(plots.STATE_COLOURS.get(state, plots.OTHER_STATE_COLOUR)),
        )
        for entity, state, start, end in intervals.select(
            "entity_id", "state", "interval_start", "interval_end"
        ).iter_rows()
    }
    assert drawn == expected


def test_timeline_marks_the_uptime_reports_outages(report: Callable[..., pl.DataFrame]) -> None:
    # Outage marks are offline intervals at least `threshold` long; with a threshold of 1 µs they
    # are every outage, as the uptime report counts them.
    every_outage = FlapSettings(threshold=timedelta(microseconds=1))
    intervals = report("intervals")
    ax = only_axes(plots.timeline_figure(intervals, max_entities=1000, flap_settings=every_outage))
    rows = [label.split(" ", 1)[1] for label in tick_texts(ax.get_yticklabels())]
    (marks,) = [c for c in ax.collections if isinstance(c, PathCollection) and c.get_offsets().size]
    per_row = np.round(marks.get_offsets()[:, 1] + 0.42).astype(int)
    outages = {rows[r]: int((per_row == r).sum()) for r in set(per_row.tolist())}
    uptime = report("uptime", by="none").filter(pl.col("outages") > 0)
    assert outages == dict(uptime.select("station_id", "outages").iter_rows())


@pytest.mark.parametrize("rule", list(FLAP_RULES))
def test_timeline_marks_the_flaps_reports_episodes(
    report: Callable[..., pl.DataFrame], rule: str
) -> None:
    settings = FLAP_RULES[rule]
    intervals = report("intervals")
    ax = only_axes(plots.timeline_figure(intervals, max_entities=1000, flap_settings=settings))
    rows = [label.split(" ", 1)[1] for label in tick_texts(ax.get_yticklabels())]
    bars: dict[str, float] = {}
    for collection in ax.collections:
        if isinstance(collection, PolyCollection):
            for x0, x1, y0, y1 in rectangles(collection):
                if y1 - y0 == pytest.approx(0.12):  # an episode bar under its row
                    station = rows[round(y0 - 0.36)]
                    bars[station] = bars.get(station, 0.0) + (x1 - x0) * 86_400
    flaps = report("flaps", by="none", **flap_options(settings)).filter(pl.col("flapping_s") > 0)
    assert sorted(bars) == sorted(flaps["station_id"].to_list())
    for station, seconds in flaps.select("station_id", "flapping_s").iter_rows():
        assert bars[station] == pytest.approx(seconds, abs=1e-2)


def test_uptime_heat_map_shows_the_uptime_report(report: Callable[..., pl.DataFrame]) -> None:
    uptime = report("uptime", by="day")
    ax = only_axes(plots.uptime_heatmap_figure(uptime))
    (image,) = ax.images
    grid = image.get_array()
    stations = tick_texts(ax.get_yticklabels())
    days = sorted(uptime["period_start"].unique().to_list())
    assert sorted(stations) == sorted(uptime["station_id"].unique().to_list())
    assert grid is not None and grid.shape == (len(stations), len(days))
    for station, day, pct in uptime.select("station_id", "period_start", "uptime_pct").iter_rows():
        cell = grid[stations.index(station), days.index(day)]
        assert (cell is np.ma.masked) if pct is None else cell == pytest.approx(pct)
    means = uptime.group_by("station_id").agg(pl.col("uptime_pct").mean())
    worst_first = means.sort("uptime_pct", "station_id", nulls_last=True)["station_id"].to_list()
    assert stations == worst_first


@pytest.mark.parametrize("rule", list(FLAP_RULES))
def test_flap_ranking_shows_the_flaps_report_in_its_order(
    report: Callable[..., pl.DataFrame], rule: str
) -> None:
    flaps = report("flaps", by="none", **flap_options(FLAP_RULES[rule]))
    figure = plots.flap_ranking_figure(flaps)
    left, right = figure.axes
    ranked = flaps.filter(pl.col("disconnects") > 0)  # the report is already worst first
    assert tick_texts(left.get_yticklabels()) == ranked["station_id"].to_list()
    short, longer = bar_widths(left)
    assert short == ranked["short_disconnects"].cast(pl.Float64).to_list()
    assert np.add(short, longer).tolist() == ranked["disconnects"].cast(pl.Float64).to_list()
    (flapping,) = bar_widths(right)
    unit = 60.0 if right.get_xlabel().endswith("minutes") else 3600.0
    assert flapping == pytest.approx((ranked["flapping_s"] / unit).to_list())


def test_hour_of_week_figure_draws_the_profile(report: Callable[..., pl.DataFrame]) -> None:
    hourly = report("availability", by="hour")
    profile = plots.hour_of_week_profile(hourly)
    ax = only_axes(plots.hour_of_week_figure(hourly))
    lines = {line.get_label(): line for line in ax.get_lines() if line.get_label()[0] != "_"}
    assert set(lines) == {"AVAILABLE", "CHARGING (utilisation)"}
    for label, column in (
        ("AVAILABLE", "available_pct"),
        ("CHARGING (utilisation)", "charging_pct"),
    ):
        x, y = (np.asarray(v, dtype=float) for v in lines[label].get_data())
        assert x.tolist() == [h + 0.5 for h in range(168)]
        want = profile[column].fill_null(np.nan).to_numpy()
        assert np.allclose(y, want, equal_nan=True)


def test_status_share_stacks_the_availability_reports_shares(
    report: Callable[..., pl.DataFrame],
) -> None:
    daily = report("availability", by="day")
    ax = only_axes(plots.status_share_figure(daily))
    columns = [f"{s.lower()}_s" for s in plots.STATUS_ORDER] + ["no_data_s", "unobserved_s"]
    sums = daily.group_by("period_start").agg(pl.col(c).sum() for c in columns).sort("period_start")
    total = sums.select(pl.sum_horizontal(columns)).to_series()
    labels = {v: k for k, v in plots.STATE_LABELS.items()}
    drawn = {}
    for container in ax.containers:
        assert isinstance(container, BarContainer)
        state = labels.get(str(container.get_label()), str(container.get_label()))
        drawn[state] = [float(p.get_height()) for p in container]
    expected = {
        state: (100 * sums[f"{state.lower()}_s"] / total).to_list()
        for state in [*plots.STATUS_ORDER, "no_data", "unobserved"]
        if (sums[f"{state.lower()}_s"] > 0).any()
    }
    assert sorted(drawn) == sorted(expected)
    for state, shares in expected.items():
        assert drawn[state] == pytest.approx(shares), state


def test_reliability_figure_shows_the_last_months_ports_against_the_target(
    report: Callable[..., pl.DataFrame],
) -> None:
    frame = report("reliability", standard="nevi")
    ports = frame.filter(pl.col("scope") == "port")
    latest = ports.filter(pl.col("report_month") == ports["report_month"].max()).sort(
        "uptime_pct", "port_id"
    )
    ax = only_axes(plots.reliability_figure(frame))
    (bars,) = ax.containers
    worst_first = sorted(bars, key=lambda p: -p.get_y())
    assert [p.get_width() for p in worst_first] == pytest.approx(latest["uptime_pct"].to_list())
    # a week's lake: no port has a verdict on its year (grey), each bar says so
    assert latest["passed"].null_count() == latest.height
    colours = [to_rgba(plots.NO_DATA_GREY) for _ in latest["passed"]]
    assert [p.get_facecolor() for p in worst_first] == colours
    label_at = dict(zip(ax.get_yticks(), tick_texts(ax.get_yticklabels()), strict=True))
    assert [label_at[p.get_y() + p.get_height() / 2] for p in worst_first] == latest[
        "port_id"
    ].to_list()
    (target,) = ax.get_lines()
    assert target.get_xdata()[0] == pytest.approx(latest["target_pct"][0])
    written = sorted(ax.texts, key=lambda t: -t.get_position()[1])  # the bars' values, worst first
    assert [t.get_text() for t in written] == [f"{v:.2f}, no verdict" for v in latest["uptime_pct"]]
    assert f"{latest.height} of {latest.height} ports without a verdict" in ax.get_title()
    lenient_frame = report("reliability", standard="nevi", min_coverage=0)
    lenient = only_axes(plots.reliability_figure(lenient_frame))
    shown = sorted(lenient.containers[0], key=lambda p: -p.get_y())
    verdicts = lenient_frame.filter(
        (pl.col("scope") == "port") & (pl.col("report_month") == latest["report_month"][0])
    ).sort("uptime_pct", "port_id")["passed"]
    assert verdicts.null_count() == 0
    judged = [to_rgba(plots.OKABE_ITO["bluish_green" if ok else "vermillion"]) for ok in verdicts]
    assert [p.get_facecolor() for p in shown] == judged


def test_report_figure_picks_each_reports_plot(report: Callable[..., pl.DataFrame]) -> None:
    def title(figure: Figure) -> str:
        suptitle = figure.get_suptitle()
        return suptitle or only_axes(figure).get_title(loc="left")

    cases = {
        ("availability", "hour"): "Availability by hour of week",
        ("availability", "day"): "EVSE time by status",
        ("uptime", "day"): "Station uptime",
        ("flaps", "day"): "Worst flappers",
        ("intervals", "none"): "State timeline",
    }
    for (name, by), heading in cases.items():
        assert title(plots.report_figure(name, report(name, by=by))).startswith(heading), name
    by_location = report("availability", by="day", by_location=True)
    heat_map = plots.report_figure("availability", by_location)
    assert title(heat_map).startswith("Location availability")
    assert only_axes(heat_map).get_ylabel() == "location_id"
    with pytest.raises(UsageError, match="--plot: no plot for the reconcile report"):
        plots.report_figure("reconcile", pl.DataFrame())


# ------------------------------------------------------------------------------------------------
# files


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, "not a PNG"
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk comes first
    return width, height


def assert_sensible_png(path: Path) -> None:
    width, height = png_size(path)
    assert 400 <= width <= 4000 and 150 <= height <= 4000, (width, height)
    assert path.stat().st_size > 5_000  # something was drawn, not a blank canvas


PLOTS: dict[str, Callable[[Callable[..., pl.DataFrame], Path], Path]] = {
    "timeline": lambda r, p: plots.plot_timeline(r("intervals"), p),
    "uptime heat map": lambda r, p: plots.plot_uptime_heatmap(r("uptime", by="day"), p),
    "flap ranking": lambda r, p: plots.plot_flap_ranking(r("flaps", by="none"), p),
    "hour of week": lambda r, p: plots.plot_hour_of_week(r("availability", by="hour"), p),
    "status share": lambda r, p: plots.plot_status_share(r("availability", by="day"), p),
    "reliability": lambda r, p: plots.plot_reliability(r("reliability", standard="nevi"), p),
}


@pytest.mark.parametrize("name", list(PLOTS))
def test_plot_renders_png_and_svg(
    report: Callable[..., pl.DataFrame], tmp_path: Path, name: str
) -> None:
    png = PLOTS[name](report, tmp_path / "plot.png")
    assert_sensible_png(png)
    svg = PLOTS[name](report, tmp_path / "plot.svg")
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")
    assert any(e.tag.endswith("path") for e in root.iter())


def test_empty_frames_still_give_a_labelled_picture(lake: evlog.EvlogLake, tmp_path: Path) -> None:
    empty = lake.uptime(by="day", station=["no-such-station"])
    assert empty.is_empty()
    figure = plots.report_figure("uptime", empty)
    assert only_axes(figure).get_title() == "Station uptime"
    width, _ = png_size(plots.plot_report("uptime", empty, tmp_path / "empty.png"))
    assert width >= 400


@pytest.mark.parametrize("name", ["plot.gif", "plot", "plot.png.txt"])
def test_bad_suffix_is_a_usage_error_naming_the_option(tmp_path: Path, name: str) -> None:
    with pytest.raises(UsageError, match="--plot"):
        plots.check_plot_path(tmp_path / name)
    assert not (tmp_path / name).exists()


def test_cli_plot_option(lake: evlog.EvlogLake, tmp_path: Path) -> None:
    lake_root = lake.engine.lake.root  # type: ignore[attr-defined]
    target = tmp_path / "uptime.png"
    done = subprocess.run(
        [sys.executable, "-m", "evlog", "report", "uptime", "--lake", str(lake_root), "--by",
         "day", "--format", "csv", "--output", str(tmp_path / "u.csv"), "--plot", str(target)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"plot written to {target}" in done.stderr
    assert_sensible_png(target)


def test_the_uptime_scale_tells_the_bands_operators_care_about_apart() -> None:
    """88 % and 99 % (and either side of NEVI's 97 %) get different colours; an hourly week is
    drawn at a page width, not one fat cell per hour."""
    hours = [datetime(2026, 11, 2, tzinfo=UTC) + timedelta(hours=h) for h in range(168)]
    values = [88.0, 99.0, 96.5, 97.5] * 42
    frame = pl.DataFrame(
        {
            "station_id": ["st"] * 168,
            "period_start": hours,
            "period_end": [h + timedelta(hours=1) for h in hours],
            "uptime_pct": values,
        }
    )
    figure = plots.uptime_heatmap_figure(frame)
    (image,) = only_axes(figure).images
    colour = image.cmap(image.norm(np.array([88.0, 99.0, 96.5, 97.5])))
    assert len({tuple(c) for c in colour}) == 4
    width_px = figure.get_figwidth() * figure.dpi
    assert width_px <= 16 * 110


def test_connectivity_and_statuses_never_share_a_colour() -> None:
    from evlog._reports.plots._palette import STATE_COLOURS

    stations = {STATE_COLOURS["online"], STATE_COLOURS["offline"]}
    statuses = {c for state, c in STATE_COLOURS.items() if state.isupper()}
    assert not stations & statuses


def test_the_flap_ranking_legend_sits_outside_the_bars(report: Callable[..., pl.DataFrame]) -> None:
    figure = plots.flap_ranking_figure(report("flaps", by="none"))
    assert all(ax.get_legend() is None for ax in figure.axes)
    (legend,) = figure.legends
    assert [t.get_text() for t in legend.get_texts()] == ["short (reconnected quickly)", "longer"]


def test_a_location_observed_as_unknown_is_not_no_data() -> None:
    day = datetime(2026, 11, 2, tzinfo=UTC)
    frame = pl.DataFrame(
        {
            "location_id": ["seen-unknown", "nothing", "fine"],
            "period_start": [day] * 3,
            "period_end": [day + timedelta(days=1)] * 3,
            "observed_s": [86_400.0, 0.0, 86_400.0],
            "available_pct": [None, None, 99.0],
        }
    )
    figure = plots.heatmap_figure(
        frame, value="available_pct", entity="location_id", value_label="x", title="t"
    )
    ax = only_axes(figure)
    _base, unknown = ax.images
    rows = tick_texts(ax.get_yticklabels())
    layer = unknown.get_array()
    assert layer is not None
    assert [bool(layer.mask[rows.index(n), 0]) for n in ("seen-unknown", "nothing", "fine")] == [
        False,
        True,
        True,
    ]
    (legend,) = figure.legends
    assert "observed, status UNKNOWN" in [t.get_text() for t in legend.get_texts()]


def test_availability_by_none_draws_a_bar_per_evse(report: Callable[..., pl.DataFrame]) -> None:
    frame = report("availability", by="none")
    ax = only_axes(plots.report_figure("availability", frame))
    available = next(c for c in ax.containers if c.get_label() == "AVAILABLE")
    shown = min(40, frame.height)
    assert len(available) == shown  # one bar per EVSE, not one for the network
    whole = frame["no_data_s"] + frame["unobserved_s"] + frame["observed_s"]
    share = (frame["available_s"] / whole).to_list()
    top_down = sorted(available, key=lambda p: -p.get_y())
    # least available at the top, each bar's AVAILABLE part its share of the EVSE's time
    assert [p.get_width() for p in top_down] == pytest.approx(
        sorted(100 * v for v in share)[:shown]
    )
