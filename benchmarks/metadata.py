"""Station and port metadata: what deriving `entity_metadata` costs the recorders, and what the
metadata filters and groups cost a report.

    .venv/bin/python benchmarks/metadata.py [--stations 500] [--webhooks 100000] [--connectors 4]

One saved-webhooks file of `--webhooks` chargestation.online/offline bodies (each a Chargestation
with `--connectors` connectors, as evlog's simulator writes them) over `--stations` stations,
then, in this process:

- derivation of the webhook batch (`derive_webhooks`, what every recorder runs per batch) with the
  metadata, against the same derivation with the metadata switched off (the baseline, same run);
- the import itself (`evlog.record_webhook_files`, compaction off): records/s;
- `uptime --by none` plain, with `--rapid`, with `--model`, and `--group model` (median of 3).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import evlog
from evlog._lake.layout import Lake
from evlog._lake.names import Source, Table
from evlog._record import derive
from evlog._sources import edrv
from evlog._sources._common import DEFAULT_SKEW_TOLERANCE
from evlog._sources.ocpp import DEFAULT_STATUS_MAP

MODELS = [
    ("ABB", "Terra 54 CJG", 50),
    ("Alpitronic", "HYC150", 150),
    ("Wallbox", "Commander 2", 22),
]


def saved_webhooks(path: Path, stations: int, webhooks: int, connectors: int) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    step = timedelta(days=30) / webhooks
    with path.open("wb") as out:
        for n in range(webhooks):
            station = n % stations
            vendor, model, power = MODELS[station % len(MODELS)]
            at = (start + n * step).isoformat().replace("+00:00", "Z")
            online = (n // stations) % 2 == 0
            data = {
                "_id": f"st-{station:05d}",
                "vendor": vendor,
                "model": model,
                "ocppVersion": "1.6-J",
                "online": online,
                "lastConnectAt" if online else "lastDisconnectAt": at,
                "connectors": [
                    {"_id": f"c-{station:05d}-{k}", "status": "Available", "type": "CCS",
                     "format": "Cable", "power": power, "powerType": "DC"}
                    for k in range(connectors)
                ],
            }  # fmt: skip
            event = "chargestation.online" if online else "chargestation.offline"
            body = {"_id": f"w{n}", "event": event, "object": "chargestation", "data": data}
            out.write(orjson.dumps({"received_at": at, "body": body}) + b"\n")


def timed(run: Callable[[], Any], repeat: int = 1) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stations", type=int, default=500)
    parser.add_argument("--webhooks", type=int, default=100_000)
    parser.add_argument("--connectors", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        capture = root / "hooks.jsonl"
        saved_webhooks(capture, args.stations, args.webhooks, args.connectors)
        rows = [
            {"record_key": s.record_key, "webhook_id": s.webhook_id, "payload": s.body,
             "headers": None, "received_at": s.received_at, "arrival_index": i,
             "capture": "bench", "session_id": "bench"}
            for i, s in enumerate(edrv.read_saved_webhooks(capture.read_bytes()))
        ]  # fmt: skip
        skew = DEFAULT_SKEW_TOLERANCE

        def with_metadata() -> None:
            derive.derive_webhooks(rows, skew)

        def without_metadata() -> None:  # the same derivation, describing nothing
            derive._derive_edrv(
                rows, skew, DEFAULT_STATUS_MAP, edrv.read_webhook_body,
                lambda body, connectors: None, Source.EDRV_WEBHOOKS,
            )  # fmt: skip

        plain, described = timed(without_metadata, 3), timed(with_metadata, 3)
        print(f"derive {len(rows):,} webhooks: {plain:.2f} s without metadata, {described:.2f} s "
              f"with ({described / plain:.2f}x)")  # fmt: skip
        lake_root = root / "lake"
        began = time.perf_counter()
        evlog.record_webhook_files(lake_root, [str(capture)], compact=False)
        elapsed = time.perf_counter() - began
        metadata_rows = Lake.open(lake_root).read(Table.ENTITY_METADATA).num_rows
        print(f"import: {elapsed:.2f} s ({len(rows) / elapsed:,.0f} records/s), "
              f"{metadata_rows:,} entity_metadata rows")  # fmt: skip
        lake = evlog.open_lake(lake_root)
        base = timed(lambda: lake.uptime(by="none"), 3)
        print(f"uptime --by none: {base:.3f} s")
        for label, options in [
            ("--rapid", {"rapid": True}),
            ("--model HYC150", {"model": "HYC150"}),
            ("--group model", {"group": "model"}),
        ]:
            took = timed(lambda options=options: lake.uptime(by="none", **options), 3)
            print(f"uptime --by none {label}: {took:.3f} s ({took / base:.2f}x)")
        listing = timed(lambda: lake.metadata(), 3)
        print(f"report metadata: {listing:.3f} s")


if __name__ == "__main__":
    main()
