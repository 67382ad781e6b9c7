"""A plain-Python replay, written from the rules of docs/replay.md and nothing else, to check the
SQL against.

It works on a time grid: every event time, coverage bound and window bound the tests generate is
a multiple of `STEP`, and so are the period boundaries of the zones used (whole or half hours).
The state of every step is then evaluated on its own, straight from the rules, and steps are
summed per period. Slow, but obviously right.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

from tests.replay.lakes import from_micros

STEP = 5 * 60 * 1_000_000  # five minutes, in microseconds


@dataclass(frozen=True)
class Row:
    """One delivered event: entity, state, event time (us) and its arrival order key."""

    entity: str
    state: str
    t: int
    arrival: tuple[int, int, int, str]


def observations(rows: Sequence[Row], end: int) -> dict[str, list[tuple[int, str]]]:
    """Rule *Order by event time*: per entity, one state per event time (the latest-arriving),
    sorted by time. An
    observation (entity, state, time) arrives with its first copy."""
    first: dict[tuple[str, int, str], tuple[int, int, int, str]] = {}
    for row in rows:
        if row.t >= end:
            continue
        key = (row.entity, row.t, row.state)
        first[key] = min(first.get(key, row.arrival), row.arrival)
    chosen: dict[tuple[str, int], tuple[tuple[int, int, int, str], str]] = {}
    for (entity, t, state), arrival in first.items():
        if (entity, t) not in chosen or arrival > chosen[entity, t][0]:
            chosen[entity, t] = (arrival, state)
    result: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for (entity, t), (_, state) in sorted(chosen.items()):
        result[entity].append((t, state))
    return dict(result)


def merged_spans(sessions: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for start, end in sorted(s for s in sessions if s[1] > s[0]):
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], end))
        else:
            spans.append((start, end))
    return spans


def state_at(
    t: int,
    history: list[tuple[int, str]],
    coverage: list[tuple[int, int]] | None,
    hold: bool,
) -> str:
    """Rules *Carry-in* and *Coverage* at one instant. `coverage` None: the source records no
    coverage."""
    span = None
    if coverage is not None:
        span = next((s for s in coverage if s[0] <= t < s[1]), None)
        if span is None:
            return "unobserved"
    index = bisect.bisect_right([time for time, _ in history], t) - 1
    if index < 0:
        return "no_data"
    last_time, last_state = history[index]
    if span is not None and last_time < span[0] and not hold:
        return "no_data"  # carried across a coverage gap
    return last_state


def period_key(t: int, by: str, tz: ZoneInfo) -> Hashable:
    local = from_micros(t).astimezone(tz)
    if by == "hour":
        return (local.date(), local.hour, local.utcoffset())
    if by == "day":
        return local.date()
    if by == "week":
        return local.isocalendar()[:2]
    if by == "month":
        return (local.year, local.month)
    return None


@dataclass
class Timeline:
    """Per entity, the state of every step of the window and the period each step belongs to."""

    steps: list[int]
    period_starts: list[int]  # per step: start of its period (first step of its key)
    states: dict[str, list[str]]


def timeline(
    rows: Sequence[Row],
    sessions: Sequence[tuple[int, int]] | None,
    start: int,
    end: int,
    by: str,
    tz: ZoneInfo,
    hold: bool = False,
) -> Timeline:
    history = observations(rows, end)
    coverage = None if sessions is None else merged_spans(sessions)
    steps = list(range(start, end, STEP))
    first_step_of: dict[Hashable, int] = {}
    period_starts = [first_step_of.setdefault(period_key(u, by, tz), u) for u in steps]
    states = {
        entity: [state_at(u, obs, coverage, hold) for u in steps] for entity, obs in history.items()
    }
    return Timeline(steps, period_starts, states)


def durations(line: Timeline) -> dict[tuple[str, int], dict[str, int]]:
    """(entity, period start) -> state -> microseconds."""
    result: dict[tuple[str, int], dict[str, int]] = {}
    for entity, states in line.states.items():
        for state, period in zip(states, line.period_starts, strict=True):
            result.setdefault((entity, period), defaultdict(int))[state] += STEP
    return result


@dataclass(frozen=True)
class Run:
    state: str
    start: int
    end: int


def runs(line: Timeline, entity: str) -> list[Run]:
    result: list[Run] = []
    for u, state in zip(line.steps, line.states[entity], strict=True):
        if result and result[-1].state == state:
            result[-1] = Run(state, result[-1].start, u + STEP)
        else:
            result.append(Run(state, u, u + STEP))
    return result


def period_of(line: Timeline) -> Callable[[int], int]:
    index = {u: p for u, p in zip(line.steps, line.period_starts, strict=True)}
    return lambda t: index[t]


def outages(line: Timeline) -> dict[tuple[str, int], list[int]]:
    """(entity, period of its start) -> lengths of the offline runs starting there."""
    period = period_of(line)
    result: dict[tuple[str, int], list[int]] = defaultdict(list)
    for entity in line.states:
        for run in runs(line, entity):
            if run.state == "offline":
                result[(entity, period(run.start))].append(run.end - run.start)
    return result


@dataclass
class FlapFigures:
    disconnects: int = 0
    short_disconnects: int = 0
    flapping_episodes: int = 0
    flapping_us: int = 0
    short_offline_us: int = 0


def flaps(
    line: Timeline, threshold: int, count: int, window: int
) -> dict[tuple[str, int], FlapFigures]:
    period = period_of(line)
    result: dict[tuple[str, int], FlapFigures] = defaultdict(FlapFigures)
    for entity in line.states:
        entity_runs = runs(line, entity)
        disconnects: list[Run] = []
        short_steps: set[int] = set()
        for before, run, after in zip(
            [None, *entity_runs[:-1]], entity_runs, [*entity_runs[1:], None], strict=True
        ):
            if run.state != "offline" or before is None or before.state != "online":
                continue
            disconnects.append(run)
            figures = result[(entity, period(run.start))]
            figures.disconnects += 1
            if after is not None and after.state == "online" and run.end - run.start < threshold:
                figures.short_disconnects += 1
                short_steps.update(range(run.start, run.end, STEP))
        spans = [
            (disconnects[i].start, disconnects[i + count - 1].end)
            for i in range(len(disconnects) - count + 1)
            if disconnects[i + count - 1].start - disconnects[i].start <= window
        ]
        episodes = merged_spans(spans) if spans else []
        # merged_spans joins touching spans too, as the design asks
        for start, _ in episodes:
            result[(entity, period(start))].flapping_episodes += 1
        for u in line.steps:
            if any(s <= u < e for s, e in episodes):
                result[(entity, period(u))].flapping_us += STEP
            if u in short_steps:
                result[(entity, period(u))].short_offline_us += STEP
    return result


def nagios(
    history: list[tuple[int, str]], at_end: int, low: float, high: float
) -> tuple[Fraction | None, bool]:
    """Nagios percent state change over the last 21 states before `at_end`, and the flap flag."""
    states = [state for t, state in history if t < at_end]
    if not states:
        return None, False
    flapping = False
    percent = Fraction(0)
    for newest in range(len(states)):
        window = states[max(0, newest - 20) : newest + 1]
        window = [window[0]] * (21 - len(window)) + window  # fewer than 21: no older changes
        weighted = sum(
            (Fraction(3, 4) + Fraction(x - 1, 2 * 19))
            for x in range(1, 21)
            if window[x] != window[x - 1]
        )
        percent = Fraction(weighted) * 100 / 20
        if percent > Fraction(high):
            flapping = True
        elif percent < Fraction(low):
            flapping = False
    return percent, flapping


def to_us(value: datetime) -> int:
    return (value - from_micros(0)) // timedelta(microseconds=1)
