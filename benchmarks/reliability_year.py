"""A yearly NEVI reliability report over a year of a national network: time and peak RSS.

    .venv/bin/python benchmarks/reliability_year.py [--evses 100000] [--days 365] [--per-day 2]

Builds (once, kept under --dir) a synthetic lake of `--evses` EVSEs over `--days` days from
2025-01-01, about `--per-day` status events per EVSE and day (`replay_data.generate`: Parquet
files written straight into `status_events/date=.../`, as a recorder leaves them), then, each in
its own child process (time, and peak RSS from `wait4`):

- `evlog lake compact` as a user runs it (checkpoints and UTC rollups);
- `evlog report reliability --standard nevi --month 2025-12` (the twelve months of 2025), reading
  whole days from the rollups;
- the same with `EVLOG_NO_ROLLUPS=1` (every event replayed from the start; DuckDB memory limited to
  --replay-memory-limit, spilling beyond it), unless --no-replay;
  its output must be byte-identical to the rollup run's (both written as CSV).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
ROOT = Path(__file__).resolve().parents[1]


def child(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Run `python -m evlog COMMAND` in a child: its seconds and its own peak RSS (MB)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "evlog", *command],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    errors = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"evlog {' '.join(command)} failed: {errors.decode()}")
    return elapsed, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--evses", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--per-day", type=float, default=2.0, help="events per EVSE and day")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/evlog-bench-reliability-year"))
    parser.add_argument("--no-replay", action="store_true", help="skip the EVLOG_NO_ROLLUPS run")
    parser.add_argument(
        "--replay-memory-limit",
        default="6GB",
        help="EVLOG_DUCKDB_MEMORY_LIMIT of the EVLOG_NO_ROLLUPS run (it spills beyond; the machine "
        "is shared)",
    )
    parser.add_argument("--build-only", action="store_true", help="build and compact the lake only")
    args = parser.parse_args()
    from replay_data import generate  # beside this script

    events = int(args.evses * args.days * args.per_day)
    lake = args.dir / f"{args.evses}x{args.days}x{args.per_day:g}"
    print(f"{args.evses:,} EVSEs, {args.days} days, {events:,} events; lake {lake}", flush=True)
    if not (lake / "status_events").exists():
        started = time.perf_counter()
        generate(lake, events, args.evses, args.days)
        print(f"generate: {time.perf_counter() - started:.1f} s", flush=True)
    if not (lake / "rollups").exists():
        seconds, rss = child(["lake", "compact", "--lake", str(lake)])
        print(
            f"evlog lake compact: {seconds:.1f} s, {rss:,.0f} MB peak RSS, "
            f"{events / seconds / 1e6:.2f}M events/s",
            flush=True,
        )
    if args.build_only:
        return
    report = ["report", "reliability", "--lake", str(lake), "--standard", "nevi"]
    report += ["--month", "2025-12", "--format", "csv"]
    runs = [("reliability, rollups", {}, lake / "nevi-rollups.csv")]
    if not args.no_replay:
        runs.append(
            (
                "reliability, EVLOG_NO_ROLLUPS=1",
                {"EVLOG_NO_ROLLUPS": "1", "EVLOG_DUCKDB_MEMORY_LIMIT": args.replay_memory_limit},
                lake / "nevi-replay.csv",
            )
        )
    print("| run | seconds | peak RSS MB | events/s |")
    print("|---|---:|---:|---:|")
    for name, env, output in runs:
        seconds, rss = child([*report, "--output", str(output)], env)
        print(
            f"| {name} | {seconds:.2f} | {rss:,.0f} | {events / seconds / 1e6:.2f}M |", flush=True
        )
    if not args.no_replay:
        same = runs[0][2].read_bytes() == runs[1][2].read_bytes()
        print(f"outputs byte-identical: {same}")
    print(f"load average: {os.getloadavg()[0]:.2f} (1 min)")


if __name__ == "__main__":
    main()
