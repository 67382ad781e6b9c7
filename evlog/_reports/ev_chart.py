"""EV-ChART filing export (`--export ev-chart DIR`): Module 3 (uptime) and Module 4 (outages) CSVs
per calendar quarter, checked against EV-ChART's own validation rules before anything is written,
and the Joint Office dashboard's reliability figures predicted from exactly those rows.

EV-ChART is the Joint Office's collection tool for the 23 CFR 680.112 data; its code is public
(github.com/US-JOET/ev-chart-open-source). The rules below were read from it once and written down
as data (`MODULE3`, `MODULE4`; `exclusions.EXCLUSION_REASONS`); evlog never reads that repository
at run time.
Where each rule comes from (paths in that repository):

- fields, types, precision/scale, minimums, nullability: `source/lambda_layers/python/
  database_central_config/database_central_config.json` (`module3_data_v3`, `module4_data_v3`:
  `module_validation.default`, and `rds_column_type` for the columns it does not validate,
  `network_provider` varchar(30) and `station_id_upload` varchar(36));
- how a cell is checked: `module_validation/__init__.py` (`_string_data_is_valid`,
  `_datetime_is_valid` with its regex, `_decimal_data_is_valid`: digits before the point at most
  precision - scale, after it at most scale; `_integer_data_is_valid`, `_boolean_data_is_valid`:
  the words TRUE or FALSE only);
- row rules: `validate_m3` (uptime may be empty only for a station operational for less than one
  year before `uptime_reporting_start`), `validate_m4` (`outage_id` and `outage_duration` are both
  given or both empty), `unique_constraint` (M3: station, port, start, end; M4: station,
  outage_id, port; a station is its `station_id` and `network_provider`);
- dashboard figures: `source/lambda_functions/APIGetDashboardPPReliability/index.py` (the same
  functions as `APIGetDashboardProgramPerformance`), reproduced in `dashboard_figures`.

docs/reliability.md ("Export: --export ev-chart DIR") gives each column's source and every choice
made where EV-ChART is silent.
"""

from __future__ import annotations

import calendar
import csv
import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from evlog._errors import ExportError, UsageError
from evlog._reports.exclusions import EXCLUSION_REASONS, Cause, csv_columns, read_csv_rows
from evlog._reports.files import export_directory, write_csv_rows, write_file

if TYPE_CHECKING:
    from evlog._reports.reliability import ReliabilityResult

Row = dict[str, str]


class Kind(StrEnum):
    """EV-ChART's datatypes (`module_validation.validated_field`)."""

    STRING = "string"
    DATETIME = "datetime"
    DECIMAL = "decimal"
    INTEGER = "integer"
    BOOLEAN = "boolean"


@dataclass(frozen=True)
class Field:
    """One column and the checks EV-ChART makes of its cells."""

    name: str
    kind: Kind
    empty_allowed: bool = False  # not required, or `required_empty_allowed`
    max_length: int | None = None
    precision: int | None = None
    scale: int | None = None
    min_value: float | None = None
    max_value: float | None = None

    @property
    def rule(self) -> str:
        """The rule as EV-ChART's definition states it, for error messages."""
        if self.kind is Kind.DECIMAL:
            text = f"decimal({self.precision},{self.scale})"
        elif self.kind is Kind.STRING and self.max_length is not None:
            text = f"string of at most {self.max_length} characters"
        elif self.kind is Kind.DATETIME:
            text = "datetime YYYY-MM-DDTHH:MM:SS[.f][Z]"
        elif self.kind is Kind.BOOLEAN:
            text = "boolean TRUE or FALSE"
        else:
            text = str(self.kind)
        if self.min_value is not None:
            text += f", >= {self.min_value:g}"
        if self.max_value is not None:
            text += f", <= {self.max_value:g}"
        return text + (", may be empty" if self.empty_allowed else ", required")


@dataclass(frozen=True)
class Module:
    """An EV-ChART module's upload: its columns in order and the key no two rows may share."""

    number: int
    title: str
    fields: tuple[Field, ...]
    unique_key: tuple[str, ...]

    @property
    def header(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)


_STATION = Field("station_id", Kind.STRING, max_length=36)  # station_id_upload varchar(36)
_PORT = Field("port_id", Kind.STRING, max_length=36)
_PROVIDER = Field("network_provider", Kind.STRING, max_length=30)  # varchar(30)

MODULE3 = Module(
    3,
    "uptime",
    (
        _STATION,
        _PORT,
        _PROVIDER,
        Field("uptime_reporting_start", Kind.DATETIME),
        Field("uptime_reporting_end", Kind.DATETIME),
        Field("uptime", Kind.DECIMAL, empty_allowed=True, precision=5, scale=2, min_value=0),
        Field("total_outage", Kind.DECIMAL, precision=8, scale=2, min_value=0),
        Field("total_outage_excl", Kind.DECIMAL, precision=8, scale=2, min_value=0),
    ),
    ("station_id", "network_provider", "port_id", "uptime_reporting_start", "uptime_reporting_end"),
)
MODULE4 = Module(
    4,
    "outages",
    (
        _STATION,
        _PORT,
        _PROVIDER,
        Field("outage_id", Kind.DATETIME, empty_allowed=True),
        Field(
            "outage_duration",
            Kind.DECIMAL,
            empty_allowed=True,
            precision=8,
            scale=2,
            min_value=0.01,
        ),
        Field("excluded_outage", Kind.BOOLEAN, empty_allowed=True),
        Field("excluded_outage_reason", Kind.INTEGER, empty_allowed=True, min_value=1, max_value=6),
        Field("excluded_outage_notes", Kind.STRING, empty_allowed=True, max_length=255),
    ),
    ("station_id", "network_provider", "outage_id", "port_id"),
)

UPTIME_REQUIRED = "Stations operational for at least 1 year must report uptime (validate_m3)"
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z?$")
OPERATIONAL_DATE_COLUMNS = ("station_id", "operational_date")
DASHBOARD_FILE = "ev_chart_dashboard.json"


# ------------------------------------------------------------------------------------------------
# validation


def cell_problem(field: Field, value: str) -> str | None:
    """Why EV-ChART rejects `value` in `field`, or None if it accepts it."""
    if value == "":
        return None if field.empty_allowed else "is empty"
    if field.kind is Kind.STRING:
        if field.max_length is not None and len(value) > field.max_length:
            return f"is {len(value)} characters long"
        if value.isspace() and not field.empty_allowed:  # checked of required strings only
            return "is only whitespace"
    elif field.kind is Kind.DATETIME:
        try:
            datetime.fromisoformat(value)
        except ValueError:
            return "is not a timestamp"
        if not _DATETIME.match(value):
            return "is not of the form YYYY-MM-DDTHH:MM:SS[.f][Z]"
    elif field.kind is Kind.DECIMAL:
        return _decimal_problem(field, value)
    elif field.kind is Kind.INTEGER:
        try:
            number = int(value)
        except ValueError:
            return "is not a whole number"
        return _range_problem(field, number)
    elif value.upper() not in ("TRUE", "FALSE"):
        return "is not TRUE or FALSE"
    return None


def _decimal_problem(field: Field, value: str) -> str | None:
    try:
        number = float(value)
    except ValueError:
        return "is not a decimal"
    if not math.isfinite(number):  # MySQL's decimal column holds no NaN or infinity
        return "is not a finite decimal"
    whole, _, fraction = value.partition(".")
    digits = len(whole) - (whole[:1] in ("-", "+"))
    assert field.precision is not None and field.scale is not None
    if digits > field.precision - field.scale:
        return f"has more than {field.precision - field.scale} digits before the point"
    if len(fraction) > field.scale:
        return f"has more than {field.scale} decimal places"
    return _range_problem(field, number)


def _range_problem(field: Field, number: float) -> str | None:
    if field.min_value is not None and number < field.min_value:
        return f"is below {field.min_value:g}"
    if field.max_value is not None and number > field.max_value:
        return f"is above {field.max_value:g}"
    return None


def _add_years(day: date, years: int) -> date:
    """`day` plus `years` calendar years, 29 February onto the 28th (as dateutil's relativedelta,
    which EV-ChART uses)."""
    last = calendar.monthrange(day.year + years, day.month)[1]
    return day.replace(year=day.year + years, day=min(day.day, last))


def _where(module: Module, file: str, line: int, row: Mapping[str, str]) -> str:
    return (
        f"--export ev-chart: {file}:{line} (station {row.get('station_id', '')!r}, "
        f"port {row.get('port_id', '')!r}): module {module.number}"
    )


def validate(
    module: Module, rows: Sequence[Mapping[str, str]], file: str, operational: Mapping[str, date]
) -> None:
    """Check `rows` (the cells as they will be written) as EV-ChART checks an upload of `module`;
    the first row it would reject raises `ExportError` naming the file, the line (the header is
    line 1, as EV-ChART's `error_row` counts) and the rule. `operational`: each station's
    operational date (EV-ChART's station registration), for the uptime rule."""
    seen: dict[tuple[str, ...], int] = {}
    for line, row in enumerate(rows, start=2):
        where = _where(module, file, line, row)
        for field in module.fields:
            value = row.get(field.name, "")
            problem = cell_problem(field, value)
            if problem is not None:
                raise ExportError(f"{where} {field.name} {value!r} {problem} ({field.rule})")
        if module is MODULE3 and row["uptime"] == "":
            _check_uptime_may_be_empty(row, operational, where)
        if module is MODULE4 and (row["outage_id"] == "") != (row["outage_duration"] == ""):
            raise ExportError(
                f"{where}: outage_id and outage_duration must both be given or both be empty "
                "(validate_m4)"
            )
        key = tuple(row[name] for name in module.unique_key)
        if key in seen:
            raise ExportError(
                f"{where}: same {', '.join(module.unique_key)} as line {seen[key]} "
                "(EV-ChART's unique key: a duplicate row)"
            )
        seen[key] = line


def _check_uptime_may_be_empty(
    row: Mapping[str, str], operational: Mapping[str, date], where: str
) -> None:
    start = datetime.fromisoformat(row["uptime_reporting_start"]).date()
    opened = operational.get(row["station_id"])
    if opened is None:
        raise ExportError(
            f"{where} uptime is empty and the station has no operational date: "
            f"{UPTIME_REQUIRED}; give it in --operational-dates"
        )
    if opened < _add_years(start, -1):
        raise ExportError(
            f"{where} uptime is empty but the station was operational on {opened}, "
            f"more than a year before {start}: {UPTIME_REQUIRED}"
        )


# ------------------------------------------------------------------------------------------------
# rows


def _stamp(value: datetime) -> str:
    """EV-ChART's datetime: UTC, whole seconds, `Z` (the sample uploads' `2023-07-03T12:51:48Z`)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _decimal(value: float | None) -> str:
    """Two decimals (EV-ChART's scale); empty for a null."""
    if value is None:
        return ""
    return f"{value:.2f}"


def _duration(minutes: float) -> str:
    """An outage's minutes, two decimals; a real outage shorter than 0.005 min is written 0.01
    (EV-ChART's minimum) rather than 0.00, so no outage is dropped or understated."""
    return _decimal(max(round(minutes, 2), 0.01) if minutes > 0 else minutes)


def _quarter(day: date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def _quarter_start(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def _next_quarter(day: date) -> date:
    start = _quarter_start(day)
    index = start.year * 12 + start.month - 1 + 3
    return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class Filing:
    """One quarter's Module 3 and Module 4 rows, cells as written."""

    quarter: str
    module3: list[Row]
    module4: list[Row]

    @property
    def files(self) -> tuple[str, str]:
        return f"module3_uptime_{self.quarter}.csv", f"module4_outages_{self.quarter}.csv"


def _exclusion_cells(causes: str, exempted: float, duration: float) -> tuple[str, str, str]:
    """excluded_outage, excluded_outage_reason, excluded_outage_notes of an outage."""
    if exempted <= 0:
        return "FALSE", "", ""
    named = [Cause(c) for c in causes.split(";") if c in Cause._value2member_map_]
    named.sort(key=lambda c: EXCLUSION_REASONS[c])
    reason = str(EXCLUSION_REASONS[named[0]]) if named else ""
    note = f"{';'.join(c.value for c in named)}: {exempted:.2f} of {duration:.2f} min excluded"
    return "TRUE", reason, note


def _ports_rows(result: ReliabilityResult, provider: str) -> dict[str, list[Row]]:
    import polars as pl

    ports = result.frame.filter(pl.col("scope") == "port").sort(
        "station_id", "port_id", "report_month"
    )
    by_quarter: dict[str, list[Row]] = {}
    for r in ports.iter_rows(named=True):
        month = date.fromisoformat(f"{r['report_month']}-01")
        by_quarter.setdefault(_quarter(month), []).append(
            {
                "station_id": r["station_id"] or "",
                "port_id": r["port_id"] or "",
                "network_provider": provider,
                "uptime_reporting_start": _stamp(r["basis_start"]),
                # the period's last second: EV-ChART's dashboard reads the end's year as the
                # reporting year, which the exclusive end (next 1 January) would get wrong
                "uptime_reporting_end": _stamp(r["basis_end"] - timedelta(seconds=1)),
                "uptime": _decimal(r["uptime_pct"]),
                "total_outage": _decimal(r["t_outage_min"]),
                "total_outage_excl": _decimal(r["t_excluded_min"]),
            }
        )
    return by_quarter


def _outage_rows(result: ReliabilityResult, provider: str, zone: ZoneInfo) -> dict[str, list[Row]]:
    """Module 4 rows by quarter: an outage crossing a quarter's start is one row in each quarter
    (its `outage_id` there is the quarter's start), as the report clips outages to its months."""
    by_quarter: dict[str, list[Row]] = {}
    for o in result.outages.iter_rows(named=True):
        start: datetime = o["outage_start"]
        end: datetime = o["outage_end"]
        exclusion = _exclusion_cells(
            o["outage_cause"] or "", o["exempted_outage"] or 0.0, o["outage_duration"]
        )
        piece_start = start
        while piece_start < end:
            boundary = _next_quarter(piece_start.astimezone(zone).date())
            piece_end = min(end, datetime(boundary.year, boundary.month, 1, tzinfo=zone))
            minutes = (piece_end - piece_start) / timedelta(minutes=1)
            by_quarter.setdefault(_quarter(piece_start.astimezone(zone).date()), []).append(
                {
                    "station_id": o["station_id"] or "",
                    "port_id": o["port_id"] or "",
                    "network_provider": provider,
                    "outage_id": _stamp(piece_start),
                    "outage_duration": _duration(minutes),
                    "excluded_outage": exclusion[0],
                    "excluded_outage_reason": exclusion[1],
                    "excluded_outage_notes": exclusion[2],
                }
            )
            piece_start = piece_end
    return by_quarter


def build_filings(result: ReliabilityResult, network_provider: str) -> list[Filing]:
    """The Module 3 and 4 rows of every quarter the report months touch (not yet validated).

    Module 3: one row per port and report month, its figure over the month's 680.116(b) basis
    (the twelve months ending with it: EV-ChART's dashboard takes only rows spanning a year as
    official). Module 4: one row per outage (piece) in the quarter, and for a port without any a
    row with `outage_id` and `outage_duration` empty (EV-ChART's "no outage" row, `validate_m4`)."""
    ports = _ports_rows(result, network_provider)
    outages = _outage_rows(result, network_provider, result.tz)
    filings = []
    for quarter in sorted(ports):
        m4 = sorted(
            outages.get(quarter, []), key=lambda r: (r["station_id"], r["port_id"], r["outage_id"])
        )
        with_outages = {(r["station_id"], r["port_id"]) for r in m4}
        idle = sorted({(r["station_id"], r["port_id"]) for r in ports[quarter]} - with_outages)
        m4 += [
            {
                "station_id": station,
                "port_id": port,
                "network_provider": network_provider,
                **dict.fromkeys(MODULE4.header[3:], ""),
            }
            for station, port in idle
        ]
        filings.append(Filing(quarter, ports[quarter], m4))
    return filings


# ------------------------------------------------------------------------------------------------
# operational dates


def load_operational_dates(path: str | os.PathLike[str]) -> dict[str, date]:
    """`--operational-dates CSV`: `station_id,operational_date` (ISO date, or a time: its date),
    the date each station is registered as operational in EV-ChART (Module 1)."""
    target = Path(path)
    flag = "--operational-dates"
    rows = read_csv_rows(target, flag)
    columns = csv_columns(rows, target, flag, OPERATIONAL_DATE_COLUMNS)
    dates: dict[str, date] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= max(columns.values()):
            raise UsageError(f"{flag}: {target}:{line}: expected {len(rows[0])} fields")
        station = row[columns["station_id"]].strip()
        text = row[columns["operational_date"]].strip()
        try:
            day = datetime.fromisoformat(text).date()
        except ValueError:
            raise UsageError(
                f"{flag}: {target}:{line}: operational_date is not an ISO date: {text!r}"
            ) from None
        if not station:
            raise UsageError(f"{flag}: {target}:{line}: station_id is empty")
        if dates.get(station, day) != day:
            raise UsageError(f"{flag}: {target}:{line}: station {station!r} has two dates")
        dates[station] = day
    return dates


def parse_operational_dates(
    value: str | os.PathLike[str] | Mapping[str, date] | None, flag: str = "--operational-dates"
) -> dict[str, date]:
    if value is None:
        return {}
    if isinstance(value, str | os.PathLike):
        return load_operational_dates(value)
    return dict(value)


# ------------------------------------------------------------------------------------------------
# the dashboard


def prior_quarter_window(today: date) -> tuple[date, date]:
    """EV-ChART's `get_prior_quarter_window`: the twelve months ending with the last complete
    quarter before `today`, both days inclusive."""
    start = _add_years(_quarter_start(today), -1)
    return start, _quarter_start(today) - timedelta(days=1)


def _when(text: str) -> datetime:
    """A written timestamp as EV-ChART's MySQL datetime column gives it back: naive, UTC."""
    return datetime.fromisoformat(text).astimezone(UTC).replace(tzinfo=None)


def _shares(meeting: int, ports: int) -> dict[str, float]:
    share = round(float(meeting / ports), 2)
    return {
        "percentage_ports_meeting_uptime_req": share,
        "percentage_ports_not_meeting_uptime_req": round(1.0 - share, 2),
    }


def _unavailable() -> dict[str, Any]:
    return {
        "reliability_metrics_available": False,
        "total_ports_with_uptime_activity": 0,
        "percentage_ports_not_meeting_uptime_req": None,
        "percentage_ports_meeting_uptime_req": None,
    }


def official_uptime(
    module3: Iterable[Mapping[str, str]], operational: Mapping[str, date], reporting_year: int
) -> dict[str, Any]:
    """`count_section3_uptime_most_recent` then `count_section3_official_reliability`: per port
    the latest row that spans a year and ends at least a year after the operational date (and
    in or before `reporting_year`); a port meets the requirement with uptime >= 97."""
    latest: dict[tuple[str, str], tuple[datetime, Decimal | None]] = {}
    for row in module3:
        opened = operational.get(row["station_id"])
        if opened is None:
            continue  # not registered: EV-ChART would not have accepted the row
        start, end = _when(row["uptime_reporting_start"]), _when(row["uptime_reporting_end"])
        spans_year = end >= datetime.combine(_add_years(start.date(), 1), start.time()) - timedelta(
            days=1
        )
        operating_year = end.date() >= _add_years(opened, 1) - timedelta(days=1)
        if not (operating_year and end.year <= reporting_year and spans_year):
            continue
        key = (row["station_id"], row["port_id"])
        if key in latest and end < latest[key][0]:
            continue
        latest[key] = (end, Decimal(row["uptime"]) if row["uptime"] else None)
    uptimes = {key: up for key, (_, up) in latest.items() if up is not None}
    if not uptimes:
        return _unavailable()
    meeting = sum(1 for up in uptimes.values() if up >= 97)
    return {
        "reliability_metrics_available": True,
        "num_ports_meeting_uptime_req": meeting,
        "total_ports_with_uptime_activity": len(uptimes),
        **_shares(meeting, len(uptimes)),
    }


def unofficial_uptime(
    module4: Iterable[Mapping[str, str]], operational: Mapping[str, date], today: date
) -> dict[str, Any]:
    """`count_section3_reliability` over `get_unofficial_port_uptime_data`: per port with an
    outage in the prior-quarter window (on or after its operational date), the sum of its outage
    minutes (excluded ones too) over the whole days from the operational date to the window's end;
    a port meets the requirement with a ratio <= 0.03. Ports without outages are not counted."""
    first, last = prior_quarter_window(today)
    minutes: dict[tuple[str, str], Decimal] = {}
    opened_on: dict[tuple[str, str], date] = {}
    for row in module4:
        opened = operational.get(row["station_id"])
        if opened is None or not row["outage_id"] or not row["outage_duration"]:
            continue
        outage = _when(row["outage_id"])
        if datetime.combine(opened, datetime.min.time()) > outage:  # operational_date <= outage_id
            continue
        if not first <= outage.date() <= last:
            continue
        key = (row["station_id"], row["port_id"])
        minutes[key] = minutes.get(key, Decimal(0)) + Decimal(row["outage_duration"])
        opened_on[key] = opened
    active = meeting = 0
    for key, total in minutes.items():
        most = (last - opened_on[key]).days * 1440
        if most > 0:
            active += 1
            meeting += total / most <= Decimal("0.03")
    if active == 0:
        return _unavailable()
    return {
        "reliability_metrics_available": True,
        "num_ports_meeting_uptime_req": meeting,
        "total_ports_with_uptime_activity": active,
        **_shares(meeting, len(minutes)),
    }


def average_outage(module4: Iterable[Mapping[str, str]]) -> float | None:
    """`get_outage_data`: the mean `outage_duration` of outages longer than 0, two decimals."""
    durations = [Decimal(r["outage_duration"]) for r in module4 if r["outage_duration"]]
    positive = [d for d in durations if d > 0]
    return round(float(sum(positive) / len(positive)), 2) if positive else None


def dashboard_figures(
    module3: Sequence[Mapping[str, str]],
    module4: Sequence[Mapping[str, str]],
    operational: Mapping[str, date],
    today: date,
) -> dict[str, Any]:
    """What EV-ChART's Program Performance dashboard (reliability section) shows on `today` if
    these were all the Module 3 and 4 rows submitted (`reporting_year`: `today`'s, its default)."""
    first, last = prior_quarter_window(today)
    stations = {r["station_id"] for r in (*module3, *module4)}
    return {
        "today": today.isoformat(),
        "reporting_year": today.year,
        "unofficial_window": {"start": first.isoformat(), "end": last.isoformat()},
        "official_uptime": official_uptime(module3, operational, today.year),
        "unofficial_uptime": unofficial_uptime(module4, operational, today),
        "avg_outage": average_outage(module4),
        "stations_without_operational_date": sorted(stations - set(operational)),
    }


# ------------------------------------------------------------------------------------------------
# the export


def check_export(standard: str, network_provider: str | None) -> str:
    """What an EV-ChART export needs, checked before any replay: NEVI figures (EV-ChART collects
    the 23 CFR 680.112 data) and a network provider; returns the provider."""
    if standard != "nevi":
        raise UsageError("--export ev-chart: EV-ChART files NEVI figures; use --standard nevi")
    provider = (network_provider or "").strip()
    if not provider:
        raise UsageError("--network-provider: required with --export ev-chart")
    return provider


def export_ev_chart(
    result: ReliabilityResult,
    directory: str | os.PathLike[str],
    *,
    network_provider: str,
    operational_dates: str | os.PathLike[str] | Mapping[str, date] | None = None,
    today: date | None = None,
) -> list[Path]:
    """Write `module3_uptime_<YYYY-Qn>.csv` and `module4_outages_<YYYY-Qn>.csv` for every quarter
    of the report months, and `ev_chart_dashboard.json` (`write_dashboard`: the figures of every
    EV-ChART file in `directory`, earlier quarters' exports too); returns the paths. Every row is
    validated first: a row EV-ChART would reject raises `ExportError` and nothing is written.
    Each file is written atomically."""
    provider = check_export(result.rule.standard.value, network_provider)
    operational = parse_operational_dates(operational_dates)
    filings = build_filings(result, provider)
    files = [
        (module, rows, name)
        for filing in filings
        for module, rows, name in zip(
            (MODULE3, MODULE4), (filing.module3, filing.module4), filing.files, strict=True
        )
    ]
    for module, rows, name in files:  # every row, before any file is written
        validate(module, rows, name, operational)
    target = export_directory(directory)
    paths: list[Path] = []
    for module, rows, name in files:
        cells = ([row[column] for column in module.header] for row in rows)
        write_csv_rows(target / name, module.header, cells, "export")
        paths.append(target / name)
    dashboard = write_dashboard(target, operational, today)
    return [*paths, dashboard]


_FILE = re.compile(
    r"^module(?P<module>[34])_(?:uptime|outages)_(?P<year>\d{4})-Q(?P<q>[1-4])\.csv$"
)


def read_filings(directory: str | os.PathLike[str]) -> tuple[list[Row], list[Row], date | None]:
    """Every Module 3 and Module 4 row of the EV-ChART files in `directory` (this export's and
    any earlier quarter's), and the first day after the latest quarter among them."""
    module3: list[Row] = []
    module4: list[Row] = []
    after: date | None = None
    for path in sorted(Path(directory).iterdir()):
        match = _FILE.match(path.name)
        if match is None:
            continue
        try:
            with path.open(newline="", encoding="utf-8") as handle:
                rows = [dict(row) for row in csv.DictReader(handle)]
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise ExportError(f"--export ev-chart: cannot read {path}: {exc}") from None
        (module3 if match["module"] == "3" else module4).extend(rows)
        ends = _next_quarter(date(int(match["year"]), 3 * int(match["q"]), 1))
        after = ends if after is None else max(after, ends)
    return module3, module4, after


def write_dashboard(
    directory: Path, operational: Mapping[str, date], today: date | None = None
) -> Path:
    """`ev_chart_dashboard.json` in `directory`: `dashboard_figures` over every EV-ChART file there
    (as EV-ChART's dashboard reads every quarter submitted), on `today` (default: the day after
    the latest quarter)."""
    figures = ev_chart_dashboard(directory, operational, today)
    path = directory / DASHBOARD_FILE
    text = json.dumps(figures, indent=2) + "\n"
    write_file(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), "export")
    return path


def ev_chart_dashboard(
    directory: str | os.PathLike[str],
    operational_dates: str | os.PathLike[str] | Mapping[str, date] | None = None,
    today: date | None = None,
) -> dict[str, Any]:
    """The EV-ChART dashboard figures (`dashboard_figures`) of the Module 3 and 4 files in
    `directory`, as `--export ev-chart` writes them into `ev_chart_dashboard.json`."""
    module3, module4, after = read_filings(directory)
    day = today if today is not None else (after or date.today())
    return dashboard_figures(module3, module4, parse_operational_dates(operational_dates), day)
