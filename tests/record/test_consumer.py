"""The HERE stream consumer end to end: fake HERE platform on loopback, real Parquet lake."""

from __future__ import annotations

import base64
import itertools
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pyarrow as pa
import pytest

from evlog._lake.layout import Lake
from evlog._lake.ledger import StreamMarks
from evlog._lake.names import QuarantineReason, Source, Table
from evlog._record.consumer import consume, record_here
from evlog._record.derive import STATUS_FEED, Row
from evlog._record.recorder import Recorder
from evlog._sources._http import AuthError, RetryPolicy
from evlog._sources.here_api import DataApiClient, OAuthTokenProvider, StaticToken, read_credentials
from tests import feeds
from tests.fakes.here_server import FakeHere, credentials_text

EVLOG = str(Path(sys.executable).parent / "evlog")

HRN = "hrn:here:data::olp-here:evcp2-updates-prd"
LAYER = "evse-update-stream"
FAST = RetryPolicy(attempts=4, base_s=0.01, cap_s=0.05)
T_MS = 1_763_700_000_000  # 2025-11-21


def _payload(partition: int, offset: int) -> bytes:
    at = f"2025-11-21T04:{offset % 60:02d}:00Z"
    return feeds.gz(
        feeds.message(f"loc-{partition}", (f"evse-{partition}-{offset}", "AVAILABLE", at))
    )


def _fill(fake: FakeHere, partitions: int, per_partition: int) -> None:
    for p in range(partitions):
        for o in range(per_partition):
            fake.add(p, _payload(p, o), T_MS + o * 1000)


@pytest.fixture
def fake() -> Iterator[FakeHere]:
    here = FakeHere(batch_size=5)
    with here.serve():
        yield here


@pytest.fixture
def api(fake: FakeHere, tmp_path: Path) -> Iterator[DataApiClient]:
    creds = tmp_path / "credentials.properties"
    creds.write_text(credentials_text(f"{fake.url}/oauth2/token"))
    with httpx.Client(timeout=5) as http:
        tokens = OAuthTokenProvider(read_credentials(creds), http, retry=FAST)
        yield DataApiClient(HRN, LAYER, tokens, client=http, lookup_url=fake.lookup_url, retry=FAST)


def _offsets(lake: Lake) -> Counter[tuple[int, int]]:
    rows = lake.read(Table.RAW_STATUS).to_pylist()
    return Counter((r["kafka_partition"], r["kafka_offset"]) for r in rows)


def _coverage(lake: Lake) -> list[Row]:
    rows = lake.read(Table.COVERAGE).to_pylist()
    return sorted(rows, key=lambda r: (r["session_id"], r["covered_to"], r["kind"] != "start"))


def test_consumes_commits_and_covers(fake: FakeHere, api: DataApiClient, tmp_path: Path) -> None:
    _fill(fake, partitions=3, per_partition=7)
    lake = Lake.create(tmp_path / "lake")
    stats = consume(lake, api, until_idle=True)
    assert stats.messages == 21 and stats.recorded == 21 and stats.events == 21
    assert _offsets(lake) == Counter(fake.all_offsets())
    assert fake.committed["evlog"] == {0: 6, 1: 6, 2: 6}
    assert fake.subscriptions == {}  # unsubscribed
    raw = lake.read(Table.RAW_STATUS).to_pylist()
    first = next(r for r in raw if (r["kafka_partition"], r["kafka_offset"]) == (1, 3))
    assert first["payload"] == _payload(1, 3)  # the gzip bytes as received
    assert first["record_key"] == "kafka:1:3" and first["capture"] == f"{HRN}/{LAYER}"
    assert first["received_at"].timestamp() == (T_MS + 3000) / 1000
    kinds = [r["kind"] for r in _coverage(lake)]
    assert kinds[0] == "start" and kinds[-1] == "stop"
    assert {p.parent.parent.name for p in lake.files(Table.COVERAGE)} == {
        f"source={Source.HERE_STREAM.value}"
    }


def test_commit_only_after_durable_append(
    fake: FakeHere, api: DataApiClient, tmp_path: Path
) -> None:
    _fill(fake, partitions=1, per_partition=12)
    lake = Lake.create(tmp_path / "lake")
    seen: list[int] = []

    def check(records: pa.Table) -> None:  # after append, before commit
        assert set(_offsets(lake)) >= {
            (0, offset) for offset in records["kafka_offset"].to_pylist()
        }
        seen.append(fake.committed["evlog"].get(0, -1))

    consume(lake, api, until_idle=True, after_append=check)
    assert seen == [-1, 4, 9] and [c[0] for c in fake.commits] == [4, 9, 11]


def test_restart_mid_stream_no_gap_no_duplicate(
    fake: FakeHere, api: DataApiClient, tmp_path: Path
) -> None:
    _fill(fake, partitions=3, per_partition=10)
    lake = Lake.create(tmp_path / "lake")
    # 1. A clean stop in the middle of a batch: the rest of that batch is not committed.
    first = consume(lake, api, max_messages=8)
    assert first.messages == 8 and fake.committed["evlog"] == {0: 7}
    # 2. A crash after the Parquet is durable but before the commit (the at-least-once window).
    batches = [0]

    def crash(records: pa.Table) -> None:
        batches[0] += 1
        if batches[0] == 2:
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated crash"):
        consume(lake, api, after_append=crash)
    # 3. Restart: resumes from the committed offsets; re-delivered messages are deduplicated.
    last = consume(lake, api, until_idle=True)
    assert last.duplicates == 5  # the crashed batch, delivered again
    offsets = _offsets(lake)
    assert set(offsets) == fake.all_offsets()  # no gap
    assert max(offsets.values()) == 1  # no duplicate
    events = lake.read(Table.STATUS_EVENTS)
    assert events.num_rows == 30 and len(set(events.column("record_key").to_pylist())) == 30
    assert fake.committed["evlog"] == {0: 9, 1: 9, 2: 9}


def test_server_errors_are_retried(fake: FakeHere, api: DataApiClient, tmp_path: Path) -> None:
    _fill(fake, partitions=2, per_partition=6)
    fake.fail("partitions", 429, 503)
    fake.fail("offsets", 500)
    fake.fail("lookup", 502)
    lake = Lake.create(tmp_path / "lake")
    stats = consume(lake, api, until_idle=True)
    assert stats.recorded == 12 and set(_offsets(lake)) == fake.all_offsets()


def test_rejected_token_stops_with_clear_error(fake: FakeHere, tmp_path: Path) -> None:
    _fill(fake, partitions=1, per_partition=3)
    with httpx.Client(timeout=5) as http:
        api = DataApiClient(
            HRN, LAYER, StaticToken("wrong"), client=http, lookup_url=fake.lookup_url, retry=FAST
        )
        with pytest.raises(AuthError, match="HTTP 401"):
            consume(Lake.create(tmp_path / "lake"), api, until_idle=True)


def test_data_handle_blobs(fake: FakeHere, api: DataApiClient, tmp_path: Path) -> None:
    fake.add(0, _payload(0, 0), T_MS)
    fake.add(0, _payload(0, 1), T_MS, handle=True)
    fake.add(0, _payload(0, 2), T_MS, handle=True)
    del fake.blobs[next(h for h in fake.blobs if h.startswith("handle-0-2-"))]  # expired blob
    lake = Lake.create(tmp_path / "lake")
    stats = consume(lake, api, until_idle=True)
    assert stats.blobs == 1 and stats.recorded == 3
    raw = {r["kafka_offset"]: r for r in lake.read(Table.RAW_STATUS).to_pylist()}
    assert raw[1]["payload"] == _payload(0, 1) and raw[1]["defect"] is None
    assert raw[2]["defect"] == QuarantineReason.UNFETCHED_DATA_HANDLE.value
    quarantined = lake.read(Table.QUARANTINE).to_pylist()
    assert [q["record_key"] for q in quarantined] == ["kafka:0:2"]
    assert fake.committed["evlog"] == {0: 2}  # nothing to wait for: the stream goes on


def test_heartbeats_while_idle(fake: FakeHere, api: DataApiClient, tmp_path: Path) -> None:
    lake = Lake.create(tmp_path / "lake")
    consume(
        lake, api, duration=timedelta(seconds=0.6), heartbeat_every=timedelta(seconds=0.1),
        idle_wait_s=0.05,
    )  # fmt: skip
    rows = _coverage(lake)
    kinds = [r["kind"] for r in rows]
    assert kinds[0] == "start" and kinds[-1] == "stop" and kinds.count("heartbeat") >= 3
    assert len({r["covered_from"] for r in rows}) == 1  # every row: from the session start
    tos = [r["covered_to"] for r in rows]
    assert tos == sorted(tos)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(tos)]
    assert max(gaps) < 0.5


def test_record_here_token_env(fake: FakeHere, tmp_path: Path) -> None:
    _fill(fake, partitions=1, per_partition=4)
    fake.tokens.add("ready-token")
    stats = record_here(
        tmp_path / "lake", hrn=HRN, layer=LAYER, token_env="HERE_TOKEN",
        lookup_url=fake.lookup_url, max_messages=4, progress=False,
        environ={"HERE_TOKEN": "ready-token"},
    )  # fmt: skip
    assert stats.recorded == 4


def _cli(lake: Path, creds: Path, fake: FakeHere, *extra: str) -> list[str]:
    return [
        EVLOG, "record", "here", "--lake", str(lake), "--hrn", HRN,
        "--credentials", str(creds), "--lookup-url", fake.lookup_url, *extra,
    ]  # fmt: skip


def test_cli_killed_mid_stream_then_restarted(fake: FakeHere, tmp_path: Path) -> None:
    """SIGKILL while consuming, then a restart: every offset stored exactly once."""
    fake.batch_size = 50
    _fill(fake, partitions=4, per_partition=500)
    creds = tmp_path / "credentials.properties"
    creds.write_text(credentials_text(f"{fake.url}/oauth2/token"))
    lake = tmp_path / "lake"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(_cli(lake, creds, fake), env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while len(fake.commits) < 3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        assert len(fake.commits) >= 3, proc.stderr.read() if proc.stderr else ""
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    stored = _offsets(Lake.open(lake))
    assert 0 < len(stored) < 2000 and max(stored.values()) == 1
    done = subprocess.run(
        _cli(lake, creds, fake, "--until-idle"), env=env, capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert b"recorded" in done.stdout
    offsets = _offsets(Lake.open(lake))
    assert set(offsets) == fake.all_offsets() and max(offsets.values()) == 1


def test_cli_sigterm_is_a_clean_stop(fake: FakeHere, tmp_path: Path) -> None:
    creds = tmp_path / "credentials.properties"
    creds.write_text(credentials_text(f"{fake.url}/oauth2/token"))
    lake = tmp_path / "lake"
    proc = subprocess.Popen(_cli(lake, creds, fake), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not fake.subscriptions and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert fake.subscriptions == {}  # unsubscribed
    kinds = [r["kind"] for r in Lake.open(lake).read(Table.COVERAGE).to_pylist()]
    assert "start" in kinds and "stop" in kinds


def test_cli_usage_errors(tmp_path: Path) -> None:
    missing = subprocess.run(
        [EVLOG, "record", "here", "--lake", str(tmp_path / "l"),
         "--hrn", HRN, "--credentials", str(tmp_path / "none.properties")],
        capture_output=True, timeout=30,
    )  # fmt: skip
    assert missing.returncode == 2
    assert missing.stderr.decode().count("\n") == 1 and b"cannot read" in missing.stderr
    assert not (tmp_path / "l").exists()
    unset = subprocess.run(
        [EVLOG, "record", "here", "--lake", str(tmp_path / "l"),
         "--hrn", HRN, "--token-env", "EVLOG_TEST_UNSET_VAR"],
        capture_output=True, timeout=30, env={k: v for k, v in os.environ.items()
                                              if k != "EVLOG_TEST_UNSET_VAR"},
    )  # fmt: skip
    assert unset.returncode == 2 and b"EVLOG_TEST_UNSET_VAR" in unset.stderr


def _poison(partition: int, offset: int) -> list[object]:
    """Data API messages that cannot be stored as observations, one of each kind, the first at
    `offset` of `partition`; with the reason each is quarantined for (None: stored, not poison)."""
    good = base64.b64encode(_payload(partition, 0)).decode()
    meta = {"partition": "p0", "data": good, "timestamp": T_MS}

    def at(i: int) -> dict[str, int]:
        return {"partition": partition, "offset": offset + i}

    return [
        {"metaData": None, "offset": at(0)},
        {"metaData": {**meta, "timestamp": 1e20}, "offset": at(1)},
        {"metaData": {**meta, "timestamp": "yesterday"}, "offset": at(2)},
        {"metaData": {**meta, "timestamp": math.inf}, "offset": at(3)},  # `Infinity` in the JSON
        {"metaData": {**meta, "data": "not base64!"}, "offset": at(4)},
        ["not", "an", "object"],
        {"metaData": {**meta, "data": base64.b64encode(b"\x1f\x8bjunk").decode()}, "offset": None},
        {"metaData": meta, "offset": {"offset": offset + 7}},  # no partition: identity by hash
        {"metaData": meta, "offset": {"partition": partition, "offset": True}},
        {"metaData": meta, "offset": {"partition": 2**40, "offset": 2**70}},
    ]


POISON_REASONS = Counter(
    {
        QuarantineReason.NOT_AN_OBJECT.value: 2,  # `metaData` null, the message a list
        QuarantineReason.UNPARSEABLE_TIME.value: 2,  # 1e20, infinity
        QuarantineReason.BAD_BASE64.value: 1,
        QuarantineReason.BAD_GZIP.value: 1,
    }
)


def test_cli_poison_messages_are_quarantined_and_committed_past(
    fake: FakeHere, tmp_path: Path
) -> None:
    """Poison among good messages in a live response: quarantined with their reasons, the good
    ones stored, the batch committed once durable; the consumer carries on (no crash loop)."""
    fake.batch_size = 50
    for offset in range(3):
        fake.add(0, _payload(0, offset), T_MS + offset)
    for message in _poison(0, 3):
        fake.add_message(0, message)
    for offset in range(13, 16):
        fake.add(0, _payload(0, offset), T_MS + offset)
    creds = tmp_path / "credentials.properties"
    creds.write_text(credentials_text(f"{fake.url}/oauth2/token"))
    lake = tmp_path / "lake"
    done = subprocess.run(_cli(lake, creds, fake, "--until-idle"), capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert fake.committed["evlog"] == {0: 15}  # past the poison, after the batch was stored
    stored = Lake.open(lake)
    quarantined = stored.read(Table.QUARANTINE).to_pylist()
    assert Counter(q["reason"] for q in quarantined) == POISON_REASONS
    events = stored.read(Table.STATUS_EVENTS).to_pylist()
    # 6 good messages, one whose string timestamp is replaced by the fetch time, and 3 good
    # payloads whose offsets are unusable: identified by content
    keys = Counter(e["record_key"].split(":")[0] for e in events)
    assert keys == {"kafka": 7, "sha256": 3}
    assert stored.read(Table.RAW_STATUS).num_rows == 16


def _wait_for(condition: Callable[[], bool], proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert proc.poll() is None, f"exited while waiting for {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_cli_retries_through_outages_until_stopped(tmp_path: Path) -> None:
    """Refused connections at start and mid-stream, 5xx, a forgotten subscription: the consumer
    keeps retrying (each attempt logged), then stores everything; SIGTERM during a backoff stops
    it at once, cleanly."""
    fake = FakeHere(batch_size=5)
    server = fake.serve()  # bound, not listening: connections are refused until it starts
    port = server.port
    creds = tmp_path / "credentials.properties"
    creds.write_text(credentials_text(f"{fake.url}/oauth2/token"))
    lake = tmp_path / "lake"
    log = tmp_path / "stderr.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            _cli(lake, creds, fake, "--max-backoff", "0.3s"), stderr=err, stdout=subprocess.PIPE
        )
    try:
        time.sleep(1.5)  # several attempts, each logged
        assert proc.poll() is None
        _fill(fake, partitions=2, per_partition=6)
        fake.fail("partitions", 503, 503, 500, 502, 503, 503, 504)
        server.start()
        _wait_for(lambda: fake.committed["evlog"] == {0: 5, 1: 5}, proc, "the first messages")
        fake.subscriptions.clear()  # the service forgets the subscription: 404
        server.stop()
        for offset in range(6, 9):
            fake.add(0, _payload(0, offset), T_MS + offset * 1000)
        time.sleep(0.5)
        server = fake.serve(port).start()
        _wait_for(lambda: fake.committed["evlog"] == {0: 8, 1: 5}, proc, "the later messages")
        server.stop()  # down again: SIGTERM while the consumer waits for it
        time.sleep(0.5)
        stopping = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        assert time.monotonic() - stopping < 2
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = log.read_text()
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    # each failed try is one line: the 7 injected errors, and refused connections besides
    assert stderr.count("retrying") + stderr.count("service unavailable") >= 8
    stored = Lake.open(lake)
    assert set(_offsets(stored)) == fake.all_offsets() and max(_offsets(stored).values()) == 1
    assert [r["kind"] for r in _coverage(stored)][-1] == "stop"


def _covered(lake: Lake) -> list[tuple[datetime, datetime]]:
    """The stream's coverage, merged (touching or overlapping rows join)."""
    spans: list[tuple[datetime, datetime]] = []
    for row in sorted(lake.read(Table.COVERAGE).to_pylist(), key=lambda r: r["covered_from"]):
        start, end = row["covered_from"], row["covered_to"]
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], end))
        else:
            spans.append((start, end))
    return spans


def test_coverage_continues_across_a_resumed_restart(
    fake: FakeHere, api: DataApiClient, tmp_path: Path
) -> None:
    """Down between two sessions, the stream redelivers from the committed offsets: once that
    backlog is stored the down time is covered (one span); before, it is not claimed."""
    _fill(fake, partitions=2, per_partition=4)
    lake = Lake.create(tmp_path / "lake")
    consume(lake, api, until_idle=True)
    first_end = _covered(lake)[0][1]
    time.sleep(0.2)  # down: meanwhile the stream receives more
    for p in range(2):
        for offset in range(4, 12):
            fake.add(p, _payload(p, offset), T_MS + offset * 1000)
    claims: list[list[tuple[datetime, datetime]]] = []
    consume(lake, api, until_idle=True, after_append=lambda rows: claims.append(_covered(lake)))
    assert all(len(spans) == 2 for spans in claims)  # backlog not yet durable: the gap stands
    spans = _covered(lake)
    assert len(spans) == 1 and spans[0][0] < first_end < spans[0][1]
    resumed = [r for r in lake.read(Table.COVERAGE).to_pylist() if r["kind"] == "resume"]
    assert len(resumed) == 1 and resumed[0]["covered_from"] == first_end


def test_coverage_gap_kept_when_offsets_skipped(
    fake: FakeHere, api: DataApiClient, tmp_path: Path
) -> None:
    """A partition that resumes past its stored offsets (retention, another consumer of the
    group) lost messages: the down time stays a gap. So does a lake with no stored offsets."""
    _fill(fake, partitions=2, per_partition=4)
    lake = Lake.create(tmp_path / "lake")
    consume(lake, api, until_idle=True)
    for p in range(2):
        for offset in range(4, 8):
            fake.add(p, _payload(p, offset), T_MS + offset * 1000)
    fake.committed["evlog"][1] = 5  # offsets 4 and 5 of partition 1 are never delivered
    consume(lake, api, until_idle=True)
    assert len(_covered(lake)) == 2
    # A lake covered before that stores no offsets: nothing shows where the stream resumes.
    empty = Lake.create(tmp_path / "empty")
    earlier = datetime.now(UTC) - timedelta(hours=1)
    Recorder(empty, STATUS_FEED).write_coverage(earlier, earlier + timedelta(minutes=5), "stop")
    consume(empty, api, until_idle=True)
    assert len(_covered(empty)) == 2


def test_refused_data_handle_is_quarantined_not_retried(
    fake: FakeHere, api: DataApiClient, tmp_path: Path
) -> None:
    """A handle the blob API refuses for good (a 4xx) would stall the stream if retried: the
    message is quarantined as unfetched and committed past."""
    fake.add(0, _payload(0, 0), T_MS, handle=True)
    fake.add(0, _payload(0, 1), T_MS)
    fake.fail("blob", 400)
    lake = Lake.create(tmp_path / "lake")
    consume(lake, api, until_idle=True, duration=timedelta(seconds=5))
    assert fake.committed["evlog"] == {0: 1}
    quarantined = lake.read(Table.QUARANTINE).to_pylist()
    assert [q["reason"] for q in quarantined] == [QuarantineReason.UNFETCHED_DATA_HANDLE.value]


def test_restart_reads_the_stream_marks_not_the_raw_table(
    fake: FakeHere, api: DataApiClient, tmp_path: Path
) -> None:
    """The highest stored offset per partition is kept in a small file after each durable batch:
    a restart checks its resumption against it without scanning the raw history."""
    _fill(fake, partitions=2, per_partition=4)
    lake = Lake.create(tmp_path / "lake")
    consume(lake, api, until_idle=True)
    marks = StreamMarks(lake, f"{api.hrn}/{api.layer}")
    assert marks.read() == {0: 3, 1: 3}
    shutil.move(lake.root / "raw_status", tmp_path / "elsewhere")  # only the marks remain
    for p in range(2):
        for offset in range(4, 6):
            fake.add(p, _payload(p, offset), T_MS + offset * 1000)
    consume(lake, api, until_idle=True)
    assert len(_covered(lake)) == 1  # resumed where the marks end: the down time is covered
    assert marks.read() == {0: 5, 1: 5}
