"""intervals: the replayed state intervals themselves (entity, state, interval_start, interval_end),
for analysts.

EVSE intervals carry OCPI statuses, station intervals `online`/`offline`; both kinds also have
`no_data` and `unobserved`. Adjacent intervals of the same state are merged; intervals are clipped
to the window and split at period boundaries when `--by` asks for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from evlog._replay.runner import EntityKind
from evlog._reports._report import (
    EVSE,
    HOLD_AFTER_GAP,
    LOCATION,
    METADATA_FILTERS,
    STATION,
    Report,
    Values,
    narrowed_ids,
    report_plot,
)
from evlog._window import Period

if TYPE_CHECKING:
    from evlog._replay.engine import EngineBase, R


def selected_kinds(
    evse: tuple[str, ...], location: tuple[str, ...], station: tuple[str, ...]
) -> list[EntityKind]:
    """Both kinds unless the filters name only one: `--evse X` alone lists no station."""
    wants_evses = bool(evse or location)
    wants_stations = bool(station)
    if wants_evses == wants_stations:
        return [EntityKind.EVSE, EntityKind.STATION]
    return [EntityKind.EVSE] if wants_evses else [EntityKind.STATION]


def _intervals(report: Report, engine: EngineBase[R], values: Values) -> R:
    evse_ids, location_ids, station_ids = values["evse"], values["location"], values["station"]
    kinds = selected_kinds(evse_ids, location_ids, station_ids)
    # the window spans the stations' events only when only stations are asked for
    window_kind = kinds[0] if len(kinds) == 1 else EntityKind.EVSE
    window = engine.window(window_kind, values["start"], values["end"], values["by"], values["tz"])
    relations = []
    for kind in kinds:
        is_evse = kind is EntityKind.EVSE
        given = evse_ids if is_evse else station_ids
        relations.append(
            engine.relation(
                kind,
                "interval_rows",
                window,
                entity_kind=kind.value,
                entity_ids=list(narrowed_ids(engine, kind, window, values, given)),
                location_ids=list(location_ids if is_evse else ()),
                hold_after_gap=values["hold_after_gap"],
            )
        )
    return engine.union_ordered(relations, ["entity_kind", "entity_id", "interval_start"])


REPORT: Report = Report(
    name="intervals",
    entity="replayed state interval (EVSEs and stations)",
    summary="The replayed state intervals (entity, state, interval_start, interval_end) of EVSEs "
    "and stations.",
    columns=(
        "entity_kind",
        "entity_id",
        "location_id",
        "state",
        "interval_start",
        "interval_end",
        "duration_s",
    ),
    run=_intervals,
    options=(EVSE, LOCATION, STATION, *METADATA_FILTERS, HOLD_AFTER_GAP),
    default_by=Period.NONE,
    plot=report_plot("intervals", "state timeline"),
    title="intervals",
)
