"""Reliability report: worked examples computed by hand, against real Parquet lakes.

Every expected figure is written out as arithmetic in the test (minutes), never taken from the code.
"""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl
import pytest

import evlog
from evlog._cli import main
from evlog._errors import UsageError
from evlog._reports.exclusions import Cause, load_exclusions
from evlog._reports.reliability import RULES, Standard, parse_outage_states
from tests.replay.lakes import Connectivity, StatusEvent, at, make_lake, write_coverage

DAY = 1440  # minutes
HOUR = 60
NEVI_YEAR = 525_600
YEAR_365 = 365 * DAY
YEAR_366 = 366 * DAY


def ev(evse: str, status: str, when: str, location: str = "L1") -> StatusEvent:
    return StatusEvent(evse, status, at(when), location_id=location)


def observed_lake(
    root: Path,
    connectivity: list[Connectivity] | tuple[Connectivity, ...] = (),
    status: list[StatusEvent] | tuple[StatusEvent, ...] = (),
    until: str = "2027-01-01T00:00:00",
) -> None:
    """A lake whose status recorder listened from 2020 to `until`: the examples' ports are
    observed throughout, their last states held to `until` (not only to their last event)."""
    lake = make_lake(root, connectivity=connectivity, status=status)
    write_coverage(lake, "here_stream", {"s": [(at("2020-01-01T00:00:00"), at(until))]})


def write_csv(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def port_row(frame: pl.DataFrame, month: str, port: str) -> dict[str, object]:
    rows = frame.filter(
        (pl.col("scope") == "port")
        & (pl.col("report_month") == month)
        & (pl.col("port_id") == port)
    )
    assert rows.height == 1, rows
    return rows.row(0, named=True)


def network_row(frame: pl.DataFrame, month: str) -> dict[str, object]:
    rows = frame.filter((pl.col("scope") == "network") & (pl.col("report_month") == month))
    assert rows.height == 1
    return rows.row(0, named=True)


# A port observed from 2024-12-01, out of order for 3 days in June 2025.
THREE_DAY_OUTAGE = [
    ev("E1", "AVAILABLE", "2024-12-01T00:00:00"),
    ev("E1", "OUT_OF_ORDER", "2025-06-10T00:00:00"),
    ev("E1", "AVAILABLE", "2025-06-13T00:00:00"),
]


@pytest.fixture
def three_day_lake(tmp_path: Path) -> evlog.EvlogLake:
    observed_lake(tmp_path / "lake", status=THREE_DAY_OUTAGE)
    return evlog.open_lake(tmp_path / "lake")


def test_nevi_year_with_three_day_outage_one_day_excluded(
    three_day_lake: evlog.EvlogLake, tmp_path: Path
) -> None:
    exclusions = write_csv(
        tmp_path / "x.csv",
        ["entity_id,start,end,cause", "E1,2025-06-11T00:00:00Z,2025-06-12T00:00:00Z,grid"],
    )
    frame = three_day_lake.reliability("nevi", month="2025-12", exclusions=exclusions)
    row = port_row(frame, "2025-12", "E1")
    t_outage, t_excluded = 3 * DAY, 1 * DAY
    assert row["t_outage_min"] == pytest.approx(t_outage)
    assert row["t_excluded_min"] == pytest.approx(t_excluded)
    assert row["denominator_min"] == NEVI_YEAR
    assert row["uptime_pct"] == pytest.approx((525_600 - (4320 - 1440)) / 525_600 * 100)
    assert row["uptime_pct"] == pytest.approx(99.45205479452055)
    assert row["passed"] is True
    assert row["month_outage_min"] == 0  # December itself had no outage
    assert row["no_data_min"] == 0


def test_rolling_twelve_month_window(three_day_lake: evlog.EvlogLake) -> None:
    frame = three_day_lake.reliability("nevi", "2025-05-01T00:00:00Z", "2026-07-01T00:00:00Z")
    months = frame.filter(pl.col("scope") == "port").get_column("report_month").to_list()
    assert months == [f"2025-{m:02d}" for m in range(5, 13)] + [
        f"2026-{m:02d}" for m in range(1, 7)
    ]
    with_outage = (NEVI_YEAR - 3 * DAY) / NEVI_YEAR * 100
    assert port_row(frame, "2025-05", "E1")["uptime_pct"] == 100.0  # before the outage
    # Basis 2024-07..2025-06 (365 days): no data before 2024-12-01 (153 days), so the figure is
    # over the 212 observed days (the rule's denominator scaled to them), with no verdict.
    june = port_row(frame, "2025-06", "E1")
    assert june["measured_min"] == pytest.approx(212 * DAY)
    assert june["denominator_min"] == pytest.approx(NEVI_YEAR * 212 / 365)
    assert june["uptime_pct"] == pytest.approx((212 * DAY - 3 * DAY) / (212 * DAY) * 100)
    assert june["coverage_pct"] == pytest.approx(212 / 365 * 100)
    assert june["passed"] is None
    assert june["no_verdict_reason"] == "coverage 58.08 % is under 95 %"
    assert june["month_outage_min"] == pytest.approx(3 * DAY)
    # 2026-05 covers 2025-06..2026-05: still in; 2026-06 covers 2025-07..2026-06: out.
    assert port_row(frame, "2026-05", "E1")["uptime_pct"] == pytest.approx(with_outage)
    assert port_row(frame, "2026-05", "E1")["month_outage_min"] == 0
    assert port_row(frame, "2026-06", "E1")["uptime_pct"] == 100.0
    assert port_row(frame, "2026-06", "E1")["t_outage_min"] == 0


def test_month_boundaries_and_time_zone(tmp_path: Path) -> None:
    observed_lake(
        tmp_path / "lake",
        status=[
            ev("E1", "AVAILABLE", "2025-01-01T00:00:00"),
            ev("E1", "INOPERATIVE", "2025-03-31T22:00:00"),
            ev("E1", "AVAILABLE", "2025-04-01T03:00:00"),
        ],
    )
    lake = evlog.open_lake(tmp_path / "lake")
    utc = lake.reliability("nevi", "2025-03-01T00:00:00Z", "2025-05-01T00:00:00Z")
    assert port_row(utc, "2025-03", "E1")["month_outage_min"] == pytest.approx(2 * HOUR)
    assert port_row(utc, "2025-04", "E1")["month_outage_min"] == pytest.approx(3 * HOUR)
    outages = lake.reliability("nevi", "2025-03-01T00:00:00Z", "2025-05-01T00:00:00Z", outages=True)
    assert outages.height == 1  # one outage, not one per month
    assert outages["outage_duration"][0] == pytest.approx(5 * HOUR)
    # Reporting April alone clips the outage at the month's start.
    april = lake.reliability("nevi", month="2025-04", outages=True)
    assert april["outage_duration"][0] == pytest.approx(3 * HOUR)
    # In New York (EDT, UTC-4) the whole outage (18:00-23:00 local) falls on 31 March.
    ny = lake.reliability("nevi", month="2025-03", tz="America/New_York")
    assert port_row(ny, "2025-03", "E1")["month_outage_min"] == pytest.approx(5 * HOUR)
    ny_april = lake.reliability("nevi", month="2025-04", tz="America/New_York")
    assert port_row(ny_april, "2025-04", "E1")["month_outage_min"] == 0


def test_cec_vandalism_beyond_ten_day_cap_with_overlapping_rows(tmp_path: Path) -> None:
    observed_lake(
        tmp_path / "lake",
        status=[
            ev("E1", "AVAILABLE", "2024-01-01T00:00:00"),
            ev("E1", "OUT_OF_ORDER", "2025-03-01T00:00:00"),
            ev("E1", "AVAILABLE", "2025-03-15T00:00:00"),  # 14 days out
        ],
    )
    # Two overlapping rows are one incident: one 10-day cap, not two.
    exclusions = write_csv(
        tmp_path / "x.csv",
        [
            "entity_id,start,end,cause,note",
            "E1,2025-02-28T00:00:00Z,2025-03-10T00:00:00Z,vandalism,cable cut",
            "E1,2025-03-05T00:00:00Z,2025-03-20T00:00:00Z,Vandalism,same incident",
        ],
    )
    frame = evlog.open_lake(tmp_path / "lake").reliability(
        "cec", month="2025-03", exclusions=exclusions
    )
    row = port_row(frame, "2025-03", "E1")
    assert row["t_outage_min"] == pytest.approx(14 * DAY)
    assert row["t_excluded_min"] == pytest.approx(10 * DAY)  # capped
    # Basis 2024-04-01..2025-04-01 has 365 days; 4 days beyond the cap count as outage.
    assert row["denominator_min"] == YEAR_365
    assert row["uptime_pct"] == pytest.approx((525_600 - 4 * 1440) / 525_600 * 100)
    assert row["uptime_pct"] == pytest.approx(98.9041095890411)
    # NEVI has no cap: the whole overlap (14 days) is excluded.
    nevi = evlog.open_lake(tmp_path / "lake").reliability(
        "nevi", month="2025-03", exclusions=exclusions
    )
    assert port_row(nevi, "2025-03", "E1")["t_excluded_min"] == pytest.approx(14 * DAY)


def test_cec_separate_vandalism_incidents_each_have_a_cap(tmp_path: Path) -> None:
    observed_lake(
        tmp_path / "lake",
        status=[
            ev("E1", "AVAILABLE", "2024-01-01T00:00:00"),
            ev("E1", "OUT_OF_ORDER", "2025-01-01T00:00:00"),
            ev("E1", "AVAILABLE", "2025-01-12T00:00:00"),  # 11 days
            ev("E1", "OUT_OF_ORDER", "2025-02-01T00:00:00"),
            ev("E1", "AVAILABLE", "2025-02-12T00:00:00"),  # 11 days
        ],
    )
    exclusions = write_csv(
        tmp_path / "x.csv",
        [
            "entity_id,start,end,cause",
            "E1,2025-01-01,2025-01-12,vandalism",
            "E1,2025-02-01,2025-02-12,vandalism",
        ],
    )
    lake = evlog.open_lake(tmp_path / "lake")
    frame = lake.reliability("cec", month="2025-02", exclusions=exclusions)
    row = port_row(frame, "2025-02", "E1")
    assert row["t_outage_min"] == pytest.approx(22 * DAY)
    assert row["t_excluded_min"] == pytest.approx(20 * DAY)
    assert row["month_excluded_min"] == pytest.approx(10 * DAY)
    outages = lake.reliability("cec", month="2025-02", exclusions=exclusions, outages=True)
    assert outages.height == 1
    assert outages["outage_cause"][0] == "vandalism"
    assert outages["exempted_outage"][0] == pytest.approx(10 * DAY)


def test_cec_planned_maintenance_beyond_72_hours_per_year(tmp_path: Path) -> None:
    observed_lake(
        tmp_path / "lake",
        status=[
            ev("E1", "AVAILABLE", "2024-01-01T00:00:00"),
            ev("E1", "INOPERATIVE", "2025-02-01T00:00:00"),
            ev("E1", "AVAILABLE", "2025-02-03T00:00:00"),  # 48 h
            ev("E1", "INOPERATIVE", "2025-05-01T00:00:00"),
            ev("E1", "AVAILABLE", "2025-05-02T12:00:00"),  # 36 h
            ev("E1", "INOPERATIVE", "2026-01-10T00:00:00"),
            ev("E1", "AVAILABLE", "2026-01-11T00:00:00"),  # 24 h, a new year's cap
        ],
    )
    exclusions = write_csv(
        tmp_path / "x.csv",
        [
            "entity_id,start,end,cause",
            "E1,2025-02-01T00:00:00Z,2025-02-03T00:00:00Z,planned_maintenance",
            "E1,2025-05-01T00:00:00Z,2025-05-02T12:00:00Z,scheduled maintenance",
            "E1,2026-01-10T00:00:00Z,2026-01-11T00:00:00Z,maintenance",
        ],
    )
    lake = evlog.open_lake(tmp_path / "lake")
    frame = lake.reliability(
        "cec", "2025-05-01T00:00:00Z", "2026-04-01T00:00:00Z", exclusions=exclusions
    )
    may = port_row(frame, "2025-05", "E1")
    # 48 h + 36 h = 84 h of maintenance in 2025: 72 h excluded, 12 h count.
    assert may["t_outage_min"] == pytest.approx(84 * HOUR)
    assert may["t_excluded_min"] == pytest.approx(72 * HOUR)
    assert may["month_excluded_min"] == pytest.approx(24 * HOUR)
    assert may["uptime_pct"] == pytest.approx((525_600 - 720) / 525_600 * 100)
    january = port_row(frame, "2026-01", "E1")  # basis 2025-02..2026-01
    assert january["t_outage_min"] == pytest.approx((84 + 24) * HOUR)
    assert january["t_excluded_min"] == pytest.approx((72 + 24) * HOUR)
    # Basis 2025-04..2026-03 misses February, whose 48 h still used up the 2025 cap.
    march = port_row(frame, "2026-03", "E1")
    assert march["t_outage_min"] == pytest.approx((36 + 24) * HOUR)
    assert march["t_excluded_min"] == pytest.approx((24 + 24) * HOUR)
    assert march["uptime_pct"] == pytest.approx((525_600 - 12 * 60) / 525_600 * 100)


def test_uk_blocked_week_is_reliable_and_network_is_the_mean(tmp_path: Path) -> None:
    observed_lake(
        tmp_path / "lake",
        status=[
            ev("E1", "AVAILABLE", "2024-12-01T00:00:00"),
            ev("E1", "BLOCKED", "2025-03-03T00:00:00"),
            ev("E1", "AVAILABLE", "2025-03-10T00:00:00"),  # a BLOCKED week
            ev("E1", "OUT_OF_ORDER", "2025-04-01T00:00:00"),
            ev("E1", "CHARGING", "2025-04-02T00:00:00"),  # 1 day against
            ev("E1", "UNKNOWN", "2025-05-01T00:00:00"),
            ev("E1", "AVAILABLE", "2025-05-03T00:00:00"),  # 2 days UNKNOWN: reliable
            ev("E2", "AVAILABLE", "2024-12-01T00:00:00"),
            ev("E2", "INOPERATIVE", "2025-08-01T00:00:00"),
            ev("E2", "RESERVED", "2025-08-06T00:00:00"),  # 5 days against
        ],
    )
    lake = evlog.open_lake(tmp_path / "lake")
    frame = lake.reliability("uk-pcpr", "2025-03-01T00:00:00Z", "2026-01-01T00:00:00Z")
    march = port_row(frame, "2025-03", "E1")
    assert march["uptime_pct"] == 100.0  # the BLOCKED week does not count against
    assert march["denominator_min"] == (31 + 28 + 31) * DAY  # calendar year to date
    december_e1 = port_row(frame, "2025-12", "E1")
    december_e2 = port_row(frame, "2025-12", "E2")
    assert december_e1["denominator_min"] == YEAR_365
    e1 = (525_600 - 1440) / 525_600 * 100
    e2 = (525_600 - 7200) / 525_600 * 100
    assert december_e1["uptime_pct"] == pytest.approx(e1)
    assert december_e2["uptime_pct"] == pytest.approx(e2)
    assert december_e2["passed"] is False  # 98.63 % < 99 %
    network = network_row(frame, "2025-12")
    assert network["uptime_pct"] == pytest.approx((e1 + e2) / 2)
    assert network["uptime_pct"] == pytest.approx(99.17808219178082)
    assert network["passed"] is True
    assert network["ports"] == 2 and network["ports_passed"] == 1
    # Overriding the outage states: BLOCKED now counts against E1.
    strict = lake.reliability(
        "uk-pcpr", month="2025-12", outage_states="BLOCKED,out-of-order,INOPERATIVE"
    )
    blocked = port_row(strict, "2025-12", "E1")
    assert blocked["t_outage_min"] == pytest.approx(7 * DAY + DAY)
    assert blocked["uptime_pct"] == pytest.approx((525_600 - 11_520) / 525_600 * 100)
    assert blocked["passed"] is False


def test_leap_year(tmp_path: Path) -> None:
    observed_lake(
        tmp_path / "lake",
        status=[
            ev("E1", "AVAILABLE", "2023-12-01T00:00:00"),
            ev("E1", "OUT_OF_ORDER", "2024-02-29T00:00:00"),
            ev("E1", "AVAILABLE", "2024-03-01T00:00:00"),  # all of 29 February
            ev("E2", "OUT_OF_ORDER", "2023-12-01T00:00:00"),  # out for good
        ],
    )
    lake = evlog.open_lake(tmp_path / "lake")
    nevi = lake.reliability("nevi", month="2024-12")
    e1 = port_row(nevi, "2024-12", "E1")
    assert e1["denominator_min"] == NEVI_YEAR  # fixed by the rule, although 2024 has 527,040
    assert e1["uptime_pct"] == pytest.approx((525_600 - 1440) / 525_600 * 100)
    e2 = port_row(nevi, "2024-12", "E2")
    assert e2["t_outage_min"] == pytest.approx(YEAR_366)  # 527,040 > 525,600
    assert e2["uptime_pct"] == 0.0  # clamped, not -0.27 %
    cec = lake.reliability("cec", month="2024-12")
    e1 = port_row(cec, "2024-12", "E1")
    assert e1["denominator_min"] == YEAR_366
    assert e1["uptime_pct"] == pytest.approx((527_040 - 1440) / 527_040 * 100)
    assert e1["uptime_pct"] == pytest.approx(99.72677595628416)


def test_exclusions_overlapping_each_other_and_the_window_edge(tmp_path: Path) -> None:
    observed_lake(
        tmp_path / "lake",
        status=[
            ev("E1", "AVAILABLE", "2024-06-01T00:00:00"),
            ev("E1", "OUT_OF_ORDER", "2024-12-30T00:00:00"),
            ev("E1", "AVAILABLE", "2025-01-03T00:00:00"),  # 4 days, 2 inside 2025
        ],
    )
    exclusions = write_csv(
        tmp_path / "x.csv",
        [
            "entity_id,start,end,cause",
            "E1,2024-12-25T00:00:00Z,2025-01-02T00:00:00Z,grid_power_loss",
            "E1,2025-01-01T12:00:00Z,2025-01-02T00:00:00Z,grid_power_loss",  # inside the first
            "L1,2025-01-01T18:00:00Z,2025-01-02T06:00:00Z,natural_disaster",  # by location
            "E1,2025-08-01T00:00:00Z,2025-08-05T00:00:00Z,vandalism",  # no outage to reduce
        ],
    )
    lake = evlog.open_lake(tmp_path / "lake")
    frame = lake.reliability("nevi", month="2025-12", exclusions=exclusions)
    row = port_row(frame, "2025-12", "E1")  # basis 2025-01-01..2026-01-01
    assert row["t_outage_min"] == pytest.approx(2 * DAY)
    # 1 Jan 00:00 to 2 Jan 06:00 (the natural disaster reaches 6 h further): 30 h, once.
    assert row["t_excluded_min"] == pytest.approx(30 * HOUR)
    assert row["uptime_pct"] == pytest.approx((525_600 - (2880 - 1800)) / 525_600 * 100)
    january = lake.reliability("nevi", month="2025-01", exclusions=exclusions, outages=True)
    assert january.height == 1
    assert january["outage_duration"][0] == pytest.approx(2 * DAY)  # clipped to the month
    assert january["exempted_outage"][0] == pytest.approx(30 * HOUR)
    assert january["outage_cause"][0] == "grid_power_loss;natural_disaster"


def test_station_offline_counts_for_mapped_ports_once(tmp_path: Path) -> None:
    observed_lake(
        tmp_path / "lake",
        connectivity=[
            Connectivity("S1", True, at("2025-01-01T00:00:00")),
            Connectivity("S1", False, at("2025-03-01T00:00:00")),
            Connectivity("S1", True, at("2025-03-02T00:00:00")),
        ],
        status=[
            ev("E1", "AVAILABLE", "2025-01-01T00:00:00"),
            ev("E1", "OUT_OF_ORDER", "2025-03-01T12:00:00"),
            ev("E1", "AVAILABLE", "2025-03-03T00:00:00"),
            ev("E2", "AVAILABLE", "2025-01-01T00:00:00"),
        ],
    )
    station_map = write_csv(tmp_path / "map.csv", ["station_id,evse_id", "S1,E1", "S1,E2"])
    lake = evlog.open_lake(tmp_path / "lake")
    frame = lake.reliability("nevi", month="2025-03", station_map=station_map)
    assert port_row(frame, "2025-03", "E1")["month_outage_min"] == pytest.approx(2 * DAY)
    assert port_row(frame, "2025-03", "E2")["month_outage_min"] == pytest.approx(DAY)
    assert port_row(frame, "2025-03", "E1")["station_id"] == "S1"
    outages = lake.reliability("nevi", month="2025-03", station_map=station_map, outages=True)
    e1 = outages.filter(pl.col("port_id") == "E1")
    assert e1.height == 1 and e1["outage_states"][0] == "OUT_OF_ORDER;offline"
    # Without the map, only E1's own status counts.
    plain = lake.reliability("nevi", month="2025-03")
    assert port_row(plain, "2025-03", "E1")["month_outage_min"] == pytest.approx(1.5 * DAY)
    assert port_row(plain, "2025-03", "E1")["station_id"] == "L1"


def test_nevi_defaults_unknown_is_outage_no_data_is_not(tmp_path: Path) -> None:
    observed_lake(
        tmp_path / "lake",
        status=[
            ev("E3", "AVAILABLE", "2025-06-01T00:00:00"),
            ev("E3", "UNKNOWN", "2025-07-01T00:00:00"),
            ev("E3", "AVAILABLE", "2025-07-02T00:00:00"),
        ],
    )
    row = port_row(
        evlog.open_lake(tmp_path / "lake").reliability("nevi", month="2025-12"), "2025-12", "E3"
    )
    assert row["no_data_min"] == pytest.approx((31 + 28 + 31 + 30 + 31) * DAY)  # Jan..May
    assert row["t_outage_min"] == pytest.approx(DAY)  # UNKNOWN
    assert RULES[Standard.UK_PCPR].outage_states == ("INOPERATIVE", "OUT_OF_ORDER")


def test_parse_outage_states() -> None:
    assert parse_outage_states("outOfOrder, inoperative") == ("OUT_OF_ORDER", "INOPERATIVE")
    assert parse_outage_states(None) is None  # the standard's apply
    with pytest.raises(UsageError, match=r"^--outage-states: unknown state 'BROKEN'"):
        parse_outage_states("BROKEN")
    # Unobserved time is not a status: --unobserved says how it counts.
    with pytest.raises(UsageError, match=r"^--outage-states: no_data is not a status; --unobs"):
        parse_outage_states("OUT_OF_ORDER,no_data")


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            ["entity_id,start,end,cause", "E1,2025-01-02,2025-01-01,grid"],
            r"x\.csv:2: end .* not after",
        ),
        (["entity_id,start,end,cause", "E1,yesterday,2025-01-01,grid"], r"x\.csv:2: start is not"),
        (
            [
                "entity_id,start,end,cause",
                "E1,2025-01-01,2025-01-02,grid",
                "E1,2025-01-01,2025-01-02,meteor",
            ],
            r"x\.csv:3: cause 'meteor' is not allowed under cec",
        ),
        (
            ["entity_id,start,end,cause", "E1,2025-01-01,2025-01-02,vehicle_fault"],
            r"x\.csv:2: cause",
        ),
        (["entity_id,start,stop,cause"], r"x\.csv:1: header lacks column\(s\) end"),
        (
            ["entity_id,start,end,cause", ",2025-01-01,2025-01-02,grid"],
            r"x\.csv:2: entity_id is empty",
        ),
        (["entity_id,start,end,cause", "E1,2025-01-01"], r"x\.csv:2: expected 4 fields"),
    ],
)
def test_bad_exclusion_files(tmp_path: Path, rows: list[str], message: str) -> None:
    path = write_csv(tmp_path / "x.csv", rows)
    with pytest.raises(UsageError, match=message):
        load_exclusions(path, RULES[Standard.CEC].causes, "cec")


def test_uk_allows_only_outside_hours(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "x.csv", ["entity_id,start,end,cause", "E1,2025-01-01,2025-01-02,vandalism"]
    )
    with pytest.raises(UsageError, match="not allowed under uk-pcpr"):
        load_exclusions(path, RULES[Standard.UK_PCPR].causes, "uk-pcpr")
    ok = write_csv(
        tmp_path / "y.csv", ["entity_id,start,end,cause", "E1,2025-01-01,2025-01-02,outside hours"]
    )
    assert load_exclusions(ok, RULES[Standard.UK_PCPR].causes, "uk-pcpr")[0].cause is (
        Cause.OUTSIDE_HOURS
    )


def run_cli(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    code = exit_info.value.code
    return code if isinstance(code, int) else 0


def test_cli_export_plot_and_errors(
    three_day_lake: evlog.EvlogLake, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake_dir = str(tmp_path / "lake")
    exclusions = write_csv(
        tmp_path / "x.csv", ["entity_id,start,end,cause", "E1,2025-06-11,2025-06-12,grid"]
    )
    out = tmp_path / "report.csv"
    plot = tmp_path / "ports.png"
    code = run_cli(
        [
            "report", "reliability", "--lake", lake_dir, "--standard", "nevi",
            "--quarter", "2025-Q2", "--exclusions", str(exclusions),
            "--export", "charging-use-spec", str(tmp_path / "export"),
            "--format", "csv", "--output", str(out), "--plot", str(plot),
        ]
    )  # fmt: skip
    assert code == 0
    report = pl.read_csv(out)
    assert report.filter(pl.col("scope") == "port").height == 3  # April, May, June
    assert plot.stat().st_size > 0
    with (tmp_path / "export" / "uptime.csv").open() as handle:
        uptime = list(csv.DictReader(handle))
    assert list(uptime[0]) == [
        "port_id", "station_id", "report_yr_mon", "uptime_pct", "outage_total", "outage_excluded",
    ]  # fmt: skip
    june = next(r for r in uptime if r["report_yr_mon"] == "2025-06")
    assert float(june["outage_total"]) == 3 * DAY and float(june["outage_excluded"]) == DAY
    with (tmp_path / "export" / "outages.csv").open() as handle:
        outages = list(csv.DictReader(handle))
    assert [k for k in outages[0] if k not in ("port_id", "station_id")] == [
        "outage_id", "outage_start", "outage_end", "outage_duration", "outage_cause",
        "exempted_outage",
    ]  # fmt: skip
    assert outages[0]["outage_start"] == "2025-06-10T00:00:00+00:00"
    assert float(outages[0]["outage_duration"]) == 3 * DAY
    assert float(outages[0]["exempted_outage"]) == DAY
    assert outages[0]["outage_cause"] == "grid_power_loss"

    capsys.readouterr()
    bad = write_csv(
        tmp_path / "bad.csv", ["entity_id,start,end,cause", "E1,2025-06-12,2025-06-11,grid"]
    )
    code = run_cli(
        [
            "report",
            "reliability",
            "--lake",
            lake_dir,
            "--standard",
            "nevi",
            "--exclusions",
            str(bad),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "bad.csv:2: end" in err
    code = run_cli(["report", "reliability", "--lake", lake_dir, "--standard", "eu"])
    assert code == 2 and "--standard" in capsys.readouterr().err
    code = run_cli(
        ["report", "reliability", "--lake", lake_dir, "--standard", "cec", "--month", "2025-13"]
    )
    assert code == 2 and "--month" in capsys.readouterr().err
