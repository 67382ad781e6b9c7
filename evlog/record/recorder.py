"""The append path all recorders share: dedupe on identity, store raw, derive, write atomically."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import TypeVar

from evlog.lake import Lake
from evlog.record.derive import DEFAULT_SKEW_TOLERANCE, Feed, Row
from evlog.schema import Table

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
        self._known_keys = lake.existing_keys(feed.raw_table)

    def is_known(self, record_key: str) -> bool:
        return record_key in self._known_keys

    def append(self, raws: list[Row]) -> RecordSummary:
        """Store the records not seen before; returns this call's own counts."""
        fresh: list[Row] = []
        batch_keys: set[str] = set()
        for raw in raws:
            key = raw["record_key"]
            if key in self._known_keys or key in batch_keys:
                continue
            batch_keys.add(key)
            raw["session_id"] = self.session_id
            fresh.append(raw)
        batch = RecordSummary(recorded=len(fresh), duplicates=len(raws) - len(fresh))
        if fresh:
            # Derived tables first, raw last: the raw record_key is what marks a record as
            # stored, so a crash between the writes leaves it unmarked and the next delivery
            # (a re-import, WAL recovery, Kafka redelivery) writes it again. The worst case is
            # a repeated event row, which replay counts once (exact duplicate).
            derived = self.feed.derive(fresh, self.skew_tolerance)
            derived.write(self.lake, self.feed)
            self.lake.write_rows(self.feed.raw_table, fresh)
            batch.events = derived.event_count
            batch.quarantined = derived.quarantined_records
            # Known only now that every file of the batch is durable: a write that raised leaves
            # its records pending, so the caller's retry (WAL recovery, redelivery) stores them.
            self._known_keys |= batch_keys
        self.summary.add(batch)
        return batch

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
        self.lake.write_rows(Table.COVERAGE, [row], source=self.feed.source.value)


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def utc_now() -> datetime:
    return datetime.now(UTC)
