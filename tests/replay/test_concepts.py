"""One concept at a time: given a handful of hand-written rows in the tables and concepts it
reads, the rows it returns, worked out by hand.

Each concept runs as composed by the runner (`runner.stages`: the concept's SQL reading the
concepts before it by name, as the Spark engine runs it), on a real DuckDB connection whose tables
stand in for those concepts. Times are small integers of microseconds.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import duckdb
import pytest

from evlog._replay import runner
from evlog._replay.runner import EntityKind
from evlog._time import FOREVER_US

FOREVER = FOREVER_US  # the replay's "forever", in microseconds

EVENT_ROWS = (
    "entity_id VARCHAR, state VARCHAR, t BIGINT, location_id VARCHAR, received_at TIMESTAMPTZ,"
    " arrival_index BIGINT, evse_index INTEGER, record_key VARCHAR"
)
ENTITIES = "entity_id VARCHAR, location_id VARCHAR, entity_key INTEGER"
OBSERVATIONS = (
    "entity_key INTEGER, entity_id VARCHAR, state VARCHAR, t BIGINT, next_t BIGINT,"
    " is_first BOOLEAN"
)
PIECES = (
    "entity_key INTEGER, entity_id VARCHAR, state VARCHAR, piece_start BIGINT, piece_end BIGINT"
)
INTERVALS = (
    "entity_id VARCHAR, state VARCHAR, interval_start BIGINT, interval_end BIGINT,"
    " previous_state VARCHAR, next_state VARCHAR"
)
DISCONNECTS = (
    "entity_id VARCHAR, disconnect_at BIGINT, offline_end BIGINT, next_state VARCHAR, n BIGINT"
)


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    return connection


def table(
    con: duckdb.DuckDBPyConnection, name: str, columns: str, rows: Sequence[tuple[Any, ...]]
) -> None:
    """A table `name` (standing in for a concept or a lake table) holding `rows`."""
    con.execute(f"CREATE TABLE {name} ({columns})")
    if rows:
        marks = ", ".join("?" for _ in rows[0])
        con.executemany(f"INSERT INTO {name} VALUES ({marks})", [list(row) for row in rows])


def concept(
    con: duckdb.DuckDBPyConnection,
    name: str,
    order: str,
    kind: EntityKind = EntityKind.STATION,
    **params: Any,
) -> list[tuple[Any, ...]]:
    """The rows of concept `name` alone, ordered by `order`, its reads being `con`'s tables."""
    *_, (_, sql, _) = runner.stages(kind, name)
    used = set(re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", sql))
    assert used <= params.keys(), f"{name} needs {sorted(used - params.keys())}"
    rows = con.execute(
        f"SELECT * FROM ({sql}) ORDER BY {order}", {n: params[n] for n in used}
    ).fetchall()
    return [tuple(row) for row in rows]


def test_observations_one_per_time_the_latest_arriving_state_holding(
    con: duckdb.DuckDBPyConnection,
) -> None:
    # Rule *Order by event time*. Station a: 10 online; at 20 offline arrives (second 1), online
    # (second 2), then offline again (second 3: a republished copy, arriving when its first copy
    # did), so online holds at 20; 30 offline twice (an exact duplicate counts once).
    # Station b: a single observation.
    def arrived(second: int) -> str:
        return f"2024-01-01 00:00:0{second}+00"

    table(
        con,
        "event_rows",
        EVENT_ROWS,
        [
            ("a", "online", 10, None, arrived(0), 0, None, "r0"),
            ("a", "offline", 20, None, arrived(1), 1, None, "r1"),
            ("a", "online", 20, None, arrived(2), 2, None, "r2"),
            ("a", "offline", 20, None, arrived(3), 3, None, "r3"),
            ("a", "offline", 30, None, arrived(4), 4, None, "r4"),
            ("a", "offline", 30, None, arrived(4), 4, None, "r4"),
            ("b", "offline", 15, None, arrived(5), 5, None, "r5"),
        ],
    )
    table(con, "entities", ENTITIES, [("a", None, 1), ("b", None, 2)])
    assert concept(con, "observations", "entity_key, t") == [
        (1, "a", "online", 10, 20, True),
        (1, "a", "online", 20, 30, False),
        (1, "a", "offline", 30, None, False),
        (2, "b", "offline", 15, None, True),
    ]


def test_pieces_tile_the_window_by_state_coverage_and_gaps(con: duckdb.DuckDBPyConnection) -> None:
    # Rules *State durability* and *Coverage*, window [0, 100), covered [-50, 40) and [60, 200).
    # a: no_data before its first observation (10); online, then offline carried into the gap
    # [40, 60) (unobserved); online at 50 observed in the gap: no_data once coverage resumes, until
    # the next observation (70, a repeat, restarts the segment). b: online since before the window,
    # no_data after the gap too.
    table(
        con,
        "observations",
        OBSERVATIONS,
        [
            (1, "a", "online", 10, 30, True),
            (1, "a", "offline", 30, 50, False),
            (1, "a", "online", 50, 70, False),
            (1, "a", "online", 70, None, False),
            (2, "b", "online", -5, None, True),
        ],
    )
    table(con, "entities", ENTITIES, [("a", None, 1), ("b", None, 2)])
    table(con, "coverage_spans", "span_start BIGINT, span_end BIGINT", [(-50, 40), (60, 200)])
    table(con, "coverage_gaps", "gap_start BIGINT, gap_end BIGINT", [(40, 60)])
    window = {"window_start_us": 0, "window_end_us": 100}
    order = "entity_key, piece_start"
    assert concept(con, "pieces", order, hold_after_gap=False, **window) == [
        (1, "a", "no_data", 0, 10),
        (1, "a", "online", 10, 30),
        (1, "a", "offline", 30, 40),
        (1, "a", "unobserved", 40, 60),
        (1, "a", "no_data", 60, 70),
        (1, "a", "online", 70, 100),
        (2, "b", "online", 0, 40),
        (2, "b", "unobserved", 40, 60),
        (2, "b", "no_data", 60, 100),
    ]
    # `--hold-after-gap`: the state observed before (or in) the gap holds after it.
    held = concept(con, "pieces", order, hold_after_gap=True, **window)
    assert [row for row in held if row[3] == 60] == [
        (1, "a", "online", 60, 70),
        (2, "b", "online", 60, 100),
    ]


def test_period_pieces_split_pieces_at_period_and_rollup_bounds(
    con: duckdb.DuckDBPyConnection,
) -> None:
    # Rule *Periods*: periods [0, 50) and [50, 100); [60, 80) comes from rollups, so the second
    # period's replayed parts are [50, 60) and [80, 100). A piece ending where a part starts adds
    # nothing to it.
    table(
        con,
        "pieces",
        PIECES,
        [(1, "a", "online", 0, 25), (1, "a", "offline", 25, 100), (2, "b", "no_data", 0, 50)],
    )
    table(
        con,
        "replayed_periods",
        "period_start BIGINT, period_end BIGINT, part_start BIGINT, part_end BIGINT",
        [(0, 50, 0, 50), (50, 100, 50, 60), (50, 100, 80, 100)],
    )
    assert concept(con, "period_pieces", "entity_key, period_start, state, duration_us") == [
        (1, "a", "offline", 0, 50, 25),
        (1, "a", "online", 0, 50, 25),
        (1, "a", "offline", 50, 100, 10),
        (1, "a", "offline", 50, 100, 20),
        (2, "b", "no_data", 0, 50, 50),
    ]


def test_intervals_merge_repeats_and_name_their_neighbours(con: duckdb.DuckDBPyConnection) -> None:
    # Rule *State durability*: the two online pieces of a are one interval; b is on its own.
    table(
        con,
        "pieces",
        PIECES,
        [
            (1, "a", "no_data", 0, 10),
            (1, "a", "online", 10, 20),
            (1, "a", "online", 20, 35),
            (1, "a", "offline", 35, 40),
            (1, "a", "online", 40, 50),
            (2, "b", "offline", 0, 50),
        ],
    )
    assert concept(con, "intervals", "entity_id, interval_start") == [
        ("a", "no_data", 0, 10, None, "online"),
        ("a", "online", 10, 35, "no_data", "offline"),
        ("a", "offline", 35, 40, "online", "online"),
        ("a", "online", 40, 50, "offline", None),
        ("b", "offline", 0, 50, None, None),
    ]


def test_periods_lie_between_consecutive_bounds(con: duckdb.DuckDBPyConnection) -> None:
    # Rule *Periods*: one period between each bound and the next; a single bound makes none.
    assert concept(con, "periods", "period_start", period_bounds=[0, 10, 25, 30]) == [
        (0, 10),
        (10, 25),
        (25, 30),
    ]
    assert concept(con, "periods", "period_start", period_bounds=[5]) == []


def test_coverage_union_merges_each_sources_rows_and_spans_pick_one(
    con: duckdb.DuckDBPyConnection,
) -> None:
    # Rule *Coverage*: [10, 20) and [15, 25) overlap, [25, 30) touches them: one span [10, 30);
    # [40, 100) contains [50, 60), which ends before the row before it: one span [40, 100); an
    # empty row and another source's row cover nothing.
    def at(us: int) -> str:
        return f"1970-01-01 00:00:00.{us:06d}+00"

    rows = [(10, 20), (15, 25), (25, 30), (40, 100), (50, 60), (70, 70)]
    table(
        con,
        "coverage",
        "source VARCHAR, covered_from TIMESTAMPTZ, covered_to TIMESTAMPTZ",
        [("webhooks", at(start), at(end)) for start, end in rows] + [("other", at(0), at(200))],
    )
    union = concept(con, "coverage_union", "source, span_start")
    assert union == [("other", 0, 200), ("webhooks", 10, 30), ("webhooks", 40, 100)]
    table(con, "coverage_union", "source VARCHAR, span_start BIGINT, span_end BIGINT", union)
    spans = concept(con, "coverage_spans", "span_start", coverage_source="webhooks")
    assert spans == [(10, 30), (40, 100)]
    # A source without coverage rows was listening throughout.
    forever = concept(con, "coverage_spans", "span_start", coverage_source="silent")
    assert forever == [(-FOREVER, FOREVER)]


def test_coverage_gaps_are_the_window_outside_every_span(con: duckdb.DuckDBPyConnection) -> None:
    table(con, "coverage_spans", "span_start BIGINT, span_end BIGINT", [(10, 30), (40, 100)])
    window = {"window_start_us": 0, "window_end_us": 120}
    assert concept(con, "coverage_gaps", "gap_start", **window) == [(0, 10), (30, 40), (100, 120)]
    # Spans reaching past the window leave only the gap between them, clipped to the window.
    inside = {"window_start_us": 20, "window_end_us": 60}
    assert concept(con, "coverage_gaps", "gap_start", **inside) == [(30, 40)]
    con.execute("DELETE FROM coverage_spans")
    assert concept(con, "coverage_gaps", "gap_start", **window) == [(0, 120)]


def test_disconnects_are_online_to_offline_transitions(con: duckdb.DuckDBPyConnection) -> None:
    # The offline interval at a's window start has no previous state: an outage, not a disconnect;
    # offline after no_data is no disconnect either.
    table(
        con,
        "intervals",
        INTERVALS,
        [
            ("a", "offline", 0, 10, None, "online"),
            ("a", "online", 10, 20, "offline", "offline"),
            ("a", "offline", 20, 25, "online", "online"),
            ("a", "online", 25, 40, "offline", "offline"),
            ("a", "offline", 40, 60, "online", None),
            ("b", "no_data", 0, 5, None, "offline"),
            ("b", "offline", 5, 60, "no_data", None),
        ],
    )
    assert concept(con, "disconnects", "entity_id, n") == [
        ("a", 20, 25, "online", 1),
        ("a", 40, 60, None, 2),
    ]


def test_short_disconnects_end_with_an_early_reconnect(con: duckdb.DuckDBPyConnection) -> None:
    # Threshold 10: 9 long is short, 10 long is not; a disconnect followed by unobserved time (or
    # by the window end) did not reconnect, however short.
    table(
        con,
        "disconnects",
        DISCONNECTS,
        [
            ("a", 0, 9, "online", 1),
            ("a", 20, 30, "online", 2),
            ("a", 40, 42, "unobserved", 3),
            ("a", 50, 51, None, 4),
        ],
    )
    assert concept(con, "short_disconnects", "disconnect_at", flap_threshold_us=10) == [("a", 0, 9)]


def test_flapping_episodes_merge_overlapping_runs(con: duckdb.DuckDBPyConnection) -> None:
    # Runs of 3 disconnects within 20 (inclusive), each disconnect offline for 2. a: disconnects at
    # 0, 10, 20 (a run: 20 apart) and 30 (10..30 a run too, overlapping: one episode from 0 to the
    # end of the 30 disconnect's offline interval, 32); then 100, 110, 121 (21 apart: none).
    # b: 0, 5, 10, 12, 14, 16: four overlapping runs, one episode to 16 + 2.
    disconnects = {"a": [0, 10, 20, 30, 100, 110, 121], "b": [0, 5, 10, 12, 14, 16]}
    table(
        con,
        "disconnects",
        DISCONNECTS,
        [
            (station, at, at + 2, "online", n)
            for station, times in disconnects.items()
            for n, at in enumerate(times, start=1)
        ],
    )
    episodes = concept(
        con, "flapping_episodes", "entity_id, episode_start", flap_count=3, flap_window_us=20
    )
    assert episodes == [("a", 0, 32), ("b", 0, 18)]


def test_percent_state_change_weighs_the_last_21_observations(
    con: duckdb.DuckDBPyConnection,
) -> None:
    # a: online, offline, online, online. From observation j the change into observation k weighs
    # 0.75 + (k - j + 19) / 38 and the percent is the weighted sum / 20 * 100:
    #   j=1  no change                                                       0
    #   j=2  1.25                                            * 5 =  6.25     (between low and high)
    #   j=3  (0.75 + 18/38) + 1.25 = 94/38                   * 5 = 470/38    (above high: flapping)
    #   j=4  (0.75 + 17/38) + (0.75 + 18/38) = 92/38         * 5 = 460/38    (between: still)
    # b: online, then offline, then 20 times offline: its one change, into k=2, is the oldest of the
    # last 21 states at j=21 (weight 0.75: 3.75, below low) and out of them at j=22.
    states = {"a": ["online", "offline", "online", "online"], "b": ["online"] + ["offline"] * 21}
    table(
        con,
        "observations",
        OBSERVATIONS,
        [
            (key, station, state, 10 * k, None, k == 1)
            for key, (station, history) in enumerate(states.items(), start=1)
            for k, state in enumerate(history, start=1)
        ],
    )
    rows = concept(
        con, "percent_state_change", "entity_id, k", flap_high_pct=12.2, flap_low_pct=5.0
    )
    a = [(k, round(pct, 9), flapping) for station, _, k, pct, flapping in rows if station == "a"]
    assert a == [
        (1, 0.0, False),
        (2, 6.25, False),
        (3, round(470 / 38, 9), True),
        (4, round(460 / 38, 9), True),
    ]
    b = {k: (pct, flapping) for station, _, k, pct, flapping in rows if station == "b"}
    assert b[2] == (6.25, False)
    assert b[21] == (3.75, False)
    assert b[22] == (0.0, False)
