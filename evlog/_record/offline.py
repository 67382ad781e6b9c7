"""Offline importers: `evlog record stream INPUT…` and `evlog record webhooks --from FILE…`."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from os import PathLike
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa

from evlog._errors import InputError
from evlog._lake.layout import Lake, partition_days
from evlog._lake.ledger import CaptureEntry, CaptureLedger
from evlog._lake.schema import TIMESTAMP
from evlog._record.derive import DEFAULT_SKEW_TOLERANCE, STATUS_FEED, WEBHOOK_FEED, Feed, Row
from evlog._record.recorder import DEFAULT_DEDUPE_HORIZON, Recorder, RecordSummary
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
) -> RecordSummary:
    """Import HERE status-stream captures (files, directories, '-' for stdin) into `lake`."""
    return _import(
        lake, inputs, STATUS_FEED, _status_rows, coverage, skew_tolerance, stdin, dedupe_horizon
    )


def record_webhook_files(
    lake: Lake | str | PathLike[str],
    inputs: Sequence[str],
    *,
    coverage: Sequence[Window] = (),
    skew_tolerance: timedelta = DEFAULT_SKEW_TOLERANCE,
    stdin: BinaryIO | None = None,
    dedupe_horizon: timedelta = DEFAULT_DEDUPE_HORIZON,
) -> RecordSummary:
    """Import saved eDRV webhook bodies (JSONL, one body or envelope a line) into `lake`."""
    return _import(
        lake, inputs, WEBHOOK_FEED, _webhook_rows, coverage, skew_tolerance, stdin, dedupe_horizon
    )


def _import(
    lake: Lake | str | PathLike[str],
    inputs: Sequence[str],
    feed: Feed,
    rows: Callable[[bytes, str, datetime], Iterator[Row]],
    coverage: Sequence[Window],
    skew_tolerance: timedelta,
    stdin: BinaryIO | None,
    dedupe_horizon: timedelta,
) -> RecordSummary:
    captures = list(_captures(inputs))  # every input checked before the lake is created
    recorder = Recorder(
        Lake.create(lake), feed, skew_tolerance=skew_tolerance, dedupe_horizon=dedupe_horizon
    )
    ledger = CaptureLedger(recorder.lake, feed.source)
    recorded: list[CaptureEntry] = []
    summary = recorder.append_all(_new_records(captures, stdin, rows, ledger, recorder, recorded))
    # Declared only now that every record of the import is durable: an import that dies or
    # fails part-way claims nothing (a claim over a window whose records were never stored
    # would count states as observed there; a ledger entry would skip the capture next time);
    # running it again stores the rest and claims it.
    ledger.add(recorded, recorder.session_id)
    for covered_from, covered_to in coverage:
        recorder.write_coverage(covered_from, covered_to, kind="declared")
    return summary


def _new_records(
    captures: list[str],
    stdin: BinaryIO | None,
    rows: Callable[[bytes, str, datetime], Iterator[Row]],
    ledger: CaptureLedger,
    recorder: Recorder,
    recorded: list[CaptureEntry],
) -> Iterator[Row]:
    """The records of every capture the ledger does not know whole; each capture read is added
    to `recorded` once its records have all been handed on."""
    for capture in captures:
        data, received_at = _read(capture, stdin)
        name = capture if capture == STDIN else str(Path(capture).resolve())
        size, digest = len(data), hashlib.sha256(data).hexdigest()
        known = ledger.recorded_whole(size, digest)
        if known is not None:  # these very bytes were recorded whole: nothing to split
            recorder.summary.known_captures += 1
            recorder.summary.duplicates += known.records
            continue
        # A grown capture's first part may have gone to another (older) partition.
        recorder.known.also_days |= ledger.days_of(name)
        count = 0
        for row in rows(data, capture, received_at):
            count += 1
            yield row
        day = partition_days(pa.array([received_at], TIMESTAMP))[0].as_py()
        recorded.append(CaptureEntry(name, size, digest, count, day))


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


def _read(capture: str, stdin: BinaryIO | None) -> tuple[bytes, datetime]:
    """The capture's bytes and its receive time: a file's modification time, now for stdin."""
    if capture == STDIN:
        return (stdin or sys.stdin.buffer).read(), datetime.now(UTC)
    path = Path(capture)
    try:
        data, mtime = path.read_bytes(), path.stat().st_mtime
    except OSError as exc:
        raise InputError(f"cannot read {capture}: {exc.strerror}") from None
    try:
        return data, datetime.fromtimestamp(mtime, UTC)
    except (OverflowError, ValueError):  # an mtime beyond the years a datetime holds
        return data, datetime.now(UTC)


def _status_rows(data: bytes, capture: str, received_at: datetime) -> Iterator[Row]:
    for record in here.split_capture(data, capture, received_at):
        yield record.as_row()


def _webhook_rows(data: bytes, capture: str, file_time: datetime) -> Iterator[Row]:
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
