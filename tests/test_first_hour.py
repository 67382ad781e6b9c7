"""A new user's first hour (issue 16): bad paths, damaged lakes and Ctrl-C give one line
`evlog: error: …` and a non-zero exit, never a traceback; "nothing happened" is never silent; a
capture's missing receive times do not stretch the default window.

Every case runs the real CLI in a subprocess, as a user would meet it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests import feeds


def evlog(*args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "evlog", *args],
        capture_output=True,
        timeout=120,
        cwd=cwd,
        env={**os.environ, **env},
    )


def one_error_line(result: subprocess.CompletedProcess[bytes], code: int = 2) -> str:
    stderr = result.stderr.decode()
    assert result.returncode == code, stderr
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("evlog: error: ")
    return lines[0]


def write_capture(root: Path) -> Path:
    """Three statuses of e1: AVAILABLE 04-05 10:00, CHARGING 11:00, AVAILABLE 04-06 09:00."""
    capture = root / "c.ndjson"
    capture.write_bytes(
        feeds.ndjson(
            feeds.message("loc-1", ("e1", "AVAILABLE", "2024-04-05T10:00:00Z")),
            feeds.message("loc-1", ("e1", "CHARGING", "2024-04-05T11:00:00Z")),
            feeds.message("loc-1", ("e1", "AVAILABLE", "2024-04-06T09:00:00Z")),
        )
    )
    return capture


def make_lake(root: Path, *, compact: bool = True) -> Path:
    capture = write_capture(root)
    lake = root / "lake"
    flags = [] if compact else ["--no-compact"]
    done = evlog("record", "stream", str(capture), "--lake", str(lake), *flags)
    assert done.returncode == 0, done.stderr
    return lake


REPORT = ("report", "availability", "--by", "none")


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_lake(tmp_path_factory.mktemp("cli-errors"))


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize(
    "where, message",
    [
        ("missing/out.FILE", "--output: directory"),
        (".", "--output: '.' is a directory"),
        ("afile/out.FILE", "is a file, not a directory"),
    ],
)
def test_output_paths_that_cannot_be_written(
    lake: Path, tmp_path: Path, fmt: str, where: str, message: str
) -> None:
    (tmp_path / "afile").write_text("x")
    target = where.replace("FILE", fmt)
    result = evlog(*REPORT, "--lake", str(lake), "--format", fmt, "--output", target, cwd=tmp_path)
    assert message in one_error_line(result)


def test_an_output_the_system_refuses_is_one_line_and_leaves_nothing(lake: Path) -> None:
    # /proc takes no new files, whoever asks (root too): the write itself fails
    result = evlog(*REPORT, "--lake", str(lake), "--format", "csv", "--output", "/proc/out.csv")
    line = one_error_line(result)
    assert "cannot write the report to '/proc/out.csv'" in line or "--output" in line
    assert not Path("/proc/out.csv").exists()


@pytest.mark.parametrize(
    "where, message",
    [
        ("missing/p.png", "--plot: directory"),
        ("afile/p.png", "--plot: 'afile' is a file, not a directory"),
        ("p.txt", "expected a file ending in .png or .svg"),
    ],
)
def test_plot_paths_that_cannot_be_written(
    lake: Path, tmp_path: Path, where: str, message: str
) -> None:
    (tmp_path / "afile").write_text("x")
    result = evlog(*REPORT, "--lake", str(lake), "--plot", where, cwd=tmp_path)
    assert message in one_error_line(result)


def test_output_dash_is_stdout(lake: Path, tmp_path: Path) -> None:
    result = evlog(*REPORT, "--lake", str(lake), "--format", "csv", "--output", "-", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().startswith("location_id,evse_id,")
    assert not (tmp_path / "-").exists()
    piped = evlog(*REPORT, "--lake", str(lake), "--format", "parquet", "--output", "-")
    assert piped.returncode == 0, piped.stderr
    table = pq.read_table(io.BytesIO(piped.stdout))
    assert table.num_rows > 0 and "evse_id" in table.column_names


def test_an_output_file_is_replaced_whole(lake: Path, tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("old contents that are much longer than nothing\n" * 100)
    result = evlog(*REPORT, "--lake", str(lake), "--format", "csv", "--output", str(target))
    assert result.returncode == 0, result.stderr
    assert "old contents" not in target.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]  # no temporary left behind


def test_lake_paths_that_are_not_lakes(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    line = one_error_line(evlog(*REPORT, "--lake", str(afile)))
    assert "not an evlog lake" in line and "is a file" in line
    line = one_error_line(evlog(*REPORT, "--lake", str(afile / "lake")))
    assert "does not exist" in line and f"{afile} is a file" in line
    capture = tmp_path / "c.ndjson"
    message = feeds.message("l", ("e", "AVAILABLE", "2024-04-05T10:00:00Z"))
    capture.write_bytes(feeds.ndjson(message))
    line = one_error_line(evlog("record", "stream", str(capture), "--lake", str(afile / "lake")))
    assert "cannot make a lake" in line
    line = one_error_line(evlog("simulate", "--out", str(afile / "sim"), "--days", "1"))
    assert line.startswith("evlog: error: --out:")


@pytest.mark.parametrize(
    "marker, message",
    [
        (b"not json", "damaged lake marker"),
        (b'{"created_at": "2024-01-01"}', "no integer"),
        (json.dumps({"format": 99}).encode(), "newer than this evlog reads"),
    ],
)
def test_a_damaged_or_newer_marker_is_refused(tmp_path: Path, marker: bytes, message: str) -> None:
    lake = make_lake(tmp_path)
    (lake / "evlog-lake.json").write_bytes(marker)
    for args in (REPORT, ("lake", "info")):
        assert message in one_error_line(evlog(*args, "--lake", str(lake)))


@pytest.mark.parametrize("damage", ["stray", "truncated"])
def test_a_damaged_parquet_file_names_itself(tmp_path: Path, damage: str) -> None:
    lake = make_lake(tmp_path, compact=False)  # the report must read the event files
    partition = sorted((lake / "status_events").glob("date=*"))[0]
    if damage == "stray":
        bad = partition / "stray.parquet"
        bad.write_bytes(b"garbage")
    else:
        bad = sorted(partition.glob("*.parquet"))[0]
        bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
    for args in (REPORT, ("lake", "info"), ("lake", "compact")):
        line = one_error_line(evlog(*args, "--lake", str(lake)))
        assert "damaged Parquet file" in line and str(bad) in line, args


def test_ctrl_c_during_a_report_is_one_line_and_exit_130(lake: Path) -> None:
    # a real SIGINT, sent by the process to itself as the replay starts (evlog/_faults.py)
    result = evlog(*REPORT, "--lake", str(lake), EVLOG_FAULTS="replay.reading=sigint")
    assert one_error_line(result, 130) == "evlog: error: interrupted"


# "Nothing happened" is never silent ---------------------------------------------------------


def test_a_folder_given_through_dot_dot_or_under_a_dot_folder_is_imported(tmp_path: Path) -> None:
    captures = tmp_path / ".cache" / "captures"
    captures.mkdir(parents=True)
    (captures / "a.ndjson").write_bytes(
        feeds.ndjson(feeds.message("l", ("e", "AVAILABLE", "2024-04-05T10:00:00Z")))
    )
    (captures / ".partial.ndjson").write_bytes(  # a hidden file inside: skipped
        feeds.ndjson(feeds.message("l", ("e2", "AVAILABLE", "2024-04-05T10:00:00Z")))
    )
    (tmp_path / "sub").mkdir()
    result = evlog(
        "record", "stream", "../.cache/captures", "--lake", "../lake", cwd=tmp_path / "sub"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().startswith("recorded 1 records (1 events)")


def test_an_empty_folder_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / ".hidden").write_text("x")
    for command in (("record", "stream"), ("record", "webhooks", "--from")):
        result = evlog(*command, str(tmp_path / "empty"), "--lake", str(tmp_path / "lake"))
        assert "no capture files in" in one_error_line(result)
    assert not (tmp_path / "lake").exists()


def test_a_capture_wholly_quarantined_warns_and_exits_1(tmp_path: Path) -> None:
    hooks = tmp_path / "hooks.jsonl"  # webhooks given to the HERE importer
    hooks.write_bytes(feeds.jsonl(feeds.webhook("w1", "st-1", True, "2024-04-05T10:00:00Z")))
    result = evlog("record", "stream", str(hooks), "--lake", str(tmp_path / "lake"))
    assert result.returncode == 1
    assert result.stdout.decode().strip().endswith("1 quarantined")
    assert "warning: nothing recorded: every one of the 1 new records was quarantined" in (
        result.stderr.decode()
    )
    again = evlog("record", "stream", str(hooks), "--lake", str(tmp_path / "lake"))
    assert again.returncode == 0, again.stderr  # recorded before: nothing new, and that is fine


def test_every_poll_round_failing_warns_and_exits_1(tmp_path: Path) -> None:
    result = evlog(
        "record", "poll", "--lake", str(tmp_path / "lake"), "--api-base", "http://127.0.0.1:9",
        "--token-env", "HOME", "--rounds", "1", "--quiet",
    )  # fmt: skip
    assert result.returncode == 1
    assert "warning: nothing recorded: all 1 polling rounds failed" in result.stderr.decode()


# The default window (docs/replay.md, "The window") ---------------------------------------------


def test_a_capture_imported_weeks_later_does_not_stretch_the_default_window(
    tmp_path: Path,
) -> None:
    capture = tmp_path / "week.ndjson"
    capture.write_bytes(
        feeds.ndjson(
            feeds.message("l", ("e", "AVAILABLE", "2024-04-01T00:00:00Z")),
            feeds.message("l", ("e", "CHARGING", "2024-04-07T00:00:00Z")),
        )
    )
    three_weeks_later = 1_714_521_600  # 2024-05-01T00:00:00Z: when the file was copied here
    os.utime(capture, (three_weeks_later, three_weeks_later))
    lake = tmp_path / "lake"
    assert evlog("record", "stream", str(capture), "--lake", str(lake)).returncode == 0
    result = evlog(
        "report", "availability", "--by", "none", "--format", "json", "--lake", str(lake)
    )
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert row["period_start"].startswith("2024-04-01T00:00:00")
    assert row["period_end"].startswith("2024-04-07T00:00:00.000001")  # last event + 1 µs
    assert row["available_s"] == 6 * 86_400
    assert row["charging_s"] == pytest.approx(1e-6)


# Conventions ---------------------------------------------------------------------------------

COMMANDS = (
    (),
    ("record", "stream"),
    ("record", "webhooks"),
    ("record", "here"),
    ("record", "poll"),
    ("lake", "info"),
    ("lake", "compact"),
    ("lake", "rebuild"),
    ("simulate",),
    ("report", "availability"),
    ("report", "uptime"),
    ("report", "flaps"),
    ("report", "intervals"),
    ("report", "reliability"),
    ("report", "reconcile"),
    ("report", "feed-health"),
)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "evlog")
def test_help_with_dash_h_names_values_not_python_types(command: tuple[str, ...]) -> None:
    result = evlog(*command, "-h", COLUMNS="200")
    assert result.returncode == 0, result.stderr
    text = result.stdout.decode()
    assert "Usage:" in text
    # an option shows the kind of value it takes (DIR, WHEN, DURATION, <a|b>), not a Python type
    # (typer still labels positional arguments with theirs: INPUT... <list[str]>)
    assert not re.findall(r"--[a-z-]+ +<(?:str|path|int|float|list\[|bool)", text), command


def test_version_matches_the_package() -> None:
    import evlog as package

    result = evlog("--version")
    assert result.returncode == 0
    assert result.stdout.decode().strip() == f"evlog {package.__version__}"
    assert package.__version__[0].isdigit()


def test_choices_are_checked_and_offered(lake: Path) -> None:
    line = one_error_line(evlog("report", "availability", "--lake", str(lake), "--by", "fortnight"))
    assert "--by" in line and "'hour', 'day', 'week', 'month', 'none'" in line
    missing = one_error_line(evlog("report", "reliability", "--lake", str(lake)))
    assert missing == "evlog: error: Missing option '--standard'. Choose from: nevi, cec, uk-pcpr"
    help_text = evlog("report", "availability", "-h", COLUMNS="200").stdout.decode()
    assert "<table|csv|json|parquet|markdown>" in help_text and "<duckdb|spark>" in help_text
    upper = evlog("report", "availability", "--lake", str(lake), "--by", "DAY", "--format", "CSV")
    assert upper.returncode == 0, upper.stderr
    assert upper.stdout.decode().startswith("location_id,evse_id,period_start")


def test_evlog_lake_is_the_default_lake(lake: Path) -> None:
    for args in (("lake", "info"), ("report", "availability", "--by", "none")):
        result = evlog(*args, EVLOG_LAKE=str(lake))
        assert result.returncode == 0, result.stderr
    flag_wins = evlog("lake", "info", "--lake", str(lake / "nope"), EVLOG_LAKE=str(lake))
    assert "lake not found" in one_error_line(flag_wins)


def test_months_and_csv_that_spreadsheets_read(lake: Path) -> None:
    result = evlog(
        "report", "availability", "--lake", str(lake), "--start", "2024-04", "--end", "2024-05",
        "--by", "month", "--tz", "Europe/Berlin", "--format", "csv",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    header, row = result.stdout.decode().splitlines()[:2]
    cells = dict(zip(header.split(","), row.split(","), strict=True))
    assert cells["period_start"] == "2024-04-01T00:00:00+02:00"  # ISO, offset with a colon
    assert cells["period_end"] == "2024-05-01T00:00:00+02:00"
    for name in ("available_pct", "in_service_pct"):
        decimals = cells[name].partition(".")[2]
        assert len(decimals) <= 3, cells[name]


# What the lake holds: coverage gaps, the quarantined records --------------------------------


def test_lake_info_lists_coverage_gaps_and_lake_quarantine_the_records(tmp_path: Path) -> None:
    capture = tmp_path / "c.ndjson"
    good = feeds.ndjson(feeds.message("l", ("e", "AVAILABLE", "2024-04-05T10:00:00Z")))
    capture.write_bytes(good + b'{"id": "l", "evses": [\n' + b'["not an object"]\n')
    lake = str(tmp_path / "lake")
    windows = ("2024-04-05T00:00:00Z/2024-04-05T06:00:00Z", "2024-04-05T08:30:00Z/2024-04-06")
    done = evlog(
        "record", "stream", str(capture), "--lake", lake,
        "--coverage", windows[0], "--coverage", windows[1],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    info = evlog("lake", "info", "--lake", lake, COLUMNS="200").stdout.decode()
    gaps = info[info.index("coverage gaps") :]
    assert "2024-04-05 06:00:00Z" in gaps and "2024-04-05 08:30:00Z" in gaps and "2:30:00" in gaps
    listed = evlog("lake", "quarantine", "--lake", lake, "--format", "json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert sorted(r["reason"] for r in rows) == ["invalid JSON", "not a JSON object"]
    assert {r["arrival_index"] for r in rows} == {1, 2} and all(r["detail"] for r in rows)
    only = evlog(
        "lake", "quarantine", "--lake", lake, "--reason", "invalid JSON", "--format", "json"
    )
    assert [r["reason"] for r in json.loads(only.stdout)] == ["invalid JSON"]
    other_day = evlog(
        "lake", "quarantine", "--lake", lake, "--day", "2000-01-01", "--format", "csv"
    )
    assert other_day.stdout.decode().count("\n") == 1  # the header only
    line = one_error_line(evlog("lake", "quarantine", "--lake", lake, "--reason", "nope"))
    assert "--reason: expected one of" in line and "invalid JSON" in line


def test_lake_check_names_each_damaged_file_and_its_fix(tmp_path: Path) -> None:
    lake = make_lake(tmp_path)
    healthy = evlog("lake", "check", "--lake", str(lake), "--deep")
    assert healthy.returncode == 0, healthy.stderr
    assert healthy.stdout.decode().startswith("no problems: ")
    events = sorted((lake / "status_events").rglob("*.parquet"))[0]
    events.write_bytes(events.read_bytes()[:100])
    (lake / "status_events" / "stray.parquet").write_bytes(b"x")
    manifest = next((lake / "rollups" / "manifests").glob("*.json"))
    manifest.write_text("{")
    (lake / "raw_status" / ".left.parquet.tmp").write_bytes(b"")
    (lake / "raw_status" / "copied-in.parquet").write_bytes(b"PAR1")
    result = evlog("lake", "check", "--lake", str(lake), COLUMNS="400")
    assert result.returncode == 1
    text = " ".join(result.stdout.decode().split())
    assert "5 problems" in text
    assert "raw_status/copied-in.parquet" in text and "imported again" in text
    assert "status_events/" in text and "evlog lake rebuild" in text
    assert "status_events/stray.parquet" in text
    assert "damaged manifest" in text and "the next `evlog lake compact` writes it again" in text
    assert "raw_status/.left.parquet.tmp" in text and "left behind by a killed writer" in text
    # a report meets one of the two bad event files: one line naming it
    line = one_error_line(evlog(*REPORT, "--lake", str(lake)))
    assert str(events) in line or "outside the partition folders" in line, line
    events.unlink()  # the stray file alone
    line = one_error_line(evlog(*REPORT, "--lake", str(lake)))
    assert "a file outside the partition folders" in line and "stray.parquet" in line


# The bars (issue 16, item 6): on stderr, only on a terminal. EVLOG_PROGRESS=1 stands for one.
BAR_TASKS = ("simulating days", "reading captures", "merging partitions", "re-deriving raw records")


def test_long_offline_commands_draw_progress_bars_on_a_terminal(tmp_path: Path) -> None:
    capture = write_capture(tmp_path)
    size = capture.stat().st_size  # under 1 kB: shown in bytes
    hooks = tmp_path / "hooks.jsonl"
    hooks.write_bytes(feeds.jsonl(feeds.webhook("w1", "s1", True, "2024-04-05T10:00:00Z")))
    lake = str(tmp_path / "lake")
    runs = [
        (("simulate", "--out", str(tmp_path / "s"), "--days", "2", "--stations", "1"), "2/2 days"),
        (("record", "stream", str(capture), "--lake", lake), f"{size}/{size} bytes"),
        (("record", "webhooks", "--from", str(hooks), "--lake", lake), "reading captures"),
        (("lake", "compact", "--lake", lake), "merging partitions"),
        # three raw status records and one raw webhook
        (("lake", "rebuild", "--lake", lake), "4/4 records"),
    ]
    shown_by: dict[str, str] = {}
    for args, shown in runs:
        result = evlog(*args, EVLOG_PROGRESS="1")
        assert result.returncode == 0, result.stderr
        stderr = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", result.stderr.decode())  # ANSI codes
        assert shown in stderr, (args, stderr)
        assert "━" in stderr  # a bar
        shown_by[args[1]] = stderr
    # the bar's last state: every partition looked at
    merged = re.findall(r"merging partitions[━╺╸ ]*(\d+)/(\d+) partitions", shown_by["compact"])
    assert merged and merged[-1][0] == merged[-1][1] != "0", shown_by["compact"]
    assert "rebuilt from 4 raw records" in result.stdout.decode()  # the summary as before


def test_long_offline_commands_draw_nothing_when_piped(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "EVLOG_PROGRESS"}
    sim = tmp_path / "sim"
    for args in (
        ("simulate", "--out", str(sim), "--days", "1", "--stations", "1"),
        ("record", "stream", str(sim / "here"), "--lake", str(tmp_path / "lake")),
    ):
        result = subprocess.run(
            [sys.executable, "-m", "evlog", *args], capture_output=True, timeout=120, env=env
        )
        assert result.returncode == 0, result.stderr
        stderr = result.stderr.decode()
        assert not any(task in stderr for task in BAR_TASKS), stderr
        assert "\x1b[" not in stderr and "━" not in stderr
    # the record stream's stderr is its compaction line alone
    assert stderr.startswith("compacted ") and len(stderr.strip().splitlines()) == 1


def test_feed_health_by_day(lake: Path) -> None:
    # the lake: e1 AVAILABLE 04-05 10:00, CHARGING 11:00, AVAILABLE 04-06 09:00
    result = evlog("report", "feed-health", "--lake", str(lake), "--by", "day", "--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout.decode())))
    days = [(r["evse_id"], r["period_start"][:10], r["events"]) for r in rows]
    assert days == [("e1", "2024-04-05", "2"), ("e1", "2024-04-06", "1")]
    # CHARGING from 11:00 to 09:00 the next day: 22 h, on both days it overlaps
    assert [float(r["longest_charging_s"]) for r in rows] == [22 * 3600.0] * 2
