"""The Python API: replay a lake from a notebook or a script, no shelling out.

    >>> import evlog
    >>> lake = evlog.open_lake("build/demo-lake")
    >>> lake.uptime("2024-04-01", "2024-05-01", by="day", tz="Europe/Berlin")  # Polars
    >>> lake.uptime_relation("2024-04-01", "2024-05-01").filter("uptime_pct < 97")  # DuckDB

Every report (docs/reports.md lists them with their options and columns) is
`lake.report(name, ...)`, a Polars DataFrame whose period and interval columns are in the report's
time zone, and `lake.relation(name, ...)`, the engine's lazy result: a DuckDB relation on
`lake.connection`, for those who want to go on in SQL, or on Spark a Spark DataFrame, for results
too large to collect. A DuckDB relation's period and interval columns (`period_start`,
`period_end`, `interval_start`, `interval_end`) are the report zone's wall-clock times
(`TIMESTAMP`, no zone: a Berlin day starts at `2026-11-02 00:00:00`), so `GROUP BY
date(period_start)` groups by the report's days; `timezone('Europe/Berlin', period_start)` is the
instant (`TIMESTAMPTZ`) again. Spark DataFrames keep those columns as instants (shown in the
session's `spark.sql.session.timeZone`). The lake's tables are views on that connection too
(`status_events`, `connectivity_events`, `coverage`, ...). Each report also has its own methods:
`<report>(...)` (the frame), `<report>_relation(...)` (DuckDB's relation) and `<report>_spark(...)`
(Spark's DataFrame, `open_lake(path, engine="spark")`, see docs/replay.md "Running on Spark").

Window: `start` and `end` accept ISO 8601 strings or datetimes; a value without a UTC offset is
local time in the report's `tz` (UTC by default).
When omitted, the window is the lake's span for the report's entities: from the first event to the
last thing recorded (the latest event time, `received_at` or coverage end). The window is
[start, end); the first and last periods are clipped to it.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, BinaryIO, Unpack

import duckdb
import polars as pl

from evlog._errors import UsageError
from evlog._lake.layout import Lake
from evlog._progress import Progress, quiet
from evlog._record import offline
from evlog._record.derive import DEFAULT_SKEW_TOLERANCE
from evlog._record.recorder import DEFAULT_DEDUPE_HORIZON, RecordSummary
from evlog._replay.engine import EngineBase, ReplayEngine
from evlog._replay.runner import EntityKind
from evlog._reports import _registry as registry
from evlog._reports._api_options import (
    AvailabilityOptions,
    FeedHealthOptions,
    FlapsOptions,
    IntervalsOptions,
    MetadataOptions,
    ReconcileOptions,
    ReliabilityOptions,
    SummaryOptions,
    UptimeOptions,
)
from evlog._reports._report import ENGINES, Report, cli_options
from evlog._reports.reliability import ReliabilityResult
from evlog._reports.summary import NetworkSummary
from evlog._upkeep.compact import CompactSummary
from evlog._upkeep.compact import compact as compact_lake
from evlog._window import Period, Window, parse_tz

if TYPE_CHECKING:
    from pyspark.sql import DataFrame as SparkDataFrame
    from pyspark.sql import SparkSession

    from evlog._replay.spark import SparkEngine

Instant = str | date | datetime | None
Positional = Instant  # a report method's leading arguments: `standard`, `start`, `end`
TIME_COLUMNS = ("period_start", "period_end", "interval_start", "interval_end")


def open_lake(
    path: str | os.PathLike[str],
    *,
    engine: str = "duckdb",
    spark_master: str | None = None,
    spark: SparkSession | None = None,
    checkpoints: bool = True,
    rollups: bool = True,
) -> EvlogLake:
    """Open the lake at `path` for replay; raises `LakeNotFoundError` if it is not a lake.

    `engine="spark"` replays on Apache Spark (`pip install 'evlog[spark]'`, Java 17+): `path` may
    then be any URI Spark reads (`s3a://…`, `hdfs://…`, `file://…`); the session is `spark`, else
    the active one, else a new one on `spark_master` (default `local[*]`), or Spark Connect when
    `SPARK_REMOTE` is set. Reports return the same Polars frames on both engines.
    """
    choice = parse_engine(engine)
    if choice == "spark":
        from evlog._replay.spark import SparkEngine  # lazily: pyspark is an optional extra

        return EvlogLake(
            SparkEngine.open(
                path, master=spark_master, spark=spark, checkpoints=checkpoints, rollups=rollups
            ),
            location=str(path),
        )
    if spark_master is not None or spark is not None:
        raise UsageError("--spark-master: only with --engine spark")
    return EvlogLake(
        ReplayEngine.open(path, checkpoints=checkpoints, rollups=rollups), location=str(path)
    )


def parse_engine(value: str) -> str:
    """`duckdb` or `spark` (`--engine`)."""
    choice = str(value).strip().lower()
    if choice not in ENGINES:
        raise UsageError(f"--engine: expected one of {'|'.join(ENGINES)}, got {value!r}")
    return choice


def localize(frame: pl.DataFrame, tz: str) -> pl.DataFrame:
    """Show a report frame's time columns (UTC) in the report's time zone."""
    zone = parse_tz(tz).key
    return frame.with_columns(
        pl.col(name).dt.convert_time_zone(zone) for name in TIME_COLUMNS if name in frame.columns
    )


def local_times(relation: duckdb.DuckDBPyRelation, tz: str) -> duckdb.DuckDBPyRelation:
    """A report relation with its time columns (instants, `TIMESTAMPTZ`) as the wall-clock times
    of the report's time zone (`TIMESTAMP`): what `date()`, `hour()` and `date_trunc` of a DuckDB
    user should see, whatever the connection's `TimeZone` (evlog's is UTC). In a zone's repeated
    autumn hour two hourly periods show the same wall-clock start: `tz="UTC"` tells them apart."""
    zone = duckdb.ConstantExpression(parse_tz(tz).key)
    return relation.select(
        *(
            duckdb.FunctionExpression("timezone", zone, duckdb.ColumnExpression(name)).alias(name)
            if name in TIME_COLUMNS
            else duckdb.ColumnExpression(name)
            for name in relation.columns
        )
    )


class EvlogLake:
    """Reports over one lake. See the module docstring for windows, time zones and relations."""

    def __init__(self, engine: EngineBase[Any], location: str = "") -> None:
        self.engine = engine
        self.location = location  # the path or URI it was opened at

    @property
    def engine_name(self) -> str:
        """`duckdb` or `spark`."""
        return self.engine.name

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The DuckDB connection the relations live on, with the lake's tables as views."""
        return self._duckdb().con

    def _duckdb(self) -> ReplayEngine:
        if not isinstance(self.engine, ReplayEngine):
            raise UsageError(
                "DuckDB relations need engine='duckdb'; on Spark use the <report>_spark methods"
            )
        return self.engine

    def _spark(self) -> SparkEngine:
        from evlog._replay.spark import SparkEngine

        if not isinstance(self.engine, SparkEngine):
            raise UsageError("Spark DataFrames need open_lake(path, engine='spark')")
        return self.engine

    def sql(self, query: str, params: dict[str, Any] | None = None) -> pl.DataFrame:
        """Run SQL on the lake's views (`status_events`, `coverage`, ...) and collect it; unlike
        `connection.sql(...)`, run again on a fresh listing if a compaction replaced files."""
        con = self._duckdb().con

        def collect() -> pl.DataFrame:
            frame: pl.DataFrame = con.sql(query, params=params).pl()
            return frame

        return self.engine.reading(collect)

    def refresh(self) -> None:
        """See files written since the lake was opened (recorders append while you read)."""
        self.engine.refresh()

    def window(
        self,
        start: Instant = None,
        end: Instant = None,
        *,
        by: str | Period = Period.DAY,
        tz: str = "UTC",
        kind: EntityKind = EntityKind.EVSE,
    ) -> Window:
        """The validated window a report with these options would cover."""
        return self.engine.window(kind, start, end, by, tz)

    # every report, by name -----------------------------------------------------------------------

    def report(self, name: str, *args: Any, **options: Any) -> pl.DataFrame:
        """Report `name` (docs/reports.md) as a Polars frame, timestamps in the report's `tz`."""
        with keyword_names(name):
            report, values = self.prepare(name, args, options)
            return report.frame(self.outcome(report, values))

    def relation(self, name: str, *args: Any, **options: Any) -> Any:
        """Report `name` as the engine's lazy result: a DuckDB relation on `lake.connection`, its
        period and interval columns the wall-clock times of the report's `tz` (`TIMESTAMP`, see
        `local_times`: `GROUP BY date(period_start)` groups by the report's days), or with
        engine='spark' a Spark DataFrame, those columns instants."""
        with keyword_names(name):
            report, values = self.prepare(name, args, options)
            if not report.lazy:
                raise UsageError(f"the {report.name} report has no lazy form: use lake.report(...)")
            outcome = report.run(report, self.engine, values)
            if isinstance(outcome, duckdb.DuckDBPyRelation):
                return local_times(outcome, values.get("tz", "UTC"))
            return outcome

    def close(self) -> None:
        """Close the DuckDB connection (relations made on it stop working); a Spark session is
        left running, as it may be shared. `with open_lake(path) as lake:` closes on exit."""
        if isinstance(self.engine, ReplayEngine):
            self.engine.con.close()

    def __enter__(self) -> EvlogLake:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"EvlogLake({self.location!r}, engine={self.engine.name!r})"

    def prepare(
        self, name: str, args: tuple[Any, ...], options: Mapping[str, Any]
    ) -> tuple[Report, dict[str, Any]]:
        """The report that runs (a variant if a switch asks for it) and its parsed options."""
        report = registry.get(name)
        if len(args) > len(report.positional):
            raise TypeError(f"report {name!r} takes at most {len(report.positional)} positional")
        given = dict(zip(report.positional, args, strict=False))
        twice = sorted(set(given) & set(options))
        if twice:
            raise TypeError(f"report {name!r} got {', '.join(twice)} twice")
        values = report.read({**given, **options})
        return report.chosen(values), values

    def outcome(self, report: Report, values: Mapping[str, Any]) -> Any:
        """Run `report` on this lake's engine: its frame in the report's zone if it is lazy, else
        its result (again on a fresh listing if a compaction replaced files: `engine.reading`)."""

        def run() -> Any:
            outcome = report.run(report, self.engine, values)
            if not report.lazy:
                return outcome
            return localize(self.engine.to_polars(outcome), values.get("tz", "UTC"))

        return self.engine.reading(run)

    def _duckdb_relation(
        self, name: str, args: tuple[Any, ...], options: Mapping[str, Any]
    ) -> duckdb.DuckDBPyRelation:
        self._duckdb()
        relation: duckdb.DuckDBPyRelation = self.relation(name, *args, **options)
        return relation

    def _spark_dataframe(
        self, name: str, args: tuple[Any, ...], options: Mapping[str, Any]
    ) -> SparkDataFrame:
        self._spark()
        frame: SparkDataFrame = self.relation(name, *args, **options)
        return frame

    # each report's own methods: mypy checks their keywords by `_api_options` (generated from the
    # registry), `help()` shows the registry's signature (`_signed` below) ----------------------

    def availability(
        self, *args: Positional, **options: Unpack[AvailabilityOptions]
    ) -> pl.DataFrame:
        return self.report("availability", *args, **options)

    def availability_relation(
        self, *args: Positional, **options: Unpack[AvailabilityOptions]
    ) -> duckdb.DuckDBPyRelation:
        return self._duckdb_relation("availability", args, options)

    def availability_spark(
        self, *args: Positional, **options: Unpack[AvailabilityOptions]
    ) -> SparkDataFrame:
        return self._spark_dataframe("availability", args, options)

    def uptime(self, *args: Positional, **options: Unpack[UptimeOptions]) -> pl.DataFrame:
        return self.report("uptime", *args, **options)

    def uptime_relation(
        self, *args: Positional, **options: Unpack[UptimeOptions]
    ) -> duckdb.DuckDBPyRelation:
        return self._duckdb_relation("uptime", args, options)

    def uptime_spark(self, *args: Positional, **options: Unpack[UptimeOptions]) -> SparkDataFrame:
        return self._spark_dataframe("uptime", args, options)

    def flaps(self, *args: Positional, **options: Unpack[FlapsOptions]) -> pl.DataFrame:
        return self.report("flaps", *args, **options)

    def flaps_relation(
        self, *args: Positional, **options: Unpack[FlapsOptions]
    ) -> duckdb.DuckDBPyRelation:
        return self._duckdb_relation("flaps", args, options)

    def flaps_spark(self, *args: Positional, **options: Unpack[FlapsOptions]) -> SparkDataFrame:
        return self._spark_dataframe("flaps", args, options)

    def intervals(self, *args: Positional, **options: Unpack[IntervalsOptions]) -> pl.DataFrame:
        return self.report("intervals", *args, **options)

    def intervals_relation(
        self, *args: Positional, **options: Unpack[IntervalsOptions]
    ) -> duckdb.DuckDBPyRelation:
        return self._duckdb_relation("intervals", args, options)

    def intervals_spark(
        self, *args: Positional, **options: Unpack[IntervalsOptions]
    ) -> SparkDataFrame:
        return self._spark_dataframe("intervals", args, options)

    def reliability(self, *args: Positional, **options: Unpack[ReliabilityOptions]) -> pl.DataFrame:
        return self.report("reliability", *args, **options)

    def reliability_report(
        self, *args: Positional, **options: Unpack[ReliabilityOptions]
    ) -> ReliabilityResult:
        with keyword_names("reliability"):
            _, values = self.prepare("reliability", args, options)
            # both frames: run as the outage list's variant, which asks for the outages too
            result: ReliabilityResult = self.outcome(registry.RELIABILITY_OUTAGES, values)
        return result

    def summary(self, *args: Positional, **options: Unpack[SummaryOptions]) -> pl.DataFrame:
        return self.report("summary", *args, **options)

    def summary_report(
        self, *args: Positional, **options: Unpack[SummaryOptions]
    ) -> NetworkSummary:
        """The summary lines and the availability, uptime and flaps frames they come from."""
        with keyword_names("summary"):
            report, values = self.prepare("summary", args, options)
            result: NetworkSummary = self.outcome(report, values)
        return result

    def feed_health(self, *args: Positional, **options: Unpack[FeedHealthOptions]) -> pl.DataFrame:
        return self.report("feed_health", *args, **options)

    def feed_health_relation(
        self, *args: Positional, **options: Unpack[FeedHealthOptions]
    ) -> duckdb.DuckDBPyRelation:
        return self._duckdb_relation("feed_health", args, options)

    def metadata(self, *args: Positional, **options: Unpack[MetadataOptions]) -> pl.DataFrame:
        return self.report("metadata", *args, **options)

    def metadata_relation(
        self, *args: Positional, **options: Unpack[MetadataOptions]
    ) -> duckdb.DuckDBPyRelation:
        return self._duckdb_relation("metadata", args, options)

    def reconcile(self, *args: Positional, **options: Unpack[ReconcileOptions]) -> pl.DataFrame:
        return self.report("reconcile", *args, **options)

    def reconcile_relation(
        self, *args: Positional, **options: Unpack[ReconcileOptions]
    ) -> duckdb.DuckDBPyRelation:
        return self._duckdb_relation("reconcile", args, options)


@contextlib.contextmanager
def keyword_names(name: str) -> Iterator[None]:
    """Errors of the options of report `name` as a Python caller wrote them: the parsers name
    command-line flags (`--flap-threshold: ...`), the API says `flap_threshold: ...`."""
    try:
        yield
    except UsageError as exc:
        report = registry.REPORTS.get(name)
        if report is None:
            raise
        message = str(exc)
        options = sorted(cli_options(report), key=lambda o: len(o.flag), reverse=True)
        for option in options:
            message = re.sub(rf"{re.escape(option.flag)}\b(?!-)", option.name, message)
        raise UsageError(message) from exc


def _signature(report: Report, returns: Any) -> inspect.Signature:
    """What `help(lake.<report>)` shows: the report's options, as declared."""
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    by_name = {option.name: option for option in report.api_options}
    keywords = [option for option in report.api_options if option.name not in report.positional]
    for option in [by_name[name] for name in report.positional] + keywords:
        kind = (
            inspect.Parameter.POSITIONAL_OR_KEYWORD
            if option.name in report.positional
            else inspect.Parameter.KEYWORD_ONLY
        )
        default = inspect.Parameter.empty if option.required else option.default
        params.append(inspect.Parameter(option.name, kind, default=default))
    return inspect.Signature(params, return_annotation=returns)


def _signed() -> None:
    """Give each report's methods the report's signature and summary."""
    for name, report in registry.COMMANDS.items():
        for suffix, returns, what in (
            ("", "pl.DataFrame", "A Polars frame, timestamps in the report's `tz`."),
            ("_relation", "duckdb.DuckDBPyRelation", "The lazy DuckDB relation, in UTC."),
            ("_spark", "SparkDataFrame", "The lazy Spark DataFrame (engine='spark'), in UTC."),
            ("_report", "ReliabilityResult", "The result: frames and the rule that made them."),
        ):
            method = getattr(EvlogLake, name + suffix, None)
            if method is not None:
                method.__signature__ = _signature(report, returns)
                method.__doc__ = f"{report.summary}\n\n{what} Options: docs/reports.md."


_signed()


# recording ----------------------------------------------------------------------------------------


def record_stream(
    lake: Lake | str | os.PathLike[str],
    inputs: Sequence[str],
    *,
    coverage: Sequence[tuple[datetime, datetime]] = (),
    skew_tolerance: timedelta = DEFAULT_SKEW_TOLERANCE,
    stdin: BinaryIO | None = None,
    dedupe_horizon: timedelta = DEFAULT_DEDUPE_HORIZON,
    compact: bool = True,
    progress: Progress = quiet,
) -> RecordSummary:
    """Import HERE status-stream captures into `lake` (see `evlog._record.offline.record_stream`);
    then, unless `compact=False`, compact what the import touched (`compact_imported`), so that
    the first report after it reads checkpoints and rollups. `progress` (a callable taking an
    `evlog.ProgressStep`) is told the bytes read, then the partitions compacted."""
    summary, _ = import_then_compact(
        lake,
        lambda target: offline.record_stream(
            target,
            inputs,
            coverage=coverage,
            skew_tolerance=skew_tolerance,
            stdin=stdin,
            dedupe_horizon=dedupe_horizon,
            progress=progress,
        ),
        compact,
        progress,
    )
    return summary


def record_webhook_files(
    lake: Lake | str | os.PathLike[str],
    inputs: Sequence[str],
    *,
    coverage: Sequence[tuple[datetime, datetime]] = (),
    skew_tolerance: timedelta = DEFAULT_SKEW_TOLERANCE,
    stdin: BinaryIO | None = None,
    dedupe_horizon: timedelta = DEFAULT_DEDUPE_HORIZON,
    compact: bool = True,
    progress: Progress = quiet,
) -> RecordSummary:
    """Import saved eDRV webhook bodies into `lake` (`evlog._record.offline.record_webhook_files`);
    then, unless `compact=False`, compact what the import touched, as `record_stream` does (and
    tells `progress` as it does)."""
    summary, _ = import_then_compact(
        lake,
        lambda target: offline.record_webhook_files(
            target,
            inputs,
            coverage=coverage,
            skew_tolerance=skew_tolerance,
            stdin=stdin,
            dedupe_horizon=dedupe_horizon,
            progress=progress,
        ),
        compact,
        progress,
    )
    return summary


def import_then_compact(
    lake: Lake | str | os.PathLike[str],
    record: Callable[[Lake | str | os.PathLike[str]], RecordSummary],
    compact: bool,
    progress: Progress = quiet,
) -> tuple[RecordSummary, CompactSummary | None]:
    """Run the import `record` on `lake`; with `compact`, then compact the partitions it added
    files to (only those crowded with files) and bring checkpoints and rollups up to date from the
    first changed day on (so a small import into a long history stays small). The compaction's
    summary, or None."""
    summary = record(lake)  # the importer makes the lake once its inputs are checked
    if not compact:
        return summary, None
    target = Lake.open(lake)
    # Waits for a compaction already running (another import's, a live recorder's periodic
    # one): the records are stored, and failing now would only leave them uncompacted.
    # Only the partitions crowded with files are merged (`compact.CROWDED_FILES`): the first report
    # needs the checkpoints and rollups, not the import's few well-sized files rewritten.
    return summary, compact_lake(
        target,
        partitions=sorted(summary.partitions),
        wait=True,
        only_crowded=True,
        progress=progress,
    )
