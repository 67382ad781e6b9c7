"""The lake: layout, atomic files, readability by other engines, info and rebuild."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from evlog._errors import LakeNotFoundError
from evlog._lake.layout import WRITE_LOCK, Lake, atomic_write_parquet
from evlog._lake.names import Table
from evlog._record.offline import record_stream, record_webhook_files
from evlog._replay.coverage import lake_coverage
from evlog._time import to_micros
from evlog._upkeep.compact import COMPACT_LOCK
from evlog._upkeep.maintenance import lake_info, rebuild
from tests import feeds
from tests.replay.lakes import write_coverage


def filled_lake(tmp_path: Path) -> Lake:
    lake = Lake.create(tmp_path / "lake")
    capture = tmp_path / "c.gz"
    capture.write_bytes(
        feeds.members(
            feeds.message("loc-1", ("e1", "AVAILABLE", "2024-04-05T23:59:00Z")),
            feeds.message("loc-1", ("e1", "CHARGING", "2024-04-06T00:01:00Z")),
            b"broken",
        )
    )
    hooks = tmp_path / "h.jsonl"
    hooks.write_bytes(
        feeds.jsonl(
            feeds.webhook("w1", "st-1", True, "2024-04-05T10:00:00Z"),
            feeds.webhook("w2", "st-1", False, "2024-04-06T10:00:00Z"),
        )
    )
    record_stream(lake, [str(capture)])
    window = (datetime(2024, 4, 5, tzinfo=UTC), datetime(2024, 4, 7, tzinfo=UTC))
    record_webhook_files(lake, [str(hooks)], coverage=[window])
    return lake


def sorted_rows(lake: Lake, table: Table) -> list[dict[str, object]]:
    rows = lake.read(table).to_pylist()
    return sorted(rows, key=lambda r: sorted((k, repr(v)) for k, v in r.items()))


def test_events_are_partitioned_by_event_date_and_readable_by_other_engines(
    tmp_path: Path,
) -> None:
    lake = filled_lake(tmp_path)
    days = sorted(p.parent.name for p in lake.files(Table.STATUS_EVENTS))
    assert days == ["date=2024-04-05", "date=2024-04-06"]
    glob = str(lake.table_dir(Table.STATUS_EVENTS) / "**" / "*.parquet")
    by_polars = pl.read_parquet(glob, hive_partitioning=True)
    assert sorted(by_polars["status"].to_list()) == ["AVAILABLE", "CHARGING"]
    by_duckdb = duckdb.sql(
        "SELECT date::VARCHAR, status FROM read_parquet($g, hive_partitioning = true) ORDER BY 1",
        params={"g": glob},
    ).fetchall()
    assert by_duckdb == [("2024-04-05", "AVAILABLE"), ("2024-04-06", "CHARGING")]


def test_counters_are_stored_as_steps_and_read_back_by_every_engine(tmp_path: Path) -> None:
    """arrival_index and kafka_offset are written DELTA_BINARY_PACKED (a few bits a row);
    DuckDB, polars and pyarrow read the same numbers back."""
    target = tmp_path / "t" / "x.parquet"
    table = pa.table(
        {
            "arrival_index": pa.array(range(10, 5010), pa.int64()),
            "kafka_offset": pa.array([None, *range(7, 5006)], pa.int64()),
            "evse_index": pa.array([0] * 5000, pa.int32()),
        }
    )
    atomic_write_parquet(table, target)
    column = pq.ParquetFile(target).metadata.row_group(0).column
    assert "DELTA_BINARY_PACKED" in column(0).encodings
    assert "DELTA_BINARY_PACKED" in column(1).encodings
    assert "DELTA_BINARY_PACKED" not in column(2).encodings
    assert pq.read_table(target).equals(table)
    assert pl.read_parquet(target)["kafka_offset"].to_list() == table["kafka_offset"].to_pylist()
    sums = duckdb.sql("SELECT sum(arrival_index), count(kafka_offset) FROM read_parquet($p)",
                      params={"p": str(target)}).fetchall()  # fmt: skip
    assert sums == [(sum(range(10, 5010)), 4999)]


def test_atomic_write_leaves_no_temporary_files(tmp_path: Path) -> None:
    target = tmp_path / "t" / "x.parquet"
    atomic_write_parquet(pa.table({"a": [1, 2]}), target)
    assert [p.name for p in target.parent.iterdir()] == ["x.parquet"]


def test_failed_write_leaves_nothing_behind(tmp_path: Path) -> None:
    target = tmp_path / "t" / "x.parquet"
    with pytest.raises(AttributeError):
        atomic_write_parquet("not a table", target)  # type: ignore[arg-type]
    assert list(target.parent.iterdir()) == []


def test_register_gives_empty_views_for_empty_tables(tmp_path: Path) -> None:
    lake = Lake.create(tmp_path / "lake")
    con = duckdb.connect()
    lake.register(con)
    assert con.sql("SELECT count(*) FROM status_events").fetchall() == [(0,)]
    assert "source" in con.sql("SELECT * FROM coverage").columns


def test_open_refuses_a_missing_or_foreign_directory(tmp_path: Path) -> None:
    with pytest.raises(LakeNotFoundError, match="does not exist"):
        Lake.open(tmp_path / "nope")
    with pytest.raises(LakeNotFoundError, match="not an evlog lake"):
        Lake.open(tmp_path)


def test_info_counts_tables_coverage_and_quarantine(tmp_path: Path) -> None:
    info = lake_info(filled_lake(tmp_path))
    rows = {t.table: t.rows for t in info.tables}
    assert rows["raw_status"] == 3
    assert rows["status_events"] == 2
    assert rows["connectivity_events"] == 2
    (coverage,) = info.coverage
    assert (coverage.source, coverage.covered_s) == ("edrv_webhooks", 2 * 86400)
    assert info.quarantine == [("here_stream", "invalid JSON", 1)]


def test_coverage_sessions_merge_when_they_overlap(tmp_path: Path) -> None:
    lake = Lake.create(tmp_path / "lake")
    hooks = tmp_path / "h.jsonl"
    hooks.write_bytes(feeds.jsonl(feeds.webhook("w1", "s", True, None)))
    day = 86400
    t0 = datetime(2024, 4, 5, tzinfo=UTC).timestamp()
    windows = [(0, 2), (1, 3), (5, 6)]  # days: [0,3) merged, then [5,6)
    for start, end in windows:
        window = (
            datetime.fromtimestamp(t0 + start * day, UTC),
            datetime.fromtimestamp(t0 + end * day, UTC),
        )
        record_webhook_files(lake, [str(hooks)], coverage=[window])
    (coverage,) = lake_info(lake).coverage
    assert (coverage.sessions, coverage.intervals, coverage.covered_s) == (3, 2, 4 * day)


def test_rebuild_gives_identical_tables(tmp_path: Path) -> None:
    lake = filled_lake(tmp_path)
    before = {t: sorted_rows(lake, t) for t in (Table.STATUS_EVENTS, Table.CONNECTIVITY_EVENTS)}
    quarantine_before = sorted_rows(lake, Table.QUARANTINE)
    summary = rebuild(lake)
    assert (summary.recorded, summary.events, summary.quarantined) == (5, 4, 1)
    for table, rows in before.items():
        assert sorted_rows(lake, table) == rows
    assert sorted_rows(lake, Table.QUARANTINE) == quarantine_before
    locks = {COMPACT_LOCK, WRITE_LOCK}  # rebuild holds both; the files stay
    assert not [p for p in lake.root.iterdir() if p.name.startswith(".") and p.name not in locks]


def test_rebuild_restores_lost_event_tables_from_raw(tmp_path: Path) -> None:
    lake = filled_lake(tmp_path)
    before = sorted_rows(lake, Table.STATUS_EVENTS)
    shutil.rmtree(lake.table_dir(Table.STATUS_EVENTS))
    shutil.rmtree(lake.table_dir(Table.QUARANTINE))
    rebuild(lake)
    assert sorted_rows(lake, Table.STATUS_EVENTS) == before
    assert lake.read(Table.QUARANTINE).num_rows == 1


def test_rebuild_applies_a_new_skew_tolerance(tmp_path: Path) -> None:
    lake = Lake.create(tmp_path / "lake")
    received_ms = int(datetime(2024, 4, 5, 12, tzinfo=UTC).timestamp() * 1000)
    msg = feeds.message("loc-1", ("e1", "AVAILABLE", "2024-04-05T12:03:00Z"))
    capture = tmp_path / "r.json"
    capture.write_bytes(feeds.data_api_response((0, 1, received_ms, feeds.gz(msg))))
    record_stream(lake, [str(capture)])
    assert lake.read(Table.STATUS_EVENTS).column("time_clamped").to_pylist() == [False]
    rebuild(lake, skew_tolerance=timedelta(minutes=1))
    assert lake.read(Table.STATUS_EVENTS).column("time_clamped").to_pylist() == [True]


def test_declared_windows_of_one_import_stay_separate(tmp_path: Path) -> None:
    lake = Lake.create(tmp_path / "lake")
    hooks = tmp_path / "h.jsonl"
    hooks.write_bytes(feeds.jsonl(feeds.webhook("w1", "s", True, None)))
    day1, day2, day4 = (datetime(2024, 4, d, tzinfo=UTC) for d in (1, 2, 4))
    record_webhook_files(
        lake, [str(hooks)], coverage=[(day1, day2), (day2 + timedelta(days=1), day4)]
    )
    (coverage,) = lake_info(lake).coverage
    assert (coverage.sessions, coverage.intervals, coverage.covered_s) == (1, 2, 2 * 86400)


def test_info_shows_the_coverage_the_replay_uses(tmp_path: Path) -> None:
    """`lake info` merges coverage by the replay's `coverage_union`: an empty row covers nothing
    (it neither makes an interval nor widens first/last), and a source whose rows are all empty is
    listed with its sessions but no interval: the replay takes it as never observed."""
    lake = Lake.create(tmp_path / "lake")
    t0 = datetime(2024, 4, 5, tzinfo=UTC)
    day = timedelta(days=1)
    write_coverage(
        lake,
        "here_stream",
        {"a": [(t0, t0 + day)], "b": [(t0 + 3 * day, t0 + 3 * day)]},  # b: started, then died
    )
    write_coverage(lake, "edrv_webhooks", {"c": [(t0, t0)]})
    by_source = {c.source: c for c in lake_info(lake).coverage}
    stream, hooks = by_source["here_stream"], by_source["edrv_webhooks"]
    assert (stream.sessions, stream.intervals, stream.covered_s) == (2, 1, 86400)
    assert (stream.first, stream.last) == (t0, t0 + day)
    assert (hooks.sessions, hooks.intervals, hooks.first, hooks.last) == (1, 0, None, None)
    assert hooks.covered_s == 0
    # the very spans the replay reads for the stream's EVSEs
    assert lake_coverage(lake) == [(to_micros(t0), to_micros(t0 + day))]
