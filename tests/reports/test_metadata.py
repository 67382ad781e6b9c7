"""Station and port metadata (`entity_metadata`, docs/lake.md "Metadata"): derived from eDRV
webhooks and poll snapshots by the recorders and by `lake rebuild`, listed by `report metadata`,
and filtering the reports (`--rapid`, `--vendor`, `--model`, `--firmware`). Every expected value
is written out by hand from the bodies below."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pyarrow as pa
import pytest

import evlog
from evlog._lake.layout import Lake
from evlog._lake.names import Table
from evlog._record.derive import POLL_FEED
from evlog._record.poller import snapshot_row
from evlog._record.recorder import Recorder
from evlog._reports._registry import RELIABILITY
from evlog._sources import edrv_metadata
from evlog._sources.edrv_api import Snapshot
from evlog._upkeep.maintenance import rebuild
from tests.replay.lakes import StatusEvent, at, status_table, write_in_files

WINDOW = ("2026-01-01T00:00:00Z", "2026-01-04T00:00:00Z")

# S1 as real eDRV describes a station (bootInfo from its BootNotification); its firmware is
# updated between the two webhooks. S2 as evlog's simulator does (vendor, model, ocppVersion).
S1_CONNECTORS = [
    {"_id": "P1", "status": "Available", "type": "CCS", "format": "Cable", "power": 150,
     "power_type": "DC"},
    {"_id": "P2", "status": "Available", "type": "Type2", "format": "Socket", "power": 22,
     "power_type": "AC_3_PHASE"},
]  # fmt: skip


def s1(firmware: str, online: bool, when: str) -> dict[str, Any]:
    return {
        "_id": "S1",
        "location": {"_id": "LOC1"},
        "protocol": "ocpp1.6",
        "online": online,
        "lastConnectAt" if online else "lastDisconnectAt": when,
        "bootInfo": {
            "chargePointVendor": "Alpitronic",
            "chargePointModel": "HYC300",
            "firmwareVersion": firmware,
            "chargePointSerialNumber": "SN-1",
        },
        "connectors": S1_CONNECTORS,
    }


S2 = {
    "_id": "S2",
    "vendor": "ABB",
    "model": "Terra AC",
    "ocppVersion": "1.6-J",
    "online": True,
    "lastConnectAt": "2026-01-01T09:00:00.000Z",
    # P3's power comes only with the poll snapshot below; P4's never does
    "connectors": [{"_id": "P3", "type": "Type2"}, {"_id": "P4", "type": "Type2", "power": "7"}],
}

T1, T3 = "2026-01-01T10:00:00Z", "2026-01-03T10:00:00Z"
WEBHOOKS = [
    ("2026-01-01T09:00:00Z", "w1", "chargestation.online", S2),
    (T1, "w2", "chargestation.online", s1("1.2.0", True, T1)),
    (T3, "w3", "chargestation.offline", s1("1.3.0", False, T3)),
]
POLL_AT = "2026-01-02T12:00:00Z"
S2_POLLED = {
    "result": {**S2, "connectors": [{"_id": "P3", "power": 7.4, "powerType": "AC_1_PHASE"}]}
}


def write_webhooks(path: Path) -> Path:
    lines = [
        json.dumps({"received_at": received, "body": {"_id": wid, "event": event, "data": data}})
        for received, wid, event, data in WEBHOOKS
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def make_metadata_lake(root: Path) -> Lake:
    """The webhooks (offline import), S2's poll snapshot (the poller's path), and one HERE-style
    status history per port: AVAILABLE all window, but P1 OUT_OF_ORDER 6 h on 2 January."""
    evlog.record_webhook_files(root, [str(write_webhooks(root.parent / "hooks.jsonl"))])
    lake = Lake.open(root)
    snapshot = Snapshot("S2", orjson.dumps(S2_POLLED), at(POLL_AT))
    Recorder(lake, POLL_FEED).append([snapshot_row(snapshot, 0, "test-poll")])
    events = [StatusEvent(p, "AVAILABLE", at("2026-01-01T00:00:00")) for p in PORTS]
    events += [
        StatusEvent("P1", "OUT_OF_ORDER", at("2026-01-02T00:00:00")),
        StatusEvent("P1", "AVAILABLE", at("2026-01-02T06:00:00")),
        StatusEvent("H1", "AVAILABLE", at("2026-01-01T00:00:00"), location_id="HLOC"),
    ]
    write_in_files(lake, Table.STATUS_EVENTS, status_table(events))
    return lake


PORTS = ("P1", "P2", "P3", "P4")


@pytest.fixture
def lake_root(tmp_path: Path) -> Path:
    root = tmp_path / "lake"
    make_metadata_lake(root)
    return root


def by_id(frame: pl.DataFrame) -> dict[str, dict[str, Any]]:
    return {row["entity_id"]: row for row in frame.to_dicts()}


def test_metadata_from_webhooks_and_polls(lake_root: Path) -> None:
    rows = by_id(evlog.open_lake(lake_root).metadata(end=WINDOW[1]))
    assert sorted(rows) == ["H1", "P1", "P2", "P3", "P4", "S1", "S2"]
    station = rows["S1"]
    assert (station["entity_kind"], station["vendor"], station["model"]) == (
        "station",
        "Alpitronic",
        "HYC300",
    )
    assert (station["firmware"], station["serial_number"], station["protocol"]) == (
        "1.3.0",  # the latest webhook's
        "SN-1",
        "ocpp1.6",
    )
    assert station["location_id"] == "LOC1"  # eDRV's `location`, given as an object
    assert station["power_kw"] == 150.0  # a station: its most powerful connector
    p1 = rows["P1"]
    assert (p1["station_id"], p1["vendor"], p1["model"], p1["firmware"]) == (
        "S1",
        "Alpitronic",
        "HYC300",
        "1.3.0",
    )
    assert (p1["connector_type"], p1["connector_format"], p1["power_kw"], p1["power_type"]) == (
        "CCS",
        "Cable",
        150.0,
        "DC",
    )
    assert p1["rapid"] is True and rows["P2"]["rapid"] is False
    # the location of the port's latest-arriving status event comes first: here eDRV's own
    # connector observation (location = its station), which arrived after the HERE-style one
    assert p1["location_id"] == "S1"
    # the latest values (firmware 1.3.0) since the one webhook that carried them
    assert p1["observations"] == 1 and p1["first_seen"] == at("2026-01-03T10:00:00")
    # P3: power and powerType from the poll, its type carried from the webhook before
    p3 = rows["P3"]
    assert (p3["vendor"], p3["model"], p3["protocol"]) == ("ABB", "Terra AC", "1.6-J")
    assert (p3["connector_type"], p3["power_kw"], p3["power_type"]) == ("Type2", 7.4, "AC_1_PHASE")
    assert (p3["first_seen"], p3["last_seen"]) == (at(POLL_AT), at(POLL_AT))
    # P4's power "7" is a string, not a number of kW: unknown, so neither rapid nor not
    assert rows["P4"]["power_kw"] is None and rows["P4"]["rapid"] is None
    assert rows["S2"]["power_kw"] == 7.4
    # H1 is known only from the status feed: a port with its location and nothing else
    h1 = rows["H1"]
    assert (h1["entity_kind"], h1["location_id"], h1["vendor"], h1["observations"]) == (
        "port",
        "HLOC",
        None,
        0,
    )


def test_a_firmware_update_is_a_new_row_of_the_history(lake_root: Path) -> None:
    lake = evlog.open_lake(lake_root)
    history = lake.metadata(end=WINDOW[1], history=True, kind="station")
    s1_runs = history.filter(pl.col("entity_id") == "S1").sort("first_seen")
    assert s1_runs["firmware"].to_list() == ["1.2.0", "1.3.0"]
    assert s1_runs["first_seen"].to_list() == [at("2026-01-01T10:00:00"), at("2026-01-03T10:00:00")]
    assert s1_runs["last_seen"].to_list() == [at("2026-01-01T10:00:00"), at("2026-01-03T10:00:00")]
    # S2: the poll first gives a connector's power (the station's becomes known): a new run
    s2_runs = history.filter(pl.col("entity_id") == "S2").sort("first_seen")
    assert s2_runs["power_kw"].to_list() == [None, 7.4]
    assert s2_runs["model"].to_list() == ["Terra AC", "Terra AC"]
    # P2 described twice with the same connector fields, but its station's firmware changed
    p2_runs = lake.metadata(end=WINDOW[1], history=True, kind="port").filter(
        pl.col("entity_id") == "P2"
    )
    assert p2_runs["firmware"].to_list() == ["1.2.0", "1.3.0"]
    assert p2_runs["observations"].to_list() == [1, 1]
    # the same description again extends the run
    again = lake_root.parent / "again.jsonl"
    t4 = "2026-01-03T12:00:00Z"
    body = {"_id": "w4", "event": "chargestation.online", "data": s1("1.3.0", True, t4)}
    again.write_text(json.dumps({"received_at": t4, "body": body}) + "\n")
    evlog.record_webhook_files(lake_root, [str(again)])
    latest = by_id(evlog.open_lake(lake_root).metadata(end=WINDOW[1], kind="station"))["S1"]
    assert (latest["firmware"], latest["observations"]) == ("1.3.0", 2)
    assert (latest["first_seen"], latest["last_seen"]) == (
        at("2026-01-03T10:00:00"),
        at("2026-01-03T12:00:00"),
    )
    # before the update the latest firmware is the old one
    before = by_id(lake.metadata(end="2026-01-02", kind="station"))
    assert before["S1"]["firmware"] == "1.2.0"
    assert by_id(lake.metadata(end="2026-01-02", firmware="1.3.0")) == {}


def _table(lake: Lake) -> pa.Table:
    return lake.read(Table.ENTITY_METADATA).sort_by(
        [("received_at", "ascending"), ("entity_id", "ascending")]
    )


def test_rebuild_recreates_the_table_identical(lake_root: Path) -> None:
    lake = Lake.open(lake_root)
    recorded = _table(lake)
    assert recorded.num_rows == 3 + 2 * 3 + 2  # (station + its connectors) per body, the poll's
    rebuild(lake)
    assert _table(lake).equals(recorded)
    shutil.rmtree(lake.table_dir(Table.ENTITY_METADATA))  # lost: derived again from raw
    rebuild(lake)
    assert _table(lake).equals(recorded)


def test_recording_the_same_webhooks_again_adds_no_metadata(lake_root: Path) -> None:
    before = _table(Lake.open(lake_root)).num_rows
    evlog.record_webhook_files(lake_root, [str(lake_root.parent / "hooks.jsonl")])
    assert _table(Lake.open(lake_root)).num_rows == before


def test_reports_filter_by_metadata(lake_root: Path) -> None:
    lake = evlog.open_lake(lake_root)

    def evses(**filters: Any) -> list[str]:
        return sorted(lake.availability(*WINDOW, by="none", **filters)["evse_id"].to_list())

    assert evses() == ["H1", *PORTS]
    assert evses(rapid=True) == ["P1"]  # P2 22 kW, P3 7.4 kW; P4 and H1 of unknown power
    assert evses(model="terra ac") == ["P3", "P4"]  # any case
    assert evses(vendor=["ABB", "Alpitronic"]) == list(PORTS)
    assert evses(firmware="1.3.0") == ["P1", "P2"]
    assert evses(rapid=True, evse="P2") == []  # filters combine: nothing, not everything
    p1 = lake.availability(*WINDOW, by="none", rapid=True).row(0, named=True)
    assert (p1["available_s"], p1["out_of_order_s"]) == (3 * 86_400.0 - 6 * 3_600.0, 21_600.0)
    stations = lake.uptime(*WINDOW, by="none", rapid=True)["station_id"].to_list()
    assert stations == ["S1"]  # S1 has a 150 kW connector
    assert lake.flaps(*WINDOW, by="none", model="Terra AC")["station_id"].to_list() == ["S2"]
    intervals = lake.intervals(*WINDOW, vendor="ABB")
    assert sorted(set(intervals["entity_id"].to_list())) == ["P3", "P4", "S2"]


def test_rapid_filter_with_station_offline_time(tmp_path: Path) -> None:
    """Ports linked to their station by the feed (location = station id, as eDRV connectors'
    events are) count its offline time (docs/reliability.md, "Connectivity") and still obey
    the metadata filters."""
    root = tmp_path / "lake"
    evlog.record_webhook_files(root, [str(write_webhooks(tmp_path / "hooks.jsonl"))])
    events = [
        StatusEvent(p, "AVAILABLE", at("2026-01-01T00:00:00"), location_id="S1")
        for p in ("P1", "P2")
    ]
    write_in_files(Lake.open(root), Table.STATUS_EVENTS, status_table(events))
    frame = evlog.open_lake(root).availability(*WINDOW, by="none", rapid=True)
    assert frame["evse_id"].to_list() == ["P1"]
    # S1 online from 10:00 on 1 January, offline from 10:00 on 3 January to the window end
    assert frame["station_offline_s"].to_list() == [14 * 3_600.0]


def test_reports_group_by_metadata(lake_root: Path) -> None:
    lake = evlog.open_lake(lake_root)
    groups = by_group(lake.availability(*WINDOW, by="none", group="vendor"))
    assert sorted(groups, key=str) == ["ABB", "Alpitronic", "None"]
    alpitronic = groups["Alpitronic"]  # P1 and P2, three days each; P1 out of order 6 h
    assert (alpitronic["group_by"], alpitronic["evses"]) == ("vendor", 2)
    assert alpitronic["observed_s"] == 2 * 259_200.0
    assert alpitronic["available_s"] == 2 * 259_200.0 - 21_600.0
    assert alpitronic["in_service_pct"] == pytest.approx(100 * (518_400 - 21_600) / 518_400)
    assert (groups["ABB"]["evses"], groups["ABB"]["available_pct"]) == (2, 100.0)
    assert groups["None"]["evses"] == 1  # H1: no eDRV metadata
    # S1: no_data until online at 10:00 on 1 January, offline from 10:00 on 3 January
    rapid = by_group(lake.uptime(*WINDOW, by="none", group="rapid"))
    assert sorted(rapid) == ["false", "true"]
    s1 = rapid["true"]
    assert (s1["stations"], s1["online_s"], s1["offline_s"], s1["outages"]) == (
        1,
        172_800.0,
        50_400.0,
        1,
    )
    assert s1["uptime_pct"] == pytest.approx(100 * 172_800 / 223_200)
    assert (s1["mttr_s"], s1["mtbf_s"]) == (50_400.0, 172_800.0)
    filtered = by_group(lake.availability(*WINDOW, by="none", group="model", rapid=True))
    assert {k: v["evses"] for k, v in filtered.items()} == {"HYC300": 1}
    with pytest.raises(evlog.UsageError, match="group: not with by_location"):
        lake.availability(group="model", by_location=True)
    with pytest.raises(evlog.UsageError, match="group: expected one of"):
        lake.uptime(group="colour")


def by_group(frame: pl.DataFrame) -> dict[str, dict[str, Any]]:
    return {str(row["group_value"]): row for row in frame.to_dicts()}


def _evlog(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evlog", *args], capture_output=True, text=True, check=False
    )


def _ports(csv_text: str) -> list[str]:
    frame = pl.read_csv(csv_text.encode())
    return sorted(frame.filter(pl.col("scope") == "port")["port_id"].to_list())


def test_uk_reliability_counts_rapid_ports_by_default(lake_root: Path) -> None:
    uk = ["report", "reliability", "--lake", str(lake_root), "--standard", "uk-pcpr"]
    done = _evlog(*uk, "--month", "2026-01", "--format", "csv")
    assert done.returncode == 0, done.stderr
    assert _ports(done.stdout) == ["P1"]
    assert "uk-pcpr reliability of rapid ports only (power >= 50 kW" in done.stderr
    lake = evlog.open_lake(lake_root)

    def ports(standard: str, **options: Any) -> list[str]:
        frame = lake.reliability(standard, month="2026-01", **options)
        return sorted(frame.filter(pl.col("scope") == "port")["port_id"].to_list())

    assert ports("uk-pcpr", rapid=False) == ["H1", *PORTS]  # --no-rapid
    assert ports("nevi") == ["H1", *PORTS]  # the default only for UK
    assert ports("nevi", rapid=True) == ["P1"]
    assert ports("uk-pcpr", model="Terra AC") == []  # rapid by default, and of that model
    result = lake.reliability_report("uk-pcpr", month="2026-01")
    assert "; rapid ports only (power >= 50 kW" in RELIABILITY.title_of(result)
    assert "rapid" not in RELIABILITY.title_of(lake.reliability_report("nevi", month="2026-01"))


def test_uk_reliability_without_known_power_counts_every_port(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    lake = Lake.create(root)
    write_in_files(lake, Table.STATUS_EVENTS, status_table([
        StatusEvent("E1", "AVAILABLE", at("2026-01-01T00:00:00")),
    ]))  # fmt: skip
    result = evlog.open_lake(root).reliability_report("uk-pcpr", month="2026-01")
    assert result.frame.filter(pl.col("scope") == "port")["port_id"].to_list() == ["E1"]
    assert "rapid" not in RELIABILITY.title_of(result)  # no choice made: nothing said


def test_metadata_command(lake_root: Path) -> None:
    args = ["report", "metadata", "--lake", str(lake_root), "--end", WINDOW[1]]
    done = _evlog(*args, "--kind", "station", "--format", "json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [(r["entity_id"], r["model"], r["firmware"]) for r in rows] == [
        ("S1", "HYC300", "1.3.0"),
        ("S2", "Terra AC", None),
    ]
    rapid = evlog.open_lake(lake_root).metadata(end=WINDOW[1], rapid=True)
    assert rapid.select("entity_kind", "entity_id").rows() == [("port", "P1"), ("station", "S1")]
    with pytest.raises(evlog.UsageError, match=r"kind: expected one of station\|port"):
        evlog.open_lake(lake_root).metadata(kind="lamp")


def test_station_metadata_takes_only_what_is_well_typed() -> None:
    parsed = edrv_metadata.station_metadata(
        {
            "_id": "S9",
            "location": 12,
            "vendor": "",
            "bootInfo": {"chargePointVendor": "V", "firmwareVersion": 3},
            "connectors": [
                {"_id": "C1", "power": True},
                {"_id": "C4", "power": 50, "powerType": "DC", "type": "CCS", "format": 1},
                {"power": 50},  # no id: not a connector
                "C5",
            ],
        }
    )
    assert parsed is not None
    assert (parsed.station_id, parsed.location_id, parsed.vendor, parsed.firmware) == (
        "S9",
        None,
        "V",
        None,
    )
    # the connectors as the one connector parser (`edrv.read_connectors`) reads them
    assert [
        (c.connector_id, c.type, c.format, c.power_kw, c.power_type) for c in parsed.connectors
    ] == [
        ("C1", None, None, None, None),
        ("C4", "CCS", None, 50.0, "DC"),
    ]
    assert edrv_metadata.station_metadata({"connectors": []}) is None  # no station id
    assert edrv_metadata.station_metadata(["not", "an", "object"]) is None
    assert edrv_metadata.webhook_metadata({"event": "chargestation.online"}) is None  # no data
