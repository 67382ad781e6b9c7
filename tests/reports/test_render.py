"""Terminal rendering: durations and percentages a person can read; files keep raw numbers."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import polars as pl
import pytest

from evlog._errors import UsageError
from evlog._reports.render import (
    format_duration,
    render,
    select_rows,
    table_view,
    to_rich_table,
)


@pytest.mark.parametrize(
    "seconds, text",
    [
        (0.0, "0"),
        (0.4, "0:00:00.4"),
        (42.54, "0:00:42.5"),
        (60.0, "0:01:00"),
        (751.0, "0:12:31"),
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
    assert "2024-04-05" in table.getvalue() and "00:00" not in table.getvalue()  # all midnights
    # CSV: durations to the microsecond, percentages to a thousandth, ISO times with offset
    assert "90061.5" in csv.getvalue() and ",99.123," in csv.getvalue()
    assert "2024-04-05T00:00:00+00:00" in csv.getvalue()


LONG = pl.DataFrame(
    {
        "evse_id": [f"here:evcp:loc:{n}:evse:1" for n in (100001, 100002, 100003)],
        "station_id": ["9f4b1f296311699ff1d766b1", "9f4b1f29aaaa", "4c119726ea72d2f9e5fc9040"],
        "period_start": [datetime(2024, 4, 5, 6, 30, tzinfo=UTC)] * 3,
        "reserved_s": [0.0, 0.0, 0.0],
        "online_s": [3600.0, 7200.0, 60.0],
        "uptime_pct": [99.5, 50.0, None],
    }
)


def test_a_fitted_table_says_what_it_changed() -> None:
    shown, notes = table_view(LONG)
    assert "reserved_s" not in shown.columns and "0 on every row: reserved_s" in notes
    assert shown["evse_id"].to_list() == ["100001:evse:1", "100002:evse:1", "100003:evse:1"]
    assert "evse_id: without 'here:evcp:loc:'" in notes
    # the shortest start that tells the ids apart, at least 8 characters: 9f4b1f29 is shared
    assert shown["station_id"].to_list() == ["9f4b1f296…", "9f4b1f29a…", "4c119726e…"]
    assert shown["period_start"].dtype == pl.Datetime("us", None)  # UTC, said nowhere


def test_a_table_narrower_than_its_columns_drops_figures_not_keys() -> None:
    out = io.StringIO()
    from rich.console import Console

    Console(file=out, width=60).print(to_rich_table(LONG, width=60))
    lines = out.getvalue().splitlines()
    assert all(len(line) <= 60 for line in lines)
    text = out.getvalue()
    assert "100001:evse:1" in text and "99.50" in text  # keys and percentages kept whole
    assert "not shown for width: online_s" in " ".join(" ".join(lines).split())


def test_select_rows_sorts_cuts_and_picks() -> None:
    picked = select_rows(LONG, ["station_id", "uptime_pct"], ["uptime_pct:desc"], 2)
    assert picked.columns == ["station_id", "uptime_pct"]
    assert picked["uptime_pct"].to_list() == [99.5, 50.0]  # nulls last
    assert select_rows(LONG, sort=["online_s"])["online_s"].to_list() == [60.0, 3600.0, 7200.0]
    with pytest.raises(UsageError, match="--columns: no column 'nope'; the report has evse_id"):
        select_rows(LONG, ["nope"])
    with pytest.raises(UsageError, match="--top"):
        select_rows(LONG, top=0)
