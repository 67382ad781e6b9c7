"""Helpers shared by the source parsers: JSON decoding, timestamps, identities."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from evlog.errors import RecordError
from evlog.schema import QuarantineReason

DEFAULT_SKEW_TOLERANCE = timedelta(minutes=5)


def decode_json_object(payload: bytes) -> dict[str, Any]:
    """Parse `payload` as one JSON object, naming the defect if it is not one."""
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecordError(QuarantineReason.INVALID_UTF8, str(exc)) from None
    try:
        value = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise RecordError(QuarantineReason.INVALID_JSON, str(exc)) from None
    if not isinstance(value, dict):
        raise RecordError(QuarantineReason.NOT_AN_OBJECT, type(value).__name__)
    return value


def parse_timestamp(value: object, field: str) -> datetime:
    """An ISO 8601 time as an aware UTC datetime; a time without offset is taken as UTC (OCPI)."""
    if not isinstance(value, str):
        raise RecordError(QuarantineReason.UNPARSEABLE_TIME, f"{field}={value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise RecordError(QuarantineReason.UNPARSEABLE_TIME, f"{field}={value!r}") from None
    if parsed.tzinfo is UTC:  # the usual "...Z": nothing to convert
        return parsed
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00: before year 1 in UTC
        raise RecordError(QuarantineReason.UNPARSEABLE_TIME, f"{field}={value!r}") from None


def clamp_event_time(
    event_time: datetime, received_at: datetime, tolerance: timedelta
) -> tuple[datetime, bool]:
    """DESIGN rule 2: a source time later than received_at + tolerance becomes received_at."""
    if event_time > received_at + tolerance:
        return received_at, True
    return event_time, False


def content_key(payload: bytes) -> str:
    return "sha256:" + hashlib.sha256(payload).hexdigest()
