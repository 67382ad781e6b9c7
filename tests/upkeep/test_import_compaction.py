"""`evlog record stream` / `record webhooks --from` compact what they touched (`--no-compact`: not),
through a real subprocess: merged files, checkpoints and rollups, the same figures either way."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import evlog
from evlog._lake.checkpoints import CHECKPOINT_DIR
from evlog._lake.rollups import ROLLUP_DIR
from tests import feeds

# Recent days: rollups reach the day of the last thing recorded (received now), so old event days
# would make every test build years of rollups.
TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def day(n: int, hour: int = 10) -> str:
    """An instant `n` days before today, at `hour`."""
    return (TODAY - timedelta(days=n, hours=-hour)).strftime("%Y-%m-%dT%H:%M:%SZ")


def evlog_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evlog", *args], capture_output=True, text=True, timeout=120
    )


def capture(path: Path, *evses: tuple[str, str, str]) -> str:
    path.write_bytes(feeds.members(*(feeds.message("loc-1", evse) for evse in evses)))
    return str(path)


def data_files(lake: Path, table: str) -> dict[str, list[str]]:
    """`date=` partition -> its file names."""
    return {
        folder.name: sorted(f.name for f in folder.glob("*.parquet"))
        for folder in sorted((lake / table).glob("date=*"))
    }


def test_record_stream_compacts_the_days_it_touched_and_no_compact_does_not(
    tmp_path: Path,
) -> None:
    lake = tmp_path / "lake"
    first = capture(tmp_path / "a.gz", ("e1", "AVAILABLE", day(4)), ("e1", "CHARGING", day(3)))
    result = evlog_cli("record", "stream", first, "--lake", str(lake), "--no-compact")
    assert result.returncode == 0, result.stderr
    assert "compacted" not in result.stderr
    assert not (lake / CHECKPOINT_DIR).exists() and not (lake / ROLLUP_DIR).exists()
    untouched = data_files(lake, "status_events")
    assert all(name.startswith("part-") for names in untouched.values() for name in names)

    second = capture(tmp_path / "b.gz", ("e1", "AVAILABLE", day(3, 12)), ("e2", "CHARGING", day(2)))
    result = evlog_cli("record", "stream", second, "--lake", str(lake))
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("compacted 5 files into 3 (3 partitions, ")  # stderr says so
    files = data_files(lake, "status_events")
    day4, day3, day2 = (f"date={(TODAY - timedelta(days=n)).date()}" for n in (4, 3, 2))
    assert files[day4] == untouched[day4]  # not touched by the second import: left as it was
    assert len(files[day3]) == 1 and files[day3][0].startswith("compact-")  # two files merged
    assert len(files[day2]) == 1 and files[day2][0].startswith("compact-")
    checkpoint_days = sorted(p.name for p in (lake / CHECKPOINT_DIR).glob("date=*"))
    assert checkpoint_days[0] == f"date={(TODAY - timedelta(days=3)).date()}"
    assert (lake / ROLLUP_DIR / "zone=UTC" / day3 / "rollup.parquet").exists()


def test_a_small_import_into_a_compacted_lake_touches_only_its_days(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    history = [("e1", "AVAILABLE", day(n)) for n in range(9, 3, -1)]
    result = evlog_cli(
        "record", "stream", capture(tmp_path / "a.gz", *history), "--lake", str(lake)
    )
    assert result.returncode == 0, result.stderr
    checkpoints_before = {
        p: p.stat().st_mtime_ns for p in (lake / CHECKPOINT_DIR).rglob("*.parquet")
    }
    merged_before = data_files(lake, "status_events")

    late = capture(tmp_path / "b.gz", ("e1", "CHARGING", day(2)))
    result = evlog_cli("record", "stream", late, "--lake", str(lake))
    assert result.returncode == 0, result.stderr
    # the new event's partition and today's raw partition merged; the checkpoints of the days
    # from the new event's on computed; the history's partitions and checkpoints left alone
    assert result.stderr.startswith(
        "compacted 3 files into 2 (2 partitions, 8 rows); 2 checkpoints"
    )
    after = data_files(lake, "status_events")
    assert {d: f for d, f in after.items() if d in merged_before} == merged_before
    for path, mtime in checkpoints_before.items():
        assert path.stat().st_mtime_ns == mtime, path


def test_reports_are_the_same_with_and_without_compaction_on_import(tmp_path: Path) -> None:
    events = [
        ("e1", "AVAILABLE", day(5)),
        ("e2", "CHARGING", day(5, 13)),
        ("e1", "CHARGING", day(4)),
        ("e1", "AVAILABLE", day(2)),
        ("e2", "OUT_OF_ORDER", day(1)),
    ]
    reports = []
    for flag in ([], ["--no-compact"]):
        lake = tmp_path / f"lake{len(flag)}"
        for i, evse in enumerate(events):  # one import per event: several files per day
            path = capture(tmp_path / f"c{i}.gz", evse)
            assert evlog_cli("record", "stream", path, "--lake", str(lake), *flag).returncode == 0
        api = evlog.open_lake(lake)
        start, end = day(6, 0), day(0, 0)
        reports.append((api.availability(start, end, by="day"), api.uptime(start, end, by="day")))
    assert (tmp_path / "lake0" / CHECKPOINT_DIR).exists()
    assert not (tmp_path / "lake1" / CHECKPOINT_DIR).exists()
    for compacted, plain in zip(*reports, strict=True):
        assert compacted.equals(plain)


def test_webhook_import_compacts_and_the_api_takes_compact_false(tmp_path: Path) -> None:
    body = tmp_path / "w.jsonl"
    body.write_bytes(feeds.jsonl(feeds.webhook("w1", "st-1", True, day(2))))
    lake = tmp_path / "lake"
    result = evlog_cli("record", "webhooks", "--from", str(body), "--lake", str(lake))
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("compacted 2 files into 2 (2 partitions")
    assert all(
        name.startswith("compact-")
        for names in data_files(lake, "connectivity_events").values()
        for name in names
    )
    other = tmp_path / "other"
    evlog.record_webhook_files(other, [str(body)], compact=False)
    assert all(
        name.startswith("part-")
        for names in data_files(other, "connectivity_events").values()
        for name in names
    )
