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
import bisect
import functools
import io
import itertools
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO, Final, NamedTuple, cast

import duckdb
import numpy as np
import numpy.typing as npt
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from evlog._errors import RecordError
from evlog._lake.names import QuarantineReason, Status
from evlog._lake.schema import RAW_STATUS, TIMESTAMP
from evlog._sources._common import (
    KEPT_PREFIX_BYTES,
    MAX_RECORD_BYTES,
    CarriedLine,
    HashCounts,
    HashSet,
    LongLine,
    StatusObservation,
    as_defect,
    clamp_event_time,
    content_key,
    decode_json_object,
    inflates_too_large,
    json_bytes,
    parse_timestamp,
    shown,
    spelling_key,
    too_large,
)
from evlog._sources._spill import SpilledNumbers

GZIP_MAGIC = b"\x1f\x8b"
_MEMBER_START = b"\x1f\x8b\x08"  # magic + deflate: where a member can begin
_FEED_CHUNK = 1024  # most members are a few hundred bytes; the leftover is copied per member
_STREAM_FEED_CHUNK = 64 * 1024  # input fed at a time when inflating a whole gzip NDJSON file
_STREAM_OUT_CHUNK = 1024 * 1024  # output taken at a time from it

# Every spelling seen in OCPI (OUT_OF_ORDER, OUTOFORDER) and HERE's REST API (outOfOrder) folds to
# the same key once case and separators are dropped. Nothing else is folded: `AVAILABLE2` or
# `Charging!` is a spelling no source defined, so UNKNOWN (its text stays in status_raw).
_STATUS_BY_KEY = {s.value.replace("_", ""): s for s in Status}


_CACHED_SPELLING = 64  # longer spellings are folded without the cache, so it stays small


def normalize_status(raw: str) -> Status:
    """The OCPI status for a source spelling; unknown spellings are UNKNOWN (not an error)."""
    return _fold_cached(raw) if len(raw) <= _CACHED_SPELLING else _fold_status(raw)


def _fold_status(raw: str) -> Status:
    key = spelling_key(raw)
    return Status.UNKNOWN if key is None else _STATUS_BY_KEY.get(key, Status.UNKNOWN)


_fold_cached = functools.lru_cache(maxsize=4096)(_fold_status)


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
# Parsing a batch of messages at once

# The one message shape the batch parser reads, as a pattern over the JSON text: keys `id` then
# `evses`, each EVSE exactly `id`, `status`, `last_updated` in that order, strings of printable
# ASCII without quotes, backslashes or braces (so no escapes, no key twice, no field in doubt),
# times `YYYY-MM-DDTHH:MM:SS[.f]Z` (1 to 6 digits of fraction). `parse_message` reads such a text
# in exactly one way; every other text, valid or not, is left to it.
_WS = r"[ \t\n\r]*"
_STR = r"[\x20\x21\x23-\x5b\x5d-\x7a\x7c\x7e]+"
_COMMA = _WS + "," + _WS


def _pair(key: str, value: str) -> str:
    return '"' + key + '"' + _WS + ":" + _WS + '"' + value + '"'


def _evse_fields(evse_id: str, status: str, time: str) -> str:
    return (
        _pair("id", evse_id)
        + _COMMA
        + _pair("status", status)
        + _COMMA
        + _pair("last_updated", time)
    )


_EVSE = (
    r"\{"
    + _WS
    + _evse_fields(_STR, _STR, r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?Z")
    + _WS
    + r"\}"
)
_MESSAGE = (
    f'^{_WS}\\{{{_WS}{_pair("id", _STR)}{_COMMA}"evses"{_WS}:{_WS}'
    f"\\[{_WS}{_EVSE}(?:{_COMMA}{_EVSE})*{_WS}\\]{_WS}\\}}{_WS}$"
)
# Reading a matching text's fields (DuckDB's JSON reader): in the pattern's shape no string needs
# unescaping and no key is in doubt, so any conforming reader gets what orjson gets.
_FIELDS_SQL = """
    SELECT message, location_id, evse.id AS evse_id, evse.status AS status_raw,
           evse.last_updated AS source_time, evse_index::INTEGER AS evse_index
    FROM (
        SELECT message, parsed.id AS location_id, unnest(parsed.evses) AS evse,
               unnest(range(len(parsed.evses))) AS evse_index
        FROM (SELECT message, from_json(text, '{"id": "VARCHAR", "evses": [{"id": "VARCHAR",
                  "status": "VARCHAR", "last_updated": "VARCHAR"}]}') AS parsed FROM texts)
    )
"""
_DAY_US = 86_400_000_000
# The digits of `YYYY-MM-DDTHH:MM:SS`, by position; each number's weight in its part.
_DIGITS = np.array([0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18])
_FRACTION_DIGITS = np.arange(20, 26)  # after "SS.": 1 to 6 digits, then "Z"
_FRACTION_WEIGHTS = 10 ** np.arange(5, -1, -1, dtype=np.int64)


@functools.cache
def _json_reader() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB for `parse_batch`, opened once (opening costs tens of ms; a cursor per
    batch, a fraction of one); one thread, like the rest of the import."""
    con = duckdb.connect()
    con.execute("SET threads = 1")
    return con


class ParsedBatch(NamedTuple):
    """What `parse_batch` read: which messages, and their observations column-wise."""

    parsed: npt.NDArray[np.bool_]  # per message: read here (else `parse_message` reads it)
    message: npt.NDArray[np.int64]  # per observation: the index of its message
    location_id: pa.Array[Any]
    evse_id: pa.Array[Any]
    status: pa.Array[Any]
    status_raw: pa.Array[Any]
    event_us: npt.NDArray[np.int64]  # event_time, µs since the epoch, clamped
    time_clamped: npt.NDArray[np.bool_]
    evse_index: npt.NDArray[np.int32]


def parse_batch(
    texts: pa.Array[Any], received_us: npt.NDArray[np.int64], skew_tolerance: timedelta
) -> ParsedBatch:
    """Parse the messages of `texts` (JSON texts; null: not to be read here) that have the one
    shape `_MESSAGE` admits, all at once (Arrow's regex, DuckDB's JSON reader, numpy); the
    others are not parsed (`parsed` is False). For those it reads, the observations are what
    `parse_message` gives, in message and EVSE order."""
    parsed = np.zeros(len(texts), np.bool_)
    # Not validated as UTF-8: only ASCII texts are matched (a null, as empty, matches nothing).
    strings = texts.fill_null(b"").view(pa.string())
    candidates = np.flatnonzero(pc.string_is_ascii(strings).to_numpy(zero_copy_only=False))
    if skew_tolerance < timedelta(0):  # clamping then meets datetime's range: left to Python
        candidates = candidates[:0]
    matched = pc.match_substring_regex(_taken(strings, candidates), _MESSAGE)
    candidates = candidates[matched.to_numpy(zero_copy_only=False)]
    if not len(candidates):  # nothing of the one shape: no query (a DuckDB call costs ~1 ms)
        no_text = pa.array([], pa.string())
        no_int = np.zeros(0, np.int64)
        return ParsedBatch(
            parsed,
            no_int,
            no_text,
            no_text,
            no_text,
            no_text,
            no_int,
            np.zeros(0, np.bool_),
            np.zeros(0, np.int32),
        )
    texts_table = pa.table({"message": candidates, "text": _taken(strings, candidates)})
    with _json_reader().cursor() as con:
        con.register("texts", texts_table)
        fields = con.sql(_FIELDS_SQL).to_arrow_table().combine_chunks()
    message = np.asarray(fields.column("message"), np.int64)
    evse_index = np.asarray(fields.column("evse_index"), np.int32)
    # DuckDB keeps the input's order (insertion order is preserved, one thread); should it
    # ever not, the rows are put in message and EVSE order here.
    if len(message) > 1 and not _in_order(message, evse_index):
        order = np.lexsort((evse_index, message))
        fields = fields.take(order)
        message, evse_index = message[order], evse_index[order]
    source_us, valid = _utc_micros(fields.column("source_time").combine_chunks())
    # A message is read here only if every EVSE of it is: otherwise parse_message names the problem.
    parsed[candidates] = True
    parsed[message[~valid]] = False
    keep = parsed[message]
    if not keep.all():
        fields = fields.filter(pa.array(keep))
        message, source_us, evse_index = message[keep], source_us[keep], evse_index[keep]
    received = received_us[message]
    clamped = source_us > received + skew_tolerance // timedelta(microseconds=1)
    status_raw = fields.column("status_raw").combine_chunks()
    spellings = cast("pa.DictionaryArray[Any, Any]", pc.dictionary_encode(status_raw))
    statuses = pa.array(
        [normalize_status(str(raw)).value for raw in spellings.dictionary.to_pylist()],
        pa.string(),
    )
    return ParsedBatch(
        parsed=parsed,
        message=message,
        location_id=fields.column("location_id").combine_chunks(),
        evse_id=fields.column("evse_id").combine_chunks(),
        status=statuses.take(spellings.indices),
        status_raw=status_raw,
        event_us=np.where(clamped, received, source_us),
        time_clamped=clamped,
        evse_index=evse_index,
    )


def _taken(values: pa.Array[Any], positions: npt.NDArray[np.int64]) -> pa.Array[Any]:
    """`values.take(positions)`, without the copy when every position is taken in order."""
    return values if len(positions) == len(values) else values.take(positions)


def _in_order(message: npt.NDArray[np.int64], evse_index: npt.NDArray[np.int32]) -> bool:
    step = np.diff(message)
    return bool(((step > 0) | ((step == 0) & (np.diff(evse_index) > 0))).all())


def _offsets(strings: pa.Array[Any]) -> npt.NDArray[np.int64]:
    buffer = cast(pa.Buffer, strings.buffers()[1])
    offsets = np.frombuffer(memoryview(buffer), np.int32)
    return offsets[strings.offset : strings.offset + len(strings) + 1].astype(np.int64)


def _lengths(strings: pa.Array[Any]) -> npt.NDArray[np.int64]:
    return np.diff(_offsets(strings))


def _bytes_at(strings: pa.Array[Any], places: npt.NDArray[np.int64]) -> npt.NDArray[np.uint8]:
    """The bytes at `places` of each string (a row each), without a Python object per string;
    a place past a string's end reads some other byte (callers mask by `_lengths`). Strings all
    of one length (the usual batch) are the rows of one matrix: no gather."""
    offsets = _offsets(strings)
    text = np.frombuffer(memoryview(cast(pa.Buffer, strings.buffers()[2])), np.uint8)
    count, lengths = len(strings), np.diff(offsets)
    if count and (lengths == lengths[0]).all() and lengths[0] > places.max():
        rows = text[int(offsets[0]) : int(offsets[-1])].reshape(count, int(lengths[0]))
        picked: npt.NDArray[np.uint8] = rows[:, places]
        return picked
    if not len(text):
        return np.zeros((count, len(places)), np.uint8)
    gathered: npt.NDArray[np.uint8] = text[np.minimum(offsets[:-1, None] + places, len(text) - 1)]
    return gathered


def _utc_micros(
    times: pa.Array[Any],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Texts of the shape `YYYY-MM-DDTHH:MM:SS[.f]Z` (1 to 6 digits of fraction; the batch
    pattern admits no other) as µs since the epoch, with whether each is a real time (month
    1-12, a day its month has, hours to 23, minutes and seconds to 59). Read from the text's
    bytes at their fixed places, all at once."""
    digit = _bytes_at(times, _DIGITS).astype(np.int64) - 48
    # the digits between "SS." and "Z" (length - 21 of them), padded to µs with zeros
    present = _FRACTION_DIGITS[None, :] < (_lengths(times) - 1)[:, None]
    fraction = np.where(present, _bytes_at(times, _FRACTION_DIGITS), 48)
    pairs = digit[:, 4::2] * 10 + digit[:, 5::2]  # month, day, hour, minute, second
    year = digit[:, 0] * 1000 + digit[:, 1] * 100 + digit[:, 2] * 10 + digit[:, 3]
    month, day, hour, minute, second = pairs.T
    months = (year - 1970) * 12 + month - 1
    days = months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64) + day - 1
    # A day past its month's end lands in the next month: the month read back tells.
    month_back = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    valid = (year >= 1) & (month >= 1) & (month <= 12) & (day >= 1) & (month_back == months)
    valid &= (hour <= 23) & (minute <= 59) & (second <= 59)
    micros = days * _DAY_US + ((hour * 60 + minute) * 60 + second) * 1_000_000
    micros += (fraction.astype(np.int64) - 48) @ _FRACTION_WEIGHTS
    return micros, valid


# ---------------------------------------------------------------------------------------------
# Splitting captures into raw records


class RawStatusRecord(NamedTuple):  # a tuple: one is built per message on the consumer path
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


# Raw records column-wise, as splitting gives them: the raw table's columns but `session_id`
# (the recorder stamps it), plus `text` (see `RawStatusRecord.text`).
RAW_BATCH: Final = pa.schema(
    [
        *(f for f in RAW_STATUS if f.name != "session_id"),
        pa.field("text", pa.binary()),
        # Records of one key run (one reading of one capture, `_keyed`) have distinct keys by
        # construction, so a recorder need not hold their keys to find repeats among them
        # (`Recorder.append_columns`); null where keys may repeat (Kafka redelivery).
        pa.field("key_run", pa.int64()),
    ]
)
_KEY_RUNS = itertools.count()
DEFAULT_BATCH_RECORDS = 50_000
# Records of one capture numbered in memory (`_Occurrences`, 8 to 24 bytes each); the rest of a
# longer capture is numbered on disk (`_spill`).
SPILL_AFTER: Final = 1 << 20
CHUNK_BYTES = 4 * 1024 * 1024  # read from a capture at a time


def records_table(records: list[RawStatusRecord]) -> pa.Table:
    """Records as one batch (`RAW_BATCH`)."""
    columns = dict(zip(RawStatusRecord._fields, zip(*records, strict=True), strict=True))
    return pa.Table.from_arrays(
        [
            pa.array(columns[f.name], f.type)
            if f.name in columns
            else pa.nulls(len(records), f.type)
            for f in RAW_BATCH
        ],
        schema=RAW_BATCH,
    )


def split_capture(data: bytes, capture: str, received_at: datetime) -> Iterator[RawStatusRecord]:
    """The records of a capture given whole (`split_capture_batches` on its bytes)."""
    for batch in split_capture_batches(io.BytesIO(data), capture, received_at):
        for row in batch.drop_columns(["key_run"]).to_pylist():
            yield RawStatusRecord(**row)


def split_capture_batches(
    stream: BinaryIO,
    capture: str,
    received_at: datetime,
    batch_size: int = DEFAULT_BATCH_RECORDS,
    chunk_bytes: int = CHUNK_BYTES,
    spill_after: int = SPILL_AFTER,
) -> Iterator[pa.Table]:
    """Split a capture of any supported shape into batches of raw records (`RAW_BATCH`),
    recognising the shape by content. Read in chunks: gzip members and NDJSON are split as they
    are read, so memory is bounded by the batch (a capture that is one JSON document, a Data API
    response or a single message, is read whole, as it must be parsed whole); past `spill_after`
    records a capture is numbered on disk (`_keyed`)."""
    source = _Capture(stream, chunk_bytes)
    source.refill(0)
    # Enough to tell the shape: the gzip magic, or the first non-blank byte.
    while not source.done and (len(source.data) < 2 or not _first_non_blank(source.data)):
        source.refill(0)
    if source.data.startswith(GZIP_MAGIC):
        yield from _split_gzip_capture(source, capture, received_at, batch_size, spill_after)
        return
    document = _as_document(source) if _first_non_blank(source.data) == b"{" else None
    if document is None:
        lines = _line_tables(source.chunks())
        yield from _keyed(lines, capture, received_at, batch_size, spill_after)
    elif isinstance(document.get("messages"), list):
        yield from _split_data_api_response(document, capture, received_at, batch_size)
    else:  # one message per file, possibly pretty-printed
        text = source.data.strip()
        yield from _keyed(
            iter([_pieces_table([_piece(text, text)])]), capture, received_at, batch_size
        )


class _Capture:
    """A capture being read: `data` holds its bytes from some point on (what was split is
    dropped), `done` once the stream is exhausted."""

    def __init__(self, stream: BinaryIO, chunk_bytes: int) -> None:
        self.stream = stream
        self.chunk_bytes = chunk_bytes
        self.data = b""
        self.done = False

    def refill(self, keep_from: int) -> bool:
        """Drop the bytes before `keep_from` and append the next chunk; False at the end."""
        chunk = b"" if self.done else self.stream.read(self.chunk_bytes)
        self.data = self.data[keep_from:] + chunk
        self.done = not chunk
        return bool(chunk)

    def read_all(self) -> bytes:
        while self.refill(0):
            pass
        return self.data

    def chunks(self) -> Iterator[bytes]:
        """The bytes held, then the rest of the stream, chunk by chunk (nothing is kept)."""
        data, self.data = self.data, b""
        yield data
        while not self.done:
            chunk = self.stream.read(self.chunk_bytes)
            self.done = not chunk
            yield chunk

    def blank_from(self, pos: int) -> bool:
        """Whether only whitespace follows `pos` (read on until a non-blank byte or the end)."""
        while not self.data[pos:].strip():
            if not self.refill(0):
                return True
        return False


def _as_document(source: _Capture) -> dict[str, Any] | None:
    """The capture as one JSON object, None if it is not one (then it is NDJSON).

    A capture whose first line is a JSON object with more after it cannot be one JSON text: that
    is known from the first line, and the capture is not read whole."""
    first = _NON_BLANK.search(source.data)
    assert first is not None  # the caller saw the `{`
    line_end = source.data.find(b"\n", first.start())
    first_line = source.data[first.start() : line_end] if line_end >= 0 else b""
    if _as_json_object(first_line) is not None and not source.blank_from(line_end):
        return None
    return _as_json_object(source.read_all())


# What splitting found of one record: (content key, payload to store, decoded text, defect); the
# content key None when it is the payload's own (`_content_keys` hashes those in bulk).
_Piece = tuple[str | None, bytes, bytes | None, str | None]
# Pieces column-wise, in capture order: what `_keyed` numbers and keys.
_PIECE_COLUMNS: list[tuple[str, pa.DataType]] = [
    ("digest", pa.string()),
    ("payload", pa.binary()),
    ("text", pa.binary()),
    ("defect", pa.string()),
]
_PIECES: Final = pa.schema(_PIECE_COLUMNS)


def _piece(record: bytes, text: bytes | None, problem: RecordError | None = None) -> _Piece:
    """A record as received, unless it is over the cap: then its first bytes and the defect."""
    if len(record) > MAX_RECORD_BYTES:
        problem = too_large(len(record))
        return content_key(record), record[:KEPT_PREFIX_BYTES], None, as_defect(problem)
    return None, record, text, None if problem is None else as_defect(problem)


class _PieceColumns:
    """Pieces gathered column-wise: no tuple per record (nothing for the garbage collector to
    walk while a batch is gathered)."""

    def __init__(self) -> None:
        self.columns: tuple[list[Any], ...] = ([], [], [], [])  # as `_PIECES`

    def __len__(self) -> int:
        return len(self.columns[1])

    def add(self, piece: _Piece) -> None:
        for column, value in zip(self.columns, piece, strict=True):
            column.append(value)

    def add_members(self, records: list[bytes], texts: list[bytes]) -> None:
        """Whole members, each within the cap: payloads keyed by their own hash."""
        digests, payloads, given, defects = self.columns
        digests += [None] * len(records)
        payloads += records
        given += texts
        defects += [None] * len(records)

    def table(self) -> pa.Table:
        """The pieces gathered, as a table; the gathering starts afresh."""
        table = pa.Table.from_arrays(
            [pa.array(column, f.type) for column, f in zip(self.columns, _PIECES, strict=True)],
            schema=_PIECES,
        )
        self.columns = ([], [], [], [])
        return table


def _pieces_table(pieces: Iterable[_Piece]) -> pa.Table:
    gathered = _PieceColumns()
    for piece in pieces:
        gathered.add(piece)
    return gathered.table()


def _line_piece(line: bytes | LongLine) -> _Piece:
    if isinstance(line, LongLine):
        return line.record_key, line.prefix, None, as_defect(too_large(line.size))
    return None, line, line, None


# The bytes `bytes.strip()` removes (ASCII whitespace); lines break at CR and LF (`splitlines`).
_STRIPPED = np.zeros(256, np.bool_)
_STRIPPED[list(b" \t\n\r\x0b\x0c")] = True


def _line_tables(chunks: Iterable[bytes]) -> Iterator[pa.Table]:
    """What `split_lines` gives (as pieces), a chunk's lines at a time: the lines wholly inside a
    chunk are found with numpy (`_chunk_lines`), the line cut at a chunk's end is carried over as
    `split_lines` carries it (`CarriedLine`: past the cap only hashed)."""
    carried = CarriedLine()
    for chunk in chunks:
        newline, ret = chunk.find(b"\n"), chunk.find(b"\r")
        first = min(newline, ret) if newline >= 0 and ret >= 0 else max(newline, ret)
        if first < 0:  # no line ends in this chunk
            carried.add(chunk)
            continue
        start = 0
        if carried.open:  # the chunk's first line ends the carried one
            carried.add(chunk[:first])
            yield _pieces_table([_line_piece(line) for line in carried.finish()])
            start = first
        end = max(chunk.rfind(b"\n"), chunk.rfind(b"\r")) + 1
        yield _chunk_lines(chunk, start, end)
        carried.add(chunk[end:])
    yield _pieces_table([_line_piece(line) for line in carried.finish()])


def _chunk_lines(chunk: bytes, start: int, end: int) -> pa.Table:
    """The lines of `chunk[start:end]` (which ends with a line break) as `split_lines` gives
    them: the non-blank ones, stripped; over the cap, their first bytes and a defect, keyed by
    the whole line. Every line (but the rare one to strip) becomes a range of the chunk, and the
    payloads one buffer cut out of it, with no Python object per line."""
    data = np.frombuffer(chunk, np.uint8, count=end - start, offset=start)
    is_break = (data == 0x0A) | (data == 0x0D)
    breaks = np.flatnonzero(is_break)
    # Breaking at every CR and LF gives the lines `splitlines` gives and blank ones (a CRLF's
    # empty middle), which are dropped anyway.
    starts = np.concatenate((np.zeros(1, np.int64), breaks[:-1] + 1))
    ends = breaks.astype(np.int64)
    keep = ends > starts
    starts, ends = starts[keep], ends[keep]
    long = ends - starts > MAX_RECORD_BYTES
    to_strip = (_STRIPPED[data[starts]] | _STRIPPED[data[ends - 1]]) & ~long
    if to_strip.any():
        keep = np.ones(len(starts), np.bool_)
        for i in np.flatnonzero(to_strip).tolist():
            line = chunk[start + starts[i] : start + ends[i]]
            stripped = line.strip()
            starts[i] += len(line) - len(line.lstrip())
            ends[i] = starts[i] + len(stripped)
            keep[i] = bool(stripped)
        starts, ends, long = starts[keep], ends[keep], long[keep]
    count = len(starts)
    digest: pa.Array[Any] = pa.nulls(count, pa.string())
    defect: pa.Array[Any] = pa.nulls(count, pa.string())
    if long.any():
        digests: list[str | None] = [None] * count
        defects: list[str | None] = [None] * count
        for i in np.flatnonzero(long).tolist():
            digests[i] = content_key(chunk[start + starts[i] : start + ends[i]])
            defects[i] = as_defect(too_large(int(ends[i] - starts[i])))
        digest, defect = pa.array(digests, pa.string()), pa.array(defects, pa.string())
        ends = np.where(long, starts + KEPT_PREFIX_BYTES, ends)
    if to_strip.any() or long.any():
        # The bytes inside the ranges, at once: +1 where a range starts, -1 where it ends.
        inside = np.zeros(len(data) + 1, np.int8)
        inside[starts] = 1
        inside[ends] -= 1
        values = data[np.cumsum(inside[:-1], dtype=np.int8).view(np.bool_)]
    else:  # every line whole: the ranges hold every byte but the line breaks
        values = data[~is_break]
    offsets = np.concatenate((np.zeros(1, np.int64), np.cumsum(ends - starts)))
    buffers = [pa.array(offsets.astype(np.int32)).buffers()[1], pa.array(values).buffers()[1]]
    payload = pa.BinaryArray.from_buffers(pa.binary(), count, [None, *buffers])
    text = (
        pc.if_else(pa.array(long), pa.scalar(None, pa.binary()), payload) if long.any() else payload
    )
    return pa.Table.from_arrays([digest, payload, text, defect], schema=_PIECES)


def _first_non_blank(data: bytes) -> bytes:
    match = _NON_BLANK.search(data)
    return match.group() if match else b""


_NON_BLANK = re.compile(rb"\S")


def _split_gzip_capture(
    source: _Capture, capture: str, received_at: datetime, batch_size: int, spill_after: int
) -> Iterator[pa.Table]:
    """Concatenated gzip members, unless the first member turns out to hold NDJSON or a response."""
    first, _ = _member_at(source, 0)
    if capture.endswith((".ndjson.gz", ".jsonl.gz")) or (
        first is not None and _is_multi_line_json(first)
    ):
        lines = _line_tables(_inflate_all(source.chunks()))
        yield from _keyed(lines, capture, received_at, batch_size, spill_after)
        return
    if first is not None and first.whole and _first_non_blank(first.text) == b"{":
        response = _as_json_object(first.text)
        if (
            response is not None
            and isinstance(response.get("messages"), list)
            and source.blank_from(first.end)
        ):
            yield from _split_data_api_response(response, capture, received_at, batch_size)
            return
    members = _gzip_members(source, batch_size)
    yield from _keyed(members, capture, received_at, batch_size, spill_after)


class _Member(NamedTuple):
    end: int  # where the member ends; if it inflates beyond the cap, where the next can begin
    text: bytes  # its decoded text; of a member beyond the cap, the first MAX_RECORD_BYTES + 1
    whole: bool  # False if it inflates beyond the cap


_CUT = _Member(-1, b"", False)  # the data held ends inside the member: more is needed to tell


def _member_at(source: _Capture, pos: int) -> tuple[_Member | None, int]:
    """The member at `pos` (see `_decode_member`), reading on while the data held ends inside it
    or inside the corrupt stretch it starts; with where it now starts in `source.data` (0 once
    more was read)."""
    while True:
        member = _decode_member(source.data, pos)
        if source.done or not _needs_more(member, source.data, pos):
            return (None if member is _CUT else member), pos
        source.refill(pos)
        pos = 0


def _needs_more(member: _Member | None, data: bytes, pos: int) -> bool:
    """Whether the data held ends before the record starting at `pos` is known to end."""
    if member is None:  # corrupt: it reaches to the next place a member can start
        return _next_member_start(data, pos + 1) == len(data)
    return member is _CUT or (not member.whole and member.end == len(data))


def _gzip_members(source: _Capture, batch_size: int) -> Iterator[pa.Table]:
    """The gzip members of the capture, as pieces (tables of about `batch_size`).

    A corrupt stretch becomes one record reaching to the next place a member can start, so a bad
    member costs only itself; a member that inflates beyond the cap too (it is not inflated
    further). Whitespace between members (newline-separated captures) is skipped. The data held
    is the current member (or stretch) and the rest of the chunk it is in.
    """
    pos = 0
    held, headers = b"", [0]
    gathered = _PieceColumns()
    while True:
        if len(gathered) >= batch_size:
            yield gathered.table()
        if pos >= len(source.data):
            if not source.refill(pos):
                yield gathered.table()
                return
            pos = 0
        data = source.data
        if data is not held:
            held, headers = data, _member_starts(data)
        pos = _members_to_next_headers(data, pos, headers, gathered)
        if pos >= len(data):
            continue
        if data[pos : pos + 1].isspace():
            pos += 1
            continue
        member = _decode_member(data, pos)
        if member is None or not member.whole:  # rare: cut at the chunk's end, or a defect
            member, pos = _member_at(source, pos)
            data = source.data
        if member is None:  # corrupt or truncated: resynchronise at the next member header
            end = _next_member_start(data, pos + 1)
            gathered.add(_piece(data[pos:end], None))  # derive names the defect when it gunzips it
        elif member.whole:
            end = member.end
            gathered.add(_piece(data[pos:end], member.text))
        else:
            end = member.end
            gathered.add(_piece(data[pos:end], None, inflates_too_large()))
        pos = end


def _member_starts(data: bytes) -> list[int]:
    """Every place in `data` a member can begin (`_MEMBER_START`), found at once."""
    view = np.frombuffer(data, np.uint8)
    at = (view[:-2] == _MEMBER_START[0]) & (view[1:-1] == _MEMBER_START[1])
    at &= view[2:] == _MEMBER_START[2]
    starts: list[int] = np.flatnonzero(at).tolist()
    return starts


def _members_to_next_headers(
    data: bytes, pos: int, headers: list[int], gathered: _PieceColumns
) -> int:
    """The usual case, quickly: from `pos` on, the members that are each whole before the next
    place a member can start (`headers`, those of `data`), whitespace aside, and within the cap,
    added to `gathered`; returns where the first other one starts (`_decode_member` decides). A
    member ends where its deflate stream and trailer end, whatever follows, so this finds the
    same ends and texts as `_decode_member`."""
    records: list[bytes] = []
    texts: list[bytes] = []
    view = memoryview(data)
    index = bisect.bisect_right(headers, pos)
    while data.startswith(_MEMBER_START, pos):
        end = headers[index] if index < len(headers) else len(data)
        if end - pos > MAX_RECORD_BYTES:
            break
        decompressor = zlib.decompressobj(wbits=31)
        try:
            text = decompressor.decompress(view[pos:end], MAX_RECORD_BYTES + 1)
        except zlib.error:
            break
        if not decompressor.eof or len(text) > MAX_RECORD_BYTES:
            break
        unused = decompressor.unused_data
        if unused and not unused.isspace():
            break
        records.append(data[pos : end - len(unused)])
        texts.append(text)
        pos, index = end, index + 1
    gathered.add_members(records, texts)
    return pos


def _next_member_start(data: bytes, pos: int) -> int:
    following = data.find(_MEMBER_START, pos)
    return len(data) if following < 0 else following


def _decode_member(data: bytes, start: int) -> _Member | None:
    """The member starting at `start`: None if it is corrupt, `_CUT` if `data` ends before it
    does. Inflation stops just past MAX_RECORD_BYTES: memory and time stay bounded whatever the
    member claims to hold."""
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
        return _CUT
    return _Member(fed - len(decompressor.unused_data), b"".join(pieces), True)


def _inflate_all(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The decompressed bytes of every member of a gzip stream given in chunks, in chunks of
    bounded size; a corrupt or cut tail ends the stream (what decoded before it is kept)."""
    decompressor = None
    for data in chunks:
        view, pos = memoryview(data), 0
        while pos < len(data):
            if decompressor is None:  # between members: whitespace is skipped
                next_member = _NON_BLANK.search(data, pos)
                if next_member is None:
                    break
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
            if decompressor.eof:
                pos -= len(decompressor.unused_data)
                decompressor = None


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
    pieces: Iterator[pa.Table],
    capture: str,
    received_at: datetime,
    batch_size: int,
    spill_after: int = SPILL_AFTER,
) -> Iterator[pa.Table]:
    """Give each record of a file capture (`_PIECES` tables, in capture order) its identity,
    content hash plus occurrence number, in batches of `batch_size`.

    The same capture recorded twice gives the same keys (nothing added); a message delivered twice
    inside one capture keeps both copies (`#0`, `#1`), as received. The first batches, up to
    `spill_after` records, are numbered as they are read; the rest are set aside on disk and
    numbered once the capture is read (`_spill`), so memory stays bounded however long the
    capture.
    """
    seen = _Occurrences()
    first_index = 0
    key_run = pa.scalar(next(_KEY_RUNS), pa.int64())

    def keyed(digests: pa.StringArray, batch: pa.Table, numbers: npt.NDArray[np.int64]) -> pa.Table:
        count = batch.num_rows
        return pa.Table.from_arrays(
            [
                # the separator as a str: pyarrow's stubs admit it only as an array
                pc.binary_join_element_wise(  # type: ignore[call-overload]
                    digests, pa.array(numbers).cast(pa.string()), "#"
                ),
                batch.column("payload"),
                batch.column("defect"),
                pa.repeat(pa.scalar(received_at, TIMESTAMP), count),
                pa.array(np.arange(first_index, first_index + count, dtype=np.int64)),
                pa.repeat(pa.scalar(capture, pa.string()), count),
                pa.nulls(count, pa.int32()),
                pa.nulls(count, pa.int64()),
                batch.column("text"),
                pa.repeat(key_run, count),
            ],
            schema=RAW_BATCH,
        )

    spilled: SpilledNumbers | None = None
    try:
        for batch in rebatched(pieces, batch_size):
            digests, prefixes = _content_keys(batch.column("digest"), batch.column("payload"))
            if spilled is None and first_index + batch.num_rows > spill_after:
                spilled = SpilledNumbers()
            if spilled is not None:
                aside = batch.set_column(0, "digest", digests)
                spilled.add(aside, prefixes, seen.counts(prefixes))
                continue
            yield keyed(digests, batch, seen.number(prefixes))
            first_index += batch.num_rows
        if spilled is not None:
            for batch, numbers in spilled.numbered():
                digests = cast("pa.StringArray", batch.column("digest").combine_chunks())
                yield keyed(digests, batch, numbers)
                first_index += batch.num_rows
    finally:
        if spilled is not None:
            spilled.close()


def rebatched(tables: Iterator[pa.Table], size: int) -> Iterator[pa.Table]:
    """The rows of `tables` in tables of `size` rows (the last may be smaller; none empty),
    each one chunk per column."""
    held: list[pa.Table] = []
    count = 0
    for table in tables:
        held.append(table)
        count += table.num_rows
        while count >= size:
            rows = pa.concat_tables(held)
            yield rows.slice(0, size).combine_chunks()
            held, count = [rows.slice(size)], count - size
    if count:
        yield pa.concat_tables(held).combine_chunks()


_KEYS_SQL = """
    SELECT coalesce(digest, 'sha256:' || sha256(payload)) AS digest FROM pieces
"""


def _content_keys(
    given: pa.ChunkedArray[Any], payloads: pa.ChunkedArray[Any]
) -> tuple[pa.StringArray, npt.NDArray[np.uint64]]:
    """Each record's content key (`content_key` of its payload where none is given), hashed in
    bulk by DuckDB; with the first 64 bits of each hash."""
    with _json_reader().cursor() as con:
        con.register("pieces", pa.table({"digest": given, "payload": payloads}))
        table = con.sql(_KEYS_SQL).to_arrow_table()
    digests = cast("pa.StringArray", table.column("digest").combine_chunks())
    # "sha256:" then 64 hex digits: digits 0-15 are the prefix.
    digits = _bytes_at(digests, _PREFIX_DIGITS)
    nibbles = _HEX_VALUE[digits]
    octets = np.ascontiguousarray((nibbles[:, 0::2] << 4) | nibbles[:, 1::2])
    return digests, octets.view(">u8").ravel().astype(np.uint64)


_PREFIX_DIGITS = np.arange(7, 23)
_HEX_VALUE = np.zeros(256, np.uint8)
_HEX_VALUE[list(b"0123456789")] = np.arange(10, dtype=np.uint8)
_HEX_VALUE[list(b"abcdef")] = np.arange(10, 16, dtype=np.uint8)


class _Occurrences:
    """How often each content hash occurred earlier in one capture (its first `SPILL_AFTER`
    records; `_spill` numbers the rest), in 8 bytes a distinct record: the first 64 bits of every
    hash seen (`HashSet`), and exact counts for those seen twice or more (16 bytes each). Two
    different records whose hashes share 64 bits (about one capture in 40,000 of 30M records)
    would number the second `#1`: the same on every import of the capture, so its identity
    holds; a copy in another capture would be stored once more, which no figure counts
    (docs/lake.md, "Identity and duplicates"). Numbering is vectorised: a batch is sorted once;
    Python touches no record."""

    def __init__(self) -> None:
        self.seen = HashSet()
        self.repeated = HashCounts()

    def number(self, prefixes: npt.NDArray[np.uint64]) -> npt.NDArray[np.int64]:
        """The occurrence number of each of `prefixes` (of content hashes), counting those
        before (in earlier calls and earlier in this one)."""
        count = len(prefixes)
        order = np.argsort(prefixes, kind="stable")
        ordered = prefixes[order]
        starts_group = np.ones(count, np.bool_)
        starts_group[1:] = ordered[1:] != ordered[:-1]
        group_start = np.flatnonzero(starts_group)
        group = np.cumsum(starts_group) - 1
        distinct = ordered[group_start]
        sizes = np.diff(np.append(group_start, count))
        earlier, before = self._before(distinct)
        numbers = np.empty(count, np.int64)
        numbers[order] = before[group] + np.arange(count) - group_start[group]
        total = before + sizes  # the counts of those now seen twice or more
        twice = total > 1
        self.repeated.set(distinct[twice], total[twice])
        self.seen.add(distinct[~earlier])
        return numbers

    def counts(self, prefixes: npt.NDArray[np.uint64]) -> npt.NDArray[np.int64]:
        """How often each of `prefixes` occurred in the calls to `number` (none added)."""
        distinct, inverse = np.unique(prefixes, return_inverse=True)
        return self._before(distinct)[1][inverse]

    def _before(
        self, distinct: npt.NDArray[np.uint64]
    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64]]:
        """For sorted, distinct prefixes: whether each was seen, and how often."""
        earlier = self.seen.contains(distinct)
        # Seen once before, unless counted in `repeated` (only those seen before can be).
        before = earlier.astype(np.int64)
        if earlier.any():
            before[earlier] = np.maximum(self.repeated.get(distinct[earlier]), 1)
        return earlier, before

    @property
    def nbytes(self) -> int:
        return self.seen.nbytes + self.repeated.nbytes


def _as_json_object(text: bytes) -> dict[str, Any] | None:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _split_data_api_response(
    response: dict[str, Any], capture: str, received_at: datetime, batch_size: int
) -> Iterator[pa.Table]:
    messages = response["messages"]
    for start in range(0, len(messages), batch_size):
        yield data_api_table(messages[start : start + batch_size], capture, received_at, start)


SlowRecord = Callable[[Any, int], RawStatusRecord]

# The fast path's time limit: below it, `ms / 1000` as a double is within 0.25 us of the exact
# instant, so `datetime.fromtimestamp` (what `data_api_record` uses) rounds to exactly ms * 1000 us.
_FAST_MS_LIMIT: Final = 4_102_444_800_000  # 2100-01-01


def data_api_table(
    messages: list[Any],
    capture: str,
    fallback_received_at: datetime,
    first_index: int = 0,
    slow: SlowRecord | None = None,
) -> pa.Table:
    """The messages of a Data API `partitions` response as one batch (`RAW_BATCH`), in order:
    the same rows as `records_table` of `data_api_record` for each message, built column-wise.

    The usual message (inline base64 `data`, integer `timestamp` and Kafka offset) is taken
    without a Python object per record; any other goes through `slow(message, index)` (default
    `data_api_record`, which the consumer wraps to fetch a `dataHandle`'s blob). A response that
    nests too deeply to be written back as JSON goes through `slow` whole, so the depth check of
    `data_api_record` still sees every message.
    """
    if slow is None:

        def slow(message: Any, index: int) -> RawStatusRecord:
            return data_api_record(message, capture, index, fallback_received_at)

    fast = json_bytes(messages) is not None
    keys: list[str] = []
    payloads: list[bytes] = []
    times_us: list[int] = []
    partitions: list[int | None] = []
    offsets: list[int | None] = []
    arrivals: list[int] = []
    defects: list[str | None] = []
    a2b, b64_error = binascii.a2b_base64, binascii.Error
    for index, message in enumerate(messages, first_index):
        if fast and type(message) is dict:
            meta, where = message.get("metaData"), message.get("offset")
            if type(meta) is dict and type(where) is dict:
                data, ms = meta.get("data"), meta.get("timestamp")
                partition, offset = where.get("partition"), where.get("offset")
                if (
                    type(data) is str
                    and type(ms) is int
                    and 0 <= ms < _FAST_MS_LIMIT
                    and type(partition) is int
                    and 0 <= partition < _INT32_LIMIT
                    and type(offset) is int
                    and 0 <= offset < _INT64_LIMIT
                ):
                    try:
                        # Strict decoding accepts a subset of what `b64decode(validate=True)`
                        # does, with the same bytes; the rest is left to `slow`.
                        payload = a2b(data, strict_mode=True)
                    except (b64_error, ValueError):
                        payload = None
                    if payload is not None and len(payload) <= MAX_RECORD_BYTES:
                        keys.append(f"kafka:{partition}:{offset}")
                        payloads.append(payload)
                        times_us.append(ms * 1000)
                        partitions.append(partition)
                        offsets.append(offset)
                        arrivals.append(offset)
                        defects.append(None)
                        continue
        record = slow(message, index)
        keys.append(record.record_key)
        payloads.append(record.payload)
        times_us.append(_epoch_us(record.received_at))
        partitions.append(record.kafka_partition)
        offsets.append(record.kafka_offset)
        arrivals.append(record.arrival_index)
        defects.append(record.defect)
    rows = len(keys)
    columns: dict[str, pa.Array[Any]] = {
        "record_key": pa.array(keys, pa.string()),
        "payload": pa.array(payloads, pa.binary()),
        "received_at": pa.array(times_us, pa.int64()).cast(TIMESTAMP),
        "arrival_index": pa.array(arrivals, pa.int64()),
        "capture": pa.array([capture] * rows, pa.string()),
        "kafka_partition": pa.array(partitions, pa.int32()),
        "kafka_offset": pa.array(offsets, pa.int64()),
        "defect": pa.array(defects, pa.string()),
        "text": pa.nulls(rows, pa.binary()),
        "key_run": pa.nulls(rows, pa.int64()),
    }
    return pa.Table.from_arrays([columns[f.name] for f in RAW_BATCH], schema=RAW_BATCH)


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _epoch_us(value: datetime) -> int:
    return (value - _EPOCH) // timedelta(microseconds=1)


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
