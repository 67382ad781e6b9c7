"""uptime: per charging station and period, online time, outages, MTTR and MTBF."""

from __future__ import annotations

from dataclasses import replace

from evlog._replay.runner import EntityKind
from evlog._reports._report import (
    HOLD_AFTER_GAP,
    METADATA_FILTERS,
    STATION,
    Report,
    check_group,
    group_option,
    replay,
    report_plot,
)

GROUP = group_option("stations")
# the figures of a station, and of a group of stations (`--group`)
_FIGURES = (
    "no_data_s",
    "unobserved_s",
    "observed_s",
    "online_s",
    "offline_s",
    "uptime_pct",
    "outages",
    "longest_outage_s",
    "mttr_s",
    "mtbf_s",
)

_PER_STATION = Report(
    name="uptime",
    entity="station x period",
    summary="Online and offline time per station and period, outages, MTTR and MTBF.",
    columns=(
        "station_id",
        "period_start",
        "period_end",
        *_FIGURES,
    ),
    run=replay,
    options=(STATION, *METADATA_FILTERS, GROUP, HOLD_AFTER_GAP),
    kind=EntityKind.STATION,
    sql="uptime",
    plot=report_plot("uptime", "uptime heat map (stations x periods)"),
    title="uptime",
    check=check_group,
)

BY_GROUP_REPORT = replace(
    _PER_STATION,
    name="uptime_by_group",
    entity="metadata value x period",
    summary="Per value of an eDRV metadata field (--group vendor, model, firmware, ...) and "
    "period, its stations' online and offline time and outages, summed, and uptime over the sums.",
    columns=(
        "group_by",
        "group_value",
        "period_start",
        "period_end",
        "stations",
        *_FIGURES,
    ),
    sql="uptime_by_group",
    plot=None,
    title="uptime by metadata group",
    switch=GROUP,
    command="uptime",
)

REPORT = replace(_PER_STATION, variants=(BY_GROUP_REPORT,))
