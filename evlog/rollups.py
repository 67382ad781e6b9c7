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

import bisect
import json
import shutil
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import duckdb
import polars as pl
import pyarrow as pa

from evlog import compact
from evlog.lake import Lake, atomic_write_parquet, atomic_write_text, parquet_files
from evlog.replay import runner
from evlog.replay.options import Period, Window, parse_tz, to_micros
from evlog.replay.runner import EntityKind
from evlog.schema import STATUS_ROLLUPS, Source, Table

if TYPE_CHECKING:
    from evlog.replay.engine import EventSpan, ReplayEngine

ROLLUP_DIR = Path("rollups") / "status_time"
ROLLUP_FILE = "rollup.parquet"
DEFAULT_ZONES: tuple[str, ...] = ("UTC",)
# Days computed per replay when (re)building: each replay starts from the checkpoint of its first
# day, so a year of history is built a week at a time, in bounded memory.
CHUNK_DAYS = 7
# Beside the data, not inside it: Spark's partition discovery wants only `zone=`/`date=` there.
MANIFEST_DIR = Path("rollups") / "manifests"

Span = tuple[int, int]  # [start, end) in microseconds since the epoch


def zone_partition(zone: str) -> str:
    """The `zone=` partition value of a time zone key (`Europe/Berlin` → `Europe__Berlin`)."""
    return zone.replace("/", "__")


def zone_dir(lake: Lake, zone: str) -> Path:
    return lake.root / ROLLUP_DIR / f"zone={zone_partition(zone)}"


def manifest_path(lake: Lake, zone: str) -> Path:
    return lake.root / MANIFEST_DIR / f"{zone_partition(zone)}.json"


@dataclass(frozen=True)
class RollupManifest:
    """What one zone's rollups were computed from, and which local days they hold."""

    zone: str  # time zone key, e.g. "Europe/Berlin"
    first_day: date | None  # None: no whole day yet
    last_day: date | None  # inclusive
    event_files: dict[str, list[str]]  # `date=` partition -> its status event files
    coverage: list[Span]  # merged coverage spans of the status stream
    filled_days: frozenset[date] = frozenset()  # days with a file (others: nothing observed)

    def days(self) -> Iterator[date]:
        day = self.first_day
        while day is not None and self.last_day is not None and day <= self.last_day:
            yield day
            day += timedelta(days=1)

    def valid_until(self, event_files: dict[str, list[str]], coverage: Sequence[Span]) -> int:
        """The instant up to which the rollups are still exact for the lake as it is now: a day
        ending at or before it may be used."""
        limit = _FOREVER
        changed = compact.first_changed_day(self.event_files, event_files)
        if changed is not None:  # events at or after that UTC midnight may differ
            limit = to_micros(datetime(changed.year, changed.month, changed.day, tzinfo=UTC))
        diverged = first_difference(self.coverage, coverage)
        return limit if diverged is None else min(limit, diverged)


_FOREVER = 4611686018427387904  # 2^62 µs, as in the replay SQL


def read_manifest(lake: Lake, zone: str) -> RollupManifest | None:
    path = manifest_path(lake, zone)
    return _parse_manifest(path) if path.exists() else None


def _parse_manifest(path: Path) -> RollupManifest:
    data = json.loads(path.read_text())
    return RollupManifest(
        zone=data["zone"],
        first_day=date.fromisoformat(data["first_day"]) if data["first_day"] else None,
        last_day=date.fromisoformat(data["last_day"]) if data["last_day"] else None,
        event_files=data["event_files"],
        coverage=[(s, e) for s, e in data["coverage"]],
        filled_days=frozenset(date.fromisoformat(d) for d in data.get("filled_days", [])),
    )


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


def manifests(lake: Lake) -> list[RollupManifest]:
    """The manifests of every zone the lake keeps rollups for."""
    return [_parse_manifest(path) for path in sorted((lake.root / MANIFEST_DIR).glob("*.json"))]


def covered_spans(con: duckdb.DuckDBPyConnection) -> list[Span]:
    """The status stream's coverage as disjoint spans, by the replay's own `coverage_spans` SQL,
    on a connection with a `coverage` view."""
    rows = con.sql(
        runner.concept_sql("coverage_spans"),
        params={"coverage_source": Source.HERE_STREAM.value},
    ).fetchall()
    return sorted((int(start), int(end)) for start, end in rows)


def lake_coverage(lake: Lake) -> list[Span]:
    """`covered_spans` of `lake`, on a connection of its own."""
    con = duckdb.connect()
    lake.register(con, Table.COVERAGE)
    return covered_spans(con)


def first_difference(recorded: Sequence[Span], current: Sequence[Span]) -> int | None:
    """The first instant covered by one of two lists of disjoint, merged spans and not by the
    other; None when they are the same."""
    for old, new in zip(recorded, current, strict=False):
        if old != new:
            return min(old[0], new[0]) if old[0] != new[0] else min(old[1], new[1])
    if len(recorded) == len(current):
        return None
    longer = recorded if len(recorded) > len(current) else current
    return longer[min(len(recorded), len(current))][0]


def day_bounds(day: date, zone: ZoneInfo) -> Span:
    """A local day as [start, end) in microseconds (23 or 25 hours on DST days)."""
    return to_micros(_midnight(day, zone)), to_micros(_midnight(day + timedelta(days=1), zone))


# report side --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RollupSpan:
    """The whole local days [start_us, end_us) of one zone that a report reads from rollups."""

    zone: str  # the `zone=` partition value
    start_us: int
    end_us: int
    first_day: date
    last_day: date

    def params(self) -> dict[str, Any]:
        return {
            "rollup_zone": self.zone,
            "rollup_start_us": self.start_us,
            "rollup_end_us": self.end_us,
            "rollup_first_date": self.first_day,
            "rollup_last_date": self.last_day,
        }


def usable_span(
    lake: Lake,
    window: Window,
    event_files: dict[str, list[str]],
    coverage: Callable[[], Sequence[Span]],
    available: Collection[tuple[str, date]],
) -> RollupSpan | None:
    """The longest run of valid rolled-up days inside `window` that its periods do not cut,
    given the lake's event files now (`compact.event_files_by_day`), a way to its coverage, and
    the (zone partition, day) files the reader can see (`rollup_files`)."""
    found = manifests(lake)
    if not found:
        return None
    spans = coverage()
    bounds = window.boundaries_us()
    best: RollupSpan | None = None
    for manifest in found:
        limit = min(manifest.valid_until(event_files, spans), window.end_us)
        zone = parse_tz(manifest.zone)
        days = _present(manifest, available, _days_within(manifest, zone, window.start_us, limit))
        if not days or any(_cut(bounds, span) for _, span in days):
            continue  # e.g. hourly periods, or days of another zone
        candidate = RollupSpan(
            zone_partition(manifest.zone), days[0][1][0], days[-1][1][1], days[0][0], days[-1][0]
        )
        if best is None or candidate.end_us - candidate.start_us > best.end_us - best.start_us:
            best = candidate
    return best


def _days_within(
    manifest: RollupManifest, zone: ZoneInfo, start_us: int, end_us: int
) -> Iterator[tuple[date, Span]]:
    for day in manifest.days():
        span = day_bounds(day, zone)
        if span[1] > end_us:
            return
        if span[0] >= start_us:
            yield day, span


def _present(
    manifest: RollupManifest,
    available: Collection[tuple[str, date]],
    days: Iterable[tuple[date, Span]],
) -> list[tuple[date, Span]]:
    """`days` up to the first whose file should be there and is not among `available`: deleted
    by hand, left out of a copy of the lake, or written after the reader listed the files. Its
    time would silently count as no_data."""
    zone = zone_partition(manifest.zone)
    present = []
    for day, span in days:
        if day in manifest.filled_days and (zone, day) not in available:
            break
        present.append((day, span))
    return present


def rollup_files(lake: Lake, files: Iterable[Path] | None = None) -> frozenset[tuple[str, date]]:
    """The (zone partition, day) of each rollup file (among `files`, default: on disk now)."""
    if files is None:
        files = parquet_files(lake.root / ROLLUP_DIR)
    return frozenset(
        (path.parent.parent.name.removeprefix("zone="), _day_of(path.parent)) for path in files
    )


def _cut(bounds: list[int], span: Span) -> bool:
    """Whether a period boundary falls strictly inside `span` (sorted `bounds`)."""
    following = bisect.bisect_right(bounds, span[0])
    return following < len(bounds) and bounds[following] < span[1]


# compaction side ----------------------------------------------------------------------------------


def update_rollups(lake: Lake, zones: Iterable[str] = ()) -> int:
    """Bring the rollups of `DEFAULT_ZONES`, of every zone the lake already keeps and of `zones`
    up to date; count the days computed (all zones together)."""
    # The engine imports this module (reports read rollups); the build needs the engine.
    from evlog.replay.engine import ReplayEngine

    asked = {parse_tz(zone, "--rollup-tz").key for zone in zones}
    wanted = {*DEFAULT_ZONES, *(manifest.zone for manifest in manifests(lake)), *asked}
    # Listed before the engine opens the lake: a file a recorder adds meanwhile may be read but is
    # not in the manifest, so the days it touches count as changed (never the other way round).
    event_files = compact.event_files_by_day(lake)
    coverage = lake_coverage(lake)
    engine = ReplayEngine(lake)
    engine.con.sql("SET enable_progress_bar = false")  # `lake compact` prints its own summary
    build = _Build(lake, engine, engine.event_span(EntityKind.EVSE), event_files, coverage)
    return sum(_update_zone(build, zone) for zone in sorted(wanted))


@dataclass(frozen=True)
class _Build:
    """What every zone's update reads: the lake as listed once, and one engine over it."""

    lake: Lake
    engine: ReplayEngine
    recorded: EventSpan  # first event, last thing recorded
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
    # Up to the day of the last thing recorded, in progress or not: a day's rollup is exact for the
    # lake as it is, and whatever is recorded into it later makes it stale (see the module doc).
    last_day = _local_date(recorded.last_us - 1, zone)
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
        day = _day_of(path)
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


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone)


def _day_of(directory: Path) -> date:
    return date.fromisoformat(directory.name.removeprefix("date="))


def _local_date(micros: int, zone: ZoneInfo) -> date:
    instant = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
    return instant.astimezone(zone).date()


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
