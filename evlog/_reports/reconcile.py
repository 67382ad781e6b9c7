"""`evlog report reconcile`: poll snapshots that contradict the webhook-derived state.

For every `edrv_poll` snapshot, the webhook state at that instant is the last `edrv_webhooks`
connectivity event of the station at or before the snapshot time (state durability: a station
stays in its last reported state), found with a DuckDB ASOF JOIN. Where the two disagree, a
webhook was missed (or is late): the snapshot saw the station offline while the webhooks still
say online (a missed `chargestation.offline`), or the reverse.

Snapshots of stations with no webhook before them are not contradictions (no state yet). Where
several webhooks share one event time, the latest-arriving state holds, a state arriving with its
first copy (rule *Order by event time* of docs/replay.md, in its one written order `arrival_order`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evlog._errors import UsageError
from evlog._lake.names import Source, Table
from evlog._replay.runner import expand_rules
from evlog._reports._report import END, LAKE, START, STATION, Report, Values
from evlog._time import parse_instant

if TYPE_CHECKING:
    import duckdb
    import polars as pl

    from evlog._lake.layout import Lake
    from evlog._replay.engine import EngineBase

RECONCILE_SQL = expand_rules("""
WITH snapshots AS (
    SELECT station_id, event_time AS snapshot_time, online AS snapshot_online
    FROM connectivity_events
    WHERE source = $poll_source
      AND ($start IS NULL OR event_time >= $start)
      AND ($end IS NULL OR event_time < $end)
      AND (len($stations) = 0 OR list_contains($stations, station_id))
),
first_copies AS (
    -- Rule *Order by event time*, as the replay applies it: a state arrives with its first copy
    -- (a republished copy does not make it the latest-arriving), then the latest-arriving state
    -- at one event time holds. Stations have no evse_index; the rule's order reads it as NULL.
    SELECT station_id, event_time, online, event, webhook_id,
        received_at, arrival_index, NULL::INTEGER AS evse_index, record_key
    FROM connectivity_events
    WHERE source = $webhook_source
      AND (len($stations) = 0 OR list_contains($stations, station_id))
    QUALIFY row_number() OVER (
        PARTITION BY station_id, event_time, online ORDER BY {{arrival_order}}
    ) = 1
),
webhooks AS (
    SELECT station_id, event_time, online, event, webhook_id
    FROM first_copies
    QUALIFY row_number() OVER (
        PARTITION BY station_id, event_time ORDER BY {{arrival_order DESC}}
    ) = 1
)
SELECT
    s.station_id,
    s.snapshot_time,
    s.snapshot_online,
    w.online AS webhook_online,
    w.event_time AS webhook_event_time,
    w.event AS webhook_event,
    w.webhook_id,
    CASE WHEN s.snapshot_online THEN 'chargestation.online' ELSE 'chargestation.offline' END
        AS missed,
    epoch_us(s.snapshot_time) / 1e6 - epoch_us(w.event_time) / 1e6 AS since_webhook_s
FROM snapshots s
ASOF JOIN webhooks w
    ON s.station_id = w.station_id AND s.snapshot_time >= w.event_time
WHERE s.snapshot_online <> w.online
ORDER BY s.station_id, s.snapshot_time
""")


def reconcile_relation(
    con: duckdb.DuckDBPyConnection,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    stations: Sequence[str] = (),
) -> duckdb.DuckDBPyRelation:
    """The contradictions as a DuckDB relation on `con` (which must have the lake registered)."""
    return con.sql(
        RECONCILE_SQL,
        params={
            "poll_source": Source.EDRV_POLL.value,
            "webhook_source": Source.EDRV_WEBHOOKS.value,
            "start": start,
            "end": end,
            "stations": list(stations),
        },
    )


def _instant(value: str | datetime | None, flag: str) -> datetime | None:
    return None if value is None else parse_instant(value, flag)


def _end_after_start(values: Values) -> None:
    start, end = values["start"], values["end"]
    if start and end and end <= start:
        raise UsageError(f"--end: {end.isoformat()} is not after --start")


def _on_engine(report: Report, engine: EngineBase[Any], values: Values) -> Any:
    from evlog._replay.engine import ReplayEngine

    if not isinstance(engine, ReplayEngine):
        raise UsageError("the reconcile report needs engine='duckdb'")
    return _select(
        reconcile_relation(
            engine.con, start=values["start"], end=values["end"], stations=values["station"]
        )
    )


def _select(relation: duckdb.DuckDBPyRelation) -> duckdb.DuckDBPyRelation:
    import duckdb

    return relation.select(*(duckdb.ColumnExpression(name) for name in REPORT.columns))


REPORT = Report(
    name="reconcile",
    entity="poll snapshot that contradicts the webhook state",
    summary="Poll snapshots that contradict the webhook state at their instant: missed webhooks.",
    details="For each `record poll` snapshot, the webhook state is the station's last "
    "online/offline webhook at or before it. One row per disagreeing snapshot: station_id, "
    "snapshot_time, snapshot_online, webhook_online, webhook_event_time, webhook_event, "
    "webhook_id, missed (the webhook that never came) and since_webhook_s.",
    columns=(
        "station_id",
        "snapshot_time",
        "snapshot_online",
        "webhook_online",
        "webhook_event_time",
        "webhook_event",
        "webhook_id",
        "missed",
        "since_webhook_s",
    ),
    run=_on_engine,
    options=(STATION,),
    default_by=None,
    zoned=False,
    window=(
        replace(START, help="Only snapshots from this time (ISO 8601).", parse=_instant),
        replace(END, help="Only snapshots before this time (ISO 8601).", parse=_instant),
    ),
    lake=replace(LAKE, annotation=Path, help="Lake directory."),
    engines=("duckdb",),
    title="reconcile: snapshots contradicting webhooks",
    check=_end_after_start,
)


def reconcile(
    lake: Lake | str | os.PathLike[str],
    start: str | datetime | None = None,
    end: str | datetime | None = None,
    *,
    stations: Sequence[str] = (),
) -> pl.DataFrame:
    """Poll snapshots that contradict the webhook state at their instant: missed webhooks, on a
    connection of its own that reads only the connectivity events (`REPORT.columns`)."""
    from evlog._lake import duck
    from evlog._lake.layout import Lake

    opened = Lake.open(lake)
    values = REPORT.read({"start": start, "end": end, "station": stations})
    con = duck.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        opened.register(con, Table.CONNECTIVITY_EVENTS)
        relation = reconcile_relation(
            con, start=values["start"], end=values["end"], stations=values["station"]
        )
        frame: pl.DataFrame = _select(relation).pl()
        return frame
    finally:
        con.close()
