"""End to end: the bundled samples, recorded with their coverage, replay to the simulator's truth.

`data/samples/truth/expected_*.csv` are computed by the simulator from what it delivered, not by
this code (see data/samples/README.md), so they are an independent oracle for the whole replay.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

import evlog
from evlog._cli import main
from evlog._simulate import simulate

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"


@pytest.fixture(scope="module", params=["bundled samples", "fresh simulation"])
def feed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed samples, and a freshly simulated network with another seed and faults."""
    if request.param == "bundled samples":
        return SAMPLES
    out = tmp_path_factory.mktemp("sim") / "feed"
    simulate(out, stations=6, days=3, seed=20261121, start="2026-03-27T00:00:00Z")
    return out


@pytest.fixture(scope="module")
def window(feed: Path) -> tuple[str, str]:
    manifest = json.loads((feed / "manifest.json").read_text())
    return manifest["start"], manifest["end"]


def recorded(feed: Path, root: Path, *, here: bool = True) -> evlog.EvlogLake:
    """The feed recorded through the CLI, as a user would, with the manifest's coverage."""
    coverage = json.loads((feed / "manifest.json").read_text())["coverage"]

    def declared(source: str) -> list[str]:
        spans = [f"{c['from']}/{c['to']}" for c in coverage if c["source"] == source]
        return [arg for span in spans for arg in ("--coverage", span)]

    commands = [["record", "webhooks", "--from", str(feed / "edrv"), *declared("edrv_webhooks")]]
    if here:
        commands.insert(0, ["record", "stream", str(feed / "here"), *declared("here_stream")])
    for command in commands:
        with pytest.raises(SystemExit) as exit_info:
            main([*command, "--lake", str(root)])
        assert exit_info.value.code in (0, None)
    return evlog.open_lake(root)


@pytest.fixture(scope="module")
def lake(feed: Path, tmp_path_factory: pytest.TempPathFactory) -> evlog.EvlogLake:
    return recorded(feed, tmp_path_factory.mktemp("lake") / "lake")


@pytest.fixture(scope="module")
def edrv_lake(feed: Path, tmp_path_factory: pytest.TempPathFactory) -> evlog.EvlogLake:
    """Only the feed's eDRV webhooks: its ports come from the connectors alone."""
    return recorded(feed, tmp_path_factory.mktemp("edrv") / "lake", here=False)


def expected(feed: Path, name: str) -> pl.DataFrame:
    frame = pl.read_csv(feed / "truth" / f"expected_{name}.csv", try_parse_dates=True)
    return frame.with_columns(
        pl.col(c).cast(pl.Datetime("us", "UTC"))
        for c in ("period_start", "period_end", "start", "end")
        if c in frame.columns
    )


def assert_same(got: pl.DataFrame, want: pl.DataFrame, keys: list[str]) -> None:
    assert got.height == want.height
    joined = want.join(got, on=keys, how="left", suffix="_got")
    for column in want.columns:
        if column in keys or f"{column}_got" not in joined.columns:
            continue
        mine, theirs = pl.col(f"{column}_got"), pl.col(column)
        if want.schema[column].is_numeric():
            tolerance = 1e-3 if column.endswith("_s") else 1e-5
            wrong = ((mine - theirs).abs() > tolerance) | (mine.is_null() != theirs.is_null())
        else:
            wrong = mine.ne_missing(theirs)
        assert joined.filter(wrong).is_empty(), f"{column} differs"


def test_uptime_matches_truth(lake: evlog.EvlogLake, feed: Path, window: tuple[str, str]) -> None:
    got = lake.uptime(*window, by="day")
    assert_same(got, expected(feed, "uptime").drop("location_id"), ["station_id", "period_start"])


def test_availability_matches_truth(
    lake: evlog.EvlogLake, feed: Path, window: tuple[str, str]
) -> None:
    # the simulator's truth is of the status feeds alone: eDRV ports, linked to their stations,
    # would otherwise leave their station's offline time out of their percentages
    got = lake.availability(*window, by="day", status_only=True)
    assert_same(got, expected(feed, "availability"), ["evse_id", "period_start"])


def test_intervals_match_truth(lake: evlog.EvlogLake, feed: Path, window: tuple[str, str]) -> None:
    # the simulator's truth names the columns entity_type, start, end
    got = lake.intervals(*window).select(
        pl.col("entity_kind").alias("entity_type"),
        "entity_id",
        "state",
        pl.col("interval_start").alias("start"),
        pl.col("interval_end").alias("end"),
    )
    want = expected(feed, "intervals").select("entity_type", "entity_id", "state", "start", "end")
    assert got.sort("entity_id", "start").equals(want.sort("entity_id", "start"))


def test_edrv_only_lake_port_availability_matches_truth(
    edrv_lake: evlog.EvlogLake, feed: Path, window: tuple[str, str]
) -> None:
    """Every port's availability by day from eDRV's connector statuses alone, as the simulator
    says a replay of what it delivered gives (eDRV's OCPP statuses mapped to OCPI by the
    default mapping, restated in the simulator)."""
    got = edrv_lake.availability(*window, by="day", status_only=True)  # see above
    want = expected(feed, "edrv_availability")
    assert want.height > 0 and set(want["location_id"]) <= set(
        edrv_lake.uptime(*window)["station_id"]
    )
    assert_same(got, want, ["evse_id", "period_start"])
    got_intervals = (
        edrv_lake.intervals(*window)
        .filter(pl.col("entity_kind") == "evse")
        .select(
            "entity_id",
            "state",
            pl.col("interval_start").alias("start"),
            pl.col("interval_end").alias("end"),
        )
    )
    want_intervals = expected(feed, "edrv_intervals").select("entity_id", "state", "start", "end")
    assert got_intervals.sort("entity_id", "start").equals(
        want_intervals.sort("entity_id", "start")
    )
