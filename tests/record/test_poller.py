"""The eDRV poller against a fake eDRV API on loopback, and the reconcile report on its lake."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest

from evlog._errors import UsageError
from evlog._lake.layout import Lake
from evlog._lake.names import Source, Table
from evlog._record.derive import POLL_FEED, WEBHOOK_FEED
from evlog._record.poller import poll, record_poll
from evlog._record.recorder import Recorder
from evlog._reports.reconcile import REPORT, reconcile
from evlog._sources._http import AuthError, RetryPolicy
from evlog._sources.edrv_api import EdrvClient
from tests import feeds
from tests.fakes.edrv_server import TOKEN, FakeEdrv

EVLOG = str(Path(sys.executable).parent / "evlog")
FAST = RetryPolicy(attempts=4, base_s=0.01, cap_s=0.05)
EVERY = timedelta(seconds=60)


@pytest.fixture
def fake() -> Iterator[FakeEdrv]:
    edrv = FakeEdrv()
    with edrv.serve():
        yield edrv


@pytest.fixture
def client(fake: FakeEdrv) -> Iterator[EdrvClient]:
    with httpx.Client(timeout=5) as http:
        yield EdrvClient(fake.api_base, TOKEN, client=http, retry=FAST)


def _polls(lake: Lake) -> list[dict[str, object]]:
    rows = lake.read(Table.CONNECTIVITY_EVENTS).to_pylist()
    return sorted(
        (r for r in rows if r["source"] == Source.EDRV_POLL.value),
        key=lambda r: (r["event_time"], r["station_id"]),
    )


def test_pages_through_the_list(fake: FakeEdrv, client: EdrvClient, tmp_path: Path) -> None:
    for i in range(5):
        fake.add(f"st-{i}", online=i % 2 == 0)
    lake = Lake.create(tmp_path / "lake")
    stats = poll(lake, client, every=EVERY, page_size=2, max_rounds=1)
    assert stats.snapshots == 5 and stats.recorded == 5
    assert fake.pages == [(1, 2), (2, 2), (3, 2)]
    events = _polls(lake)
    assert {(e["station_id"], e["online"]) for e in events} == {
        (f"st-{i}", i % 2 == 0) for i in range(5)
    }
    assert {e["event"] for e in events} == {"poll"}
    raw = lake.read(Table.RAW_POLLS).to_pylist()
    first = next(r for r in raw if r["station_id"] == "st-0")
    assert orjson.loads(first["payload"]) == fake.stations["st-0"]
    assert first["record_key"].startswith("poll:st-0:")
    kinds = [r["kind"] for r in lake.read(Table.COVERAGE).to_pylist()]
    assert sorted(kinds) == ["start", "stop"]
    cov_dirs = {p.parent.parent.name for p in lake.files(Table.COVERAGE)}
    assert cov_dirs == {"source=edrv_poll"}


def test_empty_page_ends_the_listing(fake: FakeEdrv, client: EdrvClient) -> None:
    for i in range(4):
        fake.add(f"st-{i}", online=True)
    assert len(list(client.stations(page_size=2))) == 4
    assert fake.pages == [(1, 2), (2, 2), (3, 2)]


def test_given_ids_errors_and_retries(fake: FakeEdrv, client: EdrvClient, tmp_path: Path) -> None:
    fake.add("a", online=True)
    fake.add("b", online=False)
    fake.fail("one", 503, 429)
    lake = Lake.create(tmp_path / "lake")
    stats = poll(lake, client, every=EVERY, stations=["a", "b", "gone"], max_rounds=1)
    assert stats.recorded == 2 and stats.missing == 1
    assert fake.calls["one"] == 5 and fake.calls["list"] == 0
    raw = {
        r["station_id"]: orjson.loads(r["payload"]) for r in lake.read(Table.RAW_POLLS).to_pylist()
    }
    assert raw["b"] == {"ok": True, "result": fake.stations["b"]}  # the response as received


def test_failed_round_is_skipped_not_fatal(
    fake: FakeEdrv, client: EdrvClient, tmp_path: Path
) -> None:
    fake.add("a", online=True)
    fake.fail("list", *[500] * 4)  # the first round exhausts its retries
    lake = Lake.create(tmp_path / "lake")
    stats = poll(lake, client, every=timedelta(seconds=0.05), max_rounds=3)
    assert stats.failed_rounds == 1 and stats.rounds == 2 and stats.recorded == 2


def test_rejected_token(fake: FakeEdrv, tmp_path: Path) -> None:
    fake.add("a", online=True)
    with httpx.Client(timeout=5) as http:
        client = EdrvClient(fake.api_base, "wrong", client=http, retry=FAST)
        with pytest.raises(AuthError, match="GET /chargestations: HTTP 401"):
            poll(Lake.create(tmp_path / "lake"), client, every=EVERY, max_rounds=1)


def test_rounds_and_heartbeats(fake: FakeEdrv, client: EdrvClient, tmp_path: Path) -> None:
    fake.add("a", online=True)
    lake = Lake.create(tmp_path / "lake")
    stats = poll(
        lake, client, every=timedelta(seconds=0.2), duration=timedelta(seconds=0.7),
        heartbeat_every=timedelta(seconds=0.1),
    )  # fmt: skip
    assert 3 <= stats.rounds <= 5
    rows = sorted(lake.read(Table.COVERAGE).to_pylist(), key=lambda r: r["covered_to"])
    assert rows[0]["kind"] == "start" and rows[-1]["kind"] == "stop"
    assert sum(r["kind"] == "heartbeat" for r in rows) >= 2
    assert len(_polls(lake)) == stats.rounds  # one snapshot per round, each its own key


def test_record_poll_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="NOPE_UNSET"):
        record_poll(tmp_path / "l", api_base="http://127.0.0.1:9", token_env="NOPE_UNSET",
                    every=EVERY, environ={})  # fmt: skip
    with pytest.raises(UsageError, match="--api-base"):
        record_poll(tmp_path / "l", api_base="ftp://x", token_env="T", every=EVERY,
                    environ={"T": "x"})  # fmt: skip
    assert not (tmp_path / "l").exists()


# ---------------------------------------------------------------------------------------------
# reconcile


def _webhooks(lake: Lake, *hooks: tuple[str, str, bool, str]) -> None:
    recorder = Recorder(lake, WEBHOOK_FEED)
    rows = []
    for index, (hook_id, station, online, at) in enumerate(hooks):
        body = orjson.dumps(feeds.webhook(hook_id, station, online, at))
        rows.append({
            "record_key": f"webhook:{hook_id}", "webhook_id": hook_id, "payload": body,
            "headers": None, "received_at": datetime.fromisoformat(at) + timedelta(seconds=1),
            "arrival_index": index, "capture": "test",
        })  # fmt: skip
    recorder.append(rows)


def _snapshots(lake: Lake, *snaps: tuple[str, bool, str]) -> None:
    recorder = Recorder(lake, POLL_FEED)
    rows = []
    for index, (station, online, at) in enumerate(snaps):
        when = datetime.fromisoformat(at)
        rows.append({
            "record_key": f"poll:{station}:{int(when.timestamp() * 1e6)}", "station_id": station,
            "payload": orjson.dumps({"result": {"_id": station, "online": online}}),
            "received_at": when, "arrival_index": index, "capture": "test",
        })  # fmt: skip
    recorder.append(rows)


def test_reconcile_lists_contradicting_snapshots(tmp_path: Path) -> None:
    lake = Lake.create(tmp_path / "lake")
    _webhooks(
        lake,
        ("w1", "A", True, "2026-11-20T10:00:00+00:00"),
        ("w2", "A", False, "2026-11-20T11:00:00+00:00"),
        ("w3", "B", True, "2026-11-20T10:00:00+00:00"),
    )
    _snapshots(
        lake,
        ("A", False, "2026-11-20T09:00:00+00:00"),  # before any webhook: no state, not listed
        ("A", True, "2026-11-20T10:30:00+00:00"),  # agrees (online)
        ("A", True, "2026-11-20T11:00:00+00:00"),  # at the offline webhook's instant: disagrees
        ("A", True, "2026-11-20T12:00:00+00:00"),  # still says online: a missed online webhook
        ("B", False, "2026-11-20T12:00:00+00:00"),  # webhooks say online: missed offline
        ("C", False, "2026-11-20T12:00:00+00:00"),  # no webhooks at all
    )
    frame = reconcile(lake)
    assert tuple(frame.columns) == REPORT.columns
    rows = frame.select("station_id", "snapshot_time", "snapshot_online", "webhook_online",
                        "webhook_id", "missed").rows()  # fmt: skip
    at = lambda h: datetime(2026, 11, 20, h, tzinfo=UTC)  # noqa: E731
    assert [(s, t.astimezone(UTC), so, wo, wid, m) for s, t, so, wo, wid, m in rows] == [
        ("A", at(11), True, False, "w2", "chargestation.online"),
        ("A", at(12), True, False, "w2", "chargestation.online"),
        ("B", at(12), False, True, "w3", "chargestation.offline"),
    ]
    assert frame["since_webhook_s"].to_list() == [0.0, 3600.0, 7200.0]
    assert reconcile(lake, stations=["B"])["station_id"].to_list() == ["B"]
    windowed = reconcile(lake, "2026-11-20T11:30:00", "2026-11-21")
    assert windowed["station_id"].to_list() == ["A", "B"]
    with pytest.raises(UsageError, match="--end"):
        reconcile(lake, "2026-11-21", "2026-11-20")
    empty = reconcile(Lake.create(tmp_path / "empty"))
    assert empty.is_empty() and tuple(empty.columns) == REPORT.columns


def test_poller_then_reconcile_finds_missed_webhook(
    fake: FakeEdrv, client: EdrvClient, tmp_path: Path
) -> None:
    lake = Lake.create(tmp_path / "lake")
    _webhooks(
        lake,
        ("w1", "st-1", True, "2026-11-20T10:00:00+00:00"),
        ("w2", "st-2", True, "2026-11-20T10:00:00+00:00"),
    )
    fake.add("st-1", online=True)
    fake.add("st-2", online=False)  # went offline; eDRV never sent chargestation.offline
    poll(lake, client, every=EVERY, max_rounds=1)
    frame = reconcile(lake)
    assert frame.select("station_id", "snapshot_online", "webhook_online", "missed").rows() == [
        ("st-2", False, True, "chargestation.offline")
    ]


def test_cli_poll_and_reconcile(fake: FakeEdrv, tmp_path: Path) -> None:
    fake.add("st-1", online=False)
    lake = tmp_path / "lake"
    _webhooks(Lake.create(lake), ("w1", "st-1", True, "2026-11-20T10:00:00+00:00"))
    env = {"EDRV_TOKEN": TOKEN, "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [EVLOG, "record", "poll", "--lake", str(lake), "--api-base", fake.api_base,
         "--token-env", "EDRV_TOKEN", "--every", "5m", "--rounds", "1"],
        capture_output=True, timeout=30, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert b"polled 1 rounds" in done.stdout
    report = subprocess.run(
        [EVLOG, "report", "reconcile", "--lake", str(lake), "--format", "csv"],
        capture_output=True, timeout=30, env=env,
    )  # fmt: skip
    assert report.returncode == 0, report.stderr
    lines = report.stdout.decode().splitlines()
    assert lines[0].startswith("station_id,snapshot_time,snapshot_online,webhook_online")
    assert len(lines) == 2 and lines[1].startswith("st-1,")
    bad = subprocess.run(
        [EVLOG, "record", "poll", "--lake", str(lake), "--api-base", fake.api_base,
         "--token-env", "EDRV_TOKEN", "--every", "soon"],
        capture_output=True, timeout=30, env=env,
    )  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.decode().count("\n") == 1
