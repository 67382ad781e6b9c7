"""Opening hours for `evlog report reliability --opening-hours FILE`: when a port can be accessed.

Two formats (docs/reliability.md, "Opening hours"):

- **OCPI 2.2.1 JSON** (`.json`): Location objects (a list, one object, or an OCPI response whose
  `data` is either) with `id`, `time_zone` and `opening_times`, the §8.4.14 *Hours* class
  (`twentyfourseven`, `regular_hours` [{weekday 1 = Monday .. 7, period_begin, period_end}],
  `exceptional_openings`, `exceptional_closings` [{period_begin, period_end}]); or an object
  mapping an entity id to its Hours. Regular hours are local to the location's `time_zone` (else
  `--tz`); exceptional periods are OCPI DateTimes, UTC when they carry no offset (OCPI §16.2).
- **CSV** (any other name): a header with at least `entity_id,weekday,open,close` and optionally
  `tz`; one row per regular period (`weekday` 1-7, a name `mon`..`sun`, or a range `mon-fri`;
  `open`/`close` HH:MM local times), or `weekday` = `24/7` (always open), `open` (an exceptional
  opening) or `closed` (an exceptional closing), whose `open`/`close` are a local date or date and
  time (an offset makes them exact instants).

A port is open when *every* entry that applies to it (its own, its location's, its mapped
stations') is open: the file's closed time is the union over them. A port no entry names is open
throughout. `closed_intervals` turns an entry into the closed intervals inside a range, which the
reliability SQL reads as bound list parameters; every problem in a file is a `UsageError` naming
the file and the line (CSV) or field (JSON), so the command line prints one line and exits 2.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from evlog._errors import UsageError
from evlog._reports.exclusions import csv_columns, read_csv_rows
from evlog._time import to_micros

OPTION = "--opening-hours"
HOURS_COLUMNS: tuple[str, ...] = ("entity_id", "weekday", "open", "close")
DAY_MIN = 1440
_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAYS = {
    **{name: n for n, name in enumerate(_DAY_NAMES, start=1)},
    **{name[:3]: n for n, name in enumerate(_DAY_NAMES, start=1)},
}
_ALWAYS = frozenset({"24/7", "twentyfourseven", "always"})
_HHMM = re.compile(r"([01][0-9]|2[0-4]):([0-5][0-9])")


@dataclass(frozen=True)
class Hours:
    """One entity's access hours. `regular`: (ISO weekday, first minute, last minute) in local
    time, the end past the begin (a period past midnight ends after 1440); `openings`/`closings`
    are exact [start, end) instants; `source` names the file and the line(s) or field."""

    entity_id: str
    zone: ZoneInfo
    always: bool
    regular: tuple[tuple[int, int, int], ...]
    openings: tuple[tuple[datetime, datetime], ...]
    closings: tuple[tuple[datetime, datetime], ...]
    source: str


def _union(intervals: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _local(day: date, minute: int, zone: ZoneInfo) -> datetime:
    """The instant of `minute` minutes after local midnight of `day` (wall clock: a period from
    08:00 is 08:00 on the day the clocks change too)."""
    day = day + timedelta(days=minute // DAY_MIN)
    minute %= DAY_MIN
    wall = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=zone)
    return wall.astimezone(UTC)


def open_intervals(hours: Hours, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """When `hours` says open inside [start, end): the regular periods of every local day (and the
    day before, for a period past midnight), plus the exceptional openings, minus the exceptional
    closings ("Overwriting regular_hours and exceptional_openings", OCPI 2.2.1 §8.4.14)."""
    pieces: list[tuple[datetime, datetime]] = []
    if hours.always:
        pieces.append((start, end))
    else:
        day = start.astimezone(hours.zone).date() - timedelta(days=1)
        last = end.astimezone(hours.zone).date()
        while day <= last:
            weekday = day.isoweekday()
            for wd, first, stop in hours.regular:
                if wd == weekday:
                    pieces.append((_local(day, first, hours.zone), _local(day, stop, hours.zone)))
            day += timedelta(days=1)
    pieces.extend(hours.openings)
    opened = _subtract(_union(pieces), _union(list(hours.closings)))
    return [(max(s, start), min(e, end)) for s, e in opened if s < end and e > start]


def _subtract(
    intervals: list[tuple[datetime, datetime]], holes: list[tuple[datetime, datetime]]
) -> list[tuple[datetime, datetime]]:
    """`intervals` minus `holes`, both sorted and disjoint."""
    result: list[tuple[datetime, datetime]] = []
    for start, stop in intervals:
        cursor = start
        for hole_start, hole_end in holes:
            if hole_end <= cursor or hole_start >= stop:
                continue
            if hole_start > cursor:
                result.append((cursor, hole_start))
            cursor = max(cursor, hole_end)
        if cursor < stop:
            result.append((cursor, stop))
    return result


def closed_intervals(
    hours: Hours, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """When `hours` says closed inside [start, end) (the complement of `open_intervals`)."""
    return _subtract([(start, end)], open_intervals(hours, start, end)) if start < end else []


def closed_micros(hours: Hours, start: datetime, end: datetime) -> tuple[tuple[int, int], ...]:
    """`closed_intervals` in epoch microseconds, computed once per distinct set of hours (a
    network's locations mostly share a few: every entity with the same hours reuses them)."""
    return _closed_micros(replace(hours, entity_id="", source=""), start, end)


@lru_cache(maxsize=4096)
def _closed_micros(hours: Hours, start: datetime, end: datetime) -> tuple[tuple[int, int], ...]:
    return tuple((to_micros(s), to_micros(e)) for s, e in closed_intervals(hours, start, end))


# ------------------------------------------------------------------------------------------------
# reading


def load_opening_hours(path: str | os.PathLike[str], default_tz: ZoneInfo) -> list[Hours]:
    """Read and validate an opening-hours file (OCPI JSON when it ends in `.json`, else CSV);
    times without a zone of their own are in `default_tz` (`--tz`)."""
    target = Path(path)
    if not target.is_file():
        raise UsageError(f"{OPTION}: {target}: no such file")
    if target.suffix.lower() == ".json":
        return _load_json(target, default_tz)
    return _load_csv(target, default_tz)


def _zone(value: str, where: str) -> ZoneInfo:
    try:
        return ZoneInfo(value.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"{OPTION}: {where}: unknown time zone {value!r}") from None


def _minute(value: str, where: str) -> int:
    match = _HHMM.fullmatch(value.strip())
    if match is None or (match.group(1) == "24" and match.group(2) != "00"):
        raise UsageError(f"{where}: expected a time HH:MM (00:00 to 24:00), got {value!r}")
    return int(match.group(1)) * 60 + int(match.group(2))


def _period(weekday: int, begin: int, stop: int) -> tuple[int, int, int]:
    """A regular period; an end at or before its begin runs past midnight (feeds write 00:00 for
    midnight although OCPI asks for an end later than the begin)."""
    return (weekday, begin, stop if stop > begin else stop + DAY_MIN)


def _instant(value: str, zone: tzinfo, where: str) -> datetime:
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{where}: expected an ISO 8601 date or time, got {text!r}") from None
    return parsed.replace(tzinfo=zone) if parsed.tzinfo is None else parsed


def _exceptional(begin: datetime, stop: datetime, where: str) -> tuple[datetime, datetime]:
    if stop <= begin:
        raise UsageError(f"{where}: end {stop.isoformat()} is not after begin {begin.isoformat()}")
    return begin.astimezone(UTC), stop.astimezone(UTC)


def _weekdays(value: str, where: str) -> list[int]:
    text = value.strip().lower()
    first, _, last = text.partition("-")

    def one(name: str) -> int:
        name = name.strip()
        if name.isdigit() and 1 <= int(name) <= 7:
            return int(name)
        if name in _WEEKDAYS:
            return _WEEKDAYS[name]
        raise UsageError(
            f"{where}: weekday {value!r} is not 1-7, mon..sun, a range mon-fri, 24/7, open "
            "or closed"
        )

    start = one(first)
    stop = one(last) if last else start
    return [(start - 1 + i) % 7 + 1 for i in range((stop - start) % 7 + 1)]


@dataclass
class _Entry:
    zone: ZoneInfo
    zone_line: int
    always: bool = False
    regular: list[tuple[int, int, int]] | None = None
    openings: list[tuple[datetime, datetime]] | None = None
    closings: list[tuple[datetime, datetime]] | None = None
    lines: list[int] | None = None


def _load_csv(target: Path, default_tz: ZoneInfo) -> list[Hours]:
    rows = read_csv_rows(target, OPTION)
    columns = csv_columns(rows, target, OPTION, HOURS_COLUMNS)
    header = [name.strip().lower() for name in rows[0]]
    tz_column = header.index("tz") if "tz" in header else None
    entries: dict[str, _Entry] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        where = f"{OPTION}: {target}:{line}"
        if len(row) < len(header):
            raise UsageError(f"{where}: expected {len(header)} fields, got {len(row)}")
        entity_id = row[columns["entity_id"]].strip()
        if not entity_id:
            raise UsageError(f"{where}: entity_id is empty")
        zone_text = row[tz_column].strip() if tz_column is not None else ""
        zone = _zone(zone_text, f"{target}:{line}") if zone_text else default_tz
        entry = entries.setdefault(entity_id, _Entry(zone, line, regular=[], openings=[],
                                                     closings=[], lines=[]))  # fmt: skip
        if zone.key != entry.zone.key:
            raise UsageError(
                f"{where}: tz {zone.key} differs from {entry.zone.key} (line {entry.zone_line}) "
                f"for {entity_id}"
            )
        assert entry.regular is not None and entry.lines is not None
        assert entry.openings is not None and entry.closings is not None
        entry.lines.append(line)
        kind = row[columns["weekday"]].strip().lower()
        opens, closes = row[columns["open"]], row[columns["close"]]
        if kind in _ALWAYS:
            entry.always = True
        elif kind in ("open", "closed"):
            period = _exceptional(
                _instant(opens, zone, f"{where}: open"),
                _instant(closes, zone, f"{where}: close"),
                where,
            )
            (entry.openings if kind == "open" else entry.closings).append(period)
        else:
            days = _weekdays(kind, where)
            begin, stop = _minute(opens, f"{where}: open"), _minute(closes, f"{where}: close")
            entry.regular.extend(_period(day, begin, stop) for day in days)
    return [
        Hours(
            entity_id,
            entry.zone,
            entry.always,
            tuple(entry.regular or ()),
            tuple(entry.openings or ()),
            tuple(entry.closings or ()),
            f"{target.name}:{','.join(map(str, entry.lines or ()))}",
        )
        for entity_id, entry in entries.items()
    ]


def _load_json(target: Path, default_tz: ZoneInfo) -> list[Hours]:
    try:
        document = json.loads(target.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{OPTION}: {target}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{OPTION}: {target}:{exc.lineno}: not JSON: {exc.msg} (column {exc.colno})"
        ) from None
    return [
        _json_hours(target, path, entity_id, zone, opening_times, default_tz)
        for path, entity_id, zone, opening_times in _json_entries(document, target)
    ]


def _json_entries(document: Any, target: Path) -> Iterator[tuple[str, str, Any, Any]]:
    """(field path, entity id, time_zone, opening_times) of each entry of an OCPI document."""
    if isinstance(document, dict) and isinstance(document.get("data"), list | dict):
        document, prefix = document["data"], "data"
    else:
        prefix = ""
    if isinstance(document, list) or (isinstance(document, dict) and "id" in document):
        locations = document if isinstance(document, list) else [document]
        for index, location in enumerate(locations):
            path = f"{prefix}[{index}]"
            if not isinstance(location, dict):
                raise UsageError(f"{OPTION}: {target}: {path}: expected an OCPI Location object")
            entity_id = location.get("id")
            if not isinstance(entity_id, str) or not entity_id.strip():
                raise UsageError(f"{OPTION}: {target}: {path}.id: expected the location's id")
            if location.get("opening_times") is None:
                continue  # no opening_times: OCPI says nothing about access; open throughout
            yield path, entity_id.strip(), location.get("time_zone"), location["opening_times"]
    elif isinstance(document, dict):
        for entity_id, opening_times in document.items():
            yield f"{prefix}.{entity_id}".lstrip("."), entity_id, None, opening_times
    else:
        raise UsageError(
            f"{OPTION}: {target}: expected OCPI Location objects or an object of id: opening_times"
        )


def _json_hours(
    target: Path, path: str, entity_id: str, zone_value: Any, hours: Any, default_tz: ZoneInfo
) -> Hours:
    def where(field: str) -> str:
        return f"{OPTION}: {target}: {path}{field}"

    if zone_value is not None and not isinstance(zone_value, str):
        raise UsageError(f"{where('.time_zone')}: expected an IANA time zone name")
    zone = _zone(zone_value, f"{target}: {path}.time_zone") if zone_value else default_tz
    prefix = ".opening_times" if path.startswith(("[", "data[")) else ""
    if not isinstance(hours, dict):
        raise UsageError(f"{where(prefix)}: expected an OCPI Hours object")
    always = hours.get("twentyfourseven")
    if not isinstance(always, bool):
        raise UsageError(f"{where(prefix + '.twentyfourseven')}: expected true or false")
    regular: list[tuple[int, int, int]] = []
    for index, item in enumerate(_json_list(hours, "regular_hours", where(prefix))):
        at = where(f"{prefix}.regular_hours[{index}]")
        if not isinstance(item, dict):
            raise UsageError(f"{at}: expected a RegularHours object")
        weekday = item.get("weekday")
        if not isinstance(weekday, int) or isinstance(weekday, bool) or not 1 <= weekday <= 7:
            raise UsageError(f"{at}.weekday: expected 1 (Monday) to 7 (Sunday), got {weekday!r}")
        begin = _minute(_json_text(item, "period_begin", at), f"{at}.period_begin")
        stop = _minute(_json_text(item, "period_end", at), f"{at}.period_end")
        regular.append(_period(weekday, begin, stop))
    if not always and not regular:
        raise UsageError(
            f"{where(prefix + '.regular_hours')}: twentyfourseven is false, so regular_hours "
            "needs at least one RegularHours object (OCPI 2.2.1 §8.4.14)"
        )
    periods: dict[str, list[tuple[datetime, datetime]]] = {}
    for name in ("exceptional_openings", "exceptional_closings"):
        periods[name] = []
        for index, item in enumerate(_json_list(hours, name, where(prefix))):
            at = where(f"{prefix}.{name}[{index}]")
            if not isinstance(item, dict):
                raise UsageError(f"{at}: expected an ExceptionalPeriod object")
            begin_at = _instant(_json_text(item, "period_begin", at), UTC, f"{at}.period_begin")
            stop_at = _instant(_json_text(item, "period_end", at), UTC, f"{at}.period_end")
            periods[name].append(_exceptional(begin_at, stop_at, at))
    return Hours(
        entity_id,
        zone,
        always,
        tuple(regular),
        tuple(periods["exceptional_openings"]),
        tuple(periods["exceptional_closings"]),
        f"{target.name}:{path}",
    )


def _json_list(hours: dict[str, Any], name: str, where: str) -> list[Any]:
    value = hours.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise UsageError(f"{where}.{name}: expected a list")
    return value


def _json_text(item: dict[str, Any], name: str, where: str) -> str:
    value = item.get(name)
    if not isinstance(value, str):
        raise UsageError(f"{where}.{name}: expected a string, got {value!r}")
    return value
