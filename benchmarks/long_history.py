"""A one-day report against the length of the history: does reading stay flat as files pile up?

Builds (once, kept under --dir) lakes of 1..12 months of synthetic status events with many small
files per day (`replay_data.generate`, as a recorder leaves them, uncompacted) plus the state
checkpoints (`update_checkpoints`, no merging, no rollups), then times, in this process, opening
the lake and an `availability --by day` report of its last day (best of --runs).

    .venv/bin/python benchmarks/long_history.py --months 1,6,12
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import evlog
from evlog._lake.layout import Lake
from evlog._upkeep.compact import update_checkpoints


def build(root: Path, days: int, files_per_day: int, evses: int) -> None:
    from replay_data import generate  # beside this script, run as `python benchmarks/...`

    if not (root / "checkpoints").exists():
        generate(root, days * evses * 10, evses, days, files_per_day=files_per_day)
        update_checkpoints(Lake(root))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--months", default="1,6,12")
    parser.add_argument("--files-per-day", type=int, default=20)
    parser.add_argument("--evses", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", default="build/bench-long-history")
    args = parser.parse_args()
    print("| history | files | open s | one-day report s | open + report s |")
    print("|---|---:|---:|---:|---:|")
    for months in (int(m) for m in args.months.split(",")):
        days = 30 * months
        root = Path(args.dir) / f"{months}m-{args.files_per_day}f"
        build(root, days, args.files_per_day, args.evses)
        last = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=days - 1)
        timings = []
        for _ in range(args.runs):
            began = time.perf_counter()
            lake = evlog.open_lake(root, rollups=False)
            opened = time.perf_counter()
            lake.availability(last, last + timedelta(days=1), by="day")
            timings.append((opened - began, time.perf_counter() - opened))
        open_s, report_s = min(timings, key=sum)
        files = days * args.files_per_day
        print(
            f"| {months} months | {files:,} | {open_s:.3f} | {report_s:.3f} | "
            f"{open_s + report_s:.3f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
