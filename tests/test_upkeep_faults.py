"""Upkeep under faults: compaction and rebuild killed at chosen moments, beside a live recorder,
while reports read; checkpoints and rollups exact after any sequence of record/compact/rebuild."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from tests.feeds import members, message


def evlog_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "evlog", *args]
    return subprocess.run(
        command, capture_output=True, text=True, check=False, env={**os.environ, **(env or {})}
    )


def capture(path: Path, data: bytes, mtime: datetime) -> str:
    path.write_bytes(data)
    os.utime(path, (mtime.timestamp(), mtime.timestamp()))
    return str(path)


def test_rebuild_moving_events_out_of_a_day_leaves_no_stale_checkpoint(tmp_path: Path) -> None:
    """Issue 12's reproduction: a rebuild with a wider skew tolerance moves E's event from 04-01
    (clamped to the file time) to 04-03; the checkpoints of 04-02 and 04-03 must follow."""
    lake = str(tmp_path / "lake")
    e = capture(
        tmp_path / "e.gz",
        members(message("L", ("E", "OUT_OF_ORDER", "2024-04-03T06:00:00Z"))),
        datetime(2024, 4, 1, 6, tzinfo=UTC),
    )
    f = capture(
        tmp_path / "f.gz",
        members(message("L", ("F", "AVAILABLE", "2024-04-02T06:00:00Z"))),
        datetime(2024, 4, 2, 6, 0, 1, tzinfo=UTC),
    )
    for args in (
        ("record", "stream", e, f, "--lake", lake),
        ("lake", "compact", "--lake", lake),
        ("lake", "rebuild", "--lake", lake, "--skew-tolerance", "4d"),
        ("lake", "compact", "--lake", lake),
    ):
        done = evlog_cli(*args)
        assert done.returncode == 0, done.stderr
    report = ("report", "availability", "--lake", lake, "--start", "2024-03-31")
    report += ("--end", "2024-04-05", "--by", "day", "--evse", "E", "--format", "csv")
    with_checkpoints = evlog_cli(*report)
    plain = evlog_cli(*report, env={"EVLOG_NO_CHECKPOINTS": "1", "EVLOG_NO_ROLLUPS": "1"})
    assert with_checkpoints.returncode == 0, with_checkpoints.stderr
    assert with_checkpoints.stdout == plain.stdout
    no_data = [line.split(",")[4] for line in plain.stdout.splitlines()[1:]]
    assert no_data == ["86400.0", "86400.0", "86400.0", "21600.0", "0.0"]  # until 04-03T06:00
