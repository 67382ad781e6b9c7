"""Size caps: a gzip member or a line beyond MAX_RECORD_BYTES is quarantined as "record too
large" with its first bytes kept, in bounded memory, and the rest of the capture is stored."""

from __future__ import annotations

import gzip
import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from evlog._errors import RecordError
from evlog._lake.layout import Lake
from evlog._lake.names import QuarantineReason, Table
from evlog._record.offline import record_stream, record_webhook_files
from evlog._sources import here
from evlog._sources._common import KEPT_PREFIX_BYTES, MAX_RECORD_BYTES
from evlog._upkeep.maintenance import rebuild
from tests import feeds

T = "2024-04-05T11:00:00Z"
GOOD_A = feeds.message("l", ("a", "AVAILABLE", T))
GOOD_B = feeds.message("l", ("b", "CHARGING", T))
MIB = 1024 * 1024


def zeros_member(mib: int) -> bytes:
    """A gzip member of `mib` MiB of zeros, built from one compressed MiB repeated (fast)."""
    block = zlib.compressobj(9, zlib.DEFLATED, -15)
    one_mib = block.compress(bytes(MIB)) + block.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(bytes(MIB), crc)
    final = zlib.compressobj(9, zlib.DEFLATED, -15).flush()  # an empty last block
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    return header + one_mib * mib + final + struct.pack("<II", crc, (mib * MIB) & 0xFFFFFFFF)


def peak_rss_mib(*args: str) -> float:
    """Run the CLI in a child Python and return its peak resident set size."""
    script = (
        "import resource, runpy, sys\n"
        f"sys.argv = ['evlog', *{list(args)!r}]\n"
        "try:\n    runpy.run_module('evlog', run_name='__main__')\n"
        "except SystemExit as exit:\n    assert not exit.code, exit.code\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[-1]) / 1024


def quarantined(lake: Lake) -> list[dict[str, object]]:
    return sorted(lake.read(Table.QUARANTINE).to_pylist(), key=lambda r: str(r["arrival_index"]))


def test_a_member_inflating_to_a_gib_is_quarantined_in_bounded_memory(tmp_path: Path) -> None:
    bomb = zeros_member(1024)
    capture = tmp_path / "capture.bin"
    capture.write_bytes(feeds.gz(GOOD_A) + bomb + feeds.gz(GOOD_B))
    plain = tmp_path / "plain.bin"
    plain.write_bytes(feeds.gz(GOOD_A) + feeds.gz(GOOD_B))
    # Against the same import without the bomb, in the same run: what the interpreter, DuckDB
    # and Arrow take varies with the machine; inflating the member whole would add a GiB.
    baseline = peak_rss_mib("record", "stream", "--lake", str(tmp_path / "plain"), str(plain))
    peak = peak_rss_mib("record", "stream", "--lake", str(tmp_path / "lake"), str(capture))
    print(f"peak RSS {peak:.0f} MiB, {baseline:.0f} MiB without the bomb")
    assert peak - baseline < 160, f"peak RSS {peak:.0f} MiB, {baseline:.0f} MiB without the bomb"
    lake = Lake.open(tmp_path / "lake")
    (row,) = quarantined(lake)
    assert (row["reason"], row["arrival_index"]) == ("record too large", 1)
    assert row["detail"] == f"gzip member inflates to over the {MAX_RECORD_BYTES}-byte cap"
    assert row["payload"] == bomb  # the member as received: 1 MiB, well within a cell
    events = lake.read(Table.STATUS_EVENTS).to_pylist()
    assert sorted(e["evse_id"] for e in events) == ["a", "b"]


def test_a_line_over_the_cap_keeps_its_first_bytes_and_true_length(tmp_path: Path) -> None:
    long_message = {**GOOD_A, "padding": "x" * (MAX_RECORD_BYTES + 1000)}  # valid, just too big
    long_line = json.dumps(long_message).encode()
    capture = tmp_path / "capture.ndjson"
    capture.write_bytes(feeds.ndjson(GOOD_A) + long_line + b"\n" + feeds.ndjson(GOOD_B))
    lake = Lake.create(tmp_path / "lake")
    summary = record_stream(lake, [str(capture)])
    assert (summary.recorded, summary.events, summary.quarantined) == (3, 2, 1)
    detail = (
        f"{len(long_line)} bytes, over the {MAX_RECORD_BYTES}-byte cap; "
        f"first {KEPT_PREFIX_BYTES} kept"
    )
    for _ in range(2):  # as recorded, and re-derived by `lake rebuild` from the raw table alone
        (row,) = quarantined(lake)
        assert (row["reason"], row["detail"]) == ("record too large", detail)
        assert row["payload"] == long_line[:KEPT_PREFIX_BYTES]
        rebuild(lake)
    raw = sorted(lake.read(Table.RAW_STATUS).to_pylist(), key=lambda r: r["arrival_index"])
    assert max(len(r["payload"]) for r in raw) == KEPT_PREFIX_BYTES
    assert record_stream(lake, [str(capture)]).duplicates == 3  # same keys when imported again


def test_a_gzip_ndjson_line_is_capped_as_it_streams(tmp_path: Path) -> None:
    size = 64 * MIB
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    parts = [compressor.compress(feeds.ndjson(GOOD_A) + b"[")]
    parts += [compressor.compress(b"1," * (MIB // 2)) for _ in range(size // MIB)]
    parts.append(compressor.compress(b"1]\n" + feeds.ndjson(GOOD_B)) + compressor.flush())
    capture = tmp_path / "capture.ndjson.gz"
    capture.write_bytes(b"".join(parts))
    lake = Lake.create(tmp_path / "lake")
    record_stream(lake, [str(capture)])
    (row,) = quarantined(lake)
    assert row["reason"] == "record too large"
    assert str(row["detail"]).startswith(f"{size + 3} bytes, over the")  # [, 1,…, 1]
    assert row["payload"] == b"[" + b"1," * (KEPT_PREFIX_BYTES // 2 - 1) + b"1"
    assert {e["evse_id"] for e in lake.read(Table.STATUS_EVENTS).to_pylist()} == {"a", "b"}


def test_a_saved_webhook_line_over_the_cap(tmp_path: Path) -> None:
    good = feeds.webhook("w1", "st", True, T)
    long_body = feeds.webhook("w2", "st", True, T, padding="x" * MAX_RECORD_BYTES)
    saved = tmp_path / "webhooks.jsonl"
    saved.write_bytes(feeds.jsonl(good, long_body))
    lake = Lake.create(tmp_path / "lake")
    summary = record_webhook_files(lake, [str(saved)])
    assert (summary.recorded, summary.events, summary.quarantined) == (2, 1, 1)
    length = len(json.dumps(long_body))
    for _ in range(2):  # as recorded, then after `lake rebuild`
        (row,) = quarantined(lake)
        assert (row["reason"], str(row["detail"]).split(" ")[0]) == (
            "record too large",
            str(length),
        )
        assert len(row["payload"]) == KEPT_PREFIX_BYTES  # type: ignore[arg-type]
        rebuild(lake)


def test_a_data_api_payload_inflating_beyond_the_cap() -> None:
    with pytest.raises(RecordError) as problem:
        here.decode_payload(zeros_member(MAX_RECORD_BYTES // MIB + 1))
    assert problem.value.reason == QuarantineReason.RECORD_TOO_LARGE
    assert here.decode_payload(gzip.compress(b"{}")) == b"{}"
