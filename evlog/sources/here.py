"""HERE EVCP2 EVSE status stream: capture shapes, record splitting and message parsing.

A message is gzip-compressed JSON::

    {"id": "<location id>", "evses": [{"id": "<evse id>", "status": "AVAILABLE",
                                       "last_updated": "2024-04-05T11:37:59Z"}]}

Captures come in several shapes, recognised from their content: concatenated gzip members (one
message each, what `olp catalog layer stream get` prints), NDJSON (plain or gzip-compressed), a Data
API `partitions` response, or a single message per file.
"""

from __future__ import annotations

import base64
import binascii
import functools
import gzip
import re
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import orjson

from evlog.errors import RecordError
from evlog.schema import QuarantineReason, Status
from evlog.sources._common import clamp_event_time, content_key, decode_json_object, parse_timestamp

GZIP_MAGIC = b"\x1f\x8b"
_MEMBER_START = b"\x1f\x8b\x08"  # magic + deflate: where a member can begin
_FEED_CHUNK = 1024  # most members are a few hundred bytes; the leftover is copied per member

# Every spelling seen in OCPI (OUT_OF_ORDER, OUTOFORDER) and HERE's REST API (outOfOrder) folds to
# the same key once case and separators are dropped.
_STATUS_BY_KEY = {s.value.replace("_", ""): s for s in Status}
_SEPARATORS = re.compile(r"[^A-Z]")


@functools.lru_cache(maxsize=4096)
def normalize_status(raw: str) -> Status:
    """The OCPI status for a source spelling; unknown spellings are UNKNOWN (not an error)."""
    return _STATUS_BY_KEY.get(_SEPARATORS.sub("", raw.upper()), Status.UNKNOWN)


class StatusObservation(NamedTuple):  # a tuple: cheap to build once per EVSE update
    location_id: str
    evse_id: str
    status: Status
    status_raw: str
    event_time: datetime
    time_clamped: bool
    evse_index: int


@dataclass
class ParsedMessage:
    """The observations of one message, and the first problem found in it, if any.

    A message whose envelope is bad yields no observations; one EVSE entry that is bad (say, no
    status) costs only that entry: the others are kept and the message is also quarantined.
    """

    observations: list[StatusObservation] = field(default_factory=list)
    problem: RecordError | None = None


def gunzip_member(payload: bytes) -> bytes:
    """Decompress one gzip member, telling a corrupt member from a truncated one."""
    decompressor = zlib.decompressobj(wbits=31)
    try:
        data = decompressor.decompress(payload)
    except zlib.error as exc:
        raise RecordError(QuarantineReason.BAD_GZIP, str(exc)) from None
    if not decompressor.eof:
        raise RecordError(QuarantineReason.TRUNCATED_GZIP, f"{len(payload)} bytes, no end")
    return data


def decode_payload(payload: bytes) -> bytes:
    """The JSON text of a raw record: gzip members are decompressed, JSON passes through."""
    if payload.startswith(GZIP_MAGIC):
        return gunzip_member(payload)
    return payload


def parse_message(
    text: bytes, received_at: datetime, skew_tolerance: timedelta = timedelta(minutes=5)
) -> ParsedMessage:
    """Parse one message's JSON text into status observations."""
    result = ParsedMessage()
    try:
        message = decode_json_object(text)
        location_id = message.get("id")
        if not isinstance(location_id, str) or not location_id:
            raise RecordError(QuarantineReason.MISSING_ID, "location id")
        evses = message.get("evses")
        if not isinstance(evses, list) or not evses:
            raise RecordError(QuarantineReason.MISSING_EVSES)
    except RecordError as problem:
        result.problem = problem
        return result
    for index, evse in enumerate(evses):
        try:
            result.observations.append(
                _parse_evse(evse, index, location_id, received_at, skew_tolerance)
            )
        except RecordError as problem:
            if result.problem is None:
                result.problem = RecordError(problem.reason, f"evses[{index}]: {problem.detail}")
    return result


def _parse_evse(
    evse: Any, index: int, location_id: str, received_at: datetime, skew_tolerance: timedelta
) -> StatusObservation:
    if not isinstance(evse, dict):
        raise RecordError(QuarantineReason.NOT_AN_OBJECT, "evse entry")
    evse_id = evse.get("id") or evse.get("uid")
    if not isinstance(evse_id, str) or not evse_id:
        raise RecordError(QuarantineReason.MISSING_ID, "evse id")
    status_raw = evse.get("status")
    if not isinstance(status_raw, str) or not status_raw:
        raise RecordError(QuarantineReason.MISSING_STATUS, f"evse {evse_id}")
    source_time = parse_timestamp(evse.get("last_updated"), "last_updated")
    event_time, clamped = clamp_event_time(source_time, received_at, skew_tolerance)
    return StatusObservation(
        location_id=location_id,
        evse_id=evse_id,
        status=normalize_status(status_raw),
        status_raw=status_raw,
        event_time=event_time,
        time_clamped=clamped,
        evse_index=index,
    )


# ---------------------------------------------------------------------------------------------
# Splitting captures into raw records


class RawStatusRecord(NamedTuple):  # a tuple: one is built per message on the import path
    """One record of a capture: the bytes as received, where it was and what identifies it."""

    record_key: str
    payload: bytes
    received_at: datetime
    arrival_index: int
    capture: str
    kafka_partition: int | None = None
    kafka_offset: int | None = None
    defect: str | None = None
    # The decoded JSON text when splitting already decompressed it (saves a second gunzip); not
    # stored: the lake keeps `payload` as received.
    text: bytes | None = None

    def as_row(self) -> dict[str, Any]:
        """The record as a raw_status row."""
        return self._asdict()


def split_capture(data: bytes, capture: str, received_at: datetime) -> Iterator[RawStatusRecord]:
    """Split a capture of any supported shape into raw records, recognising the shape by content."""
    if data.startswith(GZIP_MAGIC):
        yield from _split_gzip_capture(data, capture, received_at)
        return
    document = _as_json_object(data) if data.lstrip().startswith(b"{") else None
    if document is None:
        yield from _keyed(((line, line) for line in _ndjson_lines(data)), capture, received_at)
    elif isinstance(document.get("messages"), list):
        yield from _split_data_api_response(document, capture, received_at)
    else:  # one message per file, possibly pretty-printed
        yield from _keyed(iter([(data.strip(), data.strip())]), capture, received_at)


def _split_gzip_capture(
    data: bytes, capture: str, received_at: datetime
) -> Iterator[RawStatusRecord]:
    """Concatenated gzip members, unless the first member turns out to hold NDJSON or a response."""
    members = list(_gzip_members(data))
    first_text = members[0][2] or b""
    if _is_multi_line_json(first_text) or capture.endswith((".ndjson.gz", ".jsonl.gz")):
        lines = _ndjson_lines(_gunzip_all(data))
        yield from _keyed(((line, line) for line in lines), capture, received_at)
        return
    if len(members) == 1 and first_text.lstrip().startswith(b"{"):
        response = _as_json_object(first_text)
        if response is not None and isinstance(response.get("messages"), list):
            yield from _split_data_api_response(response, capture, received_at)
            return
    yield from _keyed(((data[s:e], text) for s, e, text in members), capture, received_at)


def _gzip_members(data: bytes) -> Iterator[tuple[int, int, bytes | None]]:
    """(start, end, decoded text or None if corrupt) of the gzip members in `data`.

    A corrupt stretch becomes one span reaching to the next place a member can start, so a bad
    member costs only itself. Whitespace between members (newline-separated captures) is skipped.
    """
    view = memoryview(data)
    pos, size = 0, len(data)
    while pos < size:
        if data[pos : pos + 1].isspace():
            pos += 1
            continue
        member = _decode_member(view, pos)
        if member is None:  # corrupt or truncated: resynchronise at the next member header
            following = data.find(_MEMBER_START, pos + 1)
            end = size if following < 0 else following
            yield pos, end, None
        else:
            end, text = member
            yield pos, end, text
        pos = end


def _decode_member(view: memoryview, start: int) -> tuple[int, bytes] | None:
    """(end, decoded text) of the member starting at `start`, None if it is corrupt or cut."""
    decompressor = zlib.decompressobj(wbits=31)
    fed, pieces = start, []
    try:
        while not decompressor.eof and fed < len(view):
            chunk = view[fed : fed + _FEED_CHUNK]
            pieces.append(decompressor.decompress(chunk))
            fed += len(chunk)
    except zlib.error:
        return None
    if not decompressor.eof:
        return None
    return fed - len(decompressor.unused_data), b"".join(pieces)


def _gunzip_all(data: bytes) -> bytes:
    """All members of a gzip file; on a corrupt tail, what decoded before it (lines stay whole)."""
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error):
        decompressor = zlib.decompressobj(wbits=31)
        try:
            return decompressor.decompress(data)
        except zlib.error:
            return b""


def _is_multi_line_json(text: bytes) -> bool:
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        return False
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        return True
    return False


def _ndjson_lines(data: bytes) -> Iterator[bytes]:
    for line in data.splitlines():
        if line.strip():
            yield line.strip()


def _keyed(
    payloads: Iterator[tuple[bytes, bytes | None]], capture: str, received_at: datetime
) -> Iterator[RawStatusRecord]:
    """Give each record of a file capture its identity: content hash plus occurrence number.

    The same capture recorded twice gives the same keys (nothing added); a message delivered twice
    inside one capture keeps both copies (`#0`, `#1`), as received.
    """
    seen: Counter[str] = Counter()
    for index, (payload, text) in enumerate(payloads):
        digest = content_key(payload)
        key = f"{digest}#{seen[digest]}"
        seen[digest] += 1
        yield RawStatusRecord(key, payload, received_at, index, capture, text=text)


def _as_json_object(text: bytes) -> dict[str, Any] | None:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _split_data_api_response(
    response: dict[str, Any], capture: str, received_at: datetime
) -> Iterator[RawStatusRecord]:
    for index, message in enumerate(response["messages"]):
        yield data_api_record(message, capture, index, received_at)


def data_api_record(
    message: Any, capture: str, index: int, fallback_received_at: datetime
) -> RawStatusRecord:
    """A raw record from one message of a Data API `partitions` response.

    The message's own `timestamp` (when the stream received it, in ms) is its `received_at`.
    """
    meta = message.get("metaData", {}) if isinstance(message, dict) else {}
    offset = message.get("offset", {}) if isinstance(message, dict) else {}
    received_at = _received_at_from_ms(meta.get("timestamp"), fallback_received_at)
    partition, kafka_offset = offset.get("partition"), offset.get("offset")
    defect = None
    data = meta.get("data")
    if isinstance(data, str):
        try:
            payload = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            payload, defect = data.encode(), QuarantineReason.BAD_BASE64.value
    else:
        payload = orjson.dumps(message)
        defect = QuarantineReason.UNFETCHED_DATA_HANDLE.value
    if isinstance(partition, int) and isinstance(kafka_offset, int):
        key = f"kafka:{partition}:{kafka_offset}"
    else:
        partition = kafka_offset = None
        key = content_key(orjson.dumps(message)) + "#api"
    return RawStatusRecord(
        record_key=key,
        payload=payload,
        received_at=received_at,
        arrival_index=kafka_offset if kafka_offset is not None else index,
        capture=capture,
        kafka_partition=partition,
        kafka_offset=kafka_offset,
        defect=defect,
    )


def _received_at_from_ms(value: object, fallback: datetime) -> datetime:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, UTC)
    return fallback
