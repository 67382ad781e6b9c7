"""Every error evlog raises on purpose, in one place.

    EvlogError                  base class: the CLI prints its message on one line and exits 2
    ├── UsageError              a bad option value (date, duration, time zone, window)
    ├── LakeError               a lake that is missing, empty where data is needed, or not a lake
    │   └── LakeNotFoundError
    ├── EngineError             a replay engine that cannot run here (Spark without pyspark or Java)
    ├── InputError              an input path that does not exist or cannot be read
    ├── OutputError             a file evlog was asked to write that cannot be written
    ├── ExportError             a filing export with a row its receiving system would reject
    └── RecordError             a record that cannot be parsed; carries a quarantine `reason`

`RecordError` never escapes a recorder: it is how a parser asks for a record's quarantine.
"""

from __future__ import annotations


class EvlogError(Exception):
    """Base class for evlog's domain errors."""


class UsageError(EvlogError):
    """An option value that makes no sense (a bad date, an end before the start, ...)."""


class LakeError(EvlogError):
    """A lake that cannot be used as asked."""


class LakeNotFoundError(LakeError):
    """The `--lake` directory does not exist or holds no evlog lake."""


class EngineError(EvlogError):
    """The chosen replay engine cannot run (a missing optional dependency, no Java, ...)."""


class InputError(EvlogError):
    """An input file or directory that cannot be read."""


class OutputError(EvlogError):
    """A report output, plot or export that cannot be written (no space, no permission, ...)."""


class ExportError(EvlogError):
    """A filing export (`--export ev-chart DIR`) with a row the receiving system would reject: the
    message names the file, the row and the rule, and nothing is written."""


class RecordError(EvlogError):
    """A record that cannot be parsed. `reason` is one of `evlog._lake.names.QuarantineReason`."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
