"""uptime: per charging station and period, online time, outages, MTTR and MTBF."""

from __future__ import annotations

from evlog._replay.runner import EntityKind
from evlog._reports._report import HOLD_AFTER_GAP, STATION, Report, replay, report_plot

REPORT = Report(
    name="uptime",
    entity="station x period",
    summary="Online and offline time per station and period, outages, MTTR and MTBF.",
    columns=(
        "station_id",
        "period_start",
        "period_end",
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
    ),
    run=replay,
    options=(STATION, HOLD_AFTER_GAP),
    kind=EntityKind.STATION,
    sql="uptime",
    plot=report_plot("uptime", "uptime heat map (stations x periods)"),
    title="uptime",
)
