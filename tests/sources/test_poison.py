"""Poison records through the real importers: each is quarantined with a precise reason, the rest
of its batch is stored, and the import exits 0."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from evlog._lake.layout import Lake
from evlog._lake.names import Table
from tests import feeds

T = "2024-04-05T11:00:00Z"
RECEIVED_MS = 1712318400000


def deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


def with_deep_field(levels: int) -> bytes:
    """A good message with one extra field nested `levels` deep (beyond what json.dumps writes)."""
    good = json.dumps({"id": "l", "evses": [evse()]}).encode()
    return good[:-1] + b', "x": ' + b"[" * levels + b"1" + b"]" * levels + b"}"


def evlog(*args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "evlog", *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr


def quarantine(lake: Path) -> dict[int, tuple[str, str]]:
    rows = Lake.open(lake).read(Table.QUARANTINE).to_pylist()
    return {r["arrival_index"]: (r["reason"], r["detail"]) for r in rows}


def evse(status: Any = "AVAILABLE", at: Any = T, evse_id: Any = "e") -> dict[str, Any]:
    return {"id": evse_id, "status": status, "last_updated": at}


# (line, expected quarantine (reason, start of detail) or None for a good record)
STATUS_LINES: list[tuple[bytes, tuple[str, str] | None]] = [
    (json.dumps({"id": "l", "evses": [evse()]}).encode(), None),
    (
        json.dumps({"id": "l", "evses": [evse(at="0001-01-01T00:00:00+01:00")]}).encode(),
        ("unparseable time", "evses[0]: last_updated='0001-01-01T00:00:00+01:00'"),
    ),
    (
        json.dumps({"id": "l", "evses": [evse(at="9999-12-31T23:59:59-01:00")]}).encode(),
        ("unparseable time", "evses[0]: last_updated='9999-12-31T23:59:59-01:00'"),
    ),
    (b'{"id": "l", "evses": null}', ("missing evses", "evses=null")),
    (b'{"id": "l", "evses": [[1, 2]]}', ("not a JSON object", "evses[0]: evse entry=[1,2]")),
    (b'{"id": "l", "evses": [5]}', ("not a JSON object", "evses[0]: evse entry=5")),
    (json.dumps({"id": 5, "evses": [evse()]}).encode(), ("missing id", "location id=5")),
    (
        json.dumps({"id": "l", "evses": [evse(status=5)]}).encode(),
        ("missing status", "evses[0]: evse e: status=5"),
    ),
    (
        json.dumps({"id": "l", "evses": [evse(at=10**30)]}).encode(),
        ("unparseable time", "evses[0]: last_updated=1e+30"),
    ),
    (json.dumps({"id": "l", "evses": [evse(evse_id=1e300)]}).encode(), ("missing id", "evses[0]")),
    (with_deep_field(900), None),
    (with_deep_field(2000), ("invalid JSON", "depth limit exceeded")),
    (json.dumps({"id": "l", "evses": [evse(at="9999-12-31T23:59:59Z")]}).encode(), None),
    (json.dumps({"id": "l2", "evses": [evse(status="CHARGING")]}).encode(), None),
]


def test_poison_status_lines_are_quarantined_the_rest_stored(tmp_path: Path) -> None:
    capture = tmp_path / "capture.ndjson"
    capture.write_bytes(b"\n".join(line for line, _ in STATUS_LINES) + b"\n")
    # --no-compact: the clamped lines reach today, and compaction is not what is tested here
    evlog("record", "stream", "--no-compact", "--lake", str(tmp_path / "lake"), str(capture))
    expected = {i: e for i, (_, e) in enumerate(STATUS_LINES) if e is not None}
    found = quarantine(tmp_path / "lake")
    assert set(found) == set(expected)
    for index, (reason, detail) in expected.items():
        assert found[index][0] == reason, (index, found[index])
        assert found[index][1].startswith(detail), (index, found[index])
    events = Lake.open(tmp_path / "lake").read(Table.STATUS_EVENTS).to_pylist()
    good = {i for i, (_, e) in enumerate(STATUS_LINES) if e is None}
    assert {e["arrival_index"] for e in events} == good


def _message(meta: Any, offset: Any, **extra: Any) -> dict[str, Any]:
    return {"metaData": meta, "offset": offset, **extra}


def _meta(timestamp: Any = RECEIVED_MS, **extra: Any) -> dict[str, Any]:
    payload = feeds.gz(feeds.message("l", ("e", "AVAILABLE", T)))
    return {"data": base64.b64encode(payload).decode(), "timestamp": timestamp, **extra}


def test_poison_data_api_messages_in_a_saved_response(tmp_path: Path) -> None:
    messages = [
        (_message(_meta(), {"partition": 0, "offset": 10}), None),
        (_message(None, {"partition": 0, "offset": 11}), ("not a JSON object", "metaData=null")),
        (_message(_meta(), None), None),  # no offset: a content key, still a record
        (
            _message(_meta(timestamp=1e20), {"partition": 0, "offset": 13}),
            ("unparseable time", "metaData.timestamp=1e+20"),
        ),
        (_message(_meta(), {"partition": True, "offset": 14}), None),
        (_message(_meta(), {"partition": 0, "offset": 2**64 - 1}), None),
        (_message(_meta(x=deep(400)), None), ("invalid JSON", "nested too deeply")),
        (_message(_meta(), {"partition": 0, "offset": 17}), None),
    ]
    response = tmp_path / "response.json"
    response.write_text(json.dumps({"messages": [m for m, _ in messages]}))
    evlog("record", "stream", "--lake", str(tmp_path / "lake"), str(response))
    lake = Lake.open(tmp_path / "lake")
    raw = lake.read(Table.RAW_STATUS).to_pylist()
    assert len(raw) == len(messages)
    reasons = sorted((r["reason"], r["detail"]) for r in lake.read(Table.QUARANTINE).to_pylist())
    assert reasons == sorted(e for _, e in messages if e is not None)
    events = lake.read(Table.STATUS_EVENTS).to_pylist()
    assert len(events) == sum(e is None for _, e in messages)


def test_poison_webhooks_are_quarantined_the_rest_stored(tmp_path: Path) -> None:
    def body(webhook_id: str, online: bool, at: Any, **data: Any) -> dict[str, Any]:
        return feeds.webhook(webhook_id, "st", online, at, **data)

    null_data = {**body("w4", True, T), "data": None}
    lines: list[tuple[dict[str, Any], tuple[str, str] | None]] = [
        (body("w1", True, T), None),
        (
            body("w2", True, "0001-01-01T00:00:00+01:00"),
            ("unparseable time", "lastConnectAt='0001-01-01T00:00:00+01:00'"),
        ),
        (
            body("w3", False, "9999-12-31T23:59:59-01:00"),
            ("unparseable time", "lastDisconnectAt='9999-12-31T23:59:59-01:00'"),
        ),
        (null_data, ("missing station id", "data=null")),
        ({**body("w5", True, T), "data": {"_id": 5}}, ("missing station id", "data._id=5")),
        ({**body("w6", True, T), "event": 5}, ("missing event", "event=5")),
        (body("w7", True, 10**30), ("unparseable time", "lastConnectAt=1e+30")),
        (
            {"received_at": "9999-12-31T23:59:00Z", "body": body("w8", True, "9999-12-31T23:58Z")},
            None,
        ),
        ({"received_at": T, "headers": {"x": deep(300)}, "body": body("w9", True, T)}, None),
        ({"received_at": T, "body": body("w10", True, T, x=deep(300))}, ("missing event", "")),
        (body("w11", False, T), None),
    ]
    saved = tmp_path / "webhooks.jsonl"
    saved.write_bytes(feeds.jsonl(*(line for line, _ in lines)))
    evlog("record", "webhooks", "--lake", str(tmp_path / "lake"), "--from", str(saved))
    expected = {i: e for i, (_, e) in enumerate(lines) if e is not None}
    found = quarantine(tmp_path / "lake")
    assert set(found) == set(expected)
    for index, (reason, detail) in expected.items():
        assert found[index][0] == reason, (index, found[index])
        assert found[index][1].startswith(detail), (index, found[index])
    events = Lake.open(tmp_path / "lake").read(Table.CONNECTIVITY_EVENTS).to_pylist()
    assert {e["arrival_index"] for e in events} == {i for i, (_, e) in enumerate(lines) if not e}
