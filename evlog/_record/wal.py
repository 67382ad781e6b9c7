"""A write-ahead log with group commit: how a live recorder makes a record durable before it
acknowledges it, without paying one fsync per record.

A log directory holds segment files ``wal-<utc stamp>-<session>-<n>.log``::

    segment := MAGIC  u32 meta_length  meta (JSON: session_id, capture, created_at)  record*
    record  := u32 length  u32 crc32(payload)  payload
    payload := u64 seq  i64 received_at (µs since the epoch, UTC)  u32 headers_length
               headers (JSON object)  body (the raw bytes as received)

Integers are little-endian. A segment's header is written and fsynced before any record, so a
segment with a torn header holds no acknowledged record. Records are only acknowledged after the
fsync that covers them, so after a crash only the *tail* of the newest segment can be torn (a
short record, or a whole-length one whose bytes never reached the disk): `read_segment` keeps
every record before the first one that is short or fails its CRC, and drops only the rest.

`GroupCommitLog` is the asyncio side: concurrent `append` calls queue their encoded records; one
writer task takes everything queued, writes it with one ``write`` and one ``fsync`` in a worker
thread, and then resolves all their futures together. While that fsync runs, new records queue
up for the next one, so the number of fsyncs per second stays bounded by the disk while the
records per fsync grow with the load.
"""

from __future__ import annotations

import asyncio
import logging
import os
import struct
import uuid
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson

from evlog._faults import fault_point
from evlog._lake.layout import fsync_dir
from evlog._time import from_micros

log = logging.getLogger("evlog.wal")

MAGIC = b"EVLWAL1\n"
SUFFIX = ".log"
_U32 = struct.Struct("<I")
_RECORD_HEAD = struct.Struct("<II")  # payload length, crc32(payload)
_PAYLOAD_HEAD = struct.Struct("<QqI")  # seq, received_at µs, headers length
MAX_META = 1 << 16
MAX_PAYLOAD = 1 << 28  # a length field beyond this is garbage, not a record
MAX_HEADERS = 1 << 18  # room for a request's headers (as JSON) in one record
MAX_BODY = MAX_PAYLOAD - _PAYLOAD_HEAD.size - MAX_HEADERS  # the largest body a record can hold
SEGMENT_MODE = 0o600  # request headers and bodies: readable by the receiver's user only


class WalError(Exception):
    """The log could not make a record durable (the record must not be acknowledged)."""


@dataclass(frozen=True)
class WalRecord:
    seq: int
    received_at: datetime
    headers: bytes  # a JSON object
    body: bytes


@dataclass(frozen=True)
class SegmentMeta:
    session_id: str
    capture: str
    created_at: str


@dataclass
class Segment:
    """What `read_segment` found in one file."""

    path: Path
    meta: SegmentMeta
    records: list[WalRecord] = field(default_factory=list)
    dropped_bytes: int = 0  # a torn or corrupt tail, not returned


def encode_record(seq: int, received_at_us: int, headers: bytes, body: bytes) -> bytes:
    """One framed record; raises `WalError` if it is larger than `read_segment` accepts (it
    would be read back as a torn tail, so it must never be acknowledged)."""
    if len(headers) > MAX_HEADERS or len(body) > MAX_BODY:
        raise WalError(f"record too large for the log ({len(headers)} + {len(body)} bytes)")
    payload = _PAYLOAD_HEAD.pack(seq, received_at_us, len(headers)) + headers + body
    return _RECORD_HEAD.pack(len(payload), zlib.crc32(payload)) + payload


def read_segment(path: Path) -> Segment | None:
    """The whole records of a segment; None if its header is torn (then it holds no record)."""
    data = path.read_bytes()
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + _U32.size:
        return None
    (meta_length,) = _U32.unpack_from(data, len(MAGIC))
    start = len(MAGIC) + _U32.size
    if meta_length > MAX_META or start + meta_length > len(data):
        return None
    try:
        meta = SegmentMeta(**orjson.loads(data[start : start + meta_length]))
    except (orjson.JSONDecodeError, TypeError):
        return None
    segment = Segment(path, meta)
    offset = start + meta_length
    for record, end in _records(data, offset):
        segment.records.append(record)
        offset = end
    segment.dropped_bytes = len(data) - offset
    return segment


def _records(data: bytes, offset: int) -> Iterator[tuple[WalRecord, int]]:
    view = memoryview(data)
    while offset + _RECORD_HEAD.size <= len(data):
        length, crc = _RECORD_HEAD.unpack_from(data, offset)
        begin = offset + _RECORD_HEAD.size
        end = begin + length
        if length < _PAYLOAD_HEAD.size or length > MAX_PAYLOAD or end > len(data):
            return  # short (torn) or a garbage length
        payload = view[begin:end]
        if zlib.crc32(payload) != crc:
            return
        seq, micros, headers_length = _PAYLOAD_HEAD.unpack_from(payload)
        headers_end = _PAYLOAD_HEAD.size + headers_length
        if headers_end > length:
            return
        yield (
            WalRecord(
                seq,
                from_micros(micros),
                bytes(payload[_PAYLOAD_HEAD.size : headers_end]),
                bytes(payload[headers_end:]),
            ),
            end,
        )
        offset = end


def segments(directory: Path) -> list[Path]:
    """The segment files in `directory`, oldest first."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.glob(f"wal-*{SUFFIX}") if p.is_file())


class SegmentWriter:
    """One open segment file. Not thread-safe: used from the log's single writer thread."""

    def __init__(self, path: Path, meta: SegmentMeta, *, fsync: bool = True) -> None:
        self.path = path
        self.fsync = fsync
        header = orjson.dumps(
            {"session_id": meta.session_id, "capture": meta.capture, "created_at": meta.created_at}
        )
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, SEGMENT_MODE)
        self.size = 0
        self.records = 0
        try:
            self._write(MAGIC + _U32.pack(len(header)) + header)
            self.sync()
            if fsync:
                fsync_dir(path.parent)
        except BaseException:  # a full disk: neither the descriptor nor an empty file may stay
            os.close(self._fd)
            path.unlink(missing_ok=True)
            raise

    def _write(self, data: bytes) -> None:
        fault_point("wal.write")
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self.size += len(data)

    def append(self, records: list[bytes]) -> None:
        """Write `records` and fsync them: when this returns, they are durable."""
        self._write(b"".join(records))
        self.records += len(records)
        self.sync()

    def sync(self) -> None:
        if self.fsync:
            os.fdatasync(self._fd)

    def close(self) -> None:
        os.close(self._fd)


@dataclass
class _Pending:
    data: bytes
    future: asyncio.Future[None]


class GroupCommitLog:
    """The asyncio front of a log directory: `append` returns once the record is durable.

    `on_sealed(path, records)` is called (on the event loop) with each segment that is closed
    for good, and the number of durable records in it: on rotation (`rotate_bytes` reached or
    `rotate()` called), after a failed write, and on `close()`. A segment without a durable
    record is deleted instead, so failing writes leave no files behind.
    """

    def __init__(
        self,
        directory: Path,
        *,
        session_id: str,
        capture: str,
        on_sealed: Callable[[Path, int], None],
        rotate_bytes: int = 64 << 20,
        fsync: bool = True,
    ) -> None:
        self.directory = directory
        self.session_id = session_id
        self.capture = capture
        self.rotate_bytes = rotate_bytes
        self.fsync = fsync
        self._on_sealed = on_sealed
        self._pending: list[_Pending] = []
        self._wakeup = asyncio.Event()
        self._rotate_requested = False
        self._closing = False
        self._segment: SegmentWriter | None = None
        self._segment_index = 0
        self._seq = 0
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="evlog-wal")
        self._task: asyncio.Task[None] | None = None
        self.commits = 0  # fsyncs of records done
        self.records = 0  # records made durable
        self.failed = 0  # records refused because a write failed
        self.last_error: str | None = None
        self.healthy = True  # the last write succeeded

    # -- public API -----------------------------------------------------------------------

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._task = asyncio.get_running_loop().create_task(self._writer(), name="evlog-wal")

    async def append(self, received_at_us: int, headers: bytes, body: bytes) -> int:
        """Log one record; returns its sequence number once it is durable. Raises `WalError`."""
        if self._closing:
            raise WalError("the log is closing")
        seq = self._seq
        self._seq += 1
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(encode_record(seq, received_at_us, headers, body), future))
        self._wakeup.set()
        await future
        return seq

    def rotate(self) -> None:
        """Ask the writer to seal the current segment (if it holds records) after its next write."""
        self._rotate_requested = True
        self._wakeup.set()

    @property
    def segment_bytes(self) -> int:
        """Bytes in the open segment (records not yet handed over by `on_sealed`)."""
        return 0 if self._segment is None else self._segment.size

    @property
    def segment_records(self) -> int:
        """Durable records in the open segment."""
        return 0 if self._segment is None else self._segment.records

    async def close(self) -> None:
        """Write what is queued, seal the open segment, stop the writer."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await self._task
        self._executor.shutdown(wait=True)

    # -- writer ---------------------------------------------------------------------------

    async def _writer(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            batch, self._pending = self._pending, []
            if batch:
                try:
                    await loop.run_in_executor(
                        self._executor, self._write_batch, [p.data for p in batch]
                    )
                except OSError as exc:
                    self._fail(batch, exc)
                    await self._seal(loop)  # never append to a segment after a failed write
                else:
                    self.commits += 1
                    self.healthy = True
                    self.records += len(batch)
                    for pending in batch:
                        if not pending.future.done():
                            pending.future.set_result(None)
            if self._segment is not None and (
                self._rotate_requested or self._closing or self._segment.size >= self.rotate_bytes
            ):
                await self._seal(loop)
            self._rotate_requested = False
            if self._closing and not self._pending:
                return
            if self._pending:
                self._wakeup.set()

    def _write_batch(self, records: list[bytes]) -> None:
        if self._segment is None:
            self._segment = self._open_segment()
        self._segment.append(records)

    def _open_segment(self) -> SegmentWriter:
        now = datetime.now(UTC)
        name = (
            f"wal-{now.strftime('%Y%m%dT%H%M%S%f')}-{self.session_id[:12]}-"
            f"{self._segment_index:06d}-{uuid.uuid4().hex[:6]}{SUFFIX}"
        )
        self._segment_index += 1
        meta = SegmentMeta(self.session_id, self.capture, now.isoformat())
        return SegmentWriter(self.directory / name, meta, fsync=self.fsync)

    async def _seal(self, loop: asyncio.AbstractEventLoop) -> None:
        segment, self._segment = self._segment, None
        if segment is None:
            return
        try:
            await loop.run_in_executor(self._executor, segment.close)
        except OSError as exc:  # the records in it were fsynced: still hand it over
            log.error("closing a log segment failed", extra={"fields": {"error": str(exc)}})
        if segment.records:
            self._on_sealed(segment.path, segment.records)
        else:
            segment.path.unlink(missing_ok=True)

    def _fail(self, batch: list[_Pending], exc: OSError) -> None:
        self.failed += len(batch)
        self.healthy = False
        self.last_error = f"{type(exc).__name__}: {exc}"
        log.error(
            "write-ahead log write failed; requests refused",
            extra={"fields": {"error": self.last_error, "records": len(batch)}},
        )
        for pending in batch:
            if not pending.future.done():
                pending.future.set_exception(WalError(self.last_error))
