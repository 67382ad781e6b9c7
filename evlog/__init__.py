"""evlog: record EV charging network feeds into a Parquet lake and replay them with DuckDB."""

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
    "InputError",
    "Lake",
    "LakeError",
    "LakeNotFoundError",
    "RecordError",
    "UsageError",
]
