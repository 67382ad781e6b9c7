"""CEC export (`--export cec DIR`): the semiannual port and network files and the per-port interval
data, with figures computed by hand on a hand-written lake: an outage crossing an interval and the
half-year boundary, a vandalism exclusion inside an outage, a port unobserved for half a half-year,
and interval rows that add up to the report's month and half-year minutes."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

import evlog
from evlog._cli import main
from evlog._reports.reliability import ReliabilityResult
from tests.reports.test_reliability import ev, observed_lake, write_csv

DAY = 1440
YEAR = 365 * DAY
H1 = 181 * DAY  # January to June 2025
H2 = 184 * DAY  # July to December 2025
PORTS_HEADER = (
    "half_year,period_start,period_end,complete_half,port_id,station_id,location_id,uptime_pct,"
    "target_pct,passed,no_verdict_reason,basis_start,basis_end,t_outage_min,t_excluded_min,"
    "denominator_min,measured_min,coverage_pct,half_uptime_pct,half_outage_min,"
    "half_excluded_min,half_min,half_measured_min,half_coverage_pct,unobserved_as"
)
NETWORK_HEADER = (
    "half_year,period_start,period_end,complete_half,ports,ports_assessed,ports_passed,"
    "uptime_pct,target_pct,passed,no_verdict_reason,coverage_pct,half_uptime_pct,"
    "half_outage_min,half_excluded_min,half_min,half_measured_min,half_coverage_pct,unobserved_as"
)
INTERVAL_HEADER = (
    "port_id,station_id,interval_start,interval_end,interval_min,observed_min,outage_min,"
    "excluded_min,counted_min,closed_min,no_data_min,unobserved_min"
)

EVENTS = [
    ev("E1", "AVAILABLE", "2024-01-01T00:00:00"),
    # 120 min out; vandalism 10:30-11:30 inside it: 60 min excluded
    ev("E1", "OUT_OF_ORDER", "2025-03-10T10:05:00"),
    ev("E1", "AVAILABLE", "2025-03-10T12:05:00"),
    # 30 min out across the half-year boundary: 10 min in June, 20 min in July
    ev("E1", "OUT_OF_ORDER", "2025-06-30T23:50:00"),
    ev("E1", "AVAILABLE", "2025-07-01T00:20:00"),
    # E2 is first heard of on 1 April 2025: no data for it before
    ev("E2", "AVAILABLE", "2025-04-01T00:00:00"),
]
EXCLUSIONS = [
    "entity_id,start,end,cause",
    "E1,2025-03-10T10:30:00Z,2025-03-10T11:30:00Z,vandalism",
]


def read(path: Path) -> tuple[str, list[dict[str, str]]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return lines[0], list(csv.DictReader(lines))


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[ReliabilityResult, Path]:
    root = tmp_path_factory.mktemp("cec")
    observed_lake(root / "lake", status=EVENTS, until="2026-01-01T00:00:00")
    exclusions = write_csv(root / "x.csv", EXCLUSIONS)
    result = evlog.open_lake(root / "lake").reliability_report(
        "cec", "2025-01-01", "2026-01-01", exclusions=exclusions
    )
    evlog.export_cec(result, root / "cec")
    return result, root / "cec"


def test_files_and_headers(exported: tuple[ReliabilityResult, Path]) -> None:
    _, out = exported
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        [
            "cec_2025-H1_ports.csv",
            "cec_2025-H1_network.csv",
            "cec_2025-H2_ports.csv",
            "cec_2025-H2_network.csv",
            *(f"cec_intervals_2025-{m:02d}.csv" for m in range(1, 13)),
        ]
    )
    assert read(out / "cec_2025-H1_ports.csv")[0] == PORTS_HEADER
    assert read(out / "cec_2025-H2_network.csv")[0] == NETWORK_HEADER
    assert read(out / "cec_intervals_2025-02.csv")[0] == INTERVAL_HEADER


def test_semiannual_ports(exported: tuple[ReliabilityResult, Path]) -> None:
    _, out = exported
    _, h1 = read(out / "cec_2025-H1_ports.csv")
    e1, e2 = h1
    # E1, H1: 120 min (60 excluded) in March and 10 min in June; its 12-month basis
    # 2024-07-01..2025-07-01 (365 days) holds the same outages.
    assert (e1["port_id"], e1["period_start"], e1["period_end"]) == (
        "E1",
        "2025-01-01",
        "2025-07-01",
    )
    assert e1["complete_half"] == "true"
    assert (e1["basis_start"], e1["basis_end"]) == ("2024-07-01", "2025-07-01")
    assert e1["t_outage_min"] == "130.000" and e1["t_excluded_min"] == "60.000"
    assert e1["uptime_pct"] == f"{(YEAR - 70) / YEAR * 100:.4f}"  # 99.9867
    assert (e1["passed"], e1["no_verdict_reason"], e1["target_pct"]) == ("true", "", "97")
    assert e1["half_outage_min"] == "130.000" and e1["half_excluded_min"] == "60.000"
    assert e1["half_min"] == f"{H1:.3f}" and e1["half_measured_min"] == f"{H1:.3f}"
    assert e1["half_uptime_pct"] == f"{(H1 - 70) / H1 * 100:.4f}"
    assert e1["half_coverage_pct"] == "100.00"
    # E2, H1: no data January to March (90 days): half the half-year unobserved; its 12-month
    # basis has only April to June (91 days) observed: no verdict.
    assert e2["port_id"] == "E2"
    assert e2["half_measured_min"] == f"{91 * DAY:.3f}"
    assert e2["half_coverage_pct"] == f"{91 / 181 * 100:.2f}"  # 50.28
    assert e2["half_uptime_pct"] == "100.0000"  # over the observed time (--unobserved excluded)
    assert e2["measured_min"] == f"{91 * DAY:.3f}"
    assert e2["coverage_pct"] == f"{91 / 365 * 100:.2f}"
    assert e2["passed"] == ""
    assert e2["no_verdict_reason"] == f"coverage {91 / 365 * 100:.2f} % is under 95 %"
    _, h2 = read(out / "cec_2025-H2_ports.csv")
    e1 = h2[0]
    # E1, H2: 20 min in July; its basis is calendar 2025: 150 min, 60 excluded
    assert e1["half_outage_min"] == "20.000" and e1["half_excluded_min"] == "0.000"
    assert e1["half_min"] == f"{H2:.3f}"
    assert e1["half_uptime_pct"] == f"{(H2 - 20) / H2 * 100:.4f}"
    assert e1["t_outage_min"] == "150.000"
    assert e1["uptime_pct"] == f"{(YEAR - 90) / YEAR * 100:.4f}"


def test_semiannual_network(exported: tuple[ReliabilityResult, Path]) -> None:
    _, out = exported
    _, [h1] = read(out / "cec_2025-H1_network.csv")
    assert (h1["ports"], h1["ports_assessed"], h1["ports_passed"]) == ("2", "1", "1")
    assert h1["half_outage_min"] == "130.000"
    assert h1["half_min"] == f"{2 * H1:.3f}"
    assert h1["half_measured_min"] == f"{H1 + 91 * DAY:.3f}"
    assert h1["half_uptime_pct"] == f"{((H1 - 70) / H1 * 100 + 100) / 2:.4f}"
    # the network's 12-month coverage: (365 + 91) of 730 port-days, under 95 %: no verdict
    assert h1["coverage_pct"] == f"{456 / 730 * 100:.2f}"
    assert h1["passed"] == ""


def test_interval_rows(exported: tuple[ReliabilityResult, Path]) -> None:
    _, out = exported
    _, march = read(out / "cec_intervals_2025-03.csv")
    assert len(march) == 2 * 31 * 96  # two ports, 96 quarter-hours a day
    e1 = {r["interval_start"]: r for r in march if r["port_id"] == "E1"}
    cells = [
        (t, float(e1[f"2025-03-10T{t}:00+00:00"]["outage_min"]),
         float(e1[f"2025-03-10T{t}:00+00:00"]["excluded_min"]))
        for t in ("09:45", "10:00", "10:15", "10:30", "11:15", "11:30", "12:00", "12:15")
    ]  # fmt: skip
    assert cells == [
        ("09:45", 0.0, 0.0),
        ("10:00", 10.0, 0.0),  # from 10:05
        ("10:15", 15.0, 0.0),
        ("10:30", 15.0, 15.0),  # vandalism 10:30-11:30
        ("11:15", 15.0, 15.0),
        ("11:30", 15.0, 0.0),
        ("12:00", 5.0, 0.0),  # to 12:05
        ("12:15", 0.0, 0.0),
    ]
    row = e1["2025-03-10T10:00:00+00:00"]
    assert row["interval_end"] == "2025-03-10T10:15:00+00:00"
    assert (row["interval_min"], row["observed_min"], row["counted_min"]) == (
        "15.0",
        "15.0",
        "10.0",
    )
    _, june = read(out / "cec_intervals_2025-06.csv")
    last = [r for r in june if r["port_id"] == "E1"][-1]
    assert (last["interval_start"], last["outage_min"]) == ("2025-06-30T23:45:00+00:00", "10.0")
    _, july = read(out / "cec_intervals_2025-07.csv")
    first = [r for r in july if r["port_id"] == "E1"][:3]
    assert [r["outage_min"] for r in first] == ["15.0", "5.0", "0.0"]
    _, january = read(out / "cec_intervals_2025-01.csv")
    e2 = [r for r in january if r["port_id"] == "E2"]
    assert {(r["observed_min"], r["no_data_min"]) for r in e2} == {("0.0", "15.0")}


def test_interval_rows_add_up_to_the_report(
    exported: tuple[ReliabilityResult, Path],
) -> None:
    result, out = exported
    sums: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for month in range(1, 13):
        label = f"2025-{month:02d}"
        for r in read(out / f"cec_intervals_{label}.csv")[1]:
            for name in ("interval_min", "observed_min", "outage_min", "excluded_min"):
                sums[(r["port_id"], label)][name] += float(r[name])
    ports = result.frame.filter(pl.col("scope") == "port")
    assert ports.height == 24
    for row in ports.iter_rows(named=True):
        total = sums[(row["port_id"], row["report_month"])]
        assert total["interval_min"] == pytest.approx(row["month_min"], abs=1e-9)
        assert total["observed_min"] == pytest.approx(row["month_measured_min"], abs=1e-9)
        assert total["outage_min"] == pytest.approx(row["month_outage_min"], abs=1e-9)
        assert total["excluded_min"] == pytest.approx(row["month_excluded_min"], abs=1e-9)
    for half, months in (("2025-H1", range(1, 7)), ("2025-H2", range(7, 13))):
        for r in read(out / f"cec_{half}_ports.csv")[1]:
            labels = [f"2025-{m:02d}" for m in months]
            for column, name in (("half_outage_min", "outage_min"), ("half_min", "interval_min"),
                                 ("half_measured_min", "observed_min"),
                                 ("half_excluded_min", "excluded_min")):  # fmt: skip
                assert r[column] == f"{sum(sums[(r['port_id'], m)][name] for m in labels):.3f}"


def test_closed_minutes_under_opening_hours(tmp_path: Path) -> None:
    observed_lake(tmp_path / "lake", status=EVENTS, until="2026-01-01T00:00:00")
    exclusions = write_csv(tmp_path / "x.csv", EXCLUSIONS)
    hours = write_csv(
        tmp_path / "h.csv", ["entity_id,weekday,open,close", "E1,mon-sun,06:00,11:00"]
    )
    result = evlog.open_lake(tmp_path / "lake").reliability_report(
        "cec", month="2025-03", exclusions=exclusions, opening_hours=hours
    )
    evlog.export_cec(result, tmp_path / "cec")
    e1 = [
        r for r in read(tmp_path / "cec" / "cec_intervals_2025-03.csv")[1] if r["port_id"] == "E1"
    ]
    # closed 19 hours a day (11:00 to 06:00)
    assert sum(float(r["closed_min"]) for r in e1) == 31 * 19 * 60
    # The outage 10:05-12:05: vandalism excludes 10:30-11:00, and from 11:00 the port is closed
    # (CEC: outside_hours, uncapped, before vandalism): 30 + 65 = 95 excluded minutes.
    by_start = {
        r["interval_start"][11:16]: r for r in e1 if r["interval_start"][:10] == "2025-03-10"
    }
    cells = [
        (t, by_start[t]["outage_min"], by_start[t]["excluded_min"], by_start[t]["closed_min"])
        for t in ("10:00", "10:30", "10:45", "11:00", "12:00", "12:15")
    ]
    assert cells == [
        ("10:00", "10.0", "0.0", "0.0"),
        ("10:30", "15.0", "15.0", "0.0"),
        ("10:45", "15.0", "15.0", "0.0"),
        ("11:00", "15.0", "15.0", "15.0"),
        ("12:00", "5.0", "5.0", "15.0"),
        ("12:15", "0.0", "0.0", "15.0"),
    ]
    row = result.frame.filter((pl.col("port_id") == "E1") & (pl.col("scope") == "port")).row(
        0, named=True
    )
    assert row["month_excluded_min"] == pytest.approx(95)
    assert sum(float(r["excluded_min"]) for r in e1) == 95


def test_hourly_parquet_intervals(tmp_path: Path) -> None:
    observed_lake(tmp_path / "lake", status=EVENTS, until="2026-01-01T00:00:00")
    exclusions = write_csv(tmp_path / "x.csv", EXCLUSIONS)
    result = evlog.open_lake(tmp_path / "lake").reliability_report(
        "cec", month="2025-03", exclusions=exclusions, tz="America/Los_Angeles"
    )
    paths = evlog.export_cec(result, tmp_path / "cec", interval="hour", file_format="parquet")
    assert [p.name for p in paths] == [
        "cec_2025-H1_ports.csv",
        "cec_2025-H1_network.csv",
        "cec_intervals_2025-03.parquet",
    ]
    table = pq.read_table(paths[2])
    assert ",".join(table.column_names) == INTERVAL_HEADER
    # March 2025 in Los Angeles: 31 days less the hour the clocks skip on 9 March
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    assert frame.height == 2 * (31 * 24 - 1)
    e1 = frame.filter(pl.col("outage_min") > 0)
    # 10:05-12:05 UTC is 03:05-05:05 PDT: three hours touched, 55 + 60 + 5 minutes
    assert e1.get_column("outage_min").to_list() == [55.0, 60.0, 5.0]
    assert e1.get_column("excluded_min").to_list() == [30.0, 30.0, 0.0]
    assert str(e1.get_column("interval_start")[0]) == "2025-03-10 03:00:00-07:00"


def test_cli_cec_export_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    observed_lake(tmp_path / "lake", status=EVENTS, until="2026-01-01T00:00:00")
    base = ["report", "reliability", "--lake", str(tmp_path / "lake"), "--month", "2025-07"]
    run = {"capture_output": True, "text": True, "timeout": 120, "env": os.environ.copy()}
    done = subprocess.run(
        [sys.executable, "-m", "evlog", *base, "--standard", "cec", "--export", "cec",
         str(tmp_path / "cec"), "--cec-interval", "hour", "--format", "csv", "--output",
         str(tmp_path / "r.csv")],
        **run,  # type: ignore[call-overload]
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # the command says what it wrote ("nothing happened" is never silent)
    assert f"cec export: 3 files written to {tmp_path / 'cec'}" in done.stderr
    assert sorted(p.name for p in (tmp_path / "cec").iterdir()) == [
        "cec_2025-H2_network.csv",
        "cec_2025-H2_ports.csv",
        "cec_intervals_2025-07.csv",
    ]
    _, july = read(tmp_path / "cec" / "cec_intervals_2025-07.csv")
    assert len(july) == 2 * 31 * 24
    assert july[0]["outage_min"] == "20.0"  # E1, 00:00-01:00
    for args, message in (
        (["--standard", "cec", "--export", "cec", str(tmp_path / "x"), "--cec-interval", "5min"],
         "Invalid value for '--cec-interval': Value error, '5min' is not one of '15min', "
         "'hour'."),
        (["--standard", "nevi", "--export", "cec", str(tmp_path / "x")],
         "--export cec: the CEC filing needs --standard cec"),
        # an export's own option without that export is refused, not ignored
        (["--standard", "cec", "--cec-interval", "hour"], "--cec-interval: only with --export cec"),
        (["--standard", "cec", "--export", "uk-pcpr", str(tmp_path / "x"), "--cec-format",
          "parquet"], "--cec-format: only with --export cec"),
        (["--standard", "nevi", "--network-provider", "Acme"],
         "--network-provider: only with --export ev-chart"),
    ):  # fmt: skip
        with pytest.raises(SystemExit) as exit_info:
            main([*base, *args])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert err.strip() == f"evlog: error: {message}"
    assert not (tmp_path / "x").exists()
