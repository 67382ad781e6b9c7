"""eDRV webhooks and poll snapshots: body parsing, connectivity and connector (port) status
observations, signatures, saved-body files.

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
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import orjson

from evlog._errors import RecordError
from evlog._lake.names import QuarantineReason
from evlog._sources._common import (
    DEFAULT_SKEW_TOLERANCE,
    LongLine,
    StatusObservation,
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
from evlog._sources.edrv_events import CONNECTOR_STATUS_EVENT, OFFLINE_EVENT, ONLINE_EVENT
from evlog._sources.ocpp import DEFAULT_STATUS_MAP, StatusMap

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


# ---------------------------------------------------------------------------------------------
# Connectors


@dataclass(frozen=True, slots=True)
class Connector:
    """One Connector object of an eDRV Chargestation (docs.edrv.io, "Chargestation"), as far as
    it is well-formed: what both the port observations (`status_events`) and the station/port
    metadata read from the feed.

    ``{"_id", "active", "status": "Preparing", "type": "J1772", "format": "Socket",
    "power_type": "AC_1_PHASE", "power": 2.01, "chargestation": "<station _id>", "createdAt",
    "updatedAt"}``; `powerType` (evlog's simulator) is read as `power_type`. Fields of the wrong
    type are None; a bad `updatedAt` is `problem` (the connector is kept for its other fields).
    """

    index: int  # position in the station's `connectors` array (a port's `evse_index`)
    connector_id: str
    station_id: str  # the enclosing Chargestation's `_id` (a port's `location_id`)
    status: str | None  # the OCPP spelling reported, e.g. "Preparing"
    type: str | None
    format: str | None
    power_kw: float | None
    power_type: str | None
    active: bool | None
    updated_at: datetime | None
    problem: RecordError | None = None


class StationConnectors(NamedTuple):
    connectors: list[Connector]
    problem: RecordError | None  # the first connector entry skipped (not an object, no `_id`)


def read_connectors(station: dict[str, Any], station_id: str) -> StationConnectors:
    """The Connector objects of a Chargestation (`data` of a webhook, a poll snapshot). An entry
    that is not an object or has no `_id` is skipped and named in `problem`; a station without a
    `connectors` array has none."""
    entries = station.get("connectors")
    if entries is None:
        return StationConnectors([], None)
    if not isinstance(entries, list):
        return StationConnectors(
            [], RecordError(QuarantineReason.NOT_AN_OBJECT, shown("connectors", entries))
        )
    found: list[Connector] = []
    problem: RecordError | None = None
    for index, entry in enumerate(entries):
        where = f"connectors[{index}]"
        if not isinstance(entry, dict):
            problem = problem or RecordError(QuarantineReason.NOT_AN_OBJECT, shown(where, entry))
            continue
        connector_id = entry.get("_id") or entry.get("id")
        if not isinstance(connector_id, str) or not connector_id:
            problem = problem or RecordError(
                QuarantineReason.MISSING_ID, shown(f"{where}._id", connector_id)
            )
            continue
        updated_at, time_problem = None, None
        if entry.get("updatedAt") is not None:
            try:
                updated_at = parse_timestamp(entry["updatedAt"], f"{where}.updatedAt")
            except RecordError as bad:
                time_problem = bad
        power = entry.get("power")
        power_type = entry.get("power_type", entry.get("powerType"))
        found.append(
            Connector(
                index=index,
                connector_id=connector_id,
                station_id=station_id,
                status=_text(entry.get("status")),
                type=_text(entry.get("type")),
                format=_text(entry.get("format")),
                power_kw=float(power)
                if isinstance(power, int | float) and not isinstance(power, bool)
                else None,
                power_type=_text(power_type),
                active=entry.get("active") if isinstance(entry.get("active"), bool) else None,
                updated_at=updated_at,
                problem=time_problem,
            )
        )
    return StationConnectors(found, problem)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def port_observation(
    connector: Connector,
    received_at: datetime,
    skew_tolerance: timedelta,
    status_map: StatusMap,
) -> StatusObservation:
    """A connector as a port status observation (docs/lake.md, "Events from eDRV connectors"):
    `evse_id` its `_id`, `location_id` its station's `_id`, the OCPI status `status_map` gives
    its OCPP status (kept as `status_raw`), at its `updatedAt` (clamped, rule *Observations*),
    else at `received_at`. `RecordError` for a connector without status or with a bad time."""
    if connector.problem is not None:
        raise connector.problem
    if connector.status is None:
        raise RecordError(QuarantineReason.MISSING_STATUS, f"connectors[{connector.index}].status")
    if connector.updated_at is None:
        event_time, clamped = received_at, False
    else:
        event_time, clamped = clamp_event_time(connector.updated_at, received_at, skew_tolerance)
    return StatusObservation(
        connector.station_id,
        connector.connector_id,
        status_map(connector.status),
        connector.status,
        event_time,
        clamped,
        connector.index,
    )


@dataclass
class EdrvObservations:
    """What one eDRV record says: the station's connectivity (None for webhooks of other
    types), its connectors' statuses, and the first problem found in a connector (the record is
    then also quarantined; what was read is kept, as for a HERE message with one bad EVSE)."""

    connectivity: ConnectivityObservation | None = None
    ports: list[StatusObservation] = field(default_factory=list)
    problem: RecordError | None = None
    #: the station's Connector objects as read for `ports` (None: not read, e.g. a webhook of
    #: another type), so the metadata of the same station need not read them again
    connectors: list[Connector] | None = None


def _station(body: dict[str, Any], field_name: str) -> tuple[dict[str, Any], str]:
    station = body.get(field_name) if field_name else body
    if not isinstance(station, dict):
        raise RecordError(QuarantineReason.MISSING_STATION, shown(field_name, station))
    station_id = station.get("_id") or station.get("id")
    if not isinstance(station_id, str) or not station_id:
        where = f"{field_name}._id" if field_name else "_id"
        raise RecordError(QuarantineReason.MISSING_STATION, shown(where, station_id))
    return station, station_id


def _with_ports(
    result: EdrvObservations,
    station: dict[str, Any],
    station_id: str,
    received_at: datetime,
    skew_tolerance: timedelta,
    status_map: StatusMap,
) -> EdrvObservations:
    connectors, result.problem = read_connectors(station, station_id)
    result.connectors = connectors
    for connector in connectors:
        try:
            result.ports.append(
                port_observation(connector, received_at, skew_tolerance, status_map)
            )
        except RecordError as problem:
            result.problem = result.problem or problem
    return result


def read_webhook(
    payload: bytes,
    received_at: datetime,
    skew_tolerance: timedelta = DEFAULT_SKEW_TOLERANCE,
    status_map: StatusMap = DEFAULT_STATUS_MAP,
) -> EdrvObservations:
    """The observations a webhook body carries (`read_webhook_body`)."""
    return read_webhook_body(decode_json_object(payload), received_at, skew_tolerance, status_map)


def read_webhook_body(
    body: dict[str, Any],
    received_at: datetime,
    skew_tolerance: timedelta = DEFAULT_SKEW_TOLERANCE,
    status_map: StatusMap = DEFAULT_STATUS_MAP,
) -> EdrvObservations:
    """The observations a decoded webhook body carries: `chargestation.online`/`offline` give
    the station's connectivity, and they and `chargestation.connector_status.updated` its
    connectors' statuses (each webhook's `data` is the Chargestation with all its connectors);
    other (valid) event types give nothing. `RecordError` for a body that names no event or no
    station: nothing of it is read."""
    event = body.get("event") or body.get("type")
    if not isinstance(event, str) or not event:
        raise RecordError(QuarantineReason.MISSING_EVENT, shown("event", event))
    if event not in _TIME_FIELD and event != CONNECTOR_STATUS_EVENT:
        return EdrvObservations()
    station, station_id = _station(body, "data")
    result = EdrvObservations()
    if event in _TIME_FIELD:
        field_name = _TIME_FIELD[event]
        source_time = station.get(field_name)
        if source_time is None:
            event_time, clamped = received_at, False
        else:
            event_time, clamped = clamp_event_time(
                parse_timestamp(source_time, field_name), received_at, skew_tolerance
            )
        result.connectivity = ConnectivityObservation(
            station_id, event == ONLINE_EVENT, event, event_time, clamped
        )
    return _with_ports(result, station, station_id, received_at, skew_tolerance, status_map)


def parse_webhook(
    payload: bytes,
    received_at: datetime,
    skew_tolerance: timedelta = DEFAULT_SKEW_TOLERANCE,
) -> ConnectivityObservation | None:
    """The connectivity observation a webhook body carries; None for other (valid) event types."""
    return read_webhook(payload, received_at, skew_tolerance).connectivity


def read_snapshot(
    payload: bytes,
    received_at: datetime,
    skew_tolerance: timedelta = DEFAULT_SKEW_TOLERANCE,
    status_map: StatusMap = DEFAULT_STATUS_MAP,
) -> EdrvObservations:
    """A polled `GET /chargestations/{id}` body (`read_snapshot_body`)."""
    return read_snapshot_body(decode_json_object(payload), received_at, skew_tolerance, status_map)


def read_snapshot_body(
    body: dict[str, Any],
    received_at: datetime,
    skew_tolerance: timedelta = DEFAULT_SKEW_TOLERANCE,
    status_map: StatusMap = DEFAULT_STATUS_MAP,
) -> EdrvObservations:
    """A decoded `GET /chargestations/{id}` body: `online` observed at receive time, and its
    connectors' statuses (each at its own `updatedAt`)."""
    result_body = body.get("result")
    station, station_id = _station(result_body if isinstance(result_body, dict) else body, "")
    online = station.get("online")
    if not isinstance(online, bool):
        raise RecordError(QuarantineReason.MISSING_STATUS, "online flag")
    result = EdrvObservations(
        ConnectivityObservation(station_id, online, "poll", received_at, False)
    )
    return _with_ports(result, station, station_id, received_at, skew_tolerance, status_map)


def parse_snapshot(
    payload: bytes, received_at: datetime, skew_tolerance: timedelta = DEFAULT_SKEW_TOLERANCE
) -> ConnectivityObservation:
    """A polled `GET /chargestations/{id}` body as an observation of `online` at receive time."""
    connectivity = read_snapshot(payload, received_at, skew_tolerance).connectivity
    assert connectivity is not None  # a snapshot always observes its station
    return connectivity


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
