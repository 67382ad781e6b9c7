"""Lake upkeep: `evlog lake info` (what the lake holds), `evlog lake rebuild` (re-derive events).

(`evlog lake compact` is `compact.py` beside this, with the rollups it keeps in `rollups.py`.)"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq

from evlog._errors import UsageError
from evlog._faults import fault_point
from evlog._lake import duck, rollups
from evlog._lake.checkpoints import event_files_by_day
from evlog._lake.layout import Lake, damaged_files_as_lake_errors, fsync_dir
from evlog._lake.names import DATE_COLUMN, QuarantineReason, Table
from evlog._progress import Progress, ProgressStep, quiet
from evlog._record.derive import DEFAULT_SKEW_TOLERANCE, FEEDS
from evlog._record.recorder import RecordSummary
from evlog._replay import runner
from evlog._replay.coverage import lake_coverage
from evlog._replay.engine import QUARANTINE_COUNTS_SQL
from evlog._replay.runner import EntityKind
from evlog._sources.ocpp import load_status_map, parse_status_map, read_status_map, write_status_map
from evlog._upkeep import compact
from evlog._window import parse_tz

DERIVED_TABLES = (
    Table.STATUS_EVENTS,
    Table.CONNECTIVITY_EVENTS,
    Table.QUARANTINE,
    Table.ENTITY_METADATA,
)
log = logging.getLogger("evlog.upkeep")


@dataclass(frozen=True)
class TableInfo:
    table: str
    rows: int
    files: int
    bytes: int
    first: datetime | None  # earliest value of the column that dates the table
    last: datetime | None


@dataclass(frozen=True)
class CoverageInfo:
    source: str
    sessions: int
    intervals: int  # disjoint covered intervals after merging sessions
    first: datetime | None  # None: no row of the source covers any time
    last: datetime | None
    covered_s: float


@dataclass(frozen=True)
class CoverageGap:
    """Time between two covered spans of a source: nobody was listening (rule *Coverage*)."""

    source: str
    start: datetime
    end: datetime
    seconds: float


@dataclass(frozen=True)
class RollupInfo:
    zone: str
    first_day: date | None
    last_day: date | None
    days: int
    fresh_days: int  # days still exact for the lake as it is (the others are replayed)


@dataclass(frozen=True)
class LakeInfo:
    root: str
    tables: list[TableInfo] = field(default_factory=list)
    coverage: list[CoverageInfo] = field(default_factory=list)
    gaps: list[CoverageGap] = field(default_factory=list)  # in time order per source
    quarantine: list[tuple[str, str, int]] = field(default_factory=list)  # source, reason, count
    rollups: list[RollupInfo] = field(default_factory=list)


def lake_info(lake: Lake) -> LakeInfo:
    """What `lake` holds (`evlog lake info`)."""
    with damaged_files_as_lake_errors(lake.root):
        return _lake_info(lake)


def _lake_info(lake: Lake) -> LakeInfo:
    con = duck.connect()
    lake.register(con)
    info = LakeInfo(str(lake.root))
    for table in Table:
        files = lake.files(table)
        column = DATE_COLUMN[table]
        rows, first, last = con.execute(  # table and column names come from our own enum
            f"SELECT count(*), min({column}), max({column}) FROM {table.value}"
        ).fetchone() or (0, None, None)
        size = sum(f.stat().st_size for f in files)
        info.tables.append(TableInfo(table.value, rows, len(files), size, first, last))
    info.coverage.extend(_coverage(con))
    info.gaps.extend(_gaps(con))
    info.quarantine.extend(con.execute(QUARANTINE_COUNTS_SQL).fetchall())
    info.rollups.extend(_rollups(lake))
    return info


def _rollups(lake: Lake) -> list[RollupInfo]:
    found = rollups.manifests(lake)
    if not found:
        return []
    event_files, coverage = event_files_by_day(lake), lake_coverage(lake)
    infos = []
    for manifest in found:
        limit = manifest.valid_until(event_files, coverage)
        zone = parse_tz(manifest.zone)
        ends = [rollups.day_bounds(day, zone)[1] for day in manifest.days()]
        fresh = sum(1 for end in ends if end <= limit)
        infos.append(
            RollupInfo(manifest.zone, manifest.first_day, manifest.last_day, len(ends), fresh)
        )
    return infos


# Per source that has coverage rows: its sessions (every recorder run, even one that covered
# nothing) and its merged coverage as the replay counts it (`coverage_union`: empty rows cover
# nothing). A source whose rows are all empty is shown with no interval: the replay takes it as
# never observed, not as observed throughout.
_COVERAGE_SQL = """
WITH spans AS ({spans}),
sources AS (
    SELECT source, count(DISTINCT session_id) AS sessions FROM coverage GROUP BY source
)
SELECT
    c.source,
    c.sessions,
    count(s.span_start),
    make_timestamptz(min(s.span_start)),
    make_timestamptz(max(s.span_end)),
    coalesce(sum(s.span_end - s.span_start), 0) / 1e6
FROM sources AS c
LEFT JOIN spans AS s USING (source)
GROUP BY c.source, c.sessions
ORDER BY c.source
"""


def _coverage(con: duckdb.DuckDBPyConnection) -> list[CoverageInfo]:
    spans = runner.build_query(EntityKind.EVSE, "coverage_union")  # the same for either kind
    return [CoverageInfo(*row) for row in con.execute(_COVERAGE_SQL.format(spans=spans)).fetchall()]


_GAPS_SQL = """
WITH spans AS ({spans}),
ordered AS (
    SELECT
        source,
        span_start,
        lag(span_end) OVER (PARTITION BY source ORDER BY span_start) AS previous_end
    FROM spans
)
SELECT
    source,
    make_timestamptz(previous_end),
    make_timestamptz(span_start),
    (span_start - previous_end) / 1e6
FROM ordered
WHERE previous_end IS NOT NULL
ORDER BY source, span_start
"""


def _gaps(con: duckdb.DuckDBPyConnection) -> list[CoverageGap]:
    spans = runner.build_query(EntityKind.EVSE, "coverage_union")
    return [CoverageGap(*row) for row in con.execute(_GAPS_SQL.format(spans=spans)).fetchall()]


# `evlog lake quarantine`: the records that could not be parsed, newest first.
_QUARANTINE_SQL = """
SELECT
    source, reason, detail, received_at, capture, arrival_index, record_key, octet_length(payload)
    AS payload_bytes
FROM quarantine
WHERE ($reason IS NULL OR reason = $reason)
  AND ($source IS NULL OR source = $source)
  AND ($day IS NULL OR CAST(received_at AT TIME ZONE 'UTC' AS DATE) = $day)
QUALIFY row_number() OVER (PARTITION BY record_key ORDER BY received_at) = 1
ORDER BY received_at DESC, capture, record_key
LIMIT $limit
"""


def quarantined(
    lake: Lake,
    *,
    reason: str | None = None,
    source: str | None = None,
    day: date | None = None,
    limit: int = 100,
) -> pl.DataFrame:
    """The quarantined records (each once, newest first, at most `limit`), with why: reason and
    detail, where they came from (capture, position) and their size. Filter by `reason` (a
    `QuarantineReason` value), `source`, or the UTC `day` they were received."""
    if reason is not None and reason not in {r.value for r in QuarantineReason}:
        known = ", ".join(r.value for r in QuarantineReason)
        raise UsageError(f"--reason: expected one of {known}; got {reason!r}")
    with damaged_files_as_lake_errors(lake.root):
        con = duck.connect()
        lake.register(con)
        params = {"reason": reason, "source": source, "day": day, "limit": limit}
        frame: pl.DataFrame = con.sql(_QUARANTINE_SQL, params=params).pl()
    return frame


def rebuild(
    lake: Lake,
    skew_tolerance: timedelta = DEFAULT_SKEW_TOLERANCE,
    on_wait: Callable[[str], None] | None = None,
    status_map: Path | None = None,
    progress: Progress = quiet,
) -> RecordSummary:
    """Re-derive the event and quarantine tables from the raw tables, then swap them in.

    The eDRV connectors' statuses are mapped with the lake's OCPP → OCPI mapping
    (`evlog._sources.ocpp`); `status_map`, a `ocpp_status,ocpi_status` CSV, is checked first
    and becomes the lake's mapping (written once the new tables are staged, before they are
    swapped in, under the write lock: recorders take it with their next batch).

    Holds the compaction lock (`LakeError` if a compaction or another rebuild runs) and, for its
    whole run, the lake's write lock: recorders wait (`on_wait(holder)` is called once if one is
    mid-batch; default: a warning in the log), so each of their batches lands wholly before the
    rebuild (and is re-derived) or after it (into the new tables). The new tables are built in a
    hidden staging directory and their files moved into the table directories under a
    `Lake.intent`: should the rebuild die, the next holder of the write lock deletes the files
    moved in so far (the old tables stay), or, once every new file is in place, the old files
    that remain (the new tables are then whole). Raw tables are only read. `progress` is told
    the raw records derived of the raw tables' total.
    """
    with (
        damaged_files_as_lake_errors(lake.root),
        compact.compaction_lock(lake, "`evlog lake compact` or another `evlog lake rebuild`"),
        lake.write_lock(on_wait or _log_wait),
    ):
        compact.remove_leftovers(lake)
        if status_map is None:
            mapping = load_status_map(lake.root)
        else:
            mapping = parse_status_map(read_status_map(status_map), f"--status-map {status_map}")
        staged = Lake(lake.root / f".rebuild-{uuid.uuid4().hex[:8]}")
        summary = RecordSummary()
        raw_files = [(feed, path) for feed in FEEDS for path in lake.files(feed.raw_table)]
        total = sum(pq.ParquetFile(path).metadata.num_rows for _, path in raw_files)
        progress(ProgressStep("re-deriving raw records", 0, total, "records"))
        try:
            for feed, path in raw_files:
                for batch in pq.ParquetFile(path).iter_batches(batch_size=50_000):
                    raws = batch.to_pylist()
                    derived = feed.derive(raws, skew_tolerance, mapping)
                    derived.write(staged, feed)
                    summary.recorded += len(raws)
                    summary.events += derived.event_count
                    summary.quarantined += derived.quarantined_records
                    progress(
                        ProgressStep("re-deriving raw records", summary.recorded, total, "records")
                    )
            fault_point("rebuild.after_stage")
            if status_map is not None:
                write_status_map(lake.root, mapping)
            _swap_in(lake, staged)
        finally:
            shutil.rmtree(staged.root, ignore_errors=True)
    return summary


def _log_wait(holder: str) -> None:
    log.warning("lake rebuild: waiting for the lake's write lock (held by %s)", holder or "?")


def _swap_in(lake: Lake, staged: Lake) -> None:
    """Replace the derived tables' files by `staged`'s, all or nothing (see `rebuild`)."""
    old = [path for table in DERIVED_TABLES for path in lake.files(table)]
    moves = [
        (path, lake.root / path.relative_to(staged.root))
        for table in DERIVED_TABLES
        for path in staged.files(table)
    ]
    with lake.intent([target for _, target in moves]) as intent:
        for source, target in moves:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
            fault_point("rebuild.mid_move")
        _fsync_parents(target for _, target in moves)
        intent.update(old)  # the point of no return: the old files are what must go
        fault_point("rebuild.after_moves")
        for path in old:
            path.unlink(missing_ok=True)
            fault_point("rebuild.mid_delete")
        _fsync_parents(old)
    for folder in {path.parent for path in old}:  # partitions that no longer hold any event
        with contextlib.suppress(OSError):  # not empty: it has new files
            folder.rmdir()


def _fsync_parents(paths: Iterable[Path]) -> None:
    """Make renames and deletions in these files' folders, and new folders, durable."""
    folders = {path.parent for path in paths}
    for folder in folders | {folder.parent for folder in folders}:
        if folder.exists():
            fsync_dir(folder)
