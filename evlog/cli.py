"""The `evlog` command. It only parses options, calls the library and turns errors into exit codes:
0 success; 2 for bad options or bad input, with one line on stderr naming the problem."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table as RichTable

from evlog.errors import EvlogError, UsageError
from evlog.lake import Lake
from evlog.record.offline import record_stream, record_webhook_files
from evlog.record.recorder import RecordSummary
from evlog.timeopts import parse_duration, parse_window
from evlog.upkeep import LakeInfo, lake_info, rebuild

app = typer.Typer(
    name="evlog",
    help="Record EV charging network feeds into a Parquet lake and replay them offline.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
record_app = typer.Typer(
    help="Record a feed into the lake (offline imports and live recorders).", no_args_is_help=True
)
lake_app = typer.Typer(help="Inspect and maintain a lake.", no_args_is_help=True)
report_app = typer.Typer(
    help="Replay the lake and report, per entity and period.", no_args_is_help=True
)
app.add_typer(record_app, name="record")
app.add_typer(lake_app, name="lake")
app.add_typer(report_app, name="report")

out = Console()
err = Console(stderr=True)

LakeOption = Annotated[Path, typer.Option("--lake", help="Lake directory.", show_default=False)]
CoverageOption = Annotated[
    list[str] | None,
    typer.Option(
        "--coverage",
        metavar="FROM/TO",
        help="Declare that the capture saw everything between FROM and TO (ISO times); "
        "repeat for several windows. Without it, an import records no coverage.",
    ),
]
SkewOption = Annotated[
    str,
    typer.Option(
        "--skew-tolerance",
        help="Source times later than receive time by more than this are clamped and flagged.",
    ),
]


def _windows(values: Sequence[str] | None) -> list[tuple[datetime, datetime]]:
    return [parse_window(value, "--coverage") for value in values or ()]


def _print_summary(summary: RecordSummary) -> None:
    out.print(summary.line(), highlight=False)


# ---------------------------------------------------------------------------------------------
# record


@record_app.command("stream")
def record_stream_command(
    inputs: Annotated[
        list[str],
        typer.Argument(
            metavar="INPUT...",
            help="Capture files or directories, or '-' for stdin: concatenated gzip members, "
            "NDJSON (plain or .gz), Data API partitions responses, one message per file.",
            show_default=False,
        ),
    ],
    lake: LakeOption,
    coverage: CoverageOption = None,
    skew_tolerance: SkewOption = "5m",
) -> None:
    """Import HERE EVCP2 status-stream captures into the lake.

    The shape of each input is recognised from its content. Records already in the lake are
    skipped; records that cannot be parsed are kept in quarantine with a reason.
    """
    summary = record_stream(
        lake,
        inputs,
        coverage=_windows(coverage),
        skew_tolerance=parse_duration(skew_tolerance, "--skew-tolerance"),
    )
    _print_summary(summary)


@record_app.command("webhooks")
def record_webhooks_command(
    lake: LakeOption,
    from_files: Annotated[
        list[str] | None,
        typer.Option(
            "--from",
            metavar="FILE",
            help="Import saved webhook bodies (JSONL, one body or envelope per line; '-' is "
            "stdin). Repeat for several files.",
        ),
    ] = None,
    coverage: CoverageOption = None,
    skew_tolerance: SkewOption = "5m",
) -> None:
    """Record eDRV chargestation.online/offline webhooks into the lake."""
    if not from_files:
        raise UsageError("--from: give saved webhook files to import (or --listen, coming)")
    summary = record_webhook_files(
        lake,
        from_files,
        coverage=_windows(coverage),
        skew_tolerance=parse_duration(skew_tolerance, "--skew-tolerance"),
    )
    _print_summary(summary)


# ---------------------------------------------------------------------------------------------
# lake


@lake_app.command("info")
def lake_info_command(lake: LakeOption) -> None:
    """Show what the lake holds: tables, rows, files, time spans, coverage, quarantine."""
    _print_info(lake_info(Lake.open(lake)))


@lake_app.command("rebuild")
def lake_rebuild_command(lake: LakeOption, skew_tolerance: SkewOption = "5m") -> None:
    """Re-derive the event and quarantine tables from the raw tables (after a parser fix)."""
    summary = rebuild(Lake.open(lake), parse_duration(skew_tolerance, "--skew-tolerance"))
    out.print(
        f"rebuilt from {summary.recorded} raw records: {summary.events} events, "
        f"{summary.quarantined} quarantined",
        highlight=False,
    )


def _print_info(info: LakeInfo) -> None:
    tables = RichTable(title=f"lake {info.root}", title_justify="left")
    for column in ("table", "rows", "files", "MB", "first", "last"):
        tables.add_column(column, justify="right" if column in ("rows", "files", "MB") else "left")
    for t in info.tables:
        tables.add_row(
            t.table,
            f"{t.rows:,}",
            f"{t.files:,}",
            f"{t.bytes / 1e6:.2f}",
            _when(t.first),
            _when(t.last),
        )
    out.print(tables)
    coverage = RichTable(title="coverage (when a recorder was listening)", title_justify="left")
    for column in ("source", "sessions", "intervals", "from", "to", "hours"):
        coverage.add_column(column)
    for c in info.coverage:
        coverage.add_row(
            c.source,
            str(c.sessions),
            str(c.intervals),
            _when(c.first),
            _when(c.last),
            f"{c.covered_s / 3600:.1f}",
        )
    if not info.coverage:
        coverage.caption = "no coverage recorded: every source counts as observed throughout"
    out.print(coverage)
    quarantine = RichTable(title="quarantine", title_justify="left")
    for column in ("source", "reason", "records"):
        quarantine.add_column(column)
    for source, reason, count in info.quarantine:
        quarantine.add_row(source, reason, f"{count:,}")
    if not info.quarantine:
        quarantine.caption = "empty"
    out.print(quarantine)


def _when(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


# ---------------------------------------------------------------------------------------------
# report commands are added below this line (see evlog/reports/).
# They only parse options: validation (dates, --tz, --by, durations) and errors live in the library.

StartOption = Annotated[
    str | None,
    typer.Option("--start", help="Window start, ISO 8601 (no offset = UTC). Default: first event."),
]
EndOption = Annotated[
    str | None,
    typer.Option("--end", help="Window end, exclusive, ISO 8601. Default: last thing recorded."),
]
ByOption = Annotated[str, typer.Option("--by", help="Period per row: hour|day|week|month|none.")]
TzOption = Annotated[str, typer.Option("--tz", help="Time zone of period boundaries (IANA name).")]
FormatOption = Annotated[
    str, typer.Option("--format", help="Output format: table|csv|json|parquet|markdown.")
]
OutputOption = Annotated[
    Path | None, typer.Option("--output", help="Write to FILE instead of stdout (parquet needs it).")
]
HoldOption = Annotated[
    bool,
    typer.Option(
        "--hold-after-gap",
        help="After a coverage gap, keep the last state instead of counting no_data until the next "
        "event.",
    ),
]
EvseOption = Annotated[list[str] | None, typer.Option("--evse", help="Only this EVSE (repeatable).")]
LocationOption = Annotated[
    list[str] | None, typer.Option("--location", help="Only EVSEs of this location (repeatable).")
]
StationOption = Annotated[
    list[str] | None, typer.Option("--station", help="Only this station (repeatable).")
]


def _open_reports(lake: Path):  # type: ignore[no-untyped-def]
    from evlog.api import open_lake  # imported here: the recorders need not load the replay engine

    return open_lake(lake)


def _write_report(frame: object, fmt: str, output: Path | None, title: str) -> None:
    from evlog.reports.render import render

    render(frame, fmt, output, title=title)  # type: ignore[arg-type]


@report_app.command("availability")
def report_availability_command(
    lake: LakeOption,
    start: StartOption = None,
    end: EndOption = None,
    by: ByOption = "day",
    tz: TzOption = "UTC",
    evse: EvseOption = None,
    location: LocationOption = None,
    by_location: Annotated[
        bool,
        typer.Option("--by-location", help="One row per location: time with an EVSE AVAILABLE."),
    ] = False,
    hold_after_gap: HoldOption = False,
    fmt: FormatOption = "table",
    output: OutputOption = None,
) -> None:
    """Time per OCPI status for each EVSE and period, available_pct and in_service_pct."""
    frame = _open_reports(lake).availability(
        start,
        end,
        by=by,
        tz=tz,
        evse=evse or (),
        location=location or (),
        by_location=by_location,
        hold_after_gap=hold_after_gap,
    )
    _write_report(frame, fmt, output, "availability by location" if by_location else "availability")


@report_app.command("uptime")
def report_uptime_command(
    lake: LakeOption,
    start: StartOption = None,
    end: EndOption = None,
    by: ByOption = "day",
    tz: TzOption = "UTC",
    station: StationOption = None,
    hold_after_gap: HoldOption = False,
    fmt: FormatOption = "table",
    output: OutputOption = None,
) -> None:
    """Online and offline time per station and period, outages, MTTR and MTBF."""
    frame = _open_reports(lake).uptime(
        start, end, by=by, tz=tz, station=station or (), hold_after_gap=hold_after_gap
    )
    _write_report(frame, fmt, output, "uptime")


@report_app.command("flaps")
def report_flaps_command(
    lake: LakeOption,
    start: StartOption = None,
    end: EndOption = None,
    by: ByOption = "day",
    tz: TzOption = "UTC",
    station: StationOption = None,
    flap_threshold: Annotated[
        str, typer.Option("--flap-threshold", help="A disconnect shorter than this is short.")
    ] = "5m",
    flap_count: Annotated[
        int, typer.Option("--flap-count", help="Disconnects in a run that makes an episode.")
    ] = 3,
    flap_window: Annotated[
        str, typer.Option("--flap-window", help="Time within which a run's disconnects lie.")
    ] = "1h",
    flap_low: Annotated[
        float, typer.Option("--flap-low", help="Percent state change below which flapping stops.")
    ] = 5.0,
    flap_high: Annotated[
        float, typer.Option("--flap-high", help="Percent state change above which it starts.")
    ] = 20.0,
    hold_after_gap: HoldOption = False,
    fmt: FormatOption = "table",
    output: OutputOption = None,
) -> None:
    """Disconnects, short disconnects and flapping episodes per station, worst first."""
    frame = _open_reports(lake).flaps(
        start,
        end,
        by=by,
        tz=tz,
        station=station or (),
        flap_threshold=flap_threshold,
        flap_count=flap_count,
        flap_window=flap_window,
        flap_low_pct=flap_low,
        flap_high_pct=flap_high,
        hold_after_gap=hold_after_gap,
    )
    _write_report(frame, fmt, output, "flaps (worst first)")


@report_app.command("intervals")
def report_intervals_command(
    lake: LakeOption,
    start: StartOption = None,
    end: EndOption = None,
    by: ByOption = "none",
    tz: TzOption = "UTC",
    evse: EvseOption = None,
    location: LocationOption = None,
    station: StationOption = None,
    hold_after_gap: HoldOption = False,
    fmt: FormatOption = "table",
    output: OutputOption = None,
) -> None:
    """The replayed state intervals (entity, state, start, end) of EVSEs and stations."""
    frame = _open_reports(lake).intervals(
        start,
        end,
        by=by,
        tz=tz,
        evse=evse or (),
        location=location or (),
        station=station or (),
        hold_after_gap=hold_after_gap,
    )
    _write_report(frame, fmt, output, "intervals")


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: run the command, print domain errors on one line and exit 2."""
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="evlog", standalone_mode=False)
    except typer.TyperException as exc:  # click's usage errors, as typer re-exports them
        message = exc.format_message()
        if "\n" in message.strip():  # a group run without a command: its help screen
            print(message, file=sys.stderr)
            code = exc.exit_code
        else:
            code = _fail(message, exc.exit_code)
    except typer.Abort:
        code = 130
    except EvlogError as exc:
        code = _fail(str(exc))
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int = 2) -> int:
    one_line = " ".join(message.split())
    print(f"evlog: error: {one_line}", file=sys.stderr)
    return code
