"""A port is up only while its station is online too, wherever the feeds or the station map link
them (docs/reliability.md, "Connectivity"). Figures by hand, in minutes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

import evlog
from tests.replay.lakes import Connectivity, StatusEvent, at, make_lake, write_coverage
from tests.reports.test_reliability import port_row

HOUR = 60
NEVI_YEAR = 525_600


@pytest.fixture
def linked_lake(tmp_path: Path) -> Path:
    """C1 and C2: connectors of station S1 (their location is the station, as eDRV connectors'
    is); H1: a HERE EVSE at a HERE location. All AVAILABLE throughout; S1 offline for 6 h on
    10 January 2025; both recorders listened from 2024 to 2026."""
    lake = make_lake(
        tmp_path / "lake",
        connectivity=[
            Connectivity("S1", True, at("2024-01-01T00:00:00")),
            Connectivity("S1", False, at("2025-01-10T06:00:00")),
            Connectivity("S1", True, at("2025-01-10T12:00:00")),
        ],
        status=[
            StatusEvent("C1", "AVAILABLE", at("2024-01-01T00:00:00"), location_id="S1"),
            StatusEvent("C2", "AVAILABLE", at("2024-01-01T00:00:00"), location_id="S1"),
            # C2 is also out of order from 11:00 to 13:00: one outage with the offline time
            StatusEvent("C2", "OUT_OF_ORDER", at("2025-01-10T11:00:00"), location_id="S1"),
            StatusEvent("C2", "AVAILABLE", at("2025-01-10T13:00:00"), location_id="S1"),
            StatusEvent("H1", "AVAILABLE", at("2024-01-01T00:00:00"), location_id="here:loc:1"),
        ],
    )
    for source in ("here_stream", "edrv_webhooks"):
        span = (at("2024-01-01T00:00:00"), at("2026-01-01T00:00:00"))
        write_coverage(lake, source, {"s": [span]})
    return lake.root


def test_a_port_available_while_its_station_is_offline_is_out(linked_lake: Path) -> None:
    lake = evlog.open_lake(linked_lake)
    frame = lake.reliability("nevi", month="2025-01")
    c1, c2, h1 = (
        port_row(frame, "2025-01", "C1"),
        port_row(frame, "2025-01", "C2"),
        port_row(frame, "2025-01", "H1"),
    )
    assert c1["month_outage_min"] == 6 * HOUR
    assert c1["uptime_pct"] == pytest.approx((NEVI_YEAR - 6 * HOUR) / NEVI_YEAR * 100)
    assert c1["state_basis"] == "status+connectivity" and c1["station_id"] == "S1"
    assert c2["month_outage_min"] == 7 * HOUR  # 06:00-13:00, the overlap counted once
    assert h1["month_outage_min"] == 0 and h1["state_basis"] == "status"  # no link known
    network = frame.filter(pl.col("scope") == "network").row(0, named=True)
    assert network["state_basis"] == "mixed"
    # the outage list says the cause
    outages = lake.reliability("nevi", month="2025-01", outages=True)
    assert outages.select("port_id", "outage_states", "outage_duration").rows() == [
        ("C1", "offline", 6 * HOUR),
        ("C2", "OUT_OF_ORDER;offline", 7 * HOUR),
    ]
    # --status-only: the station is not consulted
    alone = lake.reliability("nevi", month="2025-01", status_only=True)
    assert port_row(alone, "2025-01", "C1")["month_outage_min"] == 0
    assert port_row(alone, "2025-01", "C2")["month_outage_min"] == 2 * HOUR
    assert port_row(alone, "2025-01", "C1")["state_basis"] == "status"
    # a station map links the HERE EVSE too
    mapped = lake.reliability("cec", month="2025-01", station_map=[("S1", "H1")])
    assert port_row(mapped, "2025-01", "H1")["month_outage_min"] == 6 * HOUR
    assert port_row(mapped, "2025-01", "H1")["state_basis"] == "status+connectivity"
    # UK judges the EVSE status (reg. 7(3), 7(4)): feed links are not applied
    uk = lake.reliability("uk-pcpr", month="2025-01")
    assert (
        port_row(uk, "2025-01", "C1")["month_outage_min"] == 0
        and port_row(uk, "2025-01", "C1")["state_basis"] == "status"
    )
    assert port_row(uk, "2025-01", "C2")["month_outage_min"] == 2 * HOUR


def test_cli_states_the_basis_of_one_feeds_ports(linked_lake: Path) -> None:
    result = subprocess.run(
        [
            sys.executable, "-m", "evlog", "report", "reliability", "--standard", "nevi",
            "--month", "2025-01", "--lake", str(linked_lake), "--format", "csv",
            "--columns", "port_id,state_basis,month_outage_min", "--feed", "edrv",
        ],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "port_id,state_basis,month_outage_min",
        "C1,status+connectivity,360.0",
        "C2,status+connectivity,420.0",
        ",status+connectivity,780.0",
    ]


def test_availability_counts_the_station_offline_too(linked_lake: Path) -> None:
    lake = evlog.open_lake(linked_lake)
    day = lake.availability("2025-01-10", "2025-01-11", by="none").sort("evse_id")
    rows = {r["evse_id"]: r for r in day.iter_rows(named=True)}
    c1, c2, h1 = rows["C1"], rows["C2"], rows["H1"]
    # C1: AVAILABLE all day, its station offline 06:00-12:00: available 18 of 24 hours
    assert c1["available_s"] == 24 * 3600 and c1["station_offline_s"] == 6 * 3600
    assert c1["available_pct"] == pytest.approx(18 / 24 * 100)
    assert c1["in_service_pct"] == pytest.approx(18 / 24 * 100)
    assert c1["state_basis"] == "status+connectivity"
    # C2: out of order 11:00-13:00 as well; offline 06:00-12:00 overlaps it 11:00-12:00
    assert c2["out_of_order_s"] == 2 * 3600 and c2["station_offline_s"] == 6 * 3600
    assert c2["available_pct"] == pytest.approx((22 - 5) / 24 * 100)
    assert c2["in_service_pct"] == pytest.approx((24 - 7) / 24 * 100)
    assert h1["available_pct"] == 100.0 and h1["state_basis"] == "status"
    assert h1["station_offline_s"] == 0
    alone = lake.availability("2025-01-10", "2025-01-11", by="none", status_only=True)
    assert alone.filter(pl.col("evse_id") == "C1")["available_pct"].to_list() == [100.0]
    mapped = lake.availability(
        "2025-01-10", "2025-01-11", by="none", station_map=[("S1", "H1")]
    ).filter(pl.col("evse_id") == "H1")
    assert mapped["available_pct"].to_list() == [pytest.approx(18 / 24 * 100)]


def test_summary_says_how_many_ports_come_from_each_feed(linked_lake: Path) -> None:
    frame = evlog.open_lake(linked_lake).summary("2025-01-10", "2025-01-11")
    evses = frame.filter(pl.col("item") == "EVSEs").row(0, named=True)
    assert evses["value"] == 3
    assert evses["detail"] == (
        "at 2 locations; 2 of them eDRV connectors, 1 from HERE"
        " (availability and reliability take --feed here|edrv)"
    )


def test_feed_keeps_one_feeds_ports(linked_lake: Path) -> None:
    """A network recorded from both feeds holds each charger twice; `feed` keeps one copy
    (docs/lake.md, "Feeds")."""
    lake = evlog.open_lake(linked_lake)
    ports = lake.availability("2025-01-10", "2025-01-11", by="none", feed="edrv")
    assert sorted(ports["evse_id"]) == ["C1", "C2"]
    here_only = lake.availability("2025-01-10", "2025-01-11", by="none", feed="HERE")
    assert here_only["evse_id"].to_list() == ["H1"]
    # with another filter: the ids both keep
    assert lake.availability("2025-01-10", "2025-01-11", by="none", feed="edrv", evse=["C2", "H1"])[
        "evse_id"
    ].to_list() == ["C2"]
    frame = lake.reliability("nevi", month="2025-01", feed="edrv")
    network = frame.filter(pl.col("scope") == "network").row(0, named=True)
    # C1 6 h and C2 7 h out; H1 left out of the network's sum
    assert network["ports"] == 2 and network["month_outage_min"] == 13 * HOUR
    with pytest.raises(evlog.UsageError, match=r"feed: expected one of here\|edrv"):
        lake.availability("2025-01-10", "2025-01-11", feed="ocpi")


def test_one_feeds_ports_are_judged_by_that_feeds_coverage(tmp_path: Path) -> None:
    """docs/lake.md, "Feeds": in a lake of both feeds, `feed="edrv"` governs the eDRV ports by the
    webhook receiver's coverage (here: down 6 h on 10 January), the default and `feed="here"` by
    the HERE recorder's (up throughout). Figures in hours by hand."""
    lake = make_lake(
        tmp_path / "lake",
        connectivity=[Connectivity("S1", True, at("2025-01-01T00:00:00"))],
        status=[
            StatusEvent("C1", "AVAILABLE", at("2025-01-01T00:00:00"), location_id="S1"),
            StatusEvent("H1", "AVAILABLE", at("2025-01-01T00:00:00"), location_id="here:loc:1"),
        ],
    )
    year = (at("2025-01-01T00:00:00"), at("2026-01-01T00:00:00"))
    write_coverage(lake, "here_stream", {"h": [year]})
    write_coverage(
        lake,
        "edrv_webhooks",
        {"r": [(year[0], at("2025-01-10T06:00:00")), (at("2025-01-10T12:00:00"), year[1])]},
    )
    day = ("2025-01-10", "2025-01-11")
    opened = evlog.open_lake(lake.root)
    edrv = opened.availability(*day, by="none", feed="edrv").row(0, named=True)
    # C1: AVAILABLE 00-06, unobserved 06-12, no_data 12-24 (after the gap, until an event)
    assert (edrv["evse_id"], edrv["unobserved_s"], edrv["available_s"]) == (
        "C1",
        6 * 3600,
        6 * 3600,
    )
    assert edrv["no_data_s"] == 12 * 3600
    both_feeds = opened.availability(*day, by="none").sort("evse_id")
    assert both_feeds["unobserved_s"].to_list() == [0.0, 0.0]  # the status stream's coverage
    here_only = opened.availability(*day, by="none", feed="here").row(0, named=True)
    assert (here_only["evse_id"], here_only["available_s"]) == ("H1", 24 * 3600)
    # reliability: the basis is February 2024 to January 2025, unobserved before either recorder
    # started (335 days); the receiver's 6 h gap is unobserved too for C1 under `feed="edrv"`
    before = 335 * 24 * HOUR
    month = opened.reliability("nevi", month="2025-01", feed="edrv")
    assert port_row(month, "2025-01", "C1")["unobserved_min"] == before + 6 * HOUR
    default = opened.reliability("nevi", month="2025-01")
    assert port_row(default, "2025-01", "C1")["unobserved_min"] == before


def test_cli_warns_when_the_ports_are_of_both_feeds(linked_lake: Path) -> None:
    """Without `--feed`, a lake of both feeds' ports says what that means; with it, nothing."""
    base = [sys.executable, "-m", "evlog", "report", "reliability", "--standard", "nevi",
            "--month", "2025-01", "--lake", str(linked_lake), "--format", "csv"]  # fmt: skip
    mixed = subprocess.run(base, capture_output=True, text=True, check=False)
    assert mixed.returncode == 0, mixed.stderr
    assert "evlog: warning: the ports are of both feeds" in mixed.stderr
    assert "--feed here|edrv reports one feed" in mixed.stderr
    one = subprocess.run([*base, "--feed", "here"], capture_output=True, text=True, check=False)
    assert one.returncode == 0 and "both feeds" not in one.stderr
