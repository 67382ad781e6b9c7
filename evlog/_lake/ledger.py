"""The capture ledger: which capture files an import has recorded whole, so that recording one
again is recognised from its bytes' hash without splitting it into records, and a grown capture
is deduplicated against the partition its first part went to (however long ago).

One small row per capture per import, under ``<lake>/_captures/source=<src>/``; written only
after every record of the import is durable, so an entry never claims a capture whose records are
not all stored.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq

from evlog._lake.layout import (
    Lake,
    atomic_write_parquet,
    atomic_write_text,
    new_file_name,
    parquet_files,
)
from evlog._lake.names import Source
from evlog._lake.schema import CAPTURE_LEDGER as SCHEMA

LEDGER = "_captures"


@dataclass(frozen=True)
class CaptureEntry:
    """One capture an import recorded whole."""

    capture: str
    size: int
    sha256: str
    records: int
    day: int


class CaptureLedger:
    """The ledger of one source, read once (it holds a row per capture, not per record)."""

    def __init__(self, lake: Lake, source: Source) -> None:
        self.lake = lake
        self.folder = lake.root / LEDGER / f"source={source.value}"
        files = parquet_files(self.folder)
        rows = pq.ParquetDataset([str(f) for f in files], schema=SCHEMA).read() if files else None
        self.entries = [
            CaptureEntry(r["capture"], r["size"], r["sha256"], r["records"], r["day"])
            for r in ([] if rows is None else rows.to_pylist())
        ]
        self._by_content = {(e.size, e.sha256): e for e in self.entries}

    def recorded_whole(self, size: int, sha256: str) -> CaptureEntry | None:
        """The entry of a capture with exactly these bytes, if one was recorded."""
        return self._by_content.get((size, sha256))

    def has_size(self, size: int) -> bool:
        """Whether some capture of exactly `size` bytes was recorded (only then is hashing a
        file before reading it worth it)."""
        return any(size == known for known, _ in self._by_content)

    def days_of(self, capture: str) -> set[int]:
        """The partitions earlier imports of a capture of this name went to."""
        return {e.day for e in self.entries if e.capture == capture}

    def add(self, entries: Iterable[CaptureEntry], session_id: str) -> None:
        """Record `entries` (call once their records are durable), as one file."""
        entries = list(entries)
        if not entries:
            return
        now = datetime.now(UTC)
        table = pa.Table.from_pylist(
            [
                {
                    "capture": e.capture,
                    "size": e.size,
                    "sha256": e.sha256,
                    "records": e.records,
                    "day": e.day,
                    "recorded_at": now,
                    "session_id": session_id,
                }
                for e in entries
            ],
            schema=SCHEMA,
        )
        with self.lake.write_lock():
            atomic_write_parquet(table, self.folder / new_file_name())
        for e in entries:
            self._by_content[(e.size, e.sha256)] = e
        self.entries.extend(entries)


class StreamMarks:
    """Per Kafka partition, the highest offset the lake stores from one stream (its high-water
    marks): what a consumer's restart checks its resumption against, kept in one small file so
    that it does not scan the raw table. Advanced only after a batch is durable, so it never
    claims an offset the lake does not hold (it may lag by the batch a crash interrupted)."""

    def __init__(self, lake: Lake, capture: str) -> None:
        self.lake = lake
        self.capture = capture
        name = hashlib.sha256(capture.encode()).hexdigest()[:16]
        self.path = lake.root / LEDGER / "streams" / f"{name}.json"

    def read(self) -> dict[int, int] | None:
        """The marks, or None if none were ever written here."""
        try:
            document = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        return {int(p): int(o) for p, o in document["offsets"].items()}

    def advance(self, offsets: Mapping[int, int]) -> None:
        """Raise the marks to `offsets` (partition → highest offset of a durable batch)."""
        if not offsets:
            return
        with self.lake.write_lock():
            marks = self.read() or {}
            for partition, offset in offsets.items():
                marks[partition] = max(offset, marks.get(partition, -1))
            body = {
                "capture": self.capture,
                "offsets": {str(p): o for p, o in sorted(marks.items())},
            }
            atomic_write_text(self.path, json.dumps(body) + "\n")
