"""The read side of state checkpoints: where they live, what their manifest vouches for, which one
a replay may start from. `evlog lake compact` writes them (the upkeep layer); the replay reads them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from evlog._lake.layout import Lake, parquet_files, partition_date
from evlog._lake.names import Table
from evlog._time import from_micros

CHECKPOINT_DIR = Path("checkpoints") / Table.STATUS_EVENTS.value
MANIFEST = "manifest.json"


def event_files_by_day(lake: Lake) -> dict[str, list[str]]:
    """The status event files of each `date=` partition, as names relative to the lake."""
    # Names built as strings from one scandir per partition: reports list this on every read of a
    # long history, and Path objects per file cost several times more.
    table = Table.STATUS_EVENTS.value
    base = lake.root / table
    by_day: dict[str, list[str]] = {}
    if not base.is_dir():
        return by_day
    for folder in sorted(os.scandir(base), key=lambda entry: entry.name):
        if not (folder.name.startswith("date=") and folder.is_dir()):
            continue
        names = sorted(e.name for e in os.scandir(folder.path) if e.name.endswith(".parquet"))
        if names:
            prefix = f"{table}/{folder.name}/"
            by_day[folder.name.removeprefix("date=")] = [prefix + name for name in names]
    return by_day


def checkpoint_path(lake: Lake, day: date) -> Path:
    return lake.root / CHECKPOINT_DIR / f"date={day.isoformat()}" / "checkpoint.parquet"


def checkpoint_days(lake: Lake, files: Iterable[Path] | None = None) -> frozenset[date]:
    """The days with a checkpoint file (among `files`, default: on disk now)."""
    if files is None:
        files = parquet_files(lake.root / CHECKPOINT_DIR)
    return frozenset(partition_date(path.parent) for path in files)


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


@dataclass(frozen=True)
class CheckpointManifest:
    """What the checkpoints were computed from, and the days they vouch for."""

    files: dict[str, list[str]]  # `date=` partition -> its status event files
    days: frozenset[date]  # the checkpoint days computed from `files`: no other file is valid


def read_manifest(lake: Lake) -> CheckpointManifest | None:
    path = lake.root / CHECKPOINT_DIR / MANIFEST
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    # a manifest without "days" (written before they were recorded) vouches for none
    days = frozenset(date.fromisoformat(day) for day in data.get("days", []))
    return CheckpointManifest(data["files"], days)


def usable_checkpoint(
    lake: Lake,
    before_us: int,
    event_files: dict[str, list[str]] | None = None,
    available: Collection[date] | None = None,
) -> date | None:
    """The latest checkpoint day at or before `before_us` whose history is unchanged, if any.

    A checkpoint for day D is valid while the manifest vouches for D and every event partition
    dated before D holds exactly the files it was computed from. `event_files`: the lake's
    listing, if at hand; `available`: the checkpoint days a reader can see (default: on disk now).
    """
    manifest = read_manifest(lake)
    if manifest is None:
        return None
    current = event_files_by_day(lake) if event_files is None else event_files
    changed = first_changed_day(manifest.files, current)
    limit = from_micros(before_us).date()
    if changed is not None:  # a checkpoint after a changed day would miss the change
        limit = min(limit, changed)
    if available is None:
        available = checkpoint_days(lake)
    usable = [day for day in available if day <= limit and day in manifest.days]
    return max(usable) if usable else None
