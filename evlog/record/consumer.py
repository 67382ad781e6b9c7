"""`evlog record here`: consume the HERE status stream (Data API stream v2) into the lake.

The loop, per batch: fetch messages (`partitions`), fetch any `dataHandle` blobs, store the raw
bytes with their Kafka partition/offset (`Recorder.append`, which returns once the Parquet files
are durable), and only then commit, per partition, the highest offset stored. A crash between
the two re-delivers the batch after restart; the lake's dedupe on `kafka:<partition>:<offset>`
drops the repeats, so every offset is stored exactly once.

Coverage (source `here_stream`): a row at start, a heartbeat at least every 30 s, and one at a
clean stop. Stop with SIGINT/SIGTERM, `max_messages` or `duration`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from os import PathLike
from pathlib import Path
from typing import Any

from evlog.errors import RecordError, UsageError
from evlog.lake import Lake
from evlog.record.derive import DEFAULT_SKEW_TOLERANCE, STATUS_FEED, Row
from evlog.record.live import (
    HEARTBEAT_EVERY,
    Heartbeat,
    PeriodicCompaction,
    Progress,
    logfmt,
    stop_on_signals,
)
from evlog.record.recorder import Recorder, RecordSummary, utc_now
from evlog.sources import here
from evlog.sources._http import ApiError, AuthError
from evlog.sources.here_api import (
    DEFAULT_LOOKUP_URL,
    DataApiClient,
    Subscription,
    new_http_client,
    token_provider,
)

log = logging.getLogger("evlog.record.here")

DEFAULT_CONSUMER_GROUP = "evlog"
IDLE_WAIT_S = 1.0  # pause after an empty batch
MAX_CONSECUTIVE_FAILURES = 10  # failed batches in a row (after each call's own retries)


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
    heartbeat_every: timedelta = HEARTBEAT_EVERY,
    compact_every: timedelta | None = None,
    idle_wait_s: float = IDLE_WAIT_S,
    on_progress: Callable[[ConsumerStats], None] | None = None,
    after_append: Callable[[list[Row]], None] | None = None,
) -> ConsumerStats:
    """Consume `api`'s layer into `lake` until `stop` is set, `max_messages` have been received,
    `duration` has passed or, with `until_idle`, a fetch comes back empty (caught up).
    Returns the session's counters.

    `compact_every`: run `evlog lake compact` that often, in a child process (`PeriodicCompaction`).
    `after_append` is a test hook called between the durable append and the offset commit.
    Raises `AuthError` on 401/403 and `ApiError` when the service keeps failing.
    """
    stop = stop or threading.Event()
    deadline = None if duration is None else time.monotonic() + duration.total_seconds()
    recorder = Recorder(lake, STATUS_FEED, skew_tolerance=skew_tolerance)
    stats = ConsumerStats(session_id=recorder.session_id)
    capture = f"{api.hrn}/{api.layer}"
    sub = api.subscribe(consumer_group)
    log.info(
        "subscribed %s",
        logfmt(
            {
                "hrn": api.hrn,
                "layer": api.layer,
                "group": consumer_group,
                "subscription": sub.subscription_id,
                "session": recorder.session_id,
            }
        ),
    )
    try:
        heartbeat = Heartbeat(recorder, heartbeat_every)
        compaction = PeriodicCompaction(lake, compact_every)
        failures = 0
        while not stop.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                break
            remaining = None if max_messages is None else max_messages - stats.messages
            if remaining is not None and remaining <= 0:
                break
            try:
                got = _one_batch(api, sub, recorder, stats, capture, remaining, after_append)
                failures = 0
            except AuthError:
                raise
            except ApiError as exc:
                failures += 1
                if failures >= MAX_CONSECUTIVE_FAILURES:
                    raise
                log.error(
                    "batch failed problem=%r consecutive=%d; resubscribing", str(exc), failures
                )
                sub = _resubscribe(api, sub, consumer_group, stop, failures)
                stats.resubscribes += 1
                got = 0
            heartbeat.beat()
            compaction.poll()
            if on_progress is not None:
                on_progress(stats)
            if got == 0 and until_idle and failures == 0:
                break
            if got == 0:
                wait = idle_wait_s
                if deadline is not None:
                    wait = min(wait, max(0.0, deadline - time.monotonic()))
                stop.wait(min(wait, heartbeat.seconds_to_next()))
        heartbeat.stop()
        compaction.stop()
        log.info("stopped %s", logfmt({"session": recorder.session_id, **stats.fields()}))
    finally:
        try:
            api.unsubscribe(sub)
        except ApiError as exc:
            log.warning("unsubscribe failed problem=%r", str(exc))
    return stats


def _resubscribe(
    api: DataApiClient, old: Subscription, group: str, stop: threading.Event, failures: int
) -> Subscription:
    """After a failed batch: drop the old subscription (best effort) and open a new one, which
    resumes from the committed offsets."""
    with contextlib.suppress(ApiError):
        api.unsubscribe(old)
    stop.wait(min(60.0, api.retry.base_s * 2**failures))
    return api.subscribe(group)


def _one_batch(
    api: DataApiClient,
    sub: Subscription,
    recorder: Recorder,
    stats: ConsumerStats,
    capture: str,
    remaining: int | None,
    after_append: Callable[[list[Row]], None] | None,
) -> int:
    messages = api.partitions(sub)
    if remaining is not None:
        # Messages past the bound are dropped uncommitted: the next session receives them again.
        messages = messages[:remaining]
    if not messages:
        return 0
    fallback = utc_now()
    rows = [
        _row(api, message, capture, index, fallback, stats)
        for index, message in enumerate(messages)
    ]
    batch = recorder.append(rows)  # returns once raw, events and quarantine are durable
    if after_append is not None:
        after_append(rows)
    offsets = highest_offsets(rows)
    api.commit(sub, offsets)
    stats.committed.update(offsets)
    stats.commits += 1 if offsets else 0
    stats.batches += 1
    stats.messages += len(messages)
    stats.add(batch)
    _note_times(stats, rows)
    return len(messages)


def _row(
    api: DataApiClient,
    message: Any,
    capture: str,
    index: int,
    fallback: datetime,
    stats: ConsumerStats,
) -> Row:
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
            if exc.status != 404:
                raise
            # The blob is gone: keep the message itself, quarantined as an unfetched handle.
            log.warning("blob missing handle=%s key=%s", handle, record.record_key)
    return record.as_row()


def highest_offsets(rows: list[Row]) -> dict[int, int]:
    """Per Kafka partition, the highest offset among `rows` (what gets committed)."""
    offsets: dict[int, int] = {}
    for row in rows:
        partition, offset = row["kafka_partition"], row["kafka_offset"]
        if partition is not None and offset is not None and offset > offsets.get(partition, -1):
            offsets[partition] = offset
    return offsets


def _note_times(stats: ConsumerStats, rows: list[Row]) -> None:
    newest: datetime = max(row["received_at"] for row in rows)
    if stats.last_message_at is None or newest > stats.last_message_at:
        stats.last_message_at = newest
    # The last event time, from the batch's last message only (cheap: one gunzip per batch).
    last = rows[-1]
    if last["defect"]:
        return
    try:
        parsed = here.parse_message(here.decode_payload(last["payload"]), last["received_at"])
    except RecordError:  # display only: the recorder quarantines a bad record anyway
        return
    for obs in parsed.observations:
        if stats.last_event_time is None or obs.event_time > stats.last_event_time:
            stats.last_event_time = obs.event_time


def offsets_line(offsets: Mapping[int, int]) -> str:
    return ",".join(f"{p}:{o}" for p, o in sorted(offsets.items()))


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
    compact_every: timedelta | None = None,
    progress: bool | None = None,
    environ: Mapping[str, str] | None = None,
) -> ConsumerStats:
    """What `evlog record here` runs: resolve credentials (before touching the lake), consume
    with progress on a terminal, stop cleanly on SIGINT/SIGTERM."""
    if max_messages is not None and max_messages < 1:
        raise UsageError("--max-messages: must be at least 1")
    if duration is not None and duration <= timedelta(0):
        raise UsageError("--duration: must be positive")
    http = new_http_client()
    try:
        tokens = token_provider(
            credentials, token_env, http, os.environ if environ is None else environ
        )
        tokens.token()  # fail fast on bad credentials, before creating anything
        target = Lake.create(lake)
        api = DataApiClient(hrn, layer, tokens, client=http, lookup_url=lookup_url)
        stop = threading.Event()
        with stop_on_signals(stop), Progress("here_stream", enabled=progress) as shown:
            return consume(
                target,
                api,
                consumer_group=consumer_group,
                max_messages=max_messages,
                duration=duration,
                until_idle=until_idle,
                stop=stop,
                skew_tolerance=skew_tolerance,
                compact_every=compact_every,
                on_progress=lambda stats: shown.update(stats.fields()),
            )
    finally:
        http.close()
