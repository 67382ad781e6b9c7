"""OCPP connector statuses → OCPI 2.2.1 EVSE statuses: the one definition, and a lake's overrides.

eDRV reports each connector's status as the charger sent it in OCPP (`StatusNotification`): OCPP 1.6
`ChargePointStatus` or OCPP 2.0.1 `ConnectorStatusEnumType`. evlog's port observations
(`status_events`) hold OCPI statuses, so every EVSE report reads them as it reads HERE's. The
default mapping is `DEFAULT_MAPPING` (documented, with the spec text behind each line, in
docs/lake.md "Events from eDRV connectors"; a test checks that table against this one). A lake may
override any line with `<lake>/_config/ocpp-status-map.csv` (`ocpp_status,ocpi_status`); every
recorder and `evlog lake rebuild` apply the lake's mapping, so one lake has one.

Spellings are matched as status spellings are everywhere (docs/lake.md "Status spellings"): case
and the separators `_`, `-` and space are folded (`SuspendedEV`, `SUSPENDED_EV`, `suspended-ev`).
A spelling the mapping does not name is `UNKNOWN`, its text kept in `status_raw`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Final, NamedTuple

from evlog._errors import InputError, LakeError, UsageError
from evlog._lake.layout import atomic_write_text
from evlog._lake.names import Status
from evlog._sources._common import spelling_key

# Where a lake keeps its mapping overrides, relative to the lake's root.
STATUS_MAP_FILE: Final = Path("_config") / "ocpp-status-map.csv"
HEADER: Final = ("ocpp_status", "ocpi_status")


class MappingLine(NamedTuple):
    ocpp_status: str
    ocpi_status: Status
    ocpp_versions: str  # the OCPP versions that define the spelling


DEFAULT_MAPPING: Final = (
    MappingLine("Available", Status.AVAILABLE, "1.6, 2.0.1"),
    MappingLine("Preparing", Status.CHARGING, "1.6"),
    MappingLine("Charging", Status.CHARGING, "1.6"),
    MappingLine("SuspendedEV", Status.CHARGING, "1.6"),
    MappingLine("SuspendedEVSE", Status.CHARGING, "1.6"),
    MappingLine("Finishing", Status.CHARGING, "1.6"),
    MappingLine("Occupied", Status.CHARGING, "2.0.1"),
    MappingLine("Reserved", Status.RESERVED, "1.6, 2.0.1"),
    MappingLine("Unavailable", Status.INOPERATIVE, "1.6, 2.0.1"),
    MappingLine("Faulted", Status.OUT_OF_ORDER, "1.6, 2.0.1"),
)


def _key(spelling: str) -> str:
    key = spelling_key(spelling)
    if not key:
        raise UsageError(f"OCPP status {spelling!r}: only ASCII letters, digits and separators")
    return key


class StatusMap:
    """The mapping of one lake: `DEFAULT_MAPPING`, with `overrides` (OCPP spelling → OCPI status)
    replacing or adding lines."""

    def __init__(self, overrides: Mapping[str, Status] | None = None) -> None:
        self.overrides = dict(overrides or {})
        by_key: dict[str, Status] = {}
        for line in DEFAULT_MAPPING:
            by_key[_key(line.ocpp_status)] = line.ocpi_status
        for spelling, status in self.overrides.items():
            by_key[_key(spelling)] = status
        self._by_key = by_key

    def __call__(self, raw: str) -> Status:
        """The OCPI status of an OCPP spelling; `UNKNOWN` for one the mapping does not name."""
        key = spelling_key(raw)
        return Status.UNKNOWN if key is None else self._by_key.get(key, Status.UNKNOWN)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StatusMap) and self._by_key == other._by_key

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._by_key.items())))

    def __repr__(self) -> str:
        return f"StatusMap({self.overrides!r})"


DEFAULT_STATUS_MAP: Final = StatusMap()


def parse_status_map(text: str, name: str = "status map") -> StatusMap:
    """A `ocpp_status,ocpi_status` CSV (header required) as a `StatusMap`; `UsageError` naming
    the line for an unknown OCPI status, an empty or repeated OCPP spelling."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or tuple(cell.strip() for cell in rows[0]) != HEADER:
        raise UsageError(f"{name}: the first line must be {','.join(HEADER)}")
    overrides: dict[str, Status] = {}
    seen: dict[str, int] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != 2:
            raise UsageError(f"{name}, line {number}: expected 2 columns, got {len(row)}")
        spelling, status = row[0].strip(), row[1].strip()
        if status not in Status.__members__:
            known = ", ".join(s.value for s in Status)
            raise UsageError(f"{name}, line {number}: {status!r} is not an OCPI status ({known})")
        try:
            key = _key(spelling)
        except UsageError as exc:
            raise UsageError(f"{name}, line {number}: {exc}") from None
        if key in seen:
            raise UsageError(f"{name}, line {number}: {spelling!r} repeats line {seen[key]}")
        seen[key] = number
        overrides[spelling] = Status(status)
    return StatusMap(overrides)


def status_map_text(lines: Iterable[tuple[str, Status]]) -> str:
    """The CSV text of mapping lines (what `parse_status_map` reads back)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows((spelling, status.value) for spelling, status in lines)
    return out.getvalue()


def load_status_map(lake_root: Path) -> StatusMap:
    """The lake's mapping: its `_config/ocpp-status-map.csv` overrides, else the default;
    `LakeError` if that file cannot be read or is not a valid mapping."""
    path = lake_root / STATUS_MAP_FILE
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return DEFAULT_STATUS_MAP
    except (OSError, UnicodeDecodeError) as exc:
        raise LakeError(f"cannot read the lake's status map {path}: {exc}") from None
    try:
        return parse_status_map(text, str(path))
    except UsageError as exc:
        raise LakeError(f"damaged status map: {exc}") from None


def read_status_map(source: Path) -> str:
    """The text of a mapping file a user names; `InputError` if it cannot be read."""
    try:
        return source.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"--status-map: cannot read {source}: {exc}") from None


def write_status_map(lake_root: Path, mapping: StatusMap) -> None:
    """Make `mapping`'s overrides the lake's (written atomically; the caller holds the lake's
    write lock). Overrides that are all the default's lines still make a file: what was asked
    is what the lake keeps."""
    atomic_write_text(lake_root / STATUS_MAP_FILE, status_map_text(mapping.overrides.items()))
