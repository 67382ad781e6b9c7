"""Write a report as a rich table, CSV, JSON, Parquet or Markdown (`--format`, `--output`)."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import IO, TYPE_CHECKING

from rich.console import Console
from rich.table import Table as RichTable

from evlog._errors import UsageError
from evlog._reports.files import is_stdout, write_file
from evlog._window import parse_choice

if TYPE_CHECKING:
    import polars as pl


class OutputFormat(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"
    PARQUET = "parquet"
    MARKDOWN = "markdown"


def parse_format(value: str | OutputFormat) -> OutputFormat:
    return parse_choice(OutputFormat, value, "--format")


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
    """Seconds for a person, in one style: `0:00:42.5` (tenths under a minute), `0:12:31`,
    `3:02:07`, `2d 04:00:00`."""
    if seconds == 0:
        return "0"
    if seconds < 60:
        return f"0:00:{seconds:04.1f}"
    whole = round(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours}:{minutes:02d}:{secs:02d}"
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
    import polars as pl

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


def to_rich_table(
    frame: pl.DataFrame, title: str | None = None, wide: bool = False, width: int | None = None
) -> RichTable:
    """A terminal table. Unless `wide`, made to fit `width` columns of text: duration columns
    that are 0 on every row left out, ids without the prefix every row shares and cut to the
    shortest unique start, times of day left out where every row is at midnight, then the last
    columns that do not fit left out; values never wrap (headers do, at `_`). The caption says
    what was done."""
    shown, notes = (frame, []) if wide else table_view(frame)
    rows = [
        [format_table_cell(n, c) for n, c in zip(shown.columns, row, strict=True)]
        for row in shown.iter_rows()
    ]
    # a header wraps after its `_`s only where the table is fitted to a terminal
    header_parts = (lambda name: name.split("_")) if width is not None else (lambda name: [name])
    widths = [
        max([len(row[index]) for row in rows] + [len(p) + 1 for p in header_parts(name)])
        for index, name in enumerate(shown.columns)
    ]
    kept = list(range(len(widths)))
    if width is not None and not wide:
        # what goes first when it does not fit: durations and counts from the right, then the
        # percentages (the figures people look for); never what the row is about
        keys = sum(1 for _ in _leading_keys(shown.columns))
        figures = [i for i in kept[keys:] if not shown.columns[i].endswith("_pct")]
        percentages = [i for i in kept[keys:] if shown.columns[i].endswith("_pct")]
        dropped: list[int] = []
        for index in [*reversed(figures), *reversed(percentages)]:
            if sum(widths[i] + 3 for i in kept) + 1 <= width:
                break
            kept.remove(index)
            dropped.append(index)
        if dropped:
            names = ", ".join(shown.columns[i] for i in sorted(dropped))
            notes.append(f"not shown for width: {names} (--columns)")
    table = RichTable(title=title, title_justify="left")
    for index in kept:
        table.add_column(
            _header(shown.columns[index], widths[index]),
            justify="right" if shown.dtypes[index].is_numeric() else "left",
            no_wrap=True,
            min_width=widths[index],
        )
    for row in rows:
        table.add_row(*(row[i] for i in kept))
    if frame.is_empty():
        notes = ["no rows: nothing matched the window and filters"]
    if notes:
        table.caption = "; ".join(notes) + ("" if frame.is_empty() else "; --wide: as is")
        table.caption_justify = "left"
    return table


def _leading_keys(columns: list[str]) -> Iterator[str]:
    """The columns that say what a row is about (ids, period), up to the first figure."""
    for name in columns:
        if not (name.endswith(("_id", "_kind")) or name.startswith("period_") or name == "state"):
            return
        yield name


def _header(name: str, width: int) -> str:
    """`name` over as many lines of `width` as it needs, broken after its `_`s."""
    lines = [""]
    pieces = name.split("_")
    for index, piece in enumerate(pieces):
        token = piece + ("_" if index < len(pieces) - 1 else "")
        if lines[-1] and len(lines[-1]) + len(token) > width:
            lines.append(token)
        else:
            lines[-1] += token
    return "\n".join(lines)


ID_MIN_CHARS = 8  # ids are cut to no fewer characters than this, and only when over twice it


def table_view(frame: pl.DataFrame) -> tuple[pl.DataFrame, list[str]]:
    """`frame` as `to_rich_table` shows it when not wide, and notes saying what changed."""
    import polars as pl

    notes: list[str] = []
    zero = [
        name
        for name, dtype in zip(frame.columns, frame.dtypes, strict=True)
        if name.endswith("_s")
        and dtype.is_numeric()
        and frame.height
        and frame.get_column(name).fill_null(0).abs().max() == 0
    ]
    if zero:
        frame = frame.drop(zero)
        notes.append(f"0 on every row: {', '.join(zero)}")
    for name in frame.columns:
        column = frame.get_column(name)
        if name.endswith("_id") and column.dtype == pl.String and frame.height:
            shortened, note = _short_ids(column)
            if note:
                frame = frame.with_columns(shortened.alias(name))
                notes.append(f"{name}: {note}")
        elif isinstance(column.dtype, pl.Datetime) and frame.height:
            if (column.dt.truncate("1d") == column).all():
                frame = frame.with_columns(column.dt.date().alias(name))
            elif column.dtype.time_zone == "UTC":  # the default zone goes without saying
                frame = frame.with_columns(column.dt.replace_time_zone(None).alias(name))
    return frame, notes


def _short_ids(column: pl.Series) -> tuple[pl.Series, str]:
    """`column`'s ids without the `:`-separated prefix they all share, then cut to the shortest
    start that still tells them apart (at least `ID_MIN_CHARS`, marked `…`)."""
    import polars as pl

    values = [v for v in column.to_list() if v is not None]
    notes = []
    prefix = _common_prefix(values)
    if prefix:
        column = column.str.strip_prefix(prefix)
        values = [v[len(prefix) :] for v in values]
        notes.append(f"without {prefix!r}")
    longest = max((len(v) for v in values), default=0)
    distinct = len(set(values))
    # only opaque ids are cut (24 hex digits, UUIDs): a short one reads better whole
    for chars in range(ID_MIN_CHARS, longest if longest > 2 * ID_MIN_CHARS else 0):
        if len({v[:chars] for v in values}) == distinct:
            column = column.to_frame("id").select(
                pl.when(pl.col("id").str.len_chars() > chars)
                .then(pl.col("id").str.slice(0, chars) + "…")
                .otherwise(pl.col("id"))
            )["id"]
            notes.append(f"cut to {chars} characters")
            break
    return column, ", ".join(notes)


def _common_prefix(values: list[str]) -> str:
    """The longest prefix ending in `:` that every value has and none is only."""
    if len(values) < 2:
        return ""
    first, last = min(values), max(values)
    shared = 0
    while shared < min(len(first), len(last)) and first[shared] == last[shared]:
        shared += 1
    cut = first.rfind(":", 0, shared) + 1
    return first[:cut] if cut and all(len(v) > cut for v in values) else ""


def select_rows(
    frame: pl.DataFrame,
    columns: list[str] | None = None,
    sort: list[str] | None = None,
    top: int | None = None,
) -> pl.DataFrame:
    """`frame` sorted by `sort` (each `COLUMN` or `COLUMN:desc`, nulls last), cut to its first
    `top` rows, with only `columns` (in that order); an unknown column is a `UsageError` that
    lists the known ones."""

    def known(name: str, flag: str) -> str:
        if name not in frame.columns:
            raise UsageError(
                f"{flag}: no column {name!r}; the report has {', '.join(frame.columns)}"
            )
        return name

    if sort:
        keys = [
            key.rpartition(":") if key.endswith((":desc", ":asc")) else (key, "", "asc")
            for key in sort
        ]
        frame = frame.sort(
            [known(name, "--sort") for name, _, _ in keys],
            descending=[order == "desc" for _, _, order in keys],
            nulls_last=True,
        )
    if top is not None:
        if top < 1:
            raise UsageError(f"--top: expected a positive number of rows, got {top}")
        frame = frame.head(top)
    if columns:
        frame = frame.select([known(name, "--columns") for name in columns])
    return frame


def render(
    frame: pl.DataFrame,
    fmt: str | OutputFormat = OutputFormat.TABLE,
    output: Path | None = None,
    *,
    title: str | None = None,
    stdout: IO[str] | None = None,
    wide: bool = False,
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
        # Straight to the terminal, colours and all, fitted to it; whole when piped.
        if sys.stdout.isatty():
            console = Console()
            console.print(to_rich_table(frame, title, wide, console.width))
        else:
            table = to_rich_table(frame, title, wide)
            Console(width=_natural_width(table)).print(table)
        return
    text = _as_text(frame, fmt, title, wide)
    if output is not None:
        write_file(output, lambda tmp: tmp.write_text(text, encoding="utf-8"), "the report to")
    else:
        (stdout or sys.stdout).write(text)


def _as_text(frame: pl.DataFrame, fmt: OutputFormat, title: str | None, wide: bool) -> str:
    if fmt is OutputFormat.CSV:
        return to_csv(frame)
    if fmt is OutputFormat.JSON:
        return frame.write_json() + "\n"
    if fmt is OutputFormat.MARKDOWN:
        return to_markdown(frame)
    buffer = io.StringIO()
    table = to_rich_table(frame, title, wide)
    Console(file=buffer, width=_natural_width(table)).print(table)
    return buffer.getvalue()


def _natural_width(table: RichTable) -> int:
    """The width at which no column of `table` has to wrap: the widths `to_rich_table` gave its
    columns (widest cell or header) plus borders and padding."""
    return max(80, sum((column.min_width or 0) + 3 for column in table.columns) + 1)
