"""The lake's tables and their Parquet schemas, declared once.

Every table lives under ``<lake>/<table>/`` and is hive-partitioned: by ``date=YYYY-MM-DD``
always (UTC date of ``received_at`` for raw and quarantine tables, of ``event_time`` for event
tables, of ``covered_from`` for coverage), and first by ``source=...`` where a table holds several
sources.
Partition columns are not stored inside the files; readers get them back with hive partitioning.
"""

from __future__ import annotations

from typing import Final

import pyarrow as pa

from evlog._lake.names import Status, Table

TIMESTAMP: Final = pa.timestamp("us", tz="UTC")


def _schema(*columns: tuple[str, pa.DataType]) -> pa.Schema:
    return pa.schema(list(columns))


# Raw tables: every record exactly as received, plus where and when it came from.
RAW_STATUS: Final = _schema(
    ("record_key", pa.string()),  # identity: "kafka:<partition>:<offset>" or "sha256:<hex>#<n>"
    ("payload", pa.binary()),  # as received: a gzip member or one JSON text (capped: see defect)
    ("defect", pa.string()),  # "<quarantine reason>[: <detail>]" found while splitting, else null
    ("received_at", TIMESTAMP),
    ("arrival_index", pa.int64()),  # position in the capture (member, line) or Kafka offset
    ("capture", pa.string()),  # capture file, "-" for stdin, or "<hrn>/<layer>"
    ("kafka_partition", pa.int32()),
    ("kafka_offset", pa.int64()),
    ("session_id", pa.string()),
)

RAW_WEBHOOKS: Final = _schema(
    # "webhook:<_id>", "sha256:<hex>" of a body without _id, or "too-large:<bytes>:sha256:<hex>"
    # for a saved line over the size cap (its payload is then the line's first bytes)
    ("record_key", pa.string()),
    ("webhook_id", pa.string()),
    ("payload", pa.binary()),  # the raw request body
    ("headers", pa.string()),  # request headers as a JSON object, null for imports without them
    ("received_at", TIMESTAMP),
    ("arrival_index", pa.int64()),
    ("capture", pa.string()),
    ("session_id", pa.string()),
)

RAW_POLLS: Final = _schema(
    ("record_key", pa.string()),
    ("station_id", pa.string()),
    ("payload", pa.binary()),  # the raw GET /chargestations/{id} response body (or list item)
    ("received_at", TIMESTAMP),
    ("arrival_index", pa.int64()),
    ("capture", pa.string()),
    ("session_id", pa.string()),
)

# Normalized tables: one row per observation, rebuilt from the raw tables by `evlog lake rebuild`.
STATUS_EVENTS: Final = _schema(
    ("location_id", pa.string()),
    ("evse_id", pa.string()),
    ("status", pa.string()),  # a `Status` value
    ("status_raw", pa.string()),  # the spelling the source used
    ("event_time", TIMESTAMP),  # source time (last_updated), clamped to received_at if too late
    ("received_at", TIMESTAMP),
    ("time_clamped", pa.bool_()),
    ("record_key", pa.string()),
    ("arrival_index", pa.int64()),
    ("evse_index", pa.int32()),  # position of the EVSE within its message
)

CONNECTIVITY_EVENTS: Final = _schema(
    ("station_id", pa.string()),
    ("online", pa.bool_()),
    ("event", pa.string()),  # "chargestation.online", "chargestation.offline" or "poll"
    ("event_time", TIMESTAMP),
    ("received_at", TIMESTAMP),
    ("time_clamped", pa.bool_()),
    ("webhook_id", pa.string()),
    ("record_key", pa.string()),
    ("arrival_index", pa.int64()),
    ("source", pa.string()),  # a `Source` value: webhooks or poll snapshots
)

# Station and port metadata (docs/lake.md, "Metadata"): one row per station or connector an eDRV
# webhook body or poll snapshot describes, as carried (null: not carried). Derived from the raw
# tables like the event tables; `entity_metadata`'s latest row per entity is what reports filter by.
ENTITY_METADATA: Final = _schema(
    ("entity_kind", pa.string()),  # "station" or "port"
    ("entity_id", pa.string()),  # the Chargestation `_id`, or the connector `_id`
    ("station_id", pa.string()),  # the Chargestation `_id` (of a port: its station)
    ("location_id", pa.string()),  # the Chargestation's eDRV `location`
    ("vendor", pa.string()),  # `vendor`, else `bootInfo.chargePointVendor` (a port: its station's)
    ("model", pa.string()),  # `model`, else `bootInfo.chargePointModel`
    ("firmware", pa.string()),  # `firmwareVersion`, else `bootInfo.firmwareVersion`
    ("serial_number", pa.string()),  # `bootInfo.chargePointSerialNumber`
    ("protocol", pa.string()),  # `protocol`, else `ocppVersion`
    ("connector_type", pa.string()),  # a port's `type` (CCS, Type2, CHAdeMO, ...)
    ("connector_format", pa.string()),  # a port's `format` (Socket, Cable)
    ("power_kw", pa.float64()),  # a port's `power`; a station's: the highest of its connectors'
    ("power_type", pa.string()),  # a port's `power_type` (or `powerType`): AC_1_PHASE, DC, ...
    ("received_at", TIMESTAMP),  # when the record describing it arrived: the observation's time
    ("record_key", pa.string()),
    ("arrival_index", pa.int64()),
    ("connector_index", pa.int32()),  # 0 for the station, 1... its connectors in body order
    ("source", pa.string()),  # a `Source` value: webhooks or poll snapshots
)

QUARANTINE: Final = _schema(
    ("record_key", pa.string()),
    ("reason", pa.string()),  # a `QuarantineReason` value
    ("detail", pa.string()),
    ("payload", pa.binary()),
    ("received_at", TIMESTAMP),
    ("capture", pa.string()),
    ("arrival_index", pa.int64()),
    ("session_id", pa.string()),
)

# Each row is a covered interval [covered_from, covered_to]; a source's coverage is their union.
# Live recorders write [session start, now] at start, every heartbeat and at stop.
COVERAGE: Final = _schema(
    ("session_id", pa.string()),
    ("covered_from", TIMESTAMP),
    ("covered_to", TIMESTAMP),
    ("kind", pa.string()),  # "start", "heartbeat", "stop" (live recorders) or "declared"
)

# `evlog lake compact`'s per-day rollups (evlog/_upkeep/rollups.py): the time each EVSE spent
# in each observed status during one local day, in exact microseconds (no_data and unobserved are
# the rest of the day). Partitioned by zone and local date.
STATUS_ROLLUPS: Final = _schema(
    ("evse_id", pa.string()),
    ("day_start_us", pa.int64()),  # the local day's first instant, microseconds since the epoch
    *((f"{status.value.lower()}_us", pa.int64()) for status in Status),
)


SCHEMAS: Final[dict[Table, pa.Schema]] = {
    Table.RAW_STATUS: RAW_STATUS,
    Table.RAW_WEBHOOKS: RAW_WEBHOOKS,
    Table.RAW_POLLS: RAW_POLLS,
    Table.STATUS_EVENTS: STATUS_EVENTS,
    Table.CONNECTIVITY_EVENTS: CONNECTIVITY_EVENTS,
    Table.QUARANTINE: QUARANTINE,
    Table.COVERAGE: COVERAGE,
    Table.ENTITY_METADATA: ENTITY_METADATA,
}

# The capture ledger (`evlog._lake.ledger`): not a table reports read, one row per capture file
# an import recorded whole.
CAPTURE_LEDGER: Final = _schema(
    ("capture", pa.string()),  # the name given, made absolute; '-' for stdin
    ("size", pa.int64()),  # bytes read
    ("sha256", pa.string()),  # of the bytes read
    ("records", pa.int64()),  # raw records they split into
    ("day", pa.int64()),  # date partition of its file time (days since the epoch)
    ("recorded_at", TIMESTAMP),
    ("session_id", pa.string()),
)
