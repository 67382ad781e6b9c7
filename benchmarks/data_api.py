"""Data API responses to a raw batch: the consumer's conversion, column-wise against per record.

    .venv/bin/python benchmarks/data_api.py [--messages 5000] [--rounds 7]

One `partitions` response of `--messages` synthetic HERE messages (each a base64 gzip member,
as the stream carries them), parsed once by orjson as the client does; then, alternately and
timed in process CPU time (best of `--rounds`), `here.data_api_table` (what the consumer runs)
and the per-record path it replaced, `records_table` of `data_api_record` per message. The two
results are compared row by row.
"""

from __future__ import annotations

import argparse
import base64
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.stream_path import T_MS, message
from evlog._sources import here


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    response = orjson.dumps(
        {
            "messages": [
                {
                    "metaData": {
                        "partition": "1",
                        "checksum": "c",
                        "timestamp": T_MS + i,
                        "data": base64.b64encode(message(i)).decode(),
                        "dataSize": 150,
                    },
                    "offset": {"partition": i % 4, "offset": i},
                }
                for i in range(args.messages)
            ]
        }
    )
    messages = orjson.loads(response)["messages"]
    now = datetime.now(UTC)
    best = {"per record": float("inf"), "column-wise": float("inf")}
    for _ in range(args.rounds):
        started = time.process_time()
        expected = here.records_table(
            [here.data_api_record(m, "c", i, now) for i, m in enumerate(messages)]
        )
        best["per record"] = min(best["per record"], time.process_time() - started)
        started = time.process_time()
        got = here.data_api_table(messages, "c", now)
        best["column-wise"] = min(best["column-wise"], time.process_time() - started)
    assert got.equals(expected), "the two paths disagree"
    print(f"{'conversion':<14}{'messages':>10}{'CPU ms':>10}{'msg/s':>12}{'x per record':>14}")
    for name, seconds in best.items():
        ratio = best["per record"] / seconds
        print(
            f"{name:<14}{args.messages:>10,}{seconds * 1e3:>10.1f}"
            f"{args.messages / seconds:>12,.0f}{ratio:>14.2f}"
        )


if __name__ == "__main__":
    main()
