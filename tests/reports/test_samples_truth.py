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
from evlog.cli import main

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
WINDOW = ("2026-11-02T00:00:00Z", "2026-11-09T00:00:00Z")

pytestmark = pytest.mark.skipif(
    not (SAMPLES / "manifest.json").exists(), reason="bundled samples not present"
)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> evlog.EvlogLake:
    root = tmp_path_factory.mktemp("samples") / "lake"
    coverage = json.loads((SAMPLES / "manifest.json").read_text())["coverage"]

    def declared(source: str) -> list[str]:
        spans = [f"{c['from']}/{c['to']}" for c in coverage if c["source"] == source]
        return [arg for span in spans for arg in ("--coverage", span)]

    for command in (
        ["record", "stream", str(SAMPLES / "here"), *declared("here_stream")],
        ["record", "webhooks", "--from", str(SAMPLES / "edrv"), *declared("edrv_webhooks")],
    ):
        with pytest.raises(SystemExit) as exit_info:
            main([*command, "--lake", str(root)])
        assert exit_info.value.code in (0, None)
    return evlog.open_lake(root)


def expected(name: str) -> pl.DataFrame:
    frame = pl.read_csv(SAMPLES / "truth" / f"expected_{name}.csv", try_parse_dates=True)
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


def test_uptime_matches_truth(lake: evlog.EvlogLake) -> None:
    got = lake.uptime(*WINDOW, by="day")
    assert_same(got, expected("uptime").drop("location_id"), ["station_id", "period_start"])


def test_availability_matches_truth(lake: evlog.EvlogLake) -> None:
    got = lake.availability(*WINDOW, by="day")
    assert_same(got, expected("availability"), ["evse_id", "period_start"])


def test_intervals_match_truth(lake: evlog.EvlogLake) -> None:
    got = lake.intervals(*WINDOW).select(
        pl.col("entity_kind").alias("entity_type"), "entity_id", "state", "start", "end"
    )
    want = expected("intervals").select("entity_type", "entity_id", "state", "start", "end")
    assert got.sort("entity_id", "start").equals(want.sort("entity_id", "start"))
