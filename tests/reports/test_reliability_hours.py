"""Opening hours (`--opening-hours`), the outage ledger (`--outages`) and the exclusion budgets
(`--budgets`) of the reliability report: worked examples computed by hand, on real Parquet lakes.

Every expected figure is written out as arithmetic in the test (minutes), never taken from the code.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pyarrow.parquet as pq
import pytest

import evlog
from evlog._errors import UsageError
from evlog._lake.rollups import zone_dir
from evlog._reports.opening_hours import closed_intervals, load_opening_hours
from evlog._upkeep.compact import compact
from tests.replay.lakes import StatusEvent, at, make_lake
from tests.reports.test_reliability import port_row

DAY = 1440
HOUR = 60
NEVI_YEAR = 525_600
OPEN_DAY = 12 * HOUR  # 08:00-20:00


def ev(evse: str, status: str, when: str) -> StatusEvent:
    return StatusEvent(evse, status, at(when), location_id="L1")


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# E1 (location L1): out from Friday 10 January 18:00 to Monday 13 January 10:00 (64 h), and from
# Saturday 15 February 12:00 to Sunday 16 February 12:00 (24 h); observed from before every basis
# (February 2024) to the quarter's end (its last event), so no time is unobserved.
EVENTS = [
    ev("E1", "AVAILABLE", "2024-01-01T00:00:00"),
    ev("E1", "OUT_OF_ORDER", "2025-01-10T18:00:00"),
    ev("E1", "AVAILABLE", "2025-01-13T10:00:00"),
    ev("E1", "OUT_OF_ORDER", "2025-02-15T12:00:00"),
    ev("E1", "AVAILABLE", "2025-02-16T12:00:00"),
    ev("E1", "AVAILABLE", "2025-04-01T00:00:00"),
]
# L1 is open Monday to Friday 08:00-20:00 London time (= UTC until 30 March), closed on New Year's
# Day, and open exceptionally on Saturday 15 February 10:00-14:00.
HOURS_CSV = """entity_id,weekday,open,close,tz
L1,mon-fri,08:00,20:00,Europe/London
L1,closed,2025-01-01,2025-01-02,Europe/London
L1,open,2025-02-15T10:00,2025-02-15T14:00,Europe/London
"""
HOURS_OCPI = [
    {
        "id": "L1",
        "time_zone": "Europe/London",
        "opening_times": {
            "twentyfourseven": False,
            "regular_hours": [
                {"weekday": day, "period_begin": "08:00", "period_end": "20:00"}
                for day in range(1, 6)
            ],
            "exceptional_openings": [
                {"period_begin": "2025-02-15T10:00:00Z", "period_end": "2025-02-15T14:00:00Z"}
            ],
            "exceptional_closings": [
                {"period_begin": "2025-01-01T00:00:00Z", "period_end": "2025-01-02T00:00:00Z"}
            ],
        },
    },
    {"id": "L2", "opening_times": None},  # no opening_times: says nothing, open throughout
]
# Open time by hand: January 2025 has 23 weekdays (1 January is a Wednesday), less New Year's Day;
# February 20; March 21; plus the 4 h of 15 February.
JANUARY_OPEN = (23 - 1) * OPEN_DAY
FEBRUARY_OPEN = 20 * OPEN_DAY + 4 * HOUR
Q1_OPEN = JANUARY_OPEN + FEBRUARY_OPEN + 21 * OPEN_DAY
# Outage inside the hours: Friday 18-20 and Monday 08-10 (4 h of 64); Saturday 12-14 (2 h of 24).
JANUARY_OUTAGE, JANUARY_OPEN_OUTAGE = 64 * HOUR, 4 * HOUR
FEBRUARY_OUTAGE, FEBRUARY_OPEN_OUTAGE = 24 * HOUR, 2 * HOUR


@pytest.fixture
def lake(tmp_path: Path) -> evlog.EvlogLake:
    make_lake(tmp_path / "lake", status=EVENTS)
    return evlog.open_lake(tmp_path / "lake")


@pytest.fixture(params=["csv", "ocpi"])
def hours(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    if request.param == "csv":
        return write(tmp_path / "hours.csv", HOURS_CSV)
    return write(tmp_path / "hours.json", json.dumps(HOURS_OCPI))


def test_uk_closed_time_leaves_the_basis(lake: evlog.EvlogLake, hours: Path) -> None:
    frame = lake.reliability("uk-pcpr", quarter="2025-Q1", opening_hours=hours)
    january = port_row(frame, "2025-01", "E1")
    assert january["denominator_min"] == pytest.approx(JANUARY_OPEN)  # 15,840, not 44,640
    assert january["t_outage_min"] == pytest.approx(JANUARY_OPEN_OUTAGE)  # closed time is no outage
    assert january["t_excluded_min"] == 0
    assert january["uptime_pct"] == pytest.approx((15_840 - 240) / 15_840 * 100)
    assert january["passed"] is False  # 98.48 % < 99 %
    # coverage is over the open time too: all of it observed
    assert january["measured_min"] == pytest.approx(JANUARY_OPEN)
    assert january["coverage_pct"] == pytest.approx(100.0)
    february = port_row(frame, "2025-02", "E1")
    assert february["month_uptime_pct"] == pytest.approx((14_640 - 120) / 14_640 * 100)
    march = port_row(frame, "2025-03", "E1")  # the calendar year to date: January to March
    assert march["denominator_min"] == pytest.approx(Q1_OPEN)
    assert Q1_OPEN == 45_600
    assert march["t_outage_min"] == pytest.approx(JANUARY_OPEN_OUTAGE + FEBRUARY_OPEN_OUTAGE)
    assert march["uptime_pct"] == pytest.approx((45_600 - 360) / 45_600 * 100)
    assert march["passed"] is True
    network = frame.filter((pl.col("scope") == "network") & (pl.col("report_month") == "2025-03"))
    assert network["coverage_pct"][0] == pytest.approx(100.0)  # over the open time, like the port's
    assert network["passed"][0] is True  # reg. 7(2): the network verdict
    # April, after the data's end (1 April): only its open time (22 weekdays) is unknown
    april = port_row(
        lake.reliability("uk-pcpr", month="2025-04", opening_hours=hours), "2025-04", "E1"
    )
    assert april["measured_min"] == pytest.approx(Q1_OPEN)  # not 45,600 + 15,840 - 43,200
    assert april["coverage_pct"] == pytest.approx(45_600 / (45_600 + 22 * OPEN_DAY) * 100)
    assert april["passed"] is None  # 74 % observed, under 95 %
    # the ledger: the outage's real length, its closed minutes, what counts
    ledger = lake.reliability("uk-pcpr", month="2025-01", opening_hours=hours, outages=True)
    row = ledger.row(0, named=True)
    assert row["outage_duration"] == pytest.approx(JANUARY_OUTAGE)
    assert row["closed_min"] == pytest.approx(JANUARY_OUTAGE - JANUARY_OPEN_OUTAGE)
    assert row["exempted_outage"] == 0
    assert row["counted_min"] == pytest.approx(JANUARY_OPEN_OUTAGE)
    # without the file: the whole month and the whole outage
    plain = port_row(lake.reliability("uk-pcpr", month="2025-01"), "2025-01", "E1")
    assert plain["denominator_min"] == 31 * DAY
    assert plain["t_outage_min"] == pytest.approx(JANUARY_OUTAGE)


def test_nevi_and_cec_exclude_time_outside_hours(lake: evlog.EvlogLake, hours: Path) -> None:
    frame = lake.reliability("nevi", quarter="2025-Q1", opening_hours=hours)
    january = port_row(frame, "2025-01", "E1")
    assert january["denominator_min"] == NEVI_YEAR  # the fixed denominator stays
    assert january["t_outage_min"] == pytest.approx(JANUARY_OUTAGE)
    assert january["t_excluded_min"] == pytest.approx(JANUARY_OUTAGE - JANUARY_OPEN_OUTAGE)
    assert january["uptime_pct"] == pytest.approx((525_600 - 240) / 525_600 * 100)
    february = port_row(frame, "2025-02", "E1")
    assert february["month_excluded_min"] == pytest.approx(FEBRUARY_OUTAGE - FEBRUARY_OPEN_OUTAGE)
    assert february["t_excluded_min"] == pytest.approx(3_600 + 1_320)
    ledger = lake.reliability("nevi", quarter="2025-Q1", opening_hours=hours, outages=True)
    first = ledger.row(0, named=True)
    assert first["exempted_outage"] == pytest.approx(3_600)
    assert first["exclusion_cause"] == "outside_hours" and first["exclusion_code"] == "6"
    assert first["excluded_by"] in ("hours.csv:2,3,4", "hours.json:[0]")
    assert first["counted_min"] == pytest.approx(240) and first["closed_min"] == 0
    # CEC: excluded the same way, over the basis' real length (February 2024 has 29 days)
    cec = port_row(lake.reliability("cec", month="2025-01", opening_hours=hours), "2025-01", "E1")
    assert cec["denominator_min"] == 366 * DAY
    assert cec["t_excluded_min"] == pytest.approx(3_600)
    assert cec["uptime_pct"] == pytest.approx((527_040 - 240) / 527_040 * 100)


def test_opening_hours_replay_every_event(tmp_path: Path) -> None:
    """Closed time cuts days, which the rollups' per-status day totals cannot: with an opening-hours
    file the report replays the events, so a spoilt rollup of a day changes nothing."""
    january = [ev("E1", "AVAILABLE", "2025-01-01T00:00:00"), *EVENTS[1:3]]  # a short lake
    lake = make_lake(tmp_path / "lake", status=[*january, ev("E1", "AVAILABLE", "2025-02-01")])
    compact(lake)
    hours = write(tmp_path / "hours.csv", HOURS_CSV)
    frame = evlog.open_lake(lake.root).reliability("uk-pcpr", month="2025-01", opening_hours=hours)
    path = zone_dir(lake, "UTC") / "date=2025-01-13" / "rollup.parquet"
    pq.write_table(pq.read_table(path).slice(0, 0), path)  # Monday's 2 h of open outage: gone
    again = evlog.open_lake(lake.root).reliability("uk-pcpr", month="2025-01", opening_hours=hours)
    assert again.equals(frame)
    assert port_row(again, "2025-01", "E1")["t_outage_min"] == pytest.approx(JANUARY_OPEN_OUTAGE)


def test_closed_intervals_follow_the_local_clock() -> None:
    """08:00-20:00 in London is 07:00-19:00 UTC in summer: the hours are wall-clock times, and a
    period past midnight (22:00-02:00) runs into the next day."""
    path = Path(__file__).parent / "hours-dst.csv"
    try:
        write(path, "entity_id,weekday,open,close\nL1,7,22:00,02:00\n")
        (entry,) = load_opening_hours(path, ZoneInfo("Europe/London"))
    finally:
        path.unlink()
    # Sunday 30 March 2025: the clocks go forward at 01:00 GMT; 22:00 BST = 21:00 UTC.
    closed = closed_intervals(entry, at("2025-03-30T00:00:00"), at("2025-03-31T06:00:00"))
    assert closed == [
        (at("2025-03-30T00:00:00"), at("2025-03-30T21:00:00")),
        (at("2025-03-31T01:00:00"), at("2025-03-31T06:00:00")),  # 02:00 BST
    ]


BAD_CSV = [
    ("entity_id,weekday,open\n", r"hours\.csv:1: header lacks column\(s\) close"),
    ("entity_id,weekday,open,close\nL1,8,08:00,20:00\n", r"hours\.csv:2: weekday '8' is not"),
    ("entity_id,weekday,open,close\nL1,mon,8am,20:00\n", r"hours\.csv:2: open: expected a time"),
    ("entity_id,weekday,open,close\nL1,mon,08:00,24:30\n", r"hours\.csv:2: close: expected"),
    (
        "entity_id,weekday,open,close\nL1,mon,08:00,20:00\nL1,closed,2025-01-02,2025-01-01\n",
        r"hours\.csv:3: end 2025-01-01.* is not after begin",
    ),
    ("entity_id,weekday,open,close\n,mon,08:00,20:00\n", r"hours\.csv:2: entity_id is empty"),
    (
        "entity_id,weekday,open,close,tz\nL1,mon,08:00,20:00,Europe/London\nL1,tue,08:00,20:00,UTC\n",
        r"hours\.csv:3: tz UTC differs from Europe/London \(line 2\)",
    ),
    ("entity_id,weekday,open,close,tz\nL1,mon,08:00,20:00,Mars/Olympus\n", r"unknown time zone"),
]


def _location(**opening_times: object) -> str:
    return json.dumps([{"id": "L1", "opening_times": {"twentyfourseven": False, **opening_times}}])


BAD_JSON = [
    ('[{"id": "L1",\n "opening_times": }]', r"hours\.json:2: not JSON"),
    (
        _location(regular_hours=[{"weekday": 8, "period_begin": "08:00", "period_end": "20:00"}]),
        r"\[0\]\.opening_times\.regular_hours\[0\]\.weekday: expected 1 \(Monday\) to 7",
    ),
    (
        _location(regular_hours=[{"weekday": 1, "period_end": "20:00"}]),
        r"regular_hours\[0\]\.period_begin: expected a string",
    ),
    (_location(), r"\[0\]\.opening_times\.regular_hours: twentyfourseven is false"),
    ('[{"id": "L1", "opening_times": {}}]', r"opening_times\.twentyfourseven: expected true"),
    (
        _location(
            regular_hours=[{"weekday": 1, "period_begin": "08:00", "period_end": "20:00"}],
            exceptional_closings=[{"period_begin": "soon", "period_end": "2025-01-01T00:00:00Z"}],
        ),
        r"exceptional_closings\[0\]\.period_begin: expected an ISO 8601",
    ),
    ('[{"opening_times": {"twentyfourseven": true}}]', r"\[0\]\.id: expected the location's id"),
]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [("hours.csv", *case) for case in BAD_CSV] + [("hours.json", *case) for case in BAD_JSON],
)
def test_bad_files(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = write(tmp_path / name, text)
    with pytest.raises(UsageError, match=r"^--opening-hours: .*" + message):
        load_opening_hours(path, ZoneInfo("UTC"))


# ------------------------------------------------------------------------------------------------
# the ledger and the budgets


@pytest.fixture
def capped_lake(tmp_path: Path) -> tuple[evlog.EvlogLake, Path]:
    make_lake(
        tmp_path / "lake",
        status=[
            ev("E1", "AVAILABLE", "2024-01-01T00:00:00"),
            ev("E1", "OUT_OF_ORDER", "2025-03-01T00:00:00"),
            ev("E1", "AVAILABLE", "2025-03-15T00:00:00"),  # 14 days, vandalism
            ev("E1", "INOPERATIVE", "2025-02-01T00:00:00"),
            ev("E1", "AVAILABLE", "2025-02-03T00:00:00"),  # 48 h maintenance
            ev("E1", "INOPERATIVE", "2025-05-01T00:00:00"),
            ev("E1", "AVAILABLE", "2025-05-02T12:00:00"),  # 36 h maintenance
        ],
    )
    exclusions = write(
        tmp_path / "x.csv",
        "entity_id,start,end,cause,notes\n"
        "E1,2025-02-28,2025-03-10,vandalism,cable cut\n"
        "E1,2025-03-05,2025-03-20,vandalism,same incident\n"
        "E1,2025-02-01,2025-02-03,planned_maintenance,firmware\n"
        "L1,2025-05-01,2025-05-02T12:00:00Z,maintenance,\n",
    )
    return evlog.open_lake(tmp_path / "lake"), exclusions


def test_ledger_shows_the_vandalism_cap_and_the_overflow(
    capped_lake: tuple[evlog.EvlogLake, Path],
) -> None:
    lake, exclusions = capped_lake
    ledger = lake.reliability("cec", month="2025-03", exclusions=exclusions, outages=True)
    assert ledger.height == 1
    row = ledger.row(0, named=True)
    assert row["outage_duration"] == pytest.approx(14 * DAY)
    assert row["exempted_outage"] == pytest.approx(10 * DAY)  # the incident's cap
    assert row["over_cap_min"] == pytest.approx(4 * DAY)  # beyond it: counted
    assert row["counted_min"] == pytest.approx(4 * DAY)
    assert row["exclusion_cause"] == "vandalism" and row["exclusion_code"] == "4"
    assert row["excluded_by"] == "x.csv:2;x.csv:3"  # two rows, one incident
    assert row["exclusion_notes"] == "cable cut | same incident"
    assert row["outage_states"] == "OUT_OF_ORDER"
    # the existing columns keep their order and meaning (the exports read them)
    assert ledger.columns[:9] == [
        "port_id", "station_id", "outage_id", "outage_start", "outage_end", "outage_duration",
        "outage_cause", "exempted_outage", "outage_states",
    ]  # fmt: skip
    assert row["outage_id"] == "E1@20250301T000000Z" and row["outage_cause"] == "vandalism"
    # each outage names the rows that excluded it, not every row of its cause
    february, may = (
        lake.reliability("cec", month=month, exclusions=exclusions, outages=True).row(0, named=True)
        for month in ("2025-02", "2025-05")
    )
    assert (february["excluded_by"], february["exclusion_notes"]) == ("x.csv:4", "firmware")
    assert (may["excluded_by"], may["exclusion_notes"]) == ("x.csv:5", None)
    assert may["exclusion_code"] == "3"


def test_budgets_audit_is_stateful(capped_lake: tuple[evlog.EvlogLake, Path]) -> None:
    lake, exclusions = capped_lake

    def budgets(month: str) -> dict[str, dict[str, object]]:
        frame = lake.reliability("cec", month=month, exclusions=exclusions, budgets=True)
        return {row["cause"]: row for row in frame.iter_rows(named=True)}

    march = budgets("2025-03")
    maintenance = march["planned_maintenance"]
    assert maintenance["cap_kind"] == "year" and maintenance["year"] == "2025"
    assert maintenance["cap_min"] == 72 * HOUR
    assert maintenance["used_min"] == pytest.approx(48 * HOUR)  # February's
    assert maintenance["left_min"] == pytest.approx(24 * HOUR)
    assert maintenance["over_cap_min"] == 0
    vandalism = march["vandalism"]
    assert vandalism["cap_kind"] == "incident" and vandalism["cap_min"] == 10 * DAY
    assert vandalism["incident_start"] == at("2025-02-28T00:00:00")
    assert vandalism["incident_end"] == at("2025-03-20T00:00:00")
    assert (vandalism["used_min"], vandalism["left_min"]) == (10 * DAY, 0)
    assert vandalism["over_cap_min"] == pytest.approx(4 * DAY)
    assert vandalism["excluded_by"] == "x.csv:2;x.csv:3"
    # May: 48 h + 36 h = 84 h in 2025, 72 h excluded, 12 h beyond the cap
    may = budgets("2025-05")["planned_maintenance"]
    assert may["used_min"] == pytest.approx(72 * HOUR) and may["left_min"] == 0
    assert may["over_cap_min"] == pytest.approx(12 * HOUR)
    assert may["excluded_by"] == "x.csv:4;x.csv:5"  # the L1 row names E1's location
    frame = lake.reliability("cec", month="2025-05", exclusions=exclusions)
    assert port_row(frame, "2025-05", "E1")["t_excluded_min"] == pytest.approx(10 * DAY + 72 * HOUR)
    with pytest.raises(UsageError, match="budgets: give either it or outages"):
        lake.reliability("cec", month="2025-05", outages=True, budgets=True)


# ------------------------------------------------------------------------------------------------
# the command line


def evlog_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evlog", *args], capture_output=True, text=True, timeout=120
    )


def test_cli_opening_hours_ledger_and_errors(lake: evlog.EvlogLake, tmp_path: Path) -> None:
    hours = write(tmp_path / "hours.csv", HOURS_CSV)
    base = ["report", "reliability", "--lake", str(tmp_path / "lake"), "--quarter", "2025-Q1"]
    figures = evlog_cli(
        *base, "--standard", "uk-pcpr", "--opening-hours", str(hours), "--format", "csv"
    )
    assert figures.returncode == 0, figures.stderr
    report = pl.read_csv(figures.stdout.encode())
    march = report.filter((pl.col("scope") == "port") & (pl.col("report_month") == "2025-03"))
    assert march["denominator_min"][0] == pytest.approx(45_600)
    assert march["uptime_pct"][0] == pytest.approx((45_600 - 360) / 45_600 * 100, abs=5e-4)
    out = tmp_path / "ledger.csv"
    ledger_run = evlog_cli(
        *base, "--standard", "nevi", "--opening-hours", str(hours), "--outages",
        "--format", "csv", "--output", str(out),
    )  # fmt: skip
    assert ledger_run.returncode == 0, ledger_run.stderr
    ledger = pl.read_csv(out)
    assert ledger.columns[-7:] == [
        "exclusion_cause", "exclusion_code", "exclusion_notes", "excluded_by", "over_cap_min",
        "closed_min", "counted_min",
    ]  # fmt: skip
    assert ledger["exempted_outage"].to_list() == pytest.approx([3_600, 1_320])
    assert ledger["excluded_by"].to_list() == ["hours.csv:2,3,4"] * 2
    bad = write(
        tmp_path / "bad.csv", "entity_id,weekday,open,close\nL1,mon,08:00,20:00\nL1,x,1,2\n"
    )
    failed = evlog_cli(*base, "--standard", "uk-pcpr", "--opening-hours", str(bad))
    assert failed.returncode == 2
    assert failed.stderr.count("\n") == 1 and "bad.csv:3: weekday 'x'" in failed.stderr
