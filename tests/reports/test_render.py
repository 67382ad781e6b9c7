"""Terminal rendering: durations and percentages a person can read; files keep raw numbers."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import polars as pl
import pytest

from evlog._reports.render import format_duration, render


@pytest.mark.parametrize(
    "seconds, text",
    [
        (0.0, "0"),
        (42.54, "42.5s"),
        (60.0, "1:00"),
        (751.0, "12:31"),
        (3600.0, "1:00:00"),
        (10927.4, "3:02:07"),
        (86400.0, "1d 00:00:00"),
        (2 * 86400 + 4 * 3600 + 5, "2d 04:00:05"),
    ],
)
def test_durations_for_people(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


FRAME = pl.DataFrame(
    {
        "station_id": ["st-1"],
        "period_start": [datetime(2024, 4, 5, tzinfo=UTC)],
        "online_s": [90061.5],
        "uptime_pct": [99.123456],
        "mttr_s": [None],
    },
    schema_overrides={"mttr_s": pl.Float64},
)


def test_table_shows_readable_cells_and_files_keep_raw_numbers() -> None:
    table, csv = io.StringIO(), io.StringIO()
    render(FRAME, "table", stdout=table)
    render(FRAME, "csv", stdout=csv)
    assert "1d 01:01:02" in table.getvalue() and "99.12" in table.getvalue()
    assert "2024-04-05 00:00+00:00" in table.getvalue()
    assert "90061.5" in csv.getvalue() and "99.123456" in csv.getvalue()
