"""Live recorders compact their lake periodically, in a child process (`PeriodicCompaction`)."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from evlog._errors import UsageError
from evlog._lake.layout import Lake, exclusive_lock
from evlog._lake.names import Table
from evlog._lake.rollups import manifests
from evlog._record.live import PeriodicCompaction, parse_compact_every
from evlog._upkeep.compact import COMPACT_LOCK, COMPACTED_PREFIX
from tests.record.test_receiver import PATH, online, serving, signed
from tests.replay.lakes import StatusEvent, make_lake

BASE = datetime(2025, 11, 20, tzinfo=UTC)


def small_files_lake(root: Path) -> Lake:
    events = [
        StatusEvent(f"E{i % 3}", "AVAILABLE" if i % 2 else "CHARGING", BASE + timedelta(hours=i))
        for i in range(30)
    ]
    return make_lake(root, status=events, files=5, seed=1)


def compacted(lake: Lake, table: Table) -> bool:
    files = lake.files(table)
    return bool(files) and all(f.name.startswith(COMPACTED_PREFIX) for f in files)


def wait_for(child_done: PeriodicCompaction, timeout: float = 60) -> None:
    assert child_done.child is not None
    child_done.child.wait(timeout)
    child_done.poll()


def test_runs_when_due_in_a_child_process(tmp_path: Path) -> None:
    lake = small_files_lake(tmp_path / "lake")
    now = [0.0]
    compaction = PeriodicCompaction(lake, timedelta(hours=1), clock=lambda: now[0])
    compaction.poll()
    assert compaction.child is None  # not due yet
    now[0] = 3600.0
    compaction.poll()
    assert compaction.child is not None
    wait_for(compaction)
    assert compaction.finished == [0]
    assert compacted(lake, Table.STATUS_EVENTS)
    assert [m.zone for m in manifests(lake)] == ["UTC"]  # rollups too: the whole `lake compact`
    compaction.poll()
    assert compaction.child is None  # the next one is an hour later


def test_a_busy_lake_is_logged_and_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lake = small_files_lake(tmp_path / "lake")
    now = [0.0]
    compaction = PeriodicCompaction(lake, timedelta(hours=1), clock=lambda: now[0])
    now[0] = 3600.0
    busy = exclusive_lock(lake.root / COMPACT_LOCK, "a cron job")
    with caplog.at_level(logging.INFO, logger="evlog.record"), busy:
        compaction.poll()
        wait_for(compaction)
    assert compaction.finished == [2]
    [failed] = [r for r in caplog.records if r.getMessage() == "compaction failed"]
    problem = failed.fields["problem"]
    assert "another `evlog lake compact` or `evlog lake rebuild` is running" in problem
    assert not compacted(lake, Table.STATUS_EVENTS)


def test_never_when_off(tmp_path: Path) -> None:
    compaction = PeriodicCompaction(Lake.create(tmp_path / "lake"), None, clock=lambda: 1e12)
    compaction.poll()
    assert compaction.child is None
    assert parse_compact_every("0") is None
    assert parse_compact_every("off") is None
    assert parse_compact_every("90m") == timedelta(minutes=90)
    with pytest.raises(UsageError, match="--compact-every"):
        parse_compact_every("soon")


def test_the_receiver_compacts_its_lake_while_listening(tmp_path: Path) -> None:
    """Real HTTP requests to a running receiver; its periodic compaction merges their files."""
    root = tmp_path / "lake"
    options = {"compact_every": timedelta(seconds=1), "rotate_every": timedelta(seconds=0.2)}
    with serving(root, **options) as (url, receiver), httpx.Client() as client:
        for i in range(5):
            body = online(f"w-{i}")
            assert client.post(url + PATH, content=body, headers=signed(body)).status_code == 200
            time.sleep(0.3)  # a rotation between requests: several files per table
        deadline = time.monotonic() + 60
        while not receiver.session.compaction.finished and time.monotonic() < deadline:
            time.sleep(0.2)
        assert receiver.session.compaction.finished[:1] == [0]
    if receiver.session.compaction.child is not None:  # the next one may have started: let it end
        receiver.session.compaction.child.wait(60)
    lake = Lake.open(root)
    assert len(lake.read(Table.RAW_WEBHOOKS)) == 5  # nothing lost
    assert any(f.name.startswith(COMPACTED_PREFIX) for f in lake.files(Table.RAW_WEBHOOKS))
