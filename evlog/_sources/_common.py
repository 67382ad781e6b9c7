"""Helpers shared by the source parsers: JSON decoding, timestamps, identities, size caps."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import orjson

from evlog._errors import RecordError
from evlog._lake.names import QuarantineReason, Status

DEFAULT_SKEW_TOLERANCE = timedelta(minutes=5)


class StatusObservation(NamedTuple):  # a tuple: cheap to build once per EVSE update
    """One EVSE (HERE) or connector (eDRV) status observation: a `status_events` row's own
    columns."""

    location_id: str
    evse_id: str
    status: Status
    status_raw: str
    event_time: datetime
    time_clamped: bool
    evse_index: int


_SEPARATORS = re.compile(r"[-_ ]")


def spelling_key(raw: str) -> str | None:
    """A status spelling with case and the separators `_`, `-` and space folded away (docs/lake.md
    "Status spellings"): the key OCPI, HERE and OCPP spellings are matched by. None for a
    spelling with a non-ASCII character (`str.upper` folds some, such as the dotless i, into
    ASCII: no source defines such a spelling)."""
    if not raw.isascii():
        return None
    return _SEPARATORS.sub("", raw).upper()


# The largest record (a line, a gzip member's decompressed JSON, a message) parsed as data. A larger
# one is quarantined as "record too large" with only its first KEPT_PREFIX_BYTES stored, so memory
# stays bounded and no Parquet binary cell comes near Arrow's 2 GiB limit. Real messages are a few
# hundred bytes to a few kilobytes.
MAX_RECORD_BYTES = 16 * 1024 * 1024
KEPT_PREFIX_BYTES = 64 * 1024


def too_large(size: int) -> RecordError:
    return RecordError(
        QuarantineReason.RECORD_TOO_LARGE,
        f"{size} bytes, over the {MAX_RECORD_BYTES}-byte cap; first {KEPT_PREFIX_BYTES} kept",
    )


def inflates_too_large() -> RecordError:
    return RecordError(
        QuarantineReason.RECORD_TOO_LARGE,
        f"gzip member inflates to over the {MAX_RECORD_BYTES}-byte cap",
    )


def json_bytes(value: Any) -> bytes | None:
    """`value` as JSON text; None if it nests deeper than orjson writes (254 levels, where
    `orjson.loads` reads 1024)."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        return None


def shown(field: str, value: Any) -> str:
    """A field and its value for a quarantine detail, briefly."""
    text = json_bytes(value)
    return (
        f"{field}={'(nested too deeply)' if text is None else text[:80].decode(errors='replace')}"
    )


def as_defect(problem: RecordError) -> str:
    """A problem found while splitting, as the text of a raw `defect` column: reason[: detail]."""
    return str(problem)


def from_defect(defect: str) -> RecordError:
    reason, _, detail = defect.partition(": ")
    return RecordError(reason, detail)


class LongLine(NamedTuple):
    """A line over MAX_RECORD_BYTES: its first bytes, true length and content key."""

    prefix: bytes
    size: int
    record_key: str


class CarriedLine:
    """The line cut at a chunk's end, assembled across chunks; past the cap only hashed."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.buffer = bytearray()
        self.hasher: Any = None  # hashlib's sha256 object once the line is over the cap
        self.prefix = b""
        self.size = 0

    @property
    def open(self) -> bool:
        return bool(self.buffer) or self.hasher is not None

    def add(self, part: bytes) -> None:
        if self.hasher is None and len(self.buffer) + len(part) > MAX_RECORD_BYTES:
            self.prefix = (bytes(self.buffer[:KEPT_PREFIX_BYTES]) + part[:KEPT_PREFIX_BYTES])[
                :KEPT_PREFIX_BYTES
            ]
            self.hasher, self.size = hashlib.sha256(self.buffer), len(self.buffer)
            self.buffer = bytearray()
        if self.hasher is None:
            self.buffer += part
        else:
            self.hasher.update(part)
            self.size += len(part)

    def finish(self) -> Iterator[bytes | LongLine]:
        if self.hasher is not None:
            yield LongLine(self.prefix, self.size, _CONTENT_KEY_PREFIX + self.hasher.hexdigest())
        elif self.buffer:
            yield from _line(bytes(self.buffer))
        self.reset()


def _line(part: bytes) -> Iterator[bytes | LongLine]:
    """One line of `split_lines`: over the cap a `LongLine` (not stripped), else stripped,
    nothing if blank."""
    if len(part) > MAX_RECORD_BYTES:
        yield LongLine(part[:KEPT_PREFIX_BYTES], len(part), content_key(part))
        return
    line = part.strip()
    if line:
        yield line


def split_lines(chunks: Iterable[bytes]) -> Iterator[bytes | LongLine]:
    """The non-blank lines (stripped) of a byte stream given in chunks, lines over the cap as
    `LongLine`: a line may span chunks, and only MAX_RECORD_BYTES of one is ever held."""
    carried = CarriedLine()
    for chunk in chunks:
        parts = chunk.splitlines()
        complete = len(parts) if chunk.endswith((b"\n", b"\r")) else len(parts) - 1
        for index, part in enumerate(parts):
            if index == 0 and carried.open:
                carried.add(part)
                if complete:
                    yield from carried.finish()
            elif index < complete:
                yield from _line(part)
            else:
                carried.add(part)
    yield from carried.finish()


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
    """Rule *Observations* (docs/replay.md): a source time later than received_at + tolerance
    becomes received_at."""
    try:
        latest = received_at + tolerance
    except OverflowError:  # received_at within the tolerance of year 9999: nothing is later
        return event_time, False
    if event_time > latest:
        return received_at, True
    return event_time, False


_CONTENT_KEY_PREFIX = "sha256:"


def content_key(payload: bytes) -> str:
    return _CONTENT_KEY_PREFIX + hashlib.sha256(payload).hexdigest()


class HashSet:
    """A set of 64-bit hashes in 8 bytes each: sorted, disjoint chunks, merged while of like
    size (so a lookup searches a few) up to `MERGE_UP_TO` (so a merge's copy stays small
    however many are held). Lookups sort their queries first (the search then walks each chunk
    in order)."""

    MERGE_UP_TO = 1 << 22

    def __init__(self) -> None:
        self.chunks: list[npt.NDArray[np.uint64]] = []

    def contains(self, values: npt.NDArray[np.uint64]) -> npt.NDArray[np.bool_]:
        """Which of `values` are held."""
        found = np.zeros(len(values), np.bool_)
        if not self.chunks or not len(values):
            return found
        order = np.argsort(values)
        ordered = values[order]
        hit = np.zeros(len(values), np.bool_)
        for chunk in self.chunks:
            hit |= sorted_contains(chunk, ordered)
        found[order] = hit
        return found

    def add(self, values: npt.NDArray[np.uint64]) -> None:
        """Hold `values` too (those held already are not held twice)."""
        new = np.sort(values)
        new = new[np.append(True, new[1:] != new[:-1]) if len(new) else slice(None)]
        new = new[~self.contains(new)]
        if not len(new):
            return
        self.chunks.append(new)
        while (
            len(self.chunks) > 1
            and len(self.chunks[-2]) <= self.MERGE_UP_TO
            and len(self.chunks[-1]) * 2 >= len(self.chunks[-2])
        ):
            last = self.chunks.pop()
            self.chunks[-1] = np.sort(np.concatenate((self.chunks[-1], last)), kind="stable")

    @property
    def nbytes(self) -> int:
        return sum(chunk.nbytes for chunk in self.chunks)


def sorted_contains(
    sorted_values: npt.NDArray[np.uint64], values: npt.NDArray[np.uint64]
) -> npt.NDArray[np.bool_]:
    """Which of `values` are in `sorted_values`."""
    if not len(sorted_values):
        return np.zeros(len(values), np.bool_)
    at = np.searchsorted(sorted_values, values).clip(max=len(sorted_values) - 1)
    found: npt.NDArray[np.bool_] = sorted_values[at] == values
    return found


class HashCounts:
    """A count for each of a set of 64-bit hashes, in 16 bytes each: sorted, disjoint chunks
    merged like `HashSet`'s (no copy of them all per update)."""

    MERGE_UP_TO = HashSet.MERGE_UP_TO

    def __init__(self) -> None:
        self.chunks: list[tuple[npt.NDArray[np.uint64], npt.NDArray[np.int64]]] = []

    def get(self, values: npt.NDArray[np.uint64]) -> npt.NDArray[np.int64]:
        """The count of each of `values` (sorted, distinct), 0 for those not held."""
        counts = np.zeros(len(values), np.int64)
        for keys, held in self.chunks:
            at = np.searchsorted(keys, values).clip(max=len(keys) - 1)
            found = keys[at] == values
            counts[found] = held[at[found]]
        return counts

    def set(self, values: npt.NDArray[np.uint64], counts: npt.NDArray[np.int64]) -> None:
        """Set the counts of `values` (sorted, distinct): in place where held, else added."""
        new = np.ones(len(values), np.bool_)
        for keys, held in self.chunks:
            at = np.searchsorted(keys, values).clip(max=len(keys) - 1)
            found = keys[at] == values
            held[at[found]] = counts[found]
            new &= ~found
        if not new.any():
            return
        self.chunks.append((values[new], counts[new]))
        while (
            len(self.chunks) > 1
            and len(self.chunks[-2][0]) <= self.MERGE_UP_TO
            and len(self.chunks[-1][0]) * 2 >= len(self.chunks[-2][0])
        ):
            keys, held = self.chunks.pop()
            keys = np.concatenate((self.chunks[-1][0], keys))
            order = np.argsort(keys, kind="stable")
            self.chunks[-1] = (keys[order], np.concatenate((self.chunks[-1][1], held))[order])

    @property
    def nbytes(self) -> int:
        return sum(keys.nbytes + held.nbytes for keys, held in self.chunks)
