"""Offline importers: `evlog record stream INPUT…` and `evlog record webhooks --from FILE…`."""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from os import PathLike
from pathlib import Path
from typing import BinaryIO, cast

import pyarrow as pa

from evlog._errors import InputError
from evlog._lake.layout import Lake, partition_days
from evlog._lake.ledger import CaptureEntry, CaptureLedger
from evlog._lake.schema import TIMESTAMP
from evlog._progress import Progress, ProgressStep, quiet
from evlog._record.derive import DEFAULT_SKEW_TOLERANCE, STATUS_FEED, WEBHOOK_FEED, Feed, Row
from evlog._record.recorder import (
    DEFAULT_BATCH,
    DEFAULT_DEDUPE_HORIZON,
    Recorder,
    RecordSummary,
)
from evlog._sources import edrv, here

STDIN = "-"
Window = tuple[datetime, datetime]


def record_stream(
    lake: Lake | str | PathLike[str],
    inputs: Sequence[str],
    *,
    coverage: Sequence[Window] = (),
    skew_tolerance: timedelta = DEFAULT_SKEW_TOLERANCE,
    stdin: BinaryIO | None = None,
    dedupe_horizon: timedelta = DEFAULT_DEDUPE_HORIZON,
    progress: Progress = quiet,
) -> RecordSummary:
    """Import HERE status-stream captures (files, directories, '-' for stdin) into `lake`;
    `progress` is told the bytes read of the captures' total."""
    return _import(
        lake,
        inputs,
        STATUS_FEED,
        _store_status,
        coverage,
        skew_tolerance,
        stdin,
        dedupe_horizon,
        progress,
    )


def record_webhook_files(
    lake: Lake | str | PathLike[str],
    inputs: Sequence[str],
    *,
    coverage: Sequence[Window] = (),
    skew_tolerance: timedelta = DEFAULT_SKEW_TOLERANCE,
    stdin: BinaryIO | None = None,
    dedupe_horizon: timedelta = DEFAULT_DEDUPE_HORIZON,
    progress: Progress = quiet,
) -> RecordSummary:
    """Import saved eDRV webhook bodies (JSONL, one body or envelope a line) into `lake`;
    `progress` is told the bytes read of the files' total."""
    return _import(
        lake,
        inputs,
        WEBHOOK_FEED,
        _store_webhooks,
        coverage,
        skew_tolerance,
        stdin,
        dedupe_horizon,
        progress,
    )


def _import(
    lake: Lake | str | PathLike[str],
    inputs: Sequence[str],
    feed: Feed,
    store: Callable[[_Captures], None],
    coverage: Sequence[Window],
    skew_tolerance: timedelta,
    stdin: BinaryIO | None,
    dedupe_horizon: timedelta,
    progress: Progress,
) -> RecordSummary:
    captures = list(_captures(inputs))  # every input checked before the lake is created
    recorder = Recorder(
        Lake.create(lake), feed, skew_tolerance=skew_tolerance, dedupe_horizon=dedupe_horizon
    )
    ledger = CaptureLedger(recorder.lake, feed.source)
    reading = _Captures(captures, stdin, recorder, ledger, _BytesRead(captures, progress))
    store(reading)
    reading.bytes_read.finish()
    # Declared only now that every record of the import is durable: an import that dies or
    # fails part-way claims nothing (a claim over a window whose records were never stored
    # would count states as observed there; a ledger entry would skip the capture next time);
    # running it again stores the rest and claims it.
    reading.ledger.add(reading.recorded, recorder.session_id)
    for covered_from, covered_to in coverage:
        recorder.write_coverage(covered_from, covered_to, kind="declared")
    return recorder.summary


def _captures(inputs: Sequence[str]) -> Iterator[str]:
    """Every capture file named by `inputs`, directories walked in name order; checked up front so
    a typo fails before anything is written."""
    if not inputs:
        raise InputError("no input given (name files, directories or '-' for stdin)")
    for name in inputs:
        if name == STDIN:
            yield name
            continue
        path = Path(name)
        if path.is_dir():
            # Hidden files and folders *inside* it are skipped (editors' and sync tools' litter);
            # the folder's own path may hold dots (`../captures`, `~/.cache/...`).
            found = [
                str(p)
                for p in sorted(path.rglob("*"))
                if p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            ]
            if not found:
                raise InputError(f"no capture files in {name} (hidden ones inside are skipped)")
            yield from found
        elif path.exists():  # a file, or a pipe such as bash's <(olp catalog layer stream get …)
            yield name
        else:
            raise InputError(f"input not found: {name}")


@contextmanager
def _opened(capture: str, stdin: BinaryIO | None) -> Iterator[tuple[BinaryIO, datetime]]:
    """The capture as a stream, and its receive time: a file's modification time, now for stdin."""
    if capture == STDIN:
        yield (stdin or sys.stdin.buffer), datetime.now(UTC)
        return
    try:
        stream = open(capture, "rb")  # noqa: SIM115 (closed below, after the caller's reads)
        mtime = os.fstat(stream.fileno()).st_mtime
    except OSError as exc:
        raise InputError(f"cannot read {capture}: {exc.strerror}") from None
    with stream:
        try:
            received_at = datetime.fromtimestamp(mtime, UTC)
        except (OverflowError, ValueError):  # an mtime beyond the years a datetime holds
            received_at = datetime.now(UTC)
        try:
            yield stream, received_at
        except OSError as exc:
            raise InputError(f"cannot read {capture}: {exc.strerror}") from None


class _BytesRead:
    """The bytes an import has read of its captures' total (None if one is stdin or a pipe),
    told to `progress` every `EVERY` bytes and at the end."""

    TASK = "reading captures"
    EVERY = 1 << 20

    def __init__(self, names: list[str], progress: Progress) -> None:
        self.progress = progress
        sizes = [
            None if n == STDIN or not Path(n).is_file() else Path(n).stat().st_size for n in names
        ]
        self.total = None if None in sizes else sum(s or 0 for s in sizes)
        self.done = self.told = 0

    def add(self, size: int) -> None:
        self.done += size
        if self.done - self.told >= self.EVERY:
            self._tell()

    def finish(self) -> None:
        if self.total is not None:
            self.done = max(self.done, self.total)  # a file that grew or shrank meanwhile
        self._tell()

    def _tell(self) -> None:
        self.told = self.done
        total = None if self.total is None else max(self.total, self.done)
        self.progress(ProgressStep(self.TASK, self.done, total, "bytes"))


class _Captures:
    """The captures of one import, opened one after the other: those the ledger knows whole are
    skipped unread (`Recorder.summary` counts them), the others are hashed while they are read
    and added to `recorded` once read to the end."""

    def __init__(
        self,
        names: list[str],
        stdin: BinaryIO | None,
        recorder: Recorder,
        ledger: CaptureLedger,
        bytes_read: _BytesRead,
    ) -> None:
        self.names = names
        self.stdin = stdin
        self.recorder = recorder
        self.ledger = ledger
        self.bytes_read = bytes_read
        self.recorded: list[CaptureEntry] = []

    def each(self) -> Iterator[_Capture]:
        """Every capture to read, opened; the reader counts its records into it. The stream is
        read to the end before the next is opened."""
        for capture in self.names:
            name = capture if capture == STDIN else str(Path(capture).resolve())
            if capture != STDIN and self._recorded_whole(capture):
                continue
            # A grown capture's first part may have gone to another (older) partition.
            self.recorder.known.also_days |= self.ledger.days_of(name)
            with _opened(capture, self.stdin) as (stream, received_at):
                hashed = _HashingReader(stream, self.bytes_read.add)
                reading = _Capture(capture, cast(BinaryIO, hashed), received_at)
                yield reading
                hashed.read_rest()
            # Its records are split by now, maybe not yet stored (a batch spans captures): the
            # ledger is written only after the whole import.
            day = partition_days(pa.array([received_at], TIMESTAMP))[0].as_py()
            entry = CaptureEntry(name, hashed.size, hashed.hexdigest(), reading.records, day)
            self.recorded.append(entry)

    def _recorded_whole(self, capture: str) -> bool:
        """Whether the file's bytes are in the ledger (hashed first only if an entry has its
        size: a new capture is read once)."""
        try:
            size = Path(capture).stat().st_size
        except OSError:
            return False
        if not self.ledger.has_size(size) or not Path(capture).is_file():
            return False
        with _opened(capture, self.stdin) as (stream, _):
            hashed = _HashingReader(stream)
            hashed.read_rest()
        known = self.ledger.recorded_whole(hashed.size, hashed.hexdigest())
        if known is None:
            return False
        self.bytes_read.add(hashed.size)
        self.recorder.summary.known_captures += 1
        self.recorder.summary.duplicates += known.records
        return True


@dataclass
class _Capture:
    """One capture being read: its name as given, its stream, its receive time, and how many
    records its reader found."""

    name: str
    stream: BinaryIO
    received_at: datetime
    records: int = 0


class _HashingReader:
    """A binary stream that hashes what is read from it (and tells `on_read` how much)."""

    def __init__(
        self, stream: BinaryIO, on_read: Callable[[int], None] = lambda size: None
    ) -> None:
        self.stream = stream
        self.hasher = hashlib.sha256()
        self.size = 0
        self.on_read = on_read

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.hasher.update(data)
        self.size += len(data)
        self.on_read(len(data))
        return data

    def read_rest(self) -> None:
        while self.read(1 << 22):
            pass

    def hexdigest(self) -> str:
        return self.hasher.hexdigest()


STORING = "storing records"


def _store_status(captures: _Captures) -> None:
    """Store the captures' records batch by batch, telling how many are stored: a long capture's
    records past its first million are stored after it is read (`here.SPILL_AFTER`), while the
    reading's bar stands at its end."""
    stored = 0
    for batch in here.rebatched(_status_batches(captures), DEFAULT_BATCH):
        captures.recorder.append_columns(batch)
        stored += batch.num_rows
        captures.bytes_read.progress(ProgressStep(STORING, stored, None, "records"))


def _status_batches(captures: _Captures) -> Iterator[pa.Table]:
    for capture in captures.each():
        for batch in here.split_capture_batches(capture.stream, capture.name, capture.received_at):
            capture.records += batch.num_rows
            yield batch


def _store_webhooks(captures: _Captures) -> None:
    captures.recorder.append_all(_webhook_rows(captures))


def _webhook_rows(captures: _Captures) -> Iterator[Row]:
    for capture in captures.each():
        data = capture.stream.read()  # saved webhook files are read whole (read_saved_webhooks)
        for index, saved in enumerate(edrv.read_saved_webhooks(data)):
            capture.records += 1
            yield {
                "record_key": saved.record_key,
                "webhook_id": saved.webhook_id,
                "payload": saved.body,
                "headers": saved.headers,
                "received_at": saved.received_at or capture.received_at,
                "arrival_index": index,
                "capture": capture.name,
            }
