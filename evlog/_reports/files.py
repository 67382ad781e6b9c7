"""Files a report writes (`--output`, `--plot`, exports): checked before any work, written whole.

A path is checked before the report runs, so a typo fails at once and no replay is wasted: its
folder must exist (a missing one is not created: it is more often a typo than a wish), and the
path must not be a directory. The file is then written under a temporary name and renamed into
place (`evlog._lake.layout.atomic_write_file`), so a failed or interrupted write never leaves a
half-written file where the old one was. `-` means standard output.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from evlog._errors import OutputError, UsageError

STDOUT = "-"


def is_stdout(path: str | os.PathLike[str] | None) -> bool:
    return path is not None and os.fspath(path) == STDOUT


def check_output_file(path: str | os.PathLike[str], flag: str) -> Path:
    """`path` as a Path if a file can be written there; `UsageError` naming `flag` otherwise."""
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"{flag}: {str(path)!r} is a directory; give a file name")
    parent = target.parent
    if not parent.exists():
        raise UsageError(f"{flag}: directory {str(parent)!r} does not exist")
    if not parent.is_dir():
        raise UsageError(f"{flag}: {str(parent)!r} is a file, not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"{flag}: directory {str(parent)!r} is not writable")
    return target


def write_file(path: Path, write: Callable[[Path], object], what: str) -> None:
    """`write(tmp)` then rename to `path`; an OS error becomes `OutputError` naming `what`.
    A device or pipe (`/dev/stdout`, a FIFO) is written in place: it cannot be renamed onto."""
    try:
        if path.exists() and not path.is_file():
            write(path)
        else:
            from evlog._lake.layout import atomic_write_file  # lazily: it imports pyarrow

            atomic_write_file(path, write)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise OutputError(f"cannot write {what} {str(path)!r}: {reason}") from exc


def export_directory(directory: str | os.PathLike[str], flag: str = "--export") -> Path:
    """The folder an export writes its files in, created if missing (an export names a folder of
    files it owns, unlike `--output`); `UsageError` naming `flag` if it cannot be."""
    target = Path(directory)
    if target.exists() and not target.is_dir():
        raise UsageError(f"{flag}: {target} exists and is not a directory")
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{flag}: cannot create {target}: {exc.strerror}") from None
    return target


def write_csv_rows(
    path: Path, header: Sequence[str], rows: Iterable[Sequence[str]], what: str
) -> None:
    """Write a CSV of text cells exactly as given (an export's validated cells), atomically."""

    def write(tmp: Path) -> None:
        with tmp.open("w", newline="", encoding="utf-8") as handle:
            out = csv.writer(handle, lineterminator="\n")
            out.writerow(header)
            out.writerows(rows)

    write_file(path, write, what)


def text_cell(value: Any, digits: int = 3) -> str:
    """A filing CSV's cell: empty for a null, `true`/`false`, a float with `digits` decimals."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)
