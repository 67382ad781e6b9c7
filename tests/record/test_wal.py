"""The write-ahead log: record framing, torn tails, group commit, recovery into the lake."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from evlog import _faults
from evlog._lake.layout import Lake
from evlog._lake.names import Table
from evlog._record import wal
from evlog._record.derive import WEBHOOK_FEED
from evlog._record.receiver import convert_segment, recover
from evlog._record.recorder import Recorder
from tests import feeds

T0_US = 1_763_700_000_123_456  # 2025-11-21T04:40:00.123456Z


def body(n: int) -> bytes:
    return json.dumps(
        feeds.webhook(f"w{n}", f"st{n % 3}", n % 2 == 0, "2025-11-21T04:00:00Z")
    ).encode()


def write_segment(directory: Path, count: int, session: str = "sess-old") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"wal-20251121T000000000000-{session}-000000-abcdef.log"
    meta = wal.SegmentMeta(session, "http://127.0.0.1:1/webhooks/edrv", "2025-11-21T00:00:00Z")
    writer = wal.SegmentWriter(path, meta)
    writer.append([wal.encode_record(i, T0_US + i, b'{"a":"b"}', body(i)) for i in range(count)])
    writer.close()
    return path


def test_round_trip(tmp_path: Path) -> None:
    path = write_segment(tmp_path, 5)
    segment = wal.read_segment(path)
    assert segment is not None
    assert segment.meta.session_id == "sess-old"
    assert segment.dropped_bytes == 0
    assert [r.seq for r in segment.records] == [0, 1, 2, 3, 4]
    assert [r.body for r in segment.records] == [body(i) for i in range(5)]
    assert segment.records[0].received_at == datetime(2025, 11, 21, 4, 40, 0, 123456, tzinfo=UTC)
    assert segment.records[0].headers == b'{"a":"b"}'


@pytest.mark.parametrize("cut", [1, 7, 8, 9, 40])
def test_torn_final_record_is_dropped_not_the_log(tmp_path: Path, cut: int) -> None:
    path = write_segment(tmp_path, 5)
    data = path.read_bytes()
    path.write_bytes(data[:-cut])
    segment = wal.read_segment(path)
    assert segment is not None
    assert [r.body for r in segment.records] == [body(i) for i in range(4)]
    assert (
        segment.dropped_bytes == len(wal.encode_record(4, T0_US + 4, b'{"a":"b"}', body(4))) - cut
    )


def test_zero_filled_or_corrupt_tail_is_dropped(tmp_path: Path) -> None:
    path = write_segment(tmp_path, 3)
    with open(path, "ab") as handle:  # a crash after the size grew but before the data landed
        handle.write(b"\0" * 64)
    segment = wal.read_segment(path)
    assert segment is not None and len(segment.records) == 3 and segment.dropped_bytes == 64

    data = bytearray(write_segment(tmp_path / "b", 3).read_bytes())
    data[-3] ^= 0xFF  # last record's bytes damaged: its CRC tells
    (tmp_path / "b" / "x.log").write_bytes(bytes(data))
    segment = wal.read_segment(tmp_path / "b" / "x.log")
    assert segment is not None and len(segment.records) == 2


def test_torn_header_holds_nothing(tmp_path: Path) -> None:
    path = write_segment(tmp_path, 2)
    path.write_bytes(path.read_bytes()[:10])
    assert wal.read_segment(path) is None
    recorder = Recorder(Lake.create(tmp_path / "lake"), WEBHOOK_FEED)
    assert convert_segment(recorder, path).recorded == 0
    assert not path.exists()


def test_recovery_keeps_whole_records_and_is_idempotent(tmp_path: Path) -> None:
    wal_dir = tmp_path / "wal"
    path = write_segment(wal_dir, 6)
    path.write_bytes(path.read_bytes()[:-5])  # torn final record
    kept = tmp_path / "copy.log"
    shutil.copy(path, kept)
    lake = Lake.create(tmp_path / "lake")

    summary, kept_for_retry = recover(Recorder(lake, WEBHOOK_FEED), wal_dir)
    assert kept_for_retry == []
    assert summary.recorded == 5
    assert wal.segments(wal_dir) == []
    raw = lake.read(Table.RAW_WEBHOOKS).to_pylist()
    assert sorted(r["webhook_id"] for r in raw) == [f"w{i}" for i in range(5)]
    assert {r["session_id"] for r in raw} == {"sess-old"}  # the session that received them
    assert sorted(r["arrival_index"] for r in raw) == [0, 1, 2, 3, 4]
    assert lake.read(Table.CONNECTIVITY_EVENTS).num_rows == 5

    # A crash after the Parquet was written but before the log was deleted: replay adds nothing.
    shutil.copy(kept, path)
    again, _ = recover(Recorder(lake, WEBHOOK_FEED), wal_dir)
    assert (again.recorded, again.duplicates) == (0, 5)
    assert lake.read(Table.RAW_WEBHOOKS).num_rows == 5
    assert lake.read(Table.CONNECTIVITY_EVENTS).num_rows == 5


def test_group_commit_shares_fsyncs(tmp_path: Path) -> None:
    sealed: list[Path] = []

    async def main() -> wal.GroupCommitLog:
        log = wal.GroupCommitLog(
            tmp_path, session_id="s1", capture="c", on_sealed=lambda path, _: sealed.append(path)
        )
        log.start()
        seqs = await asyncio.gather(*(log.append(T0_US + i, b"{}", body(i)) for i in range(300)))
        assert sorted(seqs) == list(range(300))
        await log.close()
        return log

    log = asyncio.run(main())
    assert log.records == 300
    assert log.commits < 300 // 4  # many records per fsync
    assert len(sealed) == 1
    segment = wal.read_segment(sealed[0])
    assert segment is not None
    assert [r.seq for r in segment.records] == list(range(300))


def test_failed_write_refuses_and_moves_to_a_new_segment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sealed: list[Path] = []
    real_append = wal.SegmentWriter.append
    calls = {"n": 0}

    def flaky(self: wal.SegmentWriter, records: list[bytes]) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device")
        real_append(self, records)

    monkeypatch.setattr(wal.SegmentWriter, "append", flaky)

    async def main() -> None:
        log = wal.GroupCommitLog(
            tmp_path, session_id="s1", capture="c", on_sealed=lambda path, _: sealed.append(path)
        )
        log.start()
        await log.append(T0_US, b"{}", body(0))
        with pytest.raises(wal.WalError):
            await log.append(T0_US + 1, b"{}", body(1))
        assert not log.healthy
        await log.append(T0_US + 2, b"{}", body(2))
        assert log.healthy
        await log.close()

    asyncio.run(main())
    bodies = []
    for path in sealed:
        segment = wal.read_segment(path)
        assert segment is not None
        bodies += [r.body for r in segment.records]
    assert bodies == [body(0), body(2)]


def test_segments_are_private_and_oversized_records_refused(tmp_path: Path) -> None:
    path = write_segment(tmp_path, 1)
    assert path.stat().st_mode & 0o777 == 0o600  # request headers and bodies
    with pytest.raises(wal.WalError):  # it would be read back as a torn tail: never acknowledged
        wal.encode_record(0, T0_US, b" " * (wal.MAX_HEADERS + 1), b"{}")


def test_failed_segment_header_leaves_no_descriptor_nor_file(tmp_path: Path) -> None:
    meta = wal.SegmentMeta("s1", "c", "2025-11-21T00:00:00Z")
    descriptors = len(os.listdir("/proc/self/fd"))
    _faults.arm("wal.write", "enospc")
    try:
        for n in range(20):
            with pytest.raises(OSError):
                wal.SegmentWriter(tmp_path / f"wal-{n}.log", meta)
    finally:
        _faults.disarm("wal.write")
    assert len(os.listdir("/proc/self/fd")) == descriptors
    assert list(tmp_path.iterdir()) == []
