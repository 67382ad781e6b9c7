"""HERE EVCP2 parsing: status spellings, capture splitting, message rules."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evlog._errors import RecordError
from evlog._lake.names import QuarantineReason, Status
from evlog._sources import here
from tests import feeds

NOW = datetime(2024, 4, 5, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    "raw, status",
    [
        ("AVAILABLE", Status.AVAILABLE),
        ("available", Status.AVAILABLE),
        ("OUT_OF_ORDER", Status.OUT_OF_ORDER),
        ("OUTOFORDER", Status.OUT_OF_ORDER),
        ("outOfOrder", Status.OUT_OF_ORDER),
        ("Out-Of-Order", Status.OUT_OF_ORDER),
        ("PLANNED", Status.PLANNED),
        ("REMOVED", Status.REMOVED),
        ("inoperative", Status.INOPERATIVE),
        ("blocked", Status.BLOCKED),
        ("reserved", Status.RESERVED),
        ("charging", Status.CHARGING),
        ("OUTOFORDER", Status.OUT_OF_ORDER),
        ("out-of-order", Status.OUT_OF_ORDER),
        ("Out Of Order", Status.OUT_OF_ORDER),
        ("UNKNOWN", Status.UNKNOWN),
        ("FAULTED", Status.UNKNOWN),
        ("", Status.UNKNOWN),
        # only case and separators fold: any other character makes a spelling no source defined
        ("AVAILABLE2", Status.UNKNOWN),
        ("Charging!", Status.UNKNOWN),
        ("AVAIL ABLE?", Status.UNKNOWN),
        ("OUT.OF.ORDER", Status.UNKNOWN),
        ("AVAILABLE\t", Status.UNKNOWN),
        ("avai\u0131lable", Status.UNKNOWN),  # a dotless i upper-cases to I
        ("CHARGING" + "_" * 100, Status.CHARGING),  # past the cached lengths, the same rule
    ],
)
def test_status_spellings(raw: str, status: Status) -> None:
    assert here.normalize_status(raw) == status


def split(data: bytes) -> list[here.RawStatusRecord]:
    return list(here.split_capture(data, "capture", NOW))


@given(st.lists(st.dictionaries(st.text(max_size=5), st.text(max_size=40)), min_size=1, max_size=8))
def test_gzip_member_boundaries_are_exact(messages: list[dict[str, str]]) -> None:
    members = [feeds.gz(m) for m in messages]  # one-line JSON texts: a member stream
    records = split(b"".join(members))
    assert [r.payload for r in records] == members
    assert [r.arrival_index for r in records] == list(range(len(members)))
    assert len({r.record_key for r in records}) == len(members)


def test_newline_separated_members_split_cleanly() -> None:
    a = feeds.gz(feeds.message("l", ("e", "AVAILABLE", "2024-04-05T10:00:00Z")))
    b = feeds.gz(feeds.message("l", ("e", "CHARGING", "2024-04-05T10:05:00Z")))
    assert [r.payload for r in split(a + b"\n" + b + b"\r\n")] == [a, b]


def test_corrupt_member_in_the_middle_costs_only_itself() -> None:
    a = feeds.gz(feeds.message("l", ("e", "AVAILABLE", "2024-04-05T10:00:00Z")))
    b = feeds.gz(feeds.message("l", ("e", "CHARGING", "2024-04-05T10:05:00Z")))
    corrupt = bytearray(feeds.gz(feeds.message("l", ("e", "BLOCKED", "2024-04-05T10:02:00Z"))))
    corrupt[12:20] = b"\xff" * 8
    records = split(a + bytes(corrupt) + b)
    assert [r.payload for r in records] == [a, bytes(corrupt), b]
    with pytest.raises(RecordError) as problem:
        here.decode_payload(records[1].payload)
    assert problem.value.reason in (QuarantineReason.BAD_GZIP, QuarantineReason.TRUNCATED_GZIP)


def test_truncated_member_followed_by_a_good_one() -> None:
    a = feeds.gz(feeds.message("l", ("e", "AVAILABLE", "2024-04-05T10:00:00Z")))
    b = feeds.gz(feeds.message("l", ("e", "CHARGING", "2024-04-05T10:05:00Z")))
    records = split(a[:-10] + b)
    assert records[-1].payload == b
    with pytest.raises(RecordError):
        here.decode_payload(records[0].payload)


def test_pretty_printed_single_message_file() -> None:
    msg = feeds.message("l", ("e", "AVAILABLE", "2024-04-05T10:00:00Z"))
    (record,) = split(json.dumps(msg, indent=2).encode())
    parsed = here.parse_message(here.decode_payload(record.payload), NOW)
    assert [o.evse_id for o in parsed.observations] == ["e"]


def test_message_times_offsets_and_naive_times_are_utc() -> None:
    msg = {
        "id": "l",
        "evses": [
            {"id": "a", "status": "AVAILABLE", "last_updated": "2024-04-05T13:00:00+02:00"},
            {"id": "b", "status": "AVAILABLE", "last_updated": "2024-04-05T11:00:00"},
            {"id": "c", "status": "AVAILABLE", "last_updated": "2024-04-05T11:00:00.123456Z"},
        ],
    }
    parsed = here.parse_message(json.dumps(msg).encode(), NOW)
    times = [o.event_time for o in parsed.observations]
    assert times == [
        datetime(2024, 4, 5, 11, tzinfo=UTC),
        datetime(2024, 4, 5, 11, tzinfo=UTC),
        datetime(2024, 4, 5, 11, 0, 0, 123456, tzinfo=UTC),
    ]
    assert parsed.problem is None


def test_clamp_boundary_is_inclusive_of_the_tolerance() -> None:
    at_limit = feeds.message("l", ("e", "AVAILABLE", "2024-04-05T12:05:00Z"))
    beyond = feeds.message("l", ("e", "AVAILABLE", "2024-04-05T12:05:00.000001Z"))
    (kept,) = here.parse_message(json.dumps(at_limit).encode(), NOW).observations
    (clamped,) = here.parse_message(json.dumps(beyond).encode(), NOW).observations
    assert (kept.event_time, kept.time_clamped) == (NOW + timedelta(minutes=5), False)
    assert (clamped.event_time, clamped.time_clamped) == (NOW, True)


def test_empty_evses_list_is_missing_evses() -> None:
    parsed = here.parse_message(b'{"id": "l", "evses": []}', NOW)
    assert parsed.problem is not None
    assert parsed.problem.reason == QuarantineReason.MISSING_EVSES


def test_unknown_spellings_keep_their_text_in_status_raw() -> None:
    msg = feeds.message("l", ("e", "Charging!", "2024-04-05T10:00:00Z"))
    (obs,) = here.parse_message(json.dumps(msg).encode(), NOW).observations
    assert (obs.status, obs.status_raw) == (Status.UNKNOWN, "Charging!")
