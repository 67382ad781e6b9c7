"""The column-wise import path gives what the per-record path gives: the batch parser
(`here.parse_batch`) against `parse_message` record by record, and a capture split as it is read in
small chunks against the same capture split from one buffer."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from evlog._record.derive import _derive_status_rows, derive_status_batch
from evlog._sources import here

NOW = datetime(2025, 11, 21, 12, tzinfo=UTC)

# Pieces of JSON text chosen to sit on both sides of the batch parser's pattern: mostly in it
# (so the batch parser reads most messages), each way out of it now and then.
GOOD_WS = ["", " "]
ODD_WS = ["\n", "\t ", "\r\n", "\x0b"]
GOOD_STRINGS = ["loc-1", "evse-1", "DE*ABC*E1", "a b", "AVAILABLE", "CHARGING", "OUT_OF_ORDER",
                "outOfOrder", "FAULTED", "available ", "AVAIL-ABLE", "a]b:,"]  # fmt: skip
ODD_STRINGS = ["", "x\\u0041", "caf\u00e9", "a{b", "a}b", 'q\\"', "\x7f", "\x01"]
GOOD_TIMES = ["2025-11-21T11:59:59Z", "2025-11-21T12:10:00Z", "2025-11-21T12:04:59.999999Z",
              "2024-02-29T00:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.5Z",
              "2025-11-21T12:00:00.1Z", "2025-11-21T12:05:00.000001Z"]  # fmt: skip
ODD_TIMES = ["2025-11-21T12:05:00.0000001Z", "2025-02-29T00:00:00Z", "2025-04-31T00:00:00Z",
             "2025-13-01T00:00:00Z", "2025-00-10T00:00:00Z", "2025-01-00T00:00:00Z",
             "0000-01-01T00:00:00Z", "2025-11-21T24:00:00Z", "2025-11-21T23:60:00Z",
             "2025-11-21T23:59:60Z", "2025-11-21T12:00:00+01:00", "2025-11-21 12:00:00Z",
             "2025-11-21T12:00:00z", "2025-11-21T12:00:00", "x"]  # fmt: skip


def _mostly(good: list[str], odd: list[str]) -> st.SearchStrategy[str]:
    return st.sampled_from(good * 3 + odd)


WS = _mostly(GOOD_WS, ODD_WS)
STRINGS = _mostly(GOOD_STRINGS, ODD_STRINGS)
TIMES = _mostly(GOOD_TIMES, ODD_TIMES)


@st.composite
def evse(draw: st.DrawFn) -> str:
    fields = [
        (draw(st.sampled_from(["id"] * 9 + ["uid"])), f'"{draw(STRINGS)}"'),
        ("status", f'"{draw(STRINGS)}"' if draw(st.integers(0, 19)) else "null"),
        ("last_updated", f'"{draw(TIMES)}"'),
    ]
    if draw(st.integers(0, 19)) == 0:
        fields = draw(st.permutations(fields))
    if draw(st.integers(0, 19)) == 0:
        fields.append(("connectors", "[]"))
    if draw(st.integers(0, 19)) == 0:
        fields.append(("id", '"twice"'))
    return _object(draw, fields)


def _object(draw: st.DrawFn, fields: list[tuple[str, str]]) -> str:
    w = draw(WS)
    return "{" + w + f"{w},{w}".join(f'"{k}"{w}:{draw(WS)}{v}' for k, v in fields) + w + "}"


@st.composite
def message(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 19)) == 0:
        return draw(st.sampled_from([b"", b"{", b"[]", b"null", b'{"id": "a"}', b"\xff{}"]))
    evses = draw(st.lists(evse(), min_size=draw(st.sampled_from([1] * 9 + [0])), max_size=3))
    fields = [("id", f'"{draw(STRINGS)}"'), ("evses", "[" + ",".join(evses) + "]")]
    if draw(st.integers(0, 19)) == 0:
        fields.reverse()
    return (draw(WS) + _object(draw, fields) + draw(WS)).encode()


GZIPPED = st.booleans()
RECEIVED = st.sampled_from(
    [NOW, datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC), datetime(1, 1, 1, tzinfo=UTC)]
)
SKEWS = st.sampled_from([timedelta(minutes=5), timedelta(0), timedelta(days=-1)])


def _batch(texts: list[bytes], gzipped: list[bool], received: list[datetime]) -> pa.Table:
    payloads = [gzip.compress(t, mtime=0) if z else t for t, z in zip(texts, gzipped, strict=True)]
    records = [
        here.RawStatusRecord(f"k{i}", p, r, i, "c", text=t if z and i % 2 else None)
        for i, (t, p, z, r) in enumerate(zip(texts, payloads, gzipped, received, strict=True))
    ]
    batch = here.records_table(records)
    return batch.append_column("session_id", pa.repeat(pa.scalar("s"), batch.num_rows))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(message(), GZIPPED, RECEIVED), min_size=1, max_size=12),
    SKEWS,
)
def test_batch_parse_gives_what_the_record_parser_gives(
    records: list[tuple[bytes, bool, datetime]], skew: timedelta
) -> None:
    texts, gzipped, received = (list(column) for column in zip(*records, strict=True))
    batch = _batch(texts, gzipped, received)
    column_wise = derive_status_batch(batch, skew)
    one_by_one, _ = _derive_status_rows(batch.to_pylist(), skew)
    assert column_wise.events.to_pylist() == one_by_one.events.to_pylist()
    assert column_wise.quarantine == one_by_one.quarantine


def test_the_common_shape_is_read_by_the_batch_parser() -> None:
    """The fast path is taken (else the property above compares the slow path with itself)."""
    text = b'{"id": "loc", "evses": [{"id": "e1", "status": "CHARGING", "last_updated": "2025-11-21T11:00:00Z"}]}'  # noqa: E501
    odd = b'{"id": "loc", "evses": [{"uid": "e1", "status": "CHARGING", "last_updated": "x"}]}'
    parsed = here.parse_batch(pa.array([text, odd, None]), NOW_US, timedelta(minutes=5)).parsed
    assert parsed.tolist() == [True, False, False]


NOW_US = pa.array([int(NOW.timestamp() * 1_000_000)] * 3).to_numpy()


def _data_api(messages: list[bytes]) -> bytes:
    body = [
        {"metaData": {"data": base64.b64encode(m).decode(), "timestamp": 1_763_726_400_000 + i},
         "offset": {"partition": i % 2, "offset": i}}
        for i, m in enumerate(messages)
    ]  # fmt: skip
    return here.json_bytes({"messages": body}) or b""


@st.composite
def capture(draw: st.DrawFn) -> tuple[bytes, str]:
    texts = draw(st.lists(message(), max_size=8))
    members = [gzip.compress(t, mtime=0) for t in texts]
    shape = draw(st.sampled_from(["members", "ndjson", "ndjson.gz", "api", "api.gz", "one"]))
    noise = draw(st.sampled_from([b"", b"\n", b"junk", b"\x1f\x8b\x08junk"]))
    if shape == "members":
        cut = draw(st.integers(0, 40))
        data = draw(WS).encode().join(members) + noise
        return (data[:-cut] if cut and draw(st.booleans()) else data), "c.gz"
    lines = b"\n".join(t.replace(b"\n", b" ").replace(b"\r", b" ") for t in texts) + noise
    if shape == "ndjson":
        return lines, "c.ndjson"
    if shape == "ndjson.gz":
        return gzip.compress(lines, mtime=0), "c.ndjson.gz"
    if shape == "api":
        return _data_api(texts), "c.json"
    if shape == "api.gz":
        return gzip.compress(_data_api(texts), mtime=0), "c.json.gz"
    return (texts[0] if texts else b"{}"), "c.json"


def _split(data: bytes, name: str, chunk_bytes: int, batch_size: int) -> list[dict[str, Any]]:
    stream = io.BytesIO(data)
    batches = here.split_capture_batches(stream, name, NOW, batch_size, chunk_bytes)
    return [row for batch in batches for row in batch.to_pylist()]


@settings(max_examples=300, deadline=None)
@given(capture(), st.integers(1, 64), st.integers(1, 5))
def test_split_as_read_in_chunks_gives_what_one_buffer_gives(
    captured: tuple[bytes, str], chunk_bytes: int, batch_size: int
) -> None:
    data, name = captured
    whole = _split(data, name, len(data) + 1, 1000)
    assert _split(data, name, chunk_bytes, batch_size) == whole
    records = list(here.split_capture(data, name, NOW))
    assert [r.as_row() for r in records] == whole


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(0, 6), max_size=60),
    st.integers(1, 7),
)
def test_occurrence_numbers_count_earlier_copies_across_batches(
    picks: list[int], batch_size: int
) -> None:
    """Against a Counter: each content key's `#n` is the number of earlier records of the
    capture with that key, wherever the batches are cut."""
    digests = [f"sha256:{hashlib.sha256(bytes([p])).hexdigest()}" for p in picks]
    seen = here._Occurrences()
    got: list[int] = []
    for start in range(0, len(digests), batch_size):
        got += seen.number(digests[start : start + batch_size])
    counter: Counter[str] = Counter()
    expected = []
    for digest in digests:
        expected.append(counter[digest])
        counter[digest] += 1
    assert got == expected


def test_occurrences_keep_8_bytes_a_record() -> None:
    """Memory bounded by a fixed width per record, not by the keys' text."""
    seen = here._Occurrences()
    for batch in range(20):
        seen.number([f"sha256:{batch * 5000 + n:016x}{0:048x}" for n in range(5000)])
    held = sum(chunk.nbytes for chunk in seen.chunks)
    assert held <= 8 * 100_000 and not seen.repeated
