"""The OCPP → OCPI status mapping: docs/lake.md's table is the code's, overrides, damaged files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from evlog._errors import LakeError
from evlog._lake.layout import Lake
from evlog._lake.names import Status
from evlog._record.derive import WEBHOOK_FEED
from evlog._record.recorder import Recorder
from evlog._sources.ocpp import (
    DEFAULT_MAPPING,
    DEFAULT_STATUS_MAP,
    STATUS_MAP_FILE,
    load_status_map,
    parse_status_map,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "lake.md"


def documented_mapping() -> list[tuple[str, str, str]]:
    text = DOCS.read_text("utf-8")
    section = text.split("### The OCPP → OCPI mapping", 1)[1]
    rows = re.findall(r"^\| (\w+) \| ([\d., ]+) \| (\w+) \|", section, re.MULTILINE)
    return [(ocpp.strip(), versions.strip(), ocpi.strip()) for ocpp, versions, ocpi in rows]


def test_the_documented_table_is_the_default_mapping() -> None:
    assert documented_mapping() == [
        (line.ocpp_status, line.ocpp_versions, line.ocpi_status.value) for line in DEFAULT_MAPPING
    ]


def test_every_ocpp_status_of_both_versions_is_mapped() -> None:
    ocpp_16 = ["Available", "Preparing", "Charging", "SuspendedEVSE", "SuspendedEV", "Finishing"]
    ocpp_16 += ["Reserved", "Unavailable", "Faulted"]
    ocpp_201 = ["Available", "Occupied", "Reserved", "Unavailable", "Faulted"]
    for spelling in ocpp_16 + ocpp_201:
        assert DEFAULT_STATUS_MAP(spelling) is not Status.UNKNOWN, spelling
    in_use = ["Preparing", "Charging", "SuspendedEVSE", "SuspendedEV", "Finishing", "Occupied"]
    assert {DEFAULT_STATUS_MAP(s) for s in in_use} == {Status.CHARGING}
    assert DEFAULT_STATUS_MAP("Unavailable") is Status.INOPERATIVE
    assert DEFAULT_STATUS_MAP("Faulted") is Status.OUT_OF_ORDER
    assert DEFAULT_STATUS_MAP("Chargíng") is Status.UNKNOWN  # not ASCII: no source's spelling


def test_overrides_replace_and_add_lines() -> None:
    mapping = parse_status_map("ocpp_status,ocpi_status\nFinishing,BLOCKED\nEVConnected,CHARGING\n")
    assert mapping("FINISHING") is Status.BLOCKED
    assert mapping("ev-connected") is Status.CHARGING
    assert mapping("Charging") is Status.CHARGING  # untouched lines stay
    assert mapping != DEFAULT_STATUS_MAP
    assert parse_status_map("ocpp_status,ocpi_status\n") == DEFAULT_STATUS_MAP


def test_a_damaged_lake_map_stops_a_starting_recorder_not_a_running_one(tmp_path: Path) -> None:
    lake = Lake.create(tmp_path / "lake")
    running = Recorder(lake, WEBHOOK_FEED)
    path = lake.root / STATUS_MAP_FILE
    path.parent.mkdir()
    path.write_text("ocpp_status,ocpi_status\nFaulted,BROKEN\n")
    with pytest.raises(LakeError, match=r"damaged status map: .*line 2: 'BROKEN'"):
        load_status_map(lake.root)
    with pytest.raises(LakeError, match="damaged status map"):
        Recorder(lake, WEBHOOK_FEED)
    assert running._take_status_map() is False  # keeps the mapping it has
    assert running.status_map == DEFAULT_STATUS_MAP
