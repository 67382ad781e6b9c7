"""The Python API as a notebook user meets it (issue 16, item 8): dates, errors in keyword
names, a context manager, a readable repr, a version."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

import evlog
from tests.replay.lakes import StatusEvent, at, make_lake


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    make_lake(
        tmp_path,
        status=[
            StatusEvent("e1", "AVAILABLE", at("2024-04-05T00:00:00")),
            StatusEvent("e1", "CHARGING", at("2024-04-05T06:00:00")),
            StatusEvent("e1", "AVAILABLE", at("2024-04-06T00:00:00")),
        ],
    )
    return tmp_path


def test_dates_are_local_midnights(lake: Path) -> None:
    frame = evlog.open_lake(lake).availability(date(2024, 4, 5), date(2024, 4, 6), by="none")
    assert frame["available_s"].to_list() == [6 * 3600.0]
    assert frame["charging_s"].to_list() == [18 * 3600.0]


@pytest.mark.parametrize(
    "options, message",
    [
        ({"flap_threshold": "soon"}, "flap_threshold: not a duration"),
        ({"tz": "Mars/Base"}, "tz: unknown time zone"),
        ({"by": "fortnight"}, "by: expected one of"),
        (
            {"start": "2024-04-06", "end": "2024-04-05"},
            "end: 2024-04-05T00:00:00+00:00 is not after start",
        ),
    ],
)
def test_errors_name_the_keyword_not_the_flag(
    lake: Path, options: dict[str, str], message: str
) -> None:
    with pytest.raises(evlog.UsageError) as raised:
        evlog.open_lake(lake).report("flaps", **options)
    assert str(raised.value).startswith(message)
    assert "--" not in str(raised.value)


def test_a_context_manager_closes_the_connection(lake: Path) -> None:
    with evlog.open_lake(lake) as opened:
        assert repr(opened) == f"EvlogLake({str(lake)!r}, engine='duckdb')"
        assert opened.availability(by="none").height == 1
    with pytest.raises(duckdb.ConnectionException):
        opened.connection.sql("SELECT 1")


def test_the_version_is_the_installed_package() -> None:
    from importlib.metadata import version

    assert evlog.__version__ == version("evlog")
    assert "__version__" in evlog.__all__
