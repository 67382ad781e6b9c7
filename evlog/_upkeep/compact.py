"""`evlog lake compact`: merge small files into sorted, well-sized ones, and keep state checkpoints.

Compaction, per table and partition directory:

1. list the partition's ``*.parquet`` files (a snapshot: files a recorder adds later stay as they
   are);
2. read exactly those files, sort the rows (event tables by entity and time, so that a reader's row
   groups each hold few entities and narrow time ranges) and write them, with row groups of
   `ROW_GROUP_ROWS` rows, as a hidden staged file (``.<name>.staged``: no ``*.parquet`` glob
   matches it) — the slow part, done without the lake's write lock;
3. under the write lock (so that the swap never interleaves with a recorder's batch), check the
   inputs are all still there (the lock's taker settles a dead writer's intent first, which may
   delete some), rename the staged file into place and delete the inputs, inside a `Lake.intent`:
   until the rename the plan is to delete the merged file (rollback), after it to delete the
   remaining inputs (roll forward). A compaction killed at any moment leaves, once the next holder
   of the write lock has settled its intent, every row exactly once.

Between the rename and the deletions a reader may see a record twice, never zero times. That is
harmless for every table: the replay counts exact duplicate observations once (rule *Order by
event time*); raw tables are deduplicated by `record_key`; quarantine counts use
``count(DISTINCT record_key)``; coverage is a union of intervals. Content is preserved exactly (as
a multiset of rows): nothing is deduplicated or rewritten. A query that listed the old files
before they were deleted and opens them after fails with "file not found"; the API's reports
retry on a fresh listing (`ReplayEngine.reading`).

An import's own compaction (`only_crowded`, from `import_then_compact`) merges only the partitions
the import left crowded with files (`CROWDED_FILES`; `CROWDED_RAW_FILES` for the raw tables, which
no report reads): its few well-sized files a day cost a reader less than rewriting them, and the
first report needs the checkpoints and rollups. A partition not merged is simply left as the
recorder wrote it, so every property above holds unchanged; `evlog lake compact` merges it later.

Leftovers of killed runs (`remove_leftovers`) are removed at the start of every compaction and
rebuild, which hold the compaction lock (so no other compaction or rebuild is alive).

Checkpoints (``<lake>/checkpoints/status_events/date=D/``): for every UTC day D after the first
event day, the state of every EVSE at D 00:00 UTC, i.e. its observation that holds at that instant
(rule *Order by event time*), carrying the location and arrival columns of its latest-arriving
event before D (which decide its `location_id` in reports). A replay whose window starts on or
after D reads that file plus the event partitions from D on, instead of the whole history.
`manifest.json` records the event files the checkpoints were computed from and the days it vouches
for; a checkpoint is used only if its day is one of those and no event file dated before D changed
since (a late event recorded into an old partition makes the replay fall back to an older
checkpoint or to the full history, until the next compaction). A checkpoint file of a day the
manifest does not vouch for (the history no longer reaches it, e.g. after a rebuild moved the
first day's events) is never read, and the compaction that writes the manifest deletes it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from evlog._faults import fault_point
from evlog._lake import duck
from evlog._lake.checkpoints import (
    CHECKPOINT_DIR,
    MANIFEST,
    CheckpointManifest,
    checkpoint_path,
    event_files_by_day,
    first_changed_day,
    read_manifest,
)
from evlog._lake.layout import (
    Lake,
    atomic_copy_parquet,
    atomic_write_text,
    damaged_files_as_lake_errors,
    exclusive_lock,
    fsync_dir,
    parquet_files,
    partition_date,
)
from evlog._lake.names import Table
from evlog._lake.schema import SCHEMAS, STATUS_EVENTS
from evlog._progress import Progress, ProgressStep, quiet
from evlog._replay.runner import expand_rules
from evlog._upkeep import rollups as rollup_module

# DuckDB's own row group size: one row group is one unit of parallel work for its Parquet reader.
ROW_GROUP_ROWS = 122_880
COMPACTED_PREFIX = "compact-"
COMPACT_LOCK = ".compact.lock"
STAGED_SUFFIX = ".staged"  # a merged file written, not yet swapped in
# Atomic writes' temporaries older than this belong to dead writers (see `remove_leftovers`).
STALE_TMP_SECONDS = 3600
# Rebuild's staging directories and, from rebuilds that swapped whole directories, old tables.
_LEFTOVER_DIR = re.compile(r"\.rebuild-[0-9a-f]+|\.[a-z_]+\.old-[0-9a-f]+")

# Sort order of each table's compacted files: entity then time for event tables, arrival otherwise.
SORT_KEYS: dict[Table, tuple[str, ...]] = {
    Table.RAW_STATUS: ("received_at", "capture", "arrival_index", "record_key"),
    Table.RAW_WEBHOOKS: ("received_at", "arrival_index", "record_key"),
    Table.RAW_POLLS: ("received_at", "arrival_index", "record_key"),
    Table.STATUS_EVENTS: ("evse_id", "event_time", "received_at", "arrival_index", "evse_index"),
    Table.CONNECTIVITY_EVENTS: ("station_id", "event_time", "received_at", "arrival_index"),
    Table.QUARANTINE: ("received_at", "capture", "arrival_index", "record_key"),
    Table.COVERAGE: ("session_id", "covered_from", "covered_to"),
    Table.ENTITY_METADATA: ("entity_id", "received_at", "arrival_index", "connector_index"),
}
RAW_TABLES = frozenset({Table.RAW_STATUS, Table.RAW_WEBHOOKS, Table.RAW_POLLS})
# An import's compaction (`only_crowded`) merges a partition only from this many files on: what a
# reader pays for an import's own files (a few well-sized batches a day) is a per-file bind cost,
# small next to rewriting them, and `evlog lake compact` merges every partition anyway. The raw
# tables are read by no report (only by `lake rebuild`), so only a crowd of files is worth it.
CROWDED_FILES = 16
CROWDED_RAW_FILES = 256


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
    partitions: Collection[Path] | None = None,
    wait: bool = False,
    only_crowded: bool = False,
    progress: Progress = quiet,
) -> CompactSummary:
    """Compact every table of `lake` (or only the partition directories `partitions`: those an
    import wrote to, `RecordSummary.partitions`; with `only_crowded`, only those holding at least
    `CROWDED_FILES` files, `CROWDED_RAW_FILES` for raw tables), then bring the status checkpoints
    and the per-day
    rollups (`evlog._upkeep.rollups`: those of the zones the lake keeps, plus `rollup_zones`) up
    to date; both are recomputed only from the first day whose event files changed on.

    One compaction at a time per lake (`LakeError` if another runs: an hourly cron job that
    overran, a second operator, a rebuild; with `wait`, wait for it instead: an import's own
    compaction); recorders and reports may run alongside.

    `progress` is told the partitions looked at of those to look at, then the checkpoints and the
    rollups once each is up to date.
    """
    with (
        damaged_files_as_lake_errors(lake.root),
        compaction_lock(lake, "another `evlog lake compact` or `evlog lake rebuild`", wait),
    ):
        remove_leftovers(lake)
        return _compact(
            lake, checkpoints, rollups, rollup_zones, partitions, only_crowded, progress
        )


def compaction_lock(
    lake: Lake, busy_with: str, wait: bool = False
) -> contextlib.AbstractContextManager[None]:
    """The lock one compaction or rebuild at a time holds (`LakeError` naming `busy_with` if
    another holds it)."""
    busy = f"{busy_with} is running on {lake.root} (lock held on {COMPACT_LOCK})"
    return exclusive_lock(lake.root / COMPACT_LOCK, busy, wait)


def _compact(
    lake: Lake,
    checkpoints: bool,
    rollups: bool,
    rollup_zones: Iterable[str],
    partitions: Collection[Path] | None,
    only_crowded: bool,
    progress: Progress,
) -> CompactSummary:
    summary = CompactSummary()
    by_table = {
        table: _partitions(lake, table)
        if partitions is None
        else sorted(Path(d) for d in partitions if Path(d).is_relative_to(lake.table_dir(table)))
        for table in Table
    }
    total = sum(len(directories) for directories in by_table.values())
    looked_at = 0
    progress(ProgressStep("merging partitions", looked_at, total, "partitions"))
    for table, directories in by_table.items():
        at_least = 1
        if only_crowded:
            at_least = CROWDED_RAW_FILES if table in RAW_TABLES else CROWDED_FILES
        for directory in directories:
            merged = compact_partition(lake, table, directory, at_least)
            looked_at += 1
            progress(ProgressStep("merging partitions", looked_at, total, "partitions"))
            if merged:
                summary.partitions += 1
                summary.files_before += merged[0]
                summary.files_after += 1
                summary.rows += merged[1]
                summary.tables[table.value] = summary.tables.get(table.value, 0) + merged[0]
    if checkpoints:
        progress(ProgressStep("updating checkpoints", 0, 1, "steps"))
        summary.checkpoints = update_checkpoints(lake)
        progress(ProgressStep("updating checkpoints", 1, 1, "steps"))
    if rollups:
        progress(ProgressStep("updating rollups", 0, 1, "steps"))
        summary.rollup_days = rollup_module.update_rollups(lake, rollup_zones)
        progress(ProgressStep("updating rollups", 1, 1, "steps"))
    return summary


def _partitions(lake: Lake, table: Table) -> list[Path]:
    return sorted({path.parent for path in lake.files(table)})


def compact_partition(
    lake: Lake, table: Table, directory: Path, at_least: int = 1
) -> tuple[int, int] | None:
    """Merge the partition's current files into one sorted file; (files merged, rows) or None
    (nothing to merge: no file, one already merged, fewer than `at_least` files; or an input
    vanished: a dead writer's file, settled; merged next time)."""
    files = sorted(directory.glob("*.parquet"))
    if not files or (len(files) == 1 and files[0].name.startswith(COMPACTED_PREFIX)):
        return None
    if len(files) < at_least:
        return None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    target = directory / f"{COMPACTED_PREFIX}{stamp}-{uuid.uuid4().hex[:12]}.parquet"
    staged = target.with_name(f".{target.name}{STAGED_SUFFIX}")
    con = duck.connect(upkeep=True)
    # The files' own columns in the table's order (no hive `date`/`source` column added); every
    # writer casts to the declared schema, so the files agree on it.
    columns = ", ".join(SCHEMAS[table].names)
    order = ", ".join(SORT_KEYS[table])
    query = (
        f"SELECT {columns} FROM read_parquet($files, hive_partitioning = false) ORDER BY {order}"
    )
    atomic_copy_parquet(con, query, staged, {"files": [str(f) for f in files]}, ROW_GROUP_ROWS)
    rows = pq.ParquetFile(staged).metadata.num_rows
    fault_point("compact.after_stage")
    with lake.write_lock():
        if not all(path.exists() for path in files):
            staged.unlink()
            return None
        with lake.intent([target]) as intent:
            os.replace(staged, target)
            fsync_dir(directory)
            fault_point("compact.after_rename")
            intent.update(files)  # the point of no return: the inputs are what must go
            fault_point("compact.after_intent")
            for path in files:  # only the files we read: a recorder's newer files stay
                path.unlink(missing_ok=True)
                fault_point("compact.mid_delete")
            fsync_dir(directory)
    return len(files), rows


def remove_leftovers(lake: Lake, now: float | None = None) -> int:
    """Delete what killed writers left behind; count the paths. Run under the compaction lock.

    * `.rebuild-*` staging directories and `.<table>.old-*` directories (of rebuilds before
      rebuild swapped files one by one): the compaction lock proves their rebuild is dead;
    * compaction's staged files (``.*.staged``): likewise;
    * atomic writes' temporary files (``.*.tmp``) older than `STALE_TMP_SECONDS`: some writers
      (coverage heartbeats, the lake marker) write without the write lock, so only the age proves
      no living writer still owns one (writing a file takes seconds, not an hour).
    """
    now = time.time() if now is None else now
    removed = 0
    for entry in lake.root.iterdir():
        if entry.is_dir() and _LEFTOVER_DIR.fullmatch(entry.name):
            shutil.rmtree(entry, ignore_errors=True)
            removed += 1
    for folder, _, names in os.walk(lake.root):
        for name in names:
            path = Path(folder, name)
            stale_tmp = name.startswith(".") and name.endswith(".tmp") and _older(path, now)
            if stale_tmp or (name.startswith(".") and name.endswith(STAGED_SUFFIX)):
                path.unlink(missing_ok=True)
                removed += 1
    return removed


def _older(path: Path, now: float) -> bool:
    try:
        return now - path.stat().st_mtime > STALE_TMP_SECONDS
    except FileNotFoundError:  # its writer renamed it meanwhile
        return False


# checkpoints --------------------------------------------------------------------------------------


# The state of every EVSE at the start of each day D in [$first_day, $last_day], in one pass over
# the previous checkpoint (that of $first_day - 1, tagged as day $first_day - 2) and the event
# partitions from $first_day - 1 on. It equals folding the days one by one (a day's state = the
# previous day's state and that day's events): an event of partition d has event_time in day d, so
# `event_time`, `status`, `status_raw`, `time_clamped` come from the observation that holds at the
# end of the EVSE's last day with events before D (latest time, ties to the latest first arrival:
# rule *Order by event time*); the arrival columns from the latest-arriving row before D; the
# location (which decides the EVSE's location_id in reports, as `entities.sql` does) from the
# latest-arriving row with a location, a day's row taking over from the state carried in only if
# it arrived after everything before that day (the carried-in state stands for its latest arrival).
_CHECKPOINT_SQL = expand_rules("""
WITH rows AS (
    SELECT *, $first_day - 2 AS src_day FROM previous
    UNION ALL
    SELECT * EXCLUDE (date), date AS src_day FROM day_events
    WHERE evse_id IS NOT NULL AND status IS NOT NULL
),
latest AS (
    -- per EVSE and day: the latest event time, and the latest-arriving row (its location last, so
    -- that it is compared only between copies of one arrival, which name the same location)
    SELECT
        evse_id,
        src_day,
        max(event_time) AS last_time,
        max({
            'received_at': received_at,
            'arrival_index': arrival_index,
            'evse_index': evse_index,
            'record_key': record_key,
            'location_id': location_id
        }) AS latest
    FROM rows
    GROUP BY evse_id, src_day
),
located_latest AS (
    -- the latest-arriving row with a location, for the (rare) days whose latest-arriving row has
    -- none: for the others it is that row
    SELECT
        r.evse_id,
        r.src_day,
        max({
            'received_at': r.received_at,
            'arrival_index': r.arrival_index,
            'evse_index': r.evse_index,
            'record_key': r.record_key
        }) AS located_arrival
    FROM rows AS r
    JOIN latest AS d
        ON r.evse_id = d.evse_id AND r.src_day = d.src_day AND d.latest.location_id IS NULL
    WHERE r.location_id IS NOT NULL
    GROUP BY r.evse_id, r.src_day
),
daily AS (
    SELECT
        d.evse_id,
        d.src_day,
        d.last_time,
        {
            'received_at': d.latest.received_at,
            'arrival_index': d.latest.arrival_index,
            'evse_index': d.latest.evse_index,
            'record_key': d.latest.record_key
        } AS arrival,
        d.latest.location_id AS day_location,  -- that of the latest-arriving row
        CASE WHEN d.latest.location_id IS NOT NULL THEN {
            'received_at': d.latest.received_at,
            'arrival_index': d.latest.arrival_index,
            'evse_index': d.latest.evse_index,
            'record_key': d.latest.record_key
        } ELSE l.located_arrival END AS day_location_arrival
    FROM latest AS d
    LEFT JOIN located_latest AS l USING (evse_id, src_day)
),
at_last AS (  -- the rows at the day's latest event time: the holding observation is among them
    SELECT r.*
    FROM rows AS r
    JOIN daily AS d
        ON r.evse_id = d.evse_id
        AND r.src_day = d.src_day
        AND r.event_time IS NOT DISTINCT FROM d.last_time
),
first_arrivals AS (  -- an observation arrives with its first copy, as in observations.sql
    SELECT * FROM at_last
    QUALIFY row_number() OVER (
        PARTITION BY evse_id, src_day, event_time, status
        ORDER BY {{arrival_order}}
    ) = 1
),
holding AS (
    SELECT evse_id, src_day, status, status_raw, event_time, time_clamped
    FROM first_arrivals
    QUALIFY row_number() OVER (
        PARTITION BY evse_id, src_day
        ORDER BY event_time DESC, {{arrival_order DESC}}
    ) = 1
),
running AS (
    SELECT
        *,
        max(arrival) OVER through AS arrival_through,
        count(day_location) OVER through AS located_through,
        lead(src_day) OVER (PARTITION BY evse_id ORDER BY src_day) AS next_day
    FROM daily
    WINDOW through AS (PARTITION BY evse_id ORDER BY src_day ROWS UNBOUNDED PRECEDING)
),
chained AS (  -- what arrived on the days before: the running figures of the day before
    SELECT
        *,
        lag(arrival_through) OVER (PARTITION BY evse_id ORDER BY src_day) AS arrival_before,
        located_through - (day_location IS NOT NULL)::INTEGER AS located_before
    FROM running
),
located AS (
    SELECT
        *,
        last_value(
            CASE WHEN day_location IS NOT NULL
                AND (located_before = 0 OR day_location_arrival > arrival_before)
            THEN day_location END IGNORE NULLS
        ) OVER (PARTITION BY evse_id ORDER BY src_day ROWS UNBOUNDED PRECEDING) AS location_id
    FROM chained
)
SELECT
    l.location_id,
    h.evse_id,
    h.status,
    h.status_raw,
    h.event_time,
    l.arrival_through.received_at AS received_at,
    h.time_clamped,
    l.arrival_through.record_key AS record_key,
    l.arrival_through.arrival_index AS arrival_index,
    l.arrival_through.evse_index AS evse_index,
    day
FROM located AS l
JOIN holding AS h USING (evse_id, src_day)
CROSS JOIN unnest(generate_series(
    greatest(l.src_day + 1, $first_day),
    least(coalesce(l.next_day, $last_day), $last_day),
    INTERVAL 1 DAY
)) AS days(day)
""")
# Checkpoint days computed per pass: bounded memory on long histories (a pass reads its days'
# events at once).
CHECKPOINT_CHUNK_DAYS = 7


def update_checkpoints(lake: Lake) -> int:
    """(Re)compute the checkpoints whose history changed since they were written; count them.

    The new manifest vouches for the days from the first event day's next to the last event
    day's next; checkpoint files of other days are deleted once it is written (a reader ignores
    them before: they are not among its days). Days are computed from the first stale one on,
    `CHECKPOINT_CHUNK_DAYS` per pass, each pass starting from the checkpoint before it.
    """
    by_day = event_files_by_day(lake)
    old = read_manifest(lake)
    if not by_day and old is None:
        return 0
    days = sorted(date.fromisoformat(day) for day in by_day)
    vouched = frozenset(
        days[0] + timedelta(days=n) for n in range(1, (days[-1] - days[0]).days + 2) if days
    )
    # The first day whose files differ from the manifest's: checkpoints after it are stale.
    changed = first_changed_day(old.files, by_day) if old is not None else date.min
    kept = old.days if old is not None else frozenset()
    if changed is None and kept == vouched:
        return 0
    # valid if computed from the same history (the days before it) and vouched for
    stale = [
        day
        for day in sorted(vouched)
        if not ((changed is None or day <= changed) and day in kept)
        or not checkpoint_path(lake, day).exists()
    ]
    computed = 0
    if stale:
        con = duck.connect(upkeep=True)
        con.sql("SET TimeZone = 'UTC'")
        first, last = stale[0], max(vouched)
        before = first - timedelta(days=1)
        previous = (
            pq.read_table(checkpoint_path(lake, before), schema=STATUS_EVENTS)
            if before in vouched
            else STATUS_EVENTS.empty_table()
        )
        while first <= last:
            chunk_last = min(first + timedelta(days=CHECKPOINT_CHUNK_DAYS - 1), last)
            previous = _checkpoint_chunk(lake, con, by_day, previous, first, chunk_last)
            computed += (chunk_last - first).days + 1
            first = chunk_last + timedelta(days=1)
    _write_manifest(lake, CheckpointManifest(by_day, vouched))
    for path in parquet_files(lake.root / CHECKPOINT_DIR):
        if partition_date(path.parent) not in vouched:
            shutil.rmtree(path.parent, ignore_errors=True)
    return computed


def _checkpoint_chunk(
    lake: Lake,
    con: duckdb.DuckDBPyConnection,
    by_day: dict[str, list[str]],
    previous: pa.Table,
    first: date,
    last: date,
) -> pa.Table:
    """Write the checkpoints of days `first`..`last` from `previous` (that of the day before
    `first`, or none) and the events before `last`; the checkpoint of `last`."""
    files = [
        str(lake.root / name)
        for n in range((last - first).days + 1)
        for name in by_day.get((first + timedelta(days=n - 1)).isoformat(), [])
    ]
    events = (
        con.read_parquet(files, hive_partitioning=True)
        if files
        else con.from_arrow(
            STATUS_EVENTS.empty_table().append_column("date", pa.array([], pa.date32()))
        )
    )
    con.register("previous", previous)
    events.create_view("day_events", replace=True)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE computed_checkpoints AS "
        f"SELECT * FROM ({_CHECKPOINT_SQL}) ORDER BY day, evse_id",
        {"first_day": first, "last_day": last},
    )
    columns = ", ".join(STATUS_EVENTS.names)
    for n in range((last - first).days + 1):
        day = first + timedelta(days=n)
        atomic_copy_parquet(
            con,
            f"SELECT {columns} FROM computed_checkpoints WHERE day = $day ORDER BY evse_id",
            checkpoint_path(lake, day),
            {"day": day},
        )
    return pq.read_table(checkpoint_path(lake, last), schema=STATUS_EVENTS)


def _write_manifest(lake: Lake, manifest: CheckpointManifest) -> None:
    body = {
        "files": {d: sorted(f) for d, f in manifest.files.items()},
        "days": sorted(day.isoformat() for day in manifest.days),
    }
    atomic_write_text(lake.root / CHECKPOINT_DIR / MANIFEST, json.dumps(body) + "\n")
