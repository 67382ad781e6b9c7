"""summary: the network at a glance for a window, one line per figure.

Made from the other reports over one shared window (never a second definition of a figure):
`availability` and `uptime` with `--by none` (EVSEs and stations seen, coverage, the distributions,
the worst), `flaps` (flapping stations), `intervals` (what is out at the window's end and since
when), plus the lake's quarantine and how long before the window's end its last events are. Rows
are (section, item, value, detail): `value` a number where the line has one, `detail` the words.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evlog._replay.runner import EntityKind
from evlog._reports import availability, flaps, intervals, uptime
from evlog._reports._report import Plot, Report, Values
from evlog._reports.render import format_duration
from evlog._time import from_micros
from evlog._window import Period, Window

if TYPE_CHECKING:
    import polars as pl

    from evlog._replay.engine import EngineBase

COLUMNS: tuple[str, ...] = ("section", "item", "value", "detail")
WORST = 5  # rows of each "worst" list
OUT_STATES = ("OUT_OF_ORDER", "INOPERATIVE", "offline")  # out at the window's end


@dataclass(frozen=True)
class NetworkSummary:
    """The summary lines (`frame`) and the per-EVSE and per-station frames they come from."""

    frame: pl.DataFrame
    availability: pl.DataFrame  # `availability --by none`
    uptime: pl.DataFrame  # `uptime --by none`
    flaps: pl.DataFrame  # `flaps --by none`
    window: Window


def _rows_of(report: Report, engine: EngineBase[Any], window: Window, **given: Any) -> pl.DataFrame:
    """`report` over `window` with its defaults (and `given`), collected."""
    values = report.read({"start": window.start, "end": window.end, "tz": window.tz.key, **given})
    return engine.to_polars(report.run(report, engine, values))


def _pct(numerator: float, denominator: float) -> float | None:
    return None if denominator == 0 else round(100.0 * numerator / denominator, 3)


def _quantiles(values: pl.Series) -> str:
    clean = values.drop_nulls()
    if clean.is_empty():
        return "none measured"
    q = [clean.quantile(p, "nearest") for p in (0.1, 0.5, 0.9)]
    return f"p10 {q[0]:.2f} %, median {q[1]:.2f} %, p90 {q[2]:.2f} %"


def compute_summary(engine: EngineBase[Any], values: Values) -> NetworkSummary:
    """The summary of the window the values give (default: the lake's span)."""
    import polars as pl

    window = engine.window(
        EntityKind.EVSE, values["start"], values["end"], Period.NONE, values["tz"]
    )
    by_none = {"by": "none"}
    evses = _rows_of(availability.REPORT, engine, window, **by_none)
    stations = _rows_of(uptime.REPORT, engine, window, **by_none)
    flapping = _rows_of(flaps.REPORT, engine, window, **by_none)
    spans = _rows_of(intervals.REPORT, engine, window, **by_none)
    lines: list[tuple[str, str, float | None, str]] = []

    def line(section: str, item: str, value: float | None, detail: str = "") -> None:
        lines.append((section, item, None if value is None else float(value), detail))

    length_s = (window.end - window.start).total_seconds()
    line("window", "start", None, window.start.astimezone(window.tz).isoformat())
    line("window", "end", None, window.end.astimezone(window.tz).isoformat())
    line("window", "length", length_s, format_duration(length_s))
    # eDRV connectors are ports whose location is a station (docs/lake.md): a network recorded
    # from both feeds holds its chargers twice, once per feed
    station_ids = list(stations.get_column("station_id")) if stations.height else []
    at_stations = evses.get_column("location_id").is_in(station_ids) if evses.height else None
    edrv_ports = 0 if at_stations is None else int(at_stations.sum())
    where = f"at {evses['location_id'].n_unique()} locations" if evses.height else ""
    if edrv_ports:
        where += f"; {edrv_ports} of them eDRV connectors, {evses.height - edrv_ports} from HERE"
        if edrv_ports < evses.height:  # both feeds: say how to report one
            where += " (availability and reliability take --feed here|edrv)"
    line("network", "EVSEs", evses.height, where)
    line("network", "stations", stations.height)

    observed = float(evses["observed_s"].sum()) if evses.height else 0.0
    known = observed - float(evses["unknown_s"].sum()) if evses.height else 0.0
    line(
        "coverage",
        "EVSE time observed",
        _pct(observed, length_s * evses.height),
        f"unobserved {format_duration(float(evses['unobserved_s'].sum() or 0))} in all EVSEs"
        if evses.height
        else "no EVSEs",
    )
    station_observed = float(stations["observed_s"].sum()) if stations.height else 0.0
    line("coverage", "station time observed", _pct(station_observed, length_s * stations.height))

    if evses.height:
        available = float(evses["available_s"].sum())
        line(
            "availability",
            "network available_pct",
            _pct(available, known),
            "AVAILABLE / known-status time, all EVSEs together",
        )
        line("availability", "EVSE available_pct", None, _quantiles(evses["available_pct"]))
        in_service = evses["in_service_pct"].drop_nulls()
        line(
            "availability",
            "EVSEs under 97 % in service",
            int((in_service < 97).sum()),
            f"of {in_service.len()} measured",
        )
        worst = evses.filter(pl.col("in_service_pct").is_not_null()).sort(
            ["in_service_pct", "evse_id"]
        )
        for row in worst.head(WORST).iter_rows(named=True):
            out = row["out_of_order_s"] + row["inoperative_s"]
            line(
                "worst EVSEs",
                row["evse_id"],
                row["in_service_pct"],
                f"in service %; out {format_duration(out)}, "
                f"available {row['available_pct'] or 0:.2f} %",
            )
    if stations.height:
        online = float(stations["online_s"].sum())
        line("uptime", "network uptime_pct", _pct(online, station_observed), "online / observed")
        line("uptime", "station uptime_pct", None, _quantiles(stations["uptime_pct"]))
        worst_stations = stations.filter(pl.col("uptime_pct").is_not_null()).sort(
            ["uptime_pct", "station_id"]
        )
        for row in worst_stations.head(WORST).iter_rows(named=True):
            line(
                "worst stations",
                row["station_id"],
                row["uptime_pct"],
                f"uptime %; {row['outages']} outages, longest "
                f"{format_duration(row['longest_outage_s'] or 0)}",
            )
    if flapping.height:
        flappers = flapping.filter(pl.col("is_flapping"))
        line("flapping", "stations flapping", flappers.height, f"of {flapping.height}")
        for row in (
            flappers.sort(["disconnects", "station_id"], descending=[True, False])
            .head(WORST)
            .iter_rows(named=True)
        ):
            line(
                "flapping",
                row["station_id"],
                row["disconnects"],
                f"disconnects; {row['short_disconnects']} short, "
                f"effective uptime {row['effective_uptime_pct'] or 0:.2f} %",
            )

    end = window.end
    out_now = (
        spans.filter(
            pl.col("state").is_in(OUT_STATES) & (pl.col("interval_end") == end.astimezone(UTC))
        ).sort(["entity_kind", "interval_start", "entity_id"])
        if spans.height
        else spans
    )
    line("at the end", "out of order or offline", out_now.height, "entities in an outage state")
    for row in out_now.head(2 * WORST).iter_rows(named=True):
        line(
            "at the end",
            row["entity_id"],
            row["duration_s"],
            f"{row['state']} since {row['interval_start'].astimezone(window.tz).isoformat()} "
            f"(at least {format_duration(row['duration_s'])})",
        )

    quarantined = engine.quarantine_counts()
    for source, reason, count in quarantined:
        line("quarantine", f"{source}: {reason}", count, "records kept aside, not replayed")
    if not quarantined:
        line("quarantine", "records", 0, "nothing quarantined")

    # Freshness against the window's end, not the clock: a summary of a past window reads the
    # same whenever it is run (the default window ends with the lake's data).
    for kind, label in ((EntityKind.EVSE, "status events"), (EntityKind.STATION, "connectivity")):
        last = engine.event_span(kind).last_event_us
        if last is None:
            line("freshness", label, None, "none recorded")
            continue
        gap = (window.end - from_micros(last)).total_seconds()
        when = from_micros(last).astimezone(window.tz).isoformat()
        relation = "before" if gap >= 0 else "after"
        line(
            "freshness",
            f"last {label}",
            gap,
            f"{when}, {format_duration(abs(gap))} {relation} the window's end",
        )

    frame = pl.DataFrame(
        lines,
        schema={"section": pl.String, "item": pl.String, "value": pl.Float64, "detail": pl.String},
        orient="row",
    )
    return NetworkSummary(frame, evses, stations, flapping, window)


def plot_summary(result: NetworkSummary, path: str | os.PathLike[str]) -> Path:
    """Write the one-page picture (`plots.summary_figure`) to `path` (.png or .svg)."""
    # Deferred: matplotlib loads only when a plot is drawn.
    from evlog._reports.plots import plot_summary as plot

    return plot(result.frame, result.availability, result.uptime, path)


def _summary(report: Report, engine: EngineBase[Any], values: Values) -> NetworkSummary:
    return compute_summary(engine, values)


REPORT = Report(
    name="summary",
    entity="line of the overview (section, item, value, detail)",
    summary="The network at a glance: EVSEs and stations seen, coverage, availability and uptime "
    "distributions, the worst EVSEs and stations, flapping, outages at the end, quarantine, "
    "data freshness.",
    details="Made from the availability, uptime, flaps and intervals reports over one window "
    "(`--by none`), with their default options; `--plot` draws a one-page picture.",
    columns=COLUMNS,
    run=_summary,
    default_by=None,
    engines=("duckdb",),
    plot=Plot("one-page overview", lambda result, path, tz: plot_summary(result, path)),
    lazy=False,
    frame_of=lambda result: result.frame,
    title="summary",
)
