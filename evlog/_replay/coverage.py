"""A lake's coverage as the replay sees it: the covered spans of the source that governs its EVSEs,
by the replay's own `coverage_spans` concept (what rollups record and compare to know whether a day
is still exact)."""

from __future__ import annotations

import duckdb

from evlog._lake import duck
from evlog._lake.layout import Lake
from evlog._lake.names import Source, Table
from evlog._lake.rollups import Span
from evlog._replay import runner
from evlog._replay.runner import EntityKind


def status_coverage_source(lake: Lake | None) -> Source:
    """The source whose coverage governs a lake's EVSEs (docs/replay.md, rule *Coverage*): the
    HERE status stream's, except in a lake whose port statuses come from eDRV alone (raw webhooks
    or polls, no HERE record), where the webhook receiver's, as for the stations. Without a
    local lake (a remote Spark lake): the status stream's."""
    if (
        lake is not None
        and not lake.has_files(Table.RAW_STATUS)
        and (lake.has_files(Table.RAW_WEBHOOKS) or lake.has_files(Table.RAW_POLLS))
    ):
        return Source.EDRV_WEBHOOKS
    return runner.KINDS[EntityKind.EVSE].coverage_source


def covered_spans(con: duckdb.DuckDBPyConnection, source: Source) -> list[Span]:
    """`source`'s coverage (that of the EVSEs: `status_coverage_source`) as disjoint spans, by
    the replay's own `coverage_spans` concept, on a connection with a `coverage` view."""
    params = {"coverage_source": source.value}
    rows = runner.run(con, EntityKind.EVSE, "coverage_spans", params).fetchall()
    return sorted((int(start), int(end)) for start, end in rows)


def lake_coverage(lake: Lake) -> list[Span]:
    """`covered_spans` of `lake`'s EVSEs, on a connection of its own."""
    con = duck.connect()
    lake.register(con, Table.COVERAGE)
    return covered_spans(con, status_coverage_source(lake))
