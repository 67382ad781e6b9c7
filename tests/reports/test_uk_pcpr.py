"""UK PCPR export (`--export uk-pcpr DIR`): the annual network figure (reg. 8(2)), the per-point
figures and their distribution, and the reg. 7(6) summary, computed by hand on a hand-written
lake."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

import evlog
from evlog._cli import main
from evlog._reports import uk_pcpr
from tests.replay.lakes import StatusEvent, at, make_lake

DAY = 1440
YEAR = 365 * DAY  # 2025
NETWORK_HEADER = (
    "year,period_start,period_end,complete_year,charge_points,charge_points_assessed,"
    "charge_points_meeting_99,network_reliability_pct,requirement_pct,compliant,coverage_pct,"
    "no_verdict_reason"
)
POINTS_HEADER = (
    "year,evse_id,station_id,location_id,reliability_pct,not_reliable_min,excluded_min,"
    "assessed_min,coverage_pct,no_verdict_reason"
)
DISTRIBUTION_HEADER = "year,band,charge_points,share_pct"


def ev(evse: str, status: str, when: str) -> StatusEvent:
    return StatusEvent(evse, status, at(when), location_id="L1")


EVENTS = [
    *(ev(p, "AVAILABLE", "2024-12-01T00:00:00") for p in ("E1", "E2", "E3")),
    ev("E1", "OUT_OF_ORDER", "2025-03-01T00:00:00"),  # 1 day not reliable
    ev("E1", "AVAILABLE", "2025-03-02T00:00:00"),
    ev("E1", "BLOCKED", "2025-05-01T00:00:00"),  # a week blocked: reliable (reg. 7(3)(b))
    ev("E1", "AVAILABLE", "2025-05-08T00:00:00"),
    ev("E2", "INOPERATIVE", "2025-08-01T00:00:00"),  # 5 days
    ev("E2", "AVAILABLE", "2025-08-06T00:00:00"),
    ev("E3", "OUT_OF_ORDER", "2025-02-01T00:00:00"),  # 19 days
    ev("E3", "AVAILABLE", "2025-02-20T00:00:00"),
    *(ev(p, "CHARGING", "2026-01-01T00:00:00") for p in ("E1", "E2", "E3")),  # data to year end
]


def pct(outage_min: float) -> float:
    return (YEAR - outage_min) / YEAR * 100


def read(path: Path) -> tuple[str, list[dict[str, str]]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return lines[0], list(csv.DictReader(lines))


@pytest.fixture
def lake(tmp_path: Path) -> evlog.EvlogLake:
    make_lake(tmp_path / "lake", status=EVENTS)
    return evlog.open_lake(tmp_path / "lake")


def test_annual_network_points_distribution_and_summary(
    lake: evlog.EvlogLake, tmp_path: Path
) -> None:
    result = lake.reliability_report("uk-pcpr", month="2025-12")
    paths = evlog.export_uk_pcpr(result, tmp_path / "uk")
    assert [p.name for p in paths] == [
        "uk_pcpr_2025_network.csv",
        "uk_pcpr_2025_points.csv",
        "uk_pcpr_2025_distribution.csv",
        "uk_pcpr_2025_summary.md",
    ]
    e1, e2, e3 = pct(1 * DAY), pct(5 * DAY), pct(19 * DAY)
    assert (round(e1, 3), round(e2, 3), round(e3, 3)) == (99.726, 98.630, 94.795)
    network = (e1 + e2 + e3) / 3  # reg. 7(2): "on average"
    assert round(network, 3) == 97.717

    header, rows = read(tmp_path / "uk" / "uk_pcpr_2025_network.csv")
    assert header == NETWORK_HEADER
    assert rows == [
        {
            "year": "2025",
            "period_start": "2025-01-01",
            "period_end": "2026-01-01",
            "complete_year": "true",
            "charge_points": "3",
            "charge_points_assessed": "3",
            "charge_points_meeting_99": "1",
            "network_reliability_pct": f"{network:.3f}",
            "requirement_pct": "99",
            "compliant": "false",
            "coverage_pct": "100.00",
            "no_verdict_reason": "",
        }
    ]
    header, points = read(tmp_path / "uk" / "uk_pcpr_2025_points.csv")
    assert header == POINTS_HEADER
    assert [(p["evse_id"], p["reliability_pct"], p["not_reliable_min"]) for p in points] == [
        ("E1", f"{e1:.3f}", f"{DAY:.3f}"),
        ("E2", f"{e2:.3f}", f"{5 * DAY:.3f}"),
        ("E3", f"{e3:.3f}", f"{19 * DAY:.3f}"),
    ]
    assert {p["assessed_min"] for p in points} == {f"{YEAR:.3f}"}
    header, bands = read(tmp_path / "uk" / "uk_pcpr_2025_distribution.csv")
    assert header == DISTRIBUTION_HEADER
    assert [(b["band"], b["charge_points"]) for b in bands] == [
        ("100", "0"),
        ("99 to under 100", "1"),  # E1
        ("98 to under 99", "1"),  # E2
        ("95 to under 98", "0"),
        ("90 to under 95", "1"),  # E3
        ("under 90", "0"),
        ("no figure", "0"),
    ]
    assert bands[1]["share_pct"] == f"{100 / 3:.1f}"
    text = (tmp_path / "uk" / "uk_pcpr_2025_summary.md").read_text()
    assert f"reliable for {network:.2f} % of the time" in text
    assert "did not meet the reliability requirement" in text
    assert "| 90 to under 95 | 1 | 33.3 % |" in text


def test_year_to_date(lake: evlog.EvlogLake, tmp_path: Path) -> None:
    result = lake.reliability_report("uk-pcpr", "2025-01-01", "2025-07-01")
    evlog.export_uk_pcpr(result, tmp_path / "uk")
    _, rows = read(tmp_path / "uk" / "uk_pcpr_2025_network.csv")
    half = (31 + 28 + 31 + 30 + 31 + 30) * DAY  # January to June 2025
    e1, e2, e3 = ((half - out) / half * 100 for out in (DAY, 0, 19 * DAY))
    assert rows[0]["complete_year"] == "false"
    assert rows[0]["period_end"] == "2025-07-01"
    assert rows[0]["network_reliability_pct"] == f"{(e1 + e2 + e3) / 3:.3f}"
    assert (
        "year to date (to the end of 2025-06)"
        in (tmp_path / "uk" / "uk_pcpr_2025_summary.md").read_text()
    )


def test_cli_uk_export_and_standard_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_lake(tmp_path / "lake", status=EVENTS)
    base = [
        sys.executable,
        "-m",
        "evlog",
        "report",
        "reliability",
        "--lake",
        str(tmp_path / "lake"),
    ]
    run = {"capture_output": True, "text": True, "timeout": 120, "env": os.environ.copy()}
    done = subprocess.run(
        [*base, "--standard", "uk-pcpr", "--month", "2025-12", "--export", "uk-pcpr",
         str(tmp_path / "uk"), "--format", "csv", "--output", str(tmp_path / "r.csv")],
        **run,  # type: ignore[call-overload]
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert read(tmp_path / "uk" / "uk_pcpr_2025_network.csv")[0] == NETWORK_HEADER
    with pytest.raises(SystemExit) as exit_info:
        main(["report", "reliability", "--lake", str(tmp_path / "lake"), "--standard", "nevi",
              "--export", "uk-pcpr", str(tmp_path / "x")])  # fmt: skip
    assert exit_info.value.code == 2
    assert "need --standard uk-pcpr" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("figure", "band"),
    [
        (100.0, "100"),
        (99.99999, "99 to under 100"),
        (99.0, "99 to under 100"),
        (98.99999, "98 to under 99"),
        (98.0, "98 to under 99"),
        (97.99, "95 to under 98"),
        (95.0, "95 to under 98"),
        (90.0, "90 to under 95"),
        (89.99, "under 90"),
        (0.0, "under 90"),
        (None, "no figure"),
    ],
)
def test_distribution_bands(figure: float | None, band: str) -> None:
    counts = dict((b, c) for b, c, _ in uk_pcpr.distribution([{"uptime_pct": figure}]))
    assert counts[band] == 1 and sum(counts.values()) == 1
