"""uptime: per charging station and period, online time, outages, MTTR and MTBF."""

from __future__ import annotations

from collections.abc import Iterable

from evlog.replay.engine import EngineBase, R
from evlog.replay.options import Window, parse_ids
from evlog.replay.runner import EntityKind

COLUMNS: tuple[str, ...] = (
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
)


def uptime(
    engine: EngineBase[R],
    window: Window,
    *,
    station: Iterable[str] = (),
    hold_after_gap: bool = False,
) -> R:
    return engine.relation(
        EntityKind.STATION,
        "uptime",
        window,
        entity_ids=list(parse_ids(station)),
        hold_after_gap=hold_after_gap,
    )
