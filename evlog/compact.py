"""`evlog lake compact`: merge small files into sorted, well-sized ones, and keep state checkpoints.

Compaction, per table and partition directory:

1. list the partition's ``*.parquet`` files (a snapshot: files a recorder adds later stay as they
   are);
2. read exactly those files, sort the rows (event tables by entity and time, so that a reader's row
   groups each hold few entities and narrow time ranges) and write them as one file with row groups
   of `ROW_GROUP_ROWS` rows, atomically (write, fsync, rename);
3. only then delete the listed inputs.

Between 2 and 3 a reader may see a record twice, never zero times. That is harmless for every
table: the replay counts exact duplicate observations once (rule 3); raw tables are deduplicated by
`record_key`; quarantine counts use ``count(DISTINCT record_key)``; coverage is a union of
intervals. (`evlog lake info` row counts may briefly include the duplicates.)
Content is preserved exactly (as a multiset of rows): nothing is deduplicated or rewritten.
A query that listed the old files before step 3 and opens them after fails with "file not found";
reopening the lake (`ReplayEngine.refresh`) reads the new file.

Checkpoints (``<lake>/checkpoints/status_events/date=D/``): for every UTC day D after the first
event day, the state of every EVSE at D 00:00 UTC, i.e. its observation that holds at that instant
(rule 3), carrying the location and arrival columns of its latest-arriving event before D (which
decide its `location_id` in reports). A replay whose window starts on or after D reads that file
plus the event partitions from D on, instead of the whole history. `manifest.json` records the
event files each checkpoint was computed from; a checkpoint is used only while no event file dated
before D changed since (a late event recorded into an old partition makes the replay fall back to
an older checkpoint or to the full history, until the next compaction).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from evlog import rollups as rollup_module
from evlog.lake import (
    Lake,
    atomic_write_parquet,
    atomic_write_text,
    exclusive_lock,
    fsync_dir,
    parquet_files,
)
from evlog.schema import SCHEMAS, STATUS_EVENTS, Table

# DuckDB's own row group size: one row group is one unit of parallel work for its Parquet reader.
ROW_GROUP_ROWS = 122_880
COMPACTED_PREFIX = "compact-"
CHECKPOINT_DIR = Path("checkpoints") / Table.STATUS_EVENTS.value
MANIFEST = "manifest.json"
COMPACT_LOCK = ".compact.lock"

# Sort order of each table's compacted files: entity then time for event tables, arrival otherwise.
SORT_KEYS: dict[Table, tuple[str, ...]] = {
    Table.RAW_STATUS: ("received_at", "capture", "arrival_index", "record_key"),
    Table.RAW_WEBHOOKS: ("received_at", "arrival_index", "record_key"),
    Table.RAW_POLLS: ("received_at", "arrival_index", "record_key"),
    Table.STATUS_EVENTS: ("evse_id", "event_time", "received_at", "arrival_index", "evse_index"),
    Table.CONNECTIVITY_EVENTS: ("station_id", "event_time", "received_at", "arrival_index"),
    Table.QUARANTINE: ("received_at", "capture", "arrival_index", "record_key"),
    Table.COVERAGE: ("session_id", "covered_from", "covered_to"),
}


@dataclass
class CompactSummary:
    partitions: int = 0  # partitions rewritten
    files_before: int = 0  # files merged
    files_after: int = 0
    rows: int = 0
    checkpoints: int = 0  # checkpoint days (re)computed
    rollup_days: int = 0  # rollup days (re)computed, all zones together
    tables: dict[str, int] = field(default_factory=dict)  # table -> files merged


def compact(
    lake: Lake,
    *,
    checkpoints: bool = True,
    rollups: bool = True,
    rollup_zones: Iterable[str] = (),
) -> CompactSummary:
    """Compact every table of `lake`, then bring the status checkpoints and the per-day rollups
    (`evlog.rollups`: those of the zones the lake keeps, plus `rollup_zones`) up to date.

    One compaction at a time per lake (`LakeError` if another runs: an hourly cron job that
    overran, a second operator); recorders and reports may run alongside.
    """
    busy = f"another `evlog lake compact` is running on {lake.root} (lock held on {COMPACT_LOCK})"
    with exclusive_lock(lake.root / COMPACT_LOCK, busy):
        return _compact(lake, checkpoints, rollups, rollup_zones)


def _compact(
    lake: Lake, checkpoints: bool, rollups: bool, rollup_zones: Iterable[str]
) -> CompactSummary:
    summary = CompactSummary()
    for table in Table:
        for directory in _partitions(lake, table):
            merged = compact_partition(table, directory)
            if merged:
                summary.partitions += 1
                summary.files_before += merged[0]
                summary.files_after += 1
                summary.rows += merged[1]
                summary.tables[table.value] = summary.tables.get(table.value, 0) + merged[0]
    if checkpoints:
        summary.checkpoints = update_checkpoints(lake)
    if rollups:
        summary.rollup_days = rollup_module.update_rollups(lake, rollup_zones)
    return summary


def _partitions(lake: Lake, table: Table) -> list[Path]:
    return sorted({path.parent for path in lake.files(table)})


def compact_partition(table: Table, directory: Path) -> tuple[int, int] | None:
    """Merge the partition's current files into one sorted file; (files merged, rows) or None."""
    files = sorted(directory.glob("*.parquet"))
    if not files or (len(files) == 1 and files[0].name.startswith(COMPACTED_PREFIX)):
        return None
    schema = SCHEMAS[table]
    rows = pa.concat_tables(pq.read_table(f, schema=schema) for f in files)
    rows = rows.sort_by([(key, "ascending") for key in SORT_KEYS[table]])
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    target = directory / f"{COMPACTED_PREFIX}{stamp}-{uuid.uuid4().hex[:12]}.parquet"
    atomic_write_parquet(rows, target, row_group_size=ROW_GROUP_ROWS)
    for path in files:  # only the files we read: a recorder's newer files stay
        path.unlink(missing_ok=True)
    fsync_dir(directory)
    return len(files), rows.num_rows


# checkpoints --------------------------------------------------------------------------------------


def _day_of(directory: Path) -> date:
    return date.fromisoformat(directory.name.removeprefix("date="))


def event_files_by_day(lake: Lake) -> dict[str, list[str]]:
    """The status event files of each `date=` partition, as names relative to the lake."""
    by_day: dict[str, list[str]] = {}
    for path in lake.files(Table.STATUS_EVENTS):
        by_day.setdefault(path.parent.name.removeprefix("date="), []).append(
            str(path.relative_to(lake.root))
        )
    return by_day


def checkpoint_path(lake: Lake, day: date) -> Path:
    return lake.root / CHECKPOINT_DIR / f"date={day.isoformat()}" / "checkpoint.parquet"


def checkpoint_days(lake: Lake, files: Iterable[Path] | None = None) -> frozenset[date]:
    """The days with a checkpoint file (among `files`, default: on disk now)."""
    if files is None:
        files = parquet_files(lake.root / CHECKPOINT_DIR)
    return frozenset(_day_of(path.parent) for path in files)


def first_changed_day(recorded: dict[str, list[str]], current: dict[str, list[str]]) -> date | None:
    """The first `date=` partition whose event files differ between a manifest and the lake now.

    Anything computed from the events before that day (a checkpoint, a rollup) is still exact.
    """
    differing = [
        day
        for day in set(recorded) | set(current)
        if sorted(recorded.get(day, [])) != sorted(current.get(day, []))
    ]
    return date.fromisoformat(min(differing)) if differing else None


def read_manifest(lake: Lake) -> dict[str, list[str]]:
    path = lake.root / CHECKPOINT_DIR / MANIFEST
    if not path.exists():
        return {}
    files: dict[str, list[str]] = json.loads(path.read_text())["files"]
    return files


# The state of every EVSE at a day's start, from the previous day's checkpoint and that day's
# events. `event_time`, `status`, `status_raw`, `time_clamped` come from the observation that holds
# (latest time, ties to the latest-arriving: rule 3); location and arrival columns from the
# latest-arriving row (they decide the EVSE's location_id, exactly as `entities.sql` computes it).
_CHECKPOINT_SQL = """
WITH rows AS (
    SELECT * FROM previous
    UNION ALL
    SELECT * FROM day_events WHERE evse_id IS NOT NULL AND status IS NOT NULL
),
holding AS (
    SELECT evse_id, status, status_raw, event_time, time_clamped
    FROM rows
    QUALIFY row_number() OVER (
        PARTITION BY evse_id
        ORDER BY event_time DESC, received_at DESC NULLS FIRST, arrival_index DESC NULLS FIRST,
            evse_index DESC NULLS FIRST, record_key DESC NULLS FIRST
    ) = 1
),
latest AS (
    SELECT
        evse_id,
        arg_max(location_id, row(received_at, arrival_index, evse_index, record_key))
            AS location_id,
        max({
            'received_at': received_at,
            'arrival_index': arrival_index,
            'evse_index': evse_index,
            'record_key': record_key
        }) AS arrival
    FROM rows
    GROUP BY evse_id
)
SELECT
    l.location_id,
    h.evse_id,
    h.status,
    h.status_raw,
    h.event_time,
    l.arrival.received_at AS received_at,
    h.time_clamped,
    l.arrival.record_key AS record_key,
    l.arrival.arrival_index AS arrival_index,
    l.arrival.evse_index AS evse_index
FROM holding AS h
JOIN latest AS l USING (evse_id)
ORDER BY h.evse_id
"""


def update_checkpoints(lake: Lake) -> int:
    """(Re)compute the checkpoints whose history changed since they were written; count them."""
    by_day = event_files_by_day(lake)
    if not by_day:
        return 0
    days = sorted(by_day)
    # The first day whose files differ from the manifest's: checkpoints after it are stale.
    changed = first_changed_day(read_manifest(lake), by_day)
    if changed is None:
        return 0
    first_dirty = changed.isoformat()
    con = duckdb.connect()
    con.sql("SET TimeZone = 'UTC'")
    start = date.fromisoformat(days[0])
    end = date.fromisoformat(days[-1]) + timedelta(days=1)
    previous = STATUS_EVENTS.empty_table()
    computed = 0
    day = start
    while day < end:
        name = day.isoformat()
        target = checkpoint_path(lake, day + timedelta(days=1))
        if name < first_dirty and target.exists():
            previous = pq.read_table(target, schema=STATUS_EVENTS)
        else:
            files = [str(lake.root / f) for f in by_day.get(name, [])]
            events = (
                pq.ParquetDataset(files, schema=STATUS_EVENTS).read()
                if files
                else STATUS_EVENTS.empty_table()
            )
            con.register("previous", previous)
            con.register("day_events", events)
            previous = con.sql(_CHECKPOINT_SQL).to_arrow_table().cast(STATUS_EVENTS)
            atomic_write_parquet(previous, target)
            computed += 1
        day += timedelta(days=1)
    _write_manifest(lake, by_day)
    return computed


def _write_manifest(lake: Lake, by_day: dict[str, list[str]]) -> None:
    body = {"files": {d: sorted(f) for d, f in by_day.items()}}
    atomic_write_text(lake.root / CHECKPOINT_DIR / MANIFEST, json.dumps(body) + "\n")


def usable_checkpoint(
    lake: Lake,
    before_us: int,
    event_files: dict[str, list[str]] | None = None,
    available: Collection[date] | None = None,
) -> date | None:
    """The latest checkpoint day at or before `before_us` whose history is unchanged, if any.

    A checkpoint for day D is valid while every event partition dated before D holds exactly the
    files it was computed from (the manifest). `event_files`: the lake's listing, if at hand;
    `available`: the checkpoint days a reader can see (default: those on disk now).
    """
    manifest = read_manifest(lake)
    if not manifest:
        return None
    current = event_files_by_day(lake) if event_files is None else event_files
    changed = first_changed_day(manifest, current)
    limit = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=before_us)).date()
    if changed is not None:  # a checkpoint after a changed day would miss the change
        limit = min(limit, changed)
    if available is None:
        available = checkpoint_days(lake)
    usable = [day for day in available if day <= limit]
    return max(usable) if usable else None
