"""Availability figures by hand, the location roll-up, bad input, output formats and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

import evlog
from evlog._cli import main
from evlog._errors import LakeError, LakeNotFoundError, UsageError
from evlog._lake.layout import Lake
from tests.replay.lakes import Connectivity, StatusEvent, at, make_lake

DAY = ("2024-04-05", "2024-04-06")

EVSES = [
    StatusEvent("E1", "AVAILABLE", at("2024-04-05T00:00:00"), "L1"),
    StatusEvent("E1", "CHARGING", at("2024-04-05T06:00:00"), "L1"),
    StatusEvent("E1", "OUT_OF_ORDER", at("2024-04-05T12:00:00"), "L1"),
    StatusEvent("E1", "UNKNOWN", at("2024-04-05T18:00:00"), "L1"),
    StatusEvent("E2", "CHARGING", at("2024-04-05T03:00:00"), "L1"),
    StatusEvent("E2", "AVAILABLE", at("2024-04-05T09:00:00"), "L1"),
    StatusEvent("E3", "AVAILABLE", at("2024-04-01T00:00:00"), "L2"),
]


@pytest.fixture
def lake_dir(tmp_path: Path) -> Path:
    make_lake(
        tmp_path, [Connectivity("S1", True, at("2024-04-05T00:00:00"))], EVSES, files=2, seed=3
    )
    return tmp_path


def test_availability_by_hand(lake_dir: Path) -> None:
    frame = evlog.open_lake(lake_dir).availability(*DAY, by="none")
    e1 = frame.filter(pl.col("evse_id") == "E1").to_dicts()[0]
    assert (e1["available_s"], e1["charging_s"], e1["out_of_order_s"], e1["unknown_s"]) == (
        21_600.0,
        21_600.0,
        21_600.0,
        21_600.0,
    )
    assert e1["observed_s"] == 86_400.0
    assert e1["available_pct"] == pytest.approx(100 / 3)  # UNKNOWN is not a known status
    assert e1["in_service_pct"] == pytest.approx(75.0)
    e2 = frame.filter(pl.col("evse_id") == "E2").to_dicts()[0]
    assert (e2["no_data_s"], e2["charging_s"], e2["available_s"]) == (10_800.0, 21_600.0, 54_000.0)
    assert frame.columns[:7] == [
        "location_id",
        "evse_id",
        "period_start",
        "period_end",
        "no_data_s",
        "unobserved_s",
        "observed_s",
    ]


def test_location_roll_up(lake_dir: Path) -> None:
    lake = evlog.open_lake(lake_dir)
    frame = lake.availability(*DAY, by="none", by_location=True)
    l1 = frame.filter(pl.col("location_id") == "L1").to_dicts()[0]
    assert l1["evses"] == 2
    # an EVSE AVAILABLE: E1 00-06, E2 09-24 -> 21 h; a known status: all day
    assert l1["available_s"] == 21 * 3600.0
    assert l1["known_s"] == 86_400.0
    only_l2 = lake.availability(*DAY, by="none", location=["L2"])
    assert only_l2["evse_id"].to_list() == ["E3"]


def test_location_of_an_evse_that_moved(tmp_path: Path) -> None:
    # The location is the latest-arriving event's (not the latest in event time), ties in
    # received_at broken by arrival_index; events without a location are passed over.
    t = at("2024-04-05T01:00:00")
    late = at("2024-04-05T20:00:00")
    events = [
        # E1 moved from L1 to L2; its L2 event arrived last although it happened first
        StatusEvent("E1", "AVAILABLE", t, "L2", received_at=late),
        StatusEvent("E1", "CHARGING", at("2024-04-05T02:00:00"), "L1"),
        # E2: same received_at, the higher arrival_index wins
        StatusEvent("E2", "AVAILABLE", t, "L3", received_at=late, arrival_index=2),
        StatusEvent("E2", "CHARGING", at("2024-04-05T02:00:00"), "L1", received_at=late),
        # E3: its latest-arriving event names no location: the one before it holds
        StatusEvent("E3", "AVAILABLE", t, "L1"),
        StatusEvent("E3", "CHARGING", at("2024-04-05T02:00:00"), None),  # type: ignore[arg-type]
        # E4: a missing location that did not arrive last
        StatusEvent("E4", "AVAILABLE", t, None),  # type: ignore[arg-type]
        StatusEvent("E4", "CHARGING", at("2024-04-05T02:00:00"), "L4"),
        # E5: always the same location
        StatusEvent("E5", "AVAILABLE", t, "L5", received_at=late),
        StatusEvent("E5", "CHARGING", at("2024-04-05T02:00:00"), "L5"),
    ]
    make_lake(tmp_path, [], events, files=3, seed=5)
    lake = evlog.open_lake(tmp_path)
    frame = lake.availability(*DAY, by="none")
    located = dict(zip(frame["evse_id"].to_list(), frame["location_id"].to_list(), strict=True))
    assert located == {"E1": "L2", "E2": "L3", "E3": "L1", "E4": "L4", "E5": "L5"}
    only = lake.availability(*DAY, by="none", location=["L1", "L2", "L4"])
    assert sorted(only["evse_id"].to_list()) == ["E1", "E3", "E4"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        # the API's errors name its keywords (the CLI's, its flags)
        ({"start": "2024-04-06", "end": "2024-04-05"}, "^end: .* is not after start"),
        ({"start": "2024-04-05", "end": "2024-04-05"}, "^end: "),
        ({"start": "the day before", "end": "2024-04-05"}, "^start: expected an ISO 8601"),
        ({"start": "2024-04-05", "end": "2024-04-06", "tz": "Mars/Olympus"}, "^tz: "),
        ({"start": "2024-04-05", "end": "2024-04-06", "by": "fortnight"}, "^by: "),
    ],
)
def test_bad_options(lake_dir: Path, kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        evlog.open_lake(lake_dir).uptime(**kwargs)  # type: ignore[arg-type]


def test_bad_flap_settings(lake_dir: Path) -> None:
    lake = evlog.open_lake(lake_dir)
    with pytest.raises(UsageError, match=r"^flap_threshold: "):
        lake.flaps(*DAY, flap_threshold="soon")
    with pytest.raises(UsageError, match=r"^flap_count: "):
        lake.flaps(*DAY, flap_count=1)


def test_missing_and_empty_lakes(tmp_path: Path) -> None:
    with pytest.raises(LakeNotFoundError):
        evlog.open_lake(tmp_path / "nowhere")
    Lake.create(tmp_path / "empty")
    with pytest.raises(LakeError, match="no events"):
        evlog.open_lake(tmp_path / "empty").uptime(*DAY)


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    captured = capsys.readouterr()
    return int(exit_info.value.code or 0), captured.out, captured.err


def test_cli_formats(lake_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lake = str(lake_dir)
    window = ["--start", DAY[0], "--end", DAY[1]]
    code, out, _ = run_cli(["report", "uptime", "--lake", lake, *window, "--format", "csv"], capsys)
    assert code == 0
    assert out.splitlines()[0].startswith("station_id,period_start,period_end,no_data_s")
    code, out, _ = run_cli(
        ["report", "availability", "--lake", lake, *window, "--format", "json", "--evse", "E1"],
        capsys,
    )
    assert [row["evse_id"] for row in json.loads(out)] == ["E1"]
    code, out, _ = run_cli(
        ["report", "flaps", "--lake", lake, *window, "--format", "markdown"], capsys
    )
    assert out.startswith("| station_id | period_start |")
    target = tmp_path / "intervals.parquet"
    code, _, _ = run_cli(
        [
            "report",
            "intervals",
            "--lake",
            lake,
            *window,
            "--format",
            "parquet",
            "--output",
            str(target),
        ],
        capsys,
    )
    assert code == 0
    assert set(pl.read_parquet(target)["entity_kind"]) == {"evse", "station"}
    code, out, _ = run_cli(["report", "uptime", "--lake", lake, *window], capsys)
    assert code == 0 and "S1" in out and "uptime_pct" in out


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--start", "2024-04-06", "--end", "2024-04-05"], "--end"),
        (["--tz", "Nowhere/Town"], "--tz"),
        (["--by", "year"], "--by"),
        (["--format", "xml"], "--format"),
        (["--format", "parquet"], "--output"),
    ],
)
def test_cli_errors_are_one_line(
    lake_dir: Path, args: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(["report", "uptime", "--lake", str(lake_dir), *args], capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert needle in err


def test_cli_missing_lake(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["report", "flaps", "--lake", str(tmp_path / "nope")], capsys)
    assert code == 2 and "lake" in err and len(err.strip().splitlines()) == 1
