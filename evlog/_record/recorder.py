"""The append path all recorders share: dedupe on identity, store raw, derive, write atomically."""

from __future__ import annotations

import logging
import math
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar, cast

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from evlog._errors import LakeError, UsageError
from evlog._faults import fault_point
from evlog._lake.layout import (
    Lake,
    day_name,
    parquet_files,
    partition_day,
    partition_days,
    table_of_rows,
    write_files,
)
from evlog._lake.names import DATE_COLUMN, Table
from evlog._lake.schema import SCHEMAS
from evlog._record.derive import DEFAULT_SKEW_TOLERANCE, Derived, Feed, Row
from evlog._sources._common import HashSet
from evlog._sources.ocpp import load_status_map

log = logging.getLogger(__name__)

T = TypeVar("T")
DEFAULT_BATCH = 50_000
# How far from a record's own date partition its duplicates are looked for: longer than a
# webhook sender's retry window and a Kafka consumer's restart (see `KnownKeys`).
DEFAULT_DEDUPE_HORIZON = timedelta(days=3)


@dataclass
class RecordSummary:
    """What one recording run did."""

    recorded: int = 0  # new raw records stored
    duplicates: int = 0  # records already in the lake (or repeated in this run), skipped
    quarantined: int = 0  # stored records that could not (wholly) be parsed
    events: int = 0  # normalized observations written
    known_captures: int = 0  # capture files recognised as recorded whole (their records skipped)
    # The partition directories this run wrote files to (what an import's compaction merges).
    partitions: set[Path] = field(default_factory=set)

    def add(self, other: RecordSummary) -> None:
        """Accumulate another run's or batch's counts into this one."""
        self.recorded += other.recorded
        self.duplicates += other.duplicates
        self.quarantined += other.quarantined
        self.events += other.events
        self.known_captures += other.known_captures
        self.partitions |= other.partitions

    def nothing_recorded(self) -> str | None:
        """Why this run recorded nothing usable, if it did not: no records at all in its inputs,
        or every new record quarantined (often the wrong command for the files: webhooks given
        to `record stream`). None if it recorded something, or only what the lake held."""
        if self.recorded == 0 and self.duplicates == 0 and self.known_captures == 0:
            return "the inputs held no records"
        if self.recorded and self.quarantined == self.recorded:
            return (
                f"every one of the {self.recorded} new records was quarantined (`evlog lake info` "
                "shows why): are these files of the feed this command records?"
            )
        return None

    def line(self) -> str:
        known = (
            f" ({self.known_captures} capture{'s' * (self.known_captures != 1)} recorded before)"
            if self.known_captures
            else ""
        )
        return (
            f"recorded {self.recorded} records ({self.events} events), "
            f"{self.duplicates} duplicates{known}, {self.quarantined} quarantined"
        )


class KnownKeys:
    """Which record keys one raw table already stores, looked up without loading its history.

    A record's duplicates are looked for within the *dedupe horizon*: in the table's date
    partitions from `horizon` before to `horizon` after the record's own (the partition of its
    `received_at`), and in any partition named by `also_days` (where earlier imports of the same
    capture went). Per partition it keeps only a 64-bit hash of each key (8 bytes a record, read
    once with DuckDB's vectorised `hash`), and confirms a hash hit against the keys themselves;
    partitions no batch needs any more are dropped (`MAX_DAYS` kept, or one batch's if more).
    So start-up costs the horizon's days, not the lake, and a batch costs its own size. Replay
    counts exact duplicates once, so a duplicate older than the horizon never changes a figure
    (docs/lake.md, "Identity and duplicates").

    It reads only files it has not read before (another recorder's, a compaction's merged file)
    and only under the write lock, when no batch is half written: a key is known only once its
    whole batch is durable.
    """

    MAX_DAYS = 64

    def __init__(
        self, lake: Lake, table: Table, horizon: timedelta = DEFAULT_DEDUPE_HORIZON
    ) -> None:
        self.lake = lake
        self.table = table
        self.reach = max(0, math.ceil(horizon / timedelta(days=1)))
        self._days: OrderedDict[int, _DayKeys] = OrderedDict()
        self._con = duckdb.connect()
        self.also_days: set[int] = set()
        self.deferred_run: int | None = None  # see `defer`
        self.deferred_days: set[int] = set()

    def unknown(self, keys: pa.Array[Any], days: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        """For each record (its key and partition day), whether no stored record has its key.
        Call under the lake's write lock."""
        if not len(keys):
            return np.zeros(0, np.bool_)
        needed = self._needed(set(np.unique(days).tolist()))
        for day in needed:
            self._load(day)
        # The least recently needed partitions go; a batch's own (however many) stay until
        # the next batch, which `add` and `refresh` keep up to date.
        while len(self._days) > max(self.MAX_DAYS, len(needed)):
            self._days.popitem(last=False)
        if not any(self._days[day].nbytes for day in needed):  # nothing held: no hash needed
            return np.ones(len(keys), np.bool_)
        hashes = self._hash(keys)
        hit = np.zeros(len(keys), dtype=bool)
        for day in needed:  # each record looks only at the partitions within its own reach
            near = self._reaches(days, day)
            hit[near] |= self._days[day].contains(hashes[near])
        unknown = np.ones(len(keys), np.bool_)
        if not hit.any():
            return unknown
        # Confirm against the keys themselves: a hash hit may (very rarely) be a collision.
        candidates = np.flatnonzero(hit)
        candidate_keys = cast(list[str], keys.take(candidates).to_pylist())
        stored = self._stored_days(candidate_keys, needed)
        for i, key in zip(candidates.tolist(), candidate_keys, strict=True):
            unknown[i] = not any(
                abs(found - days[i]) <= self.reach or found in self.also_days
                for found in stored.get(key, ())
            )
        return unknown

    def _reaches(self, days: npt.NDArray[np.int64], day: int) -> npt.NDArray[np.bool_]:
        """Which of `days` have `day` within their reach (the horizon, or a day named by
        `also_days`)."""
        near = np.abs(days - day) <= self.reach
        return near | (day in self.also_days)

    def add(
        self,
        keys: pa.Array[Any],
        days: npt.NDArray[np.int64],
        files: list[Path],
        unheld: npt.NDArray[np.bool_] | None = None,
    ) -> None:
        """This recorder stored `keys` (with their partition days) durably, in `files`; the keys
        marked `unheld` are not held (`defer`), only their files are known as read."""
        if unheld is not None:
            keys, days = keys.filter(pa.array(~unheld)), days[~unheld]
        if len(keys):
            hashes = self._hash(keys)
            for day in np.unique(days).tolist():
                if day in self._days:
                    self._days[day].add(hashes[days == day])
        for path in files:
            file_day = partition_day(path.parent)
            if file_day in self._days:
                self._days[file_day].files.add(path)

    def defer(self, run: int, days: npt.NDArray[np.int64]) -> None:
        """The keys of key run `run` stored in the partitions of `days` are not held: they are
        distinct among themselves (`here.RAW_BATCH`), so only records of another run need to see
        them, and `hold_deferred` brings them in (from the files) before such a record is looked
        up. An import of one large capture so holds no key of its own."""
        self.deferred_run = run
        self.deferred_days.update(np.unique(days).tolist())

    def hold_deferred(self) -> None:
        """Hold the deferred run's keys too: its partitions are read afresh when next needed."""
        for day in self.deferred_days:
            self._days.pop(day, None)
        self.deferred_run, self.deferred_days = None, set()

    def refresh(self) -> bool:
        """Read the keys of files that appeared (or were merged) in the partitions kept; whether
        any did. Call under the lake's write lock."""
        return any([self._load(day) for day in list(self._days)])

    @property
    def nbytes(self) -> int:
        """The key hashes held, in bytes."""
        return sum(day.nbytes for day in self._days.values())

    def loaded_days(self) -> list[str]:
        """The partitions whose key hashes are held, oldest first (what a batch has cost)."""
        return [day_name(day) for day in sorted(self._days)]

    def _needed(self, days: set[int]) -> list[int]:
        needed = sorted(
            day
            for day in {d + offset for d in days for offset in range(-self.reach, self.reach + 1)}
            | self.also_days
            if _FIRST_DAY <= day <= _LAST_DAY  # a partition only a `date` can name
        )
        for day in needed:
            if day in self._days:
                self._days.move_to_end(day)
        return needed

    def _load(self, day: int) -> bool:
        """Bring one partition's hashes up to date with its files (new files read; if one
        vanished, a compaction merged it: read the partition afresh)."""
        while True:
            files = set(parquet_files(self.lake.table_dir(self.table) / f"date={day_name(day)}"))
            known = self._days.get(day)
            if known is None or not known.files <= files:
                known = _DayKeys()
            new = sorted(files - known.files)
            try:
                if new:
                    known.add(self._file_hashes(new))
            except duckdb.IOException:
                continue  # a compaction deleted an input after it was listed: list again
            known.files |= set(new)
            self._days[day] = known
            self._days.move_to_end(day)
            return bool(new)

    def _hash(self, keys: pa.Array[Any]) -> npt.NDArray[np.uint64]:
        self._con.register("batch_keys", pa.table({"k": keys}))
        try:
            column = self._con.execute("SELECT hash(k) AS h FROM batch_keys").fetchnumpy()["h"]
        finally:
            self._con.unregister("batch_keys")
        return np.asarray(column, dtype=np.uint64)

    def _file_hashes(self, files: list[Path]) -> npt.NDArray[np.uint64]:
        result = self._con.execute(
            "SELECT hash(record_key) AS h FROM read_parquet($files) WHERE record_key IS NOT NULL",
            {"files": [str(f) for f in files]},
        ).fetchnumpy()["h"]
        return np.asarray(result, dtype=np.uint64)

    def _stored_days(self, candidates: list[str], days: list[int]) -> dict[str, set[int]]:
        """For each of `candidates` stored in the partitions of `days`, those partitions."""
        files = [str(f) for day in days if day in self._days for f in self._days[day].files]
        if not files:
            return {}
        self._con.register("wanted", pa.table({"k": pa.array(candidates, pa.string())}))
        try:
            rows = self._con.execute(
                "SELECT DISTINCT record_key, filename FROM read_parquet($files, filename = true) "
                "WHERE record_key IN (SELECT k FROM wanted)",
                {"files": files},
            ).fetchall()
        finally:
            self._con.unregister("wanted")
        found: dict[str, set[int]] = {}
        for key, filename in rows:
            found.setdefault(key, set()).add(partition_day(Path(filename).parent))
        return found


_FIRST_DAY = (date.min - date(1970, 1, 1)).days
_LAST_DAY = (date.max - date(1970, 1, 1)).days


class _DayKeys(HashSet):
    """The key hashes of one date partition, and the files they came from."""

    def __init__(self) -> None:
        super().__init__()
        self.files: set[Path] = set()


class Recorder:
    """Appends raw records of one feed to a lake, with their normalized events and quarantine."""

    def __init__(
        self,
        lake: Lake,
        feed: Feed,
        *,
        session_id: str | None = None,
        skew_tolerance: timedelta = DEFAULT_SKEW_TOLERANCE,
        dedupe_horizon: timedelta = DEFAULT_DEDUPE_HORIZON,
    ) -> None:
        if dedupe_horizon < timedelta(0):
            raise UsageError("--dedupe-horizon: must not be negative")
        self.lake = lake
        self.feed = feed
        self.session_id = session_id or uuid.uuid4().hex
        self.skew_tolerance = skew_tolerance
        self.summary = RecordSummary()
        self.known = KnownKeys(lake, feed.raw_table, dedupe_horizon)
        # the lake's OCPP → OCPI mapping, as it is when the recorder starts (`evlog lake
        # rebuild` re-derives what was recorded with an older one)
        self.status_map = load_status_map(lake.root)

    def append(self, raws: list[Row]) -> RecordSummary:
        """Store the records not seen before, all or nothing; returns this call's own counts.

        Under the lake's write lock the batch is narrowed to the records no stored one matches
        (`KnownKeys`), then derived outside it; taking the lock again, files that appeared
        meanwhile (another recorder on the same lake) are read and the batch is narrowed (and
        derived again) if some of it is stored now. The files are declared in an intent before
        they are written, so a crash or an error in between removes them all: a record is stored
        with its events and quarantine rows or not at all, and the caller's retry (re-import, WAL
        recovery, redelivery) stores it once.
        """
        keys = pa.array([raw["record_key"] for raw in raws], pa.string())

        def rows_to_store(fresh: npt.NDArray[np.int64]) -> tuple[pa.Table, Derived]:
            rows = [raws[i] for i in fresh.tolist()]
            for row in rows:
                row["session_id"] = self.session_id
            raw = table_of_rows(self.feed.raw_table, rows)
            return raw, self.feed.derive(rows, self.skew_tolerance, self.status_map)

        return self._append(keys, self._days(raws), rows_to_store)

    def append_columns(self, batch: pa.Table) -> RecordSummary:
        """`append` for records given as columns of the raw table without `session_id` (extra
        columns, such as `here.RAW_BATCH`'s `text`, go to derivation only): the import path,
        which builds no per-record object."""
        keys = batch.column("record_key").combine_chunks()
        times = batch.column(DATE_COLUMN[self.feed.raw_table])
        days = _as_int64(partition_days(times))  # received_at is never null

        def columns_to_store(fresh: npt.NDArray[np.int64]) -> tuple[pa.Table, Derived]:
            chosen = batch if len(fresh) == batch.num_rows else batch.take(fresh)
            chosen = chosen.append_column(
                "session_id", pa.repeat(pa.scalar(self.session_id), chosen.num_rows)
            )
            raw = chosen.select(SCHEMAS[self.feed.raw_table].names)
            return raw, self.feed.derive_table(chosen, self.skew_tolerance, self.status_map)

        runs = None
        if "key_run" in batch.column_names:
            runs = np.asarray(
                batch.column("key_run").fill_null(pa.scalar(-1, pa.int64())), np.int64
            )
        return self._append(keys, days, columns_to_store, runs)

    def _append(
        self,
        keys: pa.Array[Any],
        days: npt.NDArray[np.int64],
        to_store: Callable[[npt.NDArray[np.int64]], tuple[pa.Table, Derived]],
        runs: npt.NDArray[np.int64] | None = None,
    ) -> RecordSummary:
        """`append`'s steps: `keys` and `days` are the records' identities and partitions,
        `to_store` gives the raw table and derivation of the records at the positions given
        (in order, stamped with this session); `runs`, each record's key run (-1: none), lets
        the last run's keys go unheld (`KnownKeys.defer`)."""
        last_run = -1 if runs is None or not len(runs) else int(runs[-1])
        # one key run's keys are distinct by construction (`here.RAW_BATCH`): no check for repeats
        one_run = last_run >= 0 and runs is not None and bool((runs == last_run).all())
        with self.lake.write_lock():
            if self.known.deferred_run is not None and (
                runs is None or bool((runs != self.known.deferred_run).any())
            ):
                self.known.hold_deferred()  # a record of another run may repeat one of it
            fresh = self._unknown(keys, days, one_run)
        stored, derived = to_store(fresh)
        with self.lake.write_lock():
            derive_again = self._take_status_map()
            if self.known.refresh():
                narrowed = fresh[self._unknown(keys.take(fresh), days[fresh], one_run)]
                if len(narrowed) < len(fresh):
                    fresh = narrowed
                    derive_again = True
            if derive_again:
                stored, derived = to_store(fresh)
            batch = RecordSummary(recorded=len(fresh), duplicates=len(keys) - len(fresh))
            if len(fresh):
                raw_files = self._store(stored, derived)
                batch.events = derived.event_count
                batch.quarantined = derived.quarantined_records
                unheld = None
                if runs is not None and last_run >= 0:
                    unheld = runs[fresh] == last_run
                    self.known.defer(last_run, days[fresh][unheld])
                self.known.add(keys.take(fresh), days[fresh], raw_files, unheld)
        self.summary.add(batch)
        return batch

    def _take_status_map(self) -> bool:
        """Under the write lock: whether the lake's OCPP → OCPI mapping changed since this
        recorder last read it (an `evlog lake rebuild --status-map` meanwhile), taking the new
        one; a batch is then derived again, so every batch stored after a rebuild has its
        mapping. A mapping file damaged meanwhile (edited by hand) keeps the one in use, with a
        warning: a live recorder must not stop, nor set its records aside, over it."""
        try:
            current = load_status_map(self.lake.root)
        except LakeError as exc:
            log.warning("keeping the OCPP status map in use: %s", exc)
            return False
        if current == self.status_map:
            return False
        self.status_map = current
        return True

    def _days(self, raws: list[Row]) -> npt.NDArray[np.int64]:
        """Each record's date partition in the raw table."""
        column = DATE_COLUMN[self.feed.raw_table]
        times = pa.array(
            [raw[column] for raw in raws], SCHEMAS[self.feed.raw_table].field(column).type
        )
        return _as_int64(partition_days(times))  # received_at is never null

    def _unknown(
        self, keys: pa.Array[Any], days: npt.NDArray[np.int64], distinct: bool = False
    ) -> npt.NDArray[np.int64]:
        """The positions of the records no stored record matches, each key once (its first
        such record); `distinct`: the keys are known to be distinct (one key run). Call under
        the write lock."""
        unknown = np.flatnonzero(self.known.unknown(keys, days))
        if distinct:
            return unknown
        candidates = keys if len(unknown) == len(keys) else keys.take(unknown)
        if pc.count_distinct(candidates).as_py() == len(candidates):  # the usual case
            return unknown
        encoded = cast("pa.DictionaryArray[Any, Any]", pc.dictionary_encode(candidates))
        codes = encoded.indices
        _, first = np.unique(np.asarray(codes, np.int64), return_index=True)
        return unknown[np.sort(first)]

    def _store(self, stored: pa.Table, derived: Derived) -> list[Path]:
        """Write one batch as one all-or-nothing step (under the write lock); the raw files."""
        lake, feed = self.lake, self.feed
        events = [
            planned
            for table, rows in derived.event_tables(feed)
            for planned in lake.plan(table, rows)
        ]
        quarantine = lake.plan(
            Table.QUARANTINE,
            table_of_rows(Table.QUARANTINE, derived.quarantine),
            source=feed.source.value,
        )
        metadata = lake.plan(Table.ENTITY_METADATA, derived.metadata)
        raw = lake.plan(feed.raw_table, stored)
        planned = events + quarantine + metadata + raw
        with lake.intent(delete_on_crash=[f.path for f in planned]):
            written = write_files(events)
            fault_point("recorder.after_events")
            written += write_files(quarantine)
            fault_point("recorder.after_quarantine")
            written += write_files(metadata)
            raw_files = write_files(raw)
            fault_point("recorder.after_raw")
        self.summary.partitions.update(path.parent for path in written + raw_files)
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
            written = self.lake.write_rows(Table.COVERAGE, [row], source=self.feed.source.value)
        self.summary.partitions.update(path.parent for path in written)


def _as_int64(values: pa.Array[Any] | pa.ChunkedArray[Any]) -> npt.NDArray[np.int64]:
    return np.asarray(values.cast(pa.int64()), np.int64)


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch
