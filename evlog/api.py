"""The Python API: replay a lake from a notebook or a script, no shelling out.

    >>> import evlog
    >>> lake = evlog.open_lake("build/demo-lake")
    >>> lake.uptime("2024-04-01", "2024-05-01", by="day", tz="Europe/Berlin")  # Polars
    >>> lake.uptime_relation("2024-04-01", "2024-05-01").filter("uptime_pct < 97")  # DuckDB

Every report exists twice: `<report>(...)` returns a Polars DataFrame whose period columns are in
the report's time zone, and `<report>_relation(...)` returns the lazy DuckDB relation (timestamps
in UTC) on `lake.connection`, for those who want to go on in SQL. The lake's tables are views
on that connection too (`status_events`, `connectivity_events`, `coverage`, ...).

On Spark (`open_lake(path, engine="spark")`, see docs/replay.md "Running on Spark") the frame
methods return the same Polars frames, `<report>_spark(...)` returns the lazy Spark DataFrame
(timestamps in UTC) for results too large to collect, and `<report>_relation` is DuckDB's only.

Window: `start` and `end` accept ISO 8601 strings or datetimes; a value without a UTC offset is
local time in the report's `tz` (UTC by default).
When omitted, the window is the lake's span for the report's entities: from the first event to the
last thing recorded (the latest event time, `received_at` or coverage end). The window is
[start, end); the first and last periods are clipped to it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import duckdb
import polars as pl

from evlog.errors import UsageError
from evlog.replay.engine import EngineBase, R, ReplayEngine
from evlog.replay.options import Period, Window, parse_ids, parse_tz
from evlog.replay.runner import EntityKind
from evlog.reports import availability as availability_report
from evlog.reports import flaps as flaps_report
from evlog.reports import intervals as intervals_report
from evlog.reports import reliability as reliability_module
from evlog.reports import uptime as uptime_report

if TYPE_CHECKING:
    from pyspark.sql import DataFrame as SparkDataFrame
    from pyspark.sql import SparkSession

    from evlog.replay.spark import SparkEngine

Instant = str | datetime | None
ENGINES = ("duckdb", "spark")
TIME_COLUMNS = ("period_start", "period_end", "start", "end")


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
        from evlog.replay.spark import SparkEngine  # lazily: pyspark is an optional extra

        return EvlogLake(
            SparkEngine.open(
                path, master=spark_master, spark=spark, checkpoints=checkpoints, rollups=rollups
            )
        )
    if spark_master is not None or spark is not None:
        raise UsageError("--spark-master: only with --engine spark")
    return EvlogLake(ReplayEngine.open(path, checkpoints=checkpoints, rollups=rollups))


def parse_engine(value: str) -> str:
    """`duckdb` or `spark` (`--engine`)."""
    choice = str(value).strip().lower()
    if choice not in ENGINES:
        raise UsageError(f"--engine: expected one of {'|'.join(ENGINES)}, got {value!r}")
    return choice


def localize(frame: pl.DataFrame, tz: str) -> pl.DataFrame:
    """Show a report frame's timestamps (UTC) in the report's time zone."""
    zone = parse_tz(tz).key
    return frame.with_columns(
        pl.col(name).dt.convert_time_zone(zone) for name in TIME_COLUMNS if name in frame.columns
    )


def to_frame(relation: duckdb.DuckDBPyRelation, tz: str) -> pl.DataFrame:
    """Materialize a report relation; timestamps are shown in the report's time zone."""
    frame: pl.DataFrame = relation.pl()
    return localize(frame, tz)


class EvlogLake:
    """Reports over one lake. See the module docstring for windows, time zones and relations."""

    def __init__(self, engine: EngineBase[Any]) -> None:
        self.engine = engine

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
        from evlog.replay.spark import SparkEngine

        if not isinstance(self.engine, SparkEngine):
            raise UsageError("Spark DataFrames need open_lake(path, engine='spark')")
        return self.engine

    def _frame(self, build: Callable[[EngineBase[Any]], Any], tz: str) -> pl.DataFrame:
        """Run a report on this lake's engine and collect it as a Polars frame in `tz` (again
        on a fresh listing if a compaction replaced files meanwhile: `engine.reading`)."""
        return self.engine.reading(lambda: localize(self.engine.to_polars(build(self.engine)), tz))

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

    # availability ------------------------------------------------------------------------------

    def availability_relation(
        self,
        start: Instant = None,
        end: Instant = None,
        *,
        by: str | Period = Period.DAY,
        tz: str = "UTC",
        evse: Iterable[str] = (),
        location: Iterable[str] = (),
        by_location: bool = False,
        hold_after_gap: bool = False,
    ) -> duckdb.DuckDBPyRelation:
        """Per EVSE and period (or per location with `by_location`), as a DuckDB relation."""
        return self._availability(
            self._duckdb(), start, end, by, tz, evse, location, by_location, hold_after_gap
        )

    def availability_spark(
        self,
        start: Instant = None,
        end: Instant = None,
        *,
        by: str | Period = Period.DAY,
        tz: str = "UTC",
        evse: Iterable[str] = (),
        location: Iterable[str] = (),
        by_location: bool = False,
        hold_after_gap: bool = False,
    ) -> SparkDataFrame:
        """`availability` as a lazy Spark DataFrame (engine='spark'; timestamps in UTC)."""
        return self._availability(
            self._spark(), start, end, by, tz, evse, location, by_location, hold_after_gap
        )

    def _availability(
        self,
        engine: EngineBase[R],
        start: Instant,
        end: Instant,
        by: str | Period,
        tz: str,
        evse: Iterable[str],
        location: Iterable[str],
        by_location: bool,
        hold_after_gap: bool,
    ) -> R:
        window = engine.window(EntityKind.EVSE, start, end, by, tz)
        return availability_report.availability(
            engine,
            window,
            evse=evse,
            location=location,
            by_location=by_location,
            hold_after_gap=hold_after_gap,
        )

    def availability(
        self,
        start: Instant = None,
        end: Instant = None,
        *,
        by: str | Period = Period.DAY,
        tz: str = "UTC",
        evse: Iterable[str] = (),
        location: Iterable[str] = (),
        by_location: bool = False,
        hold_after_gap: bool = False,
    ) -> pl.DataFrame:
        """Time per OCPI status for each EVSE and period, `available_pct`, `in_service_pct`.

        With `by_location`, one row per location and period: the time at least one EVSE was
        AVAILABLE (`available_s`) out of the time at least one had a known status (`known_s`).
        """
        return self._frame(
            lambda engine: self._availability(
                engine, start, end, by, tz, evse, location, by_location, hold_after_gap
            ),
            tz,
        )

    # uptime ------------------------------------------------------------------------------------

    def uptime_relation(
        self,
        start: Instant = None,
        end: Instant = None,
        *,
        by: str | Period = Period.DAY,
        tz: str = "UTC",
        station: Iterable[str] = (),
        hold_after_gap: bool = False,
    ) -> duckdb.DuckDBPyRelation:
        """Per station and period, as a DuckDB relation."""
        return self._uptime(self._duckdb(), start, end, by, tz, station, hold_after_gap)

    def uptime_spark(
        self,
        start: Instant = None,
        end: Instant = None,
        *,
        by: str | Period = Period.DAY,
        tz: str = "UTC",
        station: Iterable[str] = (),
        hold_after_gap: bool = False,
    ) -> SparkDataFrame:
        """`uptime` as a lazy Spark DataFrame (engine='spark'; timestamps in UTC)."""
        return self._uptime(self._spark(), start, end, by, tz, station, hold_after_gap)

    def _uptime(
        self,
        engine: EngineBase[R],
        start: Instant,
        end: Instant,
        by: str | Period,
        tz: str,
        station: Iterable[str],
        hold_after_gap: bool,
    ) -> R:
        window = engine.window(EntityKind.STATION, start, end, by, tz)
        return uptime_report.uptime(engine, window, station=station, hold_after_gap=hold_after_gap)

    def uptime(
        self,
        start: Instant = None,
        end: Instant = None,
        *,
        by: str | Period = Period.DAY,
        tz: str = "UTC",
        station: Iterable[str] = (),
        hold_after_gap: bool = False,
    ) -> pl.DataFrame:
        """Online/offline time, `uptime_pct`, outages, longest outage, MTTR and MTBF per station."""
        return self._frame(
            lambda engine: self._uptime(engine, start, end, by, tz, station, hold_after_gap), tz
        )

    # flaps -------------------------------------------------------------------------------------

    def flaps_relation(
        self,
        start: Instant = None,
        end: Instant = None,
        *,
        by: str | Period = Period.DAY,
        tz: str = "UTC",
        station: Iterable[str] = (),
        flap_threshold: str | timedelta = "5m",
        flap_count: int = 3,
        flap_window: str | timedelta = "1h",
        flap_low_pct: float = 5.0,
        flap_high_pct: float = 20.0,
        hold_after_gap: bool = False,
    ) -> duckdb.DuckDBPyRelation:
        """Per station and period, worst flappers first, as a DuckDB relation."""
        settings = flaps_report.FlapSettings.parse(
            flap_threshold, flap_count, flap_window, flap_low_pct, flap_high_pct
        )
        return self._flaps(self._duckdb(), start, end, by, tz, station, settings, hold_after_gap)

    def flaps_spark(
        self,
        start: Instant = None,
        end: Instant = None,
        *,
        by: str | Period = Period.DAY,
        tz: str = "UTC",
        station: Iterable[str] = (),
        flap_threshold: str | timedelta = "5m",
        flap_count: int = 3,
        flap_window: str | timedelta = "1h",
        flap_low_pct: float = 5.0,
        flap_high_pct: float = 20.0,
        hold_after_gap: bool = False,
    ) -> SparkDataFrame:
        """`flaps` as a lazy Spark DataFrame (engine='spark'; timestamps in UTC)."""
        settings = flaps_report.FlapSettings.parse(
            flap_threshold, flap_count, flap_window, flap_low_pct, flap_high_pct
        )
        return self._flaps(self._spark(), start, end, by, tz, station, settings, hold_after_gap)

    def _flaps(
        self,
        engine: EngineBase[R],
        start: Instant,
        end: Instant,
        by: str | Period,
        tz: str,
        station: Iterable[str],
        settings: flaps_report.FlapSettings,
        hold_after_gap: bool,
    ) -> R:
        window = engine.window(EntityKind.STATION, start, end, by, tz)
        return flaps_report.flaps(
            engine, window, settings, station=station, hold_after_gap=hold_after_gap
        )

    def flaps(
        self,
        start: Instant = None,
        end: Instant = None,
        *,
        by: str | Period = Period.DAY,
        tz: str = "UTC",
        station: Iterable[str] = (),
        flap_threshold: str | timedelta = "5m",
        flap_count: int = 3,
        flap_window: str | timedelta = "1h",
        flap_low_pct: float = 5.0,
        flap_high_pct: float = 20.0,
        hold_after_gap: bool = False,
    ) -> pl.DataFrame:
        """Disconnects, short disconnects, flapping episodes, Nagios-style percent state change."""
        settings = flaps_report.FlapSettings.parse(
            flap_threshold, flap_count, flap_window, flap_low_pct, flap_high_pct
        )
        return self._frame(
            lambda engine: self._flaps(
                engine, start, end, by, tz, station, settings, hold_after_gap
            ),
            tz,
        )

    # reliability -------------------------------------------------------------------------------

    def reliability(
        self,
        standard: str,
        start: Instant = None,
        end: Instant = None,
        *,
        month: str | None = None,
        quarter: str | None = None,
        tz: str = "UTC",
        evse: Iterable[str] = (),
        location: Iterable[str] = (),
        exclusions: str | os.PathLike[str] | None = None,
        outage_states: str | Iterable[str] | None = None,
        station_map: str | os.PathLike[str] | Iterable[tuple[str, str]] | None = None,
        hold_after_gap: bool = False,
        outages: bool = False,
    ) -> pl.DataFrame:
        """Regulatory uptime per port and month, plus network rows (`standard`: nevi|cec|uk-pcpr).

        With `outages=True`, the outages of the report months instead (one row per outage). See
        `evlog.reports.reliability` and docs/reliability.md; `reliability_report(...)` returns both
        frames and the rule at once.
        """
        result = self.reliability_report(
            standard,
            start,
            end,
            month=month,
            quarter=quarter,
            tz=tz,
            evse=evse,
            location=location,
            exclusions=exclusions,
            outage_states=outage_states,
            station_map=station_map,
            hold_after_gap=hold_after_gap,
        )
        return result.outages if outages else result.frame

    def reliability_report(
        self,
        standard: str,
        start: Instant = None,
        end: Instant = None,
        *,
        month: str | None = None,
        quarter: str | None = None,
        tz: str = "UTC",
        evse: Iterable[str] = (),
        location: Iterable[str] = (),
        exclusions: str | os.PathLike[str] | None = None,
        outage_states: str | Iterable[str] | None = None,
        station_map: str | os.PathLike[str] | Iterable[tuple[str, str]] | None = None,
        hold_after_gap: bool = False,
    ) -> reliability_module.ReliabilityResult:
        """The reliability frame, the outages and the rule used (for exports and plots)."""
        return self.engine.reading(
            lambda: reliability_module.compute_reliability(
                self.engine,
                standard,
                start=start,
                end=end,
                month=month,
                quarter=quarter,
                tz=tz,
                evse=evse,
                location=location,
                exclusions=exclusions,
                outage_states=outage_states,
                station_map=station_map,
                hold_after_gap=hold_after_gap,
            )
        )

    # intervals ---------------------------------------------------------------------------------

    def intervals_relation(
        self,
        start: Instant = None,
        end: Instant = None,
        *,
        by: str | Period = Period.NONE,
        tz: str = "UTC",
        evse: Iterable[str] = (),
        location: Iterable[str] = (),
        station: Iterable[str] = (),
        hold_after_gap: bool = False,
    ) -> duckdb.DuckDBPyRelation:
        """The intervals (entity_kind, entity_id, location_id, state, start, end, duration_s)."""
        return self._intervals(
            self._duckdb(), start, end, by, tz, evse, location, station, hold_after_gap
        )

    def intervals_spark(
        self,
        start: Instant = None,
        end: Instant = None,
        *,
        by: str | Period = Period.NONE,
        tz: str = "UTC",
        evse: Iterable[str] = (),
        location: Iterable[str] = (),
        station: Iterable[str] = (),
        hold_after_gap: bool = False,
    ) -> SparkDataFrame:
        """`intervals` as a lazy Spark DataFrame (engine='spark'; timestamps in UTC)."""
        return self._intervals(
            self._spark(), start, end, by, tz, evse, location, station, hold_after_gap
        )

    def _intervals(
        self,
        engine: EngineBase[R],
        start: Instant,
        end: Instant,
        by: str | Period,
        tz: str,
        evse: Iterable[str],
        location: Iterable[str],
        station: Iterable[str],
        hold_after_gap: bool,
    ) -> R:
        evse, location, station = parse_ids(evse), parse_ids(location), parse_ids(station)
        window = self._intervals_window(start, end, by, tz, evse, location, station)
        return intervals_report.intervals(
            engine,
            window,
            evse=evse,
            location=location,
            station=station,
            hold_after_gap=hold_after_gap,
        )

    def intervals(
        self,
        start: Instant = None,
        end: Instant = None,
        *,
        by: str | Period = Period.NONE,
        tz: str = "UTC",
        evse: Iterable[str] = (),
        location: Iterable[str] = (),
        station: Iterable[str] = (),
        hold_after_gap: bool = False,
    ) -> pl.DataFrame:
        """The replayed state intervals of EVSEs and/or stations (both unless filters pick one)."""
        return self._frame(
            lambda engine: self._intervals(
                engine, start, end, by, tz, evse, location, station, hold_after_gap
            ),
            tz,
        )

    def _intervals_window(
        self,
        start: Instant,
        end: Instant,
        by: str | Period,
        tz: str,
        evse: tuple[str, ...],
        location: tuple[str, ...],
        station: tuple[str, ...],
    ) -> Window:
        only_stations = bool(station) and not (evse or location)
        kind = EntityKind.STATION if only_stations else EntityKind.EVSE
        return self.window(start, end, by=by, tz=tz, kind=kind)
