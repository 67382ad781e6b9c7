"""evlog: record EV charging network feeds into a Parquet lake and replay them with DuckDB."""

from evlog.api import EvlogLake, open_lake
from evlog.errors import (
    EvlogError,
    InputError,
    LakeError,
    LakeNotFoundError,
    RecordError,
    UsageError,
)
from evlog.lake import Lake

__all__ = [
    "EvlogError",
    "EvlogLake",
    "InputError",
    "Lake",
    "LakeError",
    "LakeNotFoundError",
    "RecordError",
    "UsageError",
    "open_lake",
]
