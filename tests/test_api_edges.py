"""The Python API as a notebook user meets it (issue 16, item 8): dates, errors in keyword
names, a context manager, a readable repr, a version."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

import evlog
from tests.replay.lakes import StatusEvent, at, make_lake


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    make_lake(
        tmp_path,
        status=[
            StatusEvent("e1", "AVAILABLE", at("2024-04-05T00:00:00")),
            StatusEvent("e1", "CHARGING", at("2024-04-05T06:00:00")),
            StatusEvent("e1", "AVAILABLE", at("2024-04-06T00:00:00")),
        ],
    )
    return tmp_path


def test_dates_are_local_midnights(lake: Path) -> None:
    frame = evlog.open_lake(lake).availability(date(2024, 4, 5), date(2024, 4, 6), by="none")
    assert frame["available_s"].to_list() == [6 * 3600.0]
    assert frame["charging_s"].to_list() == [18 * 3600.0]


@pytest.mark.parametrize(
    "options, message",
    [
        ({"flap_threshold": "soon"}, "flap_threshold: not a duration"),
        ({"tz": "Mars/Base"}, "tz: unknown time zone"),
        ({"by": "fortnight"}, "by: expected one of"),
        (
            {"start": "2024-04-06", "end": "2024-04-05"},
            "end: 2024-04-05T00:00:00+00:00 is not after start",
        ),
    ],
)
def test_errors_name_the_keyword_not_the_flag(
    lake: Path, options: dict[str, str], message: str
) -> None:
    with pytest.raises(evlog.UsageError) as raised:
        evlog.open_lake(lake).report("flaps", **options)
    assert str(raised.value).startswith(message)
    assert "--" not in str(raised.value)


def test_a_context_manager_closes_the_connection(lake: Path) -> None:
    with evlog.open_lake(lake) as opened:
        assert repr(opened) == f"EvlogLake({str(lake)!r}, engine='duckdb')"
        assert opened.availability(by="none").height == 1
    with pytest.raises(duckdb.ConnectionException):
        opened.connection.sql("SELECT 1")


def test_the_version_is_the_installed_package() -> None:
    from importlib.metadata import version

    assert evlog.__version__ == version("evlog")
    assert "__version__" in evlog.__all__


def test_a_berlin_relation_grouped_by_date_gives_the_local_day(lake: Path) -> None:
    # e1: AVAILABLE from 2024-04-05 00:00 UTC (02:00 in Berlin, CEST), CHARGING from 06:00 UTC
    opened = evlog.open_lake(lake)
    daily = opened.availability_relation("2024-04-05", "2024-04-07", by="day", tz="Europe/Berlin")
    days = daily.query(
        "daily",
        "SELECT date(period_start) AS day, sum(charging_s) AS charging_s FROM daily "
        "GROUP BY ALL ORDER BY day",
    ).fetchall()
    # Berlin's 5 April: 00:00-02:00 before the first event (no data), AVAILABLE 02:00-08:00,
    # CHARGING 08:00-24:00; 6 April: CHARGING until 02:00 (00:00 UTC), then AVAILABLE
    assert days == [(date(2024, 4, 5), 16 * 3600.0), (date(2024, 4, 6), 2 * 3600.0)]
    # the wall-clock start of the Berlin day, and its instant again with timezone()
    (first,) = daily.query(
        "daily", "SELECT period_start, timezone('Europe/Berlin', period_start) FROM daily LIMIT 1"
    ).fetchall()
    assert str(first[0]) == "2024-04-05 00:00:00" and first[1] == at("2024-04-04T22:00:00")


def test_interval_columns_need_no_quoting(lake: Path) -> None:
    opened = evlog.open_lake(lake)
    intervals = opened.intervals_relation("2024-04-05", "2024-04-06")
    charging = intervals.query(
        "intervals", "SELECT interval_start, interval_end FROM intervals WHERE state = 'CHARGING'"
    ).fetchall()
    assert [tuple(str(t) for t in row) for row in charging] == [
        ("2024-04-05 06:00:00", "2024-04-06 00:00:00")
    ]
    frame = opened.intervals("2024-04-05", "2024-04-06")
    assert frame.columns[4:6] == ["interval_start", "interval_end"]
