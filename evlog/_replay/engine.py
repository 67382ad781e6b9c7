"""The replay engine: a lake, a DuckDB connection over it, and the report window defaults.

`ReplayEngine.relation` returns lazy DuckDB relations; the report modules (`evlog._reports.*`) name
the SQL and the parameters, and `evlog._api` turns relations into Polars DataFrames.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

import duckdb
import polars as pl
import pyarrow as pa

from evlog._errors import LakeError
from evlog._faults import fault_point
from evlog._lake import checkpoints, rollups
from evlog._lake.duck import configure
from evlog._lake.layout import Lake, damaged_files_as_lake_errors, parquet_files
from evlog._lake.names import Source, Table
from evlog._lake.schema import STATUS_EVENTS, STATUS_ROLLUPS
from evlog._replay import runner
from evlog._replay.coverage import covered_spans, lake_coverage, status_coverage_source
from evlog._replay.runner import EntityKind
from evlog._time import FOREVER_US, from_micros, to_micros
from evlog._window import Period, Window, parse_tz

# Tables and coverage source read by each entity kind: they decide the default window.
_EVENT_TABLE = {EntityKind.EVSE: "status_events", EntityKind.STATION: "connectivity_events"}

# "No checkpoint": a time before any event, and a date before any partition.
_NO_CHECKPOINT_US = -FOREVER_US
_NO_CHECKPOINT_DATE = date(1, 1, 1)


@dataclass(frozen=True)
class EventSpan:
    """First event time, the last thing recorded and the last event time, in microseconds
    since the epoch."""

    first_us: int | None
    last_us: int | None
    last_event_us: int | None = None


# The default window's span, in both engines' SQL (the Spark engine transpiles it); `{table}` is
# one of `_EVENT_TABLE`'s fixed names, never user input.
EVENT_SPAN_SQL = """
SELECT
    epoch_us(min(event_time)) AS first_us,
    greatest(
        epoch_us(max(event_time)) + 1,
        (SELECT epoch_us(max(covered_to)) FROM coverage WHERE source = $source)
    ) AS last_us,
    epoch_us(max(event_time)) AS last_event_us
FROM {table}
"""

# What the lake keeps in quarantine: records per source and reason, most first.
QUARANTINE_COUNTS_SQL = """
SELECT source, reason, count(DISTINCT record_key) AS records
FROM quarantine
GROUP BY source, reason
ORDER BY source, records DESC, reason
"""


# A report parameter (not bound in SQL) that keeps one query off the rollups although its SQL may
# read them: a reliability report whose exclusions or station map need every outage interval.
NO_ROLLUPS = "no_rollups"

R = TypeVar("R")
T = TypeVar("T")

# A read that a compaction or rebuild overtook (it listed files since replaced) is retried on a
# fresh listing this many times in all, after a pause doubling from READ_RETRY_PAUSE_S.
READ_ATTEMPTS = 6
READ_RETRY_PAUSE_S = 0.02
# How DuckDB says a listed file is gone: at bind time, and when a scan opens it.
_MISSING_FILE = ("No files found that match the pattern", "No such file or directory")


def retrying_reads(read: Callable[[], T], before_retry: Callable[[], object]) -> T:
    """`read()`; if a file it listed has vanished, `before_retry()` (a fresh listing) and again,
    up to `READ_ATTEMPTS` in all (then `LakeError`: the lake kept changing under the reader)."""
    attempt = 1
    while True:
        try:
            return read()
        except duckdb.IOException as exc:
            if not any(words in str(exc) for words in _MISSING_FILE):
                raise
            if attempt == READ_ATTEMPTS:
                raise LakeError(
                    f"the lake's files kept changing during the read ({READ_ATTEMPTS} attempts, "
                    f"last: {exc}); try again"
                ) from exc
        time.sleep(READ_RETRY_PAUSE_S * 2 ** (attempt - 1))
        attempt += 1
        before_retry()


class EngineBase(Generic[R]):
    """What every replay engine shares: report windows, their defaults, checkpoints, parameters.

    Subclasses run the SQL and say what a lazy result `R` is: `ReplayEngine` on DuckDB (a DuckDB
    relation), `evlog._replay.spark.SparkEngine` on Spark (a Spark DataFrame).
    """

    name = "duckdb"

    #: the lake on this machine's file system, if it is on it (checkpoints are chosen from it)
    local_lake: Lake | None = None
    #: the checkpoint days and (zone, day) rollups the views read, noted when they were made: one
    #: written since is not used before `refresh()` (its rows would be missing from the views)
    checkpoint_days: frozenset[date] = frozenset()
    rollup_days: frozenset[tuple[str, date]] = frozenset()
    #: whether EVSE replays start from checkpoints and availability reads whole days from rollups
    #: (off: replay every event from the start of history; for benchmarks and diagnosis)
    use_checkpoints: bool = True
    use_rollups: bool = True

    def refresh(self) -> None:
        """Read files written since the engine was opened."""
        raise NotImplementedError

    def reading(self, read: Callable[[], T]) -> T:
        """Run `read`, a whole read of the lake (windows, relations, collecting the result)."""
        return read()

    def ensure_not_empty(self) -> None:
        raise NotImplementedError

    def event_span(self, kind: EntityKind) -> EventSpan:
        raise NotImplementedError

    def has_connectivity(self) -> bool:
        """Whether the lake holds connectivity events (else no port is linked to a station)."""
        return True

    def station_links(self, window: Window) -> list[tuple[str, str]]:
        """(station_id, evse_id) of every port of `window` that the feeds link to a station
        (`station_links.sql`)."""
        if not self.has_connectivity():
            return []
        relation = self.relation(
            EntityKind.EVSE, "station_links", window, entity_ids=[], location_ids=[]
        )
        return [(str(s), str(e)) for s, e in self.to_polars(relation).iter_rows()]

    def quarantine_counts(self) -> list[tuple[str, str, int]]:
        """(source, reason, records) of the quarantine (`QUARANTINE_COUNTS_SQL`)."""
        raise NotImplementedError

    def relation(
        self,
        kind: EntityKind,
        report: str,
        window: Window,
        *,
        params_of: Mapping[EntityKind, Mapping[str, Any]] | None = None,
        **params: Any,
    ) -> R:
        """The lazy result of SQL report `report` over `window`; `params` are bound by name, and
        `params_of[other]` for the concepts of another entity kind that the report reads."""
        raise NotImplementedError

    def union_ordered(self, relations: list[R], order: list[str]) -> R:
        """The union of results with the same columns, ordered by the `order` columns."""
        raise NotImplementedError

    def to_polars(self, relation: R) -> pl.DataFrame:
        """Collect a result; timestamps in UTC."""
        raise NotImplementedError

    def coverage_spans(self) -> list[rollups.Span]:
        """The EVSEs' merged coverage (decides which rollup days are still exact)."""
        assert self.local_lake is not None
        return lake_coverage(self.local_lake)

    def coverage_source(self, kind: EntityKind) -> Source:
        """The source whose coverage governs `kind` in this lake (rule *Coverage*)."""
        if kind is EntityKind.EVSE:
            return status_coverage_source(self.local_lake)
        return runner.KINDS[kind].coverage_source

    def _local_evse_lake(self, kind: EntityKind) -> Lake | None:
        """The lake whose checkpoints and rollups an EVSE replay may use (local lakes only)."""
        return self.local_lake if kind is EntityKind.EVSE else None

    def checkpoint_at(
        self, kind: EntityKind, instant_us: int, event_files: dict[str, list[str]] | None = None
    ) -> tuple[int, date]:
        """Where an EVSE replay may start reading to know the state at `instant_us`: the latest
        valid checkpoint at or before it (its day's first instant and date), or no checkpoint."""
        day = None
        lake = self._local_evse_lake(kind)
        if lake is not None and self.use_checkpoints:
            day = checkpoints.usable_checkpoint(lake, instant_us, event_files, self.checkpoint_days)
        if day is None:
            return _NO_CHECKPOINT_US, _NO_CHECKPOINT_DATE
        return to_micros(datetime(day.year, day.month, day.day, tzinfo=UTC)), day

    def rollup_span(
        self,
        kind: EntityKind,
        report: str,
        window: Window,
        hold_after_gap: bool,
        event_files: dict[str, list[str]] | None = None,
    ) -> rollups.RollupSpan | None:
        """The whole days a report whose SQL reads `status_rollups` (availability, reliability)
        takes from rollups instead of replaying them; none when `hold_after_gap` (or the report's
        `NO_ROLLUPS` parameter: `report_params`) says the days' events are needed."""
        lake = self._local_evse_lake(kind)
        if (
            not self.use_rollups
            or hold_after_gap
            or lake is None
            or "status_rollups" not in runner.tables_read(kind, report)
        ):
            return None
        listing = checkpoints.event_files_by_day(lake) if event_files is None else event_files
        return rollups.usable_span(lake, window, listing, self.coverage_spans, self.rollup_days)

    def range_params(
        self, kind: EntityKind, report: str, window: Window, hold_after_gap: bool = False
    ) -> dict[str, Any]:
        """Which events the replay reads (`status_event_rows.sql`): those from the checkpoint
        before the window start, or, around rolled-up days, those before the days (from that
        checkpoint) and after them (from the checkpoint at their end)."""
        lake = self._local_evse_lake(kind)
        # one listing of the event partitions serves every freshness check of this report
        listing = checkpoints.event_files_by_day(lake) if lake is not None else None
        span = self.rollup_span(kind, report, window, hold_after_gap, listing)
        if span is None:
            checkpoint_us, checkpoint_date = self.checkpoint_at(kind, window.start_us, listing)
            return {
                "checkpoint_us": checkpoint_us,
                "checkpoint_date": checkpoint_date,
                "head_end_us": checkpoint_us,  # nothing read before the (absent) rollups
                "head_last_date": checkpoint_date,
                "tail_checkpoint_us": checkpoint_us,
                "tail_checkpoint_date": checkpoint_date,
                "rollup_zone": "",
                "rollup_start_us": window.start_us,
                "rollup_end_us": window.start_us,
                "rollup_first_date": _NO_CHECKPOINT_DATE,
                "rollup_last_date": _NO_CHECKPOINT_DATE,
                "rollup_days_are_periods": False,
            }
        tail_us, tail_date = self.checkpoint_at(kind, span.end_us, listing)
        head_us, head_date = tail_us, tail_date
        head_end_us = tail_us  # no days before the rollups: nothing read for them
        if span.start_us > window.start_us:
            head_us, head_date = self.checkpoint_at(kind, window.start_us, listing)
            head_end_us = min(span.start_us, tail_us)  # the two ranges never overlap
        return {
            "checkpoint_us": head_us,
            "checkpoint_date": head_date,
            "head_end_us": head_end_us,
            "head_last_date": (
                from_micros(head_end_us - 1).date() if head_end_us > head_us else head_date
            ),
            "tail_checkpoint_us": tail_us,
            "tail_checkpoint_date": tail_date,
            **span.params(),
        }

    def report_params(
        self, kind: EntityKind, report: str, window: Window, **params: Any
    ) -> dict[str, Any]:
        """The parameters of `report` over `window`: the window's, the defaults, then `params`."""
        base: dict[str, Any] = {
            "window_start_us": window.start_us,
            "window_end_us": window.end_us,
            "period_bounds": window.boundaries_us(),
            "entity_ids": [],
            "location_ids": [],
            "hold_after_gap": False,
            "coverage_source": self.coverage_source(kind).value,
            "last_date": from_micros(window.end_us - 1).date(),
            **self.range_params(
                kind,
                report,
                window,
                bool(params.get("hold_after_gap")) or bool(params.get(NO_ROLLUPS)),
            ),
        }
        return {**base, **params}

    def other_kinds_params(
        self,
        report: str,
        window: Window,
        params: Mapping[str, Any],
        params_of: Mapping[EntityKind, Mapping[str, Any]] | None,
    ) -> dict[EntityKind, dict[str, Any]]:
        """`report_params` of each other kind in `params_of`: `params` overridden by its own."""
        return {
            other: self.report_params(other, report, window, **{**params, **own})
            for other, own in (params_of or {}).items()
        }

    def window(
        self,
        kind: EntityKind,
        start: str | date | datetime | None,
        end: str | date | datetime | None,
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
                first = from_micros(span.first_us).astimezone(parse_tz(tz))
                start = first.replace(hour=0, minute=0, second=0, microsecond=0)
            if end is None:
                end = from_micros(span.last_us)
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
        checkpoints: bool = True,
        rollups: bool = True,
        upkeep: bool = False,
    ) -> None:
        self.lake = lake
        self.use_checkpoints = checkpoints
        self.use_rollups = rollups
        self.local_lake = lake
        own = con is None
        if con is None:
            con = duckdb.connect()
            # Every report ends with its own ORDER BY: intermediate order need not be kept, which
            # lets DuckDB stream and spill more freely.
            con.sql("SET preserve_insertion_order = false")
        self._con = con
        # Timestamps leave DuckDB in UTC whatever the machine's zone; the API converts them.
        self._con.sql("SET TimeZone = 'UTC'")
        # e.g. EVLOG_DUCKDB_MEMORY_LIMIT=4GB EVLOG_DUCKDB_TEMP_DIRECTORY=/scratch (`duck.configure`)
        configure(
            self._con,
            memory_limit=memory_limit,
            temp_directory=temp_directory,
            threads=threads,
            upkeep=upkeep,
            spill_under_tmpdir=own,  # a connection given to us keeps its own
        )
        self.refresh()

    @classmethod
    def open(
        cls, path: str | os.PathLike[str], *, checkpoints: bool = True, rollups: bool = True
    ) -> ReplayEngine:
        return cls(Lake.open(path), checkpoints=checkpoints, rollups=rollups)

    def refresh(self) -> None:
        """Re-register the lake's views so that files written since opening are read too (and
        files a compaction replaced are no longer)."""
        retrying_reads(self._bind_views, lambda: None)  # a listed file may vanish before binding

    def reading(self, read: Callable[[], T]) -> T:
        """Run `read`, a whole read of the lake; if a compaction or rebuild replaced files the
        views list (DuckDB's "file not found"), refresh the views and run it again (bounded:
        `retrying_reads`). `read` must compute its relations itself: a relation made before a
        refresh still names the old files."""
        fault_point("replay.reading")
        with damaged_files_as_lake_errors(self.lake.root):
            return retrying_reads(read, self.refresh)

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The connection, with a view per lake table (`status_events`, `coverage`, ...) for SQL
        of any kind: every view is bound on first use of this property after a refresh."""
        self._need(frozenset(table.value for table in Table))
        return self._con

    def quiet(self) -> None:
        """No progress bar on long queries (for commands that print their own summary)."""
        # In Jupyter without ipywidgets DuckDB cannot switch it: there is no bar to hide.
        with contextlib.suppress(duckdb.InvalidInputException):
            self._con.sql("SET enable_progress_bar = false")

    def _bind_views(self) -> None:
        # Tables are bound when a query first reads them (`_need`): binding one costs ~25 µs a
        # file, so a year of files would cost more than a one-day report that reads a few days.
        self._day_views: set[str] = set()
        self._bound: set[str] = set()
        self._register_checkpoints()

    def _need(self, names: Iterable[str]) -> None:
        """Bind the views of the lake tables among `names` that are not bound yet."""
        for table in Table:
            if table.value in names and table.value not in self._bound:
                self.lake.relation(self._con, table).create_view(table.value, replace=True)
                self._bound.add(table.value)

    def _register_checkpoints(self) -> None:
        """Views `status_checkpoints` and `status_rollups` over `evlog lake compact`'s per-day
        states and per-day status time (maybe empty)."""
        files = parquet_files(self.lake.root / checkpoints.CHECKPOINT_DIR)
        self.checkpoint_days = checkpoints.checkpoint_days(self.lake, files)
        self._view("status_checkpoints", files, STATUS_EVENTS.empty_table())
        files = parquet_files(self.lake.root / rollups.ROLLUP_DIR)
        self.rollup_days = rollups.rollup_files(self.lake, files)
        # zone values are IANA keys (never numbers): DuckDB reads them as VARCHAR
        empty = STATUS_ROLLUPS.empty_table().append_column("zone", pa.array([], pa.string()))
        self._view("status_rollups", files, empty)

    def _view(self, name: str, files: list[Path], empty: pa.Table) -> None:
        """View `name` over `files` with their hive partitions; over `empty` (plus its `date`
        partition column) while there are none."""
        if files:
            relation = self._con.read_parquet([str(f) for f in files], hive_partitioning=True)
        else:
            dated = empty.append_column("date", pa.array([], pa.date32()))
            relation = self._con.from_arrow(dated)
        relation.create_view(name, replace=True)

    def coverage_spans(self) -> list[rollups.Span]:
        self._need({Table.COVERAGE.value})
        return covered_spans(self._con, self.coverage_source(EntityKind.EVSE))

    def ensure_not_empty(self) -> None:
        """Raise `LakeError` for a lake without a single event: nothing to replay."""
        # from the file system, stopping at the first file: binding the views over every file
        # of a long history would cost more than a one-day report
        if not any(
            self.lake.has_files(t) for t in (Table.STATUS_EVENTS, Table.CONNECTIVITY_EVENTS)
        ):
            raise LakeError(
                f"lake {self.lake.root} holds no events yet: record or import some first"
            )

    def event_span(self, kind: EntityKind) -> EventSpan:
        """The span a report covers by default for `kind` (docs/replay.md, "The window"): from
        the first event to the later of the last event time (plus one microsecond, so that it
        falls inside the window) and the end of the governing source's coverage. A receive time
        alone does not extend it: an offline capture's is often its file's modification time or
        the moment of import, and holding the last state until then would invent observation."""
        table = _EVENT_TABLE[kind]
        source = self.coverage_source(kind).value
        # `table` comes from the fixed mapping above, never from user input.
        self._need({table, Table.COVERAGE.value})
        rows = self._con.sql(
            EVENT_SPAN_SQL.format(table=table), params={"source": source}
        ).fetchall()
        return EventSpan(*rows[0])

    def quarantine_counts(self) -> list[tuple[str, str, int]]:
        self._need({Table.QUARANTINE.value})
        rows = self._con.sql(QUARANTINE_COUNTS_SQL).fetchall()
        return [(str(source), str(reason), int(n)) for source, reason, n in rows]

    def has_connectivity(self) -> bool:
        return self.lake.has_files(Table.CONNECTIVITY_EVENTS)

    def relation(
        self,
        kind: EntityKind,
        report: str,
        window: Window,
        *,
        params_of: Mapping[EntityKind, Mapping[str, Any]] | None = None,
        **params: Any,
    ) -> duckdb.DuckDBPyRelation:
        """The lazy relation of SQL report `report` over `window` (see `EngineBase.relation`).

        An EVSE replay that starts from a checkpoint reads `status_events` through a view over
        only the `date=` partitions from the checkpoint's day to the window's last (`_days_view`):
        the SQL's `date` filters would skip the other days' files, but binding a view over every
        file of a long history costs more than the report."""
        own = self.report_params(kind, report, window, **params)
        tables = {}
        if own["checkpoint_date"] != _NO_CHECKPOINT_DATE:
            tables["status_events"] = self._days_view(
                Table.STATUS_EVENTS, own["checkpoint_date"], own["last_date"]
            )
        return runner.run(
            self._con,
            kind,
            report,
            own,
            self.other_kinds_params(report, window, params, params_of),
            tables,
            self._need,
        )

    def _days_view(self, table: Table, first: date, last: date) -> str:
        """The name of a view over `table`'s partitions `first`..`last` (made once per refresh:
        a relation made before a refresh keeps reading the view it was made with)."""
        name = f"{table.value}__{first:%Y%m%d}_{last:%Y%m%d}"
        if name not in self._day_views:
            self.lake.days_relation(self._con, table, first, last).create_view(name, replace=True)
            self._day_views.add(name)
        return name

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
