"""The Parquet lake: layout, atomic writes, identity lookups and read access for DuckDB.

Layout (hive partitioning, readable by DuckDB, Polars, Spark, pandas)::

    <lake>/evlog-lake.json                               marker: the directory is an evlog lake
    <lake>/<table>/date=YYYY-MM-DD/part-*.parquet         raw_* and *_events tables
    <lake>/<table>/source=<src>/date=YYYY-MM-DD/*.parquet quarantine, coverage

Every file is written under a temporary name (``.<name>.tmp``, never matched by ``*.parquet``),
fsynced, renamed into place and its directory fsynced: a reader sees a whole file or none.
Appending only adds files, so recorders can append while reports read.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from evlog._errors import LakeError, LakeNotFoundError
from evlog._faults import fault_point
from evlog._lake.names import DATE_COLUMN, SOURCE_PARTITIONED, Table
from evlog._lake.schema import SCHEMAS

MARKER = "evlog-lake.json"
WRITE_LOCK = ".write.lock"
INTENTS = "_intents"  # crash plans of writers in the middle of a step (`Lake.intent`)
_DAY_US = 86_400_000_000
LAKE_FORMAT = 1


def read_marker(marker: Path) -> dict[str, object]:
    """The lake's marker (`evlog-lake.json`: format version, creation time); `LakeError` if it
    is damaged or from a newer evlog than this one (whose layout this one may misread)."""
    try:
        body = json.loads(marker.read_bytes())
    except (OSError, ValueError) as exc:
        raise LakeError(f"damaged lake marker {marker}: not JSON ({exc})") from None
    version = body.get("format") if isinstance(body, dict) else None
    if not isinstance(version, int) or isinstance(version, bool):
        raise LakeError(f'damaged lake marker {marker}: no integer "format" version')
    if version > LAKE_FORMAT:
        raise LakeError(
            f"the lake at {marker.parent} has format {version}, newer than this evlog reads "
            f"({LAKE_FORMAT}): upgrade evlog"
        )
    if version < 1:
        raise LakeError(f"damaged lake marker {marker}: unknown format {version}")
    return dict(body)


# What DuckDB and Arrow say of a file that is not (or no longer) a whole Parquet file.
_DAMAGED_PARQUET = re.compile(
    r"too small to be a Parquet file|No magic bytes|magic bytes not found|Invalid Parquet|"
    r"[Cc]orrupt|Couldn't deserialize thrift|Parquet file size is 0",
)
_QUOTED_PATH = re.compile(r"'([^']+\.parquet)'")
# DuckDB's word for a file that sits beside a table's `key=value` folders instead of inside them
_MISPLACED = re.compile(r'Hive partition mismatch between file "([^"]+)" and "([^"]+)"')


@contextlib.contextmanager
def damaged_files_as_lake_errors(root: Path) -> Iterator[None]:
    """Turn the engine's error on a damaged Parquet file of the lake (truncated, not Parquet at
    all: a stray file, a copy cut short) into one `LakeError` that names the file and the fix."""
    try:
        yield
    except duckdb.BinderException as exc:
        misplaced = _MISPLACED.search(str(exc))
        if misplaced is None:
            raise
        # of the two files DuckDB names, the stray one is the one not inside a `key=value` folder
        first, second = misplaced.groups()
        stray = first if "=" not in Path(first).parent.name else second
        raise LakeError(
            f"a file outside the partition folders of the lake {root}: {stray}; "
            "move it out of the lake (`evlog lake check` lists every damaged or stray file)"
        ) from exc
    except (duckdb.InvalidInputException, duckdb.IOException, pa.ArrowInvalid, OSError) as exc:
        message = str(exc)
        damaged = _DAMAGED_PARQUET.search(message)
        if damaged is None:
            raise
        named = _QUOTED_PATH.search(message)
        where = named.group(1) if named else "one of its files"
        raise LakeError(
            f"damaged Parquet file in the lake {root}: {where} is not a whole Parquet file "
            f"({damaged.group(0)}); "
            "move it out of the lake (if it is a raw table's, its records are lost; if an event "
            "table's, `evlog lake rebuild` derives it again from the raw tables)"
        ) from exc


def _file_in_the_way(path: Path) -> str:
    """Why `path` cannot be a directory, if a file on its way is why: `X is a file`."""
    for parent in (path, *path.parents):
        if parent.exists():
            return "" if parent.is_dir() else f"{parent} is a file"
    return ""


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# Columns whose values are (nearly) all distinct: a dictionary would only be tried and dropped.
_DISTINCT_COLUMNS = frozenset({"payload", "record_key"})
# Counters written in runs (a capture's arrival index, a partition's offsets): stored as their
# steps, a few bits a row (a third of the time of a plain or dictionary write, 1/60 the size).
_STEP_COLUMNS = frozenset({"arrival_index", "kafka_offset"})


def atomic_write_parquet(table: pa.Table, path: Path, row_group_size: int | None = None) -> None:
    """Write `table` to `path` so that the file appears whole or not at all."""

    def write(tmp: Path) -> None:
        names = table.column_names
        steps = [
            n for n in names if n in _STEP_COLUMNS and pa.types.is_int64(table.schema.field(n).type)
        ]
        dictionary = [n for n in names if n not in _DISTINCT_COLUMNS and n not in steps]
        pq.write_table(
            table,
            tmp,
            compression="zstd",
            row_group_size=row_group_size,
            use_dictionary=dictionary,  # type: ignore[arg-type]  # a list of columns: the stubs say bool
            column_encoding=dict.fromkeys(steps, "DELTA_BINARY_PACKED"),
        )

    _atomic_write(path, write)


def atomic_copy_parquet(
    con: duckdb.DuckDBPyConnection,
    query: str,
    path: Path,
    params: Mapping[str, Any] | None = None,
    row_group_size: int | None = None,
) -> None:
    """Write the result of DuckDB `query` to `path` (zstd Parquet), whole or not at all: the rows
    stay inside DuckDB from the files they are read from to the file written (no Arrow round
    trip), in the query's order. `params` are bound by name (`$name`; not `$target`)."""
    options = "FORMAT parquet, COMPRESSION zstd"
    if row_group_size is not None:
        options += f", ROW_GROUP_SIZE {int(row_group_size)}"

    def copy(tmp: Path) -> None:
        # the target is bound as a parameter; `options` holds no user input
        con.execute(
            f"COPY ({query}) TO $target ({options})", {**(params or {}), "target": str(tmp)}
        )

    _atomic_write(path, copy)


def atomic_write_file(path: Path, write: Callable[[Path], object]) -> None:
    """`write` the file at the path it is given, then put it at `path` whole (as the lake's own
    files are: temporary name, fsync, rename). Unlike the lake's files, `path`'s folder must
    exist: this is for files a user names (report outputs, plots, exports)."""
    if not path.parent.is_dir():
        raise FileNotFoundError(2, "No such directory", str(path.parent))
    _atomic_write(path, write)


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` (a manifest, a marker) so that it appears whole or not at all."""
    _atomic_write(path, lambda tmp: tmp.write_text(text))


def temporary_path(path: Path) -> Path:
    """Where `path` is written before it is renamed into place: derived from the final name, so
    whoever knows a file a writer meant to create (an intent) also knows its half-written copy.
    Unique because final names are: part files carry a random name, and every other file (the
    marker, manifests, checkpoints) has one writer at a time, who holds a lock."""
    return path.with_name(f".{path.name}.tmp")


def _atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """`write` a temporary name beside `path`, fsync it, rename it to `path`, fsync the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    try:
        write(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        fault_point("lake.before_rename")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)


@contextlib.contextmanager
def exclusive_lock(path: Path, busy: str, wait: bool = False) -> Iterator[None]:
    """Hold an advisory lock on `path` while the block runs; `LakeError(busy)` if another process
    (or another open of the file) holds it, unless `wait`: then wait for it. The kernel drops it
    if the process dies."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise LakeError(busy) from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class _HeldLocks:
    """The lake write locks this process holds: one flock per lake, re-entrant across threads
    of the process (a flock is per open file, so a second open by the same process would wait
    for itself)."""

    def __init__(self) -> None:
        self.guard = threading.Lock()
        self.locks: dict[Path, tuple[threading.RLock, list[int]]] = {}

    def entry(self, path: Path) -> tuple[threading.RLock, list[int]]:
        with self.guard:
            return self.locks.setdefault(path, (threading.RLock(), [0, -1]))


_HELD = _HeldLocks()


@contextlib.contextmanager
def write_lock(
    path: Path,
    on_wait: Callable[[str], None] | None = None,
    on_acquire: Callable[[], object] | None = None,
) -> Iterator[None]:
    """Hold the lake's write lock (a blocking advisory lock on `path`) while the block runs.

    Every writer of lake data takes it around one durable step (a recorder's batch, a compaction's
    swap, a whole rebuild), so two writers never interleave their steps. It is re-entrant within
    a process and the kernel drops it if the process dies. `on_wait(holder)` is called once if
    another process holds it (with what that process wrote into the file), before waiting.
    `on_acquire()` runs each time this process takes the lock from nobody (not when re-entered):
    the moment to finish what a dead holder left half done.
    """
    rlock, state = _HELD.entry(path)
    with rlock:
        if state[0] == 0:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    if on_wait is not None:
                        on_wait(os.pread(fd, 200, 0).decode(errors="replace").strip())
                    fcntl.flock(fd, fcntl.LOCK_EX)
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"pid {os.getpid()}\n".encode(), 0)
            except BaseException:
                os.close(fd)
                raise
            state[1] = fd
        state[0] += 1
        try:
            if state[0] == 1 and on_acquire is not None:
                on_acquire()
        except BaseException:
            state[0] -= 1
            if state[0] == 0:
                fd, state[1] = state[1], -1
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
            raise
        try:
            yield
        finally:
            state[0] -= 1
            if state[0] == 0:
                fd, state[1] = state[1], -1
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)


def parquet_files(directory: Path) -> list[Path]:
    """Every `*.parquet` file below `directory` (none if it does not exist), sorted.

    `os.walk` rather than `Path.glob("**/…")`: a report lists every partition of a long history
    several times, and this is ~3x cheaper. Files being written end in `.tmp`: never listed.
    """
    found = [
        Path(folder, name)
        for folder, _, names in os.walk(directory)
        for name in names
        if name.endswith(".parquet")
    ]
    return sorted(found)


def new_file_name() -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    return f"part-{stamp}-{uuid.uuid4().hex[:12]}.parquet"


@dataclass(frozen=True)
class Lake:
    """A lake directory. Create with `Lake.create` (recorders) or `Lake.open` (readers)."""

    root: Path

    @classmethod
    def create(cls, root: Lake | str | os.PathLike[str]) -> Lake:
        """Open the lake at `root`, creating the directory and its marker if needed."""
        if isinstance(root, Lake):
            return root
        path = Path(root)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            blocked = _file_in_the_way(path) or "a file is in the way"
            raise LakeError(f"cannot make a lake at {path}: {blocked}") from None
        except OSError as exc:
            raise LakeError(f"cannot make a lake at {path}: {exc.strerror or exc}") from None
        lake = cls(path)
        marker = path / MARKER
        if marker.exists():
            read_marker(marker)
        else:
            with lake.write_lock():  # two recorders creating one lake: one writes the marker
                if not marker.exists():
                    created = datetime.now(UTC).isoformat()
                    body = json.dumps({"format": LAKE_FORMAT, "created_at": created})
                    atomic_write_text(marker, body + "\n")
        return lake

    @classmethod
    def open(cls, root: Lake | str | os.PathLike[str]) -> Lake:
        """Open an existing lake; raise `LakeNotFoundError` if `root` is not one."""
        if isinstance(root, Lake):
            return root
        path = Path(root)
        if path.exists() and not path.is_dir():
            raise LakeNotFoundError(f"not an evlog lake: {path} is a file, not a directory")
        if not path.is_dir():
            blocked = _file_in_the_way(path)
            why = f" ({blocked})" if blocked else ""
            raise LakeNotFoundError(f"lake not found: {path} does not exist{why}")
        if not (path / MARKER).exists():
            raise LakeNotFoundError(f"not an evlog lake: {path} has no {MARKER}")
        read_marker(path / MARKER)
        return cls(path)

    def write_lock(
        self, on_wait: Callable[[str], None] | None = None
    ) -> contextlib.AbstractContextManager[None]:
        """The lake's write lock (`write_lock`): held around every durable step of a writer.
        Taking it first settles the intents a dead writer left (`recover_intents`)."""
        return write_lock(self.root / WRITE_LOCK, on_wait, self.recover_intents)

    @contextlib.contextmanager
    def intent(self, delete_on_crash: Iterable[Path] = ()) -> Iterator[Intent]:
        """Declare, durably, what to delete should this writer not finish the block.

        A multi-file step (a recorder's batch: events, quarantine, raw) becomes all-or-nothing:
        declare the files it will create, create them, and leave the block; a crash in between
        leaves an intent file that the next holder of the write lock settles by deleting them
        (and their temporary copies; the source still holds the records and delivers them
        again). An exception out of the block settles it at once, the same way. `Intent.update`
        replaces the list atomically, for steps that pass a point of no return (compaction: once
        the merged file is in place, its inputs are what must go). Must run under `write_lock`.
        """
        intent = Intent(self.root / INTENTS / f"{uuid.uuid4().hex}.json", self.root)
        intent.update(delete_on_crash)
        try:
            yield intent
        except BaseException:
            intent.settle()
            raise
        intent.path.unlink(missing_ok=True)
        fsync_dir(intent.path.parent)

    def recover_intents(self) -> int:
        """Settle the intents of writers that died mid-step (see `intent`); returns how many.
        Only ever run under the write lock: an intent present then has no living owner."""
        folder = self.root / INTENTS
        if not folder.is_dir():
            return 0
        intents = sorted(folder.glob("*.json"))
        for path in intents:
            Intent(path, self.root).settle()
        for leftover in folder.glob(".*.tmp"):  # an intent killed while being written
            leftover.unlink(missing_ok=True)
        return len(intents)

    def table_dir(self, table: Table) -> Path:
        return self.root / table.value

    def files(self, table: Table) -> list[Path]:
        """The table's data files, in a stable order."""
        return parquet_files(self.table_dir(table))

    def has_files(self, table: Table) -> bool:
        """Whether the table has a data file (stops at the first: no listing of its history).
        Writers never write a file without rows, so a file means a row."""
        for _, _, names in os.walk(self.table_dir(table)):
            if any(name.endswith(".parquet") for name in names):
                return True
        return False

    def plan(self, table: Table, rows: pa.Table, source: str | None = None) -> list[PlannedFile]:
        """The new files that appending `rows` (in the table's schema) makes: one per date
        partition, each under a fresh name; nothing is written yet (`write_files` does), so a
        writer can declare them in an intent first."""
        if rows.num_rows == 0:
            return []
        schema = SCHEMAS[table]
        rows = rows.select(schema.names).cast(schema)
        base = self.table_dir(table)
        if table in SOURCE_PARTITIONED:
            if source is None:
                raise ValueError(f"table {table} needs a source")
            base = base / f"source={source}"
        return [
            PlannedFile(base / f"date={day}" / new_file_name(), part)
            for day, part in _split_by_date(rows, DATE_COLUMN[table])
        ]

    def write(self, table: Table, rows: pa.Table, source: str | None = None) -> list[Path]:
        """Append `rows` (in the table's schema) as new files, one per date partition."""
        return write_files(self.plan(table, rows, source))

    def write_rows(
        self, table: Table, rows: list[dict[str, Any]], source: str | None = None
    ) -> list[Path]:
        """Append rows given as dicts keyed by column name."""
        return self.write(table, table_of_rows(table, rows), source)

    def write_columns(
        self, table: Table, columns: Mapping[str, list[Any]], source: str | None = None
    ) -> list[Path]:
        """Append rows given as one list per column (every column of the table's schema)."""
        return self.write(table, table_of_columns(table, columns), source)

    def read(self, table: Table) -> pa.Table:
        """The whole table (data columns only, no partition columns), for small tables and tests."""
        files = self.files(table)
        schema = SCHEMAS[table]
        if not files:
            return schema.empty_table()
        return pa.concat_tables(pq.read_table(f, schema=schema) for f in files)

    def relation(
        self, con: duckdb.DuckDBPyConnection, table: Table, files: list[Path] | None = None
    ) -> duckdb.DuckDBPyRelation:
        """A DuckDB relation over the table (or those of its `files`), hive partition columns
        included; empty if no files.

        Over the whole table it is a glob that DuckDB expands at each query: binding costs the
        same for a year of files as for a day, and a query's `date` filter skips the other
        partitions' files before their footers are read (hive partition pruning). Only
        ``*.parquet`` matches: files being written (``.tmp``) or staged (``.staged``) never do."""
        if files is None:
            if not self.has_files(table):
                return self._empty_relation(con, table)
            pattern = self.table_dir(table) / "**" / "*.parquet"
            return con.read_parquet(str(pattern), hive_partitioning=True)
        if files:
            # Every writer casts to the one declared schema, so the first footer describes all
            # files: no union_by_name (which would read every footer before each query).
            return con.read_parquet([str(f) for f in files], hive_partitioning=True)
        return self._empty_relation(con, table)

    @staticmethod
    def _empty_relation(con: duckdb.DuckDBPyConnection, table: Table) -> duckdb.DuckDBPyRelation:
        empty = SCHEMAS[table].empty_table()
        if table in SOURCE_PARTITIONED:
            empty = empty.append_column("source", pa.array([], pa.string()))
        empty = empty.append_column("date", pa.array([], pa.date32()))
        return con.from_arrow(empty)

    def days_relation(
        self, con: duckdb.DuckDBPyConnection, table: Table, first: date, last: date
    ) -> duckdb.DuckDBPyRelation:
        """A relation over the `date=` partitions `first`..`last` of a table partitioned by date
        alone (`relation`'s columns): one glob per day that exists, so that binding costs the
        days asked for, not the table's whole history."""
        base = self.table_dir(table)
        globs = [
            str(base / f"date={day}" / "*.parquet")
            for n in range((last - first).days + 1)
            if (base / f"date={(day := first + timedelta(days=n))}").is_dir()
        ]
        if not globs:
            return self.relation(con, table, [])
        return con.read_parquet(globs, hive_partitioning=True)

    def register(self, con: duckdb.DuckDBPyConnection, *tables: Table) -> None:
        """Make `tables` (all by default) queryable in `con` under their own names."""
        for table in tables or tuple(Table):
            self.relation(con, table).create_view(table.value, replace=True)


@dataclass
class Intent:
    """One writer step's crash plan: the files to delete if it never finishes (`Lake.intent`)."""

    path: Path
    root: Path

    def update(self, delete_on_crash: Iterable[Path]) -> None:
        names = [str(Path(p).relative_to(self.root)) for p in delete_on_crash]
        atomic_write_text(self.path, json.dumps({"delete": names}))

    def settle(self) -> None:
        """Carry out the plan: delete the listed files and their temporary copies, then the
        intent itself (kept if a deletion fails, so the next holder of the lock tries again)."""
        try:
            doomed = json.loads(self.path.read_text())["delete"]
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError):
            doomed = []  # a torn intent file: written atomically, so it never was one
        folders = set()
        for name in doomed:
            path = self.root / name
            path.unlink(missing_ok=True)
            temporary_path(path).unlink(missing_ok=True)
            folders.add(path.parent)
        self.path.unlink(missing_ok=True)
        for folder in folders | {self.path.parent}:
            if folder.is_dir():
                fsync_dir(folder)


@dataclass(frozen=True)
class PlannedFile:
    """A file a write will create (`Lake.plan`): where, and the rows it will hold."""

    path: Path
    rows: pa.Table


def write_files(planned: Iterable[PlannedFile]) -> list[Path]:
    """Write each planned file atomically; their paths."""
    written = []
    for file in planned:
        atomic_write_parquet(file.rows, file.path)
        written.append(file.path)
    return written


def table_of_rows(table: Table, rows: list[dict[str, Any]]) -> pa.Table:
    """Rows given as dicts keyed by column name, as an Arrow table in `table`'s schema."""
    names = SCHEMAS[table].names
    return table_of_columns(table, {n: [row.get(n) for row in rows] for n in names})


def table_of_columns(table: Table, columns: Mapping[str, list[Any]]) -> pa.Table:
    """Rows given as one list per column (every column of `table`'s schema), as an Arrow table."""
    schema = SCHEMAS[table]
    return pa.Table.from_pydict({name: columns[name] for name in schema.names}, schema=schema)


def partition_days(
    times: pa.Array[Any] | pa.ChunkedArray[Any],
) -> pa.Array[Any] | pa.ChunkedArray[Any]:
    """The date partition of each time (UTC days since the epoch): the one rule for where a row
    is written and where a recorder looks for it."""
    micros = times.cast(pa.int64())
    return pc.divide(micros, pa.scalar(_DAY_US))  # integer division: days since the epoch


def day_name(day: int) -> str:
    """A partition day as its folder's date (``date=YYYY-MM-DD``)."""
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=day)).strftime("%Y-%m-%d")


def partition_date(directory: Path) -> date:
    """The date of a ``date=YYYY-MM-DD`` partition folder."""
    return date.fromisoformat(directory.name.removeprefix("date="))


def partition_day(directory: Path) -> int:
    """A ``date=`` folder's partition day (days since the epoch, as `partition_days` gives)."""
    return (partition_date(directory) - date(1970, 1, 1)).days


def _split_by_date(rows: pa.Table, column: str) -> Iterator[tuple[str, pa.Table]]:
    days = partition_days(rows.column(column))
    first, last = pc.min(days).as_py(), pc.max(days).as_py()
    if first is not None and first == last and not days.null_count:
        yield day_name(first), rows  # one day (an import's usual batch): no filtering
        return
    for day in sorted(d for d in pc.unique(days).to_pylist() if d is not None):
        yield day_name(day), rows.filter(pc.equal(days, pa.scalar(day, pa.int64())))
