"""feed-health: is the status feed trustworthy? Per EVSE over the window (or per EVSE and day,
`--by day`), ranked worst first.

What the replay smooths over, shown as it arrived: exact repeats, clamped clock skew, events out
of arrival order, receive lag, implausible rates (more than one status a minute all day), a
CHARGING spell longer than any session, statuses after REMOVED, and how long each EVSE has been
silent. `evlog lake info` lists the coverage gaps and `evlog lake quarantine` what could not be
parsed.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from evlog._errors import UsageError
from evlog._replay.runner import EntityKind
from evlog._reports._report import EVSE, LOCATION, STATION, Option, Report, Values
from evlog._sources.edrv_events import CONNECTOR_STATUS_EVENT, OFFLINE_EVENT, ONLINE_EVENT
from evlog._window import Period

if TYPE_CHECKING:
    from evlog._replay.engine import EngineBase

# The webhook types evlog turns into observations; others are counted as `other_webhooks`.
KNOWN_WEBHOOK_TYPES = (ONLINE_EVENT, OFFLINE_EVENT, CONNECTOR_STATUS_EVENT)

# What the events of an EVSE, a station or the network say about their feed.
_ARRIVAL_FIGURES: tuple[str, ...] = (
    "events",
    "repeated",
    "repeated_pct",
    "clamped",
    "out_of_order",
    "out_of_order_pct",
    "lag_p50_s",
    "lag_p95_s",
)
EVSE_COLUMNS: tuple[str, ...] = (
    "evse_id",
    "location_id",
    "period_start",
    "period_end",
    *_ARRIVAL_FIGURES,
    "busiest_day_events",
    "implausible_rate",
    "longest_charging_s",
    "after_removed",
    "last_event",
    "silent_s",
)
# The stations' figures: the EVSEs' less what only a status feed has (location, charging,
# REMOVED, the implausible rate), and the webhooks of types evlog does not read.
STATION_COLUMNS: tuple[str, ...] = (
    "station_id",
    *(
        c
        for c in EVSE_COLUMNS[1:]
        if c not in ("location_id", "implausible_rate", "longest_charging_s", "after_removed")
    ),
    "other_webhooks",
    "other_types",
)

NETWORK_COLUMNS: tuple[str, ...] = (
    "period_start",
    "period_end",
    "evses",
    "reporting_evses",
    "silent_evses",
    *_ARRIVAL_FIGURES,
    "implausible_evses",
    "charging_over_24h_evses",
    "after_removed_evses",
)

STATIONS = Option(
    "stations",
    "--stations",
    bool,
    False,
    "One row per station (the connectivity feed) instead of per EVSE.",
)
NETWORK = Option(
    "network",
    "--network",
    bool,
    False,
    "One row per period for the whole status feed (its EVSEs together) instead of per EVSE.",
)


def _check(values: Values) -> None:
    if values.get("stations") and values.get("network"):
        raise UsageError("--network: not with --stations (the network rows are the EVSEs')")


def _feed_health(report: Report, engine: EngineBase[Any], values: Values) -> Any:
    stations = report.switch is STATIONS
    kind = EntityKind.STATION if stations else EntityKind.EVSE
    sql = "feed_health_network" if report.switch is NETWORK else "feed_health"
    window = engine.window(kind, values["start"], values["end"], values["by"], values["tz"])
    if stations:
        return engine.relation(
            kind,
            "feed_health_stations",
            window,
            entity_ids=list(values["station"]),
            location_ids=[],
            known_webhook_types=list(KNOWN_WEBHOOK_TYPES),
        )
    return engine.relation(
        kind,
        sql,
        window,
        entity_ids=list(values["evse"]),
        location_ids=list(values["location"]),
    )


_PER_EVSE = Report(
    name="feed_health",
    entity="EVSE x period (by default the window), worst first",
    summary="Is the status feed trustworthy: repeats, clamped times, out-of-order arrivals, "
    "receive lag, implausible rates, stuck CHARGING, statuses after REMOVED, silence.",
    details="One row per EVSE with events in the window. `repeated`: copies of an observation "
    "(same time and status) that the replay counts once; `clamped`: source times later than "
    "their receipt plus the skew tolerance, replaced by the receive time; `out_of_order`: events "
    "that arrived after a later event of the same EVSE; `lag_p50_s`/`lag_p95_s`: event time to "
    "receipt; `busiest_day_events` and `implausible_rate` (over 1,440 on one UTC day); "
    "`longest_charging_s` (to the next event or the window end); `after_removed`; `silent_s` "
    "from the last event to the period end. With --by day (hour, week, month) one row per EVSE "
    "and period, each period's rows worst first, for every EVSE with events in the window (a "
    "period without its events: zeros, and its silence); a CHARGING spell counts in every period "
    "it overlaps.",
    columns=EVSE_COLUMNS,
    run=_feed_health,
    options=(EVSE, LOCATION, STATION, STATIONS, NETWORK),
    kind=EntityKind.EVSE,
    default_by=Period.NONE,
    sql="feed_health",
    engines=("duckdb",),
    title="feed health (worst first)",
    check=_check,
)

STATIONS_REPORT = replace(
    _PER_EVSE,
    name="feed_health_stations",
    entity="station x period (by default the window), worst first",
    summary="Is the connectivity feed trustworthy: per station, repeats, clamped times, "
    "out-of-order arrivals, receive lag, silence, and webhooks of types evlog does not read.",
    details="`--stations`: the same figures for the stations' online/offline observations, and "
    "`other_webhooks`/`other_types`: the window's webhooks naming the station whose event type "
    "is none of " + ", ".join(KNOWN_WEBHOOK_TYPES) + ".",
    columns=STATION_COLUMNS,
    kind=EntityKind.STATION,
    sql="feed_health_stations",
    title="feed health of the stations (worst first)",
    switch=STATIONS,
    command="feed_health",
)
NETWORK_REPORT = replace(
    _PER_EVSE,
    name="feed_health_network",
    entity="period, the whole status feed",
    summary="Is the status feed trustworthy, network-wide: per period (--by day), the EVSEs "
    "reporting and silent, repeats, clamped and out-of-order events, receive lag, and the EVSEs "
    "with an implausible rate, CHARGING over 24 h or statuses after REMOVED.",
    details="`--network`: over the EVSEs with events in the window (and the --evse/--location "
    "filters), one row per period, also a period without any event. `silent_evses`: those without "
    "an event in the period; `repeated`, `clamped`, `out_of_order` and the lag as per EVSE, over "
    "all the period's events; `implausible_evses`: EVSEs with over 1,440 events on a UTC day of "
    "the period; `charging_over_24h_evses`: with a CHARGING spell longer than 24 h overlapping "
    "it; `after_removed_evses`: with a status after REMOVED in it.",
    columns=NETWORK_COLUMNS,
    sql="feed_health_network",
    title="feed health of the network",
    switch=NETWORK,
    command="feed_health",
)
REPORT = replace(_PER_EVSE, variants=(STATIONS_REPORT, NETWORK_REPORT))
