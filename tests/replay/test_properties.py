"""Property tests: the SQL replay agrees with the plain-Python reference on random histories.

Random histories per entity, random coverage sessions, arrival order unrelated to event order,
duplicated delivery, random file layout, random windows, period sizes and time zones (DST included).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import evlog
from evlog._lake.names import Source, Status, Table
from evlog._upkeep.compact import compact
from tests.replay import reference as ref
from tests.replay.lakes import (
    Connectivity,
    StatusEvent,
    from_micros,
    make_lake,
    micros,
    status_table,
    write_coverage,
    write_in_files,
)

# Bases a few hours before DST changes, so that random windows often cross them.
BASES = [
    datetime(2024, 3, 30, tzinfo=UTC),  # Europe: 23-hour day on Mar 31; April starts
    datetime(2024, 10, 26, tzinfo=UTC),  # Europe: 25-hour day on Oct 27
    datetime(2024, 11, 2, tzinfo=UTC),  # US: 25-hour day on Nov 3
]
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]
PERIODS = ["none", "hour", "day", "week", "month"]
STEP = timedelta(microseconds=ref.STEP)

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@dataclass(frozen=True)
class Delivered:
    entity: str
    state: str
    step: int  # event time, in steps from the base
    delay: int  # arrival after the event time, in steps
    arrival_index: int


@dataclass(frozen=True)
class Scenario:
    base: datetime
    events: list[Delivered]
    sessions: list[tuple[int, int]] | None  # in steps; None: no coverage recorded
    window: tuple[int, int]  # in steps
    by: str
    tz: str
    hold: bool
    files: int
    seed: int

    def t(self, step: int) -> datetime:
        return self.base + step * STEP

    def rows(self) -> list[ref.Row]:
        return [
            ref.Row(
                e.entity,
                e.state,
                micros(self.t(e.step)),
                (micros(self.t(e.step + e.delay)), e.arrival_index, 0, f"key{i:04d}"),
            )
            for i, e in enumerate(self.events)
        ]

    def session_micros(self) -> list[tuple[int, int]] | None:
        if self.sessions is None:
            return None
        return [(micros(self.t(a)), micros(self.t(b))) for a, b in self.sessions]


@st.composite
def scenarios(draw: st.DrawFn, states: list[str], entities: list[str]) -> Scenario:
    # A small pool of shared instants makes collisions likely: ties between events, events exactly
    # at coverage bounds or at the window start.
    pool = draw(st.lists(st.integers(-120, 600), min_size=1, max_size=6))
    instant = st.sampled_from(pool) | st.integers(-120, 600)
    event = st.builds(
        Delivered,
        entity=st.sampled_from(entities),
        state=st.sampled_from(states),
        step=instant,
        delay=st.integers(0, 30),
        arrival_index=st.integers(0, 3),
    )
    events = draw(st.lists(event, min_size=0, max_size=25))
    # duplicated delivery: some events arrive again, later
    again = draw(st.lists(st.sampled_from(events), max_size=5)) if events else []
    events += [
        Delivered(e.entity, e.state, e.step, e.delay + draw(st.integers(0, 50)), e.arrival_index)
        for e in again
    ]
    sessions = draw(
        st.none()
        | st.lists(
            st.tuples(instant, st.integers(1, 300)).map(lambda s: (s[0], s[0] + s[1])),
            min_size=1,
            max_size=3,
        )
    )
    start = draw(instant)
    length = draw(st.integers(1, 700))
    return Scenario(
        base=draw(st.sampled_from(BASES)),
        events=events,
        sessions=sessions,
        window=(start, start + length),
        by=draw(st.sampled_from(PERIODS)),
        tz=draw(st.sampled_from(ZONES)),
        hold=draw(st.booleans()),
        files=draw(st.integers(1, 4)),
        seed=draw(st.integers(0, 1000)),
    )


def reference_timeline(s: Scenario) -> ref.Timeline:
    start, end = (micros(s.t(step)) for step in s.window)
    return ref.timeline(s.rows(), s.session_micros(), start, end, s.by, ZoneInfo(s.tz), s.hold)


def us(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1_000_000)


def keyed(frame: pl.DataFrame, entity_column: str) -> dict[tuple[str, int], dict[str, object]]:
    frame = frame.with_columns(pl.col("period_start").dt.epoch("us").alias("_start"))
    return {(row[entity_column], row["_start"]): row for row in frame.iter_rows(named=True)}


def coverage_sessions(s: Scenario) -> dict[str, list[tuple[datetime, datetime]]]:
    """Each span its own session, or (odd seeds) all in one session with gaps: rows are unioned."""
    spans = [(s.t(a), s.t(b)) for a, b in s.sessions or ()]
    if s.seed % 2:
        return {"declared": spans}
    return {f"session{i}": [span] for i, span in enumerate(spans)}


def build_station_lake(root: Path, s: Scenario) -> evlog.EvlogLake:
    events = [
        Connectivity(
            station_id=e.entity,
            online=e.state == "online",
            event_time=s.t(e.step),
            received_at=s.t(e.step + e.delay),
            arrival_index=e.arrival_index,
            record_key=f"key{i:04d}",
        )
        for i, e in enumerate(s.events)
    ]
    # The status stream needs something too, or a station-free scenario would be an empty lake.
    filler = [StatusEvent("filler", "AVAILABLE", s.base)]
    lake = make_lake(root, connectivity=events, status=filler, files=s.files, seed=s.seed)
    if s.sessions is not None:
        write_coverage(
            lake,
            Source.EDRV_WEBHOOKS,
            coverage_sessions(s),
        )
    # Coverage of another source never governs stations.
    write_coverage(lake, Source.HERE_STREAM, {"other": [(s.t(0), s.t(1))]})
    return evlog.open_lake(root)


station_scenarios = scenarios(["online", "offline"], ["S1", "S2", "S3"])


@SETTINGS
@given(station_scenarios)
def test_uptime_matches_reference(s: Scenario) -> None:
    line = reference_timeline(s)
    expected = ref.durations(line)
    expected_outages = ref.outages(line)
    with tempfile.TemporaryDirectory() as root:
        lake = build_station_lake(Path(root), s)
        frame = lake.uptime(
            s.t(s.window[0]), s.t(s.window[1]), by=s.by, tz=s.tz, hold_after_gap=s.hold
        )
    got = keyed(frame, "station_id")
    assert got.keys() == expected.keys()
    for key, parts in expected.items():
        row = got[key]
        period = us(row["no_data_s"]) + us(row["unobserved_s"]) + us(row["observed_s"])  # type: ignore[operator]
        assert period == sum(parts.values())
        assert us(row["no_data_s"]) == parts.get("no_data", 0)
        assert us(row["unobserved_s"]) == parts.get("unobserved", 0)
        assert us(row["online_s"]) == parts.get("online", 0)
        assert us(row["offline_s"]) == parts.get("offline", 0)
        lengths = expected_outages.get(key, [])
        assert row["outages"] == len(lengths)
        assert us(row["longest_outage_s"]) == (max(lengths) if lengths else None)
        observed = parts.get("online", 0) + parts.get("offline", 0)
        if observed == 0:
            assert row["uptime_pct"] is None
        else:
            assert abs(row["uptime_pct"] - 100 * parts.get("online", 0) / observed) < 1e-9  # type: ignore[operator]


@SETTINGS
@given(
    station_scenarios,
    st.sampled_from([ref.STEP, 2 * ref.STEP, 7 * ref.STEP]),
    st.integers(2, 4),
    st.sampled_from([6 * ref.STEP, 12 * ref.STEP, 30 * ref.STEP]),
)
def test_flaps_match_reference(s: Scenario, threshold: int, count: int, window: int) -> None:
    line = reference_timeline(s)
    expected = ref.flaps(line, threshold, count, window)
    history = ref.observations(s.rows(), micros(s.t(s.window[1])))
    with tempfile.TemporaryDirectory() as root:
        lake = build_station_lake(Path(root), s)
        frame = lake.flaps(
            s.t(s.window[0]),
            s.t(s.window[1]),
            by=s.by,
            tz=s.tz,
            hold_after_gap=s.hold,
            flap_threshold=timedelta(microseconds=threshold),
            flap_count=count,
            flap_window=timedelta(microseconds=window),
        )
    got = keyed(frame, "station_id")
    assert got.keys() == ref.durations(line).keys()
    for key, row in got.items():
        figures = expected.get(key, ref.FlapFigures())
        assert row["disconnects"] == figures.disconnects, key
        assert row["short_disconnects"] == figures.short_disconnects, key
        assert row["flapping_episodes"] == figures.flapping_episodes, key
        assert us(row["flapping_s"]) == figures.flapping_us, key
        online, observed = us(row["online_s"]), us(row["observed_s"])
        if observed:
            effective = 100 * (online + figures.short_offline_us) / observed  # type: ignore[operator]
            assert abs(row["effective_uptime_pct"] - effective) < 1e-9  # type: ignore[operator]
        period_end = micros(row["period_end"])  # type: ignore[arg-type]
        percent, flapping = ref.nagios(history.get(key[0], []), period_end, 5.0, 20.0)
        if percent is None:
            assert row["percent_state_change"] is None
        else:
            assert abs(Fraction(row["percent_state_change"]) - percent) < Fraction(1, 10**9)  # type: ignore[arg-type]
        assert row["is_flapping"] == flapping, key
    # worst first: station totals of flapping time never increase down the table
    totals = frame.group_by("station_id", maintain_order=True).agg(pl.col("flapping_s").sum())
    assert totals["flapping_s"].to_list() == sorted(totals["flapping_s"].to_list(), reverse=True)


STATUSES = [
    Status.AVAILABLE.value,
    Status.CHARGING.value,
    Status.OUT_OF_ORDER.value,
    Status.UNKNOWN.value,
]


status_scenarios = scenarios(STATUSES, ["E1", "E2", "E3"])


def status_events(s: Scenario) -> list[StatusEvent]:
    return [
        StatusEvent(
            evse_id=e.entity,
            status=e.state,
            event_time=s.t(e.step),
            location_id="L" + e.entity[-1],
            received_at=s.t(e.step + e.delay),
            arrival_index=e.arrival_index,
            record_key=f"key{i:04d}",
        )
        for i, e in enumerate(s.events)
    ]


def availability_of(root: Path, s: Scenario) -> pl.DataFrame:
    return evlog.open_lake(root).availability(
        s.t(s.window[0]), s.t(s.window[1]), by=s.by, tz=s.tz, hold_after_gap=s.hold
    )


def assert_availability_matches(frame: pl.DataFrame, s: Scenario) -> None:
    expected = ref.durations(reference_timeline(s))
    got = keyed(frame, "evse_id")
    assert got.keys() == expected.keys()
    for key, parts in expected.items():
        row = got[key]
        assert row["location_id"] == "L" + key[0][-1]
        assert us(row["no_data_s"]) == parts.get("no_data", 0)
        assert us(row["unobserved_s"]) == parts.get("unobserved", 0)
        for status in STATUSES:
            assert us(row[f"{status.lower()}_s"]) == parts.get(status, 0)
        observed = sum(v for k, v in parts.items() if k not in ("no_data", "unobserved"))
        assert us(row["observed_s"]) == observed
        known = observed - parts.get("UNKNOWN", 0)
        if known == 0:
            assert row["available_pct"] is None
        else:
            assert abs(row["available_pct"] - 100 * parts.get("AVAILABLE", 0) / known) < 1e-9  # type: ignore[operator]


FILLER = [Connectivity("filler", True, BASES[0])]


@SETTINGS
@given(status_scenarios)
def test_availability_matches_reference(s: Scenario) -> None:
    with tempfile.TemporaryDirectory() as root:
        lake = make_lake(
            Path(root), connectivity=FILLER, status=status_events(s), files=s.files, seed=s.seed
        )
        if s.sessions is not None:
            write_coverage(lake, Source.HERE_STREAM, coverage_sessions(s))
        frame = availability_of(Path(root), s)
    assert_availability_matches(frame, s)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    status_scenarios,
    st.just(1000) | st.integers(0, 30),  # events recorded before the compaction
    st.booleans(),
    st.integers(-1, 1),
    st.integers(1, 3),
    st.sampled_from([0, 0, 0, 7, 150]),
    st.sampled_from(["day", "week", "month", "none", "hour"]),
)
def test_availability_after_compaction_matches_reference(
    drawn: Scenario,
    recorded_before: int,
    coverage_before: bool,
    first_day: int,
    days: int,
    head_steps: int,
    by: str,
) -> None:
    """Checkpoints and per-day rollups (`evlog lake compact`, in the report's zone) change no
    figure, also when events and coverage are recorded after the compaction: late events land in
    rolled-up days, coverage grows or appears. Windows of whole local days (sometimes starting
    later in the first day) let reports read rollups."""
    zone = ZoneInfo(drawn.tz)
    day = drawn.base.astimezone(zone).date() + timedelta(days=first_day)
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    last = day + timedelta(days=days)
    end = datetime(last.year, last.month, last.day, tzinfo=zone)
    window = ((start - drawn.base) // STEP + head_steps, (end - drawn.base) // STEP)
    s = replace(drawn, window=window, by=by)
    events = status_events(s)
    with tempfile.TemporaryDirectory() as root:
        lake = make_lake(
            Path(root),
            connectivity=FILLER,
            status=events[:recorded_before],
            files=s.files,
            seed=s.seed,
        )
        if s.sessions is not None and coverage_before:
            write_coverage(lake, Source.HERE_STREAM, coverage_sessions(s))
        compact(lake, rollup_zones=[s.tz])
        if events[recorded_before:]:
            write_in_files(
                lake, Table.STATUS_EVENTS, status_table(events[recorded_before:]), 2, s.seed
            )
        if s.sessions is not None and not coverage_before:
            write_coverage(lake, Source.HERE_STREAM, coverage_sessions(s))
        frame = availability_of(Path(root), s)
    assert_availability_matches(frame, s)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(station_scenarios, st.integers(2, 5), st.integers(0, 1000))
def test_file_layout_and_arrival_do_not_matter(s: Scenario, files: int, seed: int) -> None:
    """Rule *Layout does not matter*: the same deliveries in another file layout and order give
    the same report."""
    start, end = s.t(s.window[0]), s.t(s.window[1])
    with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as other:
        first = build_station_lake(Path(one), s)
        relaid = Scenario(**{**s.__dict__, "files": files, "seed": seed})
        second = build_station_lake(Path(other), relaid)
        a = first.uptime(start, end, by=s.by, tz=s.tz)
        b = second.uptime(start, end, by=s.by, tz=s.tz)
    assert a.equals(b)


@st.composite
def republished_ties(draw: st.DrawFn) -> tuple[Scenario, Scenario]:
    """A station scenario with ties (another state at the same time, arriving later), and the
    same with the first state republished after its rival (a new copy, later still)."""
    s = draw(station_scenarios)
    rivals, copies = [], []
    for e in draw(st.lists(st.sampled_from(s.events), max_size=4)) if s.events else []:
        rival_delay = e.delay + draw(st.integers(1, 20))
        other = "offline" if e.state == "online" else "online"
        rivals.append(Delivered(e.entity, other, e.step, rival_delay, e.arrival_index))
        copy_delay = rival_delay + draw(st.integers(0, 20))
        copies.append(Delivered(e.entity, e.state, e.step, copy_delay, e.arrival_index + 1))
    tied = replace(s, events=s.events + rivals)
    return tied, replace(tied, events=tied.events + copies)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(republished_ties())
def test_republished_copies_change_nothing(scenarios: tuple[Scenario, Scenario]) -> None:
    """Rule *Order by event time*: an observation arrives with its first copy, so a copy published
    again later never flips which of two tied states holds."""
    tied, republished = scenarios
    assert ref.durations(reference_timeline(tied)) == ref.durations(reference_timeline(republished))
    start, end = tied.t(tied.window[0]), tied.t(tied.window[1])
    with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as other:
        frames = [
            build_station_lake(Path(root), scenario).uptime(
                start, end, by=tied.by, tz=tied.tz, hold_after_gap=tied.hold
            )
            for root, scenario in ((one, tied), (other, republished))
        ]
    assert frames[0].equals(frames[1])


def test_reference_sanity() -> None:
    """The reference itself on a tiny case computed by hand (guards the oracle)."""
    base = micros(datetime(2024, 1, 1, tzinfo=UTC))
    rows = [ref.Row("S", "online", base + ref.STEP, (0, 0, 0, "a"))]
    line = ref.timeline(rows, None, base, base + 3 * ref.STEP, "none", ZoneInfo("UTC"))
    assert ref.durations(line) == {("S", base): {"no_data": ref.STEP, "online": 2 * ref.STEP}}
    assert from_micros(base) == datetime(2024, 1, 1, tzinfo=UTC)
