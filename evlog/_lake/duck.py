"""DuckDB connections with the settings a user gives for big lakes, made one way everywhere.

`EVLOG_DUCKDB_MEMORY_LIMIT`, `EVLOG_DUCKDB_TEMP_DIRECTORY` and `EVLOG_DUCKDB_THREADS` set DuckDB's
`memory_limit`, `temp_directory` (where it spills what does not fit) and `threads` for every
connection that reads a lake (replay, upkeep, `lake info`, the CEC export, reconciliation); an
argument given in code wins over the environment. (The import's own small connections, per
batch, keep one thread and DuckDB's defaults.) Without one,
upkeep (merging, checkpoints, rollups) keeps DuckDB within `UPKEEP_MEMORY_LIMIT`, so that an
import's compaction of a crowded day does not take most of the machine (DuckDB's own default is
80 % of it), and DuckDB spills under the system's temporary directory (`TMPDIR`) rather than into
a `.tmp` folder of whatever directory the command runs in.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from typing import Final

import duckdb

from evlog._errors import UsageError

SETTINGS_ENV: Final = {
    "memory_limit": "EVLOG_DUCKDB_MEMORY_LIMIT",
    "temp_directory": "EVLOG_DUCKDB_TEMP_DIRECTORY",
    "threads": "EVLOG_DUCKDB_THREADS",
}
UPKEEP_MEMORY_LIMIT: Final = "1GB"


def configure(
    con: duckdb.DuckDBPyConnection,
    *,
    memory_limit: str | None = None,
    temp_directory: str | None = None,
    threads: int | None = None,
    upkeep: bool = False,
    spill_under_tmpdir: bool = True,
) -> duckdb.DuckDBPyConnection:
    """Apply the settings to `con`: each given one, else its environment variable, else (memory,
    for `upkeep`) evlog's default; the temporary directory, else (`spill_under_tmpdir`) a fresh
    one under `TMPDIR` (DuckDB makes it on its first spill and removes it when the connection
    closes)."""
    given: dict[str, object] = {
        "memory_limit": memory_limit,
        "temp_directory": temp_directory,
        "threads": threads,
    }
    chosen = {
        name: given[name] if given[name] is not None else os.environ.get(env, "").strip() or None
        for name, env in SETTINGS_ENV.items()
    }
    if chosen["memory_limit"] is None and upkeep:
        chosen["memory_limit"] = UPKEEP_MEMORY_LIMIT
    if chosen["temp_directory"] is None and spill_under_tmpdir:
        spill = f"evlog-duckdb-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        chosen["temp_directory"] = os.path.join(tempfile.gettempdir(), spill)
    for name, value in chosen.items():
        if value is not None:
            try:
                # names come from SETTINGS_ENV; the value is a bound parameter
                con.execute(f"SET {name} = ?", [str(value)])
            except duckdb.Error as exc:
                source = name if given[name] is not None else SETTINGS_ENV[name]
                refusal = (str(exc).splitlines() or [type(exc).__name__])[0]
                raise UsageError(f"{source}={value}: DuckDB refuses it ({refusal})") from None
    return con


def out_of_memory_message() -> str:
    """What to tell a user whose command DuckDB stopped for want of memory: the limit in force
    and the two settings that help (more memory, or a temporary directory with room to spill)."""
    limit = os.environ.get(SETTINGS_ENV["memory_limit"], "").strip()
    where = (
        f"{SETTINGS_ENV['memory_limit']}={limit}"
        if limit
        else f"unset, so {UPKEEP_MEMORY_LIMIT} for upkeep and DuckDB's default otherwise"
    )
    return (
        f"DuckDB ran out of memory (memory limit: {where}); raise "
        f"{SETTINGS_ENV['memory_limit']} (e.g. 4GB) or point {SETTINGS_ENV['temp_directory']} "
        "at a disk with room to spill"
    )


def connect(*, upkeep: bool = False) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the settings (`configure`)."""
    return configure(duckdb.connect(), upkeep=upkeep)
