"""The report registry: every report declared once, and the CLI, the API and docs/reports.md made
from the declarations agree with what the reports really return."""

from __future__ import annotations

import inspect
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import duckdb
import polars as pl
import pytest
import typer

import evlog
from evlog._cli import app
from evlog._errors import UsageError
from evlog._lake.names import Source
from evlog._replay.runner import EntityKind
from evlog._reports import _api_options, _docs, uptime
from evlog._reports._registry import COMMANDS, REPORTS
from evlog._reports._report import Option, cli_options
from evlog._reports.exclusions import Cause, Exclusion
from tests.replay.lakes import Connectivity, StatusEvent, at, make_lake

# What each report needs besides the window to run at all.
REQUIRED_OPTIONS = {
    "reliability": {"standard": "nevi"},
    "reliability_outages": {"standard": "nevi"},
    "reliability_budgets": {
        "standard": "cec",
        "exclusions": [
            Exclusion("E1", at("2026-11-03T00:00"), at("2026-11-04T00:00"), Cause.VANDALISM)
        ],
    },
}


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> evlog.EvlogLake:
    """Two days of two EVSEs and a station whose poll snapshot contradicts its webhooks."""
    root = tmp_path_factory.mktemp("registry") / "lake"
    status = [
        StatusEvent("E1", "AVAILABLE", at("2026-11-02T00:00")),
        StatusEvent("E1", "CHARGING", at("2026-11-02T08:00")),
        StatusEvent("E1", "OUT_OF_ORDER", at("2026-11-03T09:00")),
        StatusEvent("E2", "AVAILABLE", at("2026-11-02T01:00"), location_id="L2"),
    ]
    poll = Source.EDRV_POLL.value
    connectivity = [
        Connectivity("S1", True, at("2026-11-02T00:00")),
        Connectivity("S1", False, at("2026-11-02T10:00")),
        Connectivity("S1", True, at("2026-11-02T10:02")),
        Connectivity("S1", False, at("2026-11-02T12:00"), source=poll, record_key="p1"),
        Connectivity("S1", True, at("2026-11-04T00:00")),
    ]
    make_lake(root, connectivity, status)
    return evlog.open_lake(root)


@pytest.mark.parametrize("name", list(REPORTS))
def test_real_columns_are_the_declared_columns(lake: evlog.EvlogLake, name: str) -> None:
    frame = lake.report(name, **REQUIRED_OPTIONS.get(name, {}))
    assert tuple(frame.columns) == REPORTS[name].columns
    assert frame.height > 0  # columns of a report that really ran, not of an empty shell
    if REPORTS[name].lazy:
        relation = lake.relation(name, **REQUIRED_OPTIONS.get(name, {}))
        assert isinstance(relation, duckdb.DuckDBPyRelation)
        assert tuple(relation.columns) == REPORTS[name].columns


def test_reports_without_a_lazy_form_say_so(lake: evlog.EvlogLake) -> None:
    with pytest.raises(UsageError, match="no lazy form"):
        lake.relation("reliability", "nevi")


def test_switches_pick_the_variant(lake: evlog.EvlogLake) -> None:
    by_location = lake.availability(by_location=True)
    assert by_location.equals(lake.report("availability_by_location"))
    assert tuple(by_location.columns) == REPORTS["availability_by_location"].columns
    outages = lake.reliability("nevi", outages=True)
    assert tuple(outages.columns) == REPORTS["reliability_outages"].columns


def test_each_report_method_is_the_report(lake: evlog.EvlogLake) -> None:
    for name, report in COMMANDS.items():
        method = getattr(lake, name)
        shown = [p for p in inspect.signature(method).parameters]
        assert sorted(shown) == sorted(o.name for o in report.api_options), name
        typed = getattr(_api_options, _docs.options_class(name)).__annotations__
        assert list(typed) == [o.name for o in report.api_options], name
        options = REQUIRED_OPTIONS.get(name, {})
        assert method(**options).equals(lake.report(name, **options)), name
    daily = lake.uptime("2026-11-02", "2026-11-04", by="day", tz="Europe/Berlin")
    assert daily.equals(lake.report("uptime", "2026-11-02", "2026-11-04", tz="Europe/Berlin"))
    assert lake.uptime_relation().columns == lake.relation("uptime").columns


def test_api_options_are_checked_by_their_declaration(lake: evlog.EvlogLake) -> None:
    with pytest.raises(TypeError, match="no option flap_treshold"):
        lake.flaps(flap_treshold="2m")
    with pytest.raises(TypeError, match="needs option 'standard'"):
        lake.reliability()
    with pytest.raises(UsageError, match=r"^flap_count: needs at least 2"):  # the keyword's name
        lake.flaps(flap_count=1)
    with pytest.raises(UsageError, match=r"^flap_low_pct/flap_high_pct: need 0"):
        lake.flaps(flap_low_pct=30.0)
    with pytest.raises(UsageError, match="no report 'uptme'"):
        lake.report("uptme")


def test_commands_are_the_registry() -> None:
    group = typer.main.get_command(app).commands["report"]  # type: ignore[attr-defined]
    assert sorted(group.commands) == sorted(report.cli_name for report in COMMANDS.values())
    for name, report in COMMANDS.items():
        command = group.commands[report.cli_name]
        flags = [param.opts[0] for param in command.params]
        # a flag pair (`--rapid/--no-rapid`) is named by its first flag
        assert flags == [option.flag.split("/")[0] for option in cli_options(report)], name
        assert command.help.startswith(report.summary)


def _evlog(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evlog", *args], capture_output=True, text=True, check=False
    )


def test_a_bad_option_is_one_line_naming_the_flag(lake: evlog.EvlogLake) -> None:
    root = str(lake.engine.lake.root)  # type: ignore[attr-defined]
    done = _evlog("report", "flaps", "--lake", root, "--flap-count", "1")
    assert done.returncode == 2
    assert done.stderr == "evlog: error: --flap-count: needs at least 2 disconnects, got 1\n"
    done = _evlog("report", "uptime", "--lake", root, "--format", "csv", "--by", "none")
    assert done.returncode == 0
    assert pl.read_csv(done.stdout.encode()).columns == list(uptime.REPORT.columns)


def test_an_option_is_declared_in_one_place() -> None:
    """A new option in a report's declaration is a flag, an API keyword, a bound SQL parameter
    and a row of the reference docs, with nothing else touched."""
    extra = Option("min_outage", "--min-outage", int, 0, "Ignore shorter outages.", param="min_us")
    report = replace(uptime.REPORT, options=(*uptime.REPORT.options, extra))
    assert extra in cli_options(report) and extra in report.api_options
    values = report.read({"min_outage": 7})
    assert report.sql_params(values)["min_us"] == 7
    assert "`--min-outage` | `min_outage` | int | `0` | `min_us`" in "\n".join(
        _docs._report_section(report)
    )


def test_reliability_options_are_parsed_by_their_declarations(tmp_path: Path) -> None:
    """Every reliability option reaches the computation parsed by its `Option` (the SQL
    parameters bound by the declarations), with the standard's defaults and causes applied."""
    exclusions = tmp_path / "x.csv"
    exclusions.write_text("entity_id,start,end,cause\nE1,2025-01-01,2025-01-02,vandalism\n")
    stations = tmp_path / "s.csv"
    stations.write_text("station_id,evse_id\nS1,E1\n")
    report = REPORTS["reliability"]
    values = report.read(
        {"standard": "CEC", "quarter": "2025-Q1", "exclusions": exclusions, "station_map": stations}
    )
    assert values["standard"] == "cec" and values["month"] == ()
    assert [str(month) for month in values["quarter"]] == ["2025-01-01", "2025-02-01", "2025-03-01"]
    assert [(row.entity_id, row.cause.value) for row in values["exclusions"]] == [
        ("E1", "vandalism")
    ]
    assert values["station_map"] == [("S1", "E1")]
    assert report.sql_params(values) == {
        "entity_ids": [],
        "location_ids": [],
        "outage_states": ["OUT_OF_ORDER", "INOPERATIVE", "UNKNOWN"],
        "hold_after_gap": False,
    }
    uk = report.read({"standard": "uk-pcpr", "outage_states": "inoperative"})
    assert report.sql_params(uk)["outage_states"] == ["INOPERATIVE"]
    for given, message in (
        ({"month": "2025-13"}, "^--month: expected YYYY-MM"),
        ({"quarter": "2025-Q5"}, "^--quarter: expected YYYY-Qn"),
        ({"month": "2025-01", "start": "2025-01-01"}, "^--month: give either it or --start"),
        ({"outage_states": " , "}, "^--outage-states: expected at least one state"),
        ({"standard": "uk-pcpr", "exclusions": exclusions}, "not allowed under uk-pcpr"),
        ({"station_map": tmp_path / "none.csv"}, "^--station-map: .*: no such file"),
    ):
        with pytest.raises(UsageError, match=message):
            report.read({"standard": "cec", **given})


def test_the_generated_files_are_current() -> None:
    """docs/reports.md and the API's typed keywords (evlog/_reports/_api_options.py)."""
    assert set(_docs.GENERATED) == {_docs.DOC, _docs.API_OPTIONS}
    for path, make in _docs.GENERATED.items():
        assert path.read_text(encoding="utf-8") == make(), (
            f"{path} is stale: run python -m evlog._reports._docs"
        )
    for name in REPORTS:
        assert f"## {name}\n" in _docs.render()


def test_the_plot_dispatch_is_the_declarations(tmp_path: Path, lake: evlog.EvlogLake) -> None:
    for name, report in REPORTS.items():
        if report.plot is None:
            continue
        outcome = lake.outcome(*lake.prepare(name, (), REQUIRED_OPTIONS.get(name, {})))
        written = report.plot.draw(outcome, tmp_path / f"{name}.svg", "UTC")
        assert written.read_text(encoding="utf-8").lstrip().startswith("<?xml"), name


def test_declared_rollups_are_the_ones_the_engine_reads(
    lake: evlog.EvlogLake, tmp_path: Path
) -> None:
    """On a compacted lake, the replay reads rollup days for exactly the reports declaring
    `rollups` (the others replay every day)."""
    from evlog._lake.layout import Lake
    from evlog._replay.engine import ReplayEngine
    from evlog._upkeep.compact import compact

    root = shutil.copytree(lake.engine.lake.root, tmp_path / "lake")  # type: ignore[attr-defined]
    compact(Lake.open(root))
    engine = ReplayEngine.open(root)
    window = engine.window(EntityKind.EVSE, "2026-11-01", "2026-11-05", "day", "UTC")
    read = {
        name: engine.rollup_span(report.kind, report.sql, window, False) is not None
        for name, report in REPORTS.items()
        if report.kind is not None and report.sql is not None
    }
    assert read == {name: REPORTS[name].rollups for name in read}
    assert read["availability"]  # the lake really has rollup days to read
