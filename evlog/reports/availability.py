"""availability: per EVSE and period, time in every OCPI status, AVAILABLE and in-service ratios.

Optional roll-up per location: the time at least one of its EVSEs was AVAILABLE.
"""

from __future__ import annotations

from collections.abc import Iterable

from evlog.replay.engine import EngineBase, R
from evlog.replay.options import Window, parse_ids
from evlog.replay.runner import EntityKind
from evlog.schema import Status

STATUS_COLUMNS: tuple[str, ...] = tuple(f"{status.value.lower()}_s" for status in Status)

COLUMNS: tuple[str, ...] = (
    "location_id",
    "evse_id",
    "period_start",
    "period_end",
    "no_data_s",
    "unobserved_s",
    "observed_s",
    *STATUS_COLUMNS,
    "available_pct",
    "in_service_pct",
)

LOCATION_COLUMNS: tuple[str, ...] = (
    "location_id",
    "period_start",
    "period_end",
    "evses",
    "known_s",
    "available_s",
    "available_pct",
)


def availability(
    engine: EngineBase[R],
    window: Window,
    *,
    evse: Iterable[str] = (),
    location: Iterable[str] = (),
    hold_after_gap: bool = False,
    by_location: bool = False,
) -> R:
    """Per EVSE (or, with `by_location`, per location) and period."""
    return engine.relation(
        EntityKind.EVSE,
        "availability_by_location" if by_location else "availability",
        window,
        entity_ids=list(parse_ids(evse)),
        location_ids=list(parse_ids(location)),
        hold_after_gap=hold_after_gap,
    )
