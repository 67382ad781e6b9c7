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
import re
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import orjson

from evlog._errors import RecordError
from evlog._lake.schema import QuarantineReason, Status
from evlog._sources._common import (
    KEPT_PREFIX_BYTES,
    MAX_RECORD_BYTES,
    LongLine,
    as_defect,
    clamp_event_time,
    content_key,
    decode_json_object,
    inflates_too_large,
    json_bytes,
    parse_timestamp,
    shown,
    split_lines,
    too_large,
)

GZIP_MAGIC = b"\x1f\x8b"
_MEMBER_START = b"\x1f\x8b\x08"  # magic + deflate: where a member can begin
_FEED_CHUNK = 1024  # most members are a few hundred bytes; the leftover is copied per member
_STREAM_FEED_CHUNK = 64 * 1024  # input fed at a time when inflating a whole gzip NDJSON file
_STREAM_OUT_CHUNK = 1024 * 1024  # output taken at a time from it

# Every spelling seen in OCPI (OUT_OF_ORDER, OUTOFORDER) and HERE's REST API (outOfOrder) folds to
# the same key once case and separators are dropped. Nothing else is folded: `AVAILABLE2` or
# `Charging!` is a spelling no source defined, so UNKNOWN (its text stays in status_raw).
_STATUS_BY_KEY = {s.value.replace("_", ""): s for s in Status}
_SEPARATORS = re.compile(r"[-_ ]")


_CACHED_SPELLING = 64  # longer spellings are folded without the cache, so it stays small


def normalize_status(raw: str) -> Status:
    """The OCPI status for a source spelling; unknown spellings are UNKNOWN (not an error)."""
    return _fold_cached(raw) if len(raw) <= _CACHED_SPELLING else _fold_status(raw)


def _fold_status(raw: str) -> Status:
    if not raw.isascii():  # str.upper folds letters such as the dotless i (U+0131) into ASCII
        return Status.UNKNOWN
    return _STATUS_BY_KEY.get(_SEPARATORS.sub("", raw).upper(), Status.UNKNOWN)


_fold_cached = functools.lru_cache(maxsize=4096)(_fold_status)


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
    """Decompress one gzip member, telling a corrupt member from a truncated one; one that
    inflates beyond MAX_RECORD_BYTES is refused after inflating just past the cap."""
    decompressor = zlib.decompressobj(wbits=31)
    try:
        data = decompressor.decompress(payload, MAX_RECORD_BYTES + 1)
    except zlib.error as exc:
        raise RecordError(QuarantineReason.BAD_GZIP, str(exc)) from None
    if len(data) > MAX_RECORD_BYTES:
        raise inflates_too_large()
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
            raise RecordError(QuarantineReason.MISSING_ID, shown("location id", location_id))
        evses = message.get("evses")
        if not isinstance(evses, list) or not evses:
            raise RecordError(QuarantineReason.MISSING_EVSES, shown("evses", evses))
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
        raise RecordError(QuarantineReason.NOT_AN_OBJECT, shown("evse entry", evse))
    evse_id = evse.get("id") or evse.get("uid")
    if not isinstance(evse_id, str) or not evse_id:
        raise RecordError(QuarantineReason.MISSING_ID, shown("evse id", evse_id))
    status_raw = evse.get("status")
    if not isinstance(status_raw, str) or not status_raw:
        raise RecordError(
            QuarantineReason.MISSING_STATUS, f"evse {evse_id}: {shown('status', status_raw)}"
        )
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
    document = _as_json_object(data) if _first_non_blank(data) == b"{" else None
    if document is None:
        yield from _keyed(_line_pieces(split_lines((data,))), capture, received_at)
    elif isinstance(document.get("messages"), list):
        yield from _split_data_api_response(document, capture, received_at)
    else:  # one message per file, possibly pretty-printed
        text = data.strip()
        yield from _keyed(iter([_piece(text, text)]), capture, received_at)


# What splitting found of one record: (content key, payload to store, decoded text, defect).
_Piece = tuple[str, bytes, bytes | None, str | None]


def _piece(record: bytes, text: bytes | None, problem: RecordError | None = None) -> _Piece:
    """A record as received, unless it is over the cap: then its first bytes and the defect."""
    if len(record) > MAX_RECORD_BYTES:
        problem = too_large(len(record))
        return content_key(record), record[:KEPT_PREFIX_BYTES], None, as_defect(problem)
    return content_key(record), record, text, None if problem is None else as_defect(problem)


def _line_pieces(lines: Iterator[bytes | LongLine]) -> Iterator[_Piece]:
    for line in lines:
        if isinstance(line, LongLine):
            yield line.record_key, line.prefix, None, as_defect(too_large(line.size))
        else:
            yield content_key(line), line, line, None


def _first_non_blank(data: bytes) -> bytes:
    match = _NON_BLANK.search(data)
    return match.group() if match else b""


_NON_BLANK = re.compile(rb"\S")


def _split_gzip_capture(
    data: bytes, capture: str, received_at: datetime
) -> Iterator[RawStatusRecord]:
    """Concatenated gzip members, unless the first member turns out to hold NDJSON or a response."""
    first = _decode_member(data, 0)
    if capture.endswith((".ndjson.gz", ".jsonl.gz")) or (
        first is not None and _is_multi_line_json(first)
    ):
        yield from _keyed(_line_pieces(split_lines(_inflate_all(data))), capture, received_at)
        return
    if first is not None and first.whole and _first_non_blank(first.text) == b"{":
        response = _as_json_object(first.text)
        if (
            response is not None
            and isinstance(response.get("messages"), list)
            and not data[first.end :].strip()
        ):
            yield from _split_data_api_response(response, capture, received_at)
            return
    yield from _keyed(_gzip_members(data), capture, received_at)


class _Member(NamedTuple):
    end: int  # where the member ends; if it inflates beyond the cap, where the next can begin
    text: bytes  # its decoded text; of a member beyond the cap, the first MAX_RECORD_BYTES + 1
    whole: bool  # False if it inflates beyond the cap


def _gzip_members(data: bytes) -> Iterator[_Piece]:
    """The gzip members in `data`, as pieces.

    A corrupt stretch becomes one record reaching to the next place a member can start, so a bad
    member costs only itself; a member that inflates beyond the cap too (it is not inflated
    further). Whitespace between members (newline-separated captures) is skipped.
    """
    pos, size = 0, len(data)
    while pos < size:
        if data[pos : pos + 1].isspace():
            pos += 1
            continue
        member = _decode_member(data, pos)
        if member is None:  # corrupt or truncated: resynchronise at the next member header
            end = _next_member_start(data, pos + 1)
            yield _piece(data[pos:end], None)  # derive names the defect when it gunzips this
        elif member.whole:
            end = member.end
            yield _piece(data[pos:end], member.text)
        else:
            end = member.end
            yield _piece(data[pos:end], None, inflates_too_large())
        pos = end


def _next_member_start(data: bytes, pos: int) -> int:
    following = data.find(_MEMBER_START, pos)
    return len(data) if following < 0 else following


def _decode_member(data: bytes, start: int) -> _Member | None:
    """The member starting at `start`, None if it is corrupt or cut. Inflation stops just past
    MAX_RECORD_BYTES: memory and time stay bounded whatever the member claims to hold."""
    view = memoryview(data)
    decompressor = zlib.decompressobj(wbits=31)
    fed, pieces, inflated = start, [], 0
    try:
        while not decompressor.eof and fed < len(view):
            chunk: bytes | memoryview = view[fed : fed + _FEED_CHUNK]
            fed += len(chunk)
            while chunk:
                piece = decompressor.decompress(chunk, MAX_RECORD_BYTES + 1 - inflated)
                pieces.append(piece)
                inflated += len(piece)
                if inflated > MAX_RECORD_BYTES:
                    consumed = fed - len(decompressor.unconsumed_tail)
                    return _Member(_next_member_start(data, consumed), b"".join(pieces), False)
                chunk = decompressor.unconsumed_tail
    except zlib.error:
        return None
    if not decompressor.eof:
        return None
    return _Member(fed - len(decompressor.unused_data), b"".join(pieces), True)


def _inflate_all(data: bytes) -> Iterator[bytes]:
    """The decompressed bytes of every member of a gzip file, in chunks of bounded size; a corrupt
    or cut tail ends the stream (what decoded before it is kept)."""
    view, pos = memoryview(data), 0
    while (next_member := _NON_BLANK.search(data, pos)) is not None:
        pos = next_member.start()
        decompressor = zlib.decompressobj(wbits=31)
        try:
            while not decompressor.eof and pos < len(data):
                chunk: bytes | memoryview = view[pos : pos + _STREAM_FEED_CHUNK]
                pos += len(chunk)
                while chunk:
                    yield decompressor.decompress(chunk, _STREAM_OUT_CHUNK)
                    chunk = decompressor.unconsumed_tail
        except zlib.error:
            return
        if not decompressor.eof:
            return
        pos -= len(decompressor.unused_data)


def _is_multi_line_json(first: _Member) -> bool:
    """Whether the first member holds NDJSON: several lines that are not one JSON text (if it
    is beyond the cap, several lines of which the first is a JSON text)."""
    lines = [line for line in first.text.splitlines() if line.strip()]
    if len(lines) < 2:
        return False
    if not first.whole:
        return _as_json_object(lines[0]) is not None
    try:
        orjson.loads(first.text)
    except orjson.JSONDecodeError:
        return True
    return False


def _keyed(
    pieces: Iterator[_Piece], capture: str, received_at: datetime
) -> Iterator[RawStatusRecord]:
    """Give each record of a file capture its identity: content hash plus occurrence number.

    The same capture recorded twice gives the same keys (nothing added); a message delivered twice
    inside one capture keeps both copies (`#0`, `#1`), as received.
    """
    seen: Counter[str] = Counter()
    for index, (digest, payload, text, defect) in enumerate(pieces):
        key = f"{digest}#{seen[digest]}"
        seen[digest] += 1
        yield RawStatusRecord(key, payload, received_at, index, capture, defect=defect, text=text)


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
    """A raw record from one message of a Data API `partitions` response; never raises: a
    message of the wrong shape becomes a record with a defect.

    The message's own `timestamp` (when the stream received it, in ms) is its `received_at`.
    """
    problem: RecordError | None = None
    fields = message if isinstance(message, dict) else {}
    meta, offset = fields.get("metaData"), fields.get("offset")
    if not isinstance(meta, dict):
        problem = RecordError(QuarantineReason.NOT_AN_OBJECT, shown("metaData", meta))
        meta = {}
    if not isinstance(offset, dict):
        offset = {}
    try:
        received_at = _received_at_from_ms(meta.get("timestamp"), fallback_received_at)
    except (OverflowError, OSError, ValueError):  # beyond the years a datetime can hold
        received_at = fallback_received_at
        problem = problem or RecordError(
            QuarantineReason.UNPARSEABLE_TIME, f"metaData.timestamp={meta['timestamp']!r}"
        )
    data = meta.get("data")
    payload = b""
    if isinstance(data, str):
        try:
            payload = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            payload = data.encode()
            problem = problem or RecordError(QuarantineReason.BAD_BASE64)
    message_text = json_bytes(message)
    if message_text is None:
        message_text = f"{capture}#{index}".encode()  # what is left to tell it from others
        problem = problem or RecordError(QuarantineReason.INVALID_JSON, "nested too deeply")
    if not isinstance(data, str):
        payload = message_text
        problem = problem or RecordError(QuarantineReason.UNFETCHED_DATA_HANDLE)
    if len(payload) > MAX_RECORD_BYTES:
        payload, problem = payload[:KEPT_PREFIX_BYTES], too_large(len(payload))
    partition, kafka_offset = offset.get("partition"), offset.get("offset")
    if _fits(partition, _INT32_LIMIT) and _fits(kafka_offset, _INT64_LIMIT):
        key = f"kafka:{partition}:{kafka_offset}"
    else:
        partition = kafka_offset = None
        key = content_key(message_text) + "#api"
    return RawStatusRecord(
        record_key=key,
        payload=payload,
        received_at=received_at,
        arrival_index=kafka_offset if kafka_offset is not None else index,
        capture=capture,
        kafka_partition=partition,
        kafka_offset=kafka_offset,
        defect=None if problem is None else as_defect(problem),
    )


_INT32_LIMIT, _INT64_LIMIT = 2**31, 2**63  # the raw table's kafka_partition, kafka_offset types


def _fits(value: object, limit: int) -> bool:
    return type(value) is int and 0 <= value < limit


def _received_at_from_ms(value: object, fallback: datetime) -> datetime:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, UTC)
    return fallback
