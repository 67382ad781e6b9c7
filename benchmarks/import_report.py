"""Import → first report: is the first report after `record stream` fast without extra steps?

    .venv/bin/python benchmarks/import_report.py [--messages 2000000] [--evses 20000] [--days 30]

One NDJSON capture of `--messages` HERE messages (one EVSE each, `--evses` EVSEs over `--days`
days; file time = the end of the period), then, in this process, timed one after the other:

- evlog import: `evlog.record_stream(lake, [capture])` (the public API: parse, dedupe, store, then
  compact what it touched with checkpoints and rollups, as `evlog record stream` does);
- evlog first report: `evlog.open_lake(lake).availability(start, end, by="day")`;
- straightforward importer (baseline): json.loads per line → Arrow columns with the raw line kept
  → Parquet (`stream_path.straightforward`);
- plain DuckDB (baseline): the lag/lead availability query of `replay.py` over the same events
  (evlog's own `status_events` files).

Prints seconds and the two ratios the issue sets: import (compaction included) vs the
straightforward importer (target ≥ 0.5x its speed), first report vs plain DuckDB (target ≥ 3x).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from replay import run_duckdb
from stream_path import straightforward

import evlog

START = datetime(2026, 9, 1, tzinfo=UTC)
STATUSES = ("AVAILABLE", "CHARGING", "AVAILABLE", "OUT_OF_ORDER", "AVAILABLE", "RESERVED")


def write_capture(path: Path, messages: int, evses: int, days: int) -> Path:
    """Messages in time order: each EVSE reports every `days * 86400 * evses / messages` s."""
    span_s = days * 86_400
    with open(path, "wb") as out:
        for i in range(messages):
            at = START + timedelta(seconds=i * span_s // messages)
            body = {
                "id": f"loc-{(i % evses) // 4}",
                "evses": [
                    {
                        "id": f"evse-{i % evses}",
                        "status": STATUSES[(i // evses + i) % len(STATUSES)],
                        "last_updated": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    }
                ],
            }
            out.write(orjson.dumps(body) + b"\n")
    end = (START + timedelta(days=days)).timestamp()
    os.utime(path, (end, end))
    return path


def timed(action: object) -> tuple[float, object]:
    began = time.perf_counter()
    result = action()  # type: ignore[operator]
    return time.perf_counter() - began, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=2_000_000)
    parser.add_argument("--evses", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="evlog-import-report-"))
    try:
        capture = write_capture(work / "capture.ndjson", args.messages, args.evses, args.days)
        lake = work / "lake"
        end = START + timedelta(days=args.days)
        import_s, summary = timed(lambda: evlog.record_stream(lake, [str(capture)]))
        report_s, frame = timed(lambda: evlog.open_lake(lake).availability(START, end, by="day"))
        plain_import_s, _ = timed(lambda: straightforward(capture, work))
        start_us, end_us = int(START.timestamp() * 1e6), int(end.timestamp() * 1e6)
        plain_report_s, _ = timed(lambda: run_duckdb(lake, start_us, end_us))
        print(
            f"{args.messages:,} messages, {args.evses:,} EVSEs, {args.days} days: {summary.line()}"
        )  # type: ignore[attr-defined]
        print(f"rows in the report: {frame.height:,}")  # type: ignore[attr-defined]
        print("| step | seconds | msg/s |")
        print("|---|---:|---:|")
        for name, seconds in (
            ("evlog import (record_stream, compaction included)", import_s),
            ("straightforward importer", plain_import_s),
            ("evlog first report (availability --by day)", report_s),
            ("plain DuckDB lag/lead query", plain_report_s),
        ):
            print(f"| {name} | {seconds:.2f} | {args.messages / seconds:,.0f} |")
        print(f"import: {plain_import_s / import_s:.2f}x the straightforward importer's speed")
        print(f"first report: {plain_report_s / report_s:.2f}x faster than plain DuckDB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
