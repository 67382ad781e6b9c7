"""eDRV connectors as port status observations (docs/lake.md, "Events from eDRV connectors"):
an eDRV-only station whose connectors go Faulted → Available, figures computed by hand; the
mapping's overrides; `lake rebuild` on a lake of raw rows only; the CLI end to end."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import evlog
from evlog._errors import UsageError
from evlog._lake.layout import Lake
from evlog._lake.names import Table
from evlog._record.derive import WEBHOOK_FEED, derive_polls
from evlog._record.offline import record_webhook_files
from evlog._record.recorder import Recorder
from evlog._upkeep.maintenance import rebuild

DAY = ("2024-04-05T00:00:00Z", "2024-04-06T00:00:00Z")
H = 3_600.0


def station(online: bool, connectors: list[tuple[str, str, str]], **times: str) -> dict[str, Any]:
    """A Chargestation with connectors (id, OCPP status, updatedAt "HH:MM" on 2024-04-05, or a
    full time)."""

    def when(t: str) -> str:
        return t if "T" in t else f"2024-04-05T{t}:00.000Z"

    return {
        "_id": "S1",
        "online": online,
        "protocol": "ocpp1.6",
        **{name: when(t) for name, t in times.items()},
        "connectors": [
            {
                "_id": cid,
                "active": True,
                "status": status,
                "type": "J1772",
                "format": "Socket",
                "power_type": "AC_1_PHASE",
                "power": 7.4,
                "chargestation": "S1",
                "createdAt": "2024-01-01T00:00:00.000Z",
                "updatedAt": when(updated),
            }
            for cid, status, updated in connectors
        ],
    }


def hook(wid: str, event: str, received: str, data: dict[str, Any]) -> dict[str, Any]:
    body = {"_id": wid, "event": f"chargestation.{event}", "object": "chargestation", "data": data}
    return {"received_at": f"2024-04-05T{received}:01Z", "body": body}


ON, OFF, CONNECTOR = "online", "offline", "connector_status.updated"


def both(wid: str, event: str, received: str, c1: str, c2: str, **times: str) -> dict[str, Any]:
    """A webhook of S1 with its two connectors, each "<OCPP status>@<updatedAt>"."""
    connectors = [("C1", *c1.split("@")), ("C2", *c2.split("@"))]
    data = station(event != OFF, [(c, status, at) for c, status, at in connectors], **times)
    return hook(wid, event, received, data)


# C1 is Faulted since the evening before (carry-in), Available from 06:00; it goes Unavailable
# with its station offline 18:00-20:00, then Available again. C2 is Available, then in use
# 10:00-12:10 through the OCPP 1.6 session states, then Available again. Every webhook carries
# both connectors (the Chargestation with all its connectors).
HOOKS = [
    both(
        "w1", ON, "00:00", "Faulted@2024-04-04T20:00:00Z", "Available@00:00", lastConnectAt="00:00"
    ),
    both("w2", CONNECTOR, "06:00", "Available@06:00", "Available@00:00"),
    both("w2", CONNECTOR, "06:00", "Available@06:00", "Available@00:00"),  # a retry
    both("w3", CONNECTOR, "10:00", "Available@06:00", "Preparing@10:00"),
    both("w4", CONNECTOR, "10:05", "Available@06:00", "Charging@10:05"),
    both("w5", CONNECTOR, "11:00", "Available@06:00", "SuspendedEV@11:00"),
    both("w6", CONNECTOR, "12:00", "Available@06:00", "Finishing@12:00"),
    both("w7", CONNECTOR, "12:10", "Available@06:00", "Available@12:10"),
    both("w8", OFF, "18:00", "Unavailable@18:00", "Available@12:10", lastDisconnectAt="18:00"),
    both("w9", ON, "20:00", "Available@20:00", "Available@12:10", lastConnectAt="20:00"),
]


def jsonl(hooks: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(h).encode() + b"\n" for h in hooks)


def recorded(tmp_path: Path, hooks: list[dict[str, Any]] = HOOKS) -> Lake:
    (tmp_path / "hooks.jsonl").write_bytes(jsonl(hooks))
    lake = Lake.create(tmp_path / "lake")
    record_webhook_files(lake, [str(tmp_path / "hooks.jsonl")])
    return lake


def by_port(frame: pl.DataFrame) -> dict[str, dict[str, Any]]:
    return {row["evse_id"]: row for row in frame.to_dicts()}


def check_default_figures(lake: evlog.EvlogLake) -> None:
    ports = by_port(lake.availability(*DAY, by="none"))
    assert {"C1", "C2"} <= set(ports)
    c1, c2 = ports["C1"], ports["C2"]
    assert c1["location_id"] == c2["location_id"] == "S1"  # the port's station
    # C1: OUT_OF_ORDER 00-06, AVAILABLE 06-18, INOPERATIVE 18-20, AVAILABLE 20-24
    assert (c1["out_of_order_s"], c1["available_s"], c1["inoperative_s"]) == (6 * H, 16 * H, 2 * H)
    assert c1["observed_s"] == 24 * H and c1["no_data_s"] == 0.0
    assert c1["available_pct"] == pytest.approx(100 * 16 / 24)
    assert c1["in_service_pct"] == pytest.approx(100 * 16 / 24)
    # C2: AVAILABLE 00-10 and 12:10-24, CHARGING 10:00-12:10 (Preparing, Charging,
    # SuspendedEV, Finishing: all "in use")
    assert c2["charging_s"] == 2 * H + 600
    assert c2["available_s"] == 24 * H - (2 * H + 600)
    # a port of S1 (its location is the station: docs/lake.md), so the station's offline
    # 18:00-20:00 is left out of its percentages (docs/reliability.md, "Connectivity")
    assert c1["state_basis"] == c2["state_basis"] == "status+connectivity"
    assert c1["station_offline_s"] == c2["station_offline_s"] == 2 * H
    assert c2["available_pct"] == pytest.approx(100 * (24 * H - 7_800 - 2 * H) / (24 * H))
    assert c2["in_service_pct"] == pytest.approx(100 * 22 / 24)
    alone = by_port(lake.availability(*DAY, by="none", status_only=True))["C2"]
    assert alone["available_pct"] == pytest.approx(100 * (24 * H - 7_800) / (24 * H))
    assert alone["in_service_pct"] == 100.0
    intervals = lake.intervals(*DAY, evse=["C1", "C2"]).sort("entity_id", "interval_start")
    assert intervals.select("entity_id", "state", "duration_s").rows() == [
        ("C1", "OUT_OF_ORDER", 6 * H),
        ("C1", "AVAILABLE", 12 * H),
        ("C1", "INOPERATIVE", 2 * H),
        ("C1", "AVAILABLE", 4 * H),
        ("C2", "AVAILABLE", 10 * H),
        ("C2", "CHARGING", 2 * H + 600),  # four OCPP statuses, one OCPI state: one interval
        ("C2", "AVAILABLE", 11 * H + 50 * 60),
    ]
    uptime = lake.uptime(*DAY, by="none").to_dicts()
    assert [(r["station_id"], r["offline_s"]) for r in uptime] == [("S1", 2 * H)]


def test_faulted_then_available_station_from_webhooks_alone(tmp_path: Path) -> None:
    lake = recorded(tmp_path)
    check_default_figures(evlog.open_lake(lake.root))
    rows = lake.read(Table.STATUS_EVENTS).to_pylist()
    first = next(r for r in rows if r["record_key"] == "webhook:w1" and r["evse_id"] == "C1")
    assert (first["status"], first["status_raw"], first["evse_index"]) == (
        "OUT_OF_ORDER",
        "Faulted",
        0,
    )
    assert str(first["event_time"]) == "2024-04-04 20:00:00+00:00"  # its updatedAt
    assert {r["status_raw"] for r in rows if r["evse_id"] == "C2"} >= {
        "Preparing",
        "Charging",
        "SuspendedEV",
        "Finishing",
    }
    # the retry of w2 is a duplicate record: 9 webhooks of 2 connectors each
    assert len(rows) == 18
    assert lake.read(Table.CONNECTIVITY_EVENTS).num_rows == 3  # w1, w8, w9


def test_a_connector_time_ahead_of_the_receive_time_is_clamped(tmp_path: Path) -> None:
    ahead = hook("w1", CONNECTOR, "10:00", station(True, [("C1", "Charging", "11:00")]))
    lake = recorded(tmp_path, [ahead])
    (row,) = lake.read(Table.STATUS_EVENTS).to_pylist()
    assert row["time_clamped"] is True
    assert str(row["event_time"]) == "2024-04-05 10:00:01+00:00"  # rule *Observations*


def test_a_connector_without_updated_at_is_observed_at_receive_time(tmp_path: Path) -> None:
    body = hook("w1", CONNECTOR, "10:00", station(True, [("C1", "Charging", "09:00")]))
    del body["body"]["data"]["connectors"][0]["updatedAt"]
    (row,) = recorded(tmp_path, [body]).read(Table.STATUS_EVENTS).to_pylist()
    assert str(row["event_time"]) == "2024-04-05 10:00:01+00:00"
    assert row["time_clamped"] is False


# -- malformed connectors -----------------------------------------------------------------------


def test_malformed_connectors_are_quarantined_and_the_rest_kept(tmp_path: Path) -> None:
    def online(wid: str, connectors: Any) -> dict[str, Any]:
        data = station(True, [("C9", "Available", "09:00")], lastConnectAt="09:00")
        data["connectors"] = connectors
        return hook(wid, ON, "09:00", data)

    good = station(True, [("C9", "Available", "09:00")])["connectors"][0]
    hooks = [
        online("no-id", [{**good, "_id": None}, good]),
        online("no-status", [good, {**good, "_id": "C8", "status": None}]),
        online("bad-time", [{**good, "_id": "C7", "updatedAt": "yesterday"}]),
        online("not-a-list", 5),
        online("not-an-object", ["C9"]),
        hook("no-station", CONNECTOR, "09:00", {"connectors": [good]}),
    ]
    lake = recorded(tmp_path, hooks)
    reasons = {
        r["record_key"].removeprefix("webhook:"): (r["reason"], r["detail"])
        for r in lake.read(Table.QUARANTINE).to_pylist()
    }
    assert reasons == {
        "no-id": ("missing id", "connectors[0]._id=null"),
        "no-status": ("missing status", "connectors[1].status"),
        "bad-time": ("unparseable time", "connectors[0].updatedAt='yesterday'"),
        "not-a-list": ("not a JSON object", "connectors=5"),
        "not-an-object": ("not a JSON object", 'connectors[0]="C9"'),
        "no-station": ("missing station id", "data._id=null"),
    }  # fmt: skip
    # each webhook's connectivity part is kept, and its good connectors
    online_ids = {r["webhook_id"] for r in lake.read(Table.CONNECTIVITY_EVENTS).to_pylist()}
    assert online_ids == {"no-id", "no-status", "bad-time", "not-a-list", "not-an-object"}
    ports = sorted(
        (r["record_key"], r["evse_id"]) for r in lake.read(Table.STATUS_EVENTS).to_pylist()
    )
    assert ports == [("webhook:no-id", "C9"), ("webhook:no-status", "C9")]
    evse_index = {r["evse_index"] for r in lake.read(Table.STATUS_EVENTS).to_pylist()}
    assert evse_index == {0, 1}  # C9's position in each array, not a count of good ones


def test_unknown_ocpp_spellings_are_unknown_and_kept(tmp_path: Path) -> None:
    hooks = [
        hook("w1", CONNECTOR, "09:00", station(True, [("C1", "Mystery", "09:00")])),
        hook("w2", CONNECTOR, "09:30", station(True, [("C1", "OCCUPIED", "09:30")])),
        hook("w3", CONNECTOR, "09:40", station(True, [("C1", "suspended_evse", "09:40")])),
    ]
    rows = recorded(tmp_path, hooks).read(Table.STATUS_EVENTS).to_pylist()
    got = [(r["status"], r["status_raw"]) for r in sorted(rows, key=lambda r: r["event_time"])]
    assert got == [
        ("UNKNOWN", "Mystery"),
        ("CHARGING", "OCCUPIED"),  # OCPP 2.0.1, case folded
        ("CHARGING", "suspended_evse"),  # separators folded
    ]


# -- the mapping's overrides, and rebuild -------------------------------------------------------


def evlog_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evlog", *args], capture_output=True, text=True, timeout=120
    )


OVERRIDES = "ocpp_status,ocpi_status\nPreparing,AVAILABLE\nfinishing,BLOCKED\n"


def check_overridden_figures(lake: evlog.EvlogLake) -> None:
    c1, c2 = (by_port(lake.availability(*DAY, by="none"))[p] for p in ("C1", "C2"))
    # C2: Preparing (10:00-10:05) counts as AVAILABLE, Finishing (12:00-12:10) as BLOCKED
    assert c2["available_s"] == 10 * H + 300 + 11 * H + 50 * 60
    assert c2["charging_s"] == 2 * H - 300
    assert c2["blocked_s"] == 600.0
    assert c1["out_of_order_s"] == 6 * H  # lines not overridden keep the default


def test_rebuild_with_a_status_map_rederives_and_later_records_follow_it(tmp_path: Path) -> None:
    lake = recorded(tmp_path)
    (tmp_path / "map.csv").write_text(OVERRIDES)
    done = evlog_cli(
        "lake", "rebuild", "--lake", str(lake.root), "--status-map", str(tmp_path / "map.csv")
    )
    assert done.returncode == 0, done.stderr
    check_overridden_figures(evlog.open_lake(lake.root))
    assert (lake.root / "_config" / "ocpp-status-map.csv").read_text() == (
        "ocpp_status,ocpi_status\nPreparing,AVAILABLE\nfinishing,BLOCKED\n"
    )
    # a recorder started after the rebuild maps with the lake's mapping
    later = hook("w10", CONNECTOR, "23:00", station(True, [("C3", "Finishing", "23:00")]))
    (tmp_path / "later.jsonl").write_bytes(jsonl([later]))
    record_webhook_files(lake, [str(tmp_path / "later.jsonl")])
    statuses = {r["evse_id"]: r["status"] for r in lake.read(Table.STATUS_EVENTS).to_pylist()}
    assert statuses["C3"] == "BLOCKED"
    # a map of only its header is the default again
    (tmp_path / "default.csv").write_text("ocpp_status,ocpi_status\n")
    done = evlog_cli(
        "lake", "rebuild", "--lake", str(lake.root), "--status-map", str(tmp_path / "default.csv")
    )
    assert done.returncode == 0, done.stderr
    check_default_figures(evlog.open_lake(lake.root))


def test_a_recorder_running_across_a_remapping_rebuild_takes_the_new_mapping(
    tmp_path: Path,
) -> None:
    """A live recorder reads the mapping when it starts; a rebuild with a new one in between
    makes its next batch derive again with the new one."""
    lake = recorded(tmp_path)
    recorder = Recorder(lake, WEBHOOK_FEED)
    (tmp_path / "map.csv").write_text(OVERRIDES)
    rebuild(lake, status_map=tmp_path / "map.csv")
    raw = {
        "record_key": "webhook:w10",
        "webhook_id": "w10",
        "payload": json.dumps(
            hook("w10", CONNECTOR, "23:00", station(True, [("C3", "Finishing", "23:00")]))["body"]
        ).encode(),
        "headers": None,
        "received_at": datetime(2024, 4, 5, 23, 0, 1, tzinfo=UTC),
        "arrival_index": 0,
        "capture": "live",
    }
    recorder.append([raw])
    statuses = {r["evse_id"]: r["status"] for r in lake.read(Table.STATUS_EVENTS).to_pylist()}
    assert statuses["C3"] == "BLOCKED"


@pytest.mark.parametrize(
    "text, message",
    [
        ("status,state\nPreparing,AVAILABLE\n", "the first line must be ocpp_status,ocpi_status"),
        ("ocpp_status,ocpi_status\nPreparing,FREE\n", "line 2: 'FREE' is not an OCPI status"),
        ("ocpp_status,ocpi_status\nPreparing,BLOCKED\nPREPARING,CHARGING\n", "line 3: 'PREPA"),
        ("ocpp_status,ocpi_status\n,AVAILABLE\n", "line 2: OCPP status ''"),
    ],
)  # fmt: skip
def test_a_bad_status_map_is_refused_and_changes_nothing(
    tmp_path: Path, text: str, message: str
) -> None:
    lake = recorded(tmp_path)
    before = sorted(p.name for p in lake.files(Table.STATUS_EVENTS))
    (tmp_path / "map.csv").write_text(text)
    with pytest.raises(UsageError, match=re.escape(message)):
        rebuild(lake, status_map=tmp_path / "map.csv")
    assert not (lake.root / "_config").exists()
    assert sorted(p.name for p in lake.files(Table.STATUS_EVENTS)) == before


def test_cli_a_bad_status_map_is_one_line_and_exit_2(tmp_path: Path) -> None:
    lake = recorded(tmp_path)
    (tmp_path / "map.csv").write_text("ocpp_status,ocpi_status\nPreparing,FREE\n")
    done = evlog_cli(
        "lake", "rebuild", "--lake", str(lake.root), "--status-map", str(tmp_path / "map.csv")
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"evlog: error: --status-map {tmp_path / 'map.csv'}, line 2: 'FREE' is not an OCPI status "
        "(AVAILABLE, CHARGING, RESERVED, BLOCKED, INOPERATIVE, OUT_OF_ORDER, PLANNED, REMOVED, "
        "UNKNOWN)"
    ]
    assert not (lake.root / "_config").exists()


def test_rebuild_derives_ports_on_a_lake_of_raw_rows_only(tmp_path: Path) -> None:
    """A lake recorded before connectors were observations holds the webhooks raw and their
    connectivity events, no port events: `lake rebuild` derives them from the raw rows."""
    lake = recorded(tmp_path)
    shutil.rmtree(lake.table_dir(Table.STATUS_EVENTS))
    shutil.rmtree(lake.table_dir(Table.QUARANTINE), ignore_errors=True)
    assert not lake.has_files(Table.STATUS_EVENTS)
    done = evlog_cli("lake", "rebuild", "--lake", str(lake.root))
    assert done.returncode == 0, done.stderr
    assert "rebuilt from 9 raw records: 21 events, 0 quarantined" in done.stdout
    check_default_figures(evlog.open_lake(lake.root))


def test_cli_record_webhooks_then_availability_on_an_edrv_only_lake(tmp_path: Path) -> None:
    (tmp_path / "hooks.jsonl").write_bytes(jsonl(HOOKS))
    root = str(tmp_path / "lake")
    done = evlog_cli("record", "webhooks", "--from", str(tmp_path / "hooks.jsonl"), "--lake", root)
    assert done.returncode == 0, done.stderr
    assert "recorded 9 records (21 events), 1 duplicates" in done.stdout
    report = evlog_cli(
        "report", "availability", "--lake", root, "--start", DAY[0], "--end", DAY[1],
        "--by", "none", "--format", "csv",
    )  # fmt: skip
    assert report.returncode == 0, report.stderr
    rows = {r["evse_id"]: r for r in csv.DictReader(io.StringIO(report.stdout))}
    assert set(rows) == {"C1", "C2"}
    assert rows["C1"]["location_id"] == "S1"
    assert float(rows["C1"]["out_of_order_s"]) == 6 * H
    assert float(rows["C1"]["available_pct"]) == pytest.approx(100 * 16 / 24, abs=1e-3)
    assert float(rows["C2"]["charging_s"]) == 7_800.0


def test_poll_snapshot_connectors_are_port_observations() -> None:
    """`GET /chargestations/{id}` bodies in raw_polls: `online` at receive time, and each
    connector at its own `updatedAt`."""
    body = {"result": station(True, [("C1", "Faulted", "07:00"), ("C2", "Occupied", "08:00")])}
    raw = {
        "record_key": "poll:S1:1",
        "payload": json.dumps(body).encode(),
        "received_at": datetime(2024, 4, 5, 9, tzinfo=UTC),
        "arrival_index": 0,
        "capture": "poll",
        "session_id": "s",
    }
    derived = derive_polls([raw], timedelta(minutes=5))
    assert derived.events.column("online").to_pylist() == [True]
    ports = derived.ports.select(["evse_id", "location_id", "status", "event_time"]).to_pylist()
    assert [(p["evse_id"], p["location_id"], p["status"], p["event_time"].hour) for p in ports] == [
        ("C1", "S1", "OUT_OF_ORDER", 7),
        ("C2", "S1", "CHARGING", 8),
    ]


def test_an_edrv_only_lake_judges_its_ports_by_the_webhook_receivers_coverage(
    tmp_path: Path,
) -> None:
    """docs/replay.md, rule *Coverage*: in a lake of eDRV alone the webhook receiver's coverage
    governs the ports as it does the stations. The import declares 00:00-08:00 and 12:00-24:00
    covered: 08:00-12:00 is unobserved for C1 and C2, not held; a HERE capture in the same lake
    hands the EVSEs back to the status stream's coverage (it has none: observed throughout)."""
    (tmp_path / "hooks.jsonl").write_bytes(jsonl(HOOKS))
    lake = Lake.create(tmp_path / "lake")
    day = datetime(2024, 4, 5, tzinfo=UTC)
    covered = [
        (day, day + timedelta(hours=8)),
        (day + timedelta(hours=12), day + timedelta(days=1)),
    ]
    record_webhook_files(lake, [str(tmp_path / "hooks.jsonl")], coverage=covered)
    ports = by_port(evlog.open_lake(lake.root).availability(*DAY, by="none"))
    c1, c2 = ports["C1"], ports["C2"]
    assert c1["unobserved_s"] == c2["unobserved_s"] == 4 * H
    # C1: no_data 00-06 (its Faulted observation is from before the coverage), AVAILABLE 06-08,
    # unobserved 08-12, no_data 12-18 (after the gap, until its next event), INOPERATIVE 18-20,
    # AVAILABLE 20-24
    assert (c1["out_of_order_s"], c1["available_s"], c1["inoperative_s"]) == (0.0, 6 * H, 2 * H)
    assert c1["no_data_s"] == 12 * H
    # C2: AVAILABLE 00-08, unobserved 08-12, in use 12:00-12:10 (Finishing, reported at 12:00),
    # AVAILABLE 12:10-24
    assert (c2["charging_s"], c2["available_s"], c2["no_data_s"]) == (600, 8 * H + 11 * H + 3000, 0)
    reliability = evlog.open_lake(lake.root).reliability("nevi", month="2024-04")
    c1_month = reliability.filter(pl.col("port_id") == "C1").row(0, named=True)
    assert c1_month["unobserved_min"] > 4 * 60  # the 4 hours, and the month after the data
    # a HERE message in the lake: EVSEs are the status stream's again (no coverage rows of its
    # own: observed throughout, rule *Coverage*)
    here = tmp_path / "here.ndjson"
    here.write_text(
        '{"id": "L9", "evses": [{"uid": "E9", "status": "AVAILABLE", '
        '"last_updated": "2024-04-05T00:00:00Z"}]}\n'
    )
    evlog.record_stream(lake.root, [str(here)])
    again = by_port(evlog.open_lake(lake.root).availability(*DAY, by="none"))
    assert again["C1"]["unobserved_s"] == 0.0
    assert (again["C1"]["out_of_order_s"], again["C1"]["available_s"]) == (6 * H, 16 * H)
