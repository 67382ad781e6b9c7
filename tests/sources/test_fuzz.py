"""Arbitrary bytes and JSON through the splitters and parsers: only RecordError may escape a
parser, nothing escapes a splitter, and derivation never raises."""

from __future__ import annotations

import contextlib
import gzip
import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from evlog._errors import RecordError
from evlog._record.derive import derive_status, derive_webhooks
from evlog._sources import edrv, here
from evlog._sources._common import DEFAULT_SKEW_TOLERANCE


def dumps(value: Any) -> bytes:
    return json.dumps(value).encode()  # any integer, where orjson stops at 64 bits


NOW = datetime(2024, 4, 5, 12, tzinfo=UTC)
TIMES = st.sampled_from(
    ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "9999-12-31T23:59:59Z", "x"]
)
SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text() | TIMES
KEYS = st.sampled_from(
    ["id", "evses", "status", "last_updated", "uid", "event", "type", "data", "_id",
     "lastConnectAt", "lastDisconnectAt", "metaData", "offset", "partition", "timestamp",
     "messages", "body", "received_at", "headers", "object"]
)  # fmt: skip
SHAPED: Any = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=6),
    max_leaves=16,
)


def encodings(value: Any) -> list[bytes]:
    text = dumps(value)
    return [text, gzip.compress(text), text + b"\n" + text, gzip.compress(text) * 2]


def raw_row(record: here.RawStatusRecord) -> dict[str, Any]:
    return {**record.as_row(), "session_id": "s"}


@settings(max_examples=250, deadline=None)
@given(SHAPED | st.binary(max_size=300))
def test_arbitrary_input_through_every_splitter_and_parser(value: Any) -> None:
    texts = [value, gzip.compress(value)] if isinstance(value, bytes) else encodings(value)
    for text in texts:
        response = dumps({"messages": [value, value]}) if not isinstance(value, bytes) else text
        for capture, name in ((text, "c"), (text, "c.ndjson.gz"), (response, "c")):
            records = list(here.split_capture(capture, name, NOW))
            derive_status([raw_row(r) for r in records], DEFAULT_SKEW_TOLERANCE)
        here.parse_message(text, NOW)  # reports problems, never raises
        with contextlib.suppress(RecordError):
            edrv.parse_webhook(text, NOW)
        saved = list(edrv.read_saved_webhooks(text))
        rows = [
            {
                "record_key": s.record_key,
                "webhook_id": s.webhook_id,
                "payload": s.body,
                "received_at": s.received_at or NOW,
                "arrival_index": i,
                "capture": "c",
                "session_id": "s",
            }
            for i, s in enumerate(saved)
        ]
        derive_webhooks(rows, DEFAULT_SKEW_TOLERANCE)
