"""Time in evlog: parsing of time-valued options shared by the CLI and the Python API (errors name
the option), and the one conversion between instants and the microseconds the replay counts in."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from evlog._errors import UsageError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(us|ms|s|m|h|d|w)\s*$")
_UNIT_SECONDS = {
    "us": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# "Forever", in microseconds since the epoch: 2^62 µs (~146,000 years) either way of 1970 is later
# (earlier) than any event and still leaves room for arithmetic in a BIGINT. The replay SQL reads
# it as the rule `{{forever_us}}` (see `evlog/_replay/runner.py`).
FOREVER_US = 1 << 62


def utc_now() -> datetime:
    return datetime.now(UTC)


def to_micros(instant: datetime) -> int:
    """Microseconds since the Unix epoch, exactly (no float round trip)."""
    delta = instant.astimezone(UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime:
    """The UTC instant `micros` microseconds after the Unix epoch (the inverse of `to_micros`)."""
    return _EPOCH + timedelta(microseconds=micros)


_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_AGO = re.compile(r"^-\s*(\d+(?:\.\d+)?\s*(?:us|ms|s|m|h|d|w))$")
INSTANT_FORMS = (
    "an ISO 8601 date or time (2026-11-05, 2026-11-05T08:00, 2026-W45, ...), a month "
    "(2026-11), now, today, yesterday, or a time ago (-7d, -12h)"
)


def parse_instant(
    value: str | date | datetime, option: str, tz: tzinfo = UTC, now: datetime | None = None
) -> datetime:
    """An instant given as `INSTANT_FORMS` says, as an aware datetime. A value without offset
    is in `tz`: dates, months, `today` and `yesterday` are local midnights there. `now` is the
    current time (a parameter for tests)."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime.combine(value, time())
    else:
        parsed = _parse_text(value.strip(), option, tz, now or datetime.now(UTC))
    return parsed.replace(tzinfo=tz) if parsed.tzinfo is None else parsed


def _parse_text(text: str, option: str, tz: tzinfo, now: datetime) -> datetime:
    word = text.lower()
    if word == "now":
        return now
    if word in ("today", "yesterday"):
        day = now.astimezone(tz).date() - timedelta(days=word == "yesterday")
        return datetime.combine(day, time())
    ago = _AGO.match(word)
    if ago:
        return now - parse_duration(ago.group(1), option)
    month = _MONTH.match(text)
    try:
        if month:
            return datetime(int(month.group(1)), int(month.group(2)), 1)
        return datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{option}: expected {INSTANT_FORMS}; got {text!r}") from None


def parse_window(value: str, option: str) -> tuple[datetime, datetime]:
    """`FROM/TO` as two instants, FROM before TO."""
    start, sep, end = value.partition("/")
    if not sep:
        raise UsageError(f"{option}: expected FROM/TO, got {value!r}")
    window = parse_instant(start, option), parse_instant(end, option)
    if window[1] <= window[0]:
        raise UsageError(f"{option}: end {end} is not after start {start}")
    return window


def parse_duration(value: str | timedelta, option: str) -> timedelta:
    """A duration written like `30s`, `5m`, `1h`, `2d`."""
    if isinstance(value, timedelta):
        return value
    match = _DURATION.match(value)
    if match is None:
        raise UsageError(f"{option}: not a duration like 30s, 5m or 1h: {value!r}")
    return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])
