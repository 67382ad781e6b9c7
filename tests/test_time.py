"""Option parsing: instants, windows, durations; offset-free times are local to --tz."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from evlog._errors import UsageError
from evlog._time import FOREVER_US, from_micros, parse_duration, parse_window, to_micros
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
