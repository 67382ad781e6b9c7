"""Deduplication without loading history: the dedupe horizon, the capture ledger, and what they
cost (only the partitions near a batch are read)."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from evlog._lake.layout import Lake, day_name
from evlog._lake.names import Table
from evlog._record.derive import STATUS_FEED, WEBHOOK_FEED
from evlog._record.offline import record_stream, record_webhook_files
from evlog._record.recorder import Recorder
from evlog._sources import here
from tests import feeds

DAY = timedelta(days=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def evlog(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evlog", *args], capture_output=True, text=True, timeout=120
    )


def capture(path: Path, *locations: str, at: datetime) -> str:
    """A capture of one message per location, its file time `at`."""
    messages = [
        feeds.message(loc, ("evse-" + loc, "AVAILABLE", "2026-11-01T10:00:00Z"))
        for loc in locations
    ]
    path.write_bytes(feeds.ndjson(*messages))
    os.utime(path, (at.timestamp(), at.timestamp()))
    return str(path)


def raw_count(lake: Path, table: Table = Table.RAW_STATUS) -> int:
    return Lake.open(lake).read(table).num_rows


def envelope(webhook_id: str, received_at: datetime) -> dict[str, Any]:
    body = feeds.webhook(webhook_id, "st-1", False, "2026-11-01T10:00:00Z")
    return {"received_at": received_at.isoformat(), "body": body}


def test_recording_a_capture_again_is_recognised_whole(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    path = capture(tmp_path / "c.ndjson", "a", "b", "c", at=datetime(2026, 11, 2, tzinfo=UTC))
    first = evlog("record", "stream", path, "--lake", str(lake))
    assert first.returncode == 0, first.stderr
    assert "recorded 3 records" in first.stdout
    # With the stored records out of every horizon's reach, only the ledger can tell.
    shutil.move(lake / "raw_status", tmp_path / "moved")
    again = evlog("record", "stream", path, "--lake", str(lake))
    assert again.returncode == 0, again.stderr
    assert "recorded 0 records (0 events), 3 duplicates (1 capture recorded before)" in again.stdout
    assert not (lake / "raw_status").exists()


def test_a_grown_capture_adds_only_its_new_records_however_late(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    path = tmp_path / "c.ndjson"
    capture(path, "a", "b", at=datetime(2026, 11, 2, tzinfo=UTC))
    assert record_stream(lake, [str(path)]).recorded == 2
    # The file grows and is touched 40 days later: its first part lies far outside the horizon.
    capture(path, "a", "b", "c", at=datetime(2026, 12, 12, tzinfo=UTC))
    summary = record_stream(lake, [str(path)])
    assert (summary.recorded, summary.duplicates) == (1, 2)
    assert raw_count(lake) == 3


def test_an_interrupted_import_run_again_stores_each_record_once(tmp_path: Path) -> None:
    """No ledger entry (the import died before its end): the horizon finds what was stored."""
    lake = tmp_path / "lake"
    path = capture(tmp_path / "c.ndjson", "a", "b", "c", at=datetime(2026, 11, 2, tzinfo=UTC))
    record_stream(lake, [path])
    shutil.rmtree(lake / "_captures")
    summary = record_stream(lake, [path])
    assert (summary.recorded, summary.duplicates, summary.known_captures) == (0, 3, 0)


def test_webhook_retries_are_recognised_within_the_horizon(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    t0 = datetime(2026, 11, 2, 23, 59, tzinfo=UTC)
    first = tmp_path / "first.jsonl"
    first.write_bytes(feeds.jsonl(envelope("wh-1", t0)))
    record_webhook_files(lake, [str(first)])
    retry = tmp_path / "retry.jsonl"  # the sender's retry, 2 days and a minute later
    retry.write_bytes(feeds.jsonl(envelope("wh-1", t0 + 2 * DAY + timedelta(minutes=1))))
    assert record_webhook_files(lake, [str(retry)]).duplicates == 1
    late = tmp_path / "late.jsonl"  # a copy ten days later: beyond the default 3 days
    late.write_bytes(feeds.jsonl(envelope("wh-1", t0 + 10 * DAY)))
    wide = evlog(
        "record", "webhooks", "--from", str(late), "--lake", str(lake), "--dedupe-horizon", "14d"
    )
    assert wide.returncode == 0, wide.stderr
    assert "1 duplicates" in wide.stdout
    other = tmp_path / "other.jsonl"  # the same copy in other bytes (the ledger knows late's)
    other.write_bytes(feeds.jsonl(envelope("wh-1", t0 + 10 * DAY)) + b"\n")
    assert record_webhook_files(lake, [str(other)]).recorded == 1
    assert raw_count(lake, Table.RAW_WEBHOOKS) == 2


def test_a_bad_horizon_is_one_line(tmp_path: Path) -> None:
    result = evlog(
        "record", "stream", "-", "--lake", str(tmp_path / "l"), "--dedupe-horizon", "soon"
    )
    assert result.returncode == 2
    assert result.stderr.startswith("evlog: error: --dedupe-horizon")
    assert "Traceback" not in result.stderr


def test_only_partitions_within_the_horizon_are_read(tmp_path: Path) -> None:
    """Start-up and a batch cost the horizon's days, not the history."""
    lake = Lake.create(tmp_path / "lake")
    history = [datetime(2026, 10, 1, 12, tzinfo=UTC) + n * DAY for n in range(30)]
    for n, at in enumerate(history):
        rows = [webhook_row(f"old-{n}", at)]
        Recorder(lake, WEBHOOK_FEED, dedupe_horizon=timedelta(0)).append(rows)
    recorder = Recorder(lake, WEBHOOK_FEED, dedupe_horizon=timedelta(days=2))
    assert recorder.known.loaded_days() == []  # nothing read at start
    now = history[-1] + 5 * DAY
    recorder.append([webhook_row("new", now)])
    day = (now - EPOCH).days
    assert recorder.known.loaded_days() == [day_name(d) for d in range(day - 2, day + 3)]


def test_a_batch_spanning_more_days_than_are_kept_is_checked_whole(tmp_path: Path) -> None:
    """A saved-webhook file of three months is one batch: every partition it needs is read."""
    lake = Lake.create(tmp_path / "lake")
    first = datetime(2026, 8, 1, 12, tzinfo=UTC)
    rows = [webhook_row(f"wh-{n}", first + n * DAY) for n in range(90)]
    assert Recorder(lake, WEBHOOK_FEED).append(rows).recorded == 90
    again = Recorder(lake, WEBHOOK_FEED).append([dict(row) for row in rows])
    assert (again.recorded, again.duplicates) == (0, 90)


def webhook_row(webhook_id: str, at: datetime) -> dict[str, Any]:
    body = json.dumps(feeds.webhook(webhook_id, "st-1", True, at.isoformat())).encode()
    return {
        "record_key": f"webhook:{webhook_id}",
        "webhook_id": webhook_id,
        "payload": body,
        "headers": None,
        "received_at": at,
        "arrival_index": 0,
        "capture": "test",
    }


@settings(max_examples=25, deadline=None)
@given(
    batches=st.lists(
        st.lists(st.tuples(st.integers(0, 5), st.integers(0, 12)), min_size=1, max_size=6),
        min_size=1,
        max_size=5,
    ),
    reach=st.integers(0, 3),
)
def test_a_record_is_new_unless_its_key_is_stored_within_the_horizon(
    tmp_path_factory: Any, batches: list[list[tuple[int, int]]], reach: int
) -> None:
    """Against a plain model: stored keys with their days; a record (key, day) is a duplicate
    iff the same key is stored on a day at most `reach` away, or an earlier record of its batch
    with that key is stored."""
    lake = Lake.create(tmp_path_factory.mktemp("lake"))
    base = datetime(2026, 11, 1, 12, tzinfo=UTC)
    stored: list[tuple[int, int]] = []
    for n, batch in enumerate(batches):
        recorder = Recorder(lake, WEBHOOK_FEED, dedupe_horizon=reach * DAY)
        expected = 0
        seen: set[int] = set()
        for key, day in batch:
            near = any(k == key and abs(d - day) <= reach for k, d in stored)
            if not near and key not in seen:
                expected += 1
                stored.append((key, day))
                seen.add(key)
        rows = [webhook_row(f"k{key}", base + day * DAY) for key, day in batch]
        summary = recorder.append(rows)
        assert summary.recorded == expected, (n, batch, stored)
    assert raw_count(lake.root, Table.RAW_WEBHOOKS) == len(stored)


def status_reading(contents: list[int], name: str, batch_size: int) -> list[Any]:
    """The batches of one reading of an NDJSON capture of messages numbered by `contents`."""
    messages = [
        feeds.message(f"loc-{n}", (f"evse-{n}", "AVAILABLE", "2026-11-01T10:00:00Z"))
        for n in contents
    ]
    data = feeds.ndjson(*messages)
    at = datetime(2026, 11, 2, tzinfo=UTC)
    return list(here.split_capture_batches(io.BytesIO(data), name, at, batch_size))


@settings(max_examples=15, deadline=None)
@given(
    readings=st.lists(
        st.tuples(st.lists(st.integers(0, 6), max_size=12), st.sampled_from(["a", "b"])),
        min_size=1,
        max_size=4,
    ),
    split=st.integers(1, 5),
    rebatch=st.integers(1, 9),
)
def test_records_of_one_reading_are_not_held_yet_every_repeat_is_found(
    tmp_path_factory: Any, readings: list[tuple[list[int], str]], split: int, rebatch: int
) -> None:
    """Against a plain model of identity: a record's key is its content and how many earlier
    records of the same reading have that content; a record is stored iff no stored one has its
    key. Readings (the same file read twice, two files sharing records) are cut into batches
    and re-cut across their boundaries, as an import does: the recorder does not hold a
    reading's own keys (`KnownKeys.defer`), yet finds every repeat of another reading."""
    lake = Lake.create(tmp_path_factory.mktemp("lake"))
    recorder = Recorder(lake, STATUS_FEED)
    stored: set[tuple[int, int]] = set()
    for contents, _ in readings:
        counts: Counter[int] = Counter()
        for n in contents:
            stored.add((n, counts[n]))
            counts[n] += 1
    pieces = [b for contents, name in readings for b in status_reading(contents, name, split)]
    for batch in here.rebatched(iter(pieces), rebatch):
        recorder.append_columns(batch)
    assert recorder.summary.recorded == raw_count(lake.root) == len(stored)
    total = sum(len(contents) for contents, _ in readings)
    assert recorder.summary.duplicates == total - len(stored)


def test_an_import_of_one_capture_holds_none_of_its_own_keys(tmp_path: Path) -> None:
    """Memory bounded by the batch: a capture's keys are distinct among themselves, so
    importing one into an empty lake holds no key hash; another capture's first batch brings
    them in, and its repeats are found."""
    lake = Lake.create(tmp_path / "lake")
    recorder = Recorder(lake, STATUS_FEED)
    for batch in status_reading(list(range(40)), "a", 7):
        recorder.append_columns(batch)
    assert recorder.summary.recorded == 40
    assert recorder.known.nbytes == 0
    for batch in status_reading(list(range(30, 50)), "b", 7):
        recorder.append_columns(batch)
    assert (recorder.summary.recorded, recorder.summary.duplicates) == (50, 10)
    assert recorder.known.nbytes == 40 * 8  # a's keys, read from its files; not b's own
