"""Occurrence numbers for a reading too long to number in memory: its batches are set aside on
disk and numbered once the reading ends, with memory bounded by a batch.

A record's occurrence number is how many earlier records of its reading share its content hash
(docs/lake.md, "Identity and duplicates"). Up to `here.SPILL_AFTER` records a reading is numbered
as it is read, holding every hash seen (`here._Occurrences`). Past that, each batch goes to a
temporary Arrow file with each record's count in that first part (`before`), and its hash
prefixes to a temporary Parquet file; at the end, DuckDB sorts the prefixes (out of core, in a
small memory limit) to rank each record among the earlier records of the spilled part with the
same prefix, keeping only the ranks above zero (records that repeat one), sorted back into
reading order. The numbers are `before + rank`: what numbering in memory gives.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, cast

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from evlog._errors import InputError
from evlog._faults import fault_point

_PREFIXES: Final = pa.schema([("idx", pa.int64()), ("prefix", pa.uint64())])
_RANKS: Final = pa.schema([("idx", pa.int64()), ("rank", pa.int64())])
# DuckDB's own memory while it sorts: what it holds beyond this goes to its temporary files.
_SORT_MEMORY: Final = "64MB"
_READ_ROWS: Final = 1 << 16

_BY_PREFIX = "SELECT idx, prefix FROM read_parquet($path) ORDER BY prefix, idx"
_BY_INDEX = "SELECT idx, rank FROM read_parquet($path) ORDER BY idx"


@contextmanager
def _temporary_files() -> Iterator[None]:
    """A failure of the temporary directory (full, not writable) as one line that says which."""
    try:
        yield
    except (OSError, duckdb.IOException, duckdb.OutOfMemoryException) as exc:
        where = tempfile.gettempdir()
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InputError(
            f"cannot set a long capture's records aside in {where} (TMPDIR): {reason}"
        ) from None


class SpilledNumbers:
    """The batches of one reading past the in-memory part, in order, with their numbers once
    `numbered` is called; a context manager that removes its files."""

    def __init__(self, read_rows: int = _READ_ROWS) -> None:
        self._read_rows = read_rows  # rows a read of DuckDB's sorted output gives
        with _temporary_files():
            self._dir = tempfile.TemporaryDirectory(prefix="evlog-occurrences-")
        root = Path(self._dir.name)
        self._batches_path = root / "batches.arrow"
        self._prefixes_path = root / "prefixes.parquet"
        self._ranks_path = root / "ranks.parquet"
        self._batches: pa.ipc.RecordBatchStreamWriter | None = None
        with _temporary_files():
            self._prefixes = pq.ParquetWriter(self._prefixes_path, _PREFIXES)
        self._written = False  # both files closed: nothing more can be added
        self.count = 0

    def __enter__(self) -> SpilledNumbers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._close_writers()
        self._dir.cleanup()

    def _close_writers(self) -> None:
        if self._batches is not None and not self._written:
            self._batches.close()
        self._prefixes.close()
        self._written = True

    def add(
        self, table: pa.Table, prefixes: npt.NDArray[np.uint64], before: npt.NDArray[np.int64]
    ) -> None:
        """Set aside the next batch of the reading: its rows, their hash prefixes and how many
        records of the part numbered in memory share each one's content."""
        with _temporary_files():
            fault_point("spill.add")
            table = table.append_column("before", pa.array(before, pa.int64()))
            if self._batches is None:
                options = pa.ipc.IpcWriteOptions(compression="zstd")
                self._batches = pa.ipc.new_stream(
                    str(self._batches_path), table.schema, options=options
                )
            self._batches.write_table(table)
            index = np.arange(self.count, self.count + len(prefixes), dtype=np.int64)
            self._prefixes.write_table(
                pa.table({"idx": index, "prefix": prefixes}, schema=_PREFIXES)
            )
        self.count += len(prefixes)

    def numbered(self) -> Iterator[tuple[pa.Table, npt.NDArray[np.int64]]]:
        """Each batch set aside, in order (without `before`), with its records' numbers."""
        self._close_writers()
        if self._batches is None:
            return
        with _temporary_files():
            con = duckdb.connect(
                config={
                    "memory_limit": _SORT_MEMORY,
                    "temp_directory": self._dir.name,
                    "threads": 1,
                    "preserve_insertion_order": False,
                }
            )
            try:
                con.execute("SET enable_progress_bar = false")  # DuckDB would draw one on stdout
                self._write_ranks(con)
                ranks = _Ranks(
                    con.sql(_BY_INDEX, params={"path": str(self._ranks_path)}), self._read_rows
                )
                first = 0
                with (
                    pa.OSFile(str(self._batches_path), "r") as file,
                    pa.ipc.open_stream(file) as reader,
                ):
                    for batch in reader:
                        rows = pa.Table.from_batches([batch])
                        before = np.asarray(rows.column("before"), np.int64)
                        numbers = before + ranks.below(first, first + rows.num_rows)
                        first += rows.num_rows
                        yield rows.drop_columns(["before"]), numbers
            finally:
                con.close()

    def _write_ranks(self, con: duckdb.DuckDBPyConnection) -> None:
        """Rank each record among the earlier ones of the spilled part with its prefix (read in
        prefix order, a group may span reads); write those ranked above zero."""
        by_prefix = con.sql(_BY_PREFIX, params={"path": str(self._prefixes_path)})
        last_prefix: int | None = None
        next_rank = 0
        with pq.ParquetWriter(self._ranks_path, _RANKS) as out:
            for batch in by_prefix.to_arrow_reader(self._read_rows):
                prefix = np.asarray(batch.column("prefix"), np.uint64)
                if not len(prefix):
                    continue
                starts = np.ones(len(prefix), np.bool_)
                starts[1:] = prefix[1:] != prefix[:-1]
                starts[0] = last_prefix is None or int(prefix[0]) != last_prefix
                position = np.arange(len(prefix), dtype=np.int64)
                group_start = np.maximum.accumulate(np.where(starts, position, -1))
                # Rows before the read's first group start continue the last read's group.
                rank = np.where(group_start >= 0, position - group_start, next_rank + position)
                repeats = rank > 0
                if repeats.any():
                    index = np.asarray(batch.column("idx"), np.int64)[repeats]
                    out.write_table(pa.table({"idx": index, "rank": rank[repeats]}, schema=_RANKS))
                last_prefix, next_rank = int(prefix[-1]), int(rank[-1]) + 1


class _Ranks:
    """The ranks above zero, in reading order, handed out by index range."""

    def __init__(self, relation: duckdb.DuckDBPyRelation, read_rows: int) -> None:
        self._reader = relation.to_arrow_reader(read_rows)
        self._index = np.zeros(0, np.int64)
        self._rank = np.zeros(0, np.int64)
        self._done = False

    def below(self, first: int, end: int) -> npt.NDArray[np.int64]:
        """The rank of each record of `first` to `end` (0 unless listed)."""
        while not self._done and (not len(self._index) or self._index[-1] < end):
            try:
                batch = cast(Any, self._reader).read_next_batch()
            except StopIteration:
                self._done = True
                break
            self._index = np.concatenate((self._index, np.asarray(batch.column("idx"), np.int64)))
            self._rank = np.concatenate((self._rank, np.asarray(batch.column("rank"), np.int64)))
        ranks = np.zeros(end - first, np.int64)
        taken = int(np.searchsorted(self._index, end))
        ranks[self._index[:taken] - first] = self._rank[:taken]
        self._index, self._rank = self._index[taken:], self._rank[taken:]
        return ranks
