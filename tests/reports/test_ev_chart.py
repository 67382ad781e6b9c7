"""EV-ChART export (`--export ev-chart DIR`): Modules 3 and 4 on a hand-written lake, EV-ChART's
validation rules, and the Joint Office dashboard's figures, every expected value computed by hand.

The rules and figures come from US-JOET/ev-chart-open-source (module_validation, validate_m3,
validate_m4, unique_constraint, APIGetDashboardPPReliability); see evlog/_reports/ev_chart.py.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import polars as pl
import pytest

import evlog
from evlog import _faults as faults
from evlog._cli import main
from evlog._errors import ExportError
from evlog._reports import ev_chart
from evlog._reports.ev_chart import MODULE3, MODULE4, validate
from evlog._reports.reliability import ReliabilityResult
from tests.replay.lakes import StatusEvent, at, make_lake

M3_HEADER = (
    "station_id,port_id,network_provider,uptime_reporting_start,uptime_reporting_end,uptime,"
    "total_outage,total_outage_excl"
)
M4_HEADER = (
    "station_id,port_id,network_provider,outage_id,outage_duration,excluded_outage,"
    "excluded_outage_reason,excluded_outage_notes"
)
DAY = 1440
NEVI_YEAR = 525_600
# Operational dates as registered in EV-ChART: L1 long before, L2 less than a year before 2025.
OPERATIONAL = {"L1": date(2023, 6, 1), "L2": date(2025, 6, 1)}


def ev(evse: str, status: str, when: str, location: str) -> StatusEvent:
    return StatusEvent(evse, status, at(when), location_id=location)


EVENTS = [
    *(ev(p, "AVAILABLE", "2024-10-01T00:00:00", "L1") for p in ("E1", "E2")),
    *(ev(p, "AVAILABLE", "2024-10-01T00:00:00", "L2") for p in ("E3", "E4")),
    # E1: 6 h out in November, and 2 h across the new year (1 h in 2025-Q4, 1 h in 2026-Q1)
    ev("E1", "OUT_OF_ORDER", "2025-11-10T00:00:00", "L1"),
    ev("E1", "AVAILABLE", "2025-11-10T06:00:00", "L1"),
    ev("E1", "INOPERATIVE", "2025-12-31T23:00:00", "L1"),
    ev("E1", "AVAILABLE", "2026-01-01T01:00:00", "L1"),
    # E2: 30 days out (5 Oct - 4 Nov), its first 20 days a grid outage (excluded)
    ev("E2", "OUT_OF_ORDER", "2025-10-05T00:00:00", "L1"),
    ev("E2", "AVAILABLE", "2025-11-04T00:00:00", "L1"),
    # E3: 3 h out in November; E4: never out
    ev("E3", "OUT_OF_ORDER", "2025-11-20T12:00:00", "L2"),
    ev("E3", "AVAILABLE", "2025-11-20T15:00:00", "L2"),
    ev("E4", "CHARGING", "2026-03-31T00:00:00", "L2"),
]
EXCLUSIONS = ["entity_id,start,end,cause", "E2,2025-10-05,2025-10-25,grid"]


@pytest.fixture
def lake(tmp_path: Path) -> evlog.EvlogLake:
    make_lake(tmp_path / "lake", status=EVENTS)
    (tmp_path / "x.csv").write_text("\n".join(EXCLUSIONS) + "\n")
    return evlog.open_lake(tmp_path / "lake")


def q4(lake: evlog.EvlogLake, tmp_path: Path) -> ReliabilityResult:
    return lake.reliability_report("nevi", quarter="2025-Q4", exclusions=tmp_path / "x.csv")


def read(path: Path) -> tuple[str, list[dict[str, str]]]:
    text = path.read_text(encoding="utf-8")
    return text.splitlines()[0], list(csv.DictReader(text.splitlines()))


def uptime(outage_min: float, excluded_min: float) -> str:
    """680.116(b): ((525,600 - (T_outage - T_excluded)) / 525,600) x 100, two decimals."""
    return f"{(NEVI_YEAR - (outage_min - excluded_min)) / NEVI_YEAR * 100:.2f}"


def test_module3_and_module4_of_a_quarter(lake: evlog.EvlogLake, tmp_path: Path) -> None:
    result = q4(lake, tmp_path)
    paths = evlog.export_ev_chart(
        result, tmp_path / "out", network_provider="shell_recharge", operational_dates=OPERATIONAL
    )
    assert [p.name for p in paths] == [
        "module3_uptime_2025-Q4.csv",
        "module4_outages_2025-Q4.csv",
        "ev_chart_dashboard.json",
    ]
    header, m3 = read(tmp_path / "out" / "module3_uptime_2025-Q4.csv")
    assert header == M3_HEADER
    assert len(m3) == 4 * 3  # four ports x October, November, December
    e1 = [r for r in m3 if r["port_id"] == "E1"]
    assert [r["uptime_reporting_start"] for r in e1] == [
        "2024-11-01T00:00:00Z",
        "2024-12-01T00:00:00Z",
        "2025-01-01T00:00:00Z",
    ]
    assert e1[2]["uptime_reporting_end"] == "2025-12-31T23:59:59Z"  # the basis' last second
    # E1 December: 6 h + the 1 h of the outage before the quarter's end
    assert e1[2] | {} == {
        "station_id": "L1",
        "port_id": "E1",
        "network_provider": "shell_recharge",
        "uptime_reporting_start": "2025-01-01T00:00:00Z",
        "uptime_reporting_end": "2025-12-31T23:59:59Z",
        "uptime": uptime(420, 0),
        "total_outage": "420.00",
        "total_outage_excl": "0.00",
    }
    assert uptime(420, 0) == "99.92"
    assert [r["uptime"] for r in e1[:2]] == ["100.00", uptime(360, 0)]
    e2 = [r for r in m3 if r["port_id"] == "E2"]
    # October's basis ends 1 November: 27 of the 30 days, all 20 excluded days
    assert [(r["total_outage"], r["total_outage_excl"]) for r in e2] == [
        (f"{27 * DAY:.2f}", f"{20 * DAY:.2f}"),
        (f"{30 * DAY:.2f}", f"{20 * DAY:.2f}"),
        (f"{30 * DAY:.2f}", f"{20 * DAY:.2f}"),
    ]
    assert [r["uptime"] for r in e2] == [uptime(27 * DAY, 20 * DAY), "97.26", "97.26"]

    header, m4 = read(tmp_path / "out" / "module4_outages_2025-Q4.csv")
    assert header == M4_HEADER
    assert [tuple(r.values()) for r in m4] == [
        ("L1", "E1", "shell_recharge", "2025-11-10T00:00:00Z", "360.00", "FALSE", "", ""),
        ("L1", "E1", "shell_recharge", "2025-12-31T23:00:00Z", "60.00", "FALSE", "", ""),
        (
            "L1", "E2", "shell_recharge", "2025-10-05T00:00:00Z", f"{30 * DAY:.2f}", "TRUE", "1",
            "grid_power_loss: 28800.00 of 43200.00 min excluded",
        ),
        ("L2", "E3", "shell_recharge", "2025-11-20T12:00:00Z", "180.00", "FALSE", "", ""),
        ("L2", "E4", "shell_recharge", "", "", "", "", ""),  # no outage: both fields empty
    ]  # fmt: skip


def test_dashboard_figures(lake: evlog.EvlogLake, tmp_path: Path) -> None:
    evlog.export_ev_chart(
        q4(lake, tmp_path),
        tmp_path / "out",
        network_provider="shell_recharge",
        operational_dates=OPERATIONAL,
    )
    figures = json.loads((tmp_path / "out" / "ev_chart_dashboard.json").read_text())
    # Viewed on the day after the quarter: reporting year 2026, window the 12 months to 2025-Q4.
    assert figures["today"] == "2026-01-01"
    assert figures["unofficial_window"] == {"start": "2025-01-01", "end": "2025-12-31"}
    # Official (Module 3): L2 opened 2025-06-01, not yet a year by 2025-12-31: its ports are out.
    # E1 (99.92) and E2 (97.26) are >= 97 in their latest rows (December).
    assert figures["official_uptime"] == {
        "reliability_metrics_available": True,
        "num_ports_meeting_uptime_req": 2,
        "total_ports_with_uptime_activity": 2,
        "percentage_ports_meeting_uptime_req": 1.0,
        "percentage_ports_not_meeting_uptime_req": 0.0,
    }
    # Unofficial (Module 4): outage minutes over the days from the operational date to 2025-12-31.
    l1_days = (date(2025, 12, 31) - date(2023, 6, 1)).days
    assert l1_days == 731 + 213
    l2_days = (date(2025, 12, 31) - date(2025, 6, 1)).days
    assert (360 + 60) / (l1_days * DAY) <= 0.03  # E1 meets
    assert 30 * DAY / (l1_days * DAY) == pytest.approx(0.03178, abs=1e-5)  # E2: excluded counts
    assert 180 / (l2_days * DAY) <= 0.03  # E3 meets; E4 had no outage: not counted
    assert figures["unofficial_uptime"] == {
        "reliability_metrics_available": True,
        "num_ports_meeting_uptime_req": 2,
        "total_ports_with_uptime_activity": 3,
        "percentage_ports_meeting_uptime_req": 0.67,
        "percentage_ports_not_meeting_uptime_req": 0.33,
    }
    assert figures["avg_outage"] == (360 + 60 + 30 * DAY + 180) / 4
    assert figures["stations_without_operational_date"] == []


def test_dashboard_official_takes_the_latest_row_spanning_a_year() -> None:
    def row(port: str, start: str, end: str, up: str) -> dict[str, str]:
        return {
            "station_id": "S",
            "port_id": port,
            "uptime_reporting_start": start,
            "uptime_reporting_end": end,
            "uptime": up,
        }

    rows = [
        row("P1", "2024-01-01T00:00:00Z", "2024-12-31T23:59:59Z", "99.00"),
        row("P1", "2024-04-01T00:00:00Z", "2025-03-31T23:59:59Z", "96.99"),  # latest: fails
        row("P2", "2025-01-01T00:00:00Z", "2025-03-31T23:59:59Z", "50.00"),  # a quarter: ignored
        row("P2", "2024-04-01T00:00:00Z", "2025-03-31T23:59:59Z", "97.00"),  # 97 meets
        row("P3", "2024-04-01T00:00:00Z", "2025-03-31T23:59:59Z", ""),  # null: not counted
    ]
    figures = ev_chart.official_uptime(rows, {"S": date(2022, 1, 1)}, 2025)
    assert figures["num_ports_meeting_uptime_req"] == 1
    assert figures["total_ports_with_uptime_activity"] == 2
    assert figures["percentage_ports_meeting_uptime_req"] == 0.5
    # A reporting year before the rows' end: nothing official.
    assert ev_chart.official_uptime(rows, {"S": date(2022, 1, 1)}, 2024)[
        "num_ports_meeting_uptime_req"
    ] == (1)  # only P1's 2024 row (99.00)
    # Operational less than a year before the end: nothing official.
    later = ev_chart.official_uptime(rows, {"S": date(2024, 6, 1)}, 2025)
    assert later["reliability_metrics_available"] is False


def test_prior_quarter_window() -> None:
    assert ev_chart.prior_quarter_window(date(2026, 2, 10)) == (
        date(2025, 1, 1),
        date(2025, 12, 31),
    )
    assert ev_chart.prior_quarter_window(date(2025, 5, 1)) == (date(2024, 4, 1), date(2025, 3, 31))
    assert ev_chart.prior_quarter_window(date(2025, 12, 31)) == (
        date(2024, 10, 1),
        date(2025, 9, 30),
    )


def test_outage_across_quarters_is_one_row_in_each(lake: evlog.EvlogLake, tmp_path: Path) -> None:
    result = lake.reliability_report(
        "nevi", "2025-10-01", "2026-04-01", exclusions=tmp_path / "x.csv"
    )
    evlog.export_ev_chart(
        result, tmp_path / "out", network_provider="np", operational_dates=OPERATIONAL
    )
    _, q4_rows = read(tmp_path / "out" / "module4_outages_2025-Q4.csv")
    _, q1_rows = read(tmp_path / "out" / "module4_outages_2026-Q1.csv")
    assert ("2025-12-31T23:00:00Z", "60.00") in [
        (r["outage_id"], r["outage_duration"]) for r in q4_rows
    ]
    e1 = [(r["outage_id"], r["outage_duration"]) for r in q1_rows if r["port_id"] == "E1"]
    assert e1 == [("2026-01-01T00:00:00Z", "60.00")]
    _, m3 = read(tmp_path / "out" / "module3_uptime_2026-Q1.csv")
    assert len(m3) == 4 * 3
    figures = json.loads((tmp_path / "out" / "ev_chart_dashboard.json").read_text())
    assert figures["today"] == "2026-04-01"


def test_null_uptime_only_for_a_station_operational_under_a_year(
    lake: evlog.EvlogLake, tmp_path: Path
) -> None:
    result = q4(lake, tmp_path)
    frame = result.frame

    def without_uptime(port: str) -> ReliabilityResult:
        nulled = pl.when((pl.col("port_id") == port) & (pl.col("report_month") == "2025-12"))
        return replace(
            result,
            frame=frame.with_columns(
                nulled.then(None).otherwise(pl.col("uptime_pct")).alias("uptime_pct")
            ),
        )

    # L2 opened 2025-06-01, after 2024-01-01 (a year before December's basis start): allowed.
    evlog.export_ev_chart(
        without_uptime("E3"), tmp_path / "ok", network_provider="np", operational_dates=OPERATIONAL
    )
    _, m3 = read(tmp_path / "ok" / "module3_uptime_2025-Q4.csv")
    assert [r["uptime"] for r in m3 if r["port_id"] == "E3"][2] == ""
    # L1 opened 2023-06-01: EV-ChART rejects the row; line 4 = header + E1's Oct, Nov, Dec.
    with pytest.raises(ExportError) as error:
        evlog.export_ev_chart(
            without_uptime("E1"),
            tmp_path / "bad",
            network_provider="np",
            operational_dates=OPERATIONAL,
        )
    message = str(error.value)
    assert "module3_uptime_2025-Q4.csv:4 (station 'L1', port 'E1')" in message
    assert "2023-06-01" in message and "must report uptime" in message
    assert not (tmp_path / "bad").exists()  # nothing written
    # Without an operational date the empty uptime cannot be shown to be allowed.
    with pytest.raises(ExportError, match="no operational date"):
        evlog.export_ev_chart(without_uptime("E3"), tmp_path / "none", network_provider="np")


def m4_row(**cells: str) -> dict[str, str]:
    base = dict(
        station_id="S1",
        port_id="P1",
        network_provider="np",
        outage_id="2025-10-05T00:00:00Z",
        outage_duration="12.50",
        excluded_outage="FALSE",
        excluded_outage_reason="",
        excluded_outage_notes="",
    )
    return base | cells


def m3_row(**cells: str) -> dict[str, str]:
    base = dict(
        station_id="S1",
        port_id="P1",
        network_provider="np",
        uptime_reporting_start="2025-01-01T00:00:00Z",
        uptime_reporting_end="2025-12-31T23:59:59Z",
        uptime="99.50",
        total_outage="2628.00",
        total_outage_excl="0.00",
    )
    return base | cells


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        ({"outage_duration": "0.00"}, "outage_duration '0.00' is below 0.01"),
        ({"outage_duration": "0.001"}, "has more than 2 decimal places"),
        ({"outage_duration": "1234567.00"}, "more than 6 digits before the point"),
        ({"excluded_outage_reason": "7"}, "excluded_outage_reason '7' is above 6"),
        ({"excluded_outage_reason": "0"}, "excluded_outage_reason '0' is below 1"),
        ({"excluded_outage_reason": "1.0"}, "is not a whole number"),
        ({"excluded_outage": "1"}, "excluded_outage '1' is not TRUE or FALSE"),
        ({"outage_id": "2025-10-05T00:00:00+00:00"}, "not of the form"),
        ({"outage_id": "yesterday"}, "is not a timestamp"),
        ({"outage_duration": ""}, "both be given or both be empty (validate_m4)"),
        ({"port_id": "P" * 37}, "port_id 'PPPP"),
        ({"port_id": ""}, "port_id '' is empty"),
        ({"port_id": "   "}, "is only whitespace"),
        ({"network_provider": "n" * 31}, "is 31 characters long"),
        ({"excluded_outage_notes": "x" * 256}, "string of at most 255 characters"),
    ],
)
def test_module4_rows_ev_chart_rejects(cells: dict[str, str], message: str) -> None:
    rows = [m4_row(outage_id="2025-10-01T00:00:00Z"), m4_row(**cells)]
    with pytest.raises(ExportError) as error:
        validate(MODULE4, rows, "m4.csv", {})
    assert "m4.csv:3 (station 'S1', port " in str(error.value)  # the second row: line 3
    assert message in str(error.value)


def test_module4_duplicate_outage_key() -> None:
    validate(MODULE4, [m4_row(), m4_row(port_id="P2"), m4_row(station_id="S2")], "m4.csv", {})
    # what EV-ChART accepts: optional notes of spaces, TRUE/false in any case, reason 1 and 6
    validate(
        MODULE4,
        [
            m4_row(excluded_outage_notes="   ", excluded_outage="true", excluded_outage_reason="1"),
            m4_row(port_id="P2", excluded_outage="False", excluded_outage_reason="6"),
            m4_row(port_id="P3", outage_id="", outage_duration="", excluded_outage=""),
        ],
        "m4.csv",
        {},
    )
    with pytest.raises(ExportError, match=r"m4\.csv:3 .* same station_id, network_provider, "
                       r"outage_id, port_id as line 2"):  # fmt: skip
        validate(MODULE4, [m4_row(), m4_row(outage_duration="3.00")], "m4.csv", {})


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        ({"uptime": "100.123"}, "uptime '100.123' has more than 2 decimal places"),
        ({"uptime": "1000.00"}, "more than 3 digits before the point"),
        ({"uptime": "-1.00"}, "is below 0"),
        ({"uptime": "nan"}, "is not a finite decimal"),
        ({"total_outage": ""}, "total_outage '' is empty"),
        ({"total_outage_excl": "-0.01"}, "total_outage_excl '-0.01' is below 0"),
        ({"uptime_reporting_end": "2025-12-31"}, "not of the form"),
        ({"uptime": ""}, "was operational on 2020-01-01, more than a year before 2025-01-01"),
    ],
)
def test_module3_rows_ev_chart_rejects(cells: dict[str, str], message: str) -> None:
    with pytest.raises(ExportError) as error:
        validate(MODULE3, [m3_row(**cells)], "m3.csv", {"S1": date(2020, 1, 1)})
    assert "m3.csv:2 (station 'S1', port 'P1'): module 3" in str(error.value)
    assert message in str(error.value)


def test_module3_accepts_what_ev_chart_accepts() -> None:
    rows = [
        m3_row(),
        m3_row(port_id="P2", uptime=""),  # operational on 2024-01-01: exactly a year before
        m3_row(port_id="P3", uptime="100.00", total_outage="999999.99"),
    ]
    validate(MODULE3, rows, "m3.csv", {"S1": date(2024, 1, 1)})
    with pytest.raises(ExportError, match="same station_id"):
        validate(MODULE3, [m3_row(), m3_row(uptime="98.00")], "m3.csv", {})


def evlog_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evlog", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
    )


def test_cli_ev_chart_export_and_errors(tmp_path: Path) -> None:
    long_port = "P" * 40  # a port id EV-ChART cannot hold (varchar(36))
    make_lake(tmp_path / "lake", status=[*EVENTS, ev(long_port, "AVAILABLE", "2025-01-01", "L9")])
    make_lake(tmp_path / "short", status=EVENTS)
    ops = tmp_path / "ops.csv"
    ops.write_text("station_id,operational_date\nL1,2023-06-01\nL2,2025-06-01\n")
    base = ["report", "reliability", "--standard", "nevi", "--quarter", "2025-Q4"]
    done = evlog_cli(
        *base, "--lake", str(tmp_path / "short"), "--export", "ev-chart", str(tmp_path / "out"),
        "--network-provider", "shell_recharge", "--operational-dates", str(ops),
        "--format", "csv", "--output", str(tmp_path / "report.csv"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "ev_chart_dashboard.json",
        "module3_uptime_2025-Q4.csv",
        "module4_outages_2025-Q4.csv",
    ]
    header, m4 = read(tmp_path / "out" / "module4_outages_2025-Q4.csv")
    assert header == M4_HEADER and len(m4) == 5
    assert read(tmp_path / "out" / "module3_uptime_2025-Q4.csv")[0] == M3_HEADER

    rejected = evlog_cli(
        *base, "--lake", str(tmp_path / "lake"), "--export", "ev-chart", str(tmp_path / "bad"),
        "--network-provider", "shell_recharge", "--operational-dates", str(ops),
    )  # fmt: skip
    assert rejected.returncode == 2
    assert rejected.stderr.count("\n") == 1
    assert "module3_uptime_2025-Q4.csv:" in rejected.stderr
    assert f"port_id '{long_port}' is 40 characters long" in rejected.stderr
    assert not (tmp_path / "bad").exists()


def cli_error(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """The in-process CLI's exit code and stderr (errors found before any replay)."""
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    code = exit_info.value.code
    return code if isinstance(code, int) else 0, capsys.readouterr().err


def test_cli_ev_chart_needs_nevi_and_a_network_provider(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_lake(tmp_path / "lake", status=EVENTS)
    base = ["report", "reliability", "--lake", str(tmp_path / "lake")]
    export = ["--export", "ev-chart", str(tmp_path / "x")]
    code, err = cli_error([*base, "--standard", "nevi", *export], capsys)
    assert code == 2 and "--network-provider: required" in err
    code, err = cli_error([*base, "--standard", "cec", *export, "--network-provider", "np"], capsys)
    assert code == 2 and "use --standard nevi" in err
    assert not (tmp_path / "x").exists()


def test_operational_dates_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "ops.csv"
    bad.write_text("station_id,operational_date\nL1,June 2023\n")
    with pytest.raises(evlog.UsageError, match=r"ops\.csv:2: operational_date is not an ISO"):
        ev_chart.load_operational_dates(bad)
    bad.write_text("station_id\nL1\n")
    with pytest.raises(evlog.UsageError, match="lacks column"):
        ev_chart.load_operational_dates(bad)
    good = tmp_path / "good.csv"
    good.write_text("station_id,operational_date\nL1,2023-06-01T08:00:00Z\n")
    assert ev_chart.load_operational_dates(good) == {"L1": date(2023, 6, 1)}


@pytest.fixture
def armed() -> Iterator[None]:
    yield
    faults.disarm()


@pytest.mark.parametrize("kind", ["charging-use-spec", "ev-chart"])
def test_exports_are_written_atomically(
    lake: evlog.EvlogLake, tmp_path: Path, kind: str, armed: None
) -> None:
    """A write that fails before its rename (a full disk, a crash) leaves the old file whole and
    no temporary file: docs/lake.md's files-appear-atomically rule, for exports too."""
    result = q4(lake, tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    second = "outages.csv" if kind == "charging-use-spec" else "module4_outages_2025-Q4.csv"
    (out / second).write_text("old,file\n")
    faults.arm("lake.before_rename", "raise", nth=2)  # the second file's rename
    with pytest.raises(evlog.OutputError, match="cannot write export"):
        if kind == "ev-chart":
            evlog.export_ev_chart(result, out, network_provider="np", operational_dates=OPERATIONAL)
        else:
            evlog.export_charging_use_spec(result, out)
    assert (out / second).read_text() == "old,file\n"
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]


def test_dashboard_unofficial_edges() -> None:
    """Viewed on 2026-01-01: window 2025-01-01..2025-12-31, both days counted."""

    def row(station: str, port: str, outage_id: str, minutes: str) -> dict[str, str]:
        return {
            "station_id": station,
            "port_id": port,
            "outage_id": outage_id,
            "outage_duration": minutes,
        }

    opened = {"A": date(2025, 12, 1), "B": date(2025, 12, 31), "C": date(2025, 6, 1)}
    rows = [
        # A1: 30 days since opening = 43,200 min; 1,296 min is exactly 3 %: meets (<= 0.03)
        row("A", "A1", "2025-12-31T10:00:00Z", "1296.00"),
        row("A", "A2", "2026-01-01T00:00:00Z", "50.00"),  # after the window
        row("A", "A2", "2024-12-31T23:00:00Z", "50.00"),  # before it
        # B opened on the window's last day: 0 whole days, not counted as active, yet the
        # percentage divides by every port with an outage (EV-ChART's len(port_outage_duration))
        row("B", "B1", "2025-12-31T05:00:00Z", "10.00"),
        row("C", "C1", "2025-05-31T12:00:00Z", "10.00"),  # before C's operational date
        row("C", "C2", "", ""),  # a "no outage" row
    ]
    assert 1296 / ((date(2025, 12, 31) - date(2025, 12, 1)).days * DAY) == 0.03
    assert ev_chart.unofficial_uptime(rows, opened, date(2026, 1, 1)) == {
        "reliability_metrics_available": True,
        "num_ports_meeting_uptime_req": 1,
        "total_ports_with_uptime_activity": 1,
        "percentage_ports_meeting_uptime_req": 0.5,
        "percentage_ports_not_meeting_uptime_req": 0.5,
    }
    assert ev_chart.average_outage(rows) == (1296 + 50 + 50 + 10 + 10) / 5


def test_local_months_are_written_as_utc_instants(lake: evlog.EvlogLake, tmp_path: Path) -> None:
    result = lake.reliability_report("nevi", quarter="2025-Q4", tz="America/New_York")
    evlog.export_ev_chart(result, tmp_path / "ny", network_provider="np")
    _, m3 = read(tmp_path / "ny" / "module3_uptime_2025-Q4.csv")
    december = [r for r in m3 if r["port_id"] == "E1"][2]
    # New York is UTC-5 in winter: local midnight of 1 January is 05:00Z
    assert december["uptime_reporting_start"] == "2025-01-01T05:00:00Z"
    assert december["uptime_reporting_end"] == "2026-01-01T04:59:59Z"
    _, m4 = read(tmp_path / "ny" / "module4_outages_2025-Q4.csv")
    # the 23:00Z outage of 31 December is 18:00 local: inside 2025-Q4, all 2 hours of it
    e1 = [(r["outage_id"], r["outage_duration"]) for r in m4 if r["port_id"] == "E1"]
    assert e1 == [("2025-11-10T00:00:00Z", "360.00"), ("2025-12-31T23:00:00Z", "120.00")]


def test_dashboard_reads_every_quarter_exported_into_the_folder(
    lake: evlog.EvlogLake, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    evlog.export_ev_chart(q4(lake, tmp_path), out, network_provider="np")
    q1 = lake.reliability_report("nevi", quarter="2026-Q1", exclusions=tmp_path / "x.csv")
    evlog.export_ev_chart(q1, out, network_provider="np", operational_dates=OPERATIONAL)
    figures = json.loads((out / "ev_chart_dashboard.json").read_text())
    # the latest quarter is 2026-Q1: viewed 2026-04-01, window 2025-04-01..2026-03-31
    assert figures["today"] == "2026-04-01"
    assert figures["unofficial_window"] == {"start": "2025-04-01", "end": "2026-03-31"}
    l1_days = (date(2026, 3, 31) - date(2023, 6, 1)).days
    assert l1_days == 1034
    # E1: 360 + 60 (2025-Q4 file) + 60 (2026-Q1 file); E2: its 2025-Q4 outage; E3 likewise
    assert (360 + 60 + 60) / (l1_days * DAY) <= 0.03
    assert 30 * DAY / (l1_days * DAY) <= 0.03  # 0.0290: E2 meets over the longer history
    assert 180 / ((date(2026, 3, 31) - date(2025, 6, 1)).days * DAY) <= 0.03
    assert figures["unofficial_uptime"]["total_ports_with_uptime_activity"] == 3
    assert figures["unofficial_uptime"]["percentage_ports_meeting_uptime_req"] == 1.0
    assert figures["avg_outage"] == (360 + 60 + 30 * DAY + 180 + 60) / 5
    # Official: the latest rows (March 2026, basis 2025-04..2026-03) of L1's ports
    assert figures["official_uptime"]["total_ports_with_uptime_activity"] == 2
    # the same from the API
    assert evlog.ev_chart_dashboard(out, OPERATIONAL) == figures
