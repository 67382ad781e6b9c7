"""Per-day status rollups: what `evlog report availability` reads instead of whole days of events.

`evlog lake compact` keeps, for each rollup zone (UTC unless more are asked for with
`--rollup-tz`), the time every EVSE spent in each observed status during each whole local day::

    <lake>/rollups/status_time/zone=<zone>/date=<local day>/rollup.parquet   (schema STATUS_ROLLUPS)
    <lake>/rollups/manifests/<zone>.json

(`Europe/Berlin` is stored as `zone=Europe__Berlin`: a partition value holds no slash.)

The rows are the replay's own (`sql/status_rollup.sql` reads the same `status_time` concept an
availability report computes), so a report that reads them gets exactly the figures it would have
replayed. An availability report per EVSE (not holding states across gaps) whose periods are made
of whole local days of a rollup zone (`--by day|week|month|none` in that zone) takes the rolled-up
days inside its window from here and replays only the rest: the part before them (usually nothing)
and after them (the day in progress), each from its checkpoint. A day's rollup is one row per
EVSE however many events the day had: the cost follows the window and the network's size, not
the number of events.

A rollup day [a, b) depends on the events before b and on the coverage before b (a coverage gap
turns a carried-in state into no_data). The manifest records the event files of every `date=`
partition and the merged coverage spans the rollups were computed from. A day is used only while
no event partition dated before b's UTC day changed since, and the coverage before b is the same:
a late event recorded into an old partition, a re-import or `evlog lake rebuild` make reports
replay the days from there on until the next compaction recomputes them. A day whose file is
missing (deleted by hand) or not in the reader's views (written after it listed the files) ends
the rolled-up run there too: its time would otherwise count as no_data.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import polars as pl
import pyarrow as pa

from evlog._lake.checkpoints import event_files_by_day
from evlog._lake.layout import Lake, atomic_write_parquet, atomic_write_text, partition_date
from evlog._lake.rollups import (
    ROLLUP_FILE,
    RollupManifest,
    Span,
    _midnight,
    _present,
    day_bounds,
    manifest_path,
    manifests,
    read_manifest,
    rollup_files,
    zone_dir,
)
from evlog._lake.schema import STATUS_ROLLUPS
from evlog._replay.coverage import lake_coverage
from evlog._replay.runner import EntityKind
from evlog._time import from_micros
from evlog._window import Period, Window, parse_tz

if TYPE_CHECKING:
    from evlog._replay.engine import EventSpan, ReplayEngine

DEFAULT_ZONES: tuple[str, ...] = ("UTC",)
# Days computed per replay when (re)building: each replay starts from the checkpoint of its first
# day, so a year of history is built a week at a time, in bounded memory.
CHUNK_DAYS = 7


def _write_manifest(lake: Lake, manifest: RollupManifest) -> None:
    path = manifest_path(lake, manifest.zone)
    body = {
        "zone": manifest.zone,
        "first_day": manifest.first_day.isoformat() if manifest.first_day else None,
        "last_day": manifest.last_day.isoformat() if manifest.last_day else None,
        "event_files": {d: sorted(f) for d, f in manifest.event_files.items()},
        "coverage": [list(span) for span in manifest.coverage],
        "filled_days": sorted(day.isoformat() for day in manifest.filled_days),
    }
    atomic_write_text(path, json.dumps(body) + "\n")


# report side --------------------------------------------------------------------------------------


# compaction side ----------------------------------------------------------------------------------


def update_rollups(lake: Lake, zones: Iterable[str] = ()) -> int:
    """Bring the rollups of `DEFAULT_ZONES`, of every zone the lake already keeps and of `zones`
    up to date; count the days computed (all zones together)."""
    # The engine imports this module (reports read rollups); the build needs the engine.
    from evlog._replay.engine import ReplayEngine

    asked = {parse_tz(zone, "--rollup-tz").key for zone in zones}
    wanted = {*DEFAULT_ZONES, *(manifest.zone for manifest in manifests(lake)), *asked}
    # Listed before the engine opens the lake: a file a recorder adds meanwhile may be read but is
    # not in the manifest, so the days it touches count as changed (never the other way round).
    event_files = event_files_by_day(lake)
    coverage = lake_coverage(lake)
    engine = ReplayEngine(lake, upkeep=True)
    engine.quiet()  # `lake compact` prints its own summary
    build = _Build(lake, engine, engine.event_span(EntityKind.EVSE), event_files, coverage)
    return sum(_update_zone(build, zone) for zone in sorted(wanted))


@dataclass(frozen=True)
class _Build:
    """What every zone's update reads: the lake as listed once, and one engine over it."""

    lake: Lake
    engine: ReplayEngine
    recorded: EventSpan  # first event, last thing recorded, last event
    event_files: dict[str, list[str]]
    coverage: list[Span]


def _update_zone(build: _Build, zone_key: str) -> int:
    lake, engine, recorded = build.lake, build.engine, build.recorded
    event_files, coverage = build.event_files, build.coverage
    zone = parse_tz(zone_key)
    directory = zone_dir(lake, zone_key)
    if recorded.first_us is None or recorded.last_us is None:  # no status events (any more)
        shutil.rmtree(directory, ignore_errors=True)
        _write_manifest(lake, RollupManifest(zone_key, None, None, event_files, coverage))
        return 0
    first_day = _local_date(recorded.first_us, zone)
    # Up to the day of the last event (or of the last thing recorded, if earlier), in progress or
    # not: a day's rollup is exact for the lake as it is, and whatever is recorded into it later
    # makes it stale (see the module doc). Days after the last event hold its states: a report
    # replays them from the last checkpoint cheaply, and a capture stamped with a much later
    # receive time (a file's modification time) would otherwise make every compaction compute a
    # rollup for each day in between.
    last_us = min(recorded.last_us, (recorded.last_event_us or recorded.last_us) + 1)
    last_day = _local_date(last_us - 1, zone)
    build_from, kept_filled = first_day, frozenset[date]()
    old = read_manifest(lake, zone_key)
    if old is not None and old.first_day == first_day:
        valid_until = old.valid_until(event_files, coverage)
        build_from, kept_filled = _kept(lake, old, zone, valid_until, first_day)
    written: set[date] = set()
    chunk_start = build_from
    while chunk_start <= last_day:  # a week per replay: memory bounded on long histories
        following = min(chunk_start + timedelta(days=CHUNK_DAYS), last_day + timedelta(days=1))
        start, end = _midnight(chunk_start, zone), _midnight(following, zone)
        window = Window.parse(start, end, Period.DAY, zone)
        rows = engine.relation(EntityKind.EVSE, "status_rollup", window).to_arrow_table()
        written |= _write_days(directory, rows, zone)
        chunk_start = following
    for path in directory.glob("date=*"):  # days now without rows, or no longer in the history
        day = partition_date(path)
        if not first_day <= day <= last_day or (day >= build_from and day not in written):
            shutil.rmtree(path, ignore_errors=True)
    # from what was written, not from the disk: a file lost since is missed, never taken as empty
    filled = frozenset(kept_filled | written)
    _write_manifest(
        lake, RollupManifest(zone_key, first_day, last_day, event_files, coverage, filled)
    )
    return max(0, (last_day - build_from).days + 1)


def _kept(
    lake: Lake, old: RollupManifest, zone: ZoneInfo, valid_until: int, first_day: date
) -> tuple[date, frozenset[date]]:
    """The first day to build again (after the old days still valid and present; `first_day`
    when none is) and the kept days that have a file."""
    valid = (
        (day, bounds) for day in old.days() if (bounds := day_bounds(day, zone))[1] <= valid_until
    )
    kept = _present(old, rollup_files(lake), valid)
    if not kept:
        return first_day, frozenset()
    build_from = kept[-1][0] + timedelta(days=1)
    return build_from, frozenset(day for day in old.filled_days if day < build_from)


def _local_date(micros: int, zone: ZoneInfo) -> date:
    return from_micros(micros).astimezone(zone).date()


def _write_days(directory: Path, rows: pa.Table, zone: ZoneInfo) -> set[date]:
    """One file per local day (atomically replacing the day's previous one); the days written."""
    frame = pl.from_arrow(rows)
    assert isinstance(frame, pl.DataFrame)
    written = set()
    for (day_start_us,), day_rows in frame.partition_by("day_start_us", as_dict=True).items():
        assert isinstance(day_start_us, int)
        day = _local_date(day_start_us, zone)
        atomic_write_parquet(
            day_rows.to_arrow().cast(STATUS_ROLLUPS), directory / f"date={day}" / ROLLUP_FILE
        )
        written.add(day)
    return written
