"""The replay engine: a lake, a DuckDB connection over it, and the report window defaults.

`ReplayEngine.relation` returns lazy DuckDB relations; the report modules (`evlog.reports.*`) name
the SQL and the parameters, and `evlog.api` turns relations into Polars DataFrames.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Generic, TypeVar

import duckdb
import polars as pl
import pyarrow as pa

from evlog import compact
from evlog.errors import LakeError
from evlog.lake import Lake
from evlog.replay import runner
from evlog.replay.options import Period, Window, parse_tz, to_micros
from evlog.replay.runner import EntityKind
from evlog.schema import STATUS_EVENTS

# Tables and coverage source read by each entity kind: they decide the default window.
_EVENT_TABLE = {EntityKind.EVSE: "status_events", EntityKind.STATION: "connectivity_events"}

# "No checkpoint": a time before any event, and a date before any partition.
_NO_CHECKPOINT_US = -4611686018427387904
_NO_CHECKPOINT_DATE = date(1, 1, 1)

# DuckDB settings that users may need on big lakes, from the environment (or `ReplayEngine(...)`):
# e.g. EVLOG_DUCKDB_MEMORY_LIMIT=4GB EVLOG_DUCKDB_TEMP_DIRECTORY=/scratch EVLOG_DUCKDB_THREADS=2.
SETTINGS_ENV = {
    "memory_limit": "EVLOG_DUCKDB_MEMORY_LIMIT",
    "temp_directory": "EVLOG_DUCKDB_TEMP_DIRECTORY",
    "threads": "EVLOG_DUCKDB_THREADS",
}


@dataclass(frozen=True)
class EventSpan:
    """First event time and the last thing recorded, in microseconds since the epoch."""

    first_us: int | None
    last_us: int | None


# The default window's span, in both engines' SQL (the Spark engine transpiles it); `{table}` is
# one of `_EVENT_TABLE`'s fixed names, never user input.
EVENT_SPAN_SQL = """
SELECT
    epoch_us(min(event_time)) AS first_us,
    greatest(
        epoch_us(max(event_time)) + 1,
        epoch_us(max(received_at)),
        (SELECT epoch_us(max(covered_to)) FROM coverage WHERE source = $source)
    ) AS last_us
FROM {table}
"""


R = TypeVar("R")


class EngineBase(Generic[R]):
    """What every replay engine shares: report windows, their defaults, checkpoints, parameters.

    Subclasses run the SQL and say what a lazy result `R` is: `ReplayEngine` on DuckDB (a DuckDB
    relation), `evlog.replay.spark.SparkEngine` on Spark (a Spark DataFrame).
    """

    name = "duckdb"

    #: the lake on this machine's file system, if it is on it (checkpoints are chosen from it)
    local_lake: Lake | None = None

    def refresh(self) -> None:
        """Read files written since the engine was opened."""
        raise NotImplementedError

    def ensure_not_empty(self) -> None:
        raise NotImplementedError

    def event_span(self, kind: EntityKind) -> EventSpan:
        raise NotImplementedError

    def relation(self, kind: EntityKind, report: str, window: Window, **params: Any) -> R:
        """The lazy result of SQL report `report` over `window`; `params` are bound by name."""
        raise NotImplementedError

    def union_ordered(self, relations: list[R], order: list[str]) -> R:
        """The union of results with the same columns, ordered by the `order` columns."""
        raise NotImplementedError

    def to_polars(self, relation: R) -> pl.DataFrame:
        """Collect a result; timestamps in UTC."""
        raise NotImplementedError

    def checkpoint_params(self, kind: EntityKind, window: Window) -> dict[str, Any]:
        """Where an EVSE replay may start reading: the latest valid checkpoint at or before the
        window start (its day's first instant and date), or no checkpoint at all."""
        day = None
        # EVLOG_NO_CHECKPOINTS=1 replays from the whole history (benchmarks, diagnosis)
        lake = self.local_lake
        if (
            kind is EntityKind.EVSE
            and lake is not None
            and not os.environ.get("EVLOG_NO_CHECKPOINTS")
        ):
            day = compact.usable_checkpoint(lake, window.start_us)
        if day is None:
            return {"checkpoint_us": _NO_CHECKPOINT_US, "checkpoint_date": _NO_CHECKPOINT_DATE}
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return {"checkpoint_us": to_micros(start), "checkpoint_date": day}

    def report_params(self, kind: EntityKind, window: Window, **params: Any) -> dict[str, Any]:
        """The parameters of a report over `window`: the window's, the defaults, then `params`."""
        base: dict[str, Any] = {
            "window_start_us": window.start_us,
            "window_end_us": window.end_us,
            "period_bounds": window.boundaries_us(),
            "entity_ids": [],
            "location_ids": [],
            "hold_after_gap": False,
            "last_date": _from_micros(window.end_us - 1).date(),
            **self.checkpoint_params(kind, window),
        }
        return {**base, **params}

    def window(
        self,
        kind: EntityKind,
        start: str | datetime | None,
        end: str | datetime | None,
        by: str | Period,
        tz: str,
    ) -> Window:
        """Validate the window options, filling a missing start or end from the lake's event span.

        If the report's own table has no events, the other table's span is used, so that an omitted
        window still makes sense (the report is then empty, not an error).
        """
        self.ensure_not_empty()
        if start is None or end is None:
            span = self.event_span(kind)
            if span.first_us is None:
                other = EntityKind.STATION if kind is EntityKind.EVSE else EntityKind.EVSE
                span = self.event_span(other)
            assert span.first_us is not None and span.last_us is not None  # not an empty lake
            if start is None:  # whole periods: from the local midnight before the first event
                first = _from_micros(span.first_us).astimezone(parse_tz(tz))
                start = first.replace(hour=0, minute=0, second=0, microsecond=0)
            if end is None:
                end = _from_micros(span.last_us)
        return Window.parse(start, end, by, parse_tz(tz))


class ReplayEngine(EngineBase[duckdb.DuckDBPyRelation]):
    """Replays one lake through one DuckDB connection whose views (`status_events`, ...) read it."""

    def __init__(
        self,
        lake: Lake,
        con: duckdb.DuckDBPyConnection | None = None,
        *,
        memory_limit: str | None = None,
        temp_directory: str | None = None,
        threads: int | None = None,
    ) -> None:
        self.lake = lake
        self.local_lake = lake
        if con is None:
            con = duckdb.connect()
            # Every report ends with its own ORDER BY: intermediate order need not be kept, which
            # lets DuckDB stream and spill more freely.
            con.sql("SET preserve_insertion_order = false")
        self.con = con
        # Timestamps leave DuckDB in UTC whatever the machine's zone; the API converts them.
        self.con.sql("SET TimeZone = 'UTC'")
        given = {"memory_limit": memory_limit, "temp_directory": temp_directory, "threads": threads}
        for name, env in SETTINGS_ENV.items():
            value = given[name] if given[name] is not None else os.environ.get(env)
            if value is not None and str(value).strip():
                # names come from SETTINGS_ENV; the value is a bound parameter
                self.con.execute(f"SET {name} = ?", [str(value).strip()])
        self.refresh()

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> ReplayEngine:
        return cls(Lake.open(path))

    def refresh(self) -> None:
        """Re-register the lake's views so that files written since opening are read too."""
        self.lake.register(self.con)
        self._register_checkpoints()

    def _register_checkpoints(self) -> None:
        """View `status_checkpoints` over `evlog lake compact`'s per-day states (maybe empty)."""
        files = sorted((self.lake.root / compact.CHECKPOINT_DIR).glob("date=*/*.parquet"))
        if files:
            rel = self.con.read_parquet([str(f) for f in files], hive_partitioning=True)
        else:
            empty = STATUS_EVENTS.empty_table()
            rel = self.con.from_arrow(empty.append_column("date", pa.array([], pa.date32())))
        rel.create_view("status_checkpoints", replace=True)

    def ensure_not_empty(self) -> None:
        """Raise `LakeError` for a lake without a single event: nothing to replay."""
        # EXISTS stops at the first row: no need to open every file's footer of a long history
        found = self.con.sql(
            "SELECT EXISTS (SELECT 1 FROM status_events)"
            " OR EXISTS (SELECT 1 FROM connectivity_events)"
        ).fetchall()
        if not found[0][0]:
            raise LakeError(
                f"lake {self.lake.root} holds no events yet: record or import some first"
            )

    def event_span(self, kind: EntityKind) -> EventSpan:
        """The span a report covers by default for `kind`: from the first event to the last record.

        The end is the latest of: the last event time (plus one microsecond, so that it falls inside
        the window), the last `received_at`, and the end of the governing source's coverage.
        """
        table = _EVENT_TABLE[kind]
        source = runner.KINDS[kind].coverage_source.value
        # `table` comes from the fixed mapping above, never from user input.
        rows = self.con.sql(
            EVENT_SPAN_SQL.format(table=table), params={"source": source}
        ).fetchall()
        return EventSpan(rows[0][0], rows[0][1])

    def relation(
        self, kind: EntityKind, report: str, window: Window, **params: Any
    ) -> duckdb.DuckDBPyRelation:
        """The lazy relation of SQL report `report` over `window`; `params` are bound by name."""
        return runner.run(self.con, kind, report, self.report_params(kind, window, **params))

    def union_ordered(
        self, relations: list[duckdb.DuckDBPyRelation], order: list[str]
    ) -> duckdb.DuckDBPyRelation:
        combined = relations[0]
        for relation in relations[1:]:
            combined = combined.union(relation)
        return combined.order(", ".join(order))

    def to_polars(self, relation: duckdb.DuckDBPyRelation) -> pl.DataFrame:
        frame: pl.DataFrame = relation.pl()
        return frame


def _from_micros(micros: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
