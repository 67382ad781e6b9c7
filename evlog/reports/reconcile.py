"""`evlog report reconcile`: poll snapshots that contradict the webhook-derived state.

For every `edrv_poll` snapshot, the webhook state at that instant is the last `edrv_webhooks`
connectivity event of the station at or before the snapshot time (state durability: a station
stays in its last reported state), found with a DuckDB ASOF JOIN. Where the two disagree, a
webhook was missed (or is late): the snapshot saw the station offline while the webhooks still
say online (a missed `chargestation.offline`), or the reverse.

Snapshots of stations with no webhook before them are not contradictions (no state yet). Where
several webhooks share one event time, the latest-arriving holds (docs/replay.md, rule
*Order by event time*).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime

import duckdb
import polars as pl

from evlog.errors import UsageError
from evlog.lake import Lake
from evlog.schema import Source, Table
from evlog.timeopts import parse_instant

COLUMNS = (
    "station_id",
    "snapshot_time",
    "snapshot_online",
    "webhook_online",
    "webhook_event_time",
    "webhook_event",
    "webhook_id",
    "missed",
    "since_webhook_s",
)

RECONCILE_SQL = """
WITH snapshots AS (
    SELECT station_id, event_time AS snapshot_time, online AS snapshot_online
    FROM connectivity_events
    WHERE source = $poll_source
      AND ($start IS NULL OR event_time >= $start)
      AND ($end IS NULL OR event_time < $end)
      AND (len($stations) = 0 OR list_contains($stations, station_id))
),
webhooks AS (
    SELECT station_id, event_time, online, event, webhook_id
    FROM connectivity_events
    WHERE source = $webhook_source
      AND (len($stations) = 0 OR list_contains($stations, station_id))
    QUALIFY row_number() OVER (
        PARTITION BY station_id, event_time
        ORDER BY received_at DESC, arrival_index DESC, record_key DESC
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
"""


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


def reconcile(
    lake: Lake | str | os.PathLike[str],
    start: str | datetime | None = None,
    end: str | datetime | None = None,
    *,
    stations: Sequence[str] = (),
) -> pl.DataFrame:
    """Poll snapshots that contradict the webhook state at their instant: missed webhooks.

    Columns: station_id, snapshot_time, snapshot_online, webhook_online, webhook_event_time,
    webhook_event, webhook_id, missed (the event the webhooks lacked), since_webhook_s.
    """
    opened = Lake.open(lake)
    window_start = None if start is None else parse_instant(start, "--start")
    window_end = None if end is None else parse_instant(end, "--end")
    if window_start and window_end and window_end <= window_start:
        raise UsageError(f"--end: {window_end.isoformat()} is not after --start")
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        opened.register(con, Table.CONNECTIVITY_EVENTS)
        relation = reconcile_relation(
            con, start=window_start, end=window_end, stations=list(stations)
        )
        frame: pl.DataFrame = relation.pl()
        return frame.select(COLUMNS)
    finally:
        con.close()
