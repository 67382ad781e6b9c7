"""A replay from a checkpoint binds only the `date=` partitions it needs, with the same figures as
the full listing."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from evlog._lake.layout import Lake
from evlog._replay.engine import ReplayEngine
from evlog._replay.runner import EntityKind
from evlog._upkeep.compact import compact
from evlog._window import Period, Window, parse_tz
from tests.replay.lakes import StatusEvent, make_lake

BASE = datetime(2024, 3, 1, tzinfo=UTC)
DAYS = 12
STATUSES = ["AVAILABLE", "CHARGING", "OUT_OF_ORDER", "UNKNOWN"]


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    events = [
        StatusEvent(
            evse_id=f"E{i % 5}",
            status=STATUSES[i % 4],
            event_time=BASE + timedelta(hours=5 * i, minutes=i % 7),
            location_id=f"L{i % 2}",
            received_at=BASE + timedelta(hours=5 * i, minutes=3),
            arrival_index=i,
            record_key=f"k{i}",
        )
        for i in range(DAYS * 24 // 5)
    ]
    path: Path = tmp_path_factory.mktemp("pruning") / "lake"
    lake = make_lake(path, status=events, files=4, seed=5)
    compact(lake, rollups=False)  # checkpoints, no rollups: every day is replayed
    return lake


def day_window(n: int, days: int = 1) -> Window:
    start = BASE + timedelta(days=n)
    return Window.parse(start, start + timedelta(days=days), Period.DAY, parse_tz("UTC"))


@pytest.mark.parametrize(("first", "days"), [(0, 1), (1, 1), (5, 1), (DAYS - 1, 1), (3, 4)])
def test_pruned_replay_gives_the_full_listings_figures(lake: Lake, first: int, days: int) -> None:
    window = day_window(first, days)
    pruned = ReplayEngine(lake)
    full = ReplayEngine(lake, checkpoints=False)  # no checkpoint: every partition, every file
    for report in ("availability", "uptime"):
        got = pruned.to_polars(pruned.relation(EntityKind.EVSE, report, window))
        expected = full.to_polars(full.relation(EntityKind.EVSE, report, window))
        assert got.equals(expected), report


def test_a_one_day_report_binds_only_the_days_from_its_checkpoint(lake: Lake) -> None:
    engine = ReplayEngine(lake)
    window = day_window(7)
    query = engine.relation(EntityKind.EVSE, "availability", window).sql_query()
    views = set(re.findall(r"status_events__\w+", query))
    assert views == {"status_events__20240308_20240308"}, query
    ((definition,),) = engine.con.sql(
        "SELECT sql FROM duckdb_views() WHERE view_name = ?", params=[next(iter(views))]
    ).fetchall()
    assert set(re.findall(r"date=(\d{4}-\d{2}-\d{2})", definition)) == {"2024-03-08"}
    assert not re.search(r"\bstatus_events\b(?!__)", query)  # never the view over every file
