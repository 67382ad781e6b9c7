"""eDRV webhooks: body parsing, connectivity observations, signatures, saved-body files.

A webhook body::

    {"_id": "<webhook id>", "event": "chargestation.online", "object": "chargestation",
     "data": {"_id": "<station id>", "online": true, "lastConnectAt": "...",
              "lastDisconnectAt": "...", "connectors": [...], ...}}

The event-name key is not documented for sure: `event` is read, else `type`. Signatures follow
Stripe's scheme: header ``edrv-signature: t=<unix s>,v1=<hex HMAC-SHA256("<t>.<raw body>")>``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

import orjson

from evlog._errors import RecordError
from evlog._lake.schema import QuarantineReason
from evlog._sources._common import (
    DEFAULT_SKEW_TOLERANCE,
    LongLine,
    clamp_event_time,
    content_key,
    decode_json_object,
    json_bytes,
    parse_timestamp,
    shown,
    split_lines,
    too_large,
)
from evlog._sources._headers import redact_headers

ONLINE_EVENT = "chargestation.online"
OFFLINE_EVENT = "chargestation.offline"
SIGNATURE_HEADER = "edrv-signature"

# Which station field holds the source time of each connectivity event.
_TIME_FIELD = {ONLINE_EVENT: "lastConnectAt", OFFLINE_EVENT: "lastDisconnectAt"}

# The record key of a saved line over the size cap: raw_webhooks has no defect column, so the key
# is what tells `lake rebuild` that the payload is only the line's first bytes.
_TOO_LARGE_KEY = "too-large:"


class ConnectivityObservation(NamedTuple):
    station_id: str
    online: bool
    event: str
    event_time: datetime
    time_clamped: bool


def webhook_identity(payload: bytes) -> tuple[str, str | None]:
    """(record_key, webhook_id) of a raw body: its `_id` when it has one, else its content hash."""
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError:
        body = None
    webhook_id = body.get("_id") if isinstance(body, dict) else None
    if isinstance(webhook_id, str) and webhook_id:
        return f"webhook:{webhook_id}", webhook_id
    return content_key(payload), None


def refuse_too_large(record_key: str) -> None:
    """Raise the quarantine of a record stored only in part because it was over the size cap."""
    if record_key.startswith(_TOO_LARGE_KEY):
        raise too_large(int(record_key[len(_TOO_LARGE_KEY) :].partition(":")[0]))


def parse_webhook(
    payload: bytes,
    received_at: datetime,
    skew_tolerance: timedelta = DEFAULT_SKEW_TOLERANCE,
) -> ConnectivityObservation | None:
    """The connectivity observation a webhook body carries; None for other (valid) event types."""
    body = decode_json_object(payload)
    event = body.get("event") or body.get("type")
    if not isinstance(event, str) or not event:
        raise RecordError(QuarantineReason.MISSING_EVENT, shown("event", event))
    if event not in _TIME_FIELD:
        return None
    station = body.get("data")
    if not isinstance(station, dict):
        raise RecordError(QuarantineReason.MISSING_STATION, shown("data", station))
    station_id = station.get("_id") or station.get("id")
    if not isinstance(station_id, str) or not station_id:
        raise RecordError(QuarantineReason.MISSING_STATION, shown("data._id", station_id))
    field = _TIME_FIELD[event]
    source_time = station.get(field)
    if source_time is None:
        event_time, clamped = received_at, False
    else:
        event_time, clamped = clamp_event_time(
            parse_timestamp(source_time, field), received_at, skew_tolerance
        )
    return ConnectivityObservation(station_id, event == ONLINE_EVENT, event, event_time, clamped)


def parse_snapshot(
    payload: bytes, received_at: datetime, skew_tolerance: timedelta = DEFAULT_SKEW_TOLERANCE
) -> ConnectivityObservation:
    """A polled `GET /chargestations/{id}` body as an observation of `online` at receive time."""
    body = decode_json_object(payload)
    station = body.get("result", body) if isinstance(body.get("result"), dict) else body
    station_id = station.get("_id") or station.get("id")
    if not isinstance(station_id, str) or not station_id:
        raise RecordError(QuarantineReason.MISSING_STATION)
    online = station.get("online")
    if not isinstance(online, bool):
        raise RecordError(QuarantineReason.MISSING_STATUS, "online flag")
    return ConnectivityObservation(station_id, online, "poll", received_at, False)


# ---------------------------------------------------------------------------------------------
# Signatures


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The `edrv-signature` header value for `body` at unix time `timestamp`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def parse_signature(header: str | None) -> tuple[int, list[str]] | None:
    """The ``t=`` time and the hex ``v1=`` digests of an `edrv-signature` value; None if it is
    not well-formed (no time, no digest of the right shape, or absurdly long)."""
    if not header or len(header) > 1024:
        return None
    items = [item.strip().partition("=") for item in header.split(",")]
    stamps = [value for key, _, value in items if key == "t"]
    digests = [value for key, _, value in items if key == "v1" and _is_digest(value)]
    if not stamps or not stamps[0].isdigit() or not digests:
        return None
    return int(stamps[0]), digests


def _is_digest(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)


def signature_is_fresh(header: str | None, now: float, tolerance: timedelta) -> bool:
    """Whether `header` is well-formed and its time within `tolerance` of `now`: what can be
    checked before the body is read, so a request that cannot pass `verify_signature` makes the
    receiver hold no body."""
    parsed = parse_signature(header)
    return parsed is not None and abs(now - parsed[0]) <= tolerance.total_seconds()


def verify_signature(
    secret: str,
    header: str | None,
    body: bytes,
    now: float,
    tolerance: timedelta = DEFAULT_SKEW_TOLERANCE,
) -> bool:
    """True if `header` signs `body` with `secret` at a time within `tolerance` of `now`."""
    parsed = parse_signature(header)
    if parsed is None or abs(now - parsed[0]) > tolerance.total_seconds():
        return False
    timestamp, digests = parsed
    expected = sign(secret, body, timestamp).partition("v1=")[2]
    return any(hmac.compare_digest(expected, candidate) for candidate in digests)


# ---------------------------------------------------------------------------------------------
# Saved webhook files (JSONL)


@dataclass(frozen=True)
class SavedWebhook:
    """One line of a saved-webhooks file: the body, its identity, and its receive time and
    headers (a JSON object's text) if saved. A line over the size cap keeps only its first bytes
    as `body`, under a `too-large:` key."""

    body: bytes
    received_at: datetime | None
    headers: str | None
    record_key: str
    webhook_id: str | None


def read_saved_webhooks(data: bytes) -> Iterator[SavedWebhook]:
    """Lines of a JSONL file: each a bare webhook body or an envelope
    ``{"received_at": ISO, "headers": {...}, "body": {...} | "<raw body>"}`` (what `evlog` and its
    simulator write, keeping the receive time). A line that is not JSON is still a record."""
    for line in split_lines((data,)):
        if isinstance(line, LongLine):
            key = f"{_TOO_LARGE_KEY}{line.size}:{line.record_key}"
            yield SavedWebhook(line.prefix, None, None, key, None)
        else:
            yield _saved_webhook(line)


def _saved_webhook(line: bytes) -> SavedWebhook:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        value = None
    if not (isinstance(value, dict) and "body" in value and "object" not in value):
        return SavedWebhook(line, None, None, *webhook_identity(line))
    body = value["body"]
    raw = body.encode() if isinstance(body, str) else json_bytes(body)
    if raw is None:  # a body nested too deeply to write back as JSON: the line is the record
        return SavedWebhook(line, None, None, *webhook_identity(line))
    received_at = None
    if value.get("received_at") is not None:
        try:
            received_at = parse_timestamp(value["received_at"], "received_at")
        except RecordError:
            received_at = None
    headers = value.get("headers")
    headers_text = json_bytes(redact_headers(headers)) if isinstance(headers, dict) else None
    return SavedWebhook(
        raw,
        received_at,
        None if headers_text is None else headers_text.decode(),
        *webhook_identity(raw),
    )
