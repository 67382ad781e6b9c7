"""Offline importers: `evlog record stream INPUT…` and `evlog record webhooks --from FILE…`."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from os import PathLike
from pathlib import Path
from typing import BinaryIO

from evlog._errors import InputError
from evlog._lake.layout import Lake
from evlog._record.derive import DEFAULT_SKEW_TOLERANCE, STATUS_FEED, WEBHOOK_FEED, Feed, Row
from evlog._record.recorder import Recorder, RecordSummary
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
    return _import(lake, inputs, STATUS_FEED, _status_rows, coverage, skew_tolerance, stdin)


def record_webhook_files(
    lake: Lake | str | PathLike[str],
    inputs: Sequence[str],
    *,
    coverage: Sequence[Window] = (),
    skew_tolerance: timedelta = DEFAULT_SKEW_TOLERANCE,
    stdin: BinaryIO | None = None,
) -> RecordSummary:
    """Import saved eDRV webhook bodies (JSONL, one body or envelope a line) into `lake`."""
    return _import(lake, inputs, WEBHOOK_FEED, _webhook_rows, coverage, skew_tolerance, stdin)


def _import(
    lake: Lake | str | PathLike[str],
    inputs: Sequence[str],
    feed: Feed,
    rows: Callable[[list[str], BinaryIO | None], Iterator[Row]],
    coverage: Sequence[Window],
    skew_tolerance: timedelta,
    stdin: BinaryIO | None,
) -> RecordSummary:
    captures = list(_captures(inputs))  # every input checked before the lake is created
    recorder = Recorder(Lake.create(lake), feed, skew_tolerance=skew_tolerance)
    summary = recorder.append_all(rows(captures, stdin))
    # Declared only now that every record of the import is durable: an import that dies or
    # fails part-way claims nothing (a claim over a window whose records were never stored
    # would count states as observed there); running it again stores the rest and claims it.
    for covered_from, covered_to in coverage:
        recorder.write_coverage(covered_from, covered_to, kind="declared")
    return summary


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


def _status_rows(captures: list[str], stdin: BinaryIO | None) -> Iterator[Row]:
    for capture in captures:
        data, received_at = _read(capture, stdin)
        for record in here.split_capture(data, capture, received_at):
            yield record.as_row()


def _webhook_rows(captures: list[str], stdin: BinaryIO | None) -> Iterator[Row]:
    for capture in captures:
        data, file_time = _read(capture, stdin)
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
