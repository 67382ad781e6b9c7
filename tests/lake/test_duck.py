"""DuckDB settings for big lakes: the environment's, else evlog's upkeep default, applied the
same way to replay and upkeep connections (`evlog._lake.duck`)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import duckdb
import pytest

from evlog._lake import duck
from evlog._lake.layout import Lake
from evlog._lake.names import Table
from evlog._record.offline import record_stream
from evlog._replay.engine import ReplayEngine
from evlog._upkeep.compact import compact_partition, update_checkpoints
from evlog._upkeep.rollups import update_rollups
from tests import feeds


def setting(con: duckdb.DuckDBPyConnection, name: str) -> str:
    value = con.execute("SELECT current_setting(?)", [name]).fetchall()[0][0]
    return str(value)


def megabytes(limit: str) -> float:
    """DuckDB's `memory_limit` as it reports it (`953.6 MiB`, `1.0 GiB`), in MB of 10^6 bytes."""
    number, unit = limit.split()
    scale = {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30}[unit]
    return float(number) * scale / 1e6


def test_upkeep_keeps_duckdb_within_its_default_and_spills_under_tmpdir(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for env in duck.SETTINGS_ENV.values():
        monkeypatch.delenv(env, raising=False)
    upkeep = duck.connect(upkeep=True)
    assert megabytes(setting(upkeep, "memory_limit")) == pytest.approx(1000, rel=0.01)
    spill = Path(setting(upkeep, "temp_directory"))
    assert spill.parent == Path(tempfile.gettempdir()) and spill.name.startswith("evlog-duckdb-")
    # Anything else keeps DuckDB's own memory default (a share of the machine, far above 1 GB
    # on any machine that runs this suite), and spills under TMPDIR too.
    other = duck.connect()
    assert megabytes(setting(other, "memory_limit")) > 1000
    assert Path(setting(other, "temp_directory")).parent == Path(tempfile.gettempdir())


def test_the_environment_sets_replay_and_upkeep_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVLOG_DUCKDB_MEMORY_LIMIT", "300MB")
    monkeypatch.setenv("EVLOG_DUCKDB_TEMP_DIRECTORY", str(tmp_path / "spill"))
    monkeypatch.setenv("EVLOG_DUCKDB_THREADS", "1")
    engine = ReplayEngine(Lake.create(tmp_path / "lake"))
    for con in (duck.connect(upkeep=True), engine.con):
        assert megabytes(setting(con, "memory_limit")) == pytest.approx(300, rel=0.01)
        assert setting(con, "temp_directory") == str(tmp_path / "spill")
        assert setting(con, "threads") == "1"
    # An argument given in code wins over the environment.
    given = ReplayEngine(Lake.open(tmp_path / "lake"), memory_limit="200MB")
    assert megabytes(setting(given.con, "memory_limit")) == pytest.approx(200, rel=0.01)


def test_every_upkeep_stage_runs_within_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Merging, checkpoints and rollups each open their connection through `duck`: a memory limit
    too small for any of them stops each one (DuckDB's own default would let them run)."""
    lake_dir = tmp_path / "lake"
    for minute in range(3):  # three files in one partition: something to merge
        capture = tmp_path / f"c{minute}.ndjson"
        at = f"2024-04-05T10:0{minute}:00Z"
        capture.write_bytes(feeds.ndjson(feeds.message("loc", ("e1", "AVAILABLE", at))))
        record_stream(lake_dir, [str(capture)])  # the import alone, no compaction
    lake = Lake.open(lake_dir)
    partition = next((lake_dir / "status_events").iterdir())
    monkeypatch.setenv("EVLOG_DUCKDB_MEMORY_LIMIT", "64KB")
    stages = [
        lambda: compact_partition(lake, Table.STATUS_EVENTS, partition),
        lambda: update_checkpoints(lake),
        lambda: update_rollups(lake),
    ]
    for stage in stages:
        with pytest.raises(duckdb.OutOfMemoryException):
            stage()
    monkeypatch.delenv("EVLOG_DUCKDB_MEMORY_LIMIT")
    assert compact_partition(lake, Table.STATUS_EVENTS, partition) == (3, 3)
