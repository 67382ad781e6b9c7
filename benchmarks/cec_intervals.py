"""The CEC interval export (`--export cec DIR`) for many ports: time, size and peak RSS.

    .venv/bin/python benchmarks/cec_intervals.py [--ports 10000] [--months 1] [--format csv]

Times the export stage alone (`cec.write_intervals`: pieces cut into quarter-hours, written one
file per month, a batch of ports at a time) on a synthetic reliability result: `--ports` ports (4
per station) in America/Los_Angeles, each month with four 50-minute outages per port, half of each
excluded, and an hour without data. The reliability query before it is measured in "Reliability
over a year of a national network".
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

from evlog._reports import cec
from evlog._reports.reliability import RULES, ReliabilityResult, Standard

MINUTE_US = 60_000_000


def synthetic_result(ports: int, months: int) -> ReliabilityResult:
    zone = ZoneInfo("America/Los_Angeles")
    labels = [f"2025-{m:02d}" for m in range(1, months + 1)]
    ids = [f"EVSE-{i:06d}" for i in range(ports)]
    frame = pl.DataFrame(
        {
            "scope": ["port"] * (ports * months),
            "report_month": [m for m in labels for _ in ids],
            "port_id": ids * months,
            "station_id": [f"ST-{i // 4:06d}" for i in range(ports)] * months,
        }
    )
    rows: list[tuple[str, str, int, int, str]] = []
    for month in labels:
        start, end = cec._month_bounds(month, zone)
        span = end - start - 60 * MINUTE_US
        for i, port in enumerate(ids):
            for j in range(4):
                s = start + (i * 7_919 * MINUTE_US // 60 + j * span // 4) % span
                rows.append((port, month, s, s + 50 * MINUTE_US, "outage"))
                rows.append((port, month, s, s + 25 * MINUTE_US, "excluded"))
            rows.append((port, month, start, start + 60 * MINUTE_US, "no_data"))
    pieces = pl.DataFrame(rows, schema=["port_id", "month_label", "s", "e", "kind"], orient="row")
    return ReliabilityResult(RULES[Standard.CEC], frame, None, (), zone, piece_list=pieces)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ports", type=int, default=10_000)
    parser.add_argument("--months", type=int, default=1)
    parser.add_argument("--format", default="csv", choices=("csv", "parquet"))
    args = parser.parse_args()
    result = synthetic_result(args.ports, args.months)
    with tempfile.TemporaryDirectory() as directory:
        started = time.perf_counter()
        paths = cec.write_intervals(
            result, Path(directory), cec.Interval.QUARTER_HOUR, cec.IntervalFormat(args.format)
        )
        elapsed = time.perf_counter() - started
        size = sum(p.stat().st_size for p in paths)
        rows = args.ports * sum(
            len(cec.month_grid(m, result.tz, cec.Interval.QUARTER_HOUR, cec.IntervalFormat.CSV))
            for m in sorted(set(result.frame.get_column("report_month").to_list()))
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{args.ports:,} ports x {args.months} months, {args.format}: {rows:,} rows in "
        f"{elapsed:.1f} s ({rows / elapsed:,.0f} rows/s), {size / 1e9:.2f} GB, "
        f"peak RSS {peak:,.0f} MB"
    )


if __name__ == "__main__":
    main()
