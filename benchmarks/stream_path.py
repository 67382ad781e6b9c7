"""Stream path benchmark: messages/s from capture to durable Parquet.

    .venv/bin/python benchmarks/stream_path.py [--messages 200000] [--batch 5000] [--profile]
    .venv/bin/python benchmarks/stream_path.py --rss 500000,2000000,5000000

Rows of the table, all on the same synthetic messages (HERE EVCP2 shape, one EVSE each, gzip):

- floor: gunzip + orjson.loads of every message, nothing stored (what parsing alone costs);
- straightforward importer: json.loads per line of the NDJSON capture -> Arrow columns (the
  fields and the raw line) -> one Parquet file: what a plain script does, without dedupe,
  quarantine or the lake's layout;
- offline import: `evlog._record.offline.record_stream` of one capture file into a fresh lake
  (split, dedupe, raw + events Parquet, fsync), of concatenated gzip members and of NDJSON;
- consumer: `evlog._record.consumer.consume` against the fake HERE Data API (tests/fakes), served
  by another process on loopback, `--batch` messages per `partitions` response; includes HTTP,
  base64, JSON of the responses and the offset commits.

`--profile` runs the offline import under cProfile and prints the top functions.
`--rss N,M,...` imports NDJSON captures of N, M, ... records, each in a fresh process, and prints
their peak RSS (memory bounded by the batch shows as a flat column).
"""

from __future__ import annotations

import argparse
import cProfile
import gzip
import json
import multiprocessing as mp
import pstats
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evlog._lake.layout import Lake
from evlog._record.consumer import consume
from evlog._record.offline import record_stream
from evlog._sources._http import RetryPolicy
from evlog._sources.here_api import DataApiClient, StaticToken

STATUSES = ("AVAILABLE", "CHARGING", "OUT_OF_ORDER", "INOPERATIVE", "RESERVED")
T_MS = 1_763_700_000_000


def message(i: int) -> bytes:
    return gzip.compress(text(i), compresslevel=6, mtime=0)


def text(i: int) -> bytes:
    body = {
        "id": f"loc-{i % 5000}",
        "evses": [
            {
                "id": f"evse-{i % 20000}",
                "status": STATUSES[i % len(STATUSES)],
                "last_updated": f"2025-11-21T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:"
                f"{i % 60:02d}Z",
            }
        ],
    }
    return orjson.dumps(body)


def floor(messages: list[bytes]) -> int:
    count = 0
    for payload in messages:
        orjson.loads(zlib.decompress(payload, wbits=31))
        count += 1
    return count


def straightforward(capture: Path, work: Path) -> int:
    """json.loads per line -> Arrow columns with the raw line kept -> Parquet."""
    columns: dict[str, list[object]] = {
        n: [] for n in ("location_id", "evse_id", "status", "last_updated", "raw")
    }
    with capture.open("rb") as lines:
        for line in lines:
            message = json.loads(line)
            for evse in message["evses"]:
                columns["location_id"].append(message["id"])
                columns["evse_id"].append(evse["id"])
                columns["status"].append(evse["status"])
                columns["last_updated"].append(evse["last_updated"])
                columns["raw"].append(line)
    pq.write_table(pa.table(columns), work / "straightforward.parquet")
    return len(columns["raw"])


def write_ndjson(path: Path, count: int) -> Path:
    with path.open("wb") as out:
        for start in range(0, count, 100_000):
            out.write(b"".join(text(i) + b"\n" for i in range(start, min(count, start + 100_000))))
    return path


def offline(capture: Path, work: Path) -> int:
    summary = record_stream(work / f"lake-{capture.name}", [str(capture)])
    return summary.recorded


def peak_rss(count: int, work: Path) -> tuple[int, float, float]:
    """Import an NDJSON capture of `count` records in a fresh process: (records, s, peak MB)."""
    capture = write_ndjson(work / f"rss-{count}.ndjson", count)
    code = (
        "import sys, time, resource; sys.path.insert(0, sys.argv[3]);"
        "from evlog._record.offline import record_stream; t = time.perf_counter();"
        "n = record_stream(sys.argv[1], [sys.argv[2]]).recorded;"
        "print(n, time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    root = str(Path(__file__).resolve().parents[1])
    done = subprocess.run(
        [sys.executable, "-c", code, str(work / f"lake-rss-{count}"), str(capture), root],
        capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode:
        sys.exit(f"the import of {count:,} records failed:\n{done.stderr}")
    out = done.stdout.split()
    capture.unlink()
    return int(out[0]), float(out[1]), int(out[2]) / 1024


def _serve_fake(count: int, batch: int, partitions: int, queue: mp.Queue[str]) -> None:
    from tests.fakes.here_server import FakeHere

    fake = FakeHere(batch_size=batch, require_token=False)
    for i in range(count):
        fake.add(i % partitions, message(i), T_MS + i)
    server = fake.serve()
    server.start()
    queue.put(fake.lookup_url)
    while True:
        time.sleep(3600)


def consumer(
    count: int, batch: int, work: Path, profiler: cProfile.Profile | None = None
) -> tuple[int, float]:
    ctx = mp.get_context("spawn")
    queue: mp.Queue[str] = ctx.Queue()
    proc = ctx.Process(target=_serve_fake, args=(count, batch, 4, queue), daemon=True)
    proc.start()
    try:
        lookup_url = queue.get(timeout=600)
        api = DataApiClient(
            "hrn:here:data::olp-here:evcp2-updates-prd",
            "evse-update-stream",
            StaticToken("bench"),
            lookup_url=lookup_url,
            retry=RetryPolicy(attempts=3, base_s=0.1),
        )
        lake = Lake.create(work / "lake-consumer")
        start = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        stats = consume(lake, api, until_idle=True, heartbeat_every=timedelta(seconds=20))
        if profiler is not None:
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
        elapsed = time.perf_counter() - start
        api.close()
        return stats.recorded, elapsed
    finally:
        proc.terminate()
        proc.join(5)


def timed(fn: Callable[[], int]) -> tuple[int, float]:
    start = time.perf_counter()
    count = fn()
    return count, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=5000, help="messages per partitions response")
    parser.add_argument("--skip-consumer", action="store_true")
    parser.add_argument("--profile", action="store_true", help="cProfile the offline import")
    parser.add_argument("--profile-consumer", action="store_true", help="cProfile the consumer")
    parser.add_argument("--rss", help="comma-separated capture sizes: peak RSS of each import")
    args = parser.parse_args()
    if args.rss:
        with tempfile.TemporaryDirectory(prefix="evlog-bench-") as tmp:
            print(f"{'records':>10} {'seconds':>9} {'msg/s':>10} {'peak RSS MB':>12}")
            for size in (int(n) for n in args.rss.split(",")):
                count, seconds, megabytes = peak_rss(size, Path(tmp))
                print(f"{count:>10,} {seconds:>9.2f} {count / seconds:>10,.0f} {megabytes:>12.0f}")
        return

    messages = [message(i) for i in range(args.messages)]
    rows: list[tuple[str, int, float]] = []
    with tempfile.TemporaryDirectory(prefix="evlog-bench-") as tmp:
        work = Path(tmp)
        members = work / "capture.gz"
        members.write_bytes(b"".join(messages))
        ndjson = write_ndjson(work / "capture.ndjson", args.messages)
        rows.append(("floor: gunzip + orjson", *timed(lambda: floor(messages))))
        rows.append(("straightforward importer (NDJSON)", *timed(
            lambda: straightforward(ndjson, work))))  # fmt: skip
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
        rows.append(("offline import, gzip members", *timed(lambda: offline(members, work))))
        if args.profile:
            profiler.disable()
        rows.append(("offline import, NDJSON", *timed(lambda: offline(ndjson, work))))
        if not args.skip_consumer:
            consumer_profile = cProfile.Profile() if args.profile_consumer else None
            rows.append((f"consumer (fake Data API, {args.batch}/batch)", *consumer(
                args.messages, args.batch, work, consumer_profile)))  # fmt: skip
    floor_rate = rows[0][1] / rows[0][2]
    plain_rate = rows[1][1] / rows[1][2]
    print(
        f"{'path':<42} {'messages':>10} {'seconds':>9} {'msg/s':>10} {'x floor':>8} {'x plain':>8}"
    )
    for name, count, seconds in rows:
        rate = count / seconds
        print(
            f"{name:<42} {count:>10,} {seconds:>9.2f} {rate:>10,.0f}"
            f" {rate / floor_rate:>8.2f} {rate / plain_rate:>8.2f}"
        )
    if args.profile:
        print()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
