"""availability: per EVSE and period, time in every OCPI status, AVAILABLE and in-service ratios.

Its variant `availability_by_location` (`--by-location`) has one row per location: the time at
least one of its EVSEs was AVAILABLE.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from evlog._lake.names import Status
from evlog._replay.runner import EntityKind
from evlog._reports._report import (
    EVSE,
    FEED,
    HOLD_AFTER_GAP,
    LOCATION,
    METADATA_FILTERS,
    STATION_MAP,
    STATUS_ONLY,
    Option,
    Report,
    Values,
    check_group,
    group_option,
    replay,
    replay_params,
    report_plot,
)

STATUS_COLUMNS: tuple[str, ...] = tuple(f"{status.value.lower()}_s" for status in Status)

BY_LOCATION = Option(
    "by_location",
    "--by-location",
    bool,
    False,
    "One row per location: time with an EVSE AVAILABLE.",
)

if TYPE_CHECKING:
    from evlog._replay.engine import EngineBase

GROUP = group_option("EVSEs")


def _availability(report: Report, engine: EngineBase[Any], values: Values) -> Any:
    """The replay, with each linked port's station offline time counted against it
    (docs/reliability.md, "Connectivity") unless `--status-only`."""
    from evlog._replay.engine import NO_ROLLUPS

    window = engine.window(
        EntityKind.EVSE, values["start"], values["end"], values["by"], values["tz"]
    )
    links = [] if values["status_only"] else engine.station_links(window)
    links = list(dict.fromkeys([*links, *values["station_map"]]))
    if not links:
        return replay(report, engine, values)
    stations = {"entity_ids": sorted({station for station, _ in links}), "location_ids": []}
    return engine.relation(
        EntityKind.EVSE,
        "availability_connected",
        window,
        params_of={EntityKind.STATION: stations},
        map_station_ids=[station for station, _ in links],
        map_evse_ids=[evse for _, evse in links],
        data_end_us=window.end_us,  # the replay's rule: the last state holds to the window's end
        # the offline time needs the ports' intervals, which only a replay gives
        **{**replay_params(report, engine, window, values), NO_ROLLUPS: True},
    )


_PER_EVSE = Report(
    name="availability",
    entity="EVSE x period",
    summary="Time per OCPI status for each EVSE and period, available_pct and in_service_pct.",
    columns=(
        "location_id",
        "evse_id",
        "period_start",
        "period_end",
        "no_data_s",
        "unobserved_s",
        "observed_s",
        *STATUS_COLUMNS,
        "available_pct",
        "in_service_pct",
        "station_offline_s",
        "state_basis",
    ),
    run=_availability,
    options=(
        EVSE,
        LOCATION,
        *METADATA_FILTERS,
        FEED,
        BY_LOCATION,
        GROUP,
        STATION_MAP,
        STATUS_ONLY,
        HOLD_AFTER_GAP,
    ),
    kind=EntityKind.EVSE,
    sql="availability",
    plot=report_plot(
        "availability", "hour-of-week profile (hourly periods) or status share per period"
    ),
    rollups=True,
    title="availability",
    check=check_group,
)

BY_LOCATION_REPORT = replace(
    _PER_EVSE,
    name="availability_by_location",
    entity="location x period",
    summary="Per location and period, the time at least one of its EVSEs was AVAILABLE "
    "(available_s) out of the time at least one had a known status (known_s).",
    columns=(
        "location_id",
        "period_start",
        "period_end",
        "evses",
        "known_s",
        "available_s",
        "available_pct",
    ),
    sql="availability_by_location",
    run=replay,
    plot=report_plot(
        "availability", "hour-of-week profile (hourly periods) or available_pct heat map"
    ),
    rollups=False,  # the rollups hold per-EVSE status time, not "any EVSE available"
    title="availability by location",
    switch=BY_LOCATION,
    command="availability",
)

BY_GROUP_REPORT = replace(
    _PER_EVSE,
    name="availability_by_group",
    entity="metadata value x period",
    summary="Per value of an eDRV metadata field (--group vendor, model, firmware, ...) and "
    "period, the time its EVSEs spent in each status, summed, and the ratios over the sums.",
    columns=(
        "group_by",
        "group_value",
        "period_start",
        "period_end",
        "evses",
        "no_data_s",
        "unobserved_s",
        "observed_s",
        *STATUS_COLUMNS,
        "available_pct",
        "in_service_pct",
    ),
    sql="availability_by_group",
    run=replay,  # the status feed's times, as --by-location (no station offline time)
    plot=None,
    title="availability by metadata group",
    switch=GROUP,
    command="availability",
)

REPORT = replace(_PER_EVSE, variants=(BY_LOCATION_REPORT, BY_GROUP_REPORT))
