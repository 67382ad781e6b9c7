"""Per-day status rollups (`evlog lake compact`): read by availability reports, exact, kept fresh.

The random-history check against the plain-Python reference is
`tests/replay/test_properties.py::test_availability_after_compaction_matches_reference`; these
tests pin down when rollups are used, that reports really read them, and how they go stale.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import evlog
from evlog._lake.layout import Lake
from evlog._lake.names import Source, Table
from evlog._lake.rollups import ROLLUP_DIR, RollupSpan, first_difference, manifests, zone_dir
from evlog._replay.runner import EntityKind
from evlog._upkeep.compact import compact
from evlog._upkeep.maintenance import lake_info
from evlog._window import Window
from tests.replay.lakes import Connectivity, StatusEvent, make_lake, status_table, write_coverage

BASE = datetime(2024, 3, 28, tzinfo=UTC)  # Berlin changes to summer time on Mar 31
DAY = timedelta(days=1)
STATUSES = ["AVAILABLE", "CHARGING", "OUT_OF_ORDER", "UNKNOWN", "AVAILABLE"]


def events(days: int = 6) -> list[StatusEvent]:
    """Three EVSEs changing status every 7 hours or so, over `days` days."""
    rows = []
    for i in range(days * 10):
        t = BASE + timedelta(minutes=137 * i + 11 * (i % 3))
        rows.append(
            StatusEvent(
                f"E{i % 3}",
                STATUSES[i % 5],
                t,
                location_id=f"L{i % 2}",
                received_at=t + timedelta(seconds=30),
                arrival_index=i,
                record_key=f"k{i}",
            )
        )
    return rows


@pytest.fixture()
def lake(tmp_path: Path) -> Lake:
    lake = make_lake(
        tmp_path / "lake",
        connectivity=[Connectivity("S", True, BASE)],
        status=events(),
        files=4,
        seed=1,
    )
    # listening for the first 5 days, with a 3-hour gap on day 2
    write_coverage(
        lake,
        Source.HERE_STREAM,
        {"a": [(BASE, BASE + DAY + timedelta(hours=9))], "b": [(BASE + DAY * 1.5, BASE + 5 * DAY)]},
    )
    return lake


def span_of(
    lake: Lake, start: datetime, end: datetime, by: str = "day", tz: str = "UTC"
) -> RollupSpan | None:
    engine = evlog.open_lake(lake.root).engine
    window = Window.parse(start, end, by, tz)
    return engine.rollup_span(EntityKind.EVSE, "availability", window, hold_after_gap=False)


def without_rollups(lake: Lake, *args: object, **kwargs: object) -> pl.DataFrame:
    return evlog.open_lake(lake.root, rollups=False).availability(*args, **kwargs)  # type: ignore[arg-type]


def micros(instant: datetime) -> int:
    return int(instant.timestamp()) * 1_000_000


def test_whole_days_come_from_rollups(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = compact(lake)
    assert summary.rollup_days == 6  # UTC days Mar 28 .. Apr 2
    start, end = BASE + timedelta(hours=5), BASE + 5 * DAY
    span = span_of(lake, start, end)
    # the first day is cut by the window start: replayed; the four whole days are rolled up,
    # each a whole period (no sum over rollup rows needed)
    assert span == RollupSpan(
        "UTC", micros(BASE + DAY), micros(end), date(2024, 3, 29), date(2024, 4, 1), True
    )
    rolled = evlog.open_lake(lake.root).availability(start, end, by="day")
    assert rolled.equals(without_rollups(lake, start, end, by="day"))
    # id filters apply to rolled-up days as to replayed ones
    for filters in ({"evse": ["E1", "E2"]}, {"location": ["L1"]}):
        got = evlog.open_lake(lake.root).availability(start, end, by="day", **filters)
        assert got.equals(without_rollups(lake, start, end, by="day", **filters))
        assert 0 < got.height < rolled.height
    # weeks, months and one whole-window period are unions of days: rollups serve them too
    for by in ("week", "month", "none"):
        longer = span_of(lake, start, end, by)
        assert longer is not None and not longer.days_are_periods
        got = evlog.open_lake(lake.root).availability(start, end, by=by)
        assert got.equals(without_rollups(lake, start, end, by=by)), by


def test_reports_read_the_rollup_rows(lake: Lake) -> None:
    """Not just equal figures: the rolled-up days' time comes from the rollup files."""
    compact(lake)
    path = zone_dir(lake, "UTC") / "date=2024-03-30" / "rollup.parquet"
    rows = pq.read_table(path).to_pylist()
    for row in rows:  # move one hour of every EVSE from AVAILABLE to CHARGING
        row["available_us"] -= 3_600_000_000
        row["charging_us"] += 3_600_000_000
    pq.write_table(pa.Table.from_pylist(rows, schema=pq.read_schema(path)), path)
    api = evlog.open_lake(lake.root)
    day = api.availability(BASE + 2 * DAY, BASE + 3 * DAY, by="day")
    untouched = api.availability(BASE + 3 * DAY, BASE + 4 * DAY, by="day")
    replaying = evlog.open_lake(lake.root, rollups=False)
    replayed = replaying.availability(BASE + 2 * DAY, BASE + 3 * DAY)
    replayed_next = replaying.availability(BASE + 3 * DAY, BASE + 4 * DAY)
    assert (day["charging_s"] - replayed["charging_s"]).to_list() == [3600.0] * 3
    assert untouched.equals(replayed_next)


def test_only_whole_days_in_the_zone_are_rolled_up(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    compact(lake, rollup_zones=["Europe/Berlin"])
    assert sorted(m.zone for m in manifests(lake)) == ["Europe/Berlin", "UTC"]
    berlin = datetime(2024, 3, 29, tzinfo=UTC).astimezone(ZoneInfo("Europe/Berlin"))
    start, end = berlin.replace(hour=0), berlin.replace(hour=0) + 4 * DAY
    span = span_of(lake, start, end, "day", "Europe/Berlin")
    assert isinstance(span, RollupSpan) and span.zone == "Europe__Berlin"
    assert span.end_us - span.start_us == (4 * 24 - 1) * 3_600_000_000  # Mar 31 has 23 hours
    assert span_of(lake, start, end, "hour", "Europe/Berlin") is None  # hours cut days
    assert span_of(lake, start, end, "day", "America/New_York") is None  # no such rollups
    # a UTC week report cannot use Berlin days, but uses the UTC ones
    utc = span_of(lake, start, end, "week", "UTC")
    assert isinstance(utc, RollupSpan) and utc.zone == "UTC"
    for by, tz in (
        ("day", "Europe/Berlin"),
        ("hour", "Europe/Berlin"),
        ("day", "America/New_York"),
    ):
        got = evlog.open_lake(lake.root).availability(start, end, by=by, tz=tz)
        assert got.equals(without_rollups(lake, start, end, by=by, tz=tz)), (by, tz)


def test_no_rollups_for_other_reports_or_holding_states(lake: Lake) -> None:
    compact(lake)
    engine = evlog.open_lake(lake.root).engine
    window = Window.parse(BASE, BASE + 4 * DAY, "day", "UTC")
    assert engine.rollup_span(EntityKind.EVSE, "availability", window, hold_after_gap=True) is None
    assert engine.rollup_span(EntityKind.EVSE, "intervals", window, hold_after_gap=False) is None
    assert engine.rollup_span(EntityKind.STATION, "availability", window, False) is None


def test_late_event_makes_later_days_stale_until_the_next_compaction(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    compact(lake)
    start, end = BASE, BASE + 5 * DAY
    before = evlog.open_lake(lake.root).availability(start, end, by="day")
    late_at = BASE + 2 * DAY + timedelta(hours=4)
    late = StatusEvent("E1", "BLOCKED", late_at, "L1", late_at + DAY, record_key="late")
    lake.write(Table.STATUS_EVENTS, status_table([late]))
    # days before the late event's UTC day still come from rollups; later ones are replayed
    assert span_of(lake, start, end) == RollupSpan(
        "UTC", micros(BASE), micros(BASE + 2 * DAY), date(2024, 3, 28), date(2024, 3, 29), True
    )
    (info,) = lake_info(lake).rollups
    assert (info.zone, info.days, info.fresh_days) == ("UTC", 6, 2)  # `evlog lake info` shows it
    stale = evlog.open_lake(lake.root).availability(start, end, by="day")
    replayed = without_rollups(lake, start, end, by="day")
    assert stale.equals(replayed)
    e1_day3 = (pl.col("evse_id") == "E1") & (pl.col("period_start") == BASE + 2 * DAY)
    assert before.filter(e1_day3)["blocked_s"].item() == 0
    assert stale.filter(e1_day3)["blocked_s"].item() > 0
    # the next compaction recomputes only the days from the late one on
    assert compact(lake).rollup_days == 4
    assert span_of(lake, start, end) is not None
    assert evlog.open_lake(lake.root).availability(start, end, by="day").equals(replayed)


def test_coverage_growth_keeps_earlier_days(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    """A live recorder's heartbeat extends the last session: days before its old end stay valid."""
    compact(lake)
    write_coverage(lake, Source.HERE_STREAM, {"b": [(BASE + DAY * 1.5, BASE + 6 * DAY)]})
    start, end = BASE, BASE + 6 * DAY
    span = span_of(lake, start, end)
    assert isinstance(span, RollupSpan) and span.end_us == micros(BASE + 5 * DAY)
    got = evlog.open_lake(lake.root).availability(start, end, by="day")
    assert got.equals(without_rollups(lake, start, end, by="day"))
    # a gap opened inside an old day (coverage rewritten) makes that day stale
    assert first_difference([(0, 10), (20, 30)], [(0, 10), (20, 35)]) == 30
    assert first_difference([(0, 10)], [(0, 4), (6, 10)]) == 4
    assert first_difference([(0, 10)], [(0, 10)]) is None
    assert first_difference([(0, 10)], [(0, 10), (12, 13)]) == 12


def test_rebuild_and_removed_history(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    compact(lake)
    # history shrinks: the last day's partition goes; its rollup is removed at the next compaction
    for path in (lake.root / Table.STATUS_EVENTS.value).glob("date=2024-04-02"):
        for file in path.iterdir():
            file.unlink()
        path.rmdir()
    assert span_of(lake, BASE, BASE + 6 * DAY) == RollupSpan(
        "UTC", micros(BASE), micros(BASE + 5 * DAY), date(2024, 3, 28), date(2024, 4, 1), True
    )
    compact(lake)
    days = sorted(p.name for p in (zone_dir(lake, "UTC")).glob("date=*"))
    assert days[-1] == "date=2024-04-01"
    got = evlog.open_lake(lake.root).availability(BASE, BASE + 6 * DAY, by="day")
    assert got.equals(without_rollups(lake, BASE, BASE + 6 * DAY, by="day"))


def test_cli_rollup_options(lake: Lake) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "evlog", "lake", "compact", "--lake", str(lake.root)]
        return subprocess.run([*command, *args], capture_output=True, text=True, check=False)

    bad = run("--rollup-tz", "Mars/Olympus")
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "evlog: error: --rollup-tz: unknown time zone 'Mars/Olympus'"
    ]
    skipped = run("--no-rollups")
    assert skipped.returncode == 0 and not (lake.root / ROLLUP_DIR).exists()
    done = run("--rollup-tz", "Asia/Kolkata")
    assert done.returncode == 0, done.stderr
    assert "rollup days updated" in done.stdout
    assert sorted(m.zone for m in manifests(lake)) == ["Asia/Kolkata", "UTC"]


def test_a_missing_rollup_file_is_never_read_as_no_data(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A day file deleted by hand (or left out of a copy of the lake) ends the rolled-up run."""
    compact(lake)
    day = zone_dir(lake, "UTC") / "date=2024-03-31"
    for file in day.iterdir():
        file.unlink()
    day.rmdir()
    start, end = BASE, BASE + 5 * DAY
    assert span_of(lake, start, end) == RollupSpan(
        "UTC", micros(BASE), micros(BASE + 3 * DAY), date(2024, 3, 28), date(2024, 3, 30), True
    )
    got = evlog.open_lake(lake.root).availability(start, end, by="day")
    assert got.equals(without_rollups(lake, start, end, by="day"))
    assert compact(lake).rollup_days == 3  # the next compaction rebuilds from the lost day on
    assert span_of(lake, start, end) == RollupSpan(
        "UTC", micros(BASE), micros(end), date(2024, 3, 28), date(2024, 4, 1), True
    )
    assert evlog.open_lake(lake.root).availability(start, end, by="day").equals(got)


def test_a_lake_opened_before_the_compaction_uses_only_what_it_sees(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A notebook's long-lived lake: checkpoints and rollups written after it listed the files
    are not in its views, so it must not count on them (until `refresh()`)."""
    compact(lake, checkpoints=False, rollups=False)  # the event files are final from here on
    start, end = BASE + timedelta(hours=5), BASE + 5 * DAY
    expected = without_rollups(lake, start, end, by="day")
    opened = evlog.open_lake(lake.root)
    compact(lake)  # adds checkpoints and rollups only
    engine = opened.engine
    window = Window.parse(start, end, "day", "UTC")
    assert engine.rollup_span(EntityKind.EVSE, "availability", window, False) is None
    assert engine.checkpoint_at(EntityKind.EVSE, window.start_us)[0] < 0  # none
    assert opened.availability(start, end, by="day").equals(expected)
    opened.refresh()
    assert engine.rollup_span(EntityKind.EVSE, "availability", window, False) is not None
    assert opened.availability(start, end, by="day").equals(expected)
