"""Option parsing: instants, windows, durations; offset-free times are local to --tz."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from evlog._errors import UsageError
from evlog._time import (
    FOREVER_US,
    from_micros,
    parse_duration,
    parse_instant,
    parse_window,
    to_micros,
)
from evlog._window import Window

MICROSECOND = timedelta(microseconds=1)


def test_offset_free_window_is_local_to_the_report_zone() -> None:
    window = Window.parse("2024-03-31", "2024-04-01", by="day", tz="Europe/Berlin")
    assert window.start == datetime(2024, 3, 30, 23, tzinfo=UTC)  # CET midnight
    assert window.end == datetime(2024, 3, 31, 22, tzinfo=UTC)  # CEST midnight
    assert window.end - window.start == timedelta(hours=23)  # the spring-forward day


def test_an_explicit_offset_wins_over_the_zone() -> None:
    window = Window.parse("2024-03-31T00:00:00Z", "2024-04-01T00:00:00Z", tz="Europe/Berlin")
    assert window.start == datetime(2024, 3, 31, tzinfo=UTC)


@pytest.mark.parametrize(
    "text, expected",
    [("30s", 30), ("5m", 300), ("1h", 3600), ("1.5h", 5400), ("2d", 172800), ("250ms", 0.25)],
)
def test_durations(text: str, expected: float) -> None:
    assert parse_duration(text, "--x").total_seconds() == expected


@pytest.mark.parametrize("text", ["", "5", "m5", "five minutes", "-5m"])
def test_bad_durations_name_the_option(text: str) -> None:
    with pytest.raises(UsageError, match="--flap-window"):
        parse_duration(text, "--flap-window")


def test_coverage_window_must_run_forward() -> None:
    with pytest.raises(UsageError, match="not after"):
        parse_window("2024-01-02/2024-01-01", "--coverage")
    assert parse_window("2024-01-01/2024-01-02", "--coverage")[1] == datetime(
        2024, 1, 2, tzinfo=UTC
    )


@pytest.mark.parametrize(
    "instant",
    [
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(2024, 3, 31, 1, 59, 59, 123_456, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
    ],
)
def test_micros_round_trip_exactly(instant: datetime) -> None:
    assert from_micros(to_micros(instant)) == instant
    assert to_micros(instant) == (instant - datetime(1970, 1, 1, tzinfo=UTC)) // MICROSECOND


def test_forever_outlasts_every_datetime_and_fits_a_bigint_with_room() -> None:
    assert FOREVER_US == 2**62
    assert to_micros(datetime.max.replace(tzinfo=UTC)) < FOREVER_US
    assert 2 * FOREVER_US - 1 <= 2**63 - 1  # a span from -forever to forever still fits


BERLIN = ZoneInfo("Europe/Berlin")
# A Sunday in Berlin's summer time, 01:30 local: UTC still on Saturday.
NOW = datetime(2024, 6, 29, 23, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2024-11", datetime(2024, 10, 31, 23, tzinfo=UTC)),  # Berlin's midnight, 1 November
        ("2024-W45", datetime(2024, 11, 3, 23, tzinfo=UTC)),  # Monday 4 November, CET
        ("now", NOW),
        ("today", datetime(2024, 6, 29, 22, tzinfo=UTC)),  # 30 June 00:00 CEST
        ("yesterday", datetime(2024, 6, 28, 22, tzinfo=UTC)),
        ("TODAY", datetime(2024, 6, 29, 22, tzinfo=UTC)),
        ("-7d", NOW - timedelta(days=7)),
        ("-12h", NOW - timedelta(hours=12)),
        ("- 90m", NOW - timedelta(minutes=90)),
    ],
)
def test_months_weeks_and_relative_instants(text: str, expected: datetime) -> None:
    assert parse_instant(text, "--start", BERLIN, now=NOW) == expected


def test_a_date_object_is_a_local_midnight() -> None:
    assert parse_instant(date(2024, 3, 31), "--start", BERLIN) == datetime(
        2024, 3, 30, 23, tzinfo=UTC
    )


@pytest.mark.parametrize("text", ["2024-13", "2024-1", "last week", "-7", "+7d", "2024-11-31"])
def test_bad_instants_name_the_option_and_the_forms(text: str) -> None:
    with pytest.raises(UsageError, match=r"--end: expected an ISO 8601 date or time .*-7d"):
        parse_instant(text, "--end", BERLIN, now=NOW)
