"""`evlog record here`: consume the HERE status stream (Data API stream v2) into the lake.

The loop, per batch: fetch messages (`partitions`), fetch any `dataHandle` blobs, store the raw
bytes with their Kafka partition/offset (`Recorder.append`, which returns once the Parquet files
are durable), and only then commit, per partition, the highest offset stored. A crash between
the two re-delivers the batch after restart; the lake's dedupe on `kafka:<partition>:<offset>`
drops the repeats, so every offset is stored exactly once.

Coverage (source `here_stream`): a row at start, a heartbeat at least every 30 s, and one at a
clean stop. The time the consumer was down is not a gap when Kafka redelivers it: once a new
session shows that it resumed exactly where the lake's stored offsets end and has stored that
backlog, it writes a `resume` row from the previous session's coverage end to its own start
(`Resumption`).

Outages (connection refused, timeouts, 5xx, a subscription the service forgot) are retried for
ever with capped exponential backoff and jitter, logging each attempt; only a stop, or credentials
the service refuses (401 after a token refresh, 403), end the loop. Stop with SIGINT/SIGTERM,
`max_messages` or `duration`.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from os import PathLike
from pathlib import Path
from typing import Any, Literal, cast

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from evlog._errors import UsageError
from evlog._lake.layout import Lake
from evlog._lake.ledger import StreamMarks
from evlog._lake.names import Source, Table
from evlog._lake.schema import TIMESTAMP
from evlog._record.derive import DEFAULT_SKEW_TOLERANCE, STATUS_FEED
from evlog._record.live import HEARTBEAT_EVERY, LiveSession, fields
from evlog._record.recorder import DEFAULT_DEDUPE_HORIZON, Recorder, RecordSummary
from evlog._sources import here
from evlog._sources._http import RETRY_STATUSES, ApiError, AuthError, RetryPolicy
from evlog._sources.here import RawStatusRecord
from evlog._sources.here_api import (
    DEFAULT_LOOKUP_URL,
    DataApiClient,
    Subscription,
    new_http_client,
    token_provider,
)
from evlog._time import utc_now

log = logging.getLogger("evlog.record.here")

DEFAULT_CONSUMER_GROUP = "evlog"
IDLE_WAIT_S = 1.0  # pause after an empty batch
MAX_BACKOFF = timedelta(seconds=60)  # the longest wait between two tries through an outage
FIRST_BACKOFF_S = 1.0


@dataclass
class ConsumerStats(RecordSummary):
    """Counters of one consumer session (the recorder's counts and the stream's own);
    `fields()` is what progress and logs show."""

    session_id: str = ""
    messages: int = 0  # messages received
    batches: int = 0
    blobs: int = 0  # payloads fetched by data handle
    commits: int = 0
    resubscribes: int = 0
    committed: dict[int, int] = field(default_factory=dict)  # partition -> last committed offset
    last_message_at: datetime | None = None  # the stream's own timestamp of the newest message
    last_event_time: datetime | None = None  # newest `last_updated` seen
    started_monotonic: float = field(default_factory=time.monotonic)

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started_monotonic
        return self.messages / elapsed if elapsed > 0 else 0.0

    def fields(self, now: datetime | None = None) -> dict[str, Any]:
        lag = None
        if self.last_message_at is not None:
            lag = ((now or utc_now()) - self.last_message_at).total_seconds()
        return {
            "messages": self.messages,
            "msg_per_s": round(self.rate(), 1),
            "recorded": self.recorded,
            "duplicates": self.duplicates,
            "quarantined": self.quarantined,
            "last_event": self.last_event_time,
            "lag_s": None if lag is None else round(lag, 1),
        }

    def line(self) -> str:
        return (
            f"received {self.messages} messages: recorded {self.recorded} ({self.events} events), "
            f"{self.duplicates} duplicates, {self.quarantined} quarantined; "
            f"{self.commits} offset commits"
        )


class Backoff:
    """Waits between tries through an outage: doubling from `FIRST_BACKOFF_S` up to `cap`, each
    drawn uniformly from its upper half (jitter that never spins)."""

    def __init__(self, cap: timedelta = MAX_BACKOFF) -> None:
        self.cap_s = cap.total_seconds()
        self.failures = 0

    def next(self) -> float:
        self.failures += 1
        ceiling = min(self.cap_s, FIRST_BACKOFF_S * 2 ** min(self.failures - 1, 32))
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.failures = 0


class Resumption:
    """Whether this session's coverage continues the previous session's.

    Kafka redelivers everything after the committed offset, so the time the consumer was down is
    not a gap once two things are shown: every partition the lake holds resumed exactly where its
    stored offsets end (first offset received <= highest stored + 1; a partition new to the lake
    starts at offset 0), and that backlog is durable (a batch came back empty, or every such
    partition delivered a message the stream received after this session started). A partition
    that skipped offsets (retention, another consumer of the group) keeps the gap.
    """

    def __init__(self, stored: Mapping[int, int], gap_from: datetime, session_start: datetime):
        self.stored = dict(stored)
        self.gap_from = gap_from
        self.session_start = session_start
        self.resumed: set[int] = set()  # partitions whose first offset was checked
        self.caught_up: set[int] = set()
        self.broken = False

    def observe(self, batch: pa.Table) -> None:
        """Note a durable batch (`here.RAW_BATCH` columns)."""
        firsts = _per_partition(batch, "min")
        start = pa.scalar(self.session_start, TIMESTAMP)
        recent = batch.filter(pc.greater_equal(batch["received_at"], start))
        self.caught_up.update(_per_partition(recent, "min"))
        for partition, first in firsts.items():
            if partition in self.resumed:
                continue
            self.resumed.add(partition)
            expected = self.stored.get(partition, -1) + 1
            if first > expected:
                self.broken = True
                log.warning(
                    "coverage gap kept",
                    extra=fields(partition=partition, expected_offset=expected, first=first),
                )

    def shown(self, empty_batch: bool) -> bool:
        """True once the down time is shown to be covered (see the class)."""
        if self.broken or not self.stored.keys() <= self.resumed:
            return False
        return empty_batch or self.stored.keys() <= self.caught_up


def consume(
    lake: Lake,
    api: DataApiClient,
    *,
    consumer_group: str = DEFAULT_CONSUMER_GROUP,
    max_messages: int | None = None,
    duration: timedelta | None = None,
    until_idle: bool = False,
    stop: threading.Event | None = None,
    skew_tolerance: timedelta = DEFAULT_SKEW_TOLERANCE,
    dedupe_horizon: timedelta = DEFAULT_DEDUPE_HORIZON,
    heartbeat_every: timedelta = HEARTBEAT_EVERY,
    compact_every: timedelta | None = None,
    idle_wait_s: float = IDLE_WAIT_S,
    max_backoff: timedelta = MAX_BACKOFF,
    progress: bool | None = False,
    after_append: Callable[[pa.Table], None] | None = None,
) -> ConsumerStats:
    """Consume `api`'s layer into `lake` until `stop` is set, `max_messages` have been received,
    `duration` has passed or, with `until_idle`, a fetch comes back empty (caught up).
    Returns the session's counters.

    A failing service is retried until one of those (`Backoff`, at most `max_backoff` apart);
    `AuthError` (401/403 that a new token does not cure) is raised.
    `compact_every`: run `evlog lake compact` that often, in a child process (`PeriodicCompaction`).
    `progress`: a live status line (None: when stdout is a terminal). SIGINT/SIGTERM set `stop`.
    `after_append` is a test hook called between the durable append and the offset commit.
    """
    deadline = None if duration is None else time.monotonic() + duration.total_seconds()
    recorder = Recorder(
        lake, STATUS_FEED, skew_tolerance=skew_tolerance, dedupe_horizon=dedupe_horizon
    )
    stats = ConsumerStats(session_id=recorder.session_id)
    capture = f"{api.hrn}/{api.layer}"
    marks = StreamMarks(lake, capture)
    stored, covered_to = _previous_session(lake, capture, marks)
    session = LiveSession(
        recorder,
        heartbeat_every=heartbeat_every,
        compact_every=compact_every,
        progress=progress,
        stop=stop,
    )
    backoff = Backoff(max_backoff)
    sub: Subscription | None = None
    with session.running():
        session.coverage.start()
        started = session.coverage.started
        resumption = None
        if stored and covered_to is not None and started is not None and covered_to < started:
            resumption = Resumption(stored, covered_to, started)
        try:
            while not session.stop.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    break
                remaining = None if max_messages is None else max_messages - stats.messages
                if remaining is not None and remaining <= 0:
                    break
                try:
                    if sub is None:
                        sub = _subscribe(api, consumer_group, recorder.session_id)
                    rows = _one_batch(
                        api, sub, recorder, marks, stats, capture, remaining, after_append
                    )
                    backoff.reset()
                except AuthError:
                    raise
                except ApiError as exc:
                    if sub is not None:
                        _unsubscribe(api, sub)
                        sub = None
                        stats.resubscribes += 1
                    wait = backoff.next()
                    log.warning(
                        "service unavailable",
                        extra=fields(
                            problem=str(exc), attempt=backoff.failures, wait_s=round(wait, 1)
                        ),
                    )
                    if deadline is not None:
                        wait = min(wait, max(0.0, deadline - time.monotonic()))
                    session.stop.wait(wait)
                    continue  # no heartbeat while the service is away: nothing is being received
                if resumption is not None:
                    if rows is not None:
                        resumption.observe(rows)
                    if resumption.shown(empty_batch=rows is None):
                        gap_from, gap_to = resumption.gap_from, resumption.session_start
                        recorder.write_coverage(gap_from, gap_to, "resume")
                        log.info("coverage continued", extra=fields(covered_from=gap_from))
                        resumption = None
                    elif resumption.broken:
                        resumption = None
                session.tick(stats.fields())
                if rows is None and until_idle:
                    break
                if rows is None:
                    wait = idle_wait_s
                    if deadline is not None:
                        wait = min(wait, max(0.0, deadline - time.monotonic()))
                    session.wait(wait)
            session.finish(**stats.fields())
        finally:
            if sub is not None:
                _unsubscribe(api, sub)
    return stats


def _subscribe(api: DataApiClient, group: str, session_id: str) -> Subscription:
    sub = api.subscribe(group)
    log.info(
        "subscribed",
        extra=fields(
            hrn=api.hrn,
            layer=api.layer,
            group=group,
            subscription=sub.subscription_id,
            session=session_id,
        ),
    )
    return sub


def _unsubscribe(api: DataApiClient, sub: Subscription) -> None:
    """Best effort: the service drops an abandoned subscription itself."""
    try:
        api.unsubscribe(sub)
    except ApiError as exc:
        log.warning("unsubscribe failed", extra=fields(problem=str(exc)))


def _previous_session(
    lake: Lake, capture: str, marks: StreamMarks
) -> tuple[dict[int, int], datetime | None]:
    """Per partition, the highest offset the lake stores from `capture` (its marks; a lake
    recorded before marks existed is scanned once); and where the stream's coverage ends (None:
    never covered)."""
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        lake.register(con, Table.COVERAGE)
        offsets = marks.read()
        if offsets is None:
            lake.register(con, Table.RAW_STATUS)
            stored = con.execute(
                "SELECT kafka_partition, max(kafka_offset) FROM raw_status"
                " WHERE capture = ? AND kafka_offset IS NOT NULL GROUP BY kafka_partition",
                [capture],
            ).fetchall()
            offsets = {int(p): int(o) for p, o in stored}
        row = con.execute(
            "SELECT max(covered_to) FROM coverage WHERE source = ?", [Source.HERE_STREAM.value]
        ).fetchone()
    return offsets, None if row is None else row[0]


def _one_batch(
    api: DataApiClient,
    sub: Subscription,
    recorder: Recorder,
    marks: StreamMarks,
    stats: ConsumerStats,
    capture: str,
    remaining: int | None,
    after_append: Callable[[pa.Table], None] | None,
) -> pa.Table | None:
    """Fetch, store and commit one batch; its records (`here.RAW_BATCH`), once durable and
    committed; None when there was nothing to fetch."""
    messages = api.partitions(sub)
    if remaining is not None:
        # Messages past the bound are dropped uncommitted: the next session receives them again.
        messages = messages[:remaining]
    if not messages:
        return None
    fallback = utc_now()

    def slow(message: Any, index: int) -> RawStatusRecord:
        return _record(api, message, capture, index, fallback, stats)

    # Column-wise, like the offline import; returns once raw, events and quarantine are durable.
    records = here.data_api_table(messages, capture, fallback, slow=slow)
    batch = recorder.append_columns(records)
    if after_append is not None:
        after_append(records)
    offsets = highest_offsets(records)
    marks.advance(offsets)
    api.commit(sub, offsets)
    stats.committed.update(offsets)
    stats.commits += 1 if offsets else 0
    stats.batches += 1
    stats.messages += len(messages)
    stats.add(batch)
    _note_times(stats, records)
    return records


def _record(
    api: DataApiClient,
    message: Any,
    capture: str,
    index: int,
    fallback: datetime,
    stats: ConsumerStats,
) -> RawStatusRecord:
    record = here.data_api_record(message, capture, index, fallback)
    meta = message.get("metaData") if isinstance(message, dict) else None
    if not isinstance(meta, dict):
        meta = {}
    handle = meta.get("dataHandle")
    if isinstance(handle, str) and handle and not isinstance(meta.get("data"), str):
        try:
            record = record._replace(payload=api.fetch_blob(handle), defect=None)
            stats.blobs += 1
        except AuthError:
            raise
        except ApiError as exc:
            if exc.status is None or exc.status in RETRY_STATUSES:
                raise  # the blob service is away: retried like any outage
            # The blob is gone (404) or the handle refused (another 4xx, which no retry cures):
            # keep the message itself, quarantined as an unfetched handle.
            log.warning(
                "blob not fetched",
                extra=fields(handle=handle, key=record.record_key, status=exc.status),
            )
    return record


def highest_offsets(batch: pa.Table) -> dict[int, int]:
    """Per Kafka partition, the highest offset in `batch` (what gets committed)."""
    return _per_partition(batch, "max")


def _per_partition(batch: pa.Table, how: Literal["min", "max"]) -> dict[int, int]:
    """Per Kafka partition of `batch`, its lowest or highest offset."""
    keyed = batch.select(["kafka_partition", "kafka_offset"]).drop_null()
    grouped = keyed.group_by("kafka_partition").aggregate([("kafka_offset", how)])
    partitions = cast(list[int], grouped["kafka_partition"].to_pylist())
    offsets = cast(list[int], grouped[f"kafka_offset_{how}"].to_pylist())
    return dict(zip(partitions, offsets, strict=True))


def _note_times(stats: ConsumerStats, batch: pa.Table) -> None:
    newest: datetime = pc.max(batch["received_at"]).as_py()
    if stats.last_message_at is None or newest > stats.last_message_at:
        stats.last_message_at = newest
    # The last event time, from the batch's last message only (cheap: one gunzip per batch).
    last = batch.slice(batch.num_rows - 1).to_pylist()[0]
    if last["defect"]:
        return
    try:
        parsed = here.parse_message(here.decode_payload(last["payload"]), last["received_at"])
    except Exception:  # display only: the recorder quarantines a bad record anyway
        return
    for obs in parsed.observations:
        if stats.last_event_time is None or obs.event_time > stats.last_event_time:
            stats.last_event_time = obs.event_time


def record_here(
    lake: Lake | str | PathLike[str],
    *,
    hrn: str,
    layer: str,
    credentials: str | Path | None = None,
    token_env: str | None = None,
    lookup_url: str = DEFAULT_LOOKUP_URL,
    consumer_group: str = DEFAULT_CONSUMER_GROUP,
    max_messages: int | None = None,
    duration: timedelta | None = None,
    until_idle: bool = False,
    skew_tolerance: timedelta = DEFAULT_SKEW_TOLERANCE,
    dedupe_horizon: timedelta = DEFAULT_DEDUPE_HORIZON,
    compact_every: timedelta | None = None,
    max_backoff: timedelta = MAX_BACKOFF,
    progress: bool | None = None,
    environ: Mapping[str, str] | None = None,
) -> ConsumerStats:
    """What `evlog record here` runs: resolve credentials (before touching the lake), consume
    with progress on a terminal, stop cleanly on SIGINT/SIGTERM."""
    if max_backoff <= timedelta(0):
        raise UsageError("--max-backoff: must be positive")
    if max_messages is not None and max_messages < 1:
        raise UsageError("--max-messages: must be at least 1")
    if duration is not None and duration <= timedelta(0):
        raise UsageError("--duration: must be positive")
    http = new_http_client()
    stop = threading.Event()
    try:
        # A stop also ends the waits between one call's retries (`sleep`).
        # One call's own retries wait no longer than the loop's backoff would.
        cap_s = min(RetryPolicy.cap_s, max_backoff.total_seconds())
        retry = RetryPolicy(base_s=min(RetryPolicy.base_s, cap_s), cap_s=cap_s)
        tokens = token_provider(
            credentials,
            token_env,
            http,
            os.environ if environ is None else environ,
            retry=retry,
            sleep=stop.wait,
        )
        try:
            tokens.token()  # refused credentials fail here, before anything is created
        except AuthError:
            raise
        except ApiError as exc:  # an outage is retried by the loop
            log.warning("token request failed; retrying", extra=fields(problem=str(exc)))
        target = Lake.create(lake)
        api = DataApiClient(
            hrn, layer, tokens, client=http, lookup_url=lookup_url, retry=retry, sleep=stop.wait
        )
        return consume(
            target,
            api,
            consumer_group=consumer_group,
            max_messages=max_messages,
            duration=duration,
            until_idle=until_idle,
            stop=stop,
            skew_tolerance=skew_tolerance,
            dedupe_horizon=dedupe_horizon,
            compact_every=compact_every,
            max_backoff=max_backoff,
            progress=progress,
        )
    finally:
        http.close()
