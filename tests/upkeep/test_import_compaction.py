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
from evlog._upkeep import compact
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
    # no partition crowded with files: none merged (`evlog lake compact` does that); the first
    # report's checkpoints and rollups computed from the first day the import touched on
    assert result.stderr.startswith("compacted 0 files into 0 (0 partitions, 0 rows); ")
    files = data_files(lake, "status_events")
    day4, day3 = (f"date={(TODAY - timedelta(days=n)).date()}" for n in (4, 3))
    assert files[day4] == untouched[day4]
    assert len(files[day3]) == 2 and not any(f.startswith("compact-") for f in files[day3])
    checkpoint_days = sorted(p.name for p in (lake / CHECKPOINT_DIR).glob("date=*"))
    assert checkpoint_days[0] == f"date={(TODAY - timedelta(days=3)).date()}"
    assert (lake / ROLLUP_DIR / "zone=UTC" / day3 / "rollup.parquet").exists()


def test_an_import_merges_the_partitions_crowded_with_files(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    for n in range(compact.CROWDED_FILES - 1):  # one file a day in raw_status and status_events
        path = capture(tmp_path / f"c{n}.gz", (f"e{n}", "AVAILABLE", day(3, n)))
        evlog.record_stream(lake, [path], compact=False)
    before = data_files(lake, "status_events")
    last = capture(
        tmp_path / "last.gz", ("e0", "CHARGING", day(3, 20)), ("e0", "AVAILABLE", day(2))
    )
    result = evlog_cli("record", "stream", last, "--lake", str(lake))
    assert result.returncode == 0, result.stderr
    after = data_files(lake, "status_events")
    day3, day2 = (f"date={(TODAY - timedelta(days=n)).date()}" for n in (3, 2))
    assert len(before[day3]) == compact.CROWDED_FILES - 1
    assert len(after[day3]) == 1 and after[day3][0].startswith("compact-")  # 16 files: merged
    assert after[day2] == [f for f in after[day2] if f.startswith("part-")]  # one file: left
    # raw tables are read by no report: merged only from `CROWDED_RAW_FILES` files on
    raw = data_files(lake, "raw_status")
    assert sum(len(names) for names in raw.values()) == compact.CROWDED_FILES
    assert not any(f.startswith("compact-") for names in raw.values() for f in names)
    assert result.stderr.startswith(f"compacted {compact.CROWDED_FILES} files into 1 ")


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
    # no partition merged (none crowded); the checkpoints of the days from the new event's on
    # computed; the history's partitions and checkpoints left alone
    assert result.stderr.startswith(
        "compacted 0 files into 0 (0 partitions, 0 rows); 2 checkpoints"
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
    lake = tmp_path / "lake"
    for n in range(compact.CROWDED_FILES):  # compact=False: even a crowded partition stays
        body = tmp_path / f"w{n}.jsonl"
        body.write_bytes(feeds.jsonl(feeds.webhook(f"w{n}", "st-1", n % 2 == 0, day(2, n))))
        evlog.record_webhook_files(lake, [str(body)], compact=False)
    files = data_files(lake, "connectivity_events")
    assert [len(names) for names in files.values()] == [compact.CROWDED_FILES]
    assert all(name.startswith("part-") for names in files.values() for name in names)
    body = tmp_path / "last.jsonl"
    body.write_bytes(feeds.jsonl(feeds.webhook("last", "st-1", True, day(2, 20))))
    result = evlog_cli("record", "webhooks", "--from", str(body), "--lake", str(lake))
    assert result.returncode == 0, result.stderr
    # the crowded partitions: connectivity_events' and entity_metadata's (each webhook's station)
    crowded = 2 * (compact.CROWDED_FILES + 1)
    assert result.stderr.startswith(f"compacted {crowded} files into 2 (2 partitions")
    files = data_files(lake, "connectivity_events")
    assert [len(names) for names in files.values()] == [1]
    assert all(name.startswith("compact-") for names in files.values() for name in names)
