"""Raw records → normalized events and quarantine rows, the one derivation used by every recorder
and by `evlog lake rebuild` (so a parser fix never needs the feed again)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from evlog._errors import RecordError
from evlog._lake.layout import Lake, table_of_columns, table_of_rows
from evlog._lake.names import QuarantineReason, Source, Table
from evlog._lake.schema import (
    CONNECTIVITY_EVENTS,
    ENTITY_METADATA,
    SCHEMAS,
    STATUS_EVENTS,
    TIMESTAMP,
)
from evlog._sources import edrv, edrv_metadata, here
from evlog._sources._common import DEFAULT_SKEW_TOLERANCE, decode_json_object, from_defect
from evlog._sources.ocpp import DEFAULT_STATUS_MAP, StatusMap

Row = dict[str, Any]


@dataclass
class Derived:
    """Events as a table (in their table's schema), and the quarantine rows."""

    events: pa.Table
    quarantine: list[Row] = field(default_factory=list)
    # eDRV feeds: their connectors' port status observations (`status_events` rows)
    ports: pa.Table = field(default_factory=STATUS_EVENTS.empty_table)
    #: the stations and ports the records describe (`entity_metadata`), from this batch alone
    metadata: pa.Table = field(default_factory=ENTITY_METADATA.empty_table)

    @property
    def event_count(self) -> int:
        return self.events.num_rows + self.ports.num_rows

    def event_tables(self, feed: Feed) -> list[tuple[Table, pa.Table]]:
        """The event tables to write and their rows: the feed's own, and `status_events` for
        an eDRV feed's port observations (when it has any)."""
        tables = [(feed.event_table, self.events)]
        if self.ports.num_rows:
            tables.append((Table.STATUS_EVENTS, self.ports))
        return tables

    def write(self, lake: Lake, feed: Feed) -> None:
        for table, rows in self.event_tables(feed):
            lake.write(table, rows)
        lake.write_rows(Table.QUARANTINE, self.quarantine, source=feed.source.value)
        lake.write(Table.ENTITY_METADATA, self.metadata)

    @property
    def quarantined_records(self) -> int:
        return len({row["record_key"] for row in self.quarantine})

    def reject(self, raw: Row, problem: Exception) -> None:
        """Quarantine `raw` for `problem`: a `RecordError`, or any other exception a parser
        raised (then reason ``parser error``): no record's content may stop a recorder."""
        if not isinstance(problem, RecordError):
            problem = RecordError(
                QuarantineReason.PARSER_ERROR, f"{type(problem).__name__}: {problem}"[:500]
            )
        self.quarantine.append(
            {
                "record_key": raw["record_key"],
                "reason": problem.reason,
                "detail": problem.detail,
                "payload": raw["payload"],
                "received_at": raw["received_at"],
                "capture": raw["capture"],
                "arrival_index": raw["arrival_index"],
                "session_id": raw["session_id"],
            }
        )


def _empty_columns(table: Table) -> dict[str, list[Any]]:
    return {name: [] for name in SCHEMAS[table].names}


def derive_status(
    raws: Iterable[Row], skew_tolerance: timedelta, status_map: StatusMap = DEFAULT_STATUS_MAP
) -> Derived:
    """`derive_status_batch` of raw_status rows (a `text` key, if any, as in `RawStatusRecord`)."""
    rows = list(raws)
    batch = table_of_rows(Table.RAW_STATUS, rows)
    if any("text" in row for row in rows):
        batch = batch.append_column(
            "text", pa.array([row.get("text") for row in rows], pa.binary())
        )
    return derive_status_batch(batch, skew_tolerance)


def derive_status_batch(
    batch: pa.Table, skew_tolerance: timedelta, status_map: StatusMap = DEFAULT_STATUS_MAP
) -> Derived:
    """Raw status records (the raw table's columns, and optionally `text`) to events and
    quarantine: the messages of the one common shape are parsed together (`here.parse_batch`),
    the others one by one (`here.parse_message`, which names any problem); the events come out
    in record order, and within a record in EVSE order, whichever parser read them."""
    texts = _message_texts(batch)
    received_at = batch.column("received_at")
    received_us = np.asarray(received_at.cast(pa.int64()), np.int64)
    fast = here.parse_batch(texts, received_us, skew_tolerance)
    others = np.flatnonzero(~fast.parsed)
    rows = batch.take(others).to_pylist()
    derived, positions = _derive_status_rows(rows, skew_tolerance)
    message = fast.message
    events = pa.Table.from_arrays(
        [
            fast.location_id,
            fast.evse_id,
            fast.status,
            fast.status_raw,
            pa.array(fast.event_us).cast(TIMESTAMP),
            received_at.take(message),
            pa.array(fast.time_clamped),
            batch.column("record_key").take(message),
            batch.column("arrival_index").take(message),
            pa.array(fast.evse_index),
        ],
        schema=STATUS_EVENTS,
    )
    if derived.event_count:
        position = np.concatenate([fast.message, others[np.asarray(positions, np.int64)]])
        events = pa.concat_tables([events, derived.events]).append_column(
            "position", pa.array(position)
        )
        events = events.sort_by([("position", "ascending"), ("evse_index", "ascending")])
        events = events.drop_columns(["position"])
    return Derived(events, derived.quarantine)


def _message_texts(batch: pa.Table) -> pa.Array[Any]:
    """Each record's JSON text as `_derive_status_rows` would parse it; null where it would
    quarantine the record before parsing (a defect, a payload that does not gunzip). Only the
    records without a text given (payloads to gunzip) are looked at one by one."""
    no_defect = np.asarray(batch.column("defect").is_null().to_numpy(), np.bool_)
    given = cast(
        "pa.BinaryArray",
        batch.column("text").combine_chunks()
        if "text" in batch.column_names
        else pa.nulls(batch.num_rows, pa.binary()),
    )
    has_text = np.asarray(pc.binary_length(given).fill_null(0).to_numpy(), np.int64) > 0
    texts: pa.Array[Any] = pc.if_else(
        pa.array(no_defect & has_text), given, pa.scalar(None, pa.binary())
    )
    to_decode = no_defect & ~has_text
    positions = np.flatnonzero(to_decode)
    if not len(positions):
        return texts
    decoded: list[bytes | None] = []
    for payload in batch.column("payload").take(positions).to_pylist():
        try:
            decoded.append(here.decode_payload(payload or b""))
        except Exception:  # _derive_status_rows quarantines it
            decoded.append(None)
    replaced: pa.Array[Any] = pc.replace_with_mask(
        texts, pa.array(to_decode), pa.array(decoded, pa.binary())
    )
    return replaced


def _derive_status_rows(raws: list[Row], skew_tolerance: timedelta) -> tuple[Derived, list[int]]:
    """Raw records parsed one by one; with, per event, the index of its record in `raws`."""
    columns = _empty_columns(Table.STATUS_EVENTS)
    quarantine = Derived(STATUS_EVENTS.empty_table())
    locations, evses, statuses, statuses_raw = (
        columns[n] for n in ("location_id", "evse_id", "status", "status_raw")
    )
    event_times, received, clamped = (
        columns[n] for n in ("event_time", "received_at", "time_clamped")
    )
    keys, arrivals, evse_indexes = (
        columns[n] for n in ("record_key", "arrival_index", "evse_index")
    )
    positions: list[int] = []
    for position, raw in enumerate(raws):
        try:
            if raw["defect"]:
                raise from_defect(raw["defect"])
            text = raw.get("text") or here.decode_payload(raw["payload"])
            parsed = here.parse_message(text, raw["received_at"], skew_tolerance)
        except Exception as problem:  # any parser failure is the record's fault
            quarantine.reject(raw, problem)
            continue
        for obs in parsed.observations:
            locations.append(obs.location_id)
            evses.append(obs.evse_id)
            statuses.append(obs.status.value)
            statuses_raw.append(obs.status_raw)
            event_times.append(obs.event_time)
            received.append(raw["received_at"])
            clamped.append(obs.time_clamped)
            keys.append(raw["record_key"])
            arrivals.append(raw["arrival_index"])
            evse_indexes.append(obs.evse_index)
            positions.append(position)
        if parsed.problem is not None:
            quarantine.reject(raw, parsed.problem)
    events = table_of_columns(Table.STATUS_EVENTS, columns)
    return Derived(events, quarantine.quarantine), positions


# The fields a port takes from its station (`entity_metadata`), in the table's column names.
_STATION_FIELDS = ("location_id", "vendor", "model", "firmware", "serial_number", "protocol")


def _add_metadata(
    columns: dict[str, list[Any]],
    described: edrv_metadata.StationMetadata | None,
    raw: Row,
    source: Source,
) -> None:
    """Append to `columns` (of `entity_metadata`) the rows of one record: its station and each
    of its connectors, as carried; a port takes its station's vendor, model, firmware and
    protocol. Column by column: a batch of webhooks makes several rows each."""
    if described is None:
        return
    connectors = described.connectors
    rows = 1 + len(connectors)
    powers = [c.power_kw for c in connectors if c.power_kw is not None]
    columns["entity_kind"] += ["station", *(["port"] * len(connectors))]
    columns["entity_id"] += [described.station_id, *(c.connector_id for c in connectors)]
    columns["station_id"] += [described.station_id] * rows
    for name in _STATION_FIELDS:
        columns[name] += [getattr(described, name)] * rows
    columns["connector_type"] += [None, *(c.type for c in connectors)]
    columns["connector_format"] += [None, *(c.format for c in connectors)]
    columns["power_kw"] += [max(powers, default=None), *(c.power_kw for c in connectors)]
    columns["power_type"] += [None, *(c.power_type for c in connectors)]
    for name in ("received_at", "record_key", "arrival_index"):
        columns[name] += [raw[name]] * rows
    columns["connector_index"] += range(rows)
    columns["source"] += [source.value] * rows


def _derive_edrv(
    raws: Iterable[Row],
    skew_tolerance: timedelta,
    status_map: StatusMap,
    read: Callable[[dict[str, Any], Any, timedelta, StatusMap], edrv.EdrvObservations],
    describe: Callable[
        [dict[str, Any], list[edrv.Connector] | None], edrv_metadata.StationMetadata | None
    ],
    source: Source,
) -> Derived:
    """eDRV records (webhooks, poll snapshots) to connectivity events and, for their
    connectors, port status events (`Derived.ports`); and the stations and connectors they
    describe (`Derived.metadata`)."""
    derived = Derived(CONNECTIVITY_EVENTS.empty_table())
    columns = _empty_columns(Table.CONNECTIVITY_EVENTS)
    ports = _empty_columns(Table.STATUS_EVENTS)
    metadata = _empty_columns(Table.ENTITY_METADATA)
    for raw in raws:
        try:
            edrv.refuse_too_large(raw["record_key"])
            body = decode_json_object(raw["payload"])  # once, for the events and the metadata
            observed = read(body, raw["received_at"], skew_tolerance, status_map)
        except Exception as problem:  # any parser failure is the record's fault
            derived.reject(raw, problem)
            continue
        # every valid record's station and connectors, whatever its event type
        _add_metadata(metadata, describe(body, observed.connectors), raw, source)
        obs = observed.connectivity
        if obs is not None:  # else a valid webhook of another type, or connectors only
            row = {
                **obs._asdict(),
                "received_at": raw["received_at"],
                "webhook_id": raw.get("webhook_id"),
                "record_key": raw["record_key"],
                "arrival_index": raw["arrival_index"],
                "source": source.value,
            }
            for name, values in columns.items():
                values.append(row[name])
        for port in observed.ports:
            row = {
                **port._asdict(),
                "received_at": raw["received_at"],
                "record_key": raw["record_key"],
                "arrival_index": raw["arrival_index"],
            }
            for name, values in ports.items():
                values.append(row[name])
        if observed.problem is not None:  # a bad connector: the rest is kept
            derived.reject(raw, observed.problem)
    derived.events = table_of_columns(Table.CONNECTIVITY_EVENTS, columns)
    derived.ports = table_of_columns(Table.STATUS_EVENTS, ports)
    derived.metadata = table_of_columns(Table.ENTITY_METADATA, metadata)
    return derived


def derive_webhooks(
    raws: Iterable[Row], skew_tolerance: timedelta, status_map: StatusMap = DEFAULT_STATUS_MAP
) -> Derived:
    describe = edrv_metadata.webhook_metadata
    return _derive_edrv(
        raws, skew_tolerance, status_map, edrv.read_webhook_body, describe, Source.EDRV_WEBHOOKS
    )


def derive_polls(
    raws: Iterable[Row], skew_tolerance: timedelta, status_map: StatusMap = DEFAULT_STATUS_MAP
) -> Derived:
    describe = edrv_metadata.snapshot_metadata
    return _derive_edrv(
        raws, skew_tolerance, status_map, edrv.read_snapshot_body, describe, Source.EDRV_POLL
    )


@dataclass(frozen=True)
class Feed:
    """How one source's raw table turns into its normalized table: from rows, or from a batch
    of columns (`derive_batch`, where the feed has a column-wise path)."""

    source: Source
    raw_table: Table
    event_table: Table
    derive: Callable[[Iterable[Row], timedelta, StatusMap], Derived]
    derive_batch: Callable[[pa.Table, timedelta, StatusMap], Derived] | None = None

    def derive_table(
        self, batch: pa.Table, skew_tolerance: timedelta, status_map: StatusMap
    ) -> Derived:
        """Derive a batch given as columns of the raw table."""
        if self.derive_batch is None:
            return self.derive(batch.to_pylist(), skew_tolerance, status_map)
        return self.derive_batch(batch, skew_tolerance, status_map)


STATUS_FEED = Feed(
    Source.HERE_STREAM, Table.RAW_STATUS, Table.STATUS_EVENTS, derive_status, derive_status_batch
)
WEBHOOK_FEED = Feed(
    Source.EDRV_WEBHOOKS, Table.RAW_WEBHOOKS, Table.CONNECTIVITY_EVENTS, derive_webhooks
)
POLL_FEED = Feed(Source.EDRV_POLL, Table.RAW_POLLS, Table.CONNECTIVITY_EVENTS, derive_polls)
FEEDS = (STATUS_FEED, WEBHOOK_FEED, POLL_FEED)

__all__ = ["DEFAULT_SKEW_TOLERANCE", "FEEDS", "Derived", "Feed"]
