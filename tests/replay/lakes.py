"""Real lakes for replay tests: Parquet files written by `Lake.write`, rows spread over files."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa

from evlog._lake.layout import Lake
from evlog._lake.names import Source, Table

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def at(text: str) -> datetime:
    """An ISO time (UTC when it has no offset)."""
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def micros(value: datetime) -> int:
    delta = value - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


@dataclass(frozen=True)
class Connectivity:
    station_id: str
    online: bool
    event_time: datetime
    received_at: datetime | None = None  # default: event_time
    arrival_index: int | None = 0  # None: a row lacking it (a lake written by another tool)
    record_key: str = ""
    source: str = Source.EDRV_WEBHOOKS.value


@dataclass(frozen=True)
class StatusEvent:
    evse_id: str
    status: str
    event_time: datetime
    location_id: str = "L1"
    received_at: datetime | None = None
    arrival_index: int = 0
    evse_index: int = 0
    record_key: str = ""


def connectivity_table(events: Sequence[Connectivity]) -> pa.Table:
    return pa.table(
        {
            "station_id": [e.station_id for e in events],
            "online": [e.online for e in events],
            "event": [
                "chargestation.online" if e.online else "chargestation.offline" for e in events
            ],
            "event_time": [e.event_time for e in events],
            "received_at": [e.received_at or e.event_time for e in events],
            "time_clamped": [False for _ in events],
            "webhook_id": [e.record_key or f"w{i}" for i, e in enumerate(events)],
            "record_key": [e.record_key or f"webhook:w{i}" for i, e in enumerate(events)],
            "arrival_index": [e.arrival_index for e in events],
            "source": [e.source for e in events],
        }
    )


def status_table(events: Sequence[StatusEvent]) -> pa.Table:
    return pa.table(
        {
            "location_id": [e.location_id for e in events],
            "evse_id": [e.evse_id for e in events],
            "status": [e.status for e in events],
            "status_raw": [e.status for e in events],
            "event_time": [e.event_time for e in events],
            "received_at": [e.received_at or e.event_time for e in events],
            "time_clamped": [False for _ in events],
            "record_key": [e.record_key or f"k{i}" for i, e in enumerate(events)],
            "arrival_index": [e.arrival_index for e in events],
            "evse_index": [e.evse_index for e in events],
        }
    )


def write_in_files(
    lake: Lake, table: Table, rows: pa.Table, files: int = 1, seed: int | None = None
) -> None:
    """Write `rows` as `files` chunks (shuffled when `seed` is given): layout must not matter."""
    order = list(range(rows.num_rows))
    if seed is not None:
        random.Random(seed).shuffle(order)
    rows = rows.take(order)
    size = max(1, -(-rows.num_rows // max(1, files)))
    for offset in range(0, rows.num_rows, size):
        lake.write(table, rows.slice(offset, size))


def write_coverage(
    lake: Lake, source: str, sessions: dict[str, Sequence[tuple[datetime, datetime]]]
) -> None:
    """Coverage rows per session id; every row is a covered interval, coverage is their union."""
    rows = [(sid, f, t) for sid, spans in sessions.items() for f, t in spans]
    lake.write(
        Table.COVERAGE,
        pa.table(
            {
                "session_id": [r[0] for r in rows],
                "covered_from": [r[1] for r in rows],
                "covered_to": [r[2] for r in rows],
                "kind": ["heartbeat" for _ in rows],
            }
        ),
        source=source,
    )


def make_lake(
    root: Path,
    connectivity: Sequence[Connectivity] = (),
    status: Sequence[StatusEvent] = (),
    files: int = 1,
    seed: int | None = None,
) -> Lake:
    lake = Lake.create(root)
    if connectivity:
        write_in_files(
            lake, Table.CONNECTIVITY_EVENTS, connectivity_table(connectivity), files, seed
        )
    if status:
        write_in_files(lake, Table.STATUS_EVENTS, status_table(status), files, seed)
    return lake
