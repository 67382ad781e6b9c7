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


@pytest.fixture(scope="module")
def lake(feed: Path, tmp_path_factory: pytest.TempPathFactory) -> evlog.EvlogLake:
    """The feed recorded through the CLI, as a user would, with the manifest's coverage."""
    root = tmp_path_factory.mktemp("lake") / "lake"
    coverage = json.loads((feed / "manifest.json").read_text())["coverage"]

    def declared(source: str) -> list[str]:
        spans = [f"{c['from']}/{c['to']}" for c in coverage if c["source"] == source]
        return [arg for span in spans for arg in ("--coverage", span)]

    for command in (
        ["record", "stream", str(feed / "here"), *declared("here_stream")],
        ["record", "webhooks", "--from", str(feed / "edrv"), *declared("edrv_webhooks")],
    ):
        with pytest.raises(SystemExit) as exit_info:
            main([*command, "--lake", str(root)])
        assert exit_info.value.code in (0, None)
    return evlog.open_lake(root)


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
    got = lake.availability(*window, by="day")
    assert_same(got, expected(feed, "availability"), ["evse_id", "period_start"])


def test_intervals_match_truth(lake: evlog.EvlogLake, feed: Path, window: tuple[str, str]) -> None:
    got = lake.intervals(*window).select(
        pl.col("entity_kind").alias("entity_type"), "entity_id", "state", "start", "end"
    )
    want = expected(feed, "intervals").select("entity_type", "entity_id", "state", "start", "end")
    assert got.sort("entity_id", "start").equals(want.sort("entity_id", "start"))
