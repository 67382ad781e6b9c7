"""The column-wise import path gives what the per-record path gives: the batch parser
(`here.parse_batch`) against `parse_message` record by record, and a capture split as it is read in
small chunks against the same capture split from one buffer."""

from __future__ import annotations

import base64
import gzip
import io
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evlog import _faults
from evlog._errors import InputError
from evlog._record.derive import _derive_status_rows, derive_status_batch
from evlog._sources import _spill, here
from evlog._sources._common import (
    MAX_RECORD_BYTES,
    LongLine,
    content_key,
    split_lines,
    too_large,
)

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


SHAPED_TIMES = [
    t
    for t in GOOD_TIMES + ODD_TIMES
    if re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z", t)
]


@given(st.lists(st.sampled_from(SHAPED_TIMES), min_size=1, max_size=8))
def test_times_read_from_their_bytes_are_what_python_reads(times: list[str]) -> None:
    """`_utc_micros` on a batch of one text width (read as one matrix) and of mixed widths
    (gathered text by text) against `datetime.fromisoformat`; texts of the pattern's shape."""
    for batch in (times, [t for t in times if len(t) == len(times[0])]):
        micros, valid = here._utc_micros(pa.array(batch, pa.string()))
        for text, us, ok in zip(batch, micros.tolist(), valid.tolist(), strict=True):
            try:
                when = datetime.fromisoformat(text)
            except ValueError:
                assert not ok, text
                continue
            assert ok, text
            assert us == (when - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def test_rows_out_of_message_order_are_noticed() -> None:
    """The batch parser relies on DuckDB keeping the input order, and checks it."""
    in_order = here._in_order(np.array([0, 0, 1, 3]), np.array([0, 1, 0, 0], np.int32))
    assert in_order
    assert not here._in_order(np.array([0, 1, 0]), np.array([0, 0, 1], np.int32))
    assert not here._in_order(np.array([0, 0]), np.array([1, 0], np.int32))


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
    """The records of one reading, without their key run (each reading has its own); a reading
    has one run, under which no key repeats (what lets a recorder not hold them), or none."""
    stream = io.BytesIO(data)
    batches = here.split_capture_batches(stream, name, NOW, batch_size, chunk_bytes)
    rows = [row for batch in batches for row in batch.to_pylist()]
    runs = {row.pop("key_run") for row in rows}
    assert len(runs) <= 1
    if runs != {None}:
        assert len({row["record_key"] for row in rows}) == len(rows)
    return rows


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
    st.lists(st.integers(0, 12), max_size=120),
    st.integers(1, 7),
)
def test_occurrence_numbers_count_earlier_copies_across_batches(
    picks: list[int], batch_size: int
) -> None:
    """Against a Counter: each content hash's `#n` is the number of earlier records of the
    capture with that hash, wherever the batches are cut."""
    prefixes = np.array([p * 0x9E3779B97F4A7C15 % 2**64 for p in picks], np.uint64)
    seen = here._Occurrences()
    seen.seen.MERGE_UP_TO = seen.repeated.MERGE_UP_TO = 4  # merging and not, on small captures
    got: list[int] = []
    for start in range(0, len(prefixes), batch_size):
        got += seen.number(prefixes[start : start + batch_size]).tolist()
    counter: Counter[int] = Counter()
    expected = []
    for pick in picks:
        expected.append(counter[pick])
        counter[pick] += 1
    assert got == expected


def test_occurrences_keep_8_bytes_a_distinct_record() -> None:
    """Memory bounded by a fixed width per distinct record (copies cost only their count)."""
    seen = here._Occurrences()
    for batch in range(20):
        seen.number(np.arange(batch * 5000, batch * 5000 + 5000, dtype=np.uint64))
    seen.number(np.arange(0, 10, dtype=np.uint64))  # ten copies
    assert seen.nbytes <= 8 * 100_000 + 16 * 10 and len(seen.seen.chunks) < 8


LINE_BYTES = st.lists(
    st.sampled_from([b"a", b"{}", b" ", b"\t", b"\x0b", b"\x0c", b"\n", b"\r", b"\r\n", b"xy"]),
    max_size=40,
).map(b"".join)


@settings(max_examples=300, deadline=None)
@given(LINE_BYTES, st.integers(1, 9))
def test_line_tables_give_what_split_lines_gives(data: bytes, chunk_bytes: int) -> None:
    """The numpy line splitter against the per-line one (`split_lines`), whatever the chunks:
    the same lines, stripped, blank ones dropped."""
    chunks = [data[i : i + chunk_bytes] for i in range(0, len(data), chunk_bytes)]
    rows = [row for table in here._line_tables(chunks) for row in table.to_pylist()]
    assert [row["payload"] for row in rows] == list(split_lines([data]))
    assert all(row["text"] == row["payload"] and row["digest"] is None for row in rows)


def test_a_line_over_the_cap_inside_a_chunk_is_cut_and_keyed_whole() -> None:
    """A chunk larger than the cap (the numpy path's long-line branch) gives what
    `split_lines` gives: the first bytes, the true size, the whole (unstripped) line's key."""
    long_line = b" {" + b"x" * MAX_RECORD_BYTES + b"} "
    data = b"a\n" + long_line + b"\n b \n"
    rows = [row for table in here._line_tables([data]) for row in table.to_pylist()]
    expected = list(split_lines([data]))
    assert isinstance(expected[1], LongLine)
    assert [r["payload"] for r in rows] == [b"a", expected[1].prefix, b"b"]
    assert rows[1]["digest"] == expected[1].record_key == content_key(long_line)
    assert rows[1]["text"] is None and rows[1]["defect"] == str(too_large(len(long_line)))
    assert rows[0]["digest"] is None and rows[0]["defect"] is None


def _reference_keys(data: bytes) -> list[str]:
    """NDJSON record keys the per-line way: `content_key` of each line, `#n` counted."""
    counter: Counter[str] = Counter()
    keys = []
    for line in split_lines([data]):
        key = line.record_key if isinstance(line, LongLine) else content_key(line)
        keys.append(f"{key}#{counter[key]}")
        counter[key] += 1
    return keys


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.sampled_from([b"{}", b'{"a":1}', b" x ", b"", b"\r", b"\xff"]), max_size=30),
    st.integers(1, 3),
)
def test_ndjson_keys_are_the_per_line_content_keys(lines: list[bytes], batch_size: int) -> None:
    """The bulk hashing and vectorised numbering against hashlib and a Counter, line by line."""
    data = b"\n".join(lines)
    batches = here.split_capture_batches(io.BytesIO(data), "c.ndjson", NOW, batch_size, 7)
    got = [key for batch in batches for key in batch.column("record_key").to_pylist()]
    assert got == _reference_keys(data)


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


B64 = base64.b64encode(b'{"id": "loc-1"}').decode()
DATA_VALUES = st.sampled_from(
    [B64] * 6 + ["", "QQ==", "QQ", "QQ===", "=QQ=", "QQ==\n", "Q Q=", "caf\u00e9", "%%%", 7, None]
)
MS_VALUES = st.sampled_from(
    [1_763_700_000_000, 1_763_700_000_001, 0, 1, 4_102_444_799_999] * 3
    + [4_102_444_800_000, 253_402_300_800_000, 2**62, -1, 1.5e12, True, "1763700000000", None]
)
OFFSET_VALUES = st.sampled_from([0, 1, 7, 2**31 - 1] * 3 + [2**31, 2**63, -1, 1.0, True, "3"])


@st.composite
def data_api_message(draw: st.DrawFn) -> Any:
    shape = draw(st.sampled_from(["usual"] * 8 + ["odd"]))
    if shape == "odd":
        return draw(st.sampled_from([[], "x", 3, None, {}, {"metaData": 1}, {"offset": {}}]))
    meta: dict[str, Any] = {"partition": "1", "timestamp": draw(MS_VALUES)}
    meta["data"] = draw(DATA_VALUES)
    if draw(st.integers(0, 9)) == 0:
        del meta["data"]
        meta["dataHandle"] = "h-1"
    if draw(st.integers(0, 19)) == 0:
        meta["extra"] = _nested(draw(st.sampled_from([3, 252, 253])))
    offset = {"partition": draw(OFFSET_VALUES), "offset": draw(OFFSET_VALUES)}
    return {"metaData": meta, "offset": offset}


@given(st.lists(data_api_message(), min_size=1, max_size=30), st.integers(0, 5))
@settings(max_examples=300, deadline=None)
def test_data_api_columns_give_what_the_record_path_gives(messages: list[Any], first: int) -> None:
    """`data_api_table` (column-wise, the consumer's and a saved response's path) against
    `records_table` of `data_api_record` message by message: same rows, same order, same defects."""
    expected = here.records_table(
        [here.data_api_record(m, "cap", first + i, NOW) for i, m in enumerate(messages)]
    )
    got = here.data_api_table(messages, "cap", NOW, first)
    assert got.schema == expected.schema
    assert got.to_pylist() == expected.to_pylist()


def test_data_api_columns_take_the_usual_message_without_the_record_path() -> None:
    """The usual message does not go through the per-record function (that is the speed)."""
    usual = {
        "metaData": {"data": B64, "timestamp": 1_763_700_000_000},
        "offset": {"partition": 2, "offset": 9},
    }
    slow_calls: list[int] = []

    def slow(message: Any, index: int) -> here.RawStatusRecord:
        slow_calls.append(index)
        return here.data_api_record(message, "cap", index, NOW)

    table = here.data_api_table([usual, {"odd": 1}, usual], "cap", NOW, slow=slow)
    assert slow_calls == [1]
    assert table["record_key"].to_pylist() == [
        "kafka:2:9",
        here.data_api_record({"odd": 1}, "cap", 1, NOW).record_key,
        "kafka:2:9",
    ]
    assert table["received_at"].to_pylist()[0] == datetime(2025, 11, 21, 4, 40, tzinfo=UTC)


POOL = [b'{"id": "a", "evses": []}', b'{"id": "b", "evses": []}', b"junk", b'{"id": "c"}']


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, len(POOL) - 1), max_size=60),
    st.sampled_from(["members", "ndjson"]),
    st.integers(0, 61),
    st.integers(1, 7),
)
def test_a_capture_numbered_on_disk_gets_the_keys_numbering_in_memory_gives(
    picks: list[int], shape: str, spill_after: int, batch_size: int
) -> None:
    """Past `spill_after` records a capture is set aside and numbered on disk (`_spill`): the
    batches, keys and every other column are what numbering in memory gives, and each `#n`
    counts the earlier copies (a Counter)."""
    texts = [POOL[i] for i in picks]
    if shape == "members":
        data, name = b"".join(gzip.compress(t, mtime=0) for t in texts), "c.gz"
    else:
        data, name = b"\n".join(texts), "c.ndjson"

    def split(after: int) -> list[dict[str, Any]]:
        batches = here.split_capture_batches(
            io.BytesIO(data), name, NOW, batch_size, spill_after=after
        )
        return [row | {"key_run": None} for b in batches for row in b.to_pylist()]

    in_memory = split(len(texts) + 1)
    assert split(spill_after) == in_memory
    counter: Counter[bytes] = Counter()
    for text, row in zip(texts, in_memory, strict=True):
        assert row["record_key"].endswith(f"#{counter[text]}")
        counter[text] += 1


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 9), max_size=80),
    st.lists(st.integers(0, 3), min_size=10, max_size=10),
    st.integers(1, 9),
    st.integers(1, 5),
)
def test_spilled_numbers_rank_each_record_among_earlier_copies(
    picks: list[int], before: list[int], batch_size: int, read_rows: int
) -> None:
    """Against a Counter, with DuckDB's sorted output read a few rows at a time (a group of
    copies spans reads): number = the count from the part numbered in memory + earlier copies in
    the spilled part."""
    prefixes = np.array([p * 0x9E3779B97F4A7C15 % 2**64 for p in picks], np.uint64)
    got: list[int] = []
    with _spill.SpilledNumbers(read_rows) as spilled:
        for start in range(0, len(picks), batch_size):
            part = prefixes[start : start + batch_size]
            rows = pa.table({"n": np.arange(start, start + len(part))})
            spilled.add(
                rows,
                part,
                np.array([before[p] for p in picks[start : start + batch_size]], np.int64),
            )
        for rows, numbers in spilled.numbered():
            assert rows.column_names == ["n"]
            got += numbers.tolist()
    counter: Counter[int] = Counter()
    expected = []
    for pick in picks:
        expected.append(before[pick] + counter[pick])
        counter[pick] += 1
    assert got == expected


def test_a_full_temporary_directory_is_one_line_that_names_it() -> None:
    """Setting a long capture aside needs room in TMPDIR: a full disk there is an `InputError`
    (the CLI's one line), not a traceback, and nothing past the in-memory part is yielded."""
    data = b"".join(gzip.compress(POOL[i % 2], mtime=0) for i in range(30))
    batches = here.split_capture_batches(io.BytesIO(data), "c.gz", NOW, 5, spill_after=10)
    _faults.arm("spill.add", "enospc")
    try:
        yielded = 0
        with pytest.raises(InputError, match=r"aside in .+ \(TMPDIR\): No space left"):
            for batch in batches:
                yielded += batch.num_rows
    finally:
        _faults.disarm()
    assert yielded == 10
