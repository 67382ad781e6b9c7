"""`evlog lake compact`: content kept, replay unchanged, checkpoints exact, appends never lost."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import evlog
from evlog._cli import main
from evlog._errors import LakeError
from evlog._lake.checkpoints import CHECKPOINT_DIR, usable_checkpoint
from evlog._lake.layout import Lake, exclusive_lock
from evlog._lake.names import Source, Table
from evlog._replay.runner import EntityKind
from evlog._upkeep.compact import COMPACT_LOCK, compact
from tests.replay.lakes import (
    Connectivity,
    StatusEvent,
    connectivity_table,
    make_lake,
    status_table,
    write_coverage,
)

BASE = datetime(2024, 3, 28, tzinfo=UTC)
STATUSES = ["AVAILABLE", "CHARGING", "OUT_OF_ORDER", "UNKNOWN"]


def rows_of(lake: Lake, table: Table) -> Counter[tuple[object, ...]]:
    """A table's content as a multiset of rows (order and file layout do not matter)."""
    data = lake.read(table).to_pylist()
    return Counter(tuple(sorted(row.items())) for row in data)


def sample_events(n: int = 60) -> list[StatusEvent]:
    events = []
    for i in range(n):
        t = BASE + timedelta(hours=7 * i % 97, minutes=i)
        events.append(
            StatusEvent(
                evse_id=f"E{i % 4}",
                status=STATUSES[i % 3],
                event_time=t,
                location_id=f"L{i % 2}",
                received_at=t + timedelta(minutes=i % 5),
                arrival_index=i,
                record_key=f"k{i}",
            )
        )
    events += events[:5]  # duplicated delivery
    return events


@pytest.fixture()
def lake(tmp_path: Path) -> Lake:
    events = sample_events()
    stations = [
        Connectivity("S1", i % 2 == 0, BASE + timedelta(hours=5 * i), record_key=f"w{i}")
        for i in range(20)
    ]
    lake = make_lake(tmp_path / "lake", connectivity=stations, status=events, files=6, seed=3)
    write_coverage(lake, Source.HERE_STREAM, {"s1": [(BASE, BASE + timedelta(days=2))]})
    write_coverage(
        lake,
        Source.HERE_STREAM,
        {"s2": [(BASE + timedelta(days=2, hours=3), BASE + timedelta(days=6))]},
    )
    return lake


def test_compaction_preserves_every_table(lake: Lake) -> None:
    before = {table: rows_of(lake, table) for table in Table}
    files_before = {table: len(lake.files(table)) for table in Table}
    summary = compact(lake)
    assert summary.files_before > summary.files_after
    for table in Table:
        assert rows_of(lake, table) == before[table], table
        assert len(lake.files(table)) <= files_before[table]
    # one sorted file per partition, idempotent
    assert compact(lake).files_before == 0


def reports(root: Path, checkpoints: bool = True) -> dict[str, object]:
    api = evlog.open_lake(root, checkpoints=checkpoints)
    start, end = BASE + timedelta(hours=13), BASE + timedelta(days=4, hours=2)
    return {
        "availability": api.availability(start, end, by="day"),
        "by_location": api.availability(start, end, by="hour", by_location=True),
        "uptime": api.uptime(start, end, by="day"),
        "intervals": api.intervals(start, end),
        "whole": api.availability(by="day", tz="Europe/Berlin"),
    }


def test_replay_identical_after_compaction_and_with_checkpoints(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = reports(lake.root)
    compact(lake)
    assert list((lake.root / CHECKPOINT_DIR).glob("date=*/checkpoint.parquet"))
    after = reports(lake.root)
    without = reports(lake.root, checkpoints=False)
    for name, frame in before.items():
        assert frame.equals(after[name]), name  # type: ignore[attr-defined]
        assert frame.equals(without[name]), name  # type: ignore[attr-defined]


def test_checkpoint_is_used_and_dropped_when_history_changes(lake: Lake) -> None:
    compact(lake)
    window_start = BASE + timedelta(days=3, hours=5)
    day = usable_checkpoint(lake, int(window_start.timestamp()) * 1_000_000)
    assert day == window_start.date()
    engine = evlog.open_lake(lake.root).engine
    window = engine.window(
        EntityKind.EVSE, window_start, window_start + timedelta(hours=3), "day", "UTC"
    )
    assert engine.checkpoint_at(EntityKind.EVSE, window.start_us)[1] == day
    # a late event recorded into an old partition: checkpoints after it are no longer used
    late = StatusEvent("E1", "OUT_OF_ORDER", BASE + timedelta(days=1, hours=2), record_key="late")
    lake.write(Table.STATUS_EVENTS, status_table([late]))
    assert usable_checkpoint(
        lake, int(window_start.timestamp()) * 1_000_000
    ) == BASE.date() + timedelta(days=1)
    plain = evlog.open_lake(lake.root).availability(window_start, window_start + timedelta(days=1))
    compact(lake)
    assert usable_checkpoint(lake, int(window_start.timestamp()) * 1_000_000) == day
    again = evlog.open_lake(lake.root).availability(window_start, window_start + timedelta(days=1))
    assert plain.equals(again)


def test_concurrent_append_during_compaction_loses_nothing(lake: Lake) -> None:
    stop = threading.Event()
    written: list[StatusEvent] = []

    def recorder() -> None:
        i = 0
        while not stop.is_set() or i < 20:
            event = StatusEvent(
                f"E{i % 3}", "CHARGING", BASE + timedelta(days=i % 4, minutes=i), record_key=f"n{i}"
            )
            lake.write(Table.STATUS_EVENTS, status_table([event]))
            written.append(event)
            i += 1

    before = rows_of(lake, Table.STATUS_EVENTS)
    thread = threading.Thread(target=recorder)
    thread.start()
    for _ in range(3):
        compact(lake)
    stop.set()
    thread.join()
    rows = rows_of(lake, Table.STATUS_EVENTS)
    expected = before + Counter(
        tuple(sorted(r.items()))
        for r in status_table(written).cast(lake.read(Table.STATUS_EVENTS).schema).to_pylist()
    )
    assert rows == expected
    compact(lake)
    assert rows_of(lake, Table.STATUS_EVENTS) == expected


def test_cli_compact(lake: Lake, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["lake", "compact", "--lake", str(lake.root)])
    assert exit_info.value.code in (0, None)
    assert "compacted" in capsys.readouterr().out


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[StatusEvent], datetime, datetime, int]:
    hours = st.integers(0, 24 * 5)
    events = draw(
        st.lists(
            st.builds(
                lambda e, s, h, d, a: StatusEvent(
                    f"E{e}",
                    s,
                    BASE + timedelta(hours=h),
                    location_id=f"L{(e + a) % 2}",
                    received_at=BASE + timedelta(hours=h + d),
                    arrival_index=a,
                ),
                st.integers(0, 2),
                st.sampled_from(STATUSES),
                hours,
                st.integers(0, 30),
                st.integers(0, 3),
            ),
            min_size=1,
            max_size=30,
        )
    )
    start = BASE + timedelta(hours=draw(hours))
    end = start + timedelta(hours=draw(st.integers(1, 60)))
    return events, start, end, draw(st.integers(1, 4))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), st.booleans())
def test_checkpoints_and_compaction_do_not_change_reports(
    case: tuple[list[StatusEvent], datetime, datetime, int], coverage: bool
) -> None:
    events, start, end, files = case
    with tempfile.TemporaryDirectory() as one:
        root = Path(one)
        keyed = [
            StatusEvent(
                e.evse_id,
                e.status,
                e.event_time,
                e.location_id,
                e.received_at,
                e.arrival_index,
                0,
                f"key{i}",
            )
            for i, e in enumerate(events)
        ]
        lake = make_lake(
            root,
            connectivity=[Connectivity("S", True, BASE)],
            status=keyed,
            files=files,
            seed=files,
        )
        if coverage:
            write_coverage(
                lake,
                Source.HERE_STREAM,
                {"s": [(BASE + timedelta(hours=20), BASE + timedelta(days=4))]},
            )
        before = evlog.open_lake(root).availability(start, end, by="hour", tz="Asia/Kolkata")
        compact(lake)
        after = evlog.open_lake(root).availability(start, end, by="hour", tz="Asia/Kolkata")
    assert before.equals(after)


def test_empty_lake_and_single_files(tmp_path: Path) -> None:
    lake = Lake.create(tmp_path / "empty")
    summary = compact(lake)
    assert summary.files_before == 0 and summary.checkpoints == 0
    lake.write(Table.CONNECTIVITY_EVENTS, connectivity_table([Connectivity("S", True, BASE)]))
    assert compact(lake).files_before == 1  # a recorder's file is rewritten sorted once...
    assert compact(lake).files_before == 0  # ...and then left alone


def test_one_compaction_at_a_time(lake: Lake) -> None:
    """An overrunning cron job and a second operator must not compact the same lake at once."""
    with exclusive_lock(lake.root / COMPACT_LOCK, "held by this test"):
        with pytest.raises(
            LakeError, match="another `evlog lake compact` or `evlog lake rebuild` is running"
        ):
            compact(lake)
        command = [sys.executable, "-m", "evlog", "lake", "compact", "--lake", str(lake.root)]
        busy = subprocess.run(command, capture_output=True, text=True, check=False)
        assert busy.returncode == 2
        assert len(busy.stderr.strip().splitlines()) == 1
        assert busy.stderr.startswith("evlog: error: another `evlog lake compact` or `evlog lake")
    assert compact(lake).files_before > 0  # the lock is released with its holder
