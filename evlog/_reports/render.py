"""Write a report as a rich table, CSV, JSON, Parquet or Markdown (`--format`, `--output`)."""

from __future__ import annotations

import io
import sys
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import IO

import polars as pl
from rich.console import Console
from rich.table import Table as RichTable

from evlog._errors import UsageError
from evlog._reports.files import is_stdout, write_file


class OutputFormat(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"
    PARQUET = "parquet"
    MARKDOWN = "markdown"


def parse_format(value: str | OutputFormat) -> OutputFormat:
    try:
        return OutputFormat(str(value).strip().lower())
    except ValueError:
        choices = "|".join(f.value for f in OutputFormat)
        raise UsageError(f"--format: expected one of {choices}, got {value!r}") from None


def format_cell(value: object) -> str:
    """Machine-faithful cell (Markdown): empty for null, ISO times, floats to 3 decimals."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def format_duration(seconds: float) -> str:
    """Seconds for a person: `42.5s`, `12:31` (m:ss), `3:02:07`, `2d 04:00:00`."""
    if seconds == 0:
        return "0"
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours}:{minutes:02d}:{secs:02d}" if hours or days else f"{minutes}:{secs:02d}"
    return f"{days}d {clock:0>8}" if days else clock


def format_table_cell(name: str, value: object) -> str:
    """Terminal cell: durations as d h:mm:ss, percentages to 2 decimals, times to the minute."""
    if value is None:
        return ""
    if isinstance(value, float) and name.endswith("_s"):
        return format_duration(value)
    if isinstance(value, float) and name.endswith("_pct"):
        return f"{value:.2f}"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds" if value.second else "minutes")
    return format_cell(value)


# ISO 8601 as spreadsheets and pandas read it: `2026-11-02T00:00:00+01:00`, a fraction only
# where there is one.
CSV_DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S%.f%:z"
PCT_DECIMALS = 3  # a thousandth of a percent: 0.9 s in a day, finer than any rule's threshold


def to_csv(frame: pl.DataFrame) -> str:
    """CSV that spreadsheets read as-is: ISO times with a `+01:00` offset, percentages to
    `PCT_DECIMALS` decimals (durations keep their microseconds)."""
    percentages = [name for name in frame.columns if name.endswith("_pct")]
    rounded = frame.with_columns(pl.col(percentages).round(PCT_DECIMALS))
    return rounded.write_csv(datetime_format=CSV_DATETIME_FORMAT)


def to_markdown(frame: pl.DataFrame) -> str:
    header = "| " + " | ".join(frame.columns) + " |"
    rule = (
        "| " + " | ".join("---:" if dtype.is_numeric() else "---" for dtype in frame.dtypes) + " |"
    )
    rows = [
        "| " + " | ".join(format_cell(cell).replace("|", "\\|") for cell in row) + " |"
        for row in frame.iter_rows()
    ]
    return "\n".join([header, rule, *rows]) + "\n"


def to_rich_table(frame: pl.DataFrame, title: str | None = None) -> RichTable:
    table = RichTable(title=title, title_justify="left")
    for name, dtype in zip(frame.columns, frame.dtypes, strict=True):
        table.add_column(name, justify="right" if dtype.is_numeric() else "left", overflow="fold")
    for row in frame.iter_rows():
        table.add_row(*(format_table_cell(n, c) for n, c in zip(frame.columns, row, strict=True)))
    if frame.is_empty():
        table.caption = "no rows: nothing matched the window and filters"
    return table


def render(
    frame: pl.DataFrame,
    fmt: str | OutputFormat = OutputFormat.TABLE,
    output: Path | None = None,
    *,
    title: str | None = None,
    stdout: IO[str] | None = None,
) -> None:
    """Write `frame` to `output` (whole: `evlog._reports.files`), or to stdout when no file or
    `-` is given (Parquet only to a file or, with `-`, to a stdout that is not a terminal)."""
    fmt = parse_format(fmt)
    if fmt is OutputFormat.PARQUET:
        if output is None:
            raise UsageError("--format parquet: needs --output FILE (or `--output -` to pipe it)")
        if not is_stdout(output):
            write_file(output, frame.write_parquet, "the report to")
            return
        if stdout is not None or sys.stdout.isatty():
            raise UsageError("--format parquet --output -: stdout is a terminal; pipe it")
        buffer = io.BytesIO()  # whole, so that a closed pipe is one BrokenPipeError
        frame.write_parquet(buffer)
        sys.stdout.flush()
        sys.stdout.buffer.write(buffer.getvalue())
        sys.stdout.buffer.flush()
        return
    if is_stdout(output):
        output = None
    if fmt is OutputFormat.TABLE and output is None and stdout is None:
        # Straight to the terminal, colours and all; wide enough not to elide columns when piped.
        width = None if sys.stdout.isatty() else _natural_width(frame)
        Console(width=width).print(to_rich_table(frame, title))
        return
    text = _as_text(frame, fmt, title)
    if output is not None:
        write_file(output, lambda tmp: tmp.write_text(text, encoding="utf-8"), "the report to")
    else:
        (stdout or sys.stdout).write(text)


def _as_text(frame: pl.DataFrame, fmt: OutputFormat, title: str | None) -> str:
    if fmt is OutputFormat.CSV:
        return to_csv(frame)
    if fmt is OutputFormat.JSON:
        return frame.write_json() + "\n"
    if fmt is OutputFormat.MARKDOWN:
        return to_markdown(frame)
    buffer = io.StringIO()
    Console(file=buffer, width=_natural_width(frame)).print(to_rich_table(frame, title))
    return buffer.getvalue()


def _natural_width(frame: pl.DataFrame) -> int:
    """The width at which no column has to wrap: each column's widest cell or header + borders."""
    widths = [
        max([len(name)] + [len(format_table_cell(name, v)) for v in frame.get_column(name)])
        for name in frame.columns
    ]
    return max(80, sum(w + 3 for w in widths) + 1)
