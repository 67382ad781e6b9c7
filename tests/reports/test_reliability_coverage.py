"""Coverage-qualified reliability figures (docs/reliability.md, "Unobserved time"): time the log
cannot speak for is never counted as up by default, a basis under `--min-coverage` gets no
verdict, and time after the lake's data is unobserved.

Expected figures are arithmetic in minutes, written out in the tests.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import evlog
from tests.replay.lakes import Connectivity, StatusEvent, at, make_lake, write_coverage
from tests.reports.test_reliability import network_row, port_row

DAY = 1440


@pytest.fixture
def gap_lake(tmp_path: Path) -> Path:
    """E1 observed from December 2024, out of order on 3 January 2025 for one day; the recorder
    did not listen from 17 January to 1 February 2025 (15 days), and saw it AVAILABLE again when it
    came back (until then, after the gap, the replay says no_data: rule *Coverage*)."""
    lake = make_lake(
        tmp_path / "lake",
        status=[
            StatusEvent("E1", "AVAILABLE", at("2024-12-01T00:00:00")),
            StatusEvent("E1", "OUT_OF_ORDER", at("2025-01-03T00:00:00")),
            StatusEvent("E1", "AVAILABLE", at("2025-01-04T00:00:00")),
            StatusEvent("E1", "AVAILABLE", at("2025-02-01T00:00:00")),
        ],
    )
    write_coverage(
        lake,
        "here_stream",
        {
            "a": [(at("2020-01-01T00:00:00"), at("2025-01-17T00:00:00"))],
            "b": [(at("2025-02-01T00:00:00"), at("2027-01-01T00:00:00"))],
        },
    )
    return lake.root


def test_a_month_half_unobserved_has_no_verdict(gap_lake: Path) -> None:
    lake = evlog.open_lake(gap_lake)
    # UK, January 2025: the basis is January (31 days), 16 of them observed.
    january = port_row(lake.reliability("uk-pcpr", month="2025-01"), "2025-01", "E1")
    assert january["measured_min"] == 16 * DAY
    assert january["unobserved_min"] == 15 * DAY
    assert january["coverage_pct"] == pytest.approx(16 / 31 * 100)
    assert january["passed"] is None
    assert january["no_verdict_reason"] == "coverage 51.61 % is under 95 %"
    assert january["unobserved_as"] == "excluded"
    # excluded from the basis: D = 31 days x 16/31 = 16 days, one of them out
    assert january["denominator_min"] == pytest.approx(16 * DAY)
    assert january["uptime_pct"] == pytest.approx((16 - 1) / 16 * 100)
    assert january["month_uptime_pct"] == pytest.approx((16 - 1) / 16 * 100)
    # counted as outage: 1 + 15 days out of 31
    outage = port_row(
        lake.reliability("uk-pcpr", month="2025-01", unobserved="outage"), "2025-01", "E1"
    )
    assert outage["t_outage_min"] == 16 * DAY
    assert outage["uptime_pct"] == pytest.approx((31 - 16) / 31 * 100)
    assert outage["passed"] is None  # the threshold holds whatever the policy
    # counted as up: only the observed day out
    up = port_row(lake.reliability("uk-pcpr", month="2025-01", unobserved="up"), "2025-01", "E1")
    assert up["uptime_pct"] == pytest.approx((31 - 1) / 31 * 100)
    # a lower threshold gives the verdict: 93.75 % < 99 %
    lenient = port_row(
        lake.reliability("uk-pcpr", month="2025-01", min_coverage=50), "2025-01", "E1"
    )
    assert lenient["passed"] is False and lenient["no_verdict_reason"] is None


def test_a_year_with_a_short_gap_keeps_its_verdict(gap_lake: Path) -> None:
    row = port_row(evlog.open_lake(gap_lake).reliability("nevi", month="2025-12"), "2025-12", "E1")
    # 350 of 365 days observed: 95.89 %, a verdict; D = 525,600 x 350/365 = 504,000
    assert row["coverage_pct"] == pytest.approx(350 / 365 * 100)
    assert row["denominator_min"] == pytest.approx(504_000)
    assert row["uptime_pct"] == pytest.approx((504_000 - DAY) / 504_000 * 100)
    assert row["passed"] is True and row["no_verdict_reason"] is None


def test_time_after_the_lake_is_never_up(tmp_path: Path) -> None:
    """A lake without coverage ends at its last event: the last state is not held past it."""
    make_lake(
        tmp_path / "lake",
        status=[
            StatusEvent("E1", "AVAILABLE", at("2024-12-01T00:00:00")),
            StatusEvent("E2", "AVAILABLE", at("2024-12-01T00:00:00")),
            StatusEvent("E1", "CHARGING", at("2025-03-10T12:00:00")),
        ],
    )
    lake = evlog.open_lake(tmp_path / "lake")
    march = lake.reliability("uk-pcpr", month="2025-03")
    e1 = port_row(march, "2025-03", "E1")
    # basis January-March (90 days); the data ends on 10 March at 12:00 (and 1 µs)
    assert e1["unobserved_min"] == pytest.approx(21.5 * DAY, abs=1e-4)
    assert e1["measured_min"] == pytest.approx(68.5 * DAY, abs=1e-4)
    assert e1["passed"] is None
    # far beyond the data: nothing observed, no verdict, nothing counted as up
    later = lake.reliability("nevi", month="2030-01")
    for port_id in ("E1", "E2"):
        row = port_row(later, "2030-01", port_id)
        assert row["measured_min"] == 0
        assert row["uptime_pct"] is None and row["passed"] is None
        assert row["no_verdict_reason"] == "nothing observed in the basis"
        assert row["unobserved_min"] == 365 * DAY  # 2029-02-01 to 2030-02-01
    net = network_row(later, "2030-01")
    assert net["passed"] is None and net["ports"] == 2 and net["ports_assessed"] == 0
    assert net["no_verdict_reason"] == "nothing observed in the basis"
    # the quarter around the data's end: only the month before the end has any of it
    quarter = lake.reliability("uk-pcpr", quarter="2025-Q2")
    assert port_row(quarter, "2025-06", "E1")["unobserved_min"] == pytest.approx(
        (181 - 68.5) * DAY, abs=1e-4
    )


def test_uptime_and_reliability_agree_on_an_unobserved_window(tmp_path: Path) -> None:
    """On a lake that records coverage, a window after it is unobserved for both reports."""
    lake = make_lake(
        tmp_path / "lake",
        connectivity=[Connectivity("S1", True, at("2025-01-01T00:00:00"))],
        status=[StatusEvent("E1", "AVAILABLE", at("2025-01-01T00:00:00"))],
    )
    for source in ("here_stream", "edrv_webhooks"):
        span = (at("2025-01-01T00:00:00"), at("2025-02-01T00:00:00"))
        write_coverage(lake, source, {"s": [span]})
    api = evlog.open_lake(lake.root)
    uptime = api.uptime("2025-03-01", "2025-04-01", by="none")
    assert uptime["uptime_pct"].to_list() == [None]
    row = port_row(api.reliability("uk-pcpr", month="2025-03"), "2025-03", "E1")
    assert row["month_uptime_pct"] is None and row["passed"] is None
    # and inside the coverage both count the observed time alone
    assert api.uptime("2025-01-01", "2025-02-01", by="none")["uptime_pct"].to_list() == [100.0]
    january = port_row(api.reliability("uk-pcpr", month="2025-01"), "2025-01", "E1")
    assert january["month_uptime_pct"] == 100.0 and january["coverage_pct"] == 100.0


def evlog_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evlog", *args], capture_output=True, text=True, check=False
    )


def test_cli_warns_and_refuses_bad_options(gap_lake: Path) -> None:
    result = evlog_cli(
        "report", "reliability", "--standard", "uk-pcpr", "--month", "2025-01",
        "--lake", str(gap_lake), "--format", "csv", "--columns", "port_id,passed,no_verdict_reason",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "port_id,passed,no_verdict_reason",
        "E1,,coverage 51.61 % is under 95 %",
        ",,coverage 51.61 % is under 95 %",
    ]
    assert result.stderr.strip() == (
        "evlog: warning: 1 of 1 port figures have no verdict: under 95 % of their basis was "
        "observed (2025-01; see no_verdict_reason)"
    )
    title = evlog_cli(
        "report", "reliability", "--standard", "nevi", "--month", "2025-12", "--lake",
        str(gap_lake), "--unobserved", "outage", "--format", "table",
    )  # fmt: skip
    assert "unobserved time counted as outage" in " ".join(title.stdout.split())
    assert title.stderr == ""  # 95.89 % observed: a verdict, no warning
    for bad, words in [
        (["--unobserved", "ignored"], "--unobserved"),
        (["--min-coverage", "120"], "--min-coverage: expected a percentage 0-100"),
        (["--outage-states", "OUT_OF_ORDER,unobserved"], "unobserved is not a status"),
    ]:
        refused = evlog_cli(
            "report", "reliability", "--standard", "nevi", "--lake", str(gap_lake), *bad
        )
        assert refused.returncode == 2, refused
        assert refused.stderr.startswith("evlog: error: ") and words in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
