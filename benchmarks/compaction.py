"""Compaction from scratch: how fast does `evlog lake compact` bring a lake of new events up?

    .venv/bin/python benchmarks/compaction.py [--events 2000000] [--evses 4000] [--days 10]

A lake of `--events` status events (`replay_data.generate`: `--files-per-day` files a day, in
arrival order, as a recorder leaves them; no checkpoints, no rollups yet), then, timed one after
the other in this process, the phases of `evlog lake compact` (`evlog._upkeep.compact`):

- merge: every partition's files into one file sorted by EVSE and time;
- checkpoints: the state of every EVSE at every day start (`update_checkpoints`);
- rollups: the time in each status per EVSE and UTC day (`update_rollups`);

and, as the baseline of the same run, a plain DuckDB sort and write of the same events
(`COPY (SELECT * FROM read_parquet(...) ORDER BY evse_id, event_time) TO ...`). An import's own
compaction (`evlog record stream`) skips the merge unless a partition is crowded with files
(`compact.CROWDED_FILES`): its cost is the checkpoints and the rollups.

Prints seconds and events/s per phase; the issue's target is >= 3M events/s for all of it.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import duckdb
from replay_data import generate

from evlog._lake.names import Table
from evlog._upkeep import compact, rollups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--evses", type=int, default=4_000)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--files-per-day", type=int, default=4)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="evlog-compaction-"))
    try:
        lake = generate(
            work / "lake", args.events, args.evses, args.days, files_per_day=args.files_per_day
        )
        files = [str(path) for path in lake.files(Table.STATUS_EVENTS)]
        events = duckdb.sql(f"SELECT count(*) FROM read_parquet({files!r})").fetchall()[0][0]
        phases: list[tuple[str, float]] = []

        began = time.perf_counter()
        duckdb.execute(
            "COPY (SELECT * FROM read_parquet($files) ORDER BY evse_id, event_time) "
            f"TO '{work / 'plain.parquet'}' (FORMAT parquet)",
            {"files": files},
        )
        plain_s = time.perf_counter() - began

        began = time.perf_counter()
        for directory in sorted({Path(path).parent for path in files}):
            compact.compact_partition(lake, Table.STATUS_EVENTS, directory)
        phases.append(("merge (sort and write every partition)", time.perf_counter() - began))
        began = time.perf_counter()
        days = compact.update_checkpoints(lake)
        phases.append((f"checkpoints ({days} days)", time.perf_counter() - began))
        began = time.perf_counter()
        days = rollups.update_rollups(lake)
        phases.append((f"rollups ({days} days)", time.perf_counter() - began))

        print(f"{events:,} events, {args.evses:,} EVSEs, {args.days} days")
        print("| phase | seconds | events/s |")
        print("|---|---:|---:|")
        for name, seconds in phases:
            print(f"| {name} | {seconds:.2f} | {events / seconds:,.0f} |")
        total = sum(seconds for _, seconds in phases)
        after_import = sum(seconds for _, seconds in phases[1:])
        print(f"| evlog lake compact, all of it | {total:.2f} | {events / total:,.0f} |")
        print(
            f"| checkpoints + rollups (an import's) | {after_import:.2f} | "
            f"{events / after_import:,.0f} |"
        )
        print(f"| plain DuckDB sort + write | {plain_s:.2f} | {events / plain_s:,.0f} |")
        print(f"compaction: {plain_s / total:.2f}x the plain sort's speed")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
