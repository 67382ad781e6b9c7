"""Raw records → normalized events and quarantine rows, the one derivation used by every recorder
and by `evlog lake rebuild` (so a parser fix never needs the feed again)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from evlog._errors import RecordError
from evlog._lake.layout import Lake
from evlog._lake.schema import SCHEMAS, QuarantineReason, Source, Table
from evlog._sources import edrv, here
from evlog._sources._common import DEFAULT_SKEW_TOLERANCE, from_defect

Row = dict[str, Any]


@dataclass
class Derived:
    """Events as one list per column of their table (built column-wise: the hot path), and the
    quarantine rows."""

    events: dict[str, list[Any]]
    quarantine: list[Row] = field(default_factory=list)

    @classmethod
    def empty(cls, event_table: Table) -> Derived:
        return cls({name: [] for name in SCHEMAS[event_table].names})

    @property
    def event_count(self) -> int:
        return len(next(iter(self.events.values())))

    def write(self, lake: Lake, feed: Feed) -> None:
        lake.write_columns(feed.event_table, self.events)
        lake.write_rows(Table.QUARANTINE, self.quarantine, source=feed.source.value)

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


def derive_status(raws: Iterable[Row], skew_tolerance: timedelta) -> Derived:
    derived = Derived.empty(Table.STATUS_EVENTS)
    columns = derived.events
    locations, evses, statuses, statuses_raw = (
        columns[n] for n in ("location_id", "evse_id", "status", "status_raw")
    )
    event_times, received, clamped = (
        columns[n] for n in ("event_time", "received_at", "time_clamped")
    )
    keys, arrivals, evse_indexes = (
        columns[n] for n in ("record_key", "arrival_index", "evse_index")
    )
    for raw in raws:
        try:
            if raw["defect"]:
                raise from_defect(raw["defect"])
            text = raw.get("text") or here.decode_payload(raw["payload"])
            parsed = here.parse_message(text, raw["received_at"], skew_tolerance)
        except Exception as problem:  # any parser failure is the record's fault
            derived.reject(raw, problem)
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
        if parsed.problem is not None:
            derived.reject(raw, parsed.problem)
    return derived


def _derive_connectivity(
    raws: Iterable[Row],
    skew_tolerance: timedelta,
    parse: Callable[[bytes, Any, timedelta], edrv.ConnectivityObservation | None],
    source: Source,
) -> Derived:
    derived = Derived.empty(Table.CONNECTIVITY_EVENTS)
    for raw in raws:
        try:
            edrv.refuse_too_large(raw["record_key"])
            obs = parse(raw["payload"], raw["received_at"], skew_tolerance)
        except Exception as problem:  # any parser failure is the record's fault
            derived.reject(raw, problem)
            continue
        if obs is None:  # a valid webhook of another type: kept raw, not an observation
            continue
        row = {
            **obs._asdict(),
            "received_at": raw["received_at"],
            "webhook_id": raw.get("webhook_id"),
            "record_key": raw["record_key"],
            "arrival_index": raw["arrival_index"],
            "source": source.value,
        }
        for name, values in derived.events.items():
            values.append(row[name])
    return derived


def derive_webhooks(raws: Iterable[Row], skew_tolerance: timedelta) -> Derived:
    return _derive_connectivity(raws, skew_tolerance, edrv.parse_webhook, Source.EDRV_WEBHOOKS)


def derive_polls(raws: Iterable[Row], skew_tolerance: timedelta) -> Derived:
    return _derive_connectivity(raws, skew_tolerance, edrv.parse_snapshot, Source.EDRV_POLL)


@dataclass(frozen=True)
class Feed:
    """How one source's raw table turns into its normalized table."""

    source: Source
    raw_table: Table
    event_table: Table
    derive: Callable[[Iterable[Row], timedelta], Derived]


STATUS_FEED = Feed(Source.HERE_STREAM, Table.RAW_STATUS, Table.STATUS_EVENTS, derive_status)
WEBHOOK_FEED = Feed(
    Source.EDRV_WEBHOOKS, Table.RAW_WEBHOOKS, Table.CONNECTIVITY_EVENTS, derive_webhooks
)
POLL_FEED = Feed(Source.EDRV_POLL, Table.RAW_POLLS, Table.CONNECTIVITY_EVENTS, derive_polls)
FEEDS = (STATUS_FEED, WEBHOOK_FEED, POLL_FEED)

__all__ = ["DEFAULT_SKEW_TOLERANCE", "FEEDS", "Derived", "Feed"]
