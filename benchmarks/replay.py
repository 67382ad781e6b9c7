"""Replay benchmark: `evlog report availability --by day` against baselines, on the same lake.

    .venv/bin/python benchmarks/replay.py --events 10M            # whole-span report + baselines
    .venv/bin/python benchmarks/replay.py --events 100M --contenders evlog,floor \\
        --memory-limit 4GB                                          # big lake under a memory limit
    .venv/bin/python benchmarks/replay.py --history 1,3,6,12        # one-day report vs history

Every contender runs in its own subprocess (its peak RSS is that process's max RSS, from `wait4`)
and computes the same figures: per EVSE, UTC day and status, the seconds in that status over the
lake's whole span. The timing covers reading Parquet to the finished result, not Python start-up
nor writing the result for the cross-check. Contenders:

- evlog:  `evlog.open_lake(lake).availability(start, end, by="day")`, the library end to end, on
  the lake as the recorder left it (small files, no checkpoints, no rollups: every event replayed);
- evlog-compacted: the same call on a copy of the lake after `evlog lake compact` (sorted files,
  per-day checkpoints and rollups: whole days come from the rollups). The compaction is timed
  apart (it runs once, then a few seconds per new day: the script also times compacting again
  after one more day is recorded);
- duckdb: a straightforward DuckDB query (lead over PARTITION BY evse ORDER BY time, day split);
- polars: the same in Polars (sort, shift over evse, day split);
- traces: the `traces` library (TimeSeries + distribution per EVSE and day), on a subsample of
  EVSEs because it is slow; its events/s are extrapolated from the subsample (labelled);
- floor:  one grouped scan (count per EVSE, day and status): no replay can read faster;
- spark:  the same `availability` call with `engine="spark"` on a local Spark (`local[2]`, the
  evlog[spark] extra and Java 17+): the same SQL transpiled, a ratio rather than a race (Spark's
  place is a cluster); session start-up is not timed. Not in the default list: ask for it with
  `--contenders evlog,spark`.

Afterwards every contender's figures are compared with evlog's (within 1e-6 s).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DAY_US = 86_400_000_000
STATUS_COLUMNS = [
    "available_s",
    "charging_s",
    "reserved_s",
    "blocked_s",
    "inoperative_s",
    "out_of_order_s",
    "planned_s",
    "removed_s",
    "unknown_s",
]
ALL = ("evlog", "evlog-compacted", "duckdb", "polars", "traces", "floor")
EVLOG = ("evlog", "evlog-compacted")


def count(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 1_000, "M": 1_000_000, "G": 1_000_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("KMG")) * scale)


# ------------------------------------------------------------------------------------------------
# contenders (each runs in a child process: `replay.py --run NAME --lake DIR --out FILE ...`)


def run_evlog(lake: Path, start: str, end: str) -> object:

    import evlog

    frame = evlog.open_lake(lake).availability(start, end, by="day")
    return frame, availability_figures


def availability_figures(f: object) -> object:
    """An availability frame as (evse_id, day_us, status, seconds) rows, for the cross-check."""
    import polars as pl

    assert isinstance(f, pl.DataFrame)
    return (
        f.unpivot(index=["evse_id", "period_start"], on=STATUS_COLUMNS, variable_name="status")
        .filter(pl.col("value") > 0)
        .select(
            "evse_id",
            pl.col("period_start").dt.epoch("us").alias("day_us"),
            pl.col("status").str.strip_suffix("_s").str.to_uppercase(),
            pl.col("value").alias("seconds"),
        )
    )


NAIVE_SQL = """
WITH events AS (
    SELECT evse_id, status, epoch_us(event_time) AS t
    FROM read_parquet($files, hive_partitioning = true)
    WHERE event_time < make_timestamptz($end_us)
),
segments AS (
    SELECT evse_id, status, t AS s,
        coalesce(lead(t) OVER (PARTITION BY evse_id ORDER BY t), $end_us) AS e
    FROM events
),
days AS (
    SELECT d AS day_start, d + 86400000000 AS day_end
    FROM range($start_us, $end_us, 86400000000) AS r(d)
)
SELECT evse_id, day_start AS day_us, status, sum(least(e, day_end) - greatest(s, day_start)) / 1e6
    AS seconds
FROM segments JOIN days ON s < day_end AND e > day_start
GROUP BY ALL
"""


def run_spark(lake: Path, start: str, end: str) -> object:
    import evlog

    frame = evlog.open_lake(lake, engine="spark").availability(start, end, by="day")
    return frame, availability_figures


def _files(lake: Path) -> list[str]:
    return sorted(str(p) for p in (lake / "status_events").glob("**/*.parquet"))


def run_duckdb(lake: Path, start_us: int, end_us: int) -> object:
    import duckdb

    con = duckdb.connect()
    params = {"files": _files(lake), "start_us": start_us, "end_us": end_us}
    return con.sql(NAIVE_SQL, params=params).pl(), None


def run_polars(lake: Path, start_us: int, end_us: int) -> object:
    import polars as pl

    events = (
        pl.scan_parquet(_files(lake))
        .select("evse_id", "status", pl.col("event_time").dt.epoch("us").alias("s"))
        .filter(pl.col("s") < end_us)
        .sort("evse_id", "s")
        .with_columns(pl.col("s").shift(-1).over("evse_id").fill_null(end_us).alias("e"))
        .with_columns(
            pl.int_ranges(
                (pl.col("s") - start_us) // DAY_US, (pl.col("e") - 1 - start_us) // DAY_US + 1
            ).alias("day")
        )
        .explode("day")
        .with_columns((pl.col("day") * DAY_US + start_us).alias("day_us"))
        .with_columns(
            (
                pl.min_horizontal("e", pl.col("day_us") + DAY_US) - pl.max_horizontal("s", "day_us")
            ).alias("us")
        )
        .group_by("evse_id", "day_us", "status")
        .agg((pl.col("us").sum() / 1e6).alias("seconds"))
    )
    return events.collect(), None


def run_traces(lake: Path, start_us: int, end_us: int, sample: int) -> object:
    import polars as pl
    import traces

    # the subsample: every k-th EVSE id, read with the rest (reading is not what is slow here)
    frame = (
        pl.scan_parquet(_files(lake))
        .select("evse_id", "status", pl.col("event_time").dt.epoch("us").alias("t"))
        .filter(pl.col("t") < end_us)
    )
    ids = sorted(frame.select("evse_id").unique().collect()["evse_id"].to_list())
    keep = ids[:: max(1, len(ids) // sample)][:sample]
    rows = frame.filter(pl.col("evse_id").is_in(keep)).collect()
    out: list[tuple[str, int, str, float]] = []
    events = 0
    for (evse,), group in rows.group_by(["evse_id"]):
        series = traces.TimeSeries(default=None)
        for t, status in zip(group["t"].to_list(), group["status"].to_list(), strict=True):
            series[t] = status
            events += 1
        for day in range(start_us, end_us, DAY_US):
            histogram = series.distribution(
                start=day, end=min(day + DAY_US, end_us), normalized=False
            )
            out.extend((str(evse), day, s, v / 1e6) for s, v in histogram.items() if s and v)
    result = pl.DataFrame(out, schema=["evse_id", "day_us", "status", "seconds"], orient="row")
    return result, events


def run_floor(lake: Path, start_us: int, end_us: int) -> object:
    import duckdb

    con = duckdb.connect()
    sql = """SELECT evse_id, date, status, count(*) AS n FROM read_parquet($files,
             hive_partitioning = true) GROUP BY ALL"""
    return con.sql(sql, params={"files": _files(lake)}).pl(), None


def child(args: argparse.Namespace) -> None:
    """One contender, timed, in this (child) process; prints JSON, writes figures for the check."""
    import polars as pl

    lake = Path(args.lake)
    start_us, end_us = args.start_us, args.end_us
    start = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=start_us)
    end = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=end_us)
    import duckdb  # imports are not what is measured
    import traces  # noqa: F401

    import evlog  # noqa: F401

    del duckdb
    if args.run == "spark":  # start-up (the JVM) is not what is measured
        from pyspark.sql import SparkSession

        session = (
            SparkSession.builder.master("local[2]")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.driver.host", "127.0.0.1")  # loopback only
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.driver.memory", "2g")
            .getOrCreate()
        )
        session.sparkContext.setLogLevel("ERROR")
    began = time.perf_counter()
    extra: object = None
    if args.run == "evlog" or args.run == "evlog-day":
        frame, extra = run_evlog(lake, start.isoformat(), end.isoformat())
    elif args.run == "spark":
        frame, extra = run_spark(lake, start.isoformat(), end.isoformat())
    elif args.run == "duckdb":
        frame, extra = run_duckdb(lake, start_us, end_us)
    elif args.run == "polars":
        frame, extra = run_polars(lake, start_us, end_us)
    elif args.run == "traces":
        frame, extra = run_traces(lake, start_us, end_us, args.traces_sample)
    else:
        frame, extra = run_floor(lake, start_us, end_us)
    seconds = time.perf_counter() - began
    info: dict[str, object] = {"seconds": seconds, "rows": frame.height}
    if args.run == "traces":
        info["events"] = extra
    if args.out and args.run != "floor":
        if callable(extra):
            frame = extra(frame)
        assert isinstance(frame, pl.DataFrame)
        frame.write_parquet(args.out)
    print(json.dumps(info))


# ------------------------------------------------------------------------------------------------
# driver


def spawn(name: str, lake: Path, start_us: int, end_us: int, out: Path | None, **opts: object):
    """Run contender `name` in a child process; its JSON result plus its peak RSS in MB."""
    command = [sys.executable, __file__, "--run", name, "--lake", str(lake)]
    command += ["--start-us", str(start_us), "--end-us", str(end_us)]
    if out is not None:
        command += ["--out", str(out)]
    for key, value in opts.items():
        command += [f"--{key.replace('_', '-')}", str(value)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    output = process.stdout.read() if process.stdout else ""
    if status != 0:
        raise SystemExit(f"contender {name} failed (status {status})")
    result = json.loads(output.strip().splitlines()[-1])
    result["rss_mb"] = usage.ru_maxrss / 1024
    return result


def ensure_lake(root: Path, events: int, evses: int, days: int, seed: int) -> Path:
    from replay_data import generate

    params = {"events": events, "evses": evses, "days": days, "seed": seed}
    stamp = root / "bench-params.json"
    if stamp.exists() and json.loads(stamp.read_text()) == params:
        return root
    shutil.rmtree(root, ignore_errors=True)
    began = time.perf_counter()
    generate(root, events, evses, days, seed=seed)
    stamp.write_text(json.dumps(params))
    print(f"generated {events:,} events in {time.perf_counter() - began:.1f} s at {root}")
    return root


def compare(reference: Path, other: Path, sampled: bool) -> str:
    import polars as pl

    want = pl.read_parquet(reference).with_columns(pl.col("day_us").cast(pl.Int64))
    got = pl.read_parquet(other).with_columns(pl.col("day_us").cast(pl.Int64))
    if sampled:
        want = want.join(got.select("evse_id").unique(), on="evse_id")
    joined = want.join(got, on=["evse_id", "day_us", "status"], how="full", suffix="_got")
    diff = (pl.col("seconds").fill_null(0) - pl.col("seconds_got").fill_null(0)).abs()
    worst = joined.select(diff.max()).item() or 0.0
    return "agree" if worst <= 1e-6 else f"DIFFER (max {worst:.6f} s)"


def whole_span(args: argparse.Namespace) -> None:
    events = count(args.events)
    evses = args.evses or max(100, events // 500)
    root = Path(args.dir) / f"lake-{args.events}"
    lake = ensure_lake(root, events, evses, args.days, args.seed)
    start = date(2025, 1, 1)
    start_us = int(datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp()) * 10**6
    end_us = start_us + args.days * DAY_US
    names = [n for n in args.contenders.split(",") if n]
    env_note = ""
    if args.memory_limit:
        os.environ["EVLOG_DUCKDB_MEMORY_LIMIT"] = args.memory_limit
        spill = Path(args.dir) / "spill"
        spill.mkdir(parents=True, exist_ok=True)
        os.environ["EVLOG_DUCKDB_TEMP_DIRECTORY"] = str(spill)
        env_note = f", evlog memory_limit {args.memory_limit} (spill to {spill})"
    print(
        f"{events:,} status events, {evses:,} EVSEs, {args.days} days{env_note}; "
        f"{os.cpu_count()} cores"
    )
    results: dict[str, dict[str, object]] = {}
    outputs = Path(tempfile.mkdtemp(prefix="bench-out-", dir=args.dir))
    for name in names:
        out = outputs / f"{name}.parquet"
        opts = {"traces_sample": args.traces_sample} if name == "traces" else {}
        if name == "evlog-compacted":
            compacted = ensure_compacted(lake, events, evses, args)
            results[name] = spawn("evlog", compacted, start_us, end_us, out)
        else:
            results[name] = spawn(name, lake, start_us, end_us, out, **opts)
        seconds = float(results[name]["seconds"])  # type: ignore[arg-type]
        n = int(results[name].get("events") or events)  # type: ignore[call-overload]
        results[name]["rate"] = n / seconds
        print(f"  {name}: {seconds:.2f} s, peak RSS {results[name]['rss_mb']:.0f} MB", flush=True)
    table(results, names, events)
    if "evlog" in results:
        for name in names:
            if name in ("evlog", "floor"):
                continue
            verdict = compare(
                outputs / "evlog.parquet", outputs / f"{name}.parquet", name == "traces"
            )
            print(f"cross-check evlog vs {name}: {verdict}")
    shutil.rmtree(outputs, ignore_errors=True)


def ensure_compacted(lake: Path, events: int, evses: int, args: argparse.Namespace) -> Path:
    """A copy of `lake` after `evlog lake compact` (kept between runs); prints what compaction
    cost, then what compacting again costs after one more day is recorded (on a scratch copy)."""
    from replay_data import generate

    compacted = lake.with_name(lake.name + "-compacted")
    stamp = compacted / "bench-compacted.json"
    if not stamp.exists():
        shutil.rmtree(compacted, ignore_errors=True)
        shutil.copytree(lake, compacted)
        stamp.write_text(json.dumps({"compact_s": timed_compact(compacted)}))
    print(f"  evlog lake compact (once): {json.loads(stamp.read_text())['compact_s']:.1f} s")
    scratch = lake.with_name(lake.name + "-next-day")
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.copytree(compacted, scratch)
    next_day = (date(2025, 1, 1) + timedelta(days=args.days)).isoformat()
    generate(scratch, events // args.days, evses, 1, start=next_day, seed=args.seed + 1)
    print(f"  evlog lake compact after one more day: {timed_compact(scratch):.1f} s")
    shutil.rmtree(scratch, ignore_errors=True)
    return compacted


def timed_compact(root: Path) -> float:
    """Seconds of `evlog lake compact` on `root`, in its own process as a user would run it."""
    began = time.perf_counter()
    command = [sys.executable, "-m", "evlog", "lake", "compact", "--lake", str(root)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - began


def table(results: dict[str, dict[str, object]], names: list[str], events: int) -> None:
    mine = [n for n in names if n in EVLOG]
    others = [n for n in names if n not in EVLOG]
    header = ["contender", "events", "seconds", "events/s", "peak RSS MB"]
    header += [f"÷ {n}" for n in others if mine]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name in names:
        r = results[name]
        n = int(r.get("events") or events)  # type: ignore[call-overload]
        label = name + (" (subsample, extrapolated)" if name == "traces" else "")
        cells = [label, f"{n:,}", f"{float(r['seconds']):.2f}", f"{float(r['rate']):,.0f}"]  # type: ignore[arg-type]
        cells.append(f"{float(r['rss_mb']):.0f}")  # type: ignore[arg-type]
        if mine:
            rate = float(r["rate"])  # type: ignore[arg-type]
            cells += [
                f"{rate / float(results[o]['rate']):.2f}x" if name in EVLOG else ""  # type: ignore[arg-type]
                for o in others
            ]
        print("| " + " | ".join(cells) + " |")


def history(args: argparse.Namespace) -> None:
    """A one-day report (the last day) out of 1..12 months of compacted history: from the rollup
    and checkpoint (default), from the checkpoint alone, and from the whole history."""
    from replay_data import generate

    months = [int(m) for m in args.history.split(",")]
    evses, per_day = args.history_evses, args.history_evses * 16
    print(f"one-day report, {evses:,} EVSEs, {per_day:,} events/day; history grows:")
    print(
        "| history | events | compact s | one day s | RSS MB "
        "| one day, no rollups s | one day, no rollups nor checkpoints s |"
    )
    print("|---|---|---|---|---|---|---|")
    for m in months:
        days = 30 * m
        root = Path(args.dir) / f"history-{m}m"
        if not (root / "bench-params.json").exists():
            shutil.rmtree(root, ignore_errors=True)
            generate(root, per_day * days, evses, days, seed=args.seed)
            compact_s = timed_compact(root)
            (root / "bench-params.json").write_text(json.dumps({"compact_s": compact_s}))
        compact_s = json.loads((root / "bench-params.json").read_text())["compact_s"]
        first = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=days - 1)
        start_us = int(first.timestamp()) * 10**6

        best = one_day_best(root, start_us, 3)
        checkpoint = one_day_best(root, start_us, 3, EVLOG_NO_ROLLUPS="1")
        plain = one_day_best(root, start_us, 1, EVLOG_NO_ROLLUPS="1", EVLOG_NO_CHECKPOINTS="1")
        print(
            f"| {m} months | {per_day * days:,} | {compact_s:.1f} | {float(best['seconds']):.3f} | "  # type: ignore[arg-type]
            f"{float(best['rss_mb']):.0f} | {float(checkpoint['seconds']):.3f} | "  # type: ignore[arg-type]
            f"{float(plain['seconds']):.3f} |",  # type: ignore[arg-type]
            flush=True,
        )


def one_day_best(root: Path, start_us: int, runs: int, **env: str) -> dict[str, object]:
    """The fastest of `runs` one-day reports from `start_us`, with `env` set."""
    os.environ.update(env)
    try:
        results = [spawn("evlog-day", root, start_us, start_us + DAY_US, None) for _ in range(runs)]
    finally:
        for name in env:
            del os.environ[name]
    return min(results, key=lambda r: float(r["seconds"]))  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", default="10M", help="1M, 10M, 100M, ...")
    parser.add_argument("--evses", type=int, default=0, help="default: events / 500")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--dir", default="build/bench-replay", help="where lakes are kept")
    parser.add_argument("--contenders", default=",".join(ALL))
    parser.add_argument("--traces-sample", type=int, default=100, help="EVSEs given to traces")
    parser.add_argument("--memory-limit", default="", help="evlog's DuckDB memory_limit")
    parser.add_argument("--history", default="", help="months, e.g. 1,3,6,12: one-day report cost")
    parser.add_argument("--history-evses", type=int, default=2000)
    # child mode
    parser.add_argument("--run", help=argparse.SUPPRESS)
    parser.add_argument("--lake", help=argparse.SUPPRESS)
    parser.add_argument("--start-us", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--end-us", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        child(args)
    elif args.history:
        history(args)
    else:
        whole_span(args)


if __name__ == "__main__":
    main()
