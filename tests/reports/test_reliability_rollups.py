"""Reliability reads whole days from `evlog lake compact`'s rollups: the same figures as replaying
every event (`rollups=False`), on a hand-computed year and on random histories.

Expected figures are arithmetic in minutes, never taken from the code.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import evlog
from evlog._lake.layout import Lake
from evlog._lake.names import Source, Status, Table
from evlog._lake.rollups import zone_dir
from evlog._replay.engine import ReplayEngine
from evlog._replay.runner import EntityKind
from evlog._upkeep.compact import compact
from evlog._window import Period, Window
from tests.replay.lakes import (
    StatusEvent,
    at,
    make_lake,
    status_table,
    write_coverage,
    write_in_files,
)

DAY = 1440  # minutes
DAY_US = 86_400_000_000

# The last quarter of 2025 (a short history keeps the compaction quick; the NEVI basis is the
# year, January to September before the first event): E1 from 1 October, UNKNOWN for 2 hours on
# 5 October, out of order for 3 days in November; E2 first seen on 1 November.
YEAR = [
    StatusEvent("E1", "AVAILABLE", at("2025-10-01T00:00:00")),
    StatusEvent("E1", "UNKNOWN", at("2025-10-05T10:00:00")),
    StatusEvent("E1", "CHARGING", at("2025-10-05T12:00:00")),
    StatusEvent("E1", "OUT_OF_ORDER", at("2025-11-10T00:00:00")),
    StatusEvent("E1", "AVAILABLE", at("2025-11-13T00:00:00")),
    StatusEvent("E2", "AVAILABLE", at("2025-11-01T00:00:00")),
    StatusEvent("E2", "AVAILABLE", at("2026-01-01T00:00:00")),  # the lake reaches the year's end
]
BEFORE_OCTOBER = (31 + 28 + 31 + 30 + 31 + 30 + 31 + 31 + 30) * DAY
BEFORE_NOVEMBER = BEFORE_OCTOBER + 31 * DAY


def row(frame: object, port: str) -> dict[str, object]:
    import polars as pl

    assert isinstance(frame, pl.DataFrame)
    rows = frame.filter((pl.col("scope") == "port") & (pl.col("port_id") == port))
    assert rows.height == 1
    return rows.row(0, named=True)


def rollup_span(root: Path, start: str, end: str, tz: str = "UTC") -> object:
    window = Window.parse(start, end, Period.MONTH, tz)
    engine = ReplayEngine.open(root)
    return engine.rollup_span(EntityKind.EVSE, "reliability_ports", window, False)


def test_hand_computed_year_from_rollups(tmp_path: Path) -> None:
    lake = make_lake(tmp_path / "lake", status=YEAR)
    compact(lake)
    # every observed day of the 2025-12 NEVI basis is rolled up: no event is replayed
    span = rollup_span(lake.root, "2025-01-01", "2026-01-01")
    assert span is not None
    assert (span.first_day, span.last_day) == (  # type: ignore[attr-defined]
        datetime(2025, 10, 1).date(),
        datetime(2025, 12, 31).date(),
    )
    rolled = evlog.open_lake(lake.root).reliability("nevi", month="2025-12")
    replayed = evlog.open_lake(lake.root, rollups=False).reliability("nevi", month="2025-12")
    assert rolled.equals(replayed)
    e1, e2 = row(rolled, "E1"), row(rolled, "E2")
    assert e1["t_outage_min"] == 3 * DAY + 2 * 60  # OUT_OF_ORDER and UNKNOWN
    # observed from October: the figure is over those 92 days, with no verdict (25 % observed)
    assert e1["measured_min"] == 92 * DAY
    assert e1["uptime_pct"] == pytest.approx((92 * DAY - (3 * DAY + 120)) / (92 * DAY) * 100)
    assert e1["passed"] is None
    assert e1["no_data_min"] == BEFORE_OCTOBER and e1["unobserved_min"] == 0
    assert e2["t_outage_min"] == 0
    assert e2["no_data_min"] == BEFORE_NOVEMBER
    # unobserved time counted as up: the rule's fixed denominator
    up = evlog.open_lake(lake.root).reliability("nevi", month="2025-12", unobserved="up")
    assert row(up, "E1")["uptime_pct"] == pytest.approx((525_600 - (3 * DAY + 120)) / 525_600 * 100)
    # counted as outage: no_data too, from the rollups' remainder of the day
    strict = evlog.open_lake(lake.root).reliability("nevi", month="2025-12", unobserved="outage")
    assert row(strict, "E2")["t_outage_min"] == BEFORE_NOVEMBER
    assert row(strict, "E1")["t_outage_min"] == BEFORE_OCTOBER + 3 * DAY + 120
    assert strict.equals(
        evlog.open_lake(lake.root, rollups=False).reliability(
            "nevi", month="2025-12", unobserved="outage"
        )
    )


def test_figures_come_from_the_rollup_files(tmp_path: Path) -> None:
    """Not just equal figures: a rolled-up day's outage time is read from its rollup file."""
    lake = make_lake(tmp_path / "lake", status=YEAR)
    compact(lake)
    path = zone_dir(lake, "UTC") / "date=2025-11-11" / "rollup.parquet"
    rows = pq.read_table(path).to_pylist()
    for each in rows:  # E1's out-of-order day becomes an available one
        if each["evse_id"] == "E1":
            each["available_us"], each["out_of_order_us"] = each["out_of_order_us"], 0
    pq.write_table(pa.Table.from_pylist(rows, schema=pq.read_schema(path)), path)
    frame = evlog.open_lake(lake.root).reliability("nevi", month="2025-12")
    assert row(frame, "E1")["t_outage_min"] == 2 * DAY + 2 * 60


def test_exclusions_and_station_maps_replay_every_event(tmp_path: Path) -> None:
    lake = make_lake(tmp_path / "lake", status=YEAR)
    compact(lake)
    exclusions = tmp_path / "x.csv"
    exclusions.write_text(
        "entity_id,start,end,cause\nE1,2025-11-11T00:00:00Z,2025-11-12T00:00:00Z,grid\n"
    )
    api = evlog.open_lake(lake.root)
    frame = api.reliability("nevi", month="2025-12", exclusions=exclusions)
    assert row(frame, "E1")["t_excluded_min"] == DAY
    assert row(frame, "E1")["t_outage_min"] == 3 * DAY + 2 * 60
    # the same after the rollup of the excluded day is spoilt: it was not read
    path = zone_dir(lake, "UTC") / "date=2025-11-11" / "rollup.parquet"
    pq.write_table(pq.read_table(path).slice(0, 0), path)
    again = evlog.open_lake(lake.root).reliability("nevi", month="2025-12", exclusions=exclusions)
    assert again.equals(frame)
    mapped = api.reliability("nevi", month="2025-12", station_map=[("S1", "E1")])
    assert mapped.equals(
        evlog.open_lake(lake.root, rollups=False).reliability(
            "nevi", month="2025-12", station_map=[("S1", "E1")]
        )
    )
    # the outage list is there when asked for, and replays every event
    result = api.reliability_report("nevi", start="2025-01-01", end="2026-01-01")
    assert result.outages["outage_duration"].to_list() == [120.0, 3 * DAY]


STATES = [s.value for s in Status]
BASE = datetime(2025, 3, 20, tzinfo=UTC)  # histories cross a month end and Berlin's DST day
HOURS = 20 * 24


@st.composite
def histories(draw: st.DrawFn) -> dict[str, object]:
    event = st.tuples(
        st.sampled_from(["E1", "E2", "E3"]),
        st.sampled_from(STATES),
        st.integers(0, HOURS * 60),  # minutes from BASE
        st.integers(0, 3),  # arrival index: ties at one instant are broken by arrival
    )
    events = draw(st.lists(event, min_size=1, max_size=30))
    late = draw(st.lists(event, max_size=4))  # recorded after the compaction
    sessions = draw(
        st.none()
        | st.lists(
            st.tuples(st.integers(0, HOURS), st.integers(1, 15 * 24)).map(
                lambda s: (s[0], s[0] + s[1])
            ),
            min_size=1,
            max_size=3,
        )
    )
    return {
        "events": events,
        "late": late,
        "sessions": sessions,
        "tz": draw(st.sampled_from(["UTC", "Europe/Berlin"])),
        "states": draw(st.sampled_from([None, "OUT_OF_ORDER,INOPERATIVE,UNKNOWN", "BLOCKED"])),
        "unobserved": draw(st.sampled_from(["excluded", "outage", "up"])),
        "month": draw(st.sampled_from([None, "2025-03", "2025-04"])),
    }


def status_of(rows: list[tuple[str, str, int, int]]) -> pa.Table:
    return status_table(
        [
            StatusEvent(e, s, BASE + timedelta(minutes=m), location_id=f"L{e[-1]}", arrival_index=a)
            for e, s, m, a in rows
        ]
    )


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
def test_random_histories_same_with_and_without_rollups(h: dict[str, object]) -> None:
    with tempfile.TemporaryDirectory() as root:
        lake = Lake.create(Path(root))
        write_in_files(lake, Table.STATUS_EVENTS, status_of(h["events"]), 2, 1)  # type: ignore[arg-type]
        if h["sessions"] is not None:
            spans = [
                (BASE + timedelta(hours=a), BASE + timedelta(hours=b)) for a, b in h["sessions"]
            ]  # type: ignore[attr-defined]
            write_coverage(lake, Source.HERE_STREAM, {"s": spans})
        compact(lake, rollup_zones=[str(h["tz"])])
        if h["late"]:
            write_in_files(lake, Table.STATUS_EVENTS, status_of(h["late"]), 1)  # type: ignore[arg-type]
        options = {"tz": h["tz"], "outage_states": h["states"], "unobserved": h["unobserved"]}
        if h["month"] is None:
            options |= {"start": "2025-03-01", "end": "2025-05-01"}
        else:
            options["month"] = h["month"]
        rolled = evlog.open_lake(Path(root)).reliability("nevi", **options)  # type: ignore[arg-type]
        replayed = evlog.open_lake(Path(root), rollups=False).reliability("nevi", **options)  # type: ignore[arg-type]
    assert rolled.equals(replayed), (rolled, replayed)
