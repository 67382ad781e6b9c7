"""Offline importers end to end: real gzip bytes in, real Parquet out."""

from __future__ import annotations

import gzip
import io
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from evlog._errors import InputError
from evlog._lake.layout import Lake
from evlog._lake.names import QuarantineReason, Table
from evlog._record.offline import record_stream, record_webhook_files
from evlog._sources import here
from tests import feeds

T0 = "2024-04-05T11:37:59Z"
T1 = "2024-04-05T12:00:00Z"
MSG_A = feeds.message("loc-1", ("evse-1", "AVAILABLE", T0))
MSG_B = feeds.message("loc-1", ("evse-1", "CHARGING", T1), ("evse-2", "outOfOrder", T1))
MSG_C = feeds.message("loc-2", ("evse-3", "RESERVED", T1))


def events(lake: Lake) -> set[tuple[str, str, str, str, datetime]]:
    rows = lake.read(Table.STATUS_EVENTS).to_pylist()
    return {
        (r["location_id"], r["evse_id"], r["status"], r["status_raw"], r["event_time"])
        for r in rows
    }


def quarantine_reasons(lake: Lake) -> list[str]:
    return sorted(r["reason"] for r in lake.read(Table.QUARANTINE).to_pylist())


EXPECTED = {
    ("loc-1", "evse-1", "AVAILABLE", "AVAILABLE", datetime(2024, 4, 5, 11, 37, 59, tzinfo=UTC)),
    ("loc-1", "evse-1", "CHARGING", "CHARGING", datetime(2024, 4, 5, 12, tzinfo=UTC)),
    ("loc-1", "evse-2", "OUT_OF_ORDER", "outOfOrder", datetime(2024, 4, 5, 12, tzinfo=UTC)),
    ("loc-2", "evse-3", "RESERVED", "RESERVED", datetime(2024, 4, 5, 12, tzinfo=UTC)),
}


def write(path: Path, data: bytes) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize(
    "name, data",
    [
        ("capture.bin", feeds.members(MSG_A, MSG_B, MSG_C)),
        ("capture.ndjson", feeds.ndjson(MSG_A, MSG_B, MSG_C)),
        ("capture.ndjson.gz", gzip.compress(feeds.ndjson(MSG_A, MSG_B, MSG_C))),
        ("no-extension", gzip.compress(feeds.ndjson(MSG_A, MSG_B, MSG_C))),
        (
            "response.json",
            feeds.data_api_response(
                (0, 10, 1712318400000, feeds.gz(MSG_A)),
                (0, 11, 1712318400000, feeds.gz(MSG_B)),
                (3, 7, 1712318400000, feeds.gz(MSG_C)),
            ),
        ),
    ],
)
def test_every_capture_shape_round_trips(tmp_path: Path, name: str, data: bytes) -> None:
    lake = Lake.create(tmp_path / "lake")
    summary = record_stream(lake, [write(tmp_path / name, data)])
    assert (summary.recorded, summary.events, summary.quarantined) == (3, 4, 0)
    assert events(lake) == EXPECTED
    raw = lake.read(Table.RAW_STATUS).to_pylist()
    decoded = [json.loads(here.decode_payload(r["payload"])) for r in raw]
    assert sorted(decoded, key=json.dumps) == sorted([MSG_A, MSG_B, MSG_C], key=json.dumps)


def test_gzip_members_are_stored_byte_for_byte(tmp_path: Path) -> None:
    lake = Lake.create(tmp_path / "lake")
    parts = [feeds.gz(MSG_A), feeds.gz(MSG_B)]
    record_stream(lake, [write(tmp_path / "c.gz", b"".join(parts))])
    raw = sorted(lake.read(Table.RAW_STATUS).to_pylist(), key=lambda r: r["arrival_index"])
    assert [r["payload"] for r in raw] == parts
    assert [r["arrival_index"] for r in raw] == [0, 1]
    assert raw[0]["session_id"] == raw[1]["session_id"]


def test_data_api_keeps_partition_offset_and_receive_time(tmp_path: Path) -> None:
    lake = Lake.create(tmp_path / "lake")
    received_ms = 1712318460123
    response = feeds.data_api_response((7, 38562, received_ms, feeds.gz(MSG_A)))
    record_stream(lake, [write(tmp_path / "r.json", response)])
    (raw,) = lake.read(Table.RAW_STATUS).to_pylist()
    assert (raw["kafka_partition"], raw["kafka_offset"], raw["record_key"]) == (
        7,
        38562,
        "kafka:7:38562",
    )
    assert raw["received_at"] == datetime.fromtimestamp(received_ms / 1000, UTC)
    assert raw["payload"] == feeds.gz(MSG_A)


def test_folder_of_one_file_per_message(tmp_path: Path) -> None:
    for i, msg in enumerate([MSG_A, MSG_B, MSG_C]):
        write(tmp_path / "captures" / f"msg-{i:03d}", feeds.gz(msg))
    write(tmp_path / "captures" / ".hidden", b"junk")
    lake = Lake.create(tmp_path / "lake")
    summary = record_stream(lake, [str(tmp_path / "captures")])
    assert (summary.recorded, summary.quarantined) == (3, 0)
    assert events(lake) == EXPECTED


def test_stdin(tmp_path: Path) -> None:
    lake = Lake.create(tmp_path / "lake")
    summary = record_stream(lake, ["-"], stdin=io.BytesIO(feeds.members(MSG_A, MSG_B, MSG_C)))
    assert summary.events == 4
    assert events(lake) == EXPECTED
    assert {r["capture"] for r in lake.read(Table.RAW_STATUS).to_pylist()} == {"-"}


def test_recording_the_same_capture_twice_adds_nothing(tmp_path: Path) -> None:
    lake = Lake.create(tmp_path / "lake")
    capture = write(tmp_path / "c.gz", feeds.members(MSG_A, MSG_B, b"not json"))
    first = record_stream(lake, [capture])
    copy = write(tmp_path / "copy-elsewhere.gz", Path(capture).read_bytes())
    second = record_stream(lake, [capture, copy])
    assert (first.recorded, first.duplicates) == (3, 0)
    assert (second.recorded, second.duplicates, second.events) == (0, 6, 0)
    assert lake.read(Table.STATUS_EVENTS).num_rows == 3
    assert lake.read(Table.QUARANTINE).num_rows == 1


def test_a_message_repeated_inside_one_capture_is_kept_as_received(tmp_path: Path) -> None:
    lake = Lake.create(tmp_path / "lake")
    summary = record_stream(lake, [write(tmp_path / "c.gz", feeds.members(MSG_A, MSG_A))])
    assert summary.recorded == 2
    keys = {r["record_key"] for r in lake.read(Table.RAW_STATUS).to_pylist()}
    assert len(keys) == 2


def test_appended_capture_adds_only_the_new_records(tmp_path: Path) -> None:
    lake = Lake.create(tmp_path / "lake")
    path = tmp_path / "growing.gz"
    write(path, feeds.members(MSG_A))
    record_stream(lake, [str(path)])
    write(path, feeds.members(MSG_A, MSG_B))
    summary = record_stream(lake, [str(path)])
    assert (summary.recorded, summary.duplicates) == (1, 1)


BAD = {
    QuarantineReason.BAD_GZIP: b"\x1f\x8b\x08\x00garbage-that-is-not-deflate",
    QuarantineReason.INVALID_JSON: feeds.gz(b'{"id": "loc-9", "evses": ['),
    QuarantineReason.INVALID_UTF8: feeds.gz(b'{"id": "loc-\xff", "evses": []}'),
    QuarantineReason.MISSING_EVSES: feeds.gz({"id": "loc-9"}),
    QuarantineReason.MISSING_ID: feeds.gz({"evses": [{"id": "e", "status": "AVAILABLE"}]}),
    QuarantineReason.MISSING_STATUS: feeds.gz(
        {"id": "loc-9", "evses": [{"id": "e9", "last_updated": T0}]}
    ),
    QuarantineReason.UNPARSEABLE_TIME: feeds.gz(
        feeds.message("loc-9", ("e9", "AVAILABLE", "yesterday at noon"))
    ),
}


@pytest.mark.parametrize("reason", list(BAD))
def test_bad_records_go_to_quarantine_and_good_ones_land(tmp_path: Path, reason: str) -> None:
    lake = Lake.create(tmp_path / "lake")
    capture = feeds.gz(MSG_A) + BAD[reason] + feeds.gz(MSG_B) + feeds.gz(MSG_C)
    summary = record_stream(lake, [write(tmp_path / "c.gz", capture)])
    assert summary.quarantined == 1
    assert quarantine_reasons(lake) == [reason]
    assert events(lake) == EXPECTED
    (row,) = lake.read(Table.QUARANTINE).to_pylist()
    assert row["payload"] == BAD[reason]


def test_truncated_final_member(tmp_path: Path) -> None:
    lake = Lake.create(tmp_path / "lake")
    truncated = feeds.gz(MSG_C)[:-9]
    capture = feeds.members(MSG_A, MSG_B) + truncated
    summary = record_stream(lake, [write(tmp_path / "c.gz", capture)])
    assert summary.quarantined == 1
    assert quarantine_reasons(lake) == [QuarantineReason.TRUNCATED_GZIP]
    assert events(lake) == EXPECTED - {
        ("loc-2", "evse-3", "RESERVED", "RESERVED", datetime(2024, 4, 5, 12, tzinfo=UTC))
    }


def test_a_bad_evse_costs_only_itself(tmp_path: Path) -> None:
    lake = Lake.create(tmp_path / "lake")
    msg = {
        "id": "loc-1",
        "evses": [
            {"id": "evse-1", "status": "AVAILABLE", "last_updated": T0},
            {"id": "evse-2", "last_updated": T0},
        ],
    }
    summary = record_stream(lake, [write(tmp_path / "c.gz", feeds.gz(msg))])
    assert (summary.events, summary.quarantined) == (1, 1)
    assert quarantine_reasons(lake) == [QuarantineReason.MISSING_STATUS]


def test_unknown_status_is_unknown_not_quarantined(tmp_path: Path) -> None:
    lake = Lake.create(tmp_path / "lake")
    msg = feeds.message("loc-1", ("evse-1", "SLEEPING", T0), ("evse-2", "OUTOFORDER", T0))
    summary = record_stream(lake, [write(tmp_path / "c.gz", feeds.gz(msg))])
    assert summary.quarantined == 0
    rows = {r["evse_id"]: r for r in lake.read(Table.STATUS_EVENTS).to_pylist()}
    assert (rows["evse-1"]["status"], rows["evse-1"]["status_raw"]) == ("UNKNOWN", "SLEEPING")
    assert rows["evse-2"]["status"] == "OUT_OF_ORDER"


def test_data_api_defects_are_quarantined(tmp_path: Path) -> None:
    body = (
        b'{"messages": [{"metaData": {"partition": "1", "data": "!!not base64!!", '
        b'"timestamp": 1712318400000}, "offset": {"partition": 1, "offset": 5}}, '
        b'{"metaData": {"partition": "1", "dataHandle": "h-1", "timestamp": 1712318400000}, '
        b'"offset": {"partition": 1, "offset": 6}}]}'
    )
    lake = Lake.create(tmp_path / "lake")
    summary = record_stream(lake, [write(tmp_path / "r.json", body)])
    assert summary.quarantined == 2
    assert quarantine_reasons(lake) == sorted(
        [QuarantineReason.BAD_BASE64, QuarantineReason.UNFETCHED_DATA_HANDLE]
    )


def test_skewed_source_time_is_clamped_and_flagged(tmp_path: Path) -> None:
    received_ms = int(datetime(2024, 4, 5, 12, tzinfo=UTC).timestamp() * 1000)
    ahead = feeds.message("loc-1", ("evse-1", "AVAILABLE", "2024-04-05T12:10:00Z"))
    slightly = feeds.message("loc-1", ("evse-2", "AVAILABLE", "2024-04-05T12:04:00Z"))
    response = feeds.data_api_response(
        (0, 1, received_ms, feeds.gz(ahead)), (0, 2, received_ms, feeds.gz(slightly))
    )
    lake = Lake.create(tmp_path / "lake")
    record_stream(lake, [write(tmp_path / "r.json", response)])
    rows = {r["evse_id"]: r for r in lake.read(Table.STATUS_EVENTS).to_pylist()}
    assert rows["evse-1"]["event_time"] == datetime(2024, 4, 5, 12, tzinfo=UTC)
    assert rows["evse-1"]["time_clamped"] is True
    assert rows["evse-2"]["event_time"] == datetime(2024, 4, 5, 12, 4, tzinfo=UTC)
    assert rows["evse-2"]["time_clamped"] is False


def test_missing_input_fails_before_creating_anything(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="input not found"):
        record_stream(tmp_path / "lake", [str(tmp_path / "nope.gz")])
    assert not (tmp_path / "lake").exists()


def test_capture_receive_time_is_the_file_mtime(tmp_path: Path) -> None:
    path = write(tmp_path / "c.gz", feeds.members(MSG_A))
    mtime = datetime(2024, 4, 6, tzinfo=UTC).timestamp()
    os.utime(path, (mtime, mtime))
    lake = Lake.create(tmp_path / "lake")
    record_stream(lake, [path])
    (raw,) = lake.read(Table.RAW_STATUS).to_pylist()
    assert raw["received_at"] == datetime(2024, 4, 6, tzinfo=UTC)


# ---------------------------------------------------------------------------------------------
# webhooks


def test_webhook_import_with_bodies_and_envelopes(tmp_path: Path) -> None:
    bodies = feeds.jsonl(
        feeds.webhook("w1", "st-1", True, "2024-04-05T10:00:00Z"),
        {
            "received_at": "2024-04-05T11:00:02Z",
            "headers": {"edrv-signature": "t=1,v1=ab"},
            "body": feeds.webhook("w2", "st-1", False, "2024-04-05T11:00:00Z"),
        },
        feeds.webhook("w3", "st-2", True, None),
        {"_id": "w4", "event": "chargestation.connector_status.updated", "data": {}},
        b"{not json",
        {"_id": "w5", "object": "chargestation", "data": {"_id": "st-3"}},
        {"_id": "w6", "event": "chargestation.created", "data": {}},
    )
    lake = Lake.create(tmp_path / "lake")
    path = write(tmp_path / "hooks.jsonl", bodies)
    mtime = datetime(2024, 4, 5, 13, tzinfo=UTC).timestamp()
    os.utime(path, (mtime, mtime))
    summary = record_webhook_files(lake, [path])
    assert (summary.recorded, summary.events, summary.quarantined) == (7, 3, 3)
    rows = {r["webhook_id"]: r for r in lake.read(Table.CONNECTIVITY_EVENTS).to_pylist()}
    assert rows["w1"]["online"] is True
    assert rows["w1"]["event_time"] == datetime(2024, 4, 5, 10, tzinfo=UTC)
    assert rows["w2"]["online"] is False
    assert rows["w2"]["received_at"] == datetime(2024, 4, 5, 11, 0, 2, tzinfo=UTC)
    # no lastConnectAt: the receive time (here the file's mtime) stands in
    assert rows["w3"]["event_time"] == datetime(2024, 4, 5, 13, tzinfo=UTC)
    # a connector status webhook without its station's `_id` says nothing usable
    assert quarantine_reasons(lake) == sorted(
        [
            QuarantineReason.INVALID_JSON,
            QuarantineReason.MISSING_EVENT,
            QuarantineReason.MISSING_STATION,
        ]
    )
    raw = {r["webhook_id"]: r for r in lake.read(Table.RAW_WEBHOOKS).to_pylist()}
    assert raw["w2"]["headers"] == '{"edrv-signature":"t=1,v1=ab"}'
    assert {"w4", "w6"} <= raw.keys()  # other event types are kept raw, and not quarantined


def test_webhook_type_key_and_duplicates(tmp_path: Path) -> None:
    body = feeds.webhook("w1", "st-1", True, "2024-04-05T10:00:00Z")
    body["type"] = body.pop("event")
    lake = Lake.create(tmp_path / "lake")
    first = record_webhook_files(lake, [write(tmp_path / "a.jsonl", feeds.jsonl(body, body))])
    second = record_webhook_files(lake, [write(tmp_path / "b.jsonl", feeds.jsonl(body))])
    assert (first.recorded, first.duplicates, first.events) == (1, 1, 1)
    assert (second.recorded, second.duplicates) == (0, 1)
    assert lake.read(Table.CONNECTIVITY_EVENTS).num_rows == 1


def test_declared_coverage(tmp_path: Path) -> None:
    lake = Lake.create(tmp_path / "lake")
    window = (datetime(2024, 4, 5, tzinfo=UTC), datetime(2024, 4, 6, tzinfo=UTC))
    path = write(tmp_path / "a.jsonl", feeds.jsonl(feeds.webhook("w1", "s", True, None)))
    record_webhook_files(lake, [path], coverage=[window])
    (row,) = lake.read(Table.COVERAGE).to_pylist()
    assert (row["covered_from"], row["covered_to"], row["kind"]) == (*window, "declared")
    assert lake.files(Table.COVERAGE)[0].parent.parent.name == "source=edrv_webhooks"


def test_a_failed_raw_write_takes_the_batch_back_and_recording_again_stores_it_once(
    tmp_path: Path,
) -> None:
    lake = Lake.create(tmp_path / "lake")
    capture = write(tmp_path / "c.gz", feeds.members(MSG_A, MSG_B, MSG_C))
    blocker = lake.table_dir(Table.RAW_STATUS)
    blocker.write_bytes(b"")  # a file where the raw table's directory must go: the write fails
    with pytest.raises(OSError):
        record_stream(lake, [capture])
    assert lake.read(Table.STATUS_EVENTS).num_rows == 0  # the events written first are gone
    blocker.unlink()
    summary = record_stream(lake, [capture])
    assert summary.recorded == 3  # nothing marked the records as stored: they come again
    assert lake.read(Table.STATUS_EVENTS).num_rows == 4  # once each
    assert events(lake) == EXPECTED
    assert lake.read(Table.RAW_STATUS).num_rows == 3


def test_a_named_pipe_is_read_like_a_file(tmp_path: Path) -> None:
    """What `evlog record stream <(olp catalog layer stream get …)` hands us."""
    import threading

    fifo = tmp_path / "stream.fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=fifo.write_bytes, args=(feeds.members(MSG_A, MSG_B, MSG_C),))
    writer.start()
    lake = Lake.create(tmp_path / "lake")
    summary = record_stream(lake, [str(fifo)])
    writer.join(timeout=10)
    assert summary.events == 4
    assert events(lake) == EXPECTED
