"""The Python API: replay a lake from a notebook or a script, no shelling out.

    >>> import evlog
    >>> lake = evlog.open_lake("build/demo-lake")
    >>> lake.uptime("2024-04-01", "2024-05-01", by="day", tz="Europe/Berlin")  # Polars
    >>> lake.uptime_relation("2024-04-01", "2024-05-01").filter("uptime_pct < 97")  # DuckDB

Every report exists twice: `<report>(...)` returns a Polars DataFrame whose period columns are in
the report's time zone, and `<report>_relation(...)` returns the lazy DuckDB relation (timestamps
in UTC) on `lake.connection`, for those who want to go on in SQL. The lake's tables are views
on that connection too (`status_events`, `connectivity_events`, `coverage`, ...).

Window: `start` and `end` accept ISO 8601 strings or datetimes; a value without a UTC offset is
local time in the report's `tz` (UTC by default).
When omitted, the window is the lake's span for the report's entities: from the first event to the
last thing recorded (the latest event time, `received_at` or coverage end). The window is
[start, end); the first and last periods are clipped to it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import datetime, timedelta

import duckdb
import polars as pl

from evlog.replay.engine import ReplayEngine
from evlog.replay.options import Period, Window, parse_ids, parse_tz
from evlog.replay.runner import EntityKind
from evlog.reports import availability as availability_report
from evlog.reports import flaps as flaps_report
from evlog.reports import intervals as intervals_report
from evlog.reports import reliability as reliability_module
from evlog.reports import uptime as uptime_report

Instant = str | datetime | None
TIME_COLUMNS = ("period_start", "period_end", "start", "end")


def open_lake(path: str | os.PathLike[str]) -> EvlogLake:
    """Open the lake at `path` for replay; raises `LakeNotFoundError` if it is not a lake."""
    return EvlogLake(ReplayEngine.open(path))


def to_frame(relation: duckdb.DuckDBPyRelation, tz: str) -> pl.DataFrame:
    """Materialize a report relation; timestamps are shown in the report's time zone."""
    frame: pl.DataFrame = relation.pl()
    zone = parse_tz(tz).key
    return frame.with_columns(
        pl.col(name).dt.convert_time_zone(zone) for name in TIME_COLUMNS if name in frame.columns
    )


class EvlogLake:
    """Reports over one lake. See the module docstring for windows, time zones and relations."""

    def __init__(self, engine: ReplayEngine) -> None:
        self.engine = engine

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The DuckDB connection the relations live on, with the lake's tables as views."""
        return self.engine.con

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
        window = self.window(start, end, by=by, tz=tz, kind=EntityKind.EVSE)
        return availability_report.availability(
            self.engine,
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
        relation = self.availability_relation(
            start,
            end,
            by=by,
            tz=tz,
            evse=evse,
            location=location,
            by_location=by_location,
            hold_after_gap=hold_after_gap,
        )
        return to_frame(relation, tz)

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
        window = self.window(start, end, by=by, tz=tz, kind=EntityKind.STATION)
        return uptime_report.uptime(
            self.engine, window, station=station, hold_after_gap=hold_after_gap
        )

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
        relation = self.uptime_relation(
            start, end, by=by, tz=tz, station=station, hold_after_gap=hold_after_gap
        )
        return to_frame(relation, tz)

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
        window = self.window(start, end, by=by, tz=tz, kind=EntityKind.STATION)
        return flaps_report.flaps(
            self.engine, window, settings, station=station, hold_after_gap=hold_after_gap
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
        relation = self.flaps_relation(
            start,
            end,
            by=by,
            tz=tz,
            station=station,
            flap_threshold=flap_threshold,
            flap_count=flap_count,
            flap_window=flap_window,
            flap_low_pct=flap_low_pct,
            flap_high_pct=flap_high_pct,
            hold_after_gap=hold_after_gap,
        )
        return to_frame(relation, tz)

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
        return reliability_module.compute_reliability(
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
        evse, location, station = parse_ids(evse), parse_ids(location), parse_ids(station)
        window = self._intervals_window(start, end, by, tz, evse, location, station)
        return intervals_report.intervals(
            self.engine,
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
        relation = self.intervals_relation(
            start,
            end,
            by=by,
            tz=tz,
            evse=evse,
            location=location,
            station=station,
            hold_after_gap=hold_after_gap,
        )
        return to_frame(relation, tz)

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
