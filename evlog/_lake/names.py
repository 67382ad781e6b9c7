"""The lake's names: sources, statuses, quarantine reasons, tables and how each is partitioned.

Apart from the Parquet schemas (`evlog._lake.schema`) so that what only names them (option
declarations, `evlog --help`) does not import pyarrow.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class Source(StrEnum):
    """Where records come from. Used as the ``source`` partition of shared tables."""

    HERE_STREAM = "here_stream"
    EDRV_WEBHOOKS = "edrv_webhooks"
    EDRV_POLL = "edrv_poll"


class Status(StrEnum):
    """OCPI 2.2.1 EVSE statuses (section 8.4.22), the only values of ``status_events.status``."""

    AVAILABLE = "AVAILABLE"
    CHARGING = "CHARGING"
    RESERVED = "RESERVED"
    BLOCKED = "BLOCKED"
    INOPERATIVE = "INOPERATIVE"
    OUT_OF_ORDER = "OUT_OF_ORDER"
    PLANNED = "PLANNED"
    REMOVED = "REMOVED"
    UNKNOWN = "UNKNOWN"


class QuarantineReason(StrEnum):
    """Why a record landed in quarantine (the ``reason`` column)."""

    BAD_GZIP = "bad gzip"
    TRUNCATED_GZIP = "truncated gzip member"
    INVALID_UTF8 = "invalid UTF-8"
    INVALID_JSON = "invalid JSON"
    NOT_AN_OBJECT = "not a JSON object"
    MISSING_ID = "missing id"
    MISSING_EVSES = "missing evses"
    MISSING_STATUS = "missing status"
    UNPARSEABLE_TIME = "unparseable time"
    BAD_BASE64 = "bad base64"
    UNFETCHED_DATA_HANDLE = "unfetched data handle"
    MISSING_EVENT = "missing event"
    MISSING_STATION = "missing station id"
    RECORD_TOO_LARGE = "record too large"  # over the parsers' MAX_RECORD_BYTES: first bytes kept
    PARSER_ERROR = "parser error"  # a parser raised something unforeseen: the detail names it


class Table(StrEnum):
    RAW_STATUS = "raw_status"
    RAW_WEBHOOKS = "raw_webhooks"
    RAW_POLLS = "raw_polls"
    STATUS_EVENTS = "status_events"
    CONNECTIVITY_EVENTS = "connectivity_events"
    QUARANTINE = "quarantine"
    COVERAGE = "coverage"
    ENTITY_METADATA = "entity_metadata"


# The column whose UTC date names each table's `date=` partition.
DATE_COLUMN: Final[dict[Table, str]] = {
    Table.RAW_STATUS: "received_at",
    Table.RAW_WEBHOOKS: "received_at",
    Table.RAW_POLLS: "received_at",
    Table.STATUS_EVENTS: "event_time",
    Table.CONNECTIVITY_EVENTS: "event_time",
    Table.QUARANTINE: "received_at",
    Table.COVERAGE: "covered_from",
    Table.ENTITY_METADATA: "received_at",
}

# Tables partitioned by source before date.
SOURCE_PARTITIONED: Final = frozenset({Table.QUARANTINE, Table.COVERAGE})
