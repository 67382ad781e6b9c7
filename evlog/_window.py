"""Report options shared by the CLI and the Python API: window, period size, time zone, filters.

Every parser raises `UsageError` with a message that names the option, so the CLI can print it on
one line. Period boundaries are computed here, in Python, because there are few of them (one per
period, not per entity) and `zoneinfo` gets DST right: a local day in Europe/Berlin is 23 or 25
hours long on the days the clocks change.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from evlog._errors import UsageError
from evlog._time import parse_duration, parse_instant, to_micros

# A report of more periods than this is almost surely a typo (hourly periods over a century).
MAX_PERIODS = 1_000_000


class Period(StrEnum):
    """How a report window is cut into rows (`--by`)."""

    HOUR = "hour"
    DAY = "day"
    WEEK = "week"  # ISO week, starting Monday
    MONTH = "month"  # calendar month
    NONE = "none"  # the whole window is one period


_Choice = TypeVar("_Choice", bound=StrEnum)


def parse_choice(kind: type[_Choice], value: str | _Choice, option: str) -> _Choice:
    """`value` as one of the string enum `kind`'s values (any case, spaces trimmed), else a
    `UsageError` naming `option` and the choices."""
    try:
        return kind(str(value).strip().lower())
    except ValueError:
        choices = "|".join(c.value for c in kind)
        raise UsageError(f"{option}: expected one of {choices}, got {value!r}") from None


def parse_optional_choice(
    kind: type[_Choice], value: str | _Choice | None, option: str
) -> _Choice | None:
    """`parse_choice` of an option that may be left out (None stays None)."""
    return None if value is None else parse_choice(kind, value, option)


def parse_period(value: str | Period, option: str = "--by") -> Period:
    return parse_choice(Period, value, option)


def parse_tz(value: str | ZoneInfo, option: str = "--tz") -> ZoneInfo:
    if isinstance(value, ZoneInfo):
        return value
    try:
        return ZoneInfo(value.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"{option}: unknown time zone {value!r}") from None


def parse_positive_duration(value: str | timedelta, option: str) -> timedelta:
    duration = parse_duration(value, option)
    if duration <= timedelta(0):
        raise UsageError(f"{option}: must be longer than zero, got {value!r}")
    return duration


def parse_ids(values: Iterable[str] | str | None) -> tuple[str, ...]:
    """Repeatable id filters; a single string is one id, not a sequence of characters."""
    if values is None:
        return ()
    if isinstance(values, str):
        return (values,)
    return tuple(dict.fromkeys(values))


@dataclass(frozen=True)
class Window:
    """A report window [start, end) cut into periods in a time zone."""

    start: datetime
    end: datetime
    by: Period
    tz: ZoneInfo

    @classmethod
    def parse(
        cls,
        start: str | date | datetime,
        end: str | date | datetime,
        by: str | Period = Period.DAY,
        tz: str | ZoneInfo = "UTC",
    ) -> Window:
        """Validate the options; a start or end without an offset is local time in `tz`
        (`--start 2024-03-31 --tz Europe/Berlin` is Berlin's midnight)."""
        zone = parse_tz(tz)
        window = cls(
            start=parse_instant(start, "--start", zone).astimezone(UTC),
            end=parse_instant(end, "--end", zone).astimezone(UTC),
            by=parse_period(by),
            tz=zone,
        )
        if window.end <= window.start:
            raise UsageError(
                f"--end: {window.end.isoformat()} is not after --start {window.start.isoformat()}"
            )
        return window

    @property
    def start_us(self) -> int:
        return to_micros(self.start)

    @property
    def end_us(self) -> int:
        return to_micros(self.end)

    def boundaries(self) -> list[datetime]:
        """Boundaries from start to end, both included; inner ones are local period starts."""
        inner = [
            b for b in _period_starts(self.start, self.end, self.by, self.tz) if b > self.start
        ]
        bounds = [self.start, *inner, self.end]
        if len(bounds) > MAX_PERIODS:
            raise UsageError(
                f"--by: {self.by} makes more than {MAX_PERIODS} periods in this window"
            )
        return bounds

    def boundaries_us(self) -> list[int]:
        return [to_micros(b) for b in self.boundaries()]


def _period_starts(start: datetime, end: datetime, by: Period, tz: ZoneInfo) -> Iterator[datetime]:
    """Local period starts (UTC instants) before `end`, from the one containing `start`."""
    if by is Period.NONE:
        return
    if by is Period.HOUR:
        # Whole-hour offsets (all but a handful of zones) keep local hours aligned with UTC steps,
        # and stepping in UTC gives the 23 or 25 hours of DST days for free.
        local = start.astimezone(tz)
        instant = local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
        if instant > start:  # a zone whose hour starts at a fold: fall back one hour
            instant -= timedelta(hours=1)
        while instant < end:
            yield instant
            instant += timedelta(hours=1)
        return
    day = _first_local_day(start.astimezone(tz).date(), by)
    while True:
        instant = datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)
        if instant >= end:
            return
        yield instant
        day = _next_local_day(day, by)


def _first_local_day(day: date, by: Period) -> date:
    if by is Period.WEEK:
        return day - timedelta(days=day.weekday())
    if by is Period.MONTH:
        return day.replace(day=1)
    return day


def _next_local_day(day: date, by: Period) -> date:
    if by is Period.WEEK:
        return day + timedelta(days=7)
    if by is Period.MONTH:
        return date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return day + timedelta(days=1)
