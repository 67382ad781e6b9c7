"""Exclusion files for `evlog report reliability --exclusions FILE`, and the station map.

An exclusions file is CSV with a header naming at least `entity_id, start, end, cause`; an optional
`note` (or `notes`) column is carried into the outage ledger, other columns (a ticket number, ...)
are allowed and ignored::

    entity_id,start,end,cause,note
    EVSE-1,2026-03-01T08:00:00Z,2026-03-02T08:00:00Z,grid_power_loss,utility ticket 4711
    STATION-7,2026-05-10,2026-05-25,vandalism,cable cut

`entity_id` is a port (EVSE) id, or a station id from `--station-map`, or a location id: the row
then applies to every port of that station or location. Times are ISO 8601; a time without an
offset is UTC, a date alone is its midnight. The window is [start, end).

Every problem is a `UsageError` naming the file and the line (line 1 is the header), so the CLI
prints one line and exits 2: a missing column, an empty id, a time that does not parse, an end not
after its start, or a cause the chosen standard does not allow. Overlapping rows are *not* an error:
the reliability SQL merges them per port and cause, so no minute is excluded twice.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from evlog._errors import UsageError

EXCLUSION_COLUMNS: tuple[str, ...] = ("entity_id", "start", "end", "cause")
STATION_MAP_COLUMNS: tuple[str, ...] = ("station_id", "evse_id")
NOTE_COLUMNS: tuple[str, ...] = ("note", "notes")


class Cause(StrEnum):
    """Canonical exclusion causes (the `cause` column; aliases below)."""

    GRID_POWER_LOSS = "grid_power_loss"
    NATURAL_DISASTER = "natural_disaster"
    VANDALISM = "vandalism"
    PLANNED_MAINTENANCE = "planned_maintenance"
    VEHICLE_FAULT = "vehicle_fault"
    OUTSIDE_HOURS = "outside_hours"


# Spellings users write, after lower-casing and turning spaces and hyphens into underscores.
CAUSE_ALIASES: dict[str, Cause] = {
    "grid": Cause.GRID_POWER_LOSS,
    "grid_loss": Cause.GRID_POWER_LOSS,
    "power_loss": Cause.GRID_POWER_LOSS,
    "utility": Cause.GRID_POWER_LOSS,
    "utility_interruption": Cause.GRID_POWER_LOSS,
    "electric_utility_service_interruption": Cause.GRID_POWER_LOSS,
    "electric_utility_service_interruptions": Cause.GRID_POWER_LOSS,
    "natural_disasters": Cause.NATURAL_DISASTER,
    "maintenance": Cause.PLANNED_MAINTENANCE,
    "scheduled_maintenance": Cause.PLANNED_MAINTENANCE,
    "vehicle": Cause.VEHICLE_FAULT,
    "outside_hours_of_operation": Cause.OUTSIDE_HOURS,
}


@dataclass(frozen=True)
class Exclusion:
    """One validated row; `line` is its line in the file (for messages and tests)."""

    entity_id: str
    start: datetime
    end: datetime
    cause: Cause
    line: int = 0
    note: str = ""
    source: str = ""  # where the row came from, `FILE:LINE` (the outage ledger's `excluded_by`)


def parse_cause(value: str) -> Cause | None:
    key = value.strip().lower().replace(" ", "_").replace("-", "_")
    if key in Cause._value2member_map_:
        return Cause(key)
    return CAUSE_ALIASES.get(key)


def read_csv_rows(path: Path, option: str) -> list[list[str]]:
    if not path.is_file():
        raise UsageError(f"{option}: {path}: no such file")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UsageError(f"{option}: {path}: cannot read CSV: {exc}") from None


def csv_columns(
    rows: list[list[str]], path: Path, option: str, required: tuple[str, ...]
) -> dict[str, int]:
    if not rows:
        raise UsageError(f"{option}: {path}: empty file, expected a header {','.join(required)}")
    header = [name.strip().lower() for name in rows[0]]
    missing = [name for name in required if name not in header]
    if missing:
        raise UsageError(
            f"{option}: {path}:1: header lacks column(s) {', '.join(missing)} "
            f"(expected {','.join(required)})"
        )
    return {name: header.index(name) for name in required}


def _time(value: str, path: Path, line: int, column: str) -> datetime:
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"--exclusions: {path}:{line}: {column} is not an ISO 8601 time: {text!r}"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def load_exclusions(
    path: str | os.PathLike[str], allowed: frozenset[Cause], standard: str
) -> list[Exclusion]:
    """Read and validate an exclusions file; `allowed` are the causes `standard` accepts."""
    target = Path(path)
    rows = read_csv_rows(target, "--exclusions")
    columns = csv_columns(rows, target, "--exclusions", EXCLUSION_COLUMNS)
    header = [name.strip().lower() for name in rows[0]]
    note_column = next((header.index(n) for n in NOTE_COLUMNS if n in header), None)
    exclusions: list[Exclusion] = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue  # blank line
        if len(row) <= max(columns.values()):
            raise UsageError(
                f"--exclusions: {target}:{line}: expected {len(rows[0])} fields, got {len(row)}"
            )
        entity_id = row[columns["entity_id"]].strip()
        if not entity_id:
            raise UsageError(f"--exclusions: {target}:{line}: entity_id is empty")
        start = _time(row[columns["start"]], target, line, "start")
        end = _time(row[columns["end"]], target, line, "end")
        if end <= start:
            raise UsageError(
                f"--exclusions: {target}:{line}: end {end.isoformat()} is not after start "
                f"{start.isoformat()}"
            )
        raw_cause = row[columns["cause"]].strip()
        cause = parse_cause(raw_cause)
        if cause is None or cause not in allowed:
            choices = ", ".join(sorted(c.value for c in allowed))
            raise UsageError(
                f"--exclusions: {target}:{line}: cause {raw_cause!r} is not allowed under "
                f"{standard} (allowed: {choices})"
            )
        has_note = note_column is not None and note_column < len(row)
        note = row[note_column].strip() if note_column is not None and has_note else ""
        exclusions.append(
            Exclusion(entity_id, start, end, cause, line, note, f"{target.name}:{line}")
        )
    return exclusions


def parse_station_map(
    value: str | os.PathLike[str] | Iterable[tuple[str, str]] | None, flag: str = "--station-map"
) -> list[tuple[str, str]]:
    """`--station-map FILE`, or the API's (station_id, evse_id) pairs."""
    if value is None:
        return []
    if isinstance(value, str | os.PathLike):
        return load_station_map(value)
    return [(str(s), str(e)) for s, e in value]


def load_station_map(path: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """Read a `station_id,evse_id` CSV: the ports a station's connectivity stands for."""
    target = Path(path)
    rows = read_csv_rows(target, "--station-map")
    columns = csv_columns(rows, target, "--station-map", STATION_MAP_COLUMNS)
    pairs: dict[tuple[str, str], None] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= max(columns.values()):
            raise UsageError(
                f"--station-map: {target}:{line}: expected {len(rows[0])} fields, got {len(row)}"
            )
        station_id = row[columns["station_id"]].strip()
        evse_id = row[columns["evse_id"]].strip()
        if not station_id or not evse_id:
            raise UsageError(f"--station-map: {target}:{line}: station_id and evse_id are required")
        pairs[(station_id, evse_id)] = None
    return list(pairs)


#: `excluded_outage_reason` (1-6, EV-ChART's migration JE-6990 `CHECK ... BETWEEN 1 AND 6`): the
#: six exclusions of 23 CFR 680.116(b)(3) in the order the rule lists them (the repository holds
#: only the range; see docs/reliability.md). The outage ledger's `exclusion_code` and the EV-ChART
#: export's reason.
EXCLUSION_REASONS: dict[Cause, int] = {
    Cause.GRID_POWER_LOSS: 1,  # electric utility service interruptions
    Cause.VEHICLE_FAULT: 2,  # failure to charge ... due to the fault of the vehicle
    Cause.PLANNED_MAINTENANCE: 3,  # scheduled maintenance
    Cause.VANDALISM: 4,
    Cause.NATURAL_DISASTER: 5,
    Cause.OUTSIDE_HOURS: 6,  # hours outside of the identified hours of operation
}
