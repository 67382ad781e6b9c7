"""Every plot renders to a real, sensibly sized PNG or a well-formed SVG, from a recorded lake."""

from __future__ import annotations

import json
import struct
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import evlog
from evlog.errors import UsageError
from evlog.record.offline import record_stream, record_webhook_files
from evlog.reports import plots
from evlog.simulate import simulate
from evlog.timeopts import parse_instant

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


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


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, "not a PNG"
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk comes first
    return width, height


def assert_sensible_png(path: Path) -> None:
    width, height = png_size(path)
    assert 400 <= width <= 4000 and 150 <= height <= 4000, (width, height)
    assert path.stat().st_size > 5_000  # something was drawn, not a blank canvas


PLOTS: dict[str, Callable[[evlog.EvlogLake, Path], Path]] = {
    "timeline": lambda lake, p: plots.plot_timeline(lake.intervals(), p),
    "uptime heat map": lambda lake, p: plots.plot_uptime_heatmap(lake.uptime(by="day"), p),
    "flap ranking": lambda lake, p: plots.plot_flap_ranking(lake.flaps(by="none"), p),
    "hour of week": lambda lake, p: plots.plot_hour_of_week(lake.availability(by="hour"), p),
    "status share": lambda lake, p: plots.plot_status_share(lake.availability(by="day"), p),
}


@pytest.mark.parametrize("name", list(PLOTS))
def test_plot_renders_png_and_svg(lake: evlog.EvlogLake, tmp_path: Path, name: str) -> None:
    png = PLOTS[name](lake, tmp_path / "plot.png")
    assert_sensible_png(png)
    svg = PLOTS[name](lake, tmp_path / "plot.svg")
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")
    assert any(e.tag.endswith("path") for e in root.iter())


@pytest.mark.parametrize("report", ["availability", "uptime", "flaps", "intervals"])
def test_dispatcher_draws_each_report(lake: evlog.EvlogLake, tmp_path: Path, report: str) -> None:
    frame: pl.DataFrame = getattr(lake, report)()
    assert_sensible_png(plots.plot_report(report, frame, tmp_path / f"{report}.png"))


def test_empty_frames_still_give_a_labelled_picture(lake: evlog.EvlogLake, tmp_path: Path) -> None:
    empty = lake.uptime(by="day", station=["no-such-station"])
    assert empty.is_empty()
    width, _ = png_size(plots.plot_report("uptime", empty, tmp_path / "empty.png"))
    assert width >= 400


@pytest.mark.parametrize("name", ["plot.gif", "plot", "plot.png.txt"])
def test_bad_suffix_is_a_usage_error_naming_the_option(tmp_path: Path, name: str) -> None:
    with pytest.raises(UsageError, match="--plot"):
        plots.check_plot_path(tmp_path / name)
    assert not (tmp_path / name).exists()


def test_cli_plot_option(lake: evlog.EvlogLake, tmp_path: Path) -> None:
    from evlog.cli import main

    lake_root = lake.engine.lake.root  # type: ignore[attr-defined]
    target = tmp_path / "uptime.png"
    with pytest.raises(SystemExit) as exit_info:
        main(["report", "uptime", "--lake", str(lake_root), "--by", "day", "--format", "csv",
              "--output", str(tmp_path / "u.csv"), "--plot", str(target)])  # fmt: skip
    assert exit_info.value.code in (0, None)
    assert_sensible_png(target)


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
