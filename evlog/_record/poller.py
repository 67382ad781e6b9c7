"""`evlog record poll`: poll eDRV station snapshots at intervals, the double-check of webhook
state that the eDRV docs recommend.

Each round fetches the stations (the paged list, or the ids given), stores every snapshot raw
(`raw_polls`, key `poll:<station>:<received_at µs>`) and normalizes it (POLL_FEED) into a
`connectivity_events` row with `source='edrv_poll'`, `event='poll'`, event_time = receive time.
Coverage (source `edrv_poll`): start, a heartbeat at least every 30 s, and a clean stop.

`evlog report reconcile` (`evlog._reports.reconcile`) then lists the snapshots that contradict the
webhook-derived state: missed webhooks.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from os import PathLike
from typing import Any

from evlog._errors import UsageError
from evlog._lake.layout import Lake
from evlog._record.derive import DEFAULT_SKEW_TOLERANCE, POLL_FEED, Row
from evlog._record.live import HEARTBEAT_EVERY, LiveSession, fields
from evlog._record.recorder import DEFAULT_DEDUPE_HORIZON, Recorder
from evlog._sources._http import ApiError, AuthError
from evlog._sources.edrv_api import DEFAULT_PAGE_SIZE, EdrvClient, Snapshot, token_from_env
from evlog._time import to_micros

log = logging.getLogger("evlog.record.poll")


@dataclass
class PollStats:
    session_id: str = ""
    rounds: int = 0
    snapshots: int = 0
    recorded: int = 0
    quarantined: int = 0
    failed_rounds: int = 0
    missing: int = 0  # station ids the API did not know (404)
    last_round_at: datetime | None = None
    started_monotonic: float = field(default_factory=time.monotonic)

    def fields(self) -> dict[str, Any]:
        return {
            "rounds": self.rounds,
            "snapshots": self.snapshots,
            "recorded": self.recorded,
            "quarantined": self.quarantined,
            "failed_rounds": self.failed_rounds,
            "last_round": self.last_round_at,
        }

    def nothing_recorded(self) -> str | None:
        """Why this run recorded nothing, if it did not: every round failed (a dead API, a
        wrong URL or token: the log says why), or the API listed no stations."""
        if self.rounds == 0 and self.failed_rounds:
            return f"all {self.failed_rounds} polling rounds failed (the log above says why)"
        if self.rounds and self.snapshots == 0:
            return "the API returned no stations"
        return None

    def line(self) -> str:
        return (
            f"polled {self.rounds} rounds: {self.snapshots} snapshots, recorded {self.recorded}, "
            f"{self.quarantined} quarantined, {self.failed_rounds} failed rounds"
        )


def snapshot_row(snapshot: Snapshot, index: int, capture: str) -> Row:
    micros = to_micros(snapshot.received_at)
    station = snapshot.station_id
    key = f"poll:{station}:{micros}" if station else f"poll:?:{micros}:{index}"
    return {
        "record_key": key,
        "station_id": station,
        "payload": snapshot.payload,
        "received_at": snapshot.received_at,
        "arrival_index": index,
        "capture": capture,
    }


def poll_round(
    client: EdrvClient,
    recorder: Recorder,
    stations: Sequence[str],
    stats: PollStats,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> None:
    """One round: fetch, then store every snapshot in one durable append."""
    snapshots: list[Snapshot] = []
    if stations:
        for station_id in stations:
            try:
                snapshots.append(client.station(station_id))
            except ApiError as exc:
                if exc.status != 404:
                    raise
                stats.missing += 1
                log.warning("station unknown", extra=fields(station=station_id))
    else:
        snapshots.extend(client.stations(page_size))
    rows = [snapshot_row(s, i, client.api_base) for i, s in enumerate(snapshots)]
    batch = recorder.append(rows)
    stats.rounds += 1
    stats.snapshots += len(rows)
    stats.recorded += batch.recorded
    stats.quarantined += batch.quarantined
    stats.last_round_at = max((s.received_at for s in snapshots), default=stats.last_round_at)


def poll(
    lake: Lake,
    client: EdrvClient,
    *,
    every: timedelta,
    stations: Sequence[str] = (),
    page_size: int = DEFAULT_PAGE_SIZE,
    max_rounds: int | None = None,
    duration: timedelta | None = None,
    stop: threading.Event | None = None,
    skew_tolerance: timedelta = DEFAULT_SKEW_TOLERANCE,
    dedupe_horizon: timedelta = DEFAULT_DEDUPE_HORIZON,
    heartbeat_every: timedelta = HEARTBEAT_EVERY,
    compact_every: timedelta | None = None,
    progress: bool | None = False,
) -> PollStats:
    """Poll every `every` until `stop`, `max_rounds` or `duration`. A round that fails after its
    retries is logged and skipped (the next round comes on time); 401/403 stop the poller.
    `progress`: a live status line (None: when stdout is a terminal). SIGINT/SIGTERM set `stop`.
    """
    if every <= timedelta(0):
        raise UsageError("--every: must be positive")
    deadline = None if duration is None else time.monotonic() + duration.total_seconds()
    recorder = Recorder(
        lake, POLL_FEED, skew_tolerance=skew_tolerance, dedupe_horizon=dedupe_horizon
    )
    stats = PollStats(session_id=recorder.session_id)
    session = LiveSession(
        recorder,
        heartbeat_every=heartbeat_every,
        compact_every=compact_every,
        progress=progress,
        stop=stop,
    )
    with session.running():
        session.coverage.start()
        log.info(
            "polling",
            extra=fields(
                api=client.api_base,
                every_s=every.total_seconds(),
                stations=len(stations) or "all",
                session=recorder.session_id,
            ),
        )
        next_round = time.monotonic()
        while not session.stop.is_set():
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                break
            if max_rounds is not None and stats.rounds + stats.failed_rounds >= max_rounds:
                break
            if now >= next_round:
                try:
                    poll_round(client, recorder, stations, stats, page_size)
                except AuthError:
                    raise
                except ApiError as exc:
                    stats.failed_rounds += 1
                    log.error("round failed", extra=fields(problem=str(exc)))
                next_round += every.total_seconds()
                if next_round < time.monotonic():  # fell behind: keep the cadence, no backlog
                    next_round = time.monotonic() + every.total_seconds()
                continue
            session.tick(stats.fields())
            wait = next_round - now
            if deadline is not None:
                wait = min(wait, deadline - now)
            session.wait(wait)
        session.finish(**stats.fields())
    return stats


def record_poll(
    lake: Lake | str | PathLike[str],
    *,
    api_base: str,
    token_env: str,
    every: timedelta,
    stations: Sequence[str] = (),
    page_size: int = DEFAULT_PAGE_SIZE,
    max_rounds: int | None = None,
    duration: timedelta | None = None,
    skew_tolerance: timedelta = DEFAULT_SKEW_TOLERANCE,
    dedupe_horizon: timedelta = DEFAULT_DEDUPE_HORIZON,
    compact_every: timedelta | None = None,
    progress: bool | None = None,
    environ: Mapping[str, str] | None = None,
) -> PollStats:
    """What `evlog record poll` runs: check options before touching the lake, poll with progress
    on a terminal, stop cleanly on SIGINT/SIGTERM."""
    token = token_from_env(token_env, os.environ if environ is None else environ)
    if page_size < 1:
        raise UsageError("--page-size: must be at least 1")
    client = EdrvClient(api_base, token)
    try:
        target = Lake.create(lake)
        return poll(
            target,
            client,
            every=every,
            stations=stations,
            page_size=page_size,
            max_rounds=max_rounds,
            duration=duration,
            skew_tolerance=skew_tolerance,
            dedupe_horizon=dedupe_horizon,
            compact_every=compact_every,
            progress=progress,
        )
    finally:
        client.close()
