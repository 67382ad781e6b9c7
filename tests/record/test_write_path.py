"""The recorders' shared write path under faults: kills at every step, failing writes, two
recorders on one lake, interrupted imports. Real subprocesses, real SIGKILL, real Parquet."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from evlog import _faults
from evlog._lake.layout import INTENTS, Lake
from evlog._lake.names import Table
from evlog._record.derive import STATUS_FEED, Row
from evlog._record.offline import record_stream
from evlog._record.recorder import Recorder
from evlog._sources import here
from tests import feeds

TABLES = (Table.RAW_STATUS, Table.STATUS_EVENTS, Table.QUARANTINE)
WINDOW = "2024-04-05T00:00:00Z/2024-04-07T00:00:00Z"


def capture(path: Path, count: int, first: int = 0) -> str:
    """A gzip-members capture of `count` distinct messages over two event days, every tenth one
    not JSON (quarantined), so each batch writes several files of every table."""
    members = []
    for n in range(first, first + count):
        if n % 10 == 9:
            members.append(f"not json {n}".encode())
        else:
            day = 5 + n % 2
            at = f"2024-04-0{day}T{n % 24:02d}:{n % 60:02d}:00Z"
            members.append(feeds.message(f"loc-{n}", (f"evse-{n}", "AVAILABLE", at)))
    path.write_bytes(feeds.members(*members))
    os.utime(path, (1712448000, 1712448000))  # received 2024-04-07: no event is clamped
    return str(path)


def record_cli(
    lake: Path, *inputs: str, faults: str = "", coverage: bool = False
) -> subprocess.Popen[str]:
    env = {**os.environ, _faults.ENV: faults}
    args = [sys.executable, "-m", "evlog", "record", "stream", *inputs, "--lake", str(lake)]
    if coverage:
        args += ["--coverage", WINDOW]
    return subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finished(proc: subprocess.Popen[str]) -> int:
    _, err = proc.communicate(timeout=60)
    assert proc.returncode in (0, -signal.SIGKILL), err
    return proc.returncode


def content(lake: Lake, table: Table) -> Counter[tuple[Any, ...]]:
    """The table's rows as a multiset, without the recording session (which differs per run)."""
    rows = lake.read(table).to_pylist()
    return Counter(
        tuple(sorted(row.items() - {("session_id", row.get("session_id"))})) for row in rows
    )


def assert_stored_once(lake: Lake, reference: Lake) -> None:
    """Every table holds exactly what one clean import stored: nothing lost, nothing twice; no
    half-written file or unsettled intent is left."""
    for table in TABLES:
        rows = content(lake, table)
        assert max(rows.values()) == 1, f"{table}: a row stored twice"
        assert rows == content(reference, table), table
    assert not list(lake.root.rglob("*.tmp"))
    assert not list((lake.root / INTENTS).glob("*"))


def rows_of(path: str) -> list[Row]:
    data = Path(path).read_bytes()
    received = datetime(2024, 4, 7, tzinfo=UTC)
    return [record.as_row() for record in here.split_capture(data, path, received)]


@pytest.fixture
def reference(tmp_path: Path) -> Lake:
    """What the captures `a` (40 records) then `b` (60 more) give when nothing goes wrong."""
    lake = Lake.create(tmp_path / "reference")
    a, b = capture(tmp_path / "a.gz", 40), capture(tmp_path / "b.gz", 60, first=40)
    record_stream(lake, [a])
    record_stream(lake, [b])
    return lake


@pytest.mark.parametrize(
    "fault",
    [
        "recorder.after_events=kill",
        "recorder.after_quarantine=kill",
        "recorder.after_raw=kill",
        "lake.before_rename=kill@3",  # inside the batch's second file, before its rename
    ],
)
def test_a_kill_at_any_step_of_a_batch_then_a_rerun_stores_each_record_once(
    tmp_path: Path, reference: Lake, fault: str
) -> None:
    lake = Lake.create(tmp_path / "lake")
    a, b = str(tmp_path / "a.gz"), str(tmp_path / "b.gz")
    record_stream(lake, [a])  # durable before the killed run
    assert finished(record_cli(lake.root, a, b, faults=fault)) == -signal.SIGKILL
    assert list((lake.root / INTENTS).glob("*.json"))  # the killed batch left a plan to settle
    assert finished(record_cli(lake.root, a, b)) == 0
    assert_stored_once(lake, reference)


@pytest.mark.parametrize(
    "point, nth",
    [
        ("recorder.after_events", 1),
        ("recorder.after_quarantine", 1),
        ("recorder.after_raw", 1),
        ("lake.before_rename", 4),
    ],
)
def test_a_failed_write_then_a_retry_with_the_same_recorder_stores_every_record(
    tmp_path: Path, reference: Lake, point: str, nth: int
) -> None:
    lake = Lake.create(tmp_path / "lake")
    records = rows_of(str(tmp_path / "a.gz")) + rows_of(str(tmp_path / "b.gz"))
    recorder = Recorder(lake, STATUS_FEED)
    _faults.arm(point, "enospc", nth)
    try:
        with pytest.raises(OSError, match="No space left"):
            recorder.append(records)
    finally:
        _faults.disarm()
    assert all(lake.read(table).num_rows == 0 for table in TABLES)  # the batch was taken back
    assert recorder.append(records).recorded == 100
    assert_stored_once(lake, reference)


def test_a_full_disk_then_space_freed_loses_nothing_and_doubles_nothing(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], check=True)
    try:
        lake = Lake.create(disk / "lake")
        # Raw payloads are gzip members of random text: Parquet cannot shrink them, while the
        # events fit; the raw write is the one that runs out of space.
        noisy = [
            feeds.message(f"loc-{n}", (f"evse-{n}", "AVAILABLE", "2024-04-05T10:00:00Z"))
            | {"noise": os.urandom(600).hex()}
            for n in range(400)
        ]
        (tmp_path / "noisy.gz").write_bytes(feeds.members(*noisy))
        records = rows_of(str(tmp_path / "noisy.gz"))
        filler = disk / "filler"
        filler.write_bytes(b"\0" * (2 * 1024 * 1024 - 300 * 1024))
        recorder = Recorder(lake, STATUS_FEED)
        with pytest.raises(OSError):
            recorder.append(records)
        filler.unlink()
        assert recorder.append(records).recorded == 400
        assert lake.read(Table.RAW_STATUS).num_rows == 400
        assert lake.read(Table.STATUS_EVENTS).num_rows == 400
        assert not list(lake.root.rglob("*.tmp"))
    finally:
        subprocess.run(["umount", "--lazy", str(disk)], check=True)


def test_two_recorders_on_one_lake_store_a_record_once(tmp_path: Path, reference: Lake) -> None:
    lake = Lake.create(tmp_path / "lake")
    records = rows_of(str(tmp_path / "a.gz")) + rows_of(str(tmp_path / "b.gz"))
    first, second = Recorder(lake, STATUS_FEED), Recorder(lake, STATUS_FEED)
    assert first.append(records[:70]).recorded == 70
    batch = second.append(records)
    assert (batch.recorded, batch.duplicates) == (30, 70)
    assert_stored_once(lake, reference)


def test_two_concurrent_imports_of_one_capture_store_it_once(tmp_path: Path) -> None:
    data = Path(capture(tmp_path / "big.gz", 4000)).read_bytes()
    lake = Lake.create(tmp_path / "lake")
    # Each run reads the capture through its own named pipe, which it opens only once its
    # recorder has started: both have started before either has read a record.
    pipes = [tmp_path / "one.fifo", tmp_path / "two.fifo"]
    for pipe in pipes:
        os.mkfifo(pipe)
    runs = [record_cli(lake.root, str(pipe)) for pipe in pipes]
    writers = [open(pipe, "wb") for pipe in pipes]  # noqa: SIM115 (both open before writing)
    for writer in writers:
        with writer:
            writer.write(data)
    outputs = [run.communicate(timeout=60) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    raw_keys = lake.read(Table.RAW_STATUS).column("record_key").to_pylist()
    assert len(raw_keys) == len(set(raw_keys)) == 4000
    assert lake.read(Table.STATUS_EVENTS).num_rows == 3600
    assert lake.read(Table.QUARANTINE).num_rows == 400


def test_an_interrupted_import_claims_no_coverage_and_a_rerun_claims_it(tmp_path: Path) -> None:
    lake = Lake.create(tmp_path / "lake")
    a, b = capture(tmp_path / "a.gz", 40), capture(tmp_path / "b.gz", 60, first=40)
    killed = record_cli(lake.root, a, b, faults="recorder.after_raw=kill", coverage=True)
    assert finished(killed) == -signal.SIGKILL
    assert lake.read(Table.COVERAGE).num_rows == 0
    assert finished(record_cli(lake.root, a, b, coverage=True)) == 0
    (row,) = lake.read(Table.COVERAGE).to_pylist()
    assert (row["covered_from"], row["covered_to"]) == (
        datetime(2024, 4, 5, tzinfo=UTC),
        datetime(2024, 4, 7, tzinfo=UTC),
    )
    assert lake.read(Table.RAW_STATUS).num_rows == 100


def test_an_import_that_fails_claims_no_coverage(tmp_path: Path) -> None:
    lake = Lake.create(tmp_path / "lake")
    window = (datetime(2024, 4, 5, tzinfo=UTC), datetime(2024, 4, 7, tzinfo=UTC))
    _faults.arm("recorder.after_events", "raise")
    try:
        with pytest.raises(OSError):
            record_stream(lake, [capture(tmp_path / "a.gz", 40)], coverage=[window])
    finally:
        _faults.disarm()
    assert lake.read(Table.COVERAGE).num_rows == 0
