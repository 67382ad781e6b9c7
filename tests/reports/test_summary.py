"""`evlog report summary`: the network at a glance, figures computed by hand on a small lake."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

import evlog
from tests.replay.lakes import Connectivity, StatusEvent, at, make_lake


@pytest.fixture
def day_lake(tmp_path: Path) -> Path:
    """One day: E1 AVAILABLE, out of order from 18:00 on; E2 AVAILABLE but CHARGING 06:00-12:00
    (both at L1); station S1 online, offline from 20:00 on."""
    make_lake(
        tmp_path / "lake",
        status=[
            StatusEvent("E1", "AVAILABLE", at("2025-01-01T00:00:00"), location_id="L1"),
            StatusEvent("E1", "OUT_OF_ORDER", at("2025-01-01T18:00:00"), location_id="L1"),
            StatusEvent("E2", "AVAILABLE", at("2025-01-01T00:00:00"), location_id="L1"),
            StatusEvent("E2", "CHARGING", at("2025-01-01T06:00:00"), location_id="L1"),
            StatusEvent("E2", "AVAILABLE", at("2025-01-01T12:00:00"), location_id="L1"),
        ],
        connectivity=[
            Connectivity("S1", True, at("2025-01-01T00:00:00")),
            Connectivity("S1", False, at("2025-01-01T20:00:00")),
        ],
    )
    return tmp_path / "lake"


def lines(frame: pl.DataFrame, section: str) -> list[tuple[str, float | None]]:
    return frame.filter(pl.col("section") == section).select("item", "value").rows()


def test_summary_figures_by_hand(day_lake: Path) -> None:
    frame = evlog.open_lake(day_lake).summary("2025-01-01", "2025-01-02")
    assert frame.columns == ["section", "item", "value", "detail"]
    assert lines(frame, "network") == [("EVSEs", 2.0), ("stations", 1.0)]
    assert lines(frame, "coverage") == [
        ("EVSE time observed", 100.0),
        ("station time observed", 100.0),
    ]
    availability = dict(lines(frame, "availability"))
    assert availability["network available_pct"] == 75.0  # (18 h + 18 h) / 48 h
    assert availability["EVSEs under 97 % in service"] == 1  # E1: 18 of 24 hours
    assert lines(frame, "worst EVSEs") == [("E1", 75.0), ("E2", 100.0)]
    assert dict(lines(frame, "uptime"))["network uptime_pct"] == pytest.approx(
        20 / 24 * 100, abs=1e-3
    )
    assert lines(frame, "worst stations") == [("S1", pytest.approx(20 / 24 * 100))]
    # out at the window's end, and since when
    at_end = frame.filter(pl.col("section") == "at the end")
    assert at_end.select("item", "value").rows() == [
        ("out of order or offline", 2.0),
        ("E1", 6 * 3600.0),
        ("S1", 4 * 3600.0),
    ]
    assert at_end["detail"][1].startswith("OUT_OF_ORDER since 2025-01-01T18:00:00+00:00")
    assert lines(frame, "quarantine") == [("records", 0.0)]
    freshness = frame.filter(pl.col("section") == "freshness")
    assert freshness["item"].to_list() == ["last status events", "last connectivity"]
    assert freshness["detail"][0].startswith("2025-01-01T18:00:00+00:00")


def test_cli_summary_json_and_picture(day_lake: Path, tmp_path: Path) -> None:
    picture = tmp_path / "summary.png"
    result = subprocess.run(
        [
            sys.executable, "-m", "evlog", "report", "summary", "--lake", str(day_lake),
            "--start", "2025-01-01", "--end", "2025-01-02", "--format", "json",
            "--plot", str(picture),
        ],
        capture_output=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    by_item = {(r["section"], r["item"]): r["value"] for r in rows}
    assert by_item[("availability", "network available_pct")] == 75.0
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
