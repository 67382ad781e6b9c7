"""The replay on Apache Spark gives the same figures as on DuckDB (issue 8).

DuckDB's figures are checked against the plain-Python reference by `test_properties.py`; here the
same random histories and the hand-computed scenarios run on both engines and must agree exactly
(every seconds column to the microsecond: the frames are equal). One local Spark session (2 cores)
serves the whole test session.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl

# No skip when pyspark is missing: `make test` installs the spark extra, and these tests must run.
import pyspark  # noqa: F401
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import evlog
from evlog._api import localize
from evlog._replay import dialect
from evlog._replay.runner import EntityKind
from evlog._reports.exclusions import Cause, Exclusion
from evlog._upkeep import compact
from tests.replay import reference as ref
from tests.replay.lakes import Connectivity, StatusEvent, at, make_lake, write_coverage
from tests.replay.test_properties import (
    STATUSES,
    Scenario,
    build_station_lake,
    coverage_sessions,
    station_scenarios,
)
from tests.replay.test_properties import scenarios as scenario_strategy
from tests.reports import test_connectivity_scenarios as scenarios

# Each example is HISTORIES random histories in one lake under one draw of the options: as many
# histories as six examples of one, in half the Spark queries (a query costs seconds, its size
# next to nothing).
HISTORIES = 2
SPARK_SETTINGS = settings(
    max_examples=2,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("evlog-tests")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.default.parallelism", "1")
        .config("spark.sql.adaptive.enabled", "false")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", "127.0.0.1")  # loopback only
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.session.timeZone", "UTC")
        # tiny inputs, big plans: compiling Java code costs more than it saves here
        .config("spark.sql.codegen.wholeStage", "false")
        .config("spark.sql.codegen.factoryMode", "NO_CODEGEN")
        # a short-lived JVM running many small plans: the quick JIT (C1) alone pays off, the
        # optimizing one spends minutes compiling what runs for seconds
        .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def both(root: Path, spark: Any) -> tuple[evlog.EvlogLake, evlog.EvlogLake]:
    return evlog.open_lake(root), evlog.open_lake(root, engine="spark", spark=spark)


def same(report: Callable[[evlog.EvlogLake], pl.DataFrame], root: Path, spark: Any) -> None:
    duck, sparked = both(root, spark)
    assert_frame_equal(report(sparked), report(duck))


# -- the property tests' random histories, on both engines -------------------------------------


@st.composite
def several(draw: st.DrawFn, scenario: st.SearchStrategy[Scenario]) -> Scenario:
    """The first scenario drawn, with the events of `HISTORIES - 1` more as other entities."""
    first, *others = (draw(scenario) for _ in range(HISTORIES))
    renamed = [
        replace(e, entity=f"h{n}-{e.entity}") for n, s in enumerate(others, 1) for e in s.events
    ]
    return replace(first, events=[*first.events, *renamed])


@SPARK_SETTINGS
@given(several(station_scenarios))
def test_uptime_and_flaps_identical(spark: Any, s: Scenario) -> None:
    start, end = s.t(s.window[0]), s.t(s.window[1])
    with tempfile.TemporaryDirectory() as root:
        build_station_lake(Path(root), s)
        duck, sparked = both(Path(root), spark)
        opts: dict[str, Any] = {"by": s.by, "tz": s.tz, "hold_after_gap": s.hold}
        assert_frame_equal(sparked.uptime(start, end, **opts), duck.uptime(start, end, **opts))
        flap = {**opts, "flap_threshold": timedelta(microseconds=2 * ref.STEP), "flap_count": 2}
        assert_frame_equal(sparked.flaps(start, end, **flap), duck.flaps(start, end, **flap))


@SPARK_SETTINGS
@given(several(scenario_strategy(STATUSES, ["E1", "E2", "E3"])))
def test_availability_and_intervals_identical(spark: Any, s: Scenario) -> None:
    status = [
        StatusEvent(
            evse_id=e.entity,
            status=e.state,
            event_time=s.t(e.step),
            location_id="L" + str(int(e.entity[-1]) % 2),
            received_at=s.t(e.step + e.delay),
            arrival_index=e.arrival_index,
            record_key=f"key{i:04d}",
        )
        for i, e in enumerate(s.events)
    ]
    with tempfile.TemporaryDirectory() as root:
        lake = make_lake(
            Path(root),
            connectivity=[Connectivity("filler", True, s.base)],
            status=status,
            files=s.files,
            seed=s.seed,
        )
        if s.sessions is not None:
            write_coverage(lake, "here_stream", coverage_sessions(s))
        duck, sparked = both(Path(root), spark)
        start, end = s.t(s.window[0]), s.t(s.window[1])
        opts: dict[str, Any] = {"by": s.by, "tz": s.tz, "hold_after_gap": s.hold}
        assert_frame_equal(
            sparked.availability(start, end, **opts), duck.availability(start, end, **opts)
        )
        assert_frame_equal(
            sparked.availability(start, end, by_location=True, **opts),
            duck.availability(start, end, by_location=True, **opts),
        )
        assert_frame_equal(
            sparked.intervals(start, end, **opts), duck.intervals(start, end, **opts)
        )


# -- the hand-computed scenarios, run on Spark --------------------------------------------------

SCENARIOS = [
    name
    for name in dir(scenarios)
    if name.startswith("test_") and name != "test_relation_api_and_default_window"
]


@pytest.mark.parametrize("name", SCENARIOS)
def test_hand_computed_scenarios_on_spark(
    name: str, spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same assertions as on DuckDB, with every lake opened on Spark."""
    monkeypatch.setattr(
        evlog, "open_lake", functools.partial(evlog._api.open_lake, engine="spark", spark=spark)
    )
    getattr(scenarios, name)(tmp_path)


# -- a multi-day lake with several partitions, checkpoints, the default window, escaped ids -----


def test_multi_day_lake_with_checkpoints(spark: Any, tmp_path: Path) -> None:
    status = [
        StatusEvent(
            f"E{n}",
            state,
            at(f"2024-04-{day:02d}T{hour:02d}:{n * 7 % 60:02d}:00"),
            location_id=f"L{n % 2}",
            record_key=f"k{n}-{day}-{hour}",
        )
        for n in range(4)
        for day in range(1, 8)
        for hour, state in ((3, "AVAILABLE"), (9, "CHARGING"), (17, "OUT_OF_ORDER"))
    ]
    stations = [
        Connectivity("S1", day % 2 == 0, at(f"2024-04-{day:02d}T06:00:00"), record_key=f"s{day}")
        for day in range(1, 8)
    ]
    # station ids that must reach Spark's SQL as escaped literals
    tricky = ["O'Brien \\ 1", "semi;colon", "--dash"]
    stations += [Connectivity(s, True, at("2024-04-05T01:00:00")) for s in tricky]
    lake = make_lake(tmp_path, stations, status, files=3, seed=1)
    assert len(list((tmp_path / "status_events").glob("date=*"))) == 7
    same(lambda lake: lake.availability(by="day", tz="Europe/Berlin"), tmp_path, spark)
    same(lambda lake: lake.uptime(by="hour"), tmp_path, spark)
    duck, sparked = both(tmp_path, spark)
    escaped = sparked.uptime(*scenarios.DAY, station=tricky)
    assert sorted(escaped["station_id"].to_list()) == sorted(tricky)  # S1 filtered out
    assert_frame_equal(escaped, duck.uptime(*scenarios.DAY, station=tricky))
    compact.compact(lake, rollup_zones=["Europe/Berlin"])
    window = ("2024-04-04T00:00:00Z", "2024-04-06T12:00:00Z")
    duck, sparked = both(tmp_path, spark)
    report_window = duck.window(*window)
    assert sparked.engine.checkpoint_at(EntityKind.EVSE, report_window.start_us)[0] > 0
    assert "status_checkpoints" in sparked.engine.sql(EntityKind.EVSE, "intervals", report_window)
    # Apr 4 and 5 come from the rollups, the half day after them is replayed
    assert sparked.engine.rollup_span(EntityKind.EVSE, "availability", report_window, False)
    assert_frame_equal(sparked.availability(*window), duck.availability(*window))
    same(lambda lake: lake.availability(by="week", tz="Europe/Berlin"), tmp_path, spark)
    assert_frame_equal(
        sparked.availability(*window, evse=["E1", "E'2"]),
        duck.availability(*window, evse=["E1", "E'2"]),
    )
    # a file:// URI, and the lazy Spark DataFrame for results too large to collect
    uri = evlog.open_lake(tmp_path.as_uri(), engine="spark", spark=spark)
    frame = uri.uptime_spark(*window, by="day")
    assert frame.count() == 3 * (1 + len(tricky))
    assert_frame_equal(localize(uri.engine.to_polars(frame), "UTC"), duck.uptime(*window, by="day"))


# -- parameters become literals safely -----------------------------------------------------------


def test_parameters_are_escaped_literals() -> None:
    sql = dialect.to_spark(
        "SELECT list_contains($ids::VARCHAR[], x), $p, $d, epoch_us(t) FROM status_events",
        {"ids": ["a'); DROP TABLE x; --", "b\\"], "p": 0.5, "d": date(2024, 1, 2)},
        {"status_events": "v_status_events"},
    )
    assert "ARRAY('a\\'); DROP TABLE x; --', 'b\\\\')" in sql
    assert "CAST(0.5 AS DOUBLE)" in sql and "CAST('2024-01-02' AS DATE)" in sql
    assert "UNIX_MICROS(t)" in sql and "FROM v_status_events" in sql


# -- a clear error when Spark cannot run --------------------------------------------------------


def _cli(
    args: list[str], env: dict[str, str], prelude: str = ""
) -> subprocess.CompletedProcess[str]:
    code = f"{prelude}import sys; from evlog._cli import main; main(sys.argv[1:])"
    return subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_clear_error_without_java_or_pyspark(tmp_path: Path) -> None:
    make_lake(tmp_path, [Connectivity("S1", True, at("2024-04-05T01:00:00"))])
    args = ["report", "uptime", "--lake", str(tmp_path), "--engine", "spark"]
    env = {k: v for k, v in os.environ.items() if k not in ("SPARK_REMOTE", "PYSPARK_GATEWAY_PORT")}
    bad_home = _cli(args, {**env, "JAVA_HOME": str(tmp_path / "no-jdk")})
    assert bad_home.returncode == 2
    assert bad_home.stderr.strip().splitlines() == [
        f"evlog: error: --engine spark needs Java 17+: JAVA_HOME={tmp_path / 'no-jdk'} has no"
        " bin/java (fix JAVA_HOME or unset it to use the java on PATH)"
    ]
    no_java = _cli(
        args, {**{k: v for k, v in env.items() if k != "JAVA_HOME"}, "PATH": "/nonexistent"}
    )
    assert no_java.returncode == 2
    assert "needs Java 17+: no java on PATH" in no_java.stderr
    assert len(no_java.stderr.strip().splitlines()) == 1
    no_pyspark = _cli(
        args,
        env,
        prelude="sys_modules = __import__('sys').modules; sys_modules['pyspark'] = None; ",
    )
    assert no_pyspark.returncode == 2
    assert no_pyspark.stderr.strip() == (
        "evlog: error: --engine spark needs pyspark and sqlglot (the spark extra):"
        " pip install 'evlog[spark]'"
    )
    bad_engine = _cli([*args[:-1], "flink"], env)
    assert bad_engine.returncode == 2
    assert "'--engine'" in bad_engine.stderr and "not one of 'duckdb', 'spark'" in bad_engine.stderr


def test_reliability_identical(spark: Any, tmp_path: Path) -> None:
    """Reliability runs through the same runner on Spark (no intervals collected to the driver):
    ports, station outages through a station map, and a capped exclusion agree exactly."""
    day = at("2024-03-01")
    make_lake(
        tmp_path,
        status=[
            StatusEvent("E1", "INOPERATIVE", day + timedelta(hours=2), location_id="L1"),
            StatusEvent("E1", "AVAILABLE", day + timedelta(days=3), location_id="L1"),
            StatusEvent("E2", "AVAILABLE", day, location_id="L1"),
            # the status feed's data reaches the month's end (after it: unobserved)
            StatusEvent("E2", "AVAILABLE", at("2024-04-01"), location_id="L1"),
        ],
        connectivity=[
            Connectivity("S1", False, day + timedelta(days=5)),
            Connectivity("S1", True, day + timedelta(days=6)),
        ],
    )
    options: dict[str, Any] = {
        "month": "2024-03",
        "station_map": [("S1", "E2")],
        "exclusions": [
            Exclusion("E1", day, day + timedelta(days=1), Cause.VANDALISM),
        ],
    }
    on_duckdb = evlog.open_lake(tmp_path).reliability_report("cec", **options)
    on_spark = evlog.open_lake(tmp_path, engine="spark", spark=spark).reliability_report(
        "cec", **options
    )
    # By hand: E1 INOPERATIVE 03-01 02:00 → 03-04 00:00 = 4,200 min, of which 22 h inside the
    # vandalism exclusion; E2 down with its station S1 (station map) 03-06 → 03-07 = 1,440 min.
    ports = on_duckdb.frame.filter(pl.col("port_id").is_not_null()).sort("port_id")
    assert ports.select("port_id", "t_outage_min", "t_excluded_min").rows() == [
        ("E1", 4200.0, 1320.0),
        ("E2", 1440.0, 0.0),
    ]
    assert_frame_equal(on_spark.frame, on_duckdb.frame)
    assert_frame_equal(on_spark.outages, on_duckdb.outages)
    # the CEC interval export's pieces (`reliability_pieces.sql`)
    assert on_duckdb.pieces.height > 0
    assert_frame_equal(on_spark.pieces, on_duckdb.pieces)


def test_reliability_opening_hours_and_budgets_identical(spark: Any, tmp_path: Path) -> None:
    """UK opening hours (closed time leaves the basis), the ledger and CEC's budgets agree."""
    day = at("2024-03-01")
    make_lake(
        tmp_path,
        status=[
            StatusEvent("E1", "AVAILABLE", day - timedelta(days=70), location_id="L1"),
            StatusEvent("E1", "INOPERATIVE", day + timedelta(hours=2), location_id="L1"),
            StatusEvent("E1", "AVAILABLE", day + timedelta(days=3), location_id="L1"),
            StatusEvent("E1", "AVAILABLE", day + timedelta(days=31), location_id="L1"),
        ],
    )
    hours = tmp_path / "hours.csv"
    hours.write_text("entity_id,weekday,open,close\nL1,mon-fri,08:00,20:00\n")
    options: dict[str, Any] = {"month": "2024-03", "opening_hours": hours}
    duck, on_spark = (
        evlog.open_lake(tmp_path),
        evlog.open_lake(tmp_path, engine="spark", spark=spark),
    )
    uk = duck.reliability_report("uk-pcpr", **options)
    # By hand: out Friday 1 March 02:00 to Monday 4 March 00:00, open 08:00-20:00 only on Friday.
    assert uk.outages["counted_min"].to_list() == [12 * 60]
    uk_on_spark = on_spark.reliability_report("uk-pcpr", **options)
    assert_frame_equal(uk_on_spark.frame, uk.frame)
    assert_frame_equal(uk_on_spark.outages, uk.outages)
    capped = {"month": "2024-03", "budgets": True}
    capped["exclusions"] = [Exclusion("E1", day, day + timedelta(days=2), Cause.VANDALISM)]
    budgets = duck.reliability("cec", **capped)
    assert budgets["used_min"].to_list() == [(2 * 24 - 2) * 60]
    assert_frame_equal(on_spark.reliability("cec", **capped), budgets)


def test_metadata_filters_and_groups_identical(spark: Any, tmp_path: Path) -> None:
    """The metadata SQL (history, latest, filters, groups) runs the same on Spark."""
    from tests.reports.test_metadata import WINDOW, make_metadata_lake

    root = tmp_path / "lake"
    make_metadata_lake(root)
    on_duckdb, on_spark = evlog.open_lake(root), evlog.open_lake(root, engine="spark", spark=spark)
    window = {"start": WINDOW[0], "end": WINDOW[1], "by": "none"}
    for name, options in [
        ("metadata", {"end": WINDOW[1], "history": True}),
        ("metadata", {"end": WINDOW[1], "rapid": True}),
        ("availability", {**window, "rapid": True}),
        ("availability", {**window, "group": "vendor"}),
        ("availability", {**window, "feed": "edrv"}),  # feed_ids.sql, the receiver's coverage
        ("uptime", {**window, "group": "rapid", "model": "hyc300"}),
    ]:
        expected = on_duckdb.report(name, **options)
        assert expected.height > 0, (name, options)
        assert_frame_equal(on_spark.report(name, **options), expected)
