"""reliability: regulatory uptime figures per port and month (NEVI, California CEC, UK PCPR 2023).

Built on the replayed EVSE intervals (and, with a station map, the station intervals): a port is out
while it is in one of the standard's outage states (`--outage-states` overrides them) or while a
station mapped to it is `offline`. The interval algebra (merge, exclusions, caps, months, rolling
sums) is replay SQL (`reliability_ports.sql`, `reliability_outages.sql` and the concepts they read),
composed with the EVSE and station replays into one query per result by the replay runner, with
every user value bound as a parameter. Whole days that `evlog lake compact` rolled up are read from
the rollups (`port_rollup_months.sql`) unless exclusions or a station map need the intervals.
Every interpretation of the rules is in docs/reliability.md.

One row per port and report month (`scope = 'port'`) and one network row per month
(`scope = 'network'`):

    scope, standard, report_month, port_id, station_id, location_id, basis_start, basis_end,
    uptime_pct, target_pct, passed, t_outage_min, t_excluded_min, denominator_min,
    month_uptime_pct, month_outage_min, month_excluded_min, month_min, month_measured_min,
    no_data_min, unobserved_min,
    ports, ports_passed

`uptime_pct` is the standard's figure over the basis (the twelve months ending with the report
month for NEVI and CEC, the calendar year to date for UK PCPR); `t_outage_min` and `t_excluded_min`
are T_outage and T_excluded over that basis; the `month_*` columns are the report month alone.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

from evlog._errors import UsageError
from evlog._lake.names import Status
from evlog._replay.runner import EntityKind
from evlog._reports.exclusions import (
    EXCLUSION_REASONS,
    Cause,
    Exclusion,
    load_exclusions,
)
from evlog._reports.files import export_directory, write_file
from evlog._reports.opening_hours import Hours, closed_micros, load_opening_hours
from evlog._time import from_micros, to_micros
from evlog._window import Period, Window, parse_choice, parse_tz

if TYPE_CHECKING:
    import polars as pl

    from evlog._replay.engine import EngineBase

DAY_US = 86_400 * 1_000_000
NEVI_YEAR_MIN = 525_600  # 23 CFR 680.116(b): the fixed denominator, 365 x 24 x 60
OBSERVATION_STATES = ("no_data", "unobserved")
DEFAULT_MIN_COVERAGE = 95.0
EXPORT_FORMATS = ("cec", "charging-use-spec", "ev-chart", "uk-pcpr")
_Row = TypeVar("_Row")

COLUMNS: tuple[str, ...] = (
    "scope",
    "standard",
    "report_month",
    "port_id",
    "station_id",
    "location_id",
    "basis_start",
    "basis_end",
    "uptime_pct",
    "target_pct",
    "passed",
    "no_verdict_reason",
    "t_outage_min",
    "t_excluded_min",
    "denominator_min",
    "measured_min",
    "coverage_pct",
    "unobserved_as",
    "state_basis",
    "month_uptime_pct",
    "month_outage_min",
    "month_excluded_min",
    "month_min",
    "month_measured_min",
    "no_data_min",
    "unobserved_min",
    "ports",
    "ports_assessed",
    "ports_passed",
)
OUTAGE_COLUMNS: tuple[str, ...] = (
    "port_id",
    "station_id",
    "outage_id",
    "outage_start",
    "outage_end",
    "outage_duration",
    "outage_cause",
    "exempted_outage",
    "outage_states",
    # the outage ledger (docs/reliability.md, "The outage ledger"): added after the columns above,
    # which the charging-use-spec export reads
    "exclusion_cause",
    "exclusion_code",
    "exclusion_notes",
    "excluded_by",
    "over_cap_min",
    "closed_min",
    "counted_min",
)
BUDGET_COLUMNS: tuple[str, ...] = (
    "port_id",
    "station_id",
    "cause",
    "cap_kind",
    "incident_start",
    "incident_end",
    "year",
    "cap_min",
    "used_min",
    "left_min",
    "over_cap_min",
    "excluded_by",
)


class Standard(StrEnum):
    NEVI = "nevi"
    CEC = "cec"
    UK_PCPR = "uk-pcpr"


class Unobserved(StrEnum):
    """How time the log cannot speak for (no_data, unobserved, after the lake's data) counts:
    docs/reliability.md, "Unobserved time"."""

    EXCLUDED = "excluded"  # left out of the basis: the figure is over the observed time
    OUTAGE = "outage"  # counted as outage
    UP = "up"  # counted as up


class Basis(StrEnum):
    ROLLING_12_MONTHS = "rolling-12-months"
    CALENDAR_YEAR = "calendar-year-to-date"


@dataclass(frozen=True)
class Rule:
    """What a standard counts: see docs/reliability.md for the text behind every field."""

    standard: Standard
    citation: str
    target_pct: float
    strict: bool  # the figure must be greater than the target (NEVI), not merely reach it
    basis: Basis
    denominator_min: int | None  # fixed denominator in minutes; None: the basis' real length
    outage_states: tuple[str, ...]
    causes: frozenset[Cause]
    cap_kind: dict[Cause, str] = field(default_factory=dict)  # 'incident' or 'year'
    cap_us: dict[Cause, int] = field(default_factory=dict)
    # a port linked to a station by the feeds is out while the station is offline (NEVI, CEC:
    # "hardware and software both online"); UK judges the EVSE status alone
    connectivity: bool = True
    # time outside `--opening-hours` leaves the basis (UK reg. 7(5)); else it is excluded outage
    closed_leaves_basis: bool = False


RULES: dict[Standard, Rule] = {
    Standard.NEVI: Rule(
        Standard.NEVI,
        "23 CFR 680.116(b)",
        97.0,
        True,
        Basis.ROLLING_12_MONTHS,
        NEVI_YEAR_MIN,
        (Status.OUT_OF_ORDER.value, Status.INOPERATIVE.value, Status.UNKNOWN.value),
        frozenset(Cause),
    ),
    Standard.CEC: Rule(
        Standard.CEC,
        "California Energy Commission EV charger reliability standard (97 % uptime)",
        97.0,
        False,
        Basis.ROLLING_12_MONTHS,
        None,
        (Status.OUT_OF_ORDER.value, Status.INOPERATIVE.value, Status.UNKNOWN.value),
        frozenset(
            {
                Cause.GRID_POWER_LOSS,
                Cause.NATURAL_DISASTER,
                Cause.VANDALISM,
                Cause.PLANNED_MAINTENANCE,
            }
        ),
        {Cause.VANDALISM: "incident", Cause.PLANNED_MAINTENANCE: "year"},
        {Cause.VANDALISM: 10 * DAY_US, Cause.PLANNED_MAINTENANCE: 72 * 3600 * 1_000_000},
    ),
    Standard.UK_PCPR: Rule(
        Standard.UK_PCPR,
        "The Public Charge Point Regulations 2023 (SI 2023/1168), reg. 7",
        99.0,
        False,
        Basis.CALENDAR_YEAR,
        None,
        (Status.INOPERATIVE.value, Status.OUT_OF_ORDER.value),
        frozenset({Cause.OUTSIDE_HOURS}),
        connectivity=False,
        closed_leaves_basis=True,
    ),
}


def parse_standard(value: str | Standard, flag: str = "--standard") -> Standard:
    return parse_choice(Standard, value, flag)


_STATE_KEYS = {s.value.replace("_", ""): s.value for s in Status}


def parse_outage_states(
    values: str | Iterable[str] | None, flag: str = "--outage-states"
) -> tuple[str, ...] | None:
    """`--outage-states`: OCPI statuses (any spelling), comma-separated. None when not given: the
    standard's states apply (`outage_states_under`). `no_data` and `unobserved` are not statuses:
    how that time counts is `--unobserved`."""
    if values is None:
        return None
    items = [values] if isinstance(values, str) else list(values)
    names = [part.strip() for item in items for part in item.split(",") if part.strip()]
    if not names:
        raise UsageError(f"{flag}: expected at least one state")
    states: dict[str, None] = {}
    for name in names:
        if name.lower().replace("-", "_") in OBSERVATION_STATES:
            raise UsageError(
                f"{flag}: {name} is not a status; --unobserved outage counts time the log "
                "cannot speak for as outage"
            )
        key = re.sub(r"[^A-Z]", "", name.upper())
        if key not in _STATE_KEYS:
            choices = ", ".join(s.value for s in Status)
            raise UsageError(f"{flag}: unknown state {name!r} (known: {choices})")
        states[_STATE_KEYS[key]] = None
    return tuple(states)


def parse_unobserved(value: str | Unobserved, flag: str = "--unobserved") -> Unobserved:
    return parse_choice(Unobserved, value, flag)


def parse_min_coverage(value: float | str, flag: str = "--min-coverage") -> float:
    """`--min-coverage PCT`: the observed share of a basis, 0-100, below which there is no
    verdict."""
    try:
        pct = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{flag}: expected a percentage 0-100, got {value!r}") from None
    if not 0.0 <= pct <= 100.0:
        raise UsageError(f"{flag}: expected a percentage 0-100, got {value!r}")
    return pct


def outage_states_under(states: tuple[str, ...] | None, values: Mapping[str, Any]) -> list[str]:
    """The states given, else the standard's."""
    return list(states if states is not None else RULES[values["standard"]].outage_states)


# ------------------------------------------------------------------------------------------------
# months


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def parse_month(value: str | None, flag: str = "--month") -> tuple[date, ...]:
    """`--month YYYY-MM`: that month (none when not given)."""
    if not value:
        return ()
    match = re.fullmatch(r"\s*(\d{4})-(\d{2})\s*", value)
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise UsageError(f"{flag}: expected YYYY-MM, got {value!r}")
    return (date(int(match.group(1)), int(match.group(2)), 1),)


def parse_quarter(value: str | None, flag: str = "--quarter") -> tuple[date, ...]:
    """`--quarter YYYY-Qn`: its three months (none when not given)."""
    if not value:
        return ()
    match = re.fullmatch(r"\s*(\d{4})-?[Qq]([1-4])\s*", value)
    if match is None:
        raise UsageError(f"{flag}: expected YYYY-Qn (n = 1..4), got {value!r}")
    first = date(int(match.group(1)), 3 * int(match.group(2)) - 2, 1)
    return tuple(_add_months(first, i) for i in range(3))


def check_months(values: Mapping[str, Any]) -> None:
    """--month, --quarter and --start/--end each choose the months: give one of them."""
    chosen = [
        flag for flag, name in (("--month", "month"), ("--quarter", "quarter")) if values[name]
    ]
    if chosen and (values["start"] is not None or values["end"] is not None):
        raise UsageError(f"{chosen[0]}: give either it or --start/--end, not both")
    if len(chosen) > 1:
        raise UsageError("--month: give either --month or --quarter, not both")


def check_options(values: Mapping[str, Any]) -> None:
    """The months (`check_months`), and one list at a time: --outages or --budgets."""
    check_months(values)
    if values.get("outages") and values.get("budgets"):
        raise UsageError("--budgets: give either it or --outages, not both")


def report_months(
    engine: EngineBase[Any],
    tz: ZoneInfo,
    start: str | datetime | None,
    end: str | datetime | None,
    chosen: tuple[date, ...],
) -> list[date]:
    """The calendar months (in `tz`) a report has rows for: those `--month` or `--quarter` chose,
    or every month that overlaps [start, end) (default: the lake's span)."""
    if chosen:
        return list(chosen)
    window = engine.window(EntityKind.EVSE, start, end, Period.MONTH, tz.key)
    first = window.start.astimezone(tz).date().replace(day=1)
    last = (window.end - timedelta(microseconds=1)).astimezone(tz).date().replace(day=1)
    months = [first]
    while months[-1] < last:
        months.append(_add_months(months[-1], 1))
    if len(months) > 1200:
        raise UsageError("--start/--end: more than 100 years of months")
    return months


def basis_start(rule: Rule, month: date) -> date:
    if rule.basis is Basis.CALENDAR_YEAR:
        return date(month.year, 1, 1)
    return _add_months(month, -11)


# ------------------------------------------------------------------------------------------------
# the computation


@dataclass(frozen=True)
class ReliabilityResult:
    """The report (`frame`: port and network rows), the outages, and the rule that made them."""

    rule: Rule
    frame: pl.DataFrame
    outage_list: pl.DataFrame | None  # None: not asked for (`compute_reliability(outages=False)`)
    outage_states: tuple[str, ...]
    tz: ZoneInfo
    unobserved: Unobserved = Unobserved.EXCLUDED
    min_coverage: float = DEFAULT_MIN_COVERAGE
    data_end: datetime | None = None  # where the lake's data ends: later time is unobserved
    budget_list: pl.DataFrame | None = None  # None: not asked for (`budgets=False`)
    piece_list: pl.DataFrame | None = None  # None: not asked for (`pieces=False`)

    @property
    def warnings(self) -> list[str]:
        """What a user must know before filing these figures (the CLI prints them on stderr)."""
        import polars as pl

        ports = self.frame.filter(pl.col("scope") == "port")
        missing = ports.filter(pl.col("passed").is_null())
        if missing.is_empty():
            return []
        months = ", ".join(missing.get_column("report_month").unique().sort().to_list())
        return [
            f"{missing.height} of {ports.height} port figures have no verdict: under "
            f"{self.min_coverage:g} % of their basis was observed ({months}; see "
            "no_verdict_reason)"
        ]

    @property
    def outages(self) -> pl.DataFrame:
        """One row per outage of the report months (`OUTAGE_COLUMNS`)."""
        if self.outage_list is None:
            raise UsageError("this reliability result was computed without its outages")
        return self.outage_list

    @property
    def pieces(self) -> pl.DataFrame:
        """The report months' time of each port as pieces by kind (`reliability_pieces.sql`):
        `port_id, month_label, s, e` (epoch microseconds, [s, e) inside the month) and `kind`
        (`outage`, `excluded`, `closed`, `no_data`, `unobserved`); the CEC interval export's
        input."""
        if self.piece_list is None:
            raise UsageError(
                "this reliability result was computed without its interval pieces (the API's "
                "reliability_report(...) computes them for --standard cec)"
            )
        return self.piece_list

    @property
    def budgets(self) -> pl.DataFrame:
        """One row per capped exclusion budget (`BUDGET_COLUMNS`): what it used, what is left."""
        if self.budget_list is None:
            raise UsageError("this reliability result was computed without its budgets")
        return self.budget_list


def compute_reliability(
    engine: EngineBase[Any],
    standard: Standard,
    *,
    start: str | datetime | None,
    end: str | datetime | None,
    chosen_months: tuple[date, ...],
    tz: str,
    evse_ids: tuple[str, ...],
    location_ids: tuple[str, ...],
    exclusions: list[Exclusion],
    station_map: list[tuple[str, str]],
    bound: Mapping[str, Any],
    outages: bool = True,
    unobserved: Unobserved = Unobserved.EXCLUDED,
    min_coverage: float = DEFAULT_MIN_COVERAGE,
    connectivity: bool = True,
    opening_hours: list[Hours] | None = None,
    budgets: bool = False,
    pieces: bool = False,
) -> ReliabilityResult:
    """Compute a standard's figures from the report's parsed options (`bound`: the SQL parameters
    they bind), the outage list if `outages`, the budgets if `budgets` and the interval pieces
    if `pieces`; see the module docstring and docs/reliability.md.

    The figures take whole days from `evlog lake compact`'s rollups where they can
    (docs/reliability.md, "Rollups"): without exclusions and a station map, a port's outage
    minutes of a day are its time in the outage states, which the rollups hold. The outage list
    always replays every event.

    Time after the end of the lake's data (its last event or coverage, whichever is later) is
    unobserved, never the last state held (docs/reliability.md, "Unobserved time")."""
    from evlog._replay.engine import NO_ROLLUPS

    rule = RULES[standard]
    zone = parse_tz(tz)
    months = report_months(engine, zone, start, end, chosen_months)
    query_start_day = min(basis_start(rule, m) for m in months)
    if Cause.PLANNED_MAINTENANCE in rule.cap_kind:  # a yearly cap counts from 1 January
        query_start_day = date(query_start_day.year, 1, 1)
    query_start = _local_midnight(query_start_day, zone)
    incident_starts = [x.start for x in exclusions if rule.cap_kind.get(x.cause) == "incident"]
    incident_starts = [s for s in incident_starts if s < query_start]
    if incident_starts:  # an incident's cap is consumed from its first minute
        earliest = min(incident_starts).astimezone(zone).date().replace(day=1)
        query_start = _local_midnight(earliest, zone)
    query_start_day = query_start.astimezone(zone).date()
    range_end = _local_midnight(_add_months(months[-1], 1), zone)
    data_end_us = _data_end_us(engine)
    # The months are the periods: rollups are used only for days that no month boundary cuts. The
    # replay stops where the data does (rollups then never reach past it); the SQL clips there too.
    replay_end = range_end
    if to_micros(query_start) < data_end_us < to_micros(range_end):
        replay_end = from_micros(data_end_us)
    window = Window.parse(query_start, replay_end, Period.MONTH, zone)
    # A port is up only while its station is online too, wherever a link is known: from the
    # feeds, and from the station map (docs/reliability.md, "Connectivity").
    from_feeds = engine.station_links(window) if connectivity and rule.connectivity else []
    links = list(dict.fromkeys([*from_feeds, *station_map]))
    pairs = [p for p in links if p[1] in evse_ids] if evse_ids else links

    all_months = [query_start_day.replace(day=1)]
    while all_months[-1] < months[-1]:
        all_months.append(_add_months(all_months[-1], 1))
    params: dict[str, Any] = {
        "entity_kind": EntityKind.EVSE.value,
        **bound,  # entity_ids, location_ids, outage_states, hold_after_gap
        "month_labels": [m.strftime("%Y-%m") for m in all_months],
        "month_bounds": [
            to_micros(_local_midnight(m, zone)) for m in [*all_months, _add_months(months[-1], 1)]
        ],
        "report_month_labels": [m.strftime("%Y-%m") for m in months],
        "basis_starts": [to_micros(_local_midnight(basis_start(rule, m), zone)) for m in months],
        **_closed_params(
            _exclusion_params(exclusions, rule), opening_hours or [], rule, query_start, range_end
        ),
        "map_station_ids": [station for station, _ in pairs],
        "map_evse_ids": [evse for _, evse in pairs],
        "include_mapped": not location_ids,
        "denominator_min": rule.denominator_min,
        "target_pct": rule.target_pct,
        "strict": rule.strict,
        "range_start": to_micros(_local_midnight(months[0], zone)),
        "range_end": to_micros(range_end),
        "data_end_us": data_end_us,
        "unobserved_as": unobserved.value,
        "min_coverage": min_coverage,
        "min_coverage_label": f"{min_coverage:g}",
        # exclusions, opening hours and station outages need the outage intervals, which only a
        # replay gives
        NO_ROLLUPS: bool(exclusions or pairs or opening_hours or bound.get(NO_ROLLUPS)),
    }
    # the mapped stations' offline intervals, from the stations' own replay in the same query
    stations = {"entity_ids": sorted({station for station, _ in pairs}), "location_ids": []}
    queries = ["reliability_ports"]
    queries += ["reliability_outages"] if outages else []
    queries += ["reliability_budgets"] if budgets else []
    queries += ["reliability_pieces"] if pieces else []
    frames = {
        query: engine.to_polars(
            engine.relation(
                EntityKind.EVSE, query, window, params_of={EntityKind.STATION: stations}, **params
            )
        )
        for query in queries
    }
    return ReliabilityResult(
        rule=rule,
        frame=_with_network(frames["reliability_ports"], rule, zone, unobserved, min_coverage),
        outage_list=_outage_frame(frames["reliability_outages"], zone) if outages else None,
        outage_states=tuple(bound["outage_states"]),
        tz=zone,
        unobserved=unobserved,
        min_coverage=min_coverage,
        data_end=from_micros(data_end_us),
        budget_list=_budget_frame(frames["reliability_budgets"], zone) if budgets else None,
        piece_list=frames["reliability_pieces"] if pieces else None,
    )


def _data_end_us(engine: EngineBase[Any]) -> int:
    """The end of the lake's data for ports: their events' span, else the stations' (a lake whose
    ports are known only from a station map)."""
    for kind in (EntityKind.EVSE, EntityKind.STATION):
        span = engine.event_span(kind)
        if span.last_us is not None:
            return span.last_us
    raise UsageError("the lake holds no events")  # `engine.window` refuses an empty lake first


def parse_opening_hours(
    value: str | os.PathLike[str] | Iterable[Hours] | None, flag: str = "--opening-hours"
) -> Path | list[Hours]:
    """`--opening-hours FILE` (read by `opening_hours_under`, which knows `--tz`), or the API's
    parsed entries."""
    return _file_or_rows(value)


def opening_hours_under(given: Path | list[Hours], values: Mapping[str, Any]) -> list[Hours]:
    """The opening hours, a file's times without a zone of their own read in `--tz`."""
    if isinstance(given, Path):
        return load_opening_hours(given, parse_tz(values["tz"]))
    return given


def _closed_params(
    exclusions: dict[str, list[Any]],
    hours: list[Hours],
    rule: Rule,
    start: datetime,
    end: datetime,
) -> dict[str, list[Any]]:
    """The exclusions' parameters and each entry's closed time inside the query's range [start,
    end) (bounded by the range, however long the lake's history): for UK PCPR as the
    `closed_hours` concept's parameters (it leaves the basis), for NEVI and CEC as more
    `outside_hours` rows of the `exclusions` concept (excluded outage)."""
    entity_ids: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    sources: list[str] = []
    for entry in hours:
        pieces = closed_micros(entry, start, end)
        entity_ids += [entry.entity_id] * len(pieces)
        starts += [s for s, _ in pieces]
        ends += [e for _, e in pieces]
        sources += [entry.source] * len(pieces)
    if rule.closed_leaves_basis:
        return {
            **exclusions,
            "closed_entity_ids": entity_ids,
            "closed_starts_us": starts,
            "closed_ends_us": ends,
        }
    n = len(entity_ids)
    added: dict[str, list[Any]] = {
        "exclusion_entity_ids": entity_ids,
        "exclusion_starts_us": starts,
        "exclusion_ends_us": ends,
        "exclusion_causes": [Cause.OUTSIDE_HOURS.value] * n,
        "exclusion_cause_ranks": [list(Cause).index(Cause.OUTSIDE_HOURS)] * n,
        "exclusion_cap_kinds": ["none"] * n,
        "exclusion_caps_us": [None] * n,
        "exclusion_notes": [""] * n,
        "exclusion_sources": sources,
    }
    return {
        **{name: [*values, *added[name]] for name, values in exclusions.items()},
        "closed_entity_ids": [],
        "closed_starts_us": [],
        "closed_ends_us": [],
    }


def parse_exclusions(
    value: str | os.PathLike[str] | Iterable[Exclusion] | None, flag: str = "--exclusions"
) -> Path | list[Exclusion]:
    """`--exclusions FILE` (read by `exclusions_under`, which knows the standard), or the API's
    rows."""
    return _file_or_rows(value)


def _file_or_rows(value: str | os.PathLike[str] | Iterable[_Row] | None) -> Path | list[_Row]:
    """A file to read once the other options are known, or the API's rows (none: no rows)."""
    if value is None:
        return []
    if isinstance(value, str | os.PathLike):
        return Path(value)
    return list(value)


def exclusions_under(given: Path | list[Exclusion], values: Mapping[str, Any]) -> list[Exclusion]:
    """The exclusions, each checked against the causes `values["standard"]` allows."""
    rule = RULES[values["standard"]]
    if isinstance(given, Path):
        return load_exclusions(given, rule.causes, rule.standard.value)
    for row in given:
        if row.cause not in rule.causes:
            raise UsageError(
                f"--exclusions: cause {row.cause} is not allowed under {rule.standard}"
            )
        if row.end <= row.start:
            raise UsageError(f"--exclusions: {row.entity_id}: end is not after start")
    return given


def _exclusion_params(rows: list[Exclusion], rule: Rule) -> dict[str, list[Any]]:
    """The exclusions as the `exclusions` concept's parameters: one list per column."""
    order = list(Cause)  # a cause's rank: its place in `Cause`
    return {
        "exclusion_entity_ids": [x.entity_id for x in rows],
        "exclusion_starts_us": [to_micros(x.start) for x in rows],
        "exclusion_ends_us": [to_micros(x.end) for x in rows],
        "exclusion_causes": [x.cause.value for x in rows],
        "exclusion_cause_ranks": [order.index(x.cause) for x in rows],
        "exclusion_cap_kinds": [rule.cap_kind.get(x.cause, "none") for x in rows],
        "exclusion_caps_us": [rule.cap_us.get(x.cause) for x in rows],
        "exclusion_notes": [x.note for x in rows],
        "exclusion_sources": [x.source for x in rows],
    }


def _from_us(column: str, zone: ZoneInfo) -> pl.Expr:
    import polars as pl

    return (
        pl.from_epoch(pl.col(column), time_unit="us")
        .dt.replace_time_zone("UTC")
        .dt.convert_time_zone(zone.key)
    )


def _with_network(
    ports: pl.DataFrame, rule: Rule, zone: ZoneInfo, unobserved: Unobserved, min_coverage: float
) -> pl.DataFrame:
    import polars as pl

    ports = ports.with_columns(
        pl.lit("port").alias("scope"),
        pl.lit(rule.standard.value).alias("standard"),
        pl.lit(rule.target_pct).alias("target_pct"),
        pl.lit(unobserved.value).alias("unobserved_as"),
        _from_us("basis_start", zone),
        _from_us("basis_end", zone),
        pl.lit(None, pl.UInt32).alias("ports"),
        pl.lit(None, pl.UInt32).alias("ports_assessed"),
        pl.lit(None, pl.UInt32).alias("ports_passed"),
    )
    # The network figure is the mean of the ports' figures; its coverage, the observed share of
    # all the ports' bases together (`basis_min`: less their closed time, UK opening hours).
    figure = pl.col("uptime_pct").mean()
    rounded = figure.round(9)
    coverage = 100.0 * pl.col("measured_min").sum() / pl.col("basis_min").sum()
    verdict = rounded > rule.target_pct if rule.strict else rounded >= rule.target_pct
    under = coverage.round(9) < min_coverage
    network = ports.group_by("report_month").agg(
        pl.lit("network").alias("scope"),
        pl.lit(rule.standard.value).alias("standard"),
        pl.lit(None, pl.String).alias("port_id"),
        pl.lit(None, pl.String).alias("station_id"),
        pl.lit(None, pl.String).alias("location_id"),
        pl.col("basis_start").first(),
        pl.col("basis_end").first(),
        figure.alias("uptime_pct"),
        pl.lit(rule.target_pct).alias("target_pct"),
        pl.when(figure.is_null() | under).then(None).otherwise(verdict).alias("passed"),
        pl.when(pl.col("measured_min").sum() == 0)
        .then(pl.lit("nothing observed in the basis"))
        .when(under)
        .then(
            pl.format(
                "coverage {} % is under {} %",
                coverage.round(2).cast(pl.String),
                pl.lit(f"{min_coverage:g}"),
            )
        )
        .otherwise(None)
        .alias("no_verdict_reason"),
        pl.col("t_outage_min").sum(),
        pl.col("t_excluded_min").sum(),
        pl.col("denominator_min").sum(),
        pl.col("measured_min").sum(),
        coverage.alias("coverage_pct"),
        pl.lit(unobserved.value).alias("unobserved_as"),
        pl.when(pl.col("state_basis").n_unique() == 1)
        .then(pl.col("state_basis").first())
        .otherwise(pl.lit("mixed"))
        .alias("state_basis"),
        pl.col("month_uptime_pct").mean(),
        pl.col("month_outage_min").sum(),
        pl.col("month_excluded_min").sum(),
        pl.col("month_min").sum(),
        pl.col("month_measured_min").sum(),
        pl.col("no_data_min").sum(),
        pl.col("unobserved_min").sum(),
        pl.len().cast(pl.UInt32).alias("ports"),
        pl.col("passed").is_not_null().sum().cast(pl.UInt32).alias("ports_assessed"),
        pl.col("passed").sum().cast(pl.UInt32).alias("ports_passed"),
    )
    combined = pl.concat([ports.select(COLUMNS), network.select(COLUMNS)], how="vertical_relaxed")
    order = pl.when(pl.col("scope") == "port").then(0).otherwise(1)
    return combined.sort([pl.col("report_month"), order, pl.col("port_id")], nulls_last=True)


_CODES = {cause.value: str(code) for cause, code in EXCLUSION_REASONS.items()}


def _outage_frame(outages: pl.DataFrame, zone: ZoneInfo) -> pl.DataFrame:
    import polars as pl

    if outages.is_empty():
        strings = ("port_id", "station_id", "outage_id", "outage_cause", "outage_states")
        schema: dict[str, Any] = {
            name: pl.Datetime("us", zone.key)
            if name in ("outage_start", "outage_end")
            else pl.String
            if name in strings
            or name in ("exclusion_cause", "exclusion_code")
            or name in ("exclusion_notes", "excluded_by")
            else pl.Float64
            for name in OUTAGE_COLUMNS
        }
        return pl.DataFrame(schema=schema)
    stamp = pl.from_epoch(pl.col("outage_start_us"), time_unit="us").dt.strftime("%Y%m%dT%H%M%SZ")
    causes = pl.col("exclusion_causes").fill_null("")
    return outages.with_columns(
        pl.concat_str([pl.col("port_id"), pl.lit("@"), stamp]).alias("outage_id"),
        _from_us("outage_start_us", zone).alias("outage_start"),
        _from_us("outage_end_us", zone).alias("outage_end"),
        pl.when(causes != "")
        .then(pl.col("exclusion_causes"))
        .otherwise(pl.col("states"))
        .alias("outage_cause"),
        pl.col("states").alias("outage_states"),
        pl.when(causes != "").then(causes).alias("exclusion_cause"),
        pl.when(causes != "")
        .then(
            causes.str.split(";")
            .list.eval(pl.element().replace_strict(_CODES, default=""))
            .list.join(";")
        )
        .alias("exclusion_code"),
        (pl.col("outage_duration") - pl.col("exempted_outage") - pl.col("closed_min")).alias(
            "counted_min"
        ),
    ).select(OUTAGE_COLUMNS)


def _budget_frame(budgets: pl.DataFrame, zone: ZoneInfo) -> pl.DataFrame:
    import polars as pl

    return budgets.with_columns(
        _from_us("incident_start_us", zone).alias("incident_start"),
        _from_us("incident_end_us", zone).alias("incident_end"),
        pl.col("budget_year").cast(pl.String).alias("year"),
        pl.col("port_id").cast(pl.String),
        pl.col("station_id").cast(pl.String),
        pl.col("cause").cast(pl.String),
        pl.col("cap_kind").cast(pl.String),
        pl.col("excluded_by").cast(pl.String),
        *(pl.col(c).cast(pl.Float64) for c in ("cap_min", "used_min", "left_min", "over_cap_min")),
    ).select(BUDGET_COLUMNS)


# ------------------------------------------------------------------------------------------------
# export and plot


def export_charging_use_spec(
    result: ReliabilityResult, directory: str | os.PathLike[str]
) -> list[Path]:
    """Write `uptime.csv` and `outages.csv` (minutes) in `directory`, each atomically (a failed
    write never leaves half a file); returns the paths."""
    import polars as pl

    target = export_directory(directory)
    ports = result.frame.filter(pl.col("scope") == "port")
    uptime = ports.select(
        pl.col("port_id"),
        pl.col("station_id"),
        pl.col("report_month").alias("report_yr_mon"),
        pl.col("uptime_pct").round(4),
        pl.col("t_outage_min").round(3).alias("outage_total"),
        pl.col("t_excluded_min").round(3).alias("outage_excluded"),
    )
    outages = result.outages.select(
        pl.col("port_id"),
        pl.col("station_id"),
        pl.col("outage_id"),
        pl.col("outage_start").dt.to_string("%Y-%m-%dT%H:%M:%S%:z"),
        pl.col("outage_end").dt.to_string("%Y-%m-%dT%H:%M:%S%:z"),
        pl.col("outage_duration").round(3),
        pl.col("outage_cause"),
        pl.col("exempted_outage").round(3),
    )
    paths = [target / "uptime.csv", target / "outages.csv"]
    for path, frame in zip(paths, (uptime, outages), strict=True):
        write_file(path, frame.write_csv, "export")
    return paths


def parse_export(value: tuple[str, str | os.PathLike[str]] | None) -> tuple[str, Path] | None:
    """`--export KIND DIR`: the export format (one of `EXPORT_FORMATS`) and its folder."""
    if value is None:
        return None
    kind, directory = value
    kind = kind.strip().lower()
    if kind not in EXPORT_FORMATS:
        raise UsageError(f"--export: expected one of {', '.join(EXPORT_FORMATS)}, got {kind!r}")
    return kind, Path(directory)


def plot_reliability(frame: pl.DataFrame, path: str | os.PathLike[str], **options: Any) -> Path:
    """Write `plots.reliability_figure(frame, **options)` to `path` (.png or .svg)."""
    # Deferred: matplotlib loads only when a plot is drawn, not with every reliability report.
    from evlog._reports.plots import plot_reliability as plot

    return plot(frame, path, **options)
