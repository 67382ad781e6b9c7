"""Recording cost against lake size: does a recorder's cost grow with the history it records into?

    .venv/bin/python benchmarks/record_history.py [--records 100000000] [--days 365] [--day 250000]

Builds (once, cached under --work) a lake whose raw_status table holds `--records` synthetic
records spread over `--days` day partitions (DuckDB writes them: content-key-like record keys, a
small valid payload), then, each in a fresh child process with its own peak RSS:

- one day of new records (`--day` messages, one NDJSON capture whose file time is the day after
  the history) recorded with `evlog record stream` into an empty lake, and into the big lake;
- one record into the empty lake and into the big lake (what a recorder's start-up costs);
- the same day recorded again into the big lake (recognised whole by the capture ledger).

Prints seconds and peak RSS of each, and the big/empty ratios (the target is ≤ 1.5).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import orjson

ROOT = Path(__file__).resolve().parents[1]
FIRST_DAY = datetime(2025, 1, 1, tzinfo=UTC)


def build_history(lake: Path, records: int, days: int) -> None:
    """A lake of `records` raw_status rows over `days` partitions, written by DuckDB."""
    marker = lake / ".built"
    if marker.exists() and marker.read_text() == f"{records} {days}":
        return
    shutil.rmtree(lake, ignore_errors=True)
    (lake / "raw_status").mkdir(parents=True)
    (lake / "evlog-lake.json").write_text('{"format": 1}\n')
    per_day = records // days
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    payload = orjson.dumps(message(0, FIRST_DAY)).decode()
    for day in range(days):
        start = FIRST_DAY + timedelta(days=day)
        folder = lake / "raw_status" / f"date={start:%Y-%m-%d}"
        folder.mkdir()
        con.execute(
            f"""
            COPY (
                SELECT
                    'sha256:' || md5(({day} * {per_day} + i)::VARCHAR)
                        || md5(i::VARCHAR) || '#0' AS record_key,
                    encode(?) AS payload,
                    NULL::VARCHAR AS defect,
                    ?::TIMESTAMPTZ + to_microseconds((i * 86400000000 // {per_day})::BIGINT)
                        AS received_at,
                    i::BIGINT AS arrival_index,
                    'history-{day}.ndjson' AS capture,
                    NULL::INTEGER AS kafka_partition,
                    NULL::BIGINT AS kafka_offset,
                    'history' AS session_id
                FROM range({per_day}) t(i)
            ) TO '{folder}/part-history.parquet' (FORMAT parquet, COMPRESSION zstd)
            """,
            [payload, start],
        )
    marker.write_text(f"{records} {days}")


def message(i: int, at: datetime) -> dict[str, object]:
    return {
        "id": f"loc-{i % 5000}",
        "evses": [
            {
                "id": f"evse-{i % 20000}",
                "status": ("AVAILABLE", "CHARGING", "OUT_OF_ORDER")[i % 3],
                "last_updated": (at + timedelta(seconds=i % 86400)).isoformat(),
            }
        ],
    }


def capture(path: Path, count: int, at: datetime) -> Path:
    with open(path, "wb") as out:
        for i in range(count):
            out.write(orjson.dumps(message(i, at)) + b"\n")
    os.utime(path, (at.timestamp(), at.timestamp()))
    return path


def record(lake: Path, capture_path: Path, work: Path) -> tuple[float, float, str]:
    """`evlog record stream` in a child: seconds, its own peak RSS (MB), its summary line."""
    command = [sys.executable, "-m", "evlog", "record", "stream", str(capture_path)]
    with open(work / "out.txt", "w+") as out, open(work / "err.txt", "w+") as err:
        started = time.perf_counter()
        child = subprocess.Popen(
            [*command, "--lake", str(lake), "--no-compact"], cwd=ROOT, stdout=out, stderr=err
        )
        _, status, usage = os.wait4(child.pid, 0)  # this child's own rusage
        elapsed = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if child.returncode != 0:
            raise SystemExit(f"record failed: {err.read()}")
        return elapsed, usage.ru_maxrss / 1024, out.read().strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--day", type=int, default=250_000, help="records in the new day")
    parser.add_argument("--work", type=Path, default=Path("/tmp/evlog-bench-history"))
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    big = args.work / "big"
    started = time.perf_counter()
    build_history(big, args.records, args.days)
    print(
        f"history: {args.records:,} records over {args.days} days "
        f"(built or reused in {time.perf_counter() - started:.1f} s)"
    )
    new_day = FIRST_DAY + timedelta(days=args.days)
    day_capture = capture(args.work / "new-day.ndjson", args.day, new_day)
    one_capture = capture(args.work / "one.ndjson", 1, new_day + timedelta(hours=1))
    rows = []
    for label, into, path in (
        ("one record, empty lake", "empty-1", one_capture),
        ("one record, big lake", "big", one_capture),
        ("one day, empty lake", "empty-day", day_capture),
        ("one day, big lake", "big", day_capture),
        ("same day again, big lake", "big", day_capture),
    ):
        lake = big if into == "big" else args.work / into
        if into != "big":
            shutil.rmtree(lake, ignore_errors=True)
        seconds, rss, summary = record(lake, path, args.work)
        rows.append((label, seconds, rss, summary))
        print(f"{label:<28} {seconds:7.2f} s  peak RSS ≤ {rss:7.0f} MB   {summary}", flush=True)
    for raw in (big / "raw_status").glob("date=*"):  # leave the cached history as built
        for part in raw.glob("part-*.parquet"):
            if part.name != "part-history.parquet":
                part.unlink()
    shutil.rmtree(big / "_captures", ignore_errors=True)
    for name in ("status_events", "quarantine", "coverage"):
        shutil.rmtree(big / name, ignore_errors=True)
    for name, small, large in (("one record", rows[0], rows[1]), ("one day", rows[2], rows[3])):
        print(
            f"ratio {name} big/empty: time {large[1] / small[1]:.2f}, "
            f"peak RSS {large[2] / small[2]:.2f}"
        )


if __name__ == "__main__":
    main()
