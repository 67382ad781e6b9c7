"""The append path all recorders share: dedupe on identity, store raw, derive, write atomically."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import TypeVar

import pyarrow as pa

from evlog._faults import fault_point
from evlog._lake.layout import Lake, table_of_rows, write_files
from evlog._lake.schema import SCHEMAS, Table
from evlog._record.derive import DEFAULT_SKEW_TOLERANCE, Derived, Feed, Row

T = TypeVar("T")
DEFAULT_BATCH = 50_000


@dataclass
class RecordSummary:
    """What one recording run did."""

    recorded: int = 0  # new raw records stored
    duplicates: int = 0  # records already in the lake (or repeated in this run), skipped
    quarantined: int = 0  # stored records that could not (wholly) be parsed
    events: int = 0  # normalized observations written

    def add(self, other: RecordSummary) -> None:
        """Accumulate another run's or batch's counts into this one."""
        self.recorded += other.recorded
        self.duplicates += other.duplicates
        self.quarantined += other.quarantined
        self.events += other.events

    def line(self) -> str:
        return (
            f"recorded {self.recorded} records ({self.events} events), "
            f"{self.duplicates} duplicates, {self.quarantined} quarantined"
        )


class KnownKeys:
    """The record keys stored in one raw table, as far as this recorder has looked: a record's
    identity for deduplication, kept in one place so a bounded lookup can replace it.

    It reads only raw files it has not read before (those of other recorders on the lake, a
    compaction's merged file), and only under the write lock, when no batch is half written:
    a key is known only once its whole batch is durable.
    """

    def __init__(self, lake: Lake, table: Table) -> None:
        self.lake = lake
        self.table = table
        self._keys: set[str] = set()
        self._read: set[Path] = set()

    def __contains__(self, record_key: str) -> bool:
        return record_key in self._keys

    def refresh(self) -> bool:
        """Read the keys of the raw files that appeared since the last look; whether any did.
        Call under the lake's write lock."""
        while True:
            files = self.lake.files(self.table)
            new = [path for path in files if path not in self._read]
            try:
                self._keys |= self.lake.existing_keys(self.table, new)
            except FileNotFoundError:
                # A compaction deleted an input after listing it; its merged file, renamed in
                # before, holds the same keys: list again.
                continue
            self._read = set(files)
            return bool(new)

    def add(self, record_keys: set[str], files: list[Path]) -> None:
        """This recorder stored `record_keys` durably, in `files`."""
        self._keys |= record_keys
        self._read.update(files)


class Recorder:
    """Appends raw records of one feed to a lake, with their normalized events and quarantine."""

    def __init__(
        self,
        lake: Lake,
        feed: Feed,
        *,
        session_id: str | None = None,
        skew_tolerance: timedelta = DEFAULT_SKEW_TOLERANCE,
    ) -> None:
        self.lake = lake
        self.feed = feed
        self.session_id = session_id or uuid.uuid4().hex
        self.skew_tolerance = skew_tolerance
        self.summary = RecordSummary()
        self._known = KnownKeys(lake, feed.raw_table)
        with lake.write_lock():
            self._known.refresh()

    def is_known(self, record_key: str) -> bool:
        return record_key in self._known

    def append(self, raws: list[Row]) -> RecordSummary:
        """Store the records not seen before, all or nothing; returns this call's own counts.

        Deduplication and derivation run first against the keys known so far; then, under the
        lake's write lock, the keys of raw files written meanwhile (another recorder on the same
        lake) are read and the batch is narrowed (and derived again) if some of it is stored now.
        The files are declared in an intent before they are written, so a crash or an error in
        between removes them all: a record is stored with its events and quarantine rows or not
        at all, and the caller's retry (re-import, WAL recovery, redelivery) stores it once.
        """
        return self._append(raws, self._rows_to_store)

    def append_columns(self, batch: pa.Table) -> RecordSummary:
        """`append` for records given as columns of the raw table without `session_id` (extra
        columns, such as `here.RAW_BATCH`'s `text`, go to derivation only): the import path,
        which gives dedupe only each record's key (and builds no other per-record object)."""
        keys = batch.column("record_key").to_pylist()
        rows = [{"record_key": key, "position": position} for position, key in enumerate(keys)]

        def columns_to_store(fresh: list[Row]) -> tuple[pa.Table, Derived]:
            chosen = batch.take(pa.array([row["position"] for row in fresh], pa.int64()))
            chosen = chosen.append_column(
                "session_id", pa.repeat(pa.scalar(self.session_id), chosen.num_rows)
            )
            raw = chosen.select(SCHEMAS[self.feed.raw_table].names)
            return raw, self.feed.derive_table(chosen, self.skew_tolerance)

        return self._append(rows, columns_to_store)

    def _rows_to_store(self, fresh: list[Row]) -> tuple[pa.Table, Derived]:
        raw = table_of_rows(self.feed.raw_table, fresh)
        return raw, self.feed.derive(fresh, self.skew_tolerance)

    def _append(
        self, raws: list[Row], to_store: Callable[[list[Row]], tuple[pa.Table, Derived]]
    ) -> RecordSummary:
        """`append`'s steps; `to_store` gives the raw table and derivation of the fresh records."""
        fresh = self._unknown(raws)
        stored, derived = to_store(fresh)
        with self.lake.write_lock():
            if self._known.refresh():
                narrowed = self._unknown(fresh)
                if len(narrowed) < len(fresh):
                    fresh = narrowed
                    stored, derived = to_store(fresh)
            batch = RecordSummary(recorded=len(fresh), duplicates=len(raws) - len(fresh))
            if fresh:
                raw_files = self._store(stored, derived)
                batch.events = derived.event_count
                batch.quarantined = derived.quarantined_records
                self._known.add({raw["record_key"] for raw in fresh}, raw_files)
        self.summary.add(batch)
        return batch

    def _unknown(self, raws: list[Row]) -> list[Row]:
        """The records of `raws` not known to be stored, each once, stamped with this session."""
        fresh: list[Row] = []
        batch_keys: set[str] = set()
        for raw in raws:
            key = raw["record_key"]
            if key in self._known or key in batch_keys:
                continue
            batch_keys.add(key)
            raw["session_id"] = self.session_id
            fresh.append(raw)
        return fresh

    def _store(self, stored: pa.Table, derived: Derived) -> list[Path]:
        """Write one batch as one all-or-nothing step (under the write lock); the raw files."""
        lake, feed = self.lake, self.feed
        events = lake.plan(feed.event_table, derived.events)
        quarantine = lake.plan(
            Table.QUARANTINE,
            table_of_rows(Table.QUARANTINE, derived.quarantine),
            source=feed.source.value,
        )
        raw = lake.plan(feed.raw_table, stored)
        with lake.intent(delete_on_crash=[f.path for f in events + quarantine + raw]):
            write_files(events)
            fault_point("recorder.after_events")
            write_files(quarantine)
            fault_point("recorder.after_quarantine")
            raw_files = write_files(raw)
            fault_point("recorder.after_raw")
        return raw_files

    def append_all(self, raws: Iterable[Row], batch_size: int = DEFAULT_BATCH) -> RecordSummary:
        for batch in batched(raws, batch_size):
            self.append(batch)
        return self.summary

    def write_coverage(
        self, covered_from: datetime, covered_to: datetime, kind: str = "declared"
    ) -> None:
        row = {
            "session_id": self.session_id,
            "covered_from": covered_from,
            "covered_to": covered_to,
            "kind": kind,
        }
        with self.lake.write_lock():
            self.lake.write_rows(Table.COVERAGE, [row], source=self.feed.source.value)


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def utc_now() -> datetime:
    return datetime.now(UTC)
