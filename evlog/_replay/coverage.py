"""A lake's coverage as the replay sees it: the status stream's covered spans, by the replay's own
`coverage_spans` concept (what rollups record and compare to know whether a day is still exact)."""

from __future__ import annotations

import duckdb

from evlog._lake.layout import Lake
from evlog._lake.names import Table
from evlog._lake.rollups import Span
from evlog._replay import runner
from evlog._replay.runner import EntityKind


def covered_spans(con: duckdb.DuckDBPyConnection) -> list[Span]:
    """The status stream's coverage (the EVSEs' source) as disjoint spans, by the replay's own
    `coverage_spans` concept, on a connection with a `coverage` view."""
    rows = runner.run(con, EntityKind.EVSE, "coverage_spans", {}).fetchall()
    return sorted((int(start), int(end)) for start, end in rows)


def lake_coverage(lake: Lake) -> list[Span]:
    """`covered_spans` of `lake`, on a connection of its own."""
    con = duckdb.connect()
    lake.register(con, Table.COVERAGE)
    return covered_spans(con)
