"""Builders of real feed bytes for tests: gzip members, NDJSON, Data API responses, webhooks."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any


def message(location: str, *evses: tuple[str, str, str]) -> dict[str, Any]:
    """A HERE EVCP2 message; each EVSE given as (evse id, status, last_updated)."""
    return {
        "id": location,
        "evses": [{"id": e, "status": s, "last_updated": t} for e, s, t in evses],
    }


def gz(value: dict[str, Any] | bytes) -> bytes:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return gzip.compress(raw, mtime=0)


def members(*values: dict[str, Any] | bytes) -> bytes:
    """A capture of concatenated gzip members, one message each."""
    return b"".join(gz(v) for v in values)


def ndjson(*values: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(v).encode() + b"\n" for v in values)


def data_api_response(*items: tuple[int, int, int, bytes]) -> bytes:
    """A Data API `partitions` response; items are (partition, offset, timestamp ms, gzip bytes)."""
    return json.dumps(
        {
            "messages": [
                {
                    "metaData": {
                        "partition": str(p),
                        "data": base64.b64encode(data).decode(),
                        "timestamp": ts,
                    },
                    "offset": {"partition": p, "offset": o},
                }
                for p, o, ts, data in items
            ]
        }
    ).encode()


def webhook(
    webhook_id: str, station: str, online: bool, at: str | None, **extra: Any
) -> dict[str, Any]:
    """An eDRV chargestation.online/offline body with the station's source time `at`."""
    data: dict[str, Any] = {"_id": station, "online": online, **extra}
    if at is not None:
        data["lastConnectAt" if online else "lastDisconnectAt"] = at
    return {
        "_id": webhook_id,
        "event": "chargestation.online" if online else "chargestation.offline",
        "object": "chargestation",
        "data": data,
    }


def jsonl(*values: dict[str, Any] | bytes) -> bytes:
    return b"".join((v if isinstance(v, bytes) else json.dumps(v).encode()) + b"\n" for v in values)
