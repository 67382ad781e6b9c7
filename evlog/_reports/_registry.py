"""Every report, by name: the one list the CLI, the API, the plot dispatch and docs/reports.md are
made from. A report is declared in its own module (`evlog._reports.uptime.REPORT`, ...);
reliability's declaration is here, beside its computation's module.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evlog._errors import UsageError
from evlog._replay.runner import EntityKind
from evlog._reports import (
    availability,
    cec,
    ev_chart,
    feed_health,
    flaps,
    intervals,
    metadata,
    reconcile,
    summary,
    uk_pcpr,
    uptime,
)
from evlog._reports import reliability as rel
from evlog._reports._report import (
    EVSE,
    FEED,
    FIRMWARE,
    HOLD_AFTER_GAP,
    LOCATION,
    MODEL,
    RAPID,
    RAPID_KW,
    REQUIRED,
    STATION_MAP,
    STATUS_ONLY,
    VENDOR,
    Option,
    Plot,
    Report,
    Values,
    feed_coverage,
    metadata_filtered,
    metadata_ids,
    narrowed_ids,
)
from evlog._window import Period, parse_optional_choice

if TYPE_CHECKING:
    from evlog._replay.engine import EngineBase

STANDARD = Option(
    "standard",
    "--standard",
    str,
    REQUIRED,
    "Rule to apply.",
    parse=rel.parse_standard,
    show_default=False,
    choices=tuple(s.value for s in rel.Standard),
)
MONTH = Option(
    "month",
    "--month",
    str | None,
    None,
    "Report this month only (YYYY-MM).",
    parse=rel.parse_month,
    metavar="YYYY-MM",
)
QUARTER = Option(
    "quarter",
    "--quarter",
    str | None,
    None,
    "Report the three months of a quarter (YYYY-Qn).",
    parse=rel.parse_quarter,
    metavar="YYYY-Qn",
)
EXCLUSIONS = Option(
    "exclusions",
    "--exclusions",
    Path | None,
    None,
    "CSV entity_id,start,end,cause of excluded downtime.",
    parse=rel.parse_exclusions,
    resolve=rel.exclusions_under,
    api_type="str | os.PathLike[str] | Iterable[Exclusion] | None",
    metavar="CSV",
)
OUTAGE_STATES = Option(
    "outage_states",
    "--outage-states",
    str | None,
    None,
    "Comma-separated states that count as outage (default: the standard's).",
    parse=rel.parse_outage_states,
    resolve=rel.outage_states_under,
    param="outage_states",
    api_type="str | Iterable[str] | None",
    metavar="STATES",
)
EXPORT = Option(
    "export",
    "--export",
    tuple[str, Path] | None,
    None,
    "Also write the filing files in DIR: cec (CEC semiannual port and network uptime, interval "
    "data per port and month), charging-use-spec (uptime.csv, outages.csv), ev-chart (EV-ChART "
    "Modules 3 and 4 per quarter, validated, and the dashboard figures) or uk-pcpr (PCPR 2023 "
    "annual network figure, per-point figures and distribution, published summary).",
    parse=lambda value, flag: rel.parse_export(value),
    metavar="cec|charging-use-spec|ev-chart|uk-pcpr DIR",
    cli_only=True,
)
UNOBSERVED = Option(
    "unobserved",
    "--unobserved",
    str,
    rel.Unobserved.EXCLUDED.value,
    "How time the log cannot speak for counts: excluded from the basis, as outage, or as up.",
    parse=rel.parse_unobserved,
    choices=tuple(u.value for u in rel.Unobserved),
    api_type="str | Unobserved",
)
MIN_COVERAGE = Option(
    "min_coverage",
    "--min-coverage",
    float,
    rel.DEFAULT_MIN_COVERAGE,
    "Observed share of the basis (%) needed for a verdict; below it `passed` is empty.",
    parse=rel.parse_min_coverage,
    metavar="PCT",
)
NETWORK_PROVIDER = Option(
    "network_provider",
    "--network-provider",
    str | None,
    None,
    "EV-ChART network_provider of every row (with --export ev-chart).",
    cli_only=True,
    metavar="NAME",
)
OPERATIONAL_DATES = Option(
    "operational_dates",
    "--operational-dates",
    Path | None,
    None,
    "CSV station_id,operational_date as registered in EV-ChART (with --export ev-chart).",
    parse=ev_chart.parse_operational_dates,
    cli_only=True,
    metavar="CSV",
)
CEC_INTERVAL = Option(
    "cec_interval",
    "--cec-interval",
    str | None,
    None,
    "Resolution of the CEC interval data (with --export cec): 15-minute (the default), as the "
    "CEC asks to record, or hourly, which it accepts instead.",
    parse=partial(parse_optional_choice, cec.Interval),
    choices=tuple(i.value for i in cec.Interval),
    cli_only=True,
)
CEC_FORMAT = Option(
    "cec_format",
    "--cec-format",
    str | None,
    None,
    "Format of the CEC interval files (with --export cec; default csv); the semiannual files "
    "are CSV.",
    parse=partial(parse_optional_choice, cec.IntervalFormat),
    choices=tuple(f.value for f in cec.IntervalFormat),
    cli_only=True,
)
#: the options that only an export of one kind reads (given without it: an error, not ignored)
_EXPORT_ONLY = (
    (NETWORK_PROVIDER, "ev-chart"),
    (OPERATIONAL_DATES, "ev-chart"),
    (CEC_INTERVAL, "cec"),
    (CEC_FORMAT, "cec"),
)
RELIABILITY_RAPID = replace(
    RAPID,
    flag="--rapid/--no-rapid",
    annotation=bool | None,
    default=None,
    help=f"Only rapid ports (eDRV connector power >= {RAPID_KW:g} kW; a port whose power the "
    "feed never gave is left out), or --no-rapid: every port. Default: rapid ports for uk-pcpr "
    "whenever the metadata gives a port's power (reg. 2: a rapid charge point has a power of "
    "50 kW or above), every port otherwise.",
    api_type="bool | None",
)
OUTAGES = Option(
    "outages", "--outages", bool, False, "Report one row per outage instead of per port."
)
BUDGETS = Option(
    "budgets",
    "--budgets",
    bool,
    False,
    "Report the capped exclusions' budgets (CEC: vandalism incident, maintenance year): cap, "
    "used, left.",
)
OPENING_HOURS = Option(
    "opening_hours",
    "--opening-hours",
    Path | None,
    None,
    "OCPI opening_times JSON or CSV entity_id,weekday,open,close[,tz]: time outside them is "
    "masked as the standard says.",
    parse=rel.parse_opening_hours,
    resolve=rel.opening_hours_under,
    api_type="str | os.PathLike[str] | Iterable[Hours] | None",
    metavar="FILE",
)


@dataclass(frozen=True)
class PortsChosen(rel.ReliabilityResult):
    """A reliability result and, when a default chose its ports (UK PCPR's rapid charge points),
    which ones, in words (shown in the title and on stderr)."""

    ports: str = ""
    #: what the user should know about the feeds the ports came from ("" if nothing)
    feeds: str = ""


def _feeds_note(result: rel.ReliabilityResult, values: Values) -> str:
    """A note when the ports are of both feeds and no `--feed` chose one: the network rows then
    count a charger recorded from both feeds twice, and judge every port by the status stream's
    coverage (docs/lake.md, "Feeds"). Both feeds show as a network row of `mixed` basis: linked
    (eDRV) and unlinked (HERE) ports; a station map links ports on purpose, so no note then."""
    import polars as pl

    if values.get("feed") is not None or values.get("station_map"):
        return ""
    network = result.frame.filter(pl.col("scope") == "network")
    if not (network.get_column("state_basis") == "mixed").any():
        return ""
    return (
        "the ports are of both feeds (eDRV connectors and HERE EVSEs): a charger recorded from "
        "both counts twice in the network rows, and all are judged by the HERE recorder's "
        "coverage; --feed here|edrv reports one feed"
    )


def _rapid_default(engine: EngineBase[Any], values: Values) -> tuple[Values, str]:
    """`values` with `rapid` decided (`--rapid` or `--no-rapid`, else the standard's default: UK
    PCPR reg. 7 assesses the network of rapid charge points, so rapid ports whenever the metadata
    gives some port's power), and what the default chose, in words ("" if nothing was chosen)."""
    if values["rapid"] is not None:
        return values, ""
    if values["standard"] is not rel.Standard.UK_PCPR:
        return {**values, "rapid": False}, ""
    window = engine.window(
        EntityKind.EVSE, values["start"], values["end"], Period.NONE, values["tz"]
    )
    known = {"rapid": True}  # a power of at least 0 kW: a known power
    if not metadata_ids(engine, EntityKind.EVSE, window, known, rapid_kw=0.0, replayed=True):
        return {**values, "rapid": False}, ""  # every port, as without metadata
    return {**values, "rapid": True}, (
        f"rapid ports only (power >= {RAPID_KW:g} kW in the eDRV metadata; --no-rapid for every "
        "port)"
    )


def _reliability(report: Report, engine: EngineBase[Any], values: Values) -> PortsChosen:
    values, ports = _rapid_default(engine, values)
    evse_ids = values["evse"]
    bound = {**report.sql_params(values), **feed_coverage(values)}
    if metadata_filtered(values):
        window = engine.window(
            EntityKind.EVSE, values["start"], values["end"], Period.NONE, values["tz"]
        )
        evse_ids = narrowed_ids(engine, EntityKind.EVSE, window, values, evse_ids)
        bound["entity_ids"] = list(evse_ids)
    export = values.get("export")
    result = rel.compute_reliability(
        engine,
        values["standard"],
        start=values["start"],
        end=values["end"],
        chosen_months=values["month"] or values["quarter"],
        tz=values["tz"],
        evse_ids=evse_ids,
        location_ids=values["location"],
        exclusions=values["exclusions"],
        station_map=values["station_map"],
        bound=bound,
        # the outage list replays every event: only when shown, exported (the CEC export reads the
        # interval pieces instead) or asked for by the API
        outages=report.switch is OUTAGES or (export is not None and export[0] != "cec"),
        unobserved=values["unobserved"],
        min_coverage=values["min_coverage"],
        connectivity=not values["status_only"],
        opening_hours=values["opening_hours"],
        budgets=report.switch is BUDGETS,
        # the CEC interval pieces: for --export cec, and for the API's reliability_report(...)
        pieces=values["standard"] is rel.Standard.CEC
        and (report.switch is OUTAGES or (export is not None and export[0] == "cec")),
    )
    return PortsChosen(
        **{f.name: getattr(result, f.name) for f in fields(result)},
        ports=ports,
        feeds=_feeds_note(result, values),
    )


def _ports_chosen(result: rel.ReliabilityResult) -> str:
    return result.ports if isinstance(result, PortsChosen) else ""


def _warnings(result: rel.ReliabilityResult) -> list[str]:
    """The result's warnings, which ports a default chose, and the feeds' note."""
    ports = _ports_chosen(result)
    feeds = result.feeds if isinstance(result, PortsChosen) else ""
    return [
        *([f"{result.rule.standard} reliability of {ports}"] if ports else []),
        *([feeds] if feeds else []),
        *result.warnings,
    ]


def _export(result: rel.ReliabilityResult, values: Values) -> list[str]:
    if values.get("export") is None:
        return []
    kind, directory = values["export"]
    if kind == "ev-chart":
        written = ev_chart.export_ev_chart(
            result,
            directory,
            network_provider=values["network_provider"],
            operational_dates=values["operational_dates"],
        )
    elif kind == "uk-pcpr":
        written = uk_pcpr.export_uk_pcpr(result, directory)
    elif kind == "cec":
        written = cec.export_cec(
            result,
            directory,
            interval=values["cec_interval"] or cec.Interval.QUARTER_HOUR,
            file_format=values["cec_format"] or cec.IntervalFormat.CSV,
        )
    else:
        written = rel.export_charging_use_spec(result, directory)
    return [f"{kind} export: {len(written)} files written to {directory}"]


def _check(values: Values) -> None:
    """The months and the listing (`check_options`), and what --export ev-chart needs, before any
    replay."""
    rel.check_options(values)
    export = values.get("export")
    for option, kind in _EXPORT_ONLY:
        if values.get(option.name) and (export is None or export[0] != kind):
            raise UsageError(f"{option.flag}: only with --export {kind}")
    if export is not None and export[0] == "ev-chart":
        ev_chart.check_export(values["standard"].value, values.get("network_provider"))
    if export is not None and export[0] == "uk-pcpr":
        uk_pcpr.check_export(values["standard"].value)
    if export is not None and export[0] == "cec":
        cec.check_export(values["standard"].value)


def _ports_title(result: rel.ReliabilityResult) -> str:
    rule = result.rule
    target = f"{'>' if rule.strict else '>='} {rule.target_pct:g} %"
    states = ",".join(result.outage_states)
    ports = f"; {_ports_chosen(result)}" if _ports_chosen(result) else ""
    return (
        f"{rule.standard} reliability ({rule.citation}; target {target}; outage states {states}; "
        f"{_unobserved_note(result)}{ports})"
    )


def _unobserved_note(result: rel.ReliabilityResult) -> str:
    counted = {
        rel.Unobserved.EXCLUDED: "excluded from the basis",
        rel.Unobserved.OUTAGE: "counted as outage",
        rel.Unobserved.UP: "counted as up",
    }[result.unobserved]
    return f"unobserved time {counted}; a verdict needs {result.min_coverage:g} % observed"


def _outages_title(result: rel.ReliabilityResult) -> str:
    states = ",".join(result.outage_states)
    return f"{result.rule.standard} outages ({result.rule.citation}; outage states {states})"


def _budgets_title(result: rel.ReliabilityResult) -> str:
    return f"{result.rule.standard} exclusion budgets ({result.rule.citation})"


_RELIABILITY_OPTIONS = (
    STANDARD,
    MONTH,
    QUARTER,
    EVSE,
    LOCATION,
    RELIABILITY_RAPID,
    VENDOR,
    MODEL,
    FIRMWARE,
    FEED,
    EXCLUSIONS,
    OPENING_HOURS,
    OUTAGE_STATES,
    UNOBSERVED,
    MIN_COVERAGE,
    STATION_MAP,
    STATUS_ONLY,
    EXPORT,
    NETWORK_PROVIDER,
    OPERATIONAL_DATES,
    CEC_INTERVAL,
    CEC_FORMAT,
    OUTAGES,
    BUDGETS,
    HOLD_AFTER_GAP,
)
_PORTS = Report(
    name="reliability",
    entity="port x month (+ network rows)",
    summary="Regulatory uptime per port and month (NEVI 680.116(b), California CEC, UK PCPR 2023 "
    "reg. 7) with exclusions, a network summary, and the charging-use data spec export.",
    columns=rel.COLUMNS,
    run=_reliability,
    options=_RELIABILITY_OPTIONS,
    default_by=None,
    plot=Plot(
        "ports against the target, worst first",
        lambda result, path, tz: rel.plot_reliability(result.frame, path),
    ),
    rollups=True,  # without exclusions or a station map (docs/reliability.md, "Rollups")
    lazy=False,
    frame_of=lambda result: result.frame,
    title=_ports_title,
    after=_export,
    warnings=_warnings,
    positional=("standard", "start", "end"),
    check=_check,
)
RELIABILITY_OUTAGES = replace(
    _PORTS,
    name="reliability_outages",
    entity="outage of a port in the report months",
    summary="The outages behind a reliability report, one row per outage (`--outages`).",
    columns=rel.OUTAGE_COLUMNS,
    frame_of=lambda result: result.outages,
    rollups=False,  # an outage's start and end need the events
    title=_outages_title,
    switch=OUTAGES,
    command="reliability",
)
RELIABILITY_BUDGETS = replace(
    _PORTS,
    name="reliability_budgets",
    entity="capped exclusion budget of a port (incident or calendar year)",
    summary="What each capped exclusion (CEC: vandalism up to 10 days per incident, planned "
    "maintenance up to 72 h per year) used of its cap, and what is left (`--budgets`).",
    columns=rel.BUDGET_COLUMNS,
    frame_of=lambda result: result.budgets,
    rollups=False,  # caps are consumed over the outage intervals
    title=_budgets_title,
    switch=BUDGETS,
    command="reliability",
)
RELIABILITY = replace(_PORTS, variants=(RELIABILITY_OUTAGES, RELIABILITY_BUDGETS))

_COMMANDS: tuple[Report, ...] = (
    summary.REPORT,
    availability.REPORT,
    uptime.REPORT,
    flaps.REPORT,
    intervals.REPORT,
    RELIABILITY,
    reconcile.REPORT,
    feed_health.REPORT,
    metadata.REPORT,
)
#: every report, variants included, by name
REPORTS: dict[str, Report] = {
    report.name: report for command in _COMMANDS for report in (command, *command.variants)
}
#: the reports that are an `evlog report NAME` command (the others are their variants' switches)
COMMANDS: dict[str, Report] = {report.name: report for report in _COMMANDS}


def get(name: str) -> Report:
    """The report called `name`; a `UsageError` listing the names otherwise."""
    try:
        return REPORTS[name]
    except KeyError:
        raise UsageError(f"no report {name!r}: expected one of {', '.join(REPORTS)}") from None
