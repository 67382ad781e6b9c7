"""feed-health: is the status feed trustworthy? Per EVSE over the window, ranked worst first.

What the replay smooths over, shown as it arrived: exact repeats, clamped clock skew, events out
of arrival order, receive lag, implausible rates (more than one status a minute all day), a
CHARGING spell longer than any session, statuses after REMOVED, and how long each EVSE has been
silent. `evlog lake info` lists the coverage gaps and `evlog lake quarantine` what could not be
parsed.
"""

from __future__ import annotations

from evlog._replay.runner import EntityKind
from evlog._reports._report import EVSE, LOCATION, Report, replay

REPORT = Report(
    name="feed_health",
    entity="EVSE over the window, worst first",
    summary="Is the status feed trustworthy: repeats, clamped times, out-of-order arrivals, "
    "receive lag, implausible rates, stuck CHARGING, statuses after REMOVED, silence.",
    details="One row per EVSE with events in the window. `repeated`: copies of an observation "
    "(same time and status) that the replay counts once; `clamped`: source times later than "
    "their receipt plus the skew tolerance, replaced by the receive time; `out_of_order`: events "
    "that arrived after a later event of the same EVSE; `lag_p50_s`/`lag_p95_s`: event time to "
    "receipt; `busiest_day_events` and `implausible_rate` (over 1,440 on one UTC day); "
    "`longest_charging_s` (to the next event or the window end); `after_removed`; `silent_s` "
    "from the last event to the window end.",
    columns=(
        "evse_id",
        "location_id",
        "events",
        "repeated",
        "repeated_pct",
        "clamped",
        "out_of_order",
        "out_of_order_pct",
        "lag_p50_s",
        "lag_p95_s",
        "busiest_day_events",
        "implausible_rate",
        "longest_charging_s",
        "after_removed",
        "last_event",
        "silent_s",
    ),
    run=replay,
    options=(EVSE, LOCATION),
    kind=EntityKind.EVSE,
    default_by=None,
    sql="feed_health",
    engines=("duckdb",),
    title="feed health (worst first)",
)
