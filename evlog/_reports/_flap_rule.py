"""What counts as flapping, for Python code outside the `flaps` report (the timeline plot's
episodes): the report's option defaults are these, so both agree unless told otherwise."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from evlog._window import parse_positive_duration

DEFAULT_THRESHOLD = "5m"  # a disconnect shorter than this is short
DEFAULT_COUNT = 3  # disconnects in a run that makes an episode
DEFAULT_WINDOW = "1h"  # within which a run's disconnects lie
DEFAULT_LOW_PCT = 5.0  # percent state change below which flapping stops (Nagios)
DEFAULT_HIGH_PCT = 20.0  # and above which it starts


def _duration(text: str) -> timedelta:
    return parse_positive_duration(text, "flap settings")


@dataclass(frozen=True)
class FlapSettings:
    """The `flaps` report's notion of flapping, for Python code outside the report."""

    threshold: timedelta = field(default_factory=lambda: _duration(DEFAULT_THRESHOLD))
    count: int = DEFAULT_COUNT
    window: timedelta = field(default_factory=lambda: _duration(DEFAULT_WINDOW))
    low_pct: float = DEFAULT_LOW_PCT
    high_pct: float = DEFAULT_HIGH_PCT
