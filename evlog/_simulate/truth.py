"""Ground truth: true state intervals, replayed (expected) intervals and the expected figures.

Two timelines are kept per entity (EVSE or station):

* **true**: the state the source published, from its true event time, tiling the whole span
  (the state at the start of the span is known to the simulator).
* **expected**: what a correct replay of the *delivered* feed gives under docs/replay.md:
  `no_data` before the first delivered observation, `unobserved` outside the source's declared
  coverage, `no_data` after a coverage gap until the next delivered observation, a clamped event
  time where the source's clock ran ahead, repeats merged. Duplicates, late arrivals and quarantined
  records carry no information of their own, so they do not appear here.

The expected figures (availability per EVSE, uptime per station, by UTC day) are summed from the
expected intervals only.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Sequence
from typing import IO, Any, Final

from evlog._simulate.model import DAY

NO_DATA: Final = "no_data"
UNOBSERVED: Final = "unobserved"
ONLINE: Final = "online"
OFFLINE: Final = "offline"

EVSE_STATES: Final = (
    "AVAILABLE", "CHARGING", "RESERVED", "BLOCKED", "INOPERATIVE", "OUT_OF_ORDER", "PLANNED",
    "REMOVED", "UNKNOWN",
)  # fmt: skip
INTERVAL_COLUMNS: Final = ("entity_type", "entity_id", "location_id", "state", "start", "end")
AVAILABILITY_COLUMNS: Final = (
    "location_id", "evse_id", "period_start", "period_end", "no_data_s", "unobserved_s",
    "observed_s", *(f"{s.lower()}_s" for s in EVSE_STATES), "available_pct", "in_service_pct",
)  # fmt: skip
UPTIME_COLUMNS: Final = (
    "station_id", "location_id", "period_start", "period_end", "no_data_s", "unobserved_s",
    "observed_s", "online_s", "offline_s", "uptime_pct", "outages", "longest_outage_s", "mttr_s",
    "mtbf_s",
)  # fmt: skip


_DATES: dict[int, str] = {}


def _clock(t: int) -> tuple[str, int, int, int, int]:
    day, rem = divmod(t, DAY)
    date = _DATES.get(day)
    if date is None:
        date = _DATES[day] = time.strftime("%Y-%m-%d", time.gmtime(day * 86_400))
    sec, milli = divmod(rem, 1000)
    hour, sec = divmod(sec, 3600)
    minute, sec = divmod(sec, 60)
    return date, hour, minute, sec, milli


def iso_ms(t: int) -> str:
    """`2026-11-02T00:00:01.234Z`."""
    date, h, m, s, milli = _clock(t)
    return f"{date}T{h:02d}:{m:02d}:{s:02d}.{milli:03d}Z"


def iso_s(t: int) -> str:
    """`2026-11-02T00:00:01Z` (milliseconds are dropped)."""
    date, h, m, s, _ = _clock(t)
    return f"{date}T{h:02d}:{m:02d}:{s:02d}Z"


def seconds(ms: int) -> str:
    """Exact seconds with millisecond digits, e.g. `3600.250`."""
    return f"{ms // 1000}.{ms % 1000:03d}"


def ratio(num: float, den: float) -> str:
    return "" if den == 0 else f"{num / den:.6f}"


def pct(num: int, den: int) -> str:
    return "" if den == 0 else f"{100 * num / den:.6f}"


class Periods:
    """UTC days over [start, end): period i is [max(day_i, start), min(day_i + 1 day, end))."""

    def __init__(self, start: int, end: int) -> None:
        self.start = start
        self.end = end
        self.day0 = start // DAY * DAY
        self.count = (end - 1 - self.day0) // DAY + 1

    def bounds(self, i: int) -> tuple[int, int]:
        return max(self.day0 + i * DAY, self.start), min(self.day0 + (i + 1) * DAY, self.end)

    def split(self, a: int, b: int) -> list[tuple[int, int]]:
        """(period index, ms) for the parts of [a, b)."""
        parts = []
        while a < b:
            i = (a - self.day0) // DAY
            cut = min(b, self.day0 + (i + 1) * DAY)
            parts.append((i, cut - a))
            a = cut
        return parts


class TrueTimeline:
    """True state intervals of many entities, written as they close."""

    def __init__(
        self,
        out: IO[str],
        entity_type: str,
        ids: Sequence[str],
        locations: Sequence[str],
        initial: Sequence[str],
        start: int,
    ) -> None:
        self._writer = csv.writer(out, lineterminator="\n")
        self.entity_type = entity_type
        self.ids = ids
        self.locations = locations
        self.state = list(initial)
        self.since = [start] * len(ids)

    def observe(self, e: int, state: str, t: int) -> None:
        if state != self.state[e]:
            self._emit(e, t)
            self.state[e] = state
            self.since[e] = t

    def _emit(self, e: int, t: int) -> None:
        self._writer.writerow(
            (
                self.entity_type,
                self.ids[e],
                self.locations[e],
                self.state[e],
                iso_ms(self.since[e]),
                iso_ms(t),
            )
        )

    def finish(self, end: int) -> None:
        for e in range(len(self.ids)):
            self._emit(e, end)


class ReplayTimeline:
    """Expected (replayed) intervals of many entities of one source, plus figures by period.

    `observe` must be called per entity in event-time order with delivered observations only, none
    of which lies inside a coverage gap (the simulator guarantees both).
    """

    def __init__(
        self,
        out: IO[str],
        entity_type: str,
        ids: Sequence[str],
        locations: Sequence[str],
        states: Sequence[str],
        gaps: Sequence[tuple[int, int]],
        periods: Periods,
    ) -> None:
        self._writer = csv.writer(out, lineterminator="\n")
        self.entity_type = entity_type
        self.ids = ids
        self.locations = locations
        self.gaps = sorted(gaps)
        self.periods = periods
        self.index = {s: i for i, s in enumerate((*states, NO_DATA, UNOBSERVED))}
        self.width = len(self.index)
        n = len(ids)
        self.state = [NO_DATA] * n
        self.since = [periods.start] * n
        self.observed = [False] * n
        # Per entity, per period: ms per state (in `self.index` order).
        self.time: list[list[int] | None] = [None] * n
        # Per entity, per period: outages starting there, their total and longest length (ms).
        self.outages: list[list[int] | None] = [None] * n

    def _close(self, e: int, end: int) -> None:
        a = self.since[e]
        if a >= end:
            return
        state = self.state[e]
        self._writer.writerow(
            (self.entity_type, self.ids[e], self.locations[e], state, iso_ms(a), iso_ms(end))
        )
        p = self.periods
        acc = self.time[e]
        if acc is None:
            acc = self.time[e] = [0] * (p.count * self.width)
        col = self.index[state]
        for i, ms in p.split(a, end):
            acc[i * self.width + col] += ms
        if state == OFFLINE:
            out = self.outages[e]
            if out is None:
                out = self.outages[e] = [0] * (p.count * 3)
            i = (a - p.day0) // DAY
            out[3 * i] += 1
            out[3 * i + 1] += end - a
            out[3 * i + 2] = max(out[3 * i + 2], end - a)

    def _set(self, e: int, state: str, t: int) -> None:
        self._close(e, t)
        self.state[e] = state
        self.since[e] = t

    def _cross_gaps(self, e: int, t: int) -> None:
        """Walk entity `e` through every coverage gap that starts in (since, t]."""
        for g0, g1 in self.gaps:
            if self.since[e] < g0 <= t:
                self._set(e, UNOBSERVED, g0)
                self._set(e, NO_DATA, g1)

    def observe(self, e: int, state: str, t: int) -> None:
        self.observed[e] = True
        self._cross_gaps(e, t)
        if state != self.state[e]:
            self._set(e, state, t)

    def finish(self) -> None:
        end = self.periods.end
        for e in range(len(self.ids)):
            self._cross_gaps(e, end - 1)
            self._close(e, end)

    def period_times(self, e: int, i: int) -> list[int]:
        acc = self.time[e]
        assert acc is not None
        return acc[i * self.width : (i + 1) * self.width]

    def period_outages(self, e: int, i: int) -> tuple[int, int, int]:
        out = self.outages[e]
        if out is None:
            return 0, 0, 0
        return out[3 * i], out[3 * i + 1], out[3 * i + 2]


def write_availability(out: IO[str], *replays: ReplayTimeline) -> int:
    """Expected `availability` rows, per EVSE (with a delivered observation) and UTC day, of
    the EVSE timelines `replays` (HERE's EVSEs, eDRV's ports)."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(AVAILABILITY_COLUMNS)
    return sum(_availability_rows(writer, replay) for replay in replays)


def _availability_rows(writer: Any, replay: ReplayTimeline) -> int:
    rows = 0
    n_states = len(EVSE_STATES)
    unknown = EVSE_STATES.index("UNKNOWN")
    down = (EVSE_STATES.index("INOPERATIVE"), EVSE_STATES.index("OUT_OF_ORDER"))
    for e in range(len(replay.ids)):
        if not replay.observed[e]:
            continue
        for i in range(replay.periods.count):
            a, b = replay.periods.bounds(i)
            t = replay.period_times(e, i)
            observed = sum(t[:n_states])
            known = observed - t[unknown]
            in_service = observed - t[down[0]] - t[down[1]]
            writer.writerow(
                (
                    replay.locations[e],
                    replay.ids[e],
                    iso_ms(a),
                    iso_ms(b),
                    seconds(t[n_states]),
                    seconds(t[n_states + 1]),
                    seconds(observed),
                    *(seconds(ms) for ms in t[:n_states]),
                    pct(t[0], known),
                    pct(in_service, observed),
                )
            )
            rows += 1
    return rows


def write_uptime(out: IO[str], replay: ReplayTimeline) -> int:
    """Expected `uptime` rows, per station (with a delivered observation) and UTC day."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(UPTIME_COLUMNS)
    rows = 0
    for e in range(len(replay.ids)):
        if not replay.observed[e]:
            continue
        for i in range(replay.periods.count):
            a, b = replay.periods.bounds(i)
            online, offline, no_data, unobserved = replay.period_times(e, i)
            outages, total, longest = replay.period_outages(e, i)
            writer.writerow(
                (
                    replay.ids[e],
                    replay.locations[e],
                    iso_ms(a),
                    iso_ms(b),
                    seconds(no_data),
                    seconds(unobserved),
                    seconds(online + offline),
                    seconds(online),
                    seconds(offline),
                    pct(online, online + offline),
                    outages,
                    seconds(longest) if outages else "",
                    ratio(total / 1000, outages),
                    ratio(online / 1000, outages),
                )
            )
            rows += 1
    return rows
