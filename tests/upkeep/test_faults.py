"""Upkeep under faults: compaction and rebuild killed at chosen moments, beside a live recorder,
while reports read; checkpoints and rollups exact after any sequence of record/compact/rebuild."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import evlog
from evlog._lake.layout import Lake
from evlog._lake.names import Table
from evlog._record.offline import record_stream
from evlog._upkeep.compact import STALE_TMP_SECONDS, compact
from evlog._upkeep.maintenance import DERIVED_TABLES, rebuild
from tests.feeds import members, message

BASE = datetime(2024, 4, 1, tzinfo=UTC)
STATUSES = ("AVAILABLE", "CHARGING", "OUT_OF_ORDER")


def evlog_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "evlog", *args]
    return subprocess.run(
        command, capture_output=True, text=True, check=False, env={**os.environ, **(env or {})}
    )


def kill_at(moment: str) -> dict[str, str]:
    """The environment that SIGKILLs an evlog process at `moment` (`point` or `point@N`)."""
    point, _, nth = moment.partition("@")
    return {"EVLOG_FAULTS": f"{point}=kill" + (f"@{nth}" if nth else "")}


def capture(path: Path, data: bytes, mtime: datetime) -> str:
    path.write_bytes(data)
    os.utime(path, (mtime.timestamp(), mtime.timestamp()))
    return str(path)


def rows_of(lake: Lake, table: Table) -> Counter[tuple[object, ...]]:
    """A table's content as a multiset of rows (file layout does not matter)."""
    return Counter(tuple(sorted(row.items())) for row in lake.read(table).to_pylist())


def contents(lake: Lake) -> dict[Table, Counter[tuple[object, ...]]]:
    return {table: rows_of(lake, table) for table in Table}


def recorded_lake(tmp_path: Path, captures: int = 6) -> Lake:
    """A lake recorded from real captures: several files per partition in every table, events a
    day ahead of their file time (clamped now, moved by a rebuild with a wider tolerance), and a
    bad gzip member (quarantine)."""
    lake = Lake.create(tmp_path / "lake")
    for n in range(captures):
        at = BASE + timedelta(hours=9 * n)
        evses = [
            (f"E{k}", STATUSES[(n + k) % 3], f"{at + timedelta(days=1):%FT%TZ}") for k in (0, 1)
        ]
        data = members(
            message(f"L{n % 2}", *evses), message("L9", ("F", "AVAILABLE", f"{at:%FT%TZ}"))
        )
        if n % 3 == 0:
            data += b"\x1f\x8b\x08\x00broken"
        record_stream(lake, [capture(tmp_path / f"c{n}.gz", data, at)])
    return lake


def leftovers(lake: Lake) -> list[str]:
    """What only a killed writer leaves: staged merges, temporaries, rebuild and old-table dirs."""
    found = []
    for folder, dirs, names in os.walk(lake.root):
        for name in dirs + names:
            if name.endswith((".staged", ".tmp")) or ".rebuild-" in name or ".old-" in name:
                found.append(str(Path(folder, name).relative_to(lake.root)))
    return found


@pytest.mark.parametrize(
    "moment",
    ["compact.after_stage", "compact.after_rename", "compact.after_intent", "compact.mid_delete@2"],
)
def test_compaction_killed_at_any_moment_keeps_every_row_once(tmp_path: Path, moment: str) -> None:
    lake = recorded_lake(tmp_path)
    before = contents(lake)
    killed = evlog_cli("lake", "compact", "--lake", str(lake.root), env=kill_at(moment))
    assert killed.returncode == -9, killed.stderr
    with lake.write_lock():  # any writer's next step settles the dead compaction's intent
        pass
    assert contents(lake) == before
    compact(lake)
    assert contents(lake) == before
    assert not leftovers(lake)
    assert all(
        len(list(p.glob("*.parquet"))) == 1
        for t in Table
        for p in {f.parent for f in lake.files(t)}
    )


def derived(lake: Lake) -> dict[Table, Counter[tuple[object, ...]]]:
    return {table: rows_of(lake, table) for table in DERIVED_TABLES}


@pytest.mark.parametrize(
    ("moment", "outcome"),
    [
        ("rebuild.after_stage", "old"),
        ("rebuild.mid_move@3", "old"),
        ("rebuild.after_moves", "new"),
        ("rebuild.mid_delete@2", "new"),
    ],
)
def test_rebuild_killed_at_any_moment_is_all_or_nothing(
    tmp_path: Path, moment: str, outcome: str
) -> None:
    lake = recorded_lake(tmp_path)
    old = derived(lake)
    reference = Lake.create(tmp_path / "reference")
    shutil.copytree(lake.root, reference.root, dirs_exist_ok=True)
    rebuild(reference, timedelta(days=4))
    new = derived(reference)
    assert new != old  # the wider tolerance moves the events
    raw_before = {t: rows_of(lake, t) for t in (Table.RAW_STATUS, Table.COVERAGE)}
    args = ("lake", "rebuild", "--lake", str(lake.root), "--skew-tolerance", "4d")
    killed = evlog_cli(*args, env=kill_at(moment))
    assert killed.returncode == -9, killed.stderr
    with lake.write_lock():
        pass
    assert derived(lake) == (old if outcome == "old" else new)
    assert {t: rows_of(lake, t) for t in raw_before} == raw_before
    compact(lake)  # cleans the staging directory
    assert not leftovers(lake)
    assert derived(lake) == (old if outcome == "old" else new)


def test_compaction_removes_leftovers_of_killed_runs_only(tmp_path: Path) -> None:
    lake = recorded_lake(tmp_path, captures=2)
    partition = lake.files(Table.STATUS_EVENTS)[0].parent
    (lake.root / ".rebuild-0123abcd" / "status_events").mkdir(parents=True)
    (lake.root / ".status_events.old-89abcdef").mkdir()
    dead = partition / ".part-x.parquet.1234.tmp"
    dead.write_bytes(b"half")
    stale = time.time() - STALE_TMP_SECONDS - 60
    os.utime(dead, (stale, stale))
    staged = partition / ".compact-x.parquet.staged"
    staged.write_bytes(b"merged")
    young = lake.root / "coverage" / ".part-y.parquet.5678.tmp"  # a heartbeat being written
    young.parent.mkdir(parents=True, exist_ok=True)
    young.write_bytes(b"being written")
    compact(lake)
    assert leftovers(lake) == [str(young.relative_to(lake.root))]


def test_rebuild_moving_events_out_of_a_day_leaves_no_stale_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 12's reproduction: a rebuild with a wider skew tolerance moves E's event from 04-01
    (clamped to the file time) to 04-03; the checkpoints of 04-02 and 04-03 must follow."""
    e = members(message("L", ("E", "OUT_OF_ORDER", "2024-04-03T06:00:00Z")))
    f = members(message("L", ("F", "AVAILABLE", "2024-04-02T06:00:00Z")))
    files = [
        capture(tmp_path / "e.gz", e, datetime(2024, 4, 1, 6, tzinfo=UTC)),
        capture(tmp_path / "f.gz", f, datetime(2024, 4, 2, 6, 0, 1, tzinfo=UTC)),
    ]
    lake = Lake.create(tmp_path / "lake")
    record_stream(lake, files)
    compact(lake)
    rebuild(lake, timedelta(days=4))
    compact(lake)

    def no_data_s(switch: bool = True) -> list[float]:
        frame = evlog.open_lake(lake.root, checkpoints=switch, rollups=switch).availability(
            "2024-03-31", "2024-04-05", by="day", evse=["E"]
        )
        return list(frame["no_data_s"])

    assert (
        no_data_s() == no_data_s(switch=False) == [86400, 86400, 86400, 21600, 0]
    )  # to 04-03T06:00


# A recorder process: one HERE message per batch, each batch under the lake's write lock (one
# durable step, as every recorder takes it), its record key printed once durable (acknowledged).
RECORDER = """
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from evlog._lake.layout import Lake
from evlog._record.derive import STATUS_FEED
from evlog._record.recorder import Recorder
from evlog._sources import here
from tests.feeds import members, message

lake, stop = Lake.open(sys.argv[1]), Path(sys.argv[2])
recorder = Recorder(lake, STATUS_FEED)
n = 0
while not stop.exists():
    at = datetime(2024, 4, 1, tzinfo=UTC) + timedelta(minutes=7 * n)
    data = members(message("LR", (f"R{n}", "CHARGING", f"{at:%FT%TZ}")))
    rows = [r.as_row() for r in here.split_capture(data, f"live-{n}", at)]
    with lake.write_lock():
        recorder.append(rows)
    print(rows[0]["record_key"], flush=True)
    n += 1
"""


def test_rebuild_beside_a_recorder_keeps_every_acknowledged_event(tmp_path: Path) -> None:
    lake = recorded_lake(tmp_path, captures=40)
    stop = tmp_path / "stop"
    recorder = subprocess.Popen(
        [sys.executable, "-c", RECORDER, str(lake.root), str(stop)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert recorder.stdout is not None
    acknowledged = [recorder.stdout.readline().strip()]  # recording before the rebuilds start
    for _ in range(3):
        rebuild(lake, timedelta(days=4))
        acknowledged.append(recorder.stdout.readline().strip())  # a batch between rebuilds
    stop.touch()
    acknowledged += recorder.stdout.read().split()
    assert recorder.wait(timeout=30) == 0
    events = Counter(lake.read(Table.STATUS_EVENTS).column("record_key").to_pylist())
    assert [(key, events[key]) for key in acknowledged if events[key] != 1] == []


def test_reports_survive_compactions_replacing_their_files(tmp_path: Path) -> None:
    """Reports and SQL on the views, in a loop, while files are added and compacted in a loop: no
    failure, and the same figures every time (the added files repeat rows: exact duplicates)."""
    lake = recorded_lake(tmp_path, captures=12)
    compact(lake)
    api = evlog.open_lake(lake.root)
    query = "SELECT count(DISTINCT record_key) AS n FROM status_events"

    def figures() -> tuple[object, ...]:
        return (
            api.availability("2024-04-01", "2024-04-06", by="day"),
            api.intervals("2024-04-01", "2024-04-06"),
            api.sql(query),
        )

    expected = figures()
    stop = threading.Event()
    compactions = 0
    repeated = lake.read(Table.STATUS_EVENTS)

    def upkeep() -> None:
        nonlocal compactions
        while not stop.is_set():
            lake.write(Table.STATUS_EVENTS, repeated)  # a recorder's new files, to compact
            compact(lake)
            compactions += 1

    thread = threading.Thread(target=upkeep)
    thread.start()
    reports = 0
    try:
        # At least 2.5 s, and until both loops went round three times (a loaded machine is slow).
        deadline, give_up = time.monotonic() + 2.5, time.monotonic() + 30
        while time.monotonic() < deadline or (
            min(compactions, reports) < 3 and time.monotonic() < give_up
        ):
            got = figures()
            for frame, want in zip(got, expected, strict=True):
                assert frame.equals(want)  # type: ignore[attr-defined]
            reports += 1
    finally:
        stop.set()
        thread.join()
    assert compactions >= 3 and reports >= 3, (compactions, reports)


def replayed(root: Path, checkpoints: bool = True, rollups: bool = True) -> list[object]:
    """Availability reports of the lake, with the engine switches given."""
    api = evlog.open_lake(root, checkpoints=checkpoints, rollups=rollups)
    return [
        api.availability("2024-03-31", "2024-04-08", by="day"),
        api.availability("2024-03-31", "2024-04-08", by="day", tz="Europe/Berlin"),
        api.intervals("2024-04-02T05:00", "2024-04-05"),
    ]


# (EVSE, event hour, hours the file time is before the event): mostly ahead, so clamped
observations = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 72), st.integers(-6, 60)), min_size=1, max_size=4
)
step = st.one_of(
    st.tuples(st.just("record"), observations),
    st.tuples(st.sampled_from(["compact", "rebuild 5m", "rebuild 4d"]), st.just([])),
)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(observations, st.lists(step, min_size=2, max_size=4))
def test_checkpoints_and_rollups_exact_after_any_upkeep(
    first: list[tuple[int, int, int]], steps: list[tuple[str, list[tuple[int, int, int]]]]
) -> None:
    """Random record / compact / rebuild sequences (events a day or more ahead of their file time,
    so that rebuilds move them across days): reports read from checkpoints and rollups give the
    figures of a full replay."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        lake = Lake.create(root / "lake")
        for n, (action, observations) in enumerate(
            [("record", first), ("compact", []), *steps, ("compact", [])]
        ):
            if action == "record":
                data = b"".join(
                    members(
                        message(
                            "L",
                            (
                                f"E{evse}",
                                STATUSES[hour % 3],
                                f"{BASE + timedelta(hours=hour):%FT%TZ}",
                            ),
                        )
                    )
                    for evse, hour, _ in observations
                )
                received = BASE + timedelta(hours=observations[0][1] - observations[0][2])
                record_stream(lake, [capture(root / f"c{n}.gz", data, received)])
            elif action == "compact":
                compact(lake)
            else:
                rebuild(lake, timedelta(days=4) if action.endswith("4d") else timedelta(minutes=5))
        if not lake.files(Table.STATUS_EVENTS):
            return
        fast = replayed(root / "lake")
        full = replayed(root / "lake", checkpoints=False, rollups=False)
    for got, want in zip(fast, full, strict=True):
        assert got.equals(want)  # type: ignore[attr-defined]
