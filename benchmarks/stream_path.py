"""Stream path benchmark: messages/s from capture to durable Parquet.

    .venv/bin/python benchmarks/stream_path.py [--messages 200000] [--batch 5000] [--profile]

Rows of the table, all on the same synthetic messages (HERE EVCP2 shape, one EVSE each, gzip):

- floor: gunzip + orjson.loads of every message, nothing stored (what parsing alone costs);
- offline import: `evlog._record.offline.record_stream` of one capture file of concatenated gzip
  members into a fresh lake (split, dedupe, raw + events Parquet, fsync);
- consumer: `evlog._record.consumer.consume` against the fake HERE Data API (tests/fakes), served
  by another process on loopback, `--batch` messages per `partitions` response; includes HTTP,
  base64, JSON of the responses and the offset commits.

`--profile` runs the offline import under cProfile and prints the top functions.
"""

from __future__ import annotations

import argparse
import cProfile
import gzip
import multiprocessing as mp
import pstats
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evlog._lake.layout import Lake
from evlog._record.consumer import consume
from evlog._record.offline import record_stream
from evlog._sources._http import RetryPolicy
from evlog._sources.here_api import DataApiClient, StaticToken

STATUSES = ("AVAILABLE", "CHARGING", "OUT_OF_ORDER", "INOPERATIVE", "RESERVED")
T_MS = 1_763_700_000_000


def message(i: int) -> bytes:
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
    return gzip.compress(orjson.dumps(body), compresslevel=6, mtime=0)


def floor(messages: list[bytes]) -> int:
    count = 0
    for payload in messages:
        orjson.loads(zlib.decompress(payload, wbits=31))
        count += 1
    return count


def offline(messages: list[bytes], work: Path) -> int:
    capture = work / "capture.gz"
    capture.write_bytes(b"".join(messages))
    summary = record_stream(work / "lake-offline", [str(capture)])
    return summary.recorded


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
    args = parser.parse_args()

    messages = [message(i) for i in range(args.messages)]
    rows: list[tuple[str, int, float]] = []
    with tempfile.TemporaryDirectory(prefix="evlog-bench-") as tmp:
        work = Path(tmp)
        rows.append(("floor: gunzip + orjson", *timed(lambda: floor(messages))))
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
        rows.append(("offline import (record_stream)", *timed(lambda: offline(messages, work))))
        if args.profile:
            profiler.disable()
        if not args.skip_consumer:
            consumer_profile = cProfile.Profile() if args.profile_consumer else None
            rows.append((f"consumer (fake Data API, {args.batch}/batch)", *consumer(
                args.messages, args.batch, work, consumer_profile)))  # fmt: skip
    print(f"{'path':<42} {'messages':>10} {'seconds':>9} {'msg/s':>10}")
    for name, count, seconds in rows:
        print(f"{name:<42} {count:>10,} {seconds:>9.2f} {count / seconds:>10,.0f}")
    if args.profile:
        print()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
