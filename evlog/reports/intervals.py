"""intervals: the replayed state intervals themselves (entity, state, start, end), for analysts.

EVSE intervals carry OCPI statuses, station intervals `online`/`offline`; both kinds also have
`no_data` and `unobserved`. Adjacent intervals of the same state are merged; intervals are clipped
to the window and split at period boundaries when `--by` asks for it.
"""

from __future__ import annotations

from collections.abc import Iterable

from evlog.replay.engine import EngineBase, R
from evlog.replay.options import Window, parse_ids
from evlog.replay.runner import EntityKind

COLUMNS: tuple[str, ...] = (
    "entity_kind",
    "entity_id",
    "location_id",
    "state",
    "start",
    "end",
    "duration_s",
)


def selected_kinds(
    evse: tuple[str, ...], location: tuple[str, ...], station: tuple[str, ...]
) -> list[EntityKind]:
    """Both kinds unless the filters name only one: `--evse X` alone lists no station."""
    wants_evses = bool(evse or location)
    wants_stations = bool(station)
    if wants_evses == wants_stations:
        return [EntityKind.EVSE, EntityKind.STATION]
    return [EntityKind.EVSE] if wants_evses else [EntityKind.STATION]


def intervals(
    engine: EngineBase[R],
    window: Window,
    *,
    evse: Iterable[str] = (),
    location: Iterable[str] = (),
    station: Iterable[str] = (),
    hold_after_gap: bool = False,
) -> R:
    evse_ids, location_ids, station_ids = parse_ids(evse), parse_ids(location), parse_ids(station)
    relations = []
    for kind in selected_kinds(evse_ids, location_ids, station_ids):
        is_evse = kind is EntityKind.EVSE
        relations.append(
            engine.relation(
                kind,
                "interval_rows",
                window,
                entity_kind=kind.value,
                entity_ids=list(evse_ids if is_evse else station_ids),
                location_ids=list(location_ids if is_evse else ()),
                hold_after_gap=hold_after_gap,
            )
        )
    return engine.union_ordered(relations, ["entity_kind", "entity_id", "start"])
