"""California CEC filing export (`--export cec DIR`): the semiannual uptime report and the per-port
interval data of the CEC's EV Charger Data and Reliability Standards, from a `--standard cec`
reliability result.

The CEC publishes no machine-readable template evlog could copy, so the layout is evlog's own
(docs/reliability.md, "Export: --export cec DIR", gives each column's source and the rule text):

- `cec_<YYYY>-H<n>_ports.csv`: per port and half-year (January to June, July to December) of the
  report months, the 12-month figure and its verdict against 97 % from the row of the half's last
  report month, and the half-year's own minutes and figure from the sum of its months' rows;
- `cec_<YYYY>-H<n>_network.csv`: the network's row of the same;
- `cec_intervals_<YYYY-MM>.csv` (or `.parquet`): per port and 15-minute (or hourly) interval of
  each report month, the minutes observed, in outage, excluded, closed and not observed, cut from
  the report's own attributed outage segments (`ReliabilityResult.pieces`), so that they add up to
  the month's and the half-year's figures.

The interval files are written per month and per batch of ports, streamed from an in-process DuckDB
database to the file: a year of 10,000 ports never holds more than a batch in memory. Each file is
written atomically.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from evlog._errors import UsageError
from evlog._reports.files import export_directory, text_cell, write_csv_rows, write_file
from evlog._reports.reliability import ReliabilityResult, Standard, Unobserved
from evlog._time import from_micros, to_micros
from evlog._window import parse_choice

if TYPE_CHECKING:
    import duckdb
    import polars as pl
    import pyarrow as pa
    import pyarrow.parquet as pq

_PERIOD = ("half_year", "period_start", "period_end", "complete_half")
_HALF = (
    "half_uptime_pct",
    "half_outage_min",
    "half_excluded_min",
    "half_min",
    "half_measured_min",
    "half_coverage_pct",
    "unobserved_as",
)
PORTS_HEADER = (
    *_PERIOD,
    "port_id",
    "station_id",
    "location_id",
    "uptime_pct",
    "target_pct",
    "passed",
    "no_verdict_reason",
    "basis_start",
    "basis_end",
    "t_outage_min",
    "t_excluded_min",
    "denominator_min",
    "measured_min",
    "coverage_pct",
    *_HALF,
)
NETWORK_HEADER = (
    *_PERIOD,
    "ports",
    "ports_assessed",
    "ports_passed",
    "uptime_pct",
    "target_pct",
    "passed",
    "no_verdict_reason",
    "coverage_pct",
    *_HALF,
)
INTERVAL_HEADER = (
    "port_id",
    "station_id",
    "interval_start",
    "interval_end",
    "interval_min",
    "observed_min",
    "outage_min",
    "excluded_min",
    "counted_min",
    "closed_min",
    "no_data_min",
    "unobserved_min",
)
#: interval rows per DuckDB batch written (about 50 MB of Arrow)
BATCH_ROWS = 500_000


class Interval(StrEnum):
    """`--cec-interval`: the interval data's resolution."""

    QUARTER_HOUR = "15min"
    HOUR = "hour"

    @property
    def step_us(self) -> int:
        return (15 if self is Interval.QUARTER_HOUR else 60) * 60_000_000


class IntervalFormat(StrEnum):
    """`--cec-format`: the interval files' format (the semiannual files are always CSV)."""

    CSV = "csv"
    PARQUET = "parquet"


def parse_interval(value: str | Interval, flag: str = "--cec-interval") -> Interval:
    return parse_choice(Interval, value, flag)


def parse_interval_format(
    value: str | IntervalFormat, flag: str = "--cec-format"
) -> IntervalFormat:
    return parse_choice(IntervalFormat, value, flag)


def check_export(standard: str) -> None:
    """A CEC export files `--standard cec` figures; checked before any replay."""
    if standard != Standard.CEC.value:
        raise UsageError("--export cec: the CEC filing needs --standard cec")


# ------------------------------------------------------------------------------------------------
# the semiannual report


@dataclass(frozen=True)
class Half:
    """A half-year of the report months: its label (`2025-H1`) and the months in it, in order."""

    label: str
    months: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return len(self.months) == 6


def halves_of(months: list[str]) -> list[Half]:
    """The half-years of `months` (`YYYY-MM` labels), each with its months among them."""
    by_half: dict[str, list[str]] = {}
    for month in sorted(set(months)):
        by_half.setdefault(f"{month[:4]}-H{1 if int(month[5:]) <= 6 else 2}", []).append(month)
    return [Half(label, tuple(m)) for label, m in by_half.items()]


def _half_figure(
    outage: pl.Expr, excluded: pl.Expr, length: pl.Expr, measured: pl.Expr, unobserved: Unobserved
) -> pl.Expr:
    """The half-year's uptime, the report's month formula over the half's minutes:
    100 * (D - (outage - excluded)) / D, D = the measured minutes under `--unobserved excluded`,
    else the half's length (reliability_ports.sql, `month_uptime_pct`)."""
    import polars as pl

    denominator = measured if unobserved is Unobserved.EXCLUDED else length
    figure = 100.0 * (denominator - (outage - excluded)) / denominator
    return pl.when(denominator > 0).then(pl.max_horizontal(figure, pl.lit(0.0)))


def half_frames(result: ReliabilityResult, half: Half) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The half's port rows and network row: the 12-month columns of its last report month's
    rows, and the sums of its months' `month_*` columns (nothing computed twice)."""
    import polars as pl

    rows = result.frame.filter(pl.col("report_month").is_in(half.months))
    sums = rows.group_by("scope", "port_id").agg(
        pl.col("month_outage_min").sum().alias("half_outage_min"),
        pl.col("month_excluded_min").sum().alias("half_excluded_min"),
        pl.col("month_min").sum().alias("half_min"),
        pl.col("month_measured_min").sum().alias("half_measured_min"),
    )
    last = rows.filter(pl.col("report_month") == half.months[-1])
    joined = last.join(sums, on=["scope", "port_id"], how="left", nulls_equal=True).with_columns(
        _half_figure(
            pl.col("half_outage_min"),
            pl.col("half_excluded_min"),
            pl.col("half_min"),
            pl.col("half_measured_min"),
            result.unobserved,
        ).alias("half_uptime_pct"),
        (100.0 * pl.col("half_measured_min") / pl.col("half_min")).alias("half_coverage_pct"),
    )
    ports = joined.filter(pl.col("scope") == "port").sort("station_id", "port_id", nulls_last=True)
    # the network's half-year figure: the mean of its ports' (as the report's network figure)
    network = joined.filter(pl.col("scope") == "network").with_columns(
        pl.lit(ports.get_column("half_uptime_pct").mean(), pl.Float64).alias("half_uptime_pct")
    )
    return ports, network


def _first_days(month: str) -> tuple[date, date]:
    """The first day of a `YYYY-MM` month and of the month after it."""
    first = date.fromisoformat(f"{month}-01")
    return first, date(first.year + first.month // 12, first.month % 12 + 1, 1)


def _period(half: Half) -> list[str]:
    """half_year, period_start, period_end (exclusive) and complete_half of `half`."""
    first, _ = _first_days(half.months[0])
    _, after = _first_days(half.months[-1])
    return [half.label, first.isoformat(), after.isoformat(), text_cell(half.complete)]


def _figures(row: dict[str, Any], names: tuple[str, ...]) -> list[str]:
    """The cells of `names` (minutes to 3 decimals, percentages to 4, coverage to 2)."""
    cells = []
    for name in names:
        value = row[name]
        if name in ("basis_start", "basis_end") and value is not None:
            cells.append(value.date().isoformat())
        elif name == "target_pct":
            cells.append(text_cell(value, 0))
        elif name.endswith("coverage_pct"):
            cells.append(text_cell(value, 2))
        elif name.endswith("_pct"):
            cells.append(text_cell(value, 4))
        else:
            cells.append(text_cell(value))
    return cells


def _port_rows(half: Half, ports: pl.DataFrame) -> list[list[str]]:
    period = _period(half)
    return [
        [*period, *_figures(r, PORTS_HEADER[len(_PERIOD) :])] for r in ports.iter_rows(named=True)
    ]


def _network_row(half: Half, network: pl.DataFrame) -> list[str]:
    period = _period(half)
    return [*period, *_figures(network.row(0, named=True), NETWORK_HEADER[len(_PERIOD) :])]


# ------------------------------------------------------------------------------------------------
# the interval data

# Parameters: $month_start, $step (µs), $first, $last (the batch's port indexes). Tables: `pieces`
# (port_index, s, e, kind: the month's pieces), `ports` (port_index, port_id, station_id), `grid`
# (k, s_us, e_us, interval_start, interval_end: the month's intervals).
_INTERVAL_ROWS = """
WITH cut AS (
    SELECT p.port_index, p.kind, g.k, least(p.e, g.e_us) - greatest(p.s, g.s_us) AS us
    FROM (
        SELECT
            port_index,
            kind,
            s,
            e,
            unnest(range((s - $month_start) // $step, (e - 1 - $month_start) // $step + 1)) AS k
        FROM pieces
        WHERE port_index >= $first AND port_index < $last
    ) AS p
    JOIN grid AS g USING (k)
),
sparse AS (
    SELECT
        port_index,
        k,
        coalesce(sum(us) FILTER (WHERE kind = 'outage'), 0) AS outage_us,
        coalesce(sum(us) FILTER (WHERE kind = 'excluded'), 0) AS excluded_us,
        coalesce(sum(us) FILTER (WHERE kind = 'closed'), 0) AS closed_us,
        coalesce(sum(us) FILTER (WHERE kind = 'no_data'), 0) AS no_data_us,
        coalesce(sum(us) FILTER (WHERE kind = 'unobserved'), 0) AS unobserved_us
    FROM cut
    GROUP BY port_index, k
)
SELECT
    p.port_id,
    p.station_id,
    g.interval_start,
    g.interval_end,
    (g.e_us - g.s_us) / 60e6 AS interval_min,
    (g.e_us - g.s_us - coalesce(t.no_data_us, 0) - coalesce(t.unobserved_us, 0)) / 60e6
        AS observed_min,
    coalesce(t.outage_us, 0) / 60e6 AS outage_min,
    coalesce(t.excluded_us, 0) / 60e6 AS excluded_min,
    (coalesce(t.outage_us, 0) - coalesce(t.excluded_us, 0)) / 60e6 AS counted_min,
    coalesce(t.closed_us, 0) / 60e6 AS closed_min,
    coalesce(t.no_data_us, 0) / 60e6 AS no_data_min,
    coalesce(t.unobserved_us, 0) / 60e6 AS unobserved_min
FROM ports AS p
CROSS JOIN grid AS g
LEFT JOIN sparse AS t ON t.port_index = p.port_index AND t.k = g.k
WHERE p.port_index >= $first AND p.port_index < $last
ORDER BY p.port_index, g.k
"""


def _month_bounds(month: str, zone: ZoneInfo) -> tuple[int, int]:
    """[start, end) of a `YYYY-MM` month in `zone`, epoch microseconds."""
    first, after = (
        to_micros(datetime(d.year, d.month, d.day, tzinfo=zone)) for d in _first_days(month)
    )
    return first, after


def _stamp(us: int, zone: ZoneInfo) -> str:
    return from_micros(us).astimezone(zone).isoformat(timespec="seconds")


def month_grid(
    month: str, zone: ZoneInfo, interval: Interval, file_format: IntervalFormat
) -> pa.Table:
    """The intervals of `month`: `step`-long from its local midnight, the last one cut at the
    month's end (a month is a whole number of quarter-hours in every zone), with their start and
    end as ISO 8601 text with the offset in `zone` (CSV) or as epoch microseconds (Parquet,
    `_in_zone` makes them timestamps)."""
    import pyarrow as pa

    start, end = _month_bounds(month, zone)
    starts = list(range(start, end, interval.step_us))
    ends = [min(s + interval.step_us, end) for s in starts]
    if file_format is IntervalFormat.CSV:
        labels: tuple[pa.Array[Any], pa.Array[Any]] = (
            pa.array([_stamp(s, zone) for s in starts], pa.string()),
            pa.array([_stamp(e, zone) for e in ends], pa.string()),
        )
    else:  # made timestamps in `zone` after DuckDB (which would give them in its own zone)
        labels = (pa.array(starts, pa.int64()), pa.array(ends, pa.int64()))
    return pa.table(
        {
            "k": pa.array(range(len(starts)), pa.int64()),
            "s_us": pa.array(starts, pa.int64()),
            "e_us": pa.array(ends, pa.int64()),
            "interval_start": labels[0],
            "interval_end": labels[1],
        }
    )


def _in_zone(table: pa.Table, zone: ZoneInfo) -> pa.Table:
    """`table` with its epoch-microsecond interval bounds as timestamps in `zone`."""
    import pyarrow as pa

    for name in ("interval_start", "interval_end"):
        column = table.column(name).cast(pa.timestamp("us", tz=zone.key))
        table = table.set_column(table.schema.get_field_index(name), name, column)
    return table


def _batches(
    con: duckdb.DuckDBPyConnection,
    ports: int,
    month_start: int,
    interval: Interval,
    n: int,
    finish: Callable[[pa.Table], pa.Table],
) -> Iterator[pa.Table]:
    """The month's interval rows, a batch of ports at a time (at least one batch, maybe empty,
    so that a file has its columns), each passed through `finish`."""
    size = max(1, BATCH_ROWS // max(n, 1))
    for first in range(0, max(ports, 1), size):
        params = {
            "month_start": month_start,
            "step": interval.step_us,
            "first": first,
            "last": first + size,
        }
        yield finish(con.sql(_INTERVAL_ROWS, params=params).to_arrow_table())


def _as_is(table: pa.Table) -> pa.Table:
    return table


def _csv_writer(batches: Iterator[pa.Table]) -> Callable[[Path], object]:
    import polars as pl

    def write(tmp: Path) -> None:
        with tmp.open("wb") as handle:
            for number, batch in enumerate(batches):
                _write_csv(pl.from_arrow(batch), handle, number == 0)

    return write


def _write_csv(frame: pl.DataFrame | pl.Series, handle: IO[bytes], header: bool) -> None:
    import polars as pl

    assert isinstance(frame, pl.DataFrame)
    frame.write_csv(handle, include_header=header)


def _parquet_writer(batches: Iterator[pa.Table]) -> Callable[[Path], object]:
    import pyarrow.parquet as pq

    def write(tmp: Path) -> None:
        writer: pq.ParquetWriter | None = None
        try:
            for batch in batches:
                if writer is None:
                    writer = pq.ParquetWriter(tmp, batch.schema)
                writer.write_table(batch)
        finally:
            if writer is not None:
                writer.close()

    return write


def write_intervals(
    result: ReliabilityResult,
    target: Path,
    interval: Interval,
    file_format: IntervalFormat,
) -> list[Path]:
    """`cec_intervals_<YYYY-MM>.<csv|parquet>` for every report month, in `target`."""
    import polars as pl

    from evlog._lake import duck

    zone = result.tz
    ports = (
        result.frame.filter(pl.col("scope") == "port")
        .select("port_id", "station_id")
        .unique()
        .sort("station_id", "port_id", nulls_last=True)
        .with_row_index("port_index")
        .with_columns(pl.col("port_index").cast(pl.Int64))
    )
    pieces = result.pieces.join(ports.select("port_id", "port_index"), on="port_id")
    months = sorted(set(result.frame.get_column("report_month").to_list()))
    paths: list[Path] = []
    con = duck.connect()
    try:
        con.register("ports", ports.to_arrow())
        for month in months:
            start, _ = _month_bounds(month, zone)
            grid = month_grid(month, zone, interval, file_format)
            month_pieces = pieces.filter(pl.col("month_label") == month).select(
                "port_index", "s", "e", "kind"
            )
            con.register("grid", grid)
            con.register("pieces", month_pieces.to_arrow())
            path = target / f"cec_intervals_{month}.{file_format.value}"
            if file_format is IntervalFormat.CSV:
                batches = _batches(con, ports.height, start, interval, grid.num_rows, _as_is)
                writer = _csv_writer(batches)
            else:
                finish = partial(_in_zone, zone=zone)
                batches = _batches(con, ports.height, start, interval, grid.num_rows, finish)
                writer = _parquet_writer(batches)
            write_file(path, writer, "export")
            paths.append(path)
            con.unregister("grid")
            con.unregister("pieces")
    finally:
        con.close()
    return paths


# ------------------------------------------------------------------------------------------------
# the export


def export_cec(
    result: ReliabilityResult,
    directory: str | os.PathLike[str],
    *,
    interval: str | Interval = Interval.QUARTER_HOUR,
    file_format: str | IntervalFormat = IntervalFormat.CSV,
) -> list[Path]:
    """Write the semiannual files of every half-year of the report months and the interval files
    of every report month (module docstring) in `directory`, each atomically; returns the paths.
    `result`: a `--standard cec` result with its interval pieces (the API's
    `reliability_report("cec", ...)`)."""
    check_export(result.rule.standard.value)
    step = parse_interval(interval)
    kind = parse_interval_format(file_format)
    _ = result.pieces  # before anything is written: a result without them is an error
    target = export_directory(directory)
    paths: list[Path] = []
    for half in halves_of(result.frame.get_column("report_month").to_list()):
        ports, network = half_frames(result, half)
        stem = target / f"cec_{half.label}"
        files = {
            Path(f"{stem}_ports.csv"): (PORTS_HEADER, _port_rows(half, ports)),
            Path(f"{stem}_network.csv"): (NETWORK_HEADER, [_network_row(half, network)]),
        }
        for path, (header, rows) in files.items():
            write_csv_rows(path, header, rows, "export")
            paths.append(path)
    return [*paths, *write_intervals(result, target, step, kind)]
