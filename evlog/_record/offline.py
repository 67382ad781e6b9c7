"""Offline importers: `evlog record stream INPUT…` and `evlog record webhooks --from FILE…`."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from os import PathLike
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa

from evlog._errors import InputError
from evlog._lake.layout import Lake
from evlog._record.derive import DEFAULT_SKEW_TOLERANCE, STATUS_FEED, WEBHOOK_FEED, Feed, Row
from evlog._record.recorder import DEFAULT_BATCH, Recorder, RecordSummary
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
) -> RecordSummary:
    """Import HERE status-stream captures (files, directories, '-' for stdin) into `lake`."""
    return _import(lake, inputs, STATUS_FEED, _store_status, coverage, skew_tolerance, stdin)


def record_webhook_files(
    lake: Lake | str | PathLike[str],
    inputs: Sequence[str],
    *,
    coverage: Sequence[Window] = (),
    skew_tolerance: timedelta = DEFAULT_SKEW_TOLERANCE,
    stdin: BinaryIO | None = None,
) -> RecordSummary:
    """Import saved eDRV webhook bodies (JSONL, one body or envelope a line) into `lake`."""
    return _import(lake, inputs, WEBHOOK_FEED, _store_webhooks, coverage, skew_tolerance, stdin)


def _import(
    lake: Lake | str | PathLike[str],
    inputs: Sequence[str],
    feed: Feed,
    store: Callable[[Recorder, list[str], BinaryIO | None], None],
    coverage: Sequence[Window],
    skew_tolerance: timedelta,
    stdin: BinaryIO | None,
) -> RecordSummary:
    captures = list(_captures(inputs))  # every input checked before the lake is created
    recorder = Recorder(Lake.create(lake), feed, skew_tolerance=skew_tolerance)
    store(recorder, captures, stdin)
    # Declared only now that every record of the import is durable: an import that dies or
    # fails part-way claims nothing (a claim over a window whose records were never stored
    # would count states as observed there); running it again stores the rest and claims it.
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
            yield from (
                str(p)
                for p in sorted(path.rglob("*"))
                if p.is_file() and not any(part.startswith(".") for part in p.parts)
            )
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


def _store_status(recorder: Recorder, captures: list[str], stdin: BinaryIO | None) -> None:
    for batch in _rebatched(_status_batches(captures, stdin), DEFAULT_BATCH):
        recorder.append_columns(batch)


def _status_batches(captures: list[str], stdin: BinaryIO | None) -> Iterator[pa.Table]:
    for capture in captures:
        with _opened(capture, stdin) as (stream, received_at):
            yield from here.split_capture_batches(stream, capture, received_at)


def _rebatched(batches: Iterator[pa.Table], size: int) -> Iterator[pa.Table]:
    """The records of `batches` in batches of `size` (the last may be smaller), whatever the
    captures they came from."""
    held: list[pa.Table] = []
    count = 0
    for batch in batches:
        held.append(batch)
        count += batch.num_rows
        while count >= size:
            records = pa.concat_tables(held)
            yield records.slice(0, size)
            held, count = [records.slice(size)], count - size
    if count:
        yield pa.concat_tables(held)


def _store_webhooks(recorder: Recorder, captures: list[str], stdin: BinaryIO | None) -> None:
    recorder.append_all(_webhook_rows(captures, stdin))


def _webhook_rows(captures: list[str], stdin: BinaryIO | None) -> Iterator[Row]:
    for capture in captures:
        with _opened(capture, stdin) as (stream, file_time):
            data = stream.read()  # saved webhook files are read whole (edrv.read_saved_webhooks)
        for index, saved in enumerate(edrv.read_saved_webhooks(data)):
            yield {
                "record_key": saved.record_key,
                "webhook_id": saved.webhook_id,
                "payload": saved.body,
                "headers": saved.headers,
                "received_at": saved.received_at or file_time,
                "arrival_index": index,
                "capture": capture,
            }
