"""`evlog record webhooks --listen`: the live eDRV webhook receiver.

A Starlette app served by uvicorn. A POST on the webhook path is checked (size, signature) and
appended to a write-ahead log (`evlog._record.wal`); the 200 (empty body, as eDRV requires) is
sent only after the fsync that covers the record. Concurrent requests share one fsync.

The log is turned into Parquet through the shared `Recorder` (raw, events, quarantine; dedupe on
``webhook:<_id>``) when a segment is sealed: every `rotate_every`, at `rotate_bytes`, and on a
clean stop. A segment file is deleted only after its Parquet files are durable. On start,
segments left by a crash are converted first; converting one twice adds nothing (the recorder's
dedupe), so a crash between the Parquet write and the delete is harmless.

A failed conversion (disk full, I/O error) keeps the segment and retries it with backoff; its
records stay *pending* (`/healthz` says ``degraded`` and how many) until they are in Parquet. A
segment whose conversion fails for any other reason (its content: a bug, a corrupt file) is moved
to the log's ``poison/`` folder, kept for inspection, and the receiver carries on: no record's
content may stop it or its recovery.

Slow or hostile clients: a connection must finish its request headers within `header_timeout`
and its body within `body_timeout`; at `max_connections` the oldest connection still sending
its headers is dropped for the new one. With a secret, a request without a well-formed, fresh
``edrv-signature`` is refused before its body is read, and bodies being read may hold at most
`body_budget` bytes in all (more: 503). Credentials in request headers are stored redacted.

Coverage (``source=edrv_webhooks``): a ``start`` row once the socket listens, a ``heartbeat``
row every `heartbeat_every` (at most 30 s) covering [session start, now], and a ``stop`` row after
the last segment is in Parquet. After a crash the last durable heartbeat is the end of the
session's coverage; recovery never extends it. If the log fails (disk full, I/O error), requests
get 503, no heartbeat claims that time, and coverage starts anew once writes succeed again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import re
import resource
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import h11
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from uvicorn.protocols.http.h11_impl import H11Protocol

from evlog._errors import RecordError, UsageError
from evlog._faults import fault_point
from evlog._lake.layout import Lake, exclusive_lock, fsync_dir
from evlog._record.derive import DEFAULT_SKEW_TOLERANCE, WEBHOOK_FEED, Row
from evlog._record.live import LiveSession, RepeatFilter, fields, rate_limit
from evlog._record.recorder import DEFAULT_DEDUPE_HORIZON, Recorder, RecordSummary
from evlog._record.wal import (
    MAX_BODY,
    MAX_HEADERS,
    GroupCommitLog,
    Segment,
    WalError,
    read_segment,
    segments,
)
from evlog._sources import edrv
from evlog._sources._headers import redact_headers
from evlog._time import from_micros

log = logging.getLogger("evlog.receiver")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PATH = "/webhooks/edrv"
DEFAULT_MAX_BODY = 1 << 20
MAX_HEARTBEAT = timedelta(seconds=30)
PROGRESS_EVERY_S = 0.5  # how often the receiver updates its progress (status line, log line)
COMPACTION_POLL_S = 5.0  # how often the receiver checks whether a compaction is due or done
WAL_DIR = Path("_wal") / "edrv_webhooks"
POISON_DIR = "poison"  # under the log directory: segments whose conversion failed on content
CONVERT_RETRY_S = (0.2, 5.0)  # first and longest wait before converting a failed segment again
TRANSIENT = (OSError, MemoryError)  # conversion failures worth a retry; others: the content's
RATE_WINDOW_S = 10.0
DEFAULT_BODY_BUDGET = 64 << 20


def default_max_connections() -> int:
    """Half the process's file-descriptor limit: the rest stays for log segments and Parquet."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(16, min(4096, soft // 2)) if soft != resource.RLIM_INFINITY else 4096


@dataclass(frozen=True)
class ReceiverConfig:
    """Everything `evlog record webhooks --listen` can be told."""

    lake: Path
    host: str = DEFAULT_HOST
    port: int = 8080
    path: str = DEFAULT_PATH
    secret: str | None = None
    signature_tolerance: timedelta = timedelta(minutes=5)
    max_body: int = DEFAULT_MAX_BODY
    rotate_every: timedelta = timedelta(seconds=30)
    rotate_bytes: int = 64 << 20
    heartbeat_every: timedelta = MAX_HEARTBEAT
    compact_every: timedelta | None = None  # `evlog lake compact` that often (PeriodicCompaction)
    skew_tolerance: timedelta = DEFAULT_SKEW_TOLERANCE
    dedupe_horizon: timedelta = DEFAULT_DEDUPE_HORIZON
    wal_dir: Path | None = None  # default: <lake>/_wal/edrv_webhooks
    fsync: bool = True  # False only for benchmarks: acknowledgements are then not durable
    status: bool | None = None  # progress line on stdout; None: only when stdout is a terminal
    graceful_timeout_s: int = 10
    redact_headers: tuple[str, ...] = ()  # stored as "[redacted]", besides `SECRET_HEADERS`
    header_timeout: timedelta = timedelta(seconds=10)  # to send a request's headers
    body_timeout: timedelta = timedelta(seconds=30)  # to send its body
    max_connections: int = field(default_factory=default_max_connections)
    body_budget: int = DEFAULT_BODY_BUDGET  # bytes of bodies held at once (at least max_body)

    def __post_init__(self) -> None:
        if not self.path.startswith("/"):
            raise UsageError(f"--path: must start with '/': {self.path!r}")
        if self.max_body <= 0:
            raise UsageError("--max-body: must be positive")
        if self.max_body > MAX_BODY:
            raise UsageError(
                f"--max-body: at most {MAX_BODY} bytes (what one write-ahead log record holds)"
            )
        if self.max_connections < 1:
            raise UsageError("--max-connections: must be positive")
        if self.heartbeat_every <= timedelta(0) or self.heartbeat_every > MAX_HEARTBEAT:
            raise UsageError("--heartbeat: must be positive and at most 30s")
        if self.rotate_every <= timedelta(0):
            raise UsageError("--rotate-every: must be positive")
        if self.signature_tolerance <= timedelta(0):
            raise UsageError("--signature-tolerance: must be positive")

    @property
    def capture(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{self.path}"

    def wal_directory(self) -> Path:
        return self.wal_dir if self.wal_dir is not None else self.lake / WAL_DIR

    @property
    def bodies_budget(self) -> int:
        """Bytes of request bodies the receiver holds at once: one largest body at least."""
        return max(self.body_budget, self.max_body)


# ---------------------------------------------------------------------------------------------
# Option parsing (the CLI calls these; errors name the option)

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|kib|k|mb|mib|m|gb|gib|g)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "b": 1,
    "kb": 1000,
    "k": 1024,
    "kib": 1024,
    "mb": 1000**2,
    "m": 1024**2,
    "mib": 1024**2,
    "gb": 1000**3,
    "g": 1024**3,
    "gib": 1024**3,
}


def parse_size(value: str, option: str) -> int:
    """A byte size like `1MiB`, `512KiB`, `64M` (binary), `1MB` (decimal) or plain bytes."""
    match = _SIZE.match(value)
    if match is None:
        raise UsageError(f"{option}: not a size like 1MiB, 512KiB or 65536: {value!r}")
    size = float(match.group(1)) * _SIZE_UNITS[(match.group(2) or "b").lower()]
    if size < 1:
        raise UsageError(f"{option}: must be at least one byte: {value!r}")
    return int(size)


def parse_listen(value: str) -> tuple[str, int]:
    """`HOST:PORT`, `[IPv6]:PORT`, `:PORT` or `PORT` (host 127.0.0.1) as (host, port)."""
    text = value.strip()
    host, port_text = DEFAULT_HOST, text
    if text.startswith("["):
        inner, sep, rest = text[1:].partition("]")
        if not sep or not rest.startswith(":") or not inner:
            raise UsageError(f"--listen: expected HOST:PORT or [IPv6]:PORT, got {value!r}")
        host, port_text = inner, rest[1:]
    elif ":" in text:
        host, _, port_text = text.rpartition(":")
        host = host or DEFAULT_HOST
        if ":" in host:
            raise UsageError(f"--listen: write an IPv6 address in brackets: {value!r}")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise UsageError(f"--listen: not a port number (0-65535): {value!r}")
    return host, int(port_text)


def secret_from_env(name: str) -> str:
    """The webhook secret held by environment variable `name`."""
    secret = os.environ.get(name)
    if not secret:
        raise UsageError(f"--secret-env: environment variable {name} is not set or empty")
    return secret


# ---------------------------------------------------------------------------------------------
# Log segments → Parquet


def segment_rows(segment: Segment) -> list[Row]:
    """The RAW_WEBHOOKS rows (without session_id) of a log segment's records."""
    rows = []
    for record in segment.records:
        record_key, webhook_id = edrv.webhook_identity(record.body)
        rows.append(
            {
                "record_key": record_key,
                "webhook_id": webhook_id,
                "payload": record.body,
                "headers": record.headers.decode("utf-8", errors="replace"),
                "received_at": record.received_at,
                "arrival_index": record.seq,
                "capture": segment.meta.capture,
            }
        )
    return rows


def convert_segment(recorder: Recorder, path: Path) -> RecordSummary:
    """Append a sealed segment's records to the lake, then delete it. Idempotent: converting a
    segment again (after a crash before the delete) adds nothing."""
    segment = read_segment(path)
    summary = RecordSummary()
    if segment is not None:
        if segment.dropped_bytes:
            log.warning(
                "dropped a torn tail of a log segment",
                extra=fields(
                    segment=path.name,
                    dropped_bytes=segment.dropped_bytes,
                    kept_records=len(segment.records),
                ),
            )
        own_session = recorder.session_id
        recorder.session_id = segment.meta.session_id  # raw rows keep the receiving session
        try:
            fault_point("receiver.convert")
            summary = recorder.append(segment_rows(segment))
        finally:
            recorder.session_id = own_session
    path.unlink(missing_ok=True)  # only now: the Parquet files above are fsynced
    fsync_dir(path.parent)
    return summary


def convert_or_set_aside(recorder: Recorder, path: Path) -> RecordSummary:
    """`convert_segment`, but a failure that is not transient (`TRANSIENT`: the disk, memory)
    is the content's: the segment is moved to the log's poison folder (kept, never deleted) so
    that it stops neither recovery nor the segments after it. Transient failures are raised."""
    try:
        return convert_segment(recorder, path)
    except TRANSIENT:
        raise
    except Exception as exc:
        poison = path.parent / POISON_DIR
        poison.mkdir(exist_ok=True)
        path.rename(poison / path.name)
        fsync_dir(poison)
        fsync_dir(path.parent)
        log.error(
            "a log segment cannot be converted; moved aside, the receiver carries on",
            exc_info=True,
            extra=fields(segment=path.name, moved_to=str(poison), error=_error(exc)),
        )
        return RecordSummary()


def recover(recorder: Recorder, wal_dir: Path) -> tuple[RecordSummary, list[Path]]:
    """Convert the segments a previous run left behind (a crash, or a failed conversion);
    returns what was stored and the segments kept for a retry (their writes failed)."""
    total = RecordSummary()
    kept = []
    for path in segments(wal_dir):
        try:
            batch = convert_or_set_aside(recorder, path)
        except TRANSIENT as exc:
            log.error(
                "recovering a log segment failed; it is kept and retried while serving",
                extra=fields(segment=path.name, error=_error(exc)),
            )
            kept.append(path)
            continue
        log.info(
            "recovered a log segment",
            extra=fields(segment=path.name, **vars(batch)),
        )
        total.add(batch)
    return total, kept


def poisoned_segments(wal_dir: Path) -> list[Path]:
    """Segments set aside by `convert_or_set_aside` (by this run or an earlier one)."""
    return segments(wal_dir / POISON_DIR)


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


@contextlib.contextmanager
def wal_lock(wal_dir: Path) -> Iterator[None]:
    """Hold the log directory for this process: two receivers must not share (or recover) it."""
    lock = wal_dir / "lock"
    with exclusive_lock(
        lock, f"another receiver is recording into this lake (lock held on {lock})"
    ):
        yield


# ---------------------------------------------------------------------------------------------
# The receiver


@dataclass
class ReceiverSummary:
    """What one receiver run did."""

    received: int = 0  # requests acknowledged with 200 (durable)
    rejected: dict[int, int] = field(default_factory=dict)  # status → requests
    recovered: RecordSummary = field(default_factory=RecordSummary)  # from an earlier run's log
    recorded: RecordSummary = field(default_factory=RecordSummary)  # this run's log → Parquet
    pending: int = 0  # acknowledged records still only in the log at the stop
    set_aside: int = 0  # segments in the log's poison folder

    def lines(self) -> list[str]:
        rejected = ", ".join(f"{n} x {code}" for code, n in sorted(self.rejected.items()))
        first = f"received {self.received} webhooks"
        lines = [first + (f"; rejected {rejected}" if rejected else "")]
        if self.recovered.recorded or self.recovered.duplicates:
            lines.append("recovered from an earlier run: " + self.recovered.line())
        lines.append(self.recorded.line())
        if self.pending:
            lines.append(
                f"NOT STORED: {self.pending} received webhooks are still only in the "
                "write-ahead log; the next start stores them"
            )
        if self.set_aside:
            lines.append(
                f"NOT STORED: {self.set_aside} log segments could not be converted and are "
                f"kept in {POISON_DIR}/ of the log directory"
            )
        return lines


class _Server(uvicorn.Server):
    """uvicorn's server, its signals caught by the receiver's live session (which shows its
    progress meanwhile): a SIGTERM/SIGINT asks for the graceful shutdown, a second one stops
    waiting for open connections; then the process exits normally (uvicorn would re-raise the
    signal)."""

    def __init__(self, config: uvicorn.Config, session: LiveSession) -> None:
        super().__init__(config)
        self.session = session

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with self.session.running(on_stop=self._stop, on_abort=self._abort):
            yield

    def _stop(self) -> None:
        self.should_exit = True

    def _abort(self) -> None:
        self.force_exit = True


class ConnectionGuard:
    """What `GuardedH11Protocol` connections share: the limits, and the connections that are
    waiting for a request's headers (oldest first: the first to drop when at the limit)."""

    def __init__(
        self, max_connections: int, header_timeout: timedelta, body_timeout: timedelta
    ) -> None:
        self.max_connections = max_connections
        self.header_timeout = header_timeout.total_seconds()
        self.body_timeout = body_timeout.total_seconds()
        self.waiting: dict[GuardedH11Protocol, None] = {}
        self.dropped = 0


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with deadlines for slow clients and a connection limit.

    uvicorn holds a connection that never finishes its headers for ever, so a few hundred idle
    sockets exhaust the file descriptors and starve every legitimate client. Here a connection
    must finish each request's headers within `header_timeout` of connecting (or of its previous
    response), and the rest of a body answered early (401, 413, 503: uvicorn reads and discards
    it) within `body_timeout`; at `max_connections` a new connection makes the oldest one still
    waiting for headers go, so slow clients crowd out each other, never a client that sends its
    request. (The app bounds the time to read a body it wants.)"""

    def __init__(self, *args: Any, guard: ConnectionGuard, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.guard = guard
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.guard.max_connections:
            oldest = next(iter(self.guard.waiting), None)
            if oldest is None:  # every connection is in a request: this one must wait its turn
                self._drop("connection limit reached; refused a connection")
                return
            oldest._drop("connection limit reached; dropped a connection waiting for headers")
        self._await_headers()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        state = self.conn.their_state
        if state is h11.IDLE and self not in self.guard.waiting:
            self._await_headers()  # an early-answered body is all in: the next request's turn
        elif state is not h11.IDLE and self in self.guard.waiting:
            self._clear()  # headers complete

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.transport.is_closing():
            return
        if self.conn.their_state is h11.IDLE:
            self._await_headers()
        elif self.conn.their_state is h11.SEND_BODY:  # answered before its body was read
            self._clear()
            self._deadline = self.loop.call_later(
                self.guard.body_timeout, self._drop, "request body not finished in time"
            )

    def connection_lost(self, exc: Exception | None) -> None:
        self._clear()
        super().connection_lost(exc)

    def _await_headers(self) -> None:
        self._clear()
        self.guard.waiting[self] = None
        self._deadline = self.loop.call_later(
            self.guard.header_timeout, self._drop, "request headers not received in time"
        )

    def _clear(self) -> None:
        self.guard.waiting.pop(self, None)
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _drop(self, reason: str) -> None:
        self._clear()
        self.guard.dropped += 1
        log.warning(reason, extra=fields(dropped=self.guard.dropped))  # rate-limited
        self.transport.close()


class Receiver:
    """The app, its write-ahead log, the conversion to Parquet, coverage and status."""

    def __init__(self, config: ReceiverConfig, lake: Lake, recorder: Recorder) -> None:
        self.config = config
        self.lake = lake
        self.recorder = recorder
        self.session_id = recorder.session_id
        self.summary = ReceiverSummary()
        self.session = LiveSession(
            recorder,
            heartbeat_every=config.heartbeat_every,
            compact_every=config.compact_every,
            progress=config.status,
        )
        rate_limit(RATE_LIMITED_LOGGERS, _REPEATS)
        self.server: _Server | None = None
        self.last_received_at: datetime | None = None
        self.last_body: bytes | None = None
        self.conversion_error: str | None = None
        self.stopping = False
        self._stop_requested = asyncio.Event()  # cuts a conversion retry's wait short
        self._wal: GroupCommitLog | None = None
        self._sealed: asyncio.Queue[tuple[Path, int] | None] = asyncio.Queue()
        self._sealed_bytes = 0
        self._sealed_records = 0  # acknowledged records in sealed segments not yet in Parquet
        self._body_bytes = 0  # bytes of request bodies being read or logged right now
        self.guard = ConnectionGuard(
            config.max_connections, config.header_timeout, config.body_timeout
        )
        self._lake_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="evlog-lake")
        # Coverage has its own thread: a long conversion must not delay a heartbeat.
        self._coverage_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="evlog-cov")
        self._tasks: list[asyncio.Task[None]] = []
        self._started_at = time.monotonic()
        self._rate: deque[tuple[float, int]] = deque(maxlen=256)
        self._failed_seen = 0
        self.app = Starlette(
            routes=[
                Route(config.path, self._webhook, methods=["POST"]),
                Route("/healthz", self._healthz, methods=["GET"]),
            ],
            lifespan=self._lifespan,
        )

    # -- server ---------------------------------------------------------------------------

    def make_server(self) -> _Server:
        config = uvicorn.Config(
            self.app,
            host=self.config.host,
            port=self.config.port,
            log_config=None,
            access_log=False,
            lifespan="on",
            server_header=False,
            timeout_graceful_shutdown=self.config.graceful_timeout_s,
            http=cast(
                type[asyncio.Protocol], functools.partial(GuardedH11Protocol, guard=self.guard)
            ),
        )
        self.server = _Server(config, self.session)
        return self.server

    # -- requests -------------------------------------------------------------------------

    async def _webhook(self, request: Request) -> Response:
        received_us = time.time_ns() // 1000
        limit = self.config.max_body
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return self._reject(413 if declared.isdigit() else 400)
        headers = orjson.dumps(redact_headers(dict(request.headers), self.config.redact_headers))
        if len(headers) > MAX_HEADERS:
            return self._reject(431)
        signature = request.headers.get(edrv.SIGNATURE_HEADER)
        tolerance = self.config.signature_tolerance
        if self.config.secret is not None and not edrv.signature_is_fresh(
            signature, received_us / 1e6, tolerance
        ):
            return self._reject(401)  # before the body: an unsigned sender makes us hold nothing
        if self._wal is None:
            return self._reject(503)
        held = limit if declared is None else int(declared)  # the most this body can take
        if self._body_bytes + held > self.config.bodies_budget:
            return self._reject(503, {"retry-after": "1"})
        self._body_bytes += held
        try:
            return await self._receive(request, received_us, headers, signature)
        finally:
            self._body_bytes -= held

    async def _receive(
        self, request: Request, received_us: int, headers: bytes, signature: str | None
    ) -> Response:
        chunks = bytearray()
        try:
            async with asyncio.timeout(self.config.body_timeout.total_seconds()):
                async for chunk in request.stream():
                    chunks += chunk
                    if len(chunks) > self.config.max_body:
                        return self._reject(413)
        except TimeoutError:
            return self._reject(408)
        body = bytes(chunks)
        del chunks
        if self.config.secret is not None and not edrv.verify_signature(
            self.config.secret,
            signature,
            body,
            received_us / 1e6,
            self.config.signature_tolerance,
        ):
            return self._reject(401)
        if self._wal is None:
            return self._reject(503)
        try:
            await self._wal.append(received_us, headers, body)
        except WalError:
            return self._reject(503)
        self.summary.received += 1
        self.last_received_at = from_micros(received_us)
        self.last_body = body
        return Response(status_code=200)  # empty body: eDRV's contract

    def _reject(self, status: int, headers: dict[str, str] | None = None) -> Response:
        self.summary.rejected[status] = self.summary.rejected.get(status, 0) + 1
        return Response(status_code=status, headers=headers)

    async def _healthz(self, request: Request) -> Response:
        return Response(
            orjson.dumps(self.health()),
            status_code=200 if self._healthy() else 503,
            media_type="application/json",
        )

    def _healthy(self) -> bool:
        return self._wal is not None and self._wal.healthy and not self.stopping

    def health(self) -> dict[str, Any]:
        set_aside = len(poisoned_segments(self.config.wal_directory()))
        status = "ok"
        if self.stopping:
            status = "stopping"
        elif self._wal is None or not self._wal.healthy:
            status = "failing"
        elif self.conversion_error is not None or set_aside:
            status = "degraded"  # acknowledged records that are not (yet) in Parquet
        return {
            "status": status,
            "session_id": self.session_id,
            "records": self.summary.received,
            "stored": self.recorder.summary.recorded,
            "pending": self.pending,
            "set_aside_segments": set_aside,
            "rejected": {str(k): v for k, v in sorted(self.summary.rejected.items())},
            "last_received_at": _iso(self.last_received_at),
            "wal_bytes": self.wal_bytes,
            "wal_error": None if self._wal is None else self._wal.last_error,
            "conversion_error": self.conversion_error,
            "uptime_s": round(time.monotonic() - self._started_at, 3),
        }

    @property
    def pending(self) -> int:
        """Acknowledged records that are only in the log (open segment and sealed ones)."""
        return self._sealed_records + (0 if self._wal is None else self._wal.segment_records)

    @property
    def wal_bytes(self) -> int:
        """Bytes of log not yet in Parquet (open segment and sealed ones waiting)."""
        return self._sealed_bytes + (0 if self._wal is None else self._wal.segment_bytes)

    # -- lifespan -------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self._wal = GroupCommitLog(
            self.config.wal_directory(),
            session_id=self.session_id,
            capture=self.config.capture,
            on_sealed=self._on_sealed,
            rotate_bytes=self.config.rotate_bytes,
            fsync=self.config.fsync,
        )
        self._wal.start()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._converter(), name="evlog-convert"),
            loop.create_task(self._coverage_loop(), name="evlog-coverage"),
            loop.create_task(self._rotate_loop(), name="evlog-rotate"),
            loop.create_task(self._compaction_loop(), name="evlog-compact"),
            loop.create_task(self._progress_loop(), name="evlog-progress"),
        ]
        try:
            yield
        finally:
            await self._shutdown()

    async def _shutdown(self) -> None:
        self.stopping = True
        self._stop_requested.set()
        stopped_at = datetime.now(UTC)
        log.info("stopping: writing the log to Parquet", extra=fields(wal_bytes=self.wal_bytes))
        converter, *others = self._tasks
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        if self._wal is not None:
            await self._wal.close()
        await self._sealed.put(None)
        await converter
        if self._wal is not None and self._wal.failed > self._failed_seen:
            # The log refused writes since the last heartbeat: no stop row claims that time.
            await self._in_coverage(self.session.coverage.interrupt)
        self._lake_executor.shutdown(wait=True)
        self.summary.pending = self.pending
        self.summary.set_aside = len(poisoned_segments(self.config.wal_directory()))
        self.session.progress.update(self._progress())
        finish = functools.partial(
            self.session.finish,
            stopped_at,
            received=self.summary.received,
            recorded=self.recorder.summary.recorded,
            duplicates=self.recorder.summary.duplicates,
            quarantined=self.recorder.summary.quarantined,
            events=self.recorder.summary.events,
            pending=self.summary.pending,
            set_aside_segments=self.summary.set_aside,
            left_in_wal=len(segments(self.config.wal_directory())),
        )
        await self._in_coverage(finish)  # the stop row after the last segment is in Parquet
        self._coverage_executor.shutdown(wait=True)

    async def _in_lake(self, job: Callable[..., Any], *args: Any) -> Any:
        """Run a conversion on the single lake thread (they run one at a time, in order)."""
        return await asyncio.get_running_loop().run_in_executor(self._lake_executor, job, *args)

    async def _in_coverage(self, job: Callable[[], None]) -> None:
        """Run a coverage write on its own thread (they run one at a time, in order)."""
        await asyncio.get_running_loop().run_in_executor(self._coverage_executor, job)

    # -- log → Parquet --------------------------------------------------------------------

    def _on_sealed(self, path: Path, records: int) -> None:
        with contextlib.suppress(OSError):
            self._sealed_bytes += path.stat().st_size
        self._sealed_records += records
        self._sealed.put_nowait((path, records))

    def retry_later(self, paths: list[Path]) -> None:
        """Queue segments whose recovery failed (their writes): converted once serving."""
        for path in paths:
            try:
                segment = read_segment(path)
            except Exception:  # counted as none; converting it decides what it is
                segment = None
            self._on_sealed(path, 0 if segment is None else len(segment.records))
        if paths:
            self.conversion_error = "recovery of the log failed; retrying while serving"

    async def _converter(self) -> None:
        while (item := await self._sealed.get()) is not None:
            path, records = item
            size = path.stat().st_size if path.exists() else 0
            wait, longest = CONVERT_RETRY_S
            while True:
                try:
                    batch = await self._in_lake(convert_or_set_aside, self.recorder, path)
                except TRANSIENT as exc:  # disk full, I/O error: keep the log, retry
                    self.conversion_error = _error(exc)
                    log.error(
                        "writing a log segment to Parquet failed; it is kept and retried",
                        extra=fields(segment=path.name, error=self.conversion_error),
                    )
                    if self.stopping:
                        break  # left on disk: recovered at the next start
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stop_requested.wait(), wait)
                    wait = min(wait * 2, longest)
                    continue
                self._sealed_records -= records
                self.conversion_error = None
                self.summary.recorded.add(batch)
                log.info(
                    "log segment written to Parquet",
                    extra=fields(segment=path.name, **vars(batch)),
                )
                break
            self._sealed_bytes = max(0, self._sealed_bytes - size)

    async def _rotate_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.rotate_every.total_seconds())
            if self._wal is not None:
                self._wal.rotate()

    async def _compaction_loop(self) -> None:
        while self.config.compact_every is not None:
            self.session.compaction.poll()  # never blocks: the compaction runs in a child process
            await asyncio.sleep(min(COMPACTION_POLL_S, self.config.compact_every.total_seconds()))

    # -- coverage -------------------------------------------------------------------------

    async def _coverage_loop(self) -> None:
        await self._listening()
        every = self.config.heartbeat_every.total_seconds()
        while True:
            await self._heartbeat()
            await asyncio.sleep(every)

    async def _listening(self) -> None:
        """Return once the socket accepts connections (bounded wait)."""
        for _ in range(3000):
            if self.server is None or self.server.started:
                return
            await asyncio.sleep(0.01)

    async def _heartbeat(self) -> None:
        wal = self._wal
        if wal is not None and wal.failed > self._failed_seen:
            # Requests were refused since the last heartbeat: claim nothing for that time; a new
            # coverage interval starts at the first heartbeat with no failure before it.
            self._failed_seen = wal.failed
            self.session.coverage.interrupt()
            log.warning("coverage interrupted: the log refused writes", extra=fields())
            return
        try:  # the first one is the `start` row; covered_to is taken right before the write
            await self._in_coverage(functools.partial(self.session.coverage.beat, force=True))
        except Exception:
            log.exception("writing coverage failed")

    # -- progress -------------------------------------------------------------------------

    async def _progress_loop(self) -> None:
        while True:
            await asyncio.sleep(PROGRESS_EVERY_S)
            self.session.progress.update(self._progress())

    def _progress(self) -> dict[str, Any]:
        now = time.monotonic()
        self._rate.append((now, self.summary.received))
        while len(self._rate) > 2 and now - self._rate[1][0] >= RATE_WINDOW_S:
            self._rate.popleft()  # the rate over about the last RATE_WINDOW_S seconds
        first_t, first_n = self._rate[0]
        rate = (self.summary.received - first_n) / (now - first_t) if now > first_t else 0.0
        event_time = self._last_event_time()
        lag = None
        if event_time is not None and self.last_received_at is not None:
            lag = (self.last_received_at - event_time).total_seconds()
        return {
            "records": self.summary.received,
            "records_per_s": round(rate, 1),
            "stored": self.recorder.summary.recorded,
            "quarantined": self.recorder.summary.quarantined,
            "last_received_at": _iso(self.last_received_at),
            "last_event_time": _iso(event_time),
            "lag_s": None if lag is None else round(lag, 3),
            "pending": self.pending,
            "wal_bytes": self.wal_bytes,
            "rejected": sum(self.summary.rejected.values()),
        }

    def _last_event_time(self) -> datetime | None:
        if self.last_body is None or self.last_received_at is None:
            return None
        try:
            obs = edrv.parse_webhook(self.last_body, self.last_received_at)
        except RecordError:
            return None
        return None if obs is None else obs.event_time


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


# ---------------------------------------------------------------------------------------------
# Entry point


# Identical lines of these loggers are rate-limited: a flood of bad clients is a few lines a minute.
RATE_LIMITED_LOGGERS = ("evlog.receiver", "uvicorn", "uvicorn.error", "asyncio")
_REPEATS = RepeatFilter()


def open_receiver(config: ReceiverConfig) -> tuple[Receiver, RecordSummary]:
    """Recover leftover log segments into the lake, then build the receiver (not yet serving).
    The caller holds `wal_lock(config.wal_directory())` around this and the serving."""
    lake = Lake.create(config.lake)
    recorder = Recorder(
        lake,
        WEBHOOK_FEED,
        skew_tolerance=config.skew_tolerance,
        dedupe_horizon=config.dedupe_horizon,
    )
    recovered, kept = recover(recorder, config.wal_directory())
    recorder.summary = RecordSummary()  # count this session's own records from here on
    receiver = Receiver(config, lake, recorder)
    receiver.summary.recovered = recovered
    receiver.retry_later(kept)
    return receiver, recovered


def run_receiver(config: ReceiverConfig) -> ReceiverSummary:
    """Serve until SIGTERM/SIGINT, then write everything to Parquet; returns what was done."""
    with wal_lock(config.wal_directory()):
        receiver, _ = open_receiver(config)
        server = receiver.make_server()
        if config.secret is None:
            log.warning(
                "NO SECRET: unsigned webhooks are accepted from anyone who can reach "
                f"{config.capture}; pass --secret-env VAR to verify edrv-signature",
                extra=fields(signed=False),
            )
        log.info(
            "listening",
            extra=fields(
                url=config.capture,
                session_id=receiver.session_id,
                lake=str(config.lake),
                wal_dir=str(config.wal_directory()),
                signed=config.secret is not None,
                max_body=config.max_body,
                fsync=config.fsync,
            ),
        )
        try:
            server.run()
        except SystemExit:  # uvicorn exits when it cannot bind
            server.started = False
    if not server.started:
        raise UsageError(
            f"--listen: cannot listen on {config.capture} (address in use or not available)"
        )
    return receiver.summary


__all__ = [
    "ReceiverConfig",
    "ReceiverSummary",
    "convert_segment",
    "open_receiver",
    "parse_listen",
    "parse_size",
    "recover",
    "run_receiver",
    "secret_from_env",
]
