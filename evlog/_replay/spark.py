"""The replay on Apache Spark: the same SQL as DuckDB's, transpiled (`evlog._replay.dialect`).

    >>> lake = evlog.open_lake("s3a://bucket/lake", engine="spark", spark_master="spark://m:7077")

`SparkEngine` reads the lake's hive layout (``<lake>/<table>/date=…/*.parquet``) with Spark's
partition discovery, from any URI Spark reads (``file://``, ``s3a://``, ``hdfs://``, a plain
path). Each lake gets its own temporary views, so one Spark session can hold several lakes.
Reports are Spark DataFrames (lazy); `evlog._api` collects them into the same Polars frames as
the DuckDB engine's.

The Spark session: the one given, else the active one (a notebook's, a test's), else a new one
from `spark_master` (default ``local[*]``), or Spark Connect when ``SPARK_REMOTE`` is set and no
master is given. Its SQL time zone is set to UTC (period bounds are computed in Python).

Checkpoints (`evlog lake compact`) are used when the lake is on this machine's file system;
on other URIs an EVSE report reads the whole history before the window end.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import polars as pl
import pyarrow as pa

from evlog._errors import EngineError
from evlog._lake import checkpoints, rollups
from evlog._lake.layout import Lake
from evlog._lake.names import SOURCE_PARTITIONED, Table
from evlog._lake.schema import SCHEMAS, STATUS_EVENTS, STATUS_ROLLUPS
from evlog._replay import dialect, runner
from evlog._replay.engine import (
    _EVENT_TABLE,
    EVENT_SPAN_SQL,
    QUARANTINE_COUNTS_SQL,
    EngineBase,
    EventSpan,
)
from evlog._replay.runner import EntityKind
from evlog._window import Window

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

_SPARK_TYPES = {
    pa.string(): "STRING",
    pa.int64(): "BIGINT",
    pa.int32(): "INT",
    pa.float64(): "DOUBLE",
    pa.bool_(): "BOOLEAN",
    pa.binary(): "BINARY",
    pa.date32(): "DATE",
    pa.timestamp("us", tz="UTC"): "TIMESTAMP",
}
_CHECKPOINTS = "status_checkpoints"
_ROLLUPS = "status_rollups"


def spark_session(master: str | None = None) -> SparkSession:
    """The Spark session to replay on (see the module docstring); `EngineError` if Spark cannot
    run here (no pyspark, no Java)."""
    try:
        import sqlglot  # noqa: F401
        from pyspark.sql import SparkSession
    except ImportError:
        raise EngineError(
            "--engine spark needs pyspark and sqlglot (the spark extra): pip install 'evlog[spark]'"
        ) from None
    active = SparkSession.getActiveSession()
    if active is not None and master is None:
        return active
    remote = os.environ.get("SPARK_REMOTE")
    builder: Any = SparkSession.builder.appName("evlog")
    where = master or remote or "local[*]"
    if master is None and remote:
        builder = builder.remote(remote)
    else:
        check_java()
        builder = (
            builder.master(master or "local[*]")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")  # keep stdout/stderr for the report
        )
        if (master or "local").startswith("local"):  # in-process: talk over loopback only
            builder = builder.config("spark.driver.host", "127.0.0.1").config(
                "spark.driver.bindAddress", "127.0.0.1"
            )
    builder = builder.config("spark.sql.session.timeZone", "UTC")
    try:
        session: SparkSession = builder.getOrCreate()
    except Exception as exc:  # Py4J / gateway / connect errors: one line, no traceback
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise EngineError(f"--engine spark: could not start Spark ({where}): {first}") from None
    session.conf.set("spark.sql.session.timeZone", "UTC")
    if not remote:
        session.sparkContext.setLogLevel("ERROR")  # Spark's WARN chatter is not the user's concern
    return session


def check_java() -> None:
    """Raise `EngineError` unless a `java` can be started (JAVA_HOME's, else the PATH's)."""
    home = os.environ.get("JAVA_HOME")
    if home:
        java = Path(home) / "bin" / "java"
        if not os.access(java, os.X_OK):
            raise EngineError(
                f"--engine spark needs Java 17+: JAVA_HOME={home} has no bin/java"
                " (fix JAVA_HOME or unset it to use the java on PATH)"
            )
    elif shutil.which("java") is None:
        raise EngineError("--engine spark needs Java 17+: no java on PATH and JAVA_HOME is not set")


def lake_location(path: str | os.PathLike[str]) -> tuple[str, Lake | None]:
    """The URI Spark reads and, when the lake is on this machine, the local `Lake` (validated)."""
    text = os.fspath(path)
    parsed = urlparse(text)
    if parsed.scheme and len(parsed.scheme) > 1 and parsed.scheme != "file":
        return text.rstrip("/"), None  # s3a://, hdfs://, ...: Spark's business
    local = Lake.open(parsed.path if parsed.scheme == "file" else text)
    return local.root.resolve().as_uri(), local


class SparkEngine(EngineBase["DataFrame"]):
    """Replays one lake on a Spark session, through temporary views of its own."""

    def __init__(
        self,
        uri: str,
        spark: SparkSession,
        local: Lake | None = None,
        *,
        checkpoints: bool = True,
        rollups: bool = True,
    ) -> None:
        self.name = "spark"
        self.use_checkpoints = checkpoints
        self.use_rollups = rollups
        self.uri = uri.rstrip("/")
        self.spark = spark
        self.local_lake = local
        prefix = f"evlog_{uuid.uuid4().hex[:10]}_"
        self.views = {table.value: prefix + table.value for table in Table}
        self.views[_CHECKPOINTS] = prefix + _CHECKPOINTS
        self.views[_ROLLUPS] = prefix + _ROLLUPS
        self.refresh()

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        master: str | None = None,
        spark: SparkSession | None = None,
        checkpoints: bool = True,
        rollups: bool = True,
    ) -> SparkEngine:
        uri, local = lake_location(path)
        session = spark if spark is not None else spark_session(master)
        return cls(uri, session, local, checkpoints=checkpoints, rollups=rollups)

    def refresh(self) -> None:
        """(Re)create the views, listing the lake's files anew."""
        self._has_events = False
        if self.local_lake is not None:  # noted before Spark lists: never more than the views
            self.checkpoint_days = checkpoints.checkpoint_days(self.local_lake)
            self.rollup_days = rollups.rollup_files(self.local_lake)
        for table in Table:
            extra = ["source STRING"] if table in SOURCE_PARTITIONED else []
            frame = self._read(table.value, SCHEMAS[table], [*extra, "date DATE"])
            frame.createOrReplaceTempView(self.views[table.value])
        carried = self._read(str(checkpoints.CHECKPOINT_DIR), STATUS_EVENTS, ["date DATE"])
        carried.createOrReplaceTempView(self.views[_CHECKPOINTS])
        rolled_up = self._read(
            str(rollups.ROLLUP_DIR), STATUS_ROLLUPS, ["zone STRING", "date DATE"]
        )
        rolled_up.createOrReplaceTempView(self.views[_ROLLUPS])

    def _read(self, relative: str, schema: pa.Schema, partitions: list[str]) -> DataFrame:
        """`<lake>/<relative>` with partition discovery; an empty frame if it holds no file."""
        from pyspark.errors import AnalysisException

        location = f"{self.uri}/{relative}"
        local = self.local_lake
        if local is None or any((local.root / relative).glob("**/*.parquet")):
            try:
                frame = self.spark.read.option("pathGlobFilter", "*.parquet").parquet(location)
                frame.schema  # noqa: B018  (analysis now: a missing path raises here)
                return frame
            except AnalysisException:
                pass  # no such directory (remote lakes): an empty table
        columns = [f"`{f.name}` {_SPARK_TYPES[f.type]}" for f in schema] + partitions
        return self.spark.createDataFrame([], ", ".join(columns))

    def ensure_not_empty(self) -> None:
        from evlog._errors import LakeError

        if self._has_events:  # a lake only grows: known until the next refresh
            return
        tables = (Table.STATUS_EVENTS.value, Table.CONNECTIVITY_EVENTS.value)
        if all(self.spark.table(self.views[t]).isEmpty() for t in tables):
            raise LakeError(f"lake {self.uri} holds no events yet: record or import some first")
        self._has_events = True

    def event_span(self, kind: EntityKind) -> EventSpan:
        table = _EVENT_TABLE[kind]
        source = self.coverage_source(kind).value
        sql = dialect.to_spark(EVENT_SPAN_SQL.format(table=table), {"source": source}, self.views)
        row = self.spark.sql(sql).collect()[0]
        return EventSpan(row["first_us"], row["last_us"], row["last_event_us"])

    def quarantine_counts(self) -> list[tuple[str, str, int]]:
        sql = dialect.to_spark(QUARANTINE_COUNTS_SQL, {}, self.views)
        return [(str(r[0]), str(r[1]), int(r[2])) for r in self.spark.sql(sql).collect()]

    def statements(
        self,
        kind: EntityKind,
        report: str,
        window: Window,
        *,
        params_of: Mapping[EntityKind, Mapping[str, Any]] | None = None,
        **params: Any,
    ) -> list[tuple[str, str, bool]]:
        """The Spark SQL that `relation` runs: (view name, SQL, materialized) for each concept of
        `report` (`runner.stages`), then ("", the report's own SQL)."""
        _, bound = runner.bind(
            kind,
            report,
            self.report_params(kind, report, window, **params),
            self.other_kinds_params(report, window, params, params_of),
        )
        return [
            (name, dialect.to_spark(sql, bound, self.views), materialized)
            for name, sql, materialized in runner.stages(kind, report)
        ]

    def sql(
        self,
        kind: EntityKind,
        report: str,
        window: Window,
        *,
        params_of: Mapping[EntityKind, Mapping[str, Any]] | None = None,
        **params: Any,
    ) -> str:
        """The Spark SQL of `report` over `window` as it runs (for `EXPLAIN` and the curious)."""
        staged = self.statements(kind, report, window, params_of=params_of, **params)
        return ";\n".join(
            f"CREATE TEMP VIEW {name} AS {sql}" if name else sql for name, sql, _ in staged
        )

    def relation(
        self,
        kind: EntityKind,
        report: str,
        window: Window,
        *,
        params_of: Mapping[EntityKind, Mapping[str, Any]] | None = None,
        **params: Any,
    ) -> DataFrame:
        """The Spark DataFrame of SQL report `report` over `window`.

        Run in stages: each materialized concept is computed once and kept on the executors
        (`localCheckpoint`, nothing collected to the driver) under its name, so a concept read by
        several others is not expanded into the plan once per read, which makes Spark's planner run
        out of memory on the larger queries (reliability)."""
        *concepts, (_, last, _) = self.statements(
            kind, report, window, params_of=params_of, **params
        )
        for name, sql, materialized in concepts:
            stage = self.spark.sql(sql)
            (stage.localCheckpoint() if materialized else stage).createOrReplaceTempView(name)
        return self.spark.sql(last)

    def union_ordered(self, relations: list[DataFrame], order: list[str]) -> DataFrame:
        combined = relations[0]
        for relation in relations[1:]:
            combined = combined.unionByName(relation)
        return combined.orderBy(*order)

    def to_polars(self, relation: DataFrame) -> pl.DataFrame:
        frame = pl.from_arrow(relation.toArrow())
        assert isinstance(frame, pl.DataFrame)
        return frame.with_columns(
            pl.col(name).dt.replace_time_zone("UTC")
            for name, dtype in frame.schema.items()
            if isinstance(dtype, pl.Datetime) and dtype.time_zone is None
        )
