"""flaps: per charging station and period, disconnects, short disconnects and flapping episodes.

Besides the design's figures, the report carries a monitoring-style percent state change so that
operators used to Nagios or Icinga recognise it: over the last 21 observations (20 possible
changes), each change weighs from 0.75 (oldest) rising linearly to 1.25 (newest); the weighted sum
over 20, in percent, is the percent state change. A station starts flapping when it rises above the
high threshold and stops when it falls below the low one (hysteresis: in between, it keeps its
previous flag). The defaults, 5 % and 20 %, are Nagios's host and service defaults.
"""

from __future__ import annotations

from datetime import timedelta

from evlog._errors import UsageError
from evlog._replay.runner import EntityKind
from evlog._reports._flap_rule import (
    DEFAULT_COUNT,
    DEFAULT_HIGH_PCT,
    DEFAULT_LOW_PCT,
    DEFAULT_THRESHOLD,
    DEFAULT_WINDOW,
)
from evlog._reports._report import (
    HOLD_AFTER_GAP,
    METADATA_FILTERS,
    STATION,
    Option,
    Report,
    Values,
    replay,
    report_plot,
)
from evlog._window import parse_positive_duration


def _micros(duration: timedelta) -> int:
    return (duration.days * 86_400 + duration.seconds) * 1_000_000 + duration.microseconds


def _at_least_two(value: int, flag: str) -> int:
    if value < 2:
        raise UsageError(f"{flag}: needs at least 2 disconnects, got {value}")
    return value


def _percent(value: float, flag: str) -> float:
    return float(value)


FLAP_THRESHOLD = Option(
    "flap_threshold",
    "--flap-threshold",
    str,
    DEFAULT_THRESHOLD,
    "A disconnect shorter than this is short.",
    parse=parse_positive_duration,
    param="flap_threshold_us",
    bind=_micros,
    api_type="str | timedelta",
    metavar="DURATION",
)
FLAP_COUNT = Option(
    "flap_count",
    "--flap-count",
    int,
    DEFAULT_COUNT,
    "Disconnects in a run that makes an episode.",
    parse=_at_least_two,
    param="flap_count",
    metavar="N",
)
FLAP_WINDOW = Option(
    "flap_window",
    "--flap-window",
    str,
    DEFAULT_WINDOW,
    "Time within which a run's disconnects lie.",
    parse=parse_positive_duration,
    param="flap_window_us",
    bind=_micros,
    api_type="str | timedelta",
    metavar="DURATION",
)
FLAP_LOW = Option(
    "flap_low_pct",
    "--flap-low",
    float,
    DEFAULT_LOW_PCT,
    "Percent state change below which flapping stops.",
    parse=_percent,
    param="flap_low_pct",
    metavar="PERCENT",
)
FLAP_HIGH = Option(
    "flap_high_pct",
    "--flap-high",
    float,
    DEFAULT_HIGH_PCT,
    "Percent state change above which it starts.",
    parse=_percent,
    param="flap_high_pct",
    metavar="PERCENT",
)


def _low_below_high(values: Values) -> None:
    low, high = values[FLAP_LOW.name], values[FLAP_HIGH.name]
    if not 0 <= low <= high <= 100:
        raise UsageError(
            f"{FLAP_LOW.flag}/{FLAP_HIGH.flag}: need 0 <= low <= high <= 100, got {low} and {high}"
        )


REPORT = Report(
    name="flaps",
    entity="station x period, worst first",
    summary="Disconnects, short disconnects and flapping episodes per station, worst first.",
    columns=(
        "station_id",
        "period_start",
        "period_end",
        "observed_s",
        "online_s",
        "offline_s",
        "disconnects",
        "short_disconnects",
        "flapping_episodes",
        "flapping_s",
        "uptime_pct",
        "effective_uptime_pct",
        "percent_state_change",
        "is_flapping",
    ),
    run=replay,
    options=(
        STATION,
        *METADATA_FILTERS,
        FLAP_THRESHOLD,
        FLAP_COUNT,
        FLAP_WINDOW,
        FLAP_LOW,
        FLAP_HIGH,
        HOLD_AFTER_GAP,
    ),
    kind=EntityKind.STATION,
    sql="flaps",
    plot=report_plot("flaps", "worst-flapper ranking"),
    title="flaps (worst first)",
    check=_low_below_high,
)
