"""flaps: per charging station and period, disconnects, short disconnects and flapping episodes.

Besides the design's figures, the report carries a monitoring-style percent state change so that
operators used to Nagios or Icinga recognise it: over the last 21 observations (20 possible
changes), each change weighs from 0.75 (oldest) rising linearly to 1.25 (newest); the weighted sum
over 20, in percent, is the percent state change. A station starts flapping when it rises above the
high threshold and stops when it falls below the low one (hysteresis: in between, it keeps its
previous flag). The defaults, 5 % and 20 %, are Nagios's host and service defaults.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from evlog.errors import UsageError
from evlog.replay.engine import EngineBase, R
from evlog.replay.options import Window, parse_ids, parse_positive_duration
from evlog.replay.runner import EntityKind

COLUMNS: tuple[str, ...] = (
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
)


@dataclass(frozen=True)
class FlapSettings:
    """What counts as flapping; build it with `FlapSettings.parse` to validate user input."""

    threshold: timedelta = timedelta(minutes=5)
    count: int = 3
    window: timedelta = timedelta(hours=1)
    low_pct: float = 5.0
    high_pct: float = 20.0

    @classmethod
    def parse(
        cls,
        threshold: str | timedelta = "5m",
        count: int = 3,
        window: str | timedelta = "1h",
        low_pct: float = 5.0,
        high_pct: float = 20.0,
    ) -> FlapSettings:
        if count < 2:
            raise UsageError(f"--flap-count: needs at least 2 disconnects, got {count}")
        if not 0 <= low_pct <= high_pct <= 100:
            raise UsageError(
                "--flap-low/--flap-high: need 0 <= low <= high <= 100,"
                f" got {low_pct} and {high_pct}"
            )
        return cls(
            threshold=parse_positive_duration(threshold, "--flap-threshold"),
            count=count,
            window=parse_positive_duration(window, "--flap-window"),
            low_pct=float(low_pct),
            high_pct=float(high_pct),
        )


def _micros(duration: timedelta) -> int:
    return (duration.days * 86_400 + duration.seconds) * 1_000_000 + duration.microseconds


def flaps(
    engine: EngineBase[R],
    window: Window,
    settings: FlapSettings | None = None,
    *,
    station: Iterable[str] = (),
    hold_after_gap: bool = False,
) -> R:
    """Per station and period, worst first (most time flapping, then most short disconnects)."""
    settings = settings or FlapSettings()
    return engine.relation(
        EntityKind.STATION,
        "flaps",
        window,
        entity_ids=list(parse_ids(station)),
        hold_after_gap=hold_after_gap,
        flap_threshold_us=_micros(settings.threshold),
        flap_count=settings.count,
        flap_window_us=_micros(settings.window),
        flap_low_pct=settings.low_pct,
        flap_high_pct=settings.high_pct,
    )
