"""The read side of per-day status rollups: where they live, what each zone's manifest records,
which rolled-up days a report may read. `evlog lake compact` builds them (the upkeep layer, which
says how); the replay reads them.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from evlog._lake.checkpoints import first_changed_day
from evlog._lake.layout import Lake, parquet_files, partition_date
from evlog._time import FOREVER_US, to_micros
from evlog._window import Window, parse_tz

ROLLUP_DIR = Path("rollups") / "status_time"
ROLLUP_FILE = "rollup.parquet"
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
        limit = FOREVER_US
        changed = first_changed_day(self.event_files, event_files)
        if changed is not None:  # events at or after that UTC midnight may differ
            limit = to_micros(datetime(changed.year, changed.month, changed.day, tzinfo=UTC))
        diverged = first_difference(self.coverage, coverage)
        return limit if diverged is None else min(limit, diverged)


def read_manifest(lake: Lake, zone: str) -> RollupManifest | None:
    path = manifest_path(lake, zone)
    return parse_manifest_file(path) if path.exists() else None


def parse_manifest_file(path: Path) -> RollupManifest:
    data = json.loads(path.read_text())
    return RollupManifest(
        zone=data["zone"],
        first_day=date.fromisoformat(data["first_day"]) if data["first_day"] else None,
        last_day=date.fromisoformat(data["last_day"]) if data["last_day"] else None,
        event_files=data["event_files"],
        coverage=[(s, e) for s, e in data["coverage"]],
        filled_days=frozenset(date.fromisoformat(d) for d in data.get("filled_days", [])),
    )


def manifests(lake: Lake) -> list[RollupManifest]:
    """The manifests of every zone the lake keeps rollups for."""
    return [parse_manifest_file(path) for path in sorted((lake.root / MANIFEST_DIR).glob("*.json"))]


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


@dataclass(frozen=True)
class RollupSpan:
    """The whole local days [start_us, end_us) of one zone that a report reads from rollups."""

    zone: str  # the `zone=` partition value
    start_us: int
    end_us: int
    first_day: date
    last_day: date
    days_are_periods: bool = False  # each of its days is one period of the report

    def params(self) -> dict[str, Any]:
        return {
            "rollup_zone": self.zone,
            "rollup_start_us": self.start_us,
            "rollup_end_us": self.end_us,
            "rollup_first_date": self.first_day,
            "rollup_last_date": self.last_day,
            "rollup_days_are_periods": self.days_are_periods,
        }


def usable_span(
    lake: Lake,
    window: Window,
    event_files: dict[str, list[str]],
    coverage: Callable[[], Sequence[Span]],
    available: Collection[tuple[str, date]],
) -> RollupSpan | None:
    """The longest run of valid rolled-up days inside `window` that its periods do not cut,
    given the lake's event files now (`event_files_by_day`), a way to its coverage, and
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
            zone_partition(manifest.zone),
            days[0][1][0],
            days[-1][1][1],
            days[0][0],
            days[-1][0],
            all(_whole_period(bounds, span) for _, span in days),
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
        (path.parent.parent.name.removeprefix("zone="), partition_date(path.parent))
        for path in files
    )


def _cut(bounds: list[int], span: Span) -> bool:
    """Whether a period boundary falls strictly inside `span` (sorted `bounds`)."""
    following = bisect.bisect_right(bounds, span[0])
    return following < len(bounds) and bounds[following] < span[1]


def _whole_period(bounds: list[int], span: Span) -> bool:
    """Whether `span` is one period: its ends are consecutive period bounds (sorted `bounds`)."""
    at = bisect.bisect_left(bounds, span[0])
    return at + 1 < len(bounds) and bounds[at] == span[0] and bounds[at + 1] == span[1]


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone)
