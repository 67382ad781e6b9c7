"""The `evlog` command. It only parses options, calls the library and turns errors into exit codes:
0 success; 2 for bad options or bad input, with one line on stderr naming the problem."""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypedDict

import typer
from rich.console import Console

# Only what declares the commands and their options is imported here: each command imports the
# library it runs (DuckDB, Polars, pyarrow, the HTTP servers), so that `evlog --help`, a usage
# error and `--version` start at once (tests/test_startup.py keeps it so).
from evlog._errors import EvlogError, UsageError
from evlog._progress import Progress, ProgressStep, quiet
from evlog._record.live import LogFormat, configure_logging, log_level, parse_compact_every
from evlog._reports._registry import COMMANDS
from evlog._reports._report import FORMAT, LAKE_ENV, OUTPUT, Report, cli_options
from evlog._reports.files import check_output_file
from evlog._time import parse_duration, parse_instant, parse_window

if TYPE_CHECKING:
    from evlog._lake.layout import Lake
    from evlog._record.poller import PollStats
    from evlog._record.recorder import RecordSummary
    from evlog._upkeep.compact import CompactSummary
    from evlog._upkeep.maintenance import LakeInfo


class EngineSwitches(TypedDict):
    checkpoints: bool
    rollups: bool


def engine_switches() -> EngineSwitches:
    """The engine switches, read from the environment once, here at the CLI edge:
    EVLOG_NO_CHECKPOINTS=1 / EVLOG_NO_ROLLUPS=1 replay every event (benchmarks, diagnosis)."""
    return {
        "checkpoints": not os.environ.get("EVLOG_NO_CHECKPOINTS"),
        "rollups": not os.environ.get("EVLOG_NO_ROLLUPS"),
    }


app = typer.Typer(
    name="evlog",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(given: bool) -> None:
    if given:
        from evlog._version import __version__

        out.print(f"evlog {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Record EV charging network feeds into a Parquet lake and replay them offline.

    Every command takes -h for its options. EVLOG_LAKE sets the default --lake. Long offline
    commands (simulate, record stream, record webhooks --from, lake compact, lake rebuild) draw
    progress bars on stderr when it is a terminal; EVLOG_PROGRESS=1 always, 0 never."""


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

# Piped output gets a fixed, generous width so tables do not wrap at 80 columns.
out = Console(width=None if sys.stdout.isatty() else 120)
# Messages are one line each whatever their length (a long path must not break a log line).
err = Console(stderr=True, soft_wrap=True)

LakeOption = Annotated[
    Path,
    typer.Option(
        "--lake", metavar="DIR", envvar=LAKE_ENV, help="Lake directory.", show_default=False
    ),
]
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
        metavar="DURATION",
        help="Source times later than receive time by more than this are clamped and flagged.",
    ),
]
DedupeHorizonOption = Annotated[
    str,
    typer.Option(
        "--dedupe-horizon",
        metavar="DURATION",
        help="Look for a record's earlier copies this far (like 3d, 12h) from its receive day; "
        "longer than the sender's retry window.",
    ),
]
CompactEveryOption = Annotated[
    str,
    typer.Option(
        "--compact-every",
        metavar="DURATION",
        help="Run `evlog lake compact` on the lake this often, in a child process, while "
        "recording (keeps reports fast as files pile up); 0 or off: never (then cron it).",
    ),
]
LogFormatOption = Annotated[
    LogFormat,
    typer.Option(
        "--log-format",
        help="Log lines on stderr: json (one JSON object a line) or text (key=value pairs).",
    ),
]
VerboseOption = Annotated[
    bool, typer.Option("--verbose", "-v", help="Log debug lines too.", show_default=False)
]
QuietOption = Annotated[
    bool, typer.Option("--quiet", "-q", help="Log warnings and errors only.", show_default=False)
]
ProgressOption = Annotated[
    bool | None,
    typer.Option(
        "--progress/--no-progress",
        help="Live progress line (default: only when stdout is a terminal).",
        show_default=False,
    ),
]


PROGRESS_ENV = "EVLOG_PROGRESS"  # 1: progress bars even when stderr is not a terminal; 0: never


@contextmanager
def _progress_bars() -> Iterator[Progress]:
    """While the block runs, a bar per task of the `Progress` it yields, on stderr: only when
    stderr is a terminal (a pipe or a log file gets nothing; EVLOG_PROGRESS=1 or 0 decides
    instead). The bars go when the block ends, leaving the command's summary lines alone."""
    wanted = os.environ.get(PROGRESS_ENV)
    if wanted == "0" or (wanted != "1" and not sys.stderr.isatty()):
        yield quiet
        return
    from rich.progress import BarColumn, TaskID, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bars

    console = Console(stderr=True, force_terminal=wanted == "1" or None)
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[amount]}"))
    with Bars(*columns, TimeElapsedColumn(), console=console, transient=True) as bars:
        tasks: dict[str, TaskID] = {}

        def show(step: ProgressStep) -> None:
            if step.task not in tasks:
                tasks[step.task] = bars.add_task(step.task, total=step.total, amount="")
            bars.update(
                tasks[step.task], completed=step.done, total=step.total, amount=_amount(step)
            )

        yield show


def _amount(step: ProgressStep) -> str:
    """How much of a step is done, for people: `12.5/40.0 MB`, `3/12 partitions`."""
    total = "?" if step.total is None else f"{step.total:,}"
    if step.unit == "bytes":
        scale, unit = next(
            (scale, unit)
            for scale, unit in ((1e9, "GB"), (1e6, "MB"), (1e3, "kB"), (1, "bytes"))
            if max(step.done, step.total or 0) >= scale or scale == 1
        )
        if scale > 1:
            total = "?" if step.total is None else f"{step.total / scale:,.1f}"
            return f"{step.done / scale:,.1f}/{total} {unit}"
    return f"{step.done:,}/{total} {step.unit}"


def _live_logging(log_format: LogFormat, verbose: bool, quiet: bool) -> None:
    """What every live recorder logs: one format, one choice of levels."""
    configure_logging(log_format, log_level(verbose, quiet))


def _windows(values: Sequence[str] | None) -> list[tuple[datetime, datetime]]:
    return [parse_window(value, "--coverage") for value in values or ()]


def _print_summary(summary: RecordSummary | PollStats) -> None:
    out.print(summary.line(), highlight=False)


def _exit_if_nothing_recorded(summary: RecordSummary | PollStats) -> None:
    """If the run recorded nothing usable, say why on stderr and exit 1 ("nothing happened" is
    never silent, and scripts can tell)."""
    problem = summary.nothing_recorded()
    if problem is not None:
        print(f"evlog: warning: nothing recorded: {problem}", file=sys.stderr)
        raise typer.Exit(1)


NoCompactOption = Annotated[
    bool,
    typer.Option(
        "--no-compact",
        help="Do not compact afterwards. By default the checkpoints and rollups are brought up "
        "to date from the first day the import changed on, so that the first report is fast, "
        "and the partitions it left crowded with files are merged (`evlog lake compact` merges "
        "every partition).",
    ),
]


def _import(
    lake: Path,
    record: Callable[[Lake | str | os.PathLike[str], Progress], RecordSummary],
    no_compact: bool,
) -> None:
    """Run an offline import (`record(lake, progress)`), print its summary, then (unless
    `no_compact`) what compacting the touched partitions did, on stderr (stdout keeps the
    import's one line)."""
    from evlog._api import import_then_compact

    with _progress_bars() as progress:
        summary, compacted = import_then_compact(
            lake, lambda target: record(target, progress), not no_compact, progress
        )
    _print_summary(summary)
    if compacted is not None:
        print(_compact_line(compacted), file=sys.stderr)
    _exit_if_nothing_recorded(summary)


def _compact_line(summary: CompactSummary) -> str:
    return (
        f"compacted {summary.files_before} files into {summary.files_after} "
        f"({summary.partitions} partitions, {summary.rows} rows); "
        f"{summary.checkpoints} checkpoints, {summary.rollup_days} rollup days updated"
    )


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
    dedupe_horizon: DedupeHorizonOption = "3d",
    no_compact: NoCompactOption = False,
) -> None:
    """Import HERE EVCP2 status-stream captures into the lake.

    The shape of each input is recognised from its content. Records already in the lake are
    skipped; records that cannot be parsed are kept in quarantine with a reason. Then the days
    the import touched are compacted (--no-compact: not).
    """
    from evlog._record import offline

    windows = _windows(coverage)
    skew = parse_duration(skew_tolerance, "--skew-tolerance")
    horizon = parse_duration(dedupe_horizon, "--dedupe-horizon")
    _import(
        lake,
        lambda target, progress: offline.record_stream(
            target,
            inputs,
            coverage=windows,
            skew_tolerance=skew,
            dedupe_horizon=horizon,
            progress=progress,
        ),
        no_compact,
    )


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
    listen: Annotated[
        str | None,
        typer.Option(
            "--listen",
            metavar="HOST:PORT",
            help="Run the live receiver on HOST:PORT (':PORT' or 'PORT' alone binds "
            "127.0.0.1). Stop it with Ctrl-C or SIGTERM: it then writes everything to Parquet.",
            show_default=False,
        ),
    ] = None,
    secret_env: Annotated[
        str | None,
        typer.Option(
            "--secret-env",
            metavar="VAR",
            help="Environment variable holding the eDRV endpoint secret: requests without a "
            "valid edrv-signature get 401. Without it, unsigned webhooks are accepted.",
            show_default=False,
        ),
    ] = None,
    path: Annotated[
        str,
        typer.Option("--path", metavar="PATH", help="URL path eDRV posts webhooks to (--listen)."),
    ] = "/webhooks/edrv",
    max_body: Annotated[
        str,
        typer.Option(
            "--max-body", metavar="SIZE", help="Larger request bodies get 413 (--listen)."
        ),
    ] = "1MiB",
    signature_tolerance: Annotated[
        str,
        typer.Option(
            "--signature-tolerance",
            metavar="DURATION",
            help="Signature timestamps older or newer than this get 401 (--listen).",
        ),
    ] = "5m",
    rotate_every: Annotated[
        str,
        typer.Option(
            "--rotate-every",
            metavar="DURATION",
            help="How often the write-ahead log is turned into Parquet (--listen): the delay "
            "before received webhooks show in reports.",
        ),
    ] = "30s",
    rotate_size: Annotated[
        str,
        typer.Option(
            "--rotate-size", metavar="SIZE", help="Also turn the log into Parquet at this size."
        ),
    ] = "64MiB",
    heartbeat: Annotated[
        str,
        typer.Option(
            "--heartbeat",
            metavar="DURATION",
            help="How often coverage is written while listening (at most 30s).",
        ),
    ] = "30s",
    redact_header: Annotated[
        list[str] | None,
        typer.Option(
            "--redact-header",
            metavar="NAME",
            help="Store this request header's value as [redacted] (--listen; repeatable). "
            "Authorization, Proxy-Authorization, Cookie, Set-Cookie and X-Api-Key always are.",
        ),
    ] = None,
    coverage: CoverageOption = None,
    skew_tolerance: SkewOption = "5m",
    dedupe_horizon: DedupeHorizonOption = "3d",
    compact_every: CompactEveryOption = "1h",
    log_format: LogFormatOption = LogFormat.JSON,
    verbose: VerboseOption = False,
    quiet: QuietOption = False,
    no_compact: NoCompactOption = False,
) -> None:
    """Record eDRV chargestation.online/offline webhooks into the lake.

    With --from, import saved webhook bodies. With --listen, run the live receiver: each POST
    is written to a write-ahead log and fsynced before the 200 (empty body) is sent; the log is
    turned into Parquet every --rotate-every and on stop, and recovered after a crash. Coverage
    (start, heartbeats, stop) tells replay when the receiver was listening. GET /healthz reports
    its state as JSON. Logs go to stderr as JSON lines (--log-format text: key=value lines).
    """
    if bool(from_files) == (listen is not None):
        raise UsageError("give either --from FILE... (import) or --listen HOST:PORT (live)")
    skew = parse_duration(skew_tolerance, "--skew-tolerance")
    horizon = parse_duration(dedupe_horizon, "--dedupe-horizon")
    if listen is None:
        if redact_header:
            raise UsageError("--redact-header: only for --listen (imports redact the standard set)")
        from evlog._record import offline

        windows = _windows(coverage)
        _import(
            lake,
            lambda target, progress: offline.record_webhook_files(
                target,
                from_files or [],
                coverage=windows,
                skew_tolerance=skew,
                dedupe_horizon=horizon,
                progress=progress,
            ),
            no_compact,
        )
        return
    if no_compact:
        raise UsageError("--no-compact: only for --from imports (--listen uses --compact-every)")
    if coverage:
        raise UsageError("--coverage: only for --from imports (--listen writes its own coverage)")
    from evlog._record.receiver import (
        ReceiverConfig,
        parse_listen,
        parse_size,
        run_receiver,
        secret_from_env,
    )

    host, port = parse_listen(listen)
    config = ReceiverConfig(
        lake=lake,
        host=host,
        port=port,
        path=path,
        secret=None if secret_env is None else secret_from_env(secret_env),
        signature_tolerance=parse_duration(signature_tolerance, "--signature-tolerance"),
        max_body=parse_size(max_body, "--max-body"),
        rotate_every=parse_duration(rotate_every, "--rotate-every"),
        rotate_bytes=parse_size(rotate_size, "--rotate-size"),
        heartbeat_every=parse_duration(heartbeat, "--heartbeat"),
        compact_every=parse_compact_every(compact_every),
        skew_tolerance=skew,
        dedupe_horizon=horizon,
        redact_headers=tuple(redact_header or ()),
    )
    _live_logging(log_format, verbose, quiet)
    for line in run_receiver(config).lines():
        out.print(line, highlight=False)


@record_app.command("here")
def record_here_command(
    lake: LakeOption,
    hrn: Annotated[
        str,
        typer.Option(
            "--hrn", metavar="HRN", help="Catalog HRN of the status stream (HERE EVCP2 Updates)."
        ),
    ] = "hrn:here:data::olp-here:evcp2-updates-prd",
    layer: Annotated[
        str, typer.Option("--layer", metavar="LAYER", help="Stream layer id.")
    ] = "evse-update-stream",
    credentials: Annotated[
        Path | None,
        typer.Option(
            "--credentials",
            metavar="FILE",
            help="HERE credentials.properties (here.access.key.id, here.access.key.secret, "
            "here.token.endpoint.url), exchanged for OAuth 2.0 tokens that are renewed before "
            "they expire. Default: ~/.here/credentials.properties.",
            show_default=False,
        ),
    ] = None,
    token_env: Annotated[
        str | None,
        typer.Option(
            "--token-env",
            metavar="VAR",
            help="Use the ready bearer token in environment variable VAR instead of a "
            "credentials file (it is not renewed).",
            show_default=False,
        ),
    ] = None,
    group: Annotated[
        str,
        typer.Option(
            "--group",
            metavar="NAME",
            help="Consumer group: a restart with the same group resumes after its last "
            "committed offsets.",
        ),
    ] = "evlog",
    lookup_url: Annotated[
        str,
        typer.Option(
            "--lookup-url", metavar="URL", help="HERE API lookup service (override for testing)."
        ),
    ] = "https://api-lookup.data.api.platform.here.com/lookup/v1",
    max_messages: Annotated[
        int | None,
        typer.Option("--max-messages", metavar="N", help="Stop after N messages.", min=1),
    ] = None,
    duration: Annotated[
        str | None,
        typer.Option(
            "--duration",
            metavar="DURATION",
            help="Stop after this long (like 30s, 10m, 2h).",
            show_default=False,
        ),
    ] = None,
    until_idle: Annotated[
        bool,
        typer.Option("--until-idle", help="Stop once caught up (the stream returns no messages)."),
    ] = False,
    progress: ProgressOption = None,
    skew_tolerance: SkewOption = "5m",
    dedupe_horizon: DedupeHorizonOption = "3d",
    compact_every: CompactEveryOption = "1h",
    log_format: LogFormatOption = LogFormat.JSON,
    verbose: VerboseOption = False,
    quiet: QuietOption = False,
    max_backoff: Annotated[
        str,
        typer.Option(
            "--max-backoff",
            metavar="DURATION",
            help="Longest wait between tries while the service is unreachable or failing.",
        ),
    ] = "60s",
) -> None:
    """Consume the HERE EVSE status stream (Data API stream v2) into the lake, live.

    Each message is stored as received (gzip bytes, Kafka partition and offset) and normalized;
    offsets are committed only once the Parquet files holding the messages are on disk, so a
    restart (same --group) resumes where the last run left off, losing and duplicating nothing.
    Runs until Ctrl-C or SIGTERM (or --max-messages / --duration / --until-idle), then commits,
    writes its final coverage row and unsubscribes; outages are retried until then (backoff
    doubling up to --max-backoff), refused credentials end it. Logs go to stderr as JSON lines
    (--log-format text: key=value lines).
    """
    from evlog._record.consumer import record_here

    _live_logging(log_format, verbose, quiet)
    stats = record_here(
        lake,
        hrn=hrn,
        layer=layer,
        credentials=credentials,
        token_env=token_env,
        lookup_url=lookup_url,
        consumer_group=group,
        max_messages=max_messages,
        duration=None if duration is None else parse_duration(duration, "--duration"),
        until_idle=until_idle,
        skew_tolerance=parse_duration(skew_tolerance, "--skew-tolerance"),
        dedupe_horizon=parse_duration(dedupe_horizon, "--dedupe-horizon"),
        compact_every=parse_compact_every(compact_every),
        max_backoff=parse_duration(max_backoff, "--max-backoff"),
        progress=progress,
    )
    out.print(stats.line(), highlight=False)


@record_app.command("poll")
def record_poll_command(
    lake: LakeOption,
    api_base: Annotated[
        str,
        typer.Option(
            "--api-base",
            metavar="URL",
            help="eDRV REST API base URL (the part before /chargestations).",
            show_default=False,
        ),
    ],
    token_env: Annotated[
        str,
        typer.Option(
            "--token-env",
            metavar="VAR",
            help="Environment variable holding the eDRV API bearer token.",
            show_default=False,
        ),
    ],
    every: Annotated[
        str,
        typer.Option(
            "--every", metavar="DURATION", help="Time between polling rounds (like 30s, 5m, 1h)."
        ),
    ] = "5m",
    station: Annotated[
        list[str] | None,
        typer.Option(
            "--station",
            metavar="ID",
            help="Poll GET /chargestations/ID (repeatable). Default: every station of the "
            "paged list GET /chargestations.",
        ),
    ] = None,
    page_size: Annotated[
        int,
        typer.Option(
            "--page-size", metavar="N", help="Stations per page of the list endpoint.", min=1
        ),
    ] = 100,
    rounds: Annotated[
        int | None,
        typer.Option("--rounds", metavar="N", help="Stop after N polling rounds.", min=1),
    ] = None,
    duration: Annotated[
        str | None,
        typer.Option(
            "--duration",
            metavar="DURATION",
            help="Stop after this long (like 1h).",
            show_default=False,
        ),
    ] = None,
    progress: ProgressOption = None,
    skew_tolerance: SkewOption = "5m",
    dedupe_horizon: DedupeHorizonOption = "3d",
    compact_every: CompactEveryOption = "1h",
    log_format: LogFormatOption = LogFormat.JSON,
    verbose: VerboseOption = False,
    quiet: QuietOption = False,
) -> None:
    """Poll eDRV station snapshots at intervals to double-check webhook state.

    Every --every, fetches the stations (the paged list, or each --station) and stores each
    snapshot as received; each becomes an observation of the station's `online` flag at receive
    time (source edrv_poll). `evlog report reconcile` then lists snapshots that contradict the
    webhooks: missed webhooks. Runs until Ctrl-C or SIGTERM (or --rounds / --duration). Logs go
    to stderr as JSON lines (--log-format text: key=value lines).
    """
    from evlog._record.poller import record_poll

    _live_logging(log_format, verbose, quiet)
    stats = record_poll(
        lake,
        api_base=api_base,
        token_env=token_env,
        every=parse_duration(every, "--every"),
        stations=station or (),
        page_size=page_size,
        max_rounds=rounds,
        duration=None if duration is None else parse_duration(duration, "--duration"),
        skew_tolerance=parse_duration(skew_tolerance, "--skew-tolerance"),
        dedupe_horizon=parse_duration(dedupe_horizon, "--dedupe-horizon"),
        compact_every=parse_compact_every(compact_every),
        progress=progress,
    )
    _print_summary(stats)
    _exit_if_nothing_recorded(stats)


# ---------------------------------------------------------------------------------------------
# lake


@lake_app.command("info")
def lake_info_command(lake: LakeOption) -> None:
    """Show what the lake holds: tables, rows, files, time spans, coverage, quarantine."""
    from evlog._lake.layout import Lake
    from evlog._upkeep.maintenance import lake_info

    _print_info(lake_info(Lake.open(lake)))


@lake_app.command("quarantine")
def lake_quarantine_command(
    lake: LakeOption,
    reason: Annotated[
        str | None,
        typer.Option(
            "--reason", metavar="REASON", help="Only this reason (as `lake info` lists them)."
        ),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option("--source", metavar="SOURCE", help="Only this source (here_stream, ...)."),
    ] = None,
    day: Annotated[
        str | None,
        typer.Option("--day", metavar="YYYY-MM-DD", help="Only records received that UTC day."),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", metavar="N", min=1, help="At most N records, newest first.")
    ] = 100,
    fmt: Annotated[
        Literal[FORMAT.choices],  # type: ignore[name-defined]  # a runtime tuple: typer reads it
        typer.Option(FORMAT.flag, case_sensitive=False, help=FORMAT.help),
    ] = FORMAT.default,
    output: Annotated[
        Path | None, typer.Option(OUTPUT.flag, metavar=OUTPUT.metavar, help=OUTPUT.help)
    ] = None,
) -> None:
    """List quarantined records: why each could not be parsed, where it came from, its size.

    The records themselves (`payload`) stay in the lake: `evlog lake rebuild` parses them again
    after a parser fix."""
    from evlog._lake.layout import Lake
    from evlog._reports.render import render
    from evlog._upkeep.maintenance import quarantined

    on_day = None if day is None else parse_instant(day, "--day").date()
    frame = quarantined(Lake.open(lake), reason=reason, source=source, day=on_day, limit=limit)
    target = None if output is None else check_output_file(output, "--output")
    render(frame, fmt, target, title=f"quarantine (newest {limit} at most)")


@lake_app.command("check")
def lake_check_command(
    lake: LakeOption,
    deep: Annotated[
        bool, typer.Option("--deep", help="Read every row group too (reads the whole lake).")
    ] = False,
) -> None:
    """Read every file and manifest of the lake and say what is damaged, with the fix.

    Exit 0 when nothing is, 1 when something is (the findings on stdout). Nothing is changed."""
    from evlog._lake.layout import Lake
    from evlog._upkeep.check import check_lake

    result = check_lake(Lake.open(lake), deep=deep)
    if not result.findings:
        out.print(
            f"no problems: {result.files} Parquet files and the manifests read", highlight=False
        )
        return
    # one finding a line (`path: problem; fix: ...`), for people and for grep
    out.print(f"{len(result.findings)} problems:", highlight=False, soft_wrap=True)
    for finding in result.findings:
        out.print(
            f"{finding.path}: {finding.problem}; fix: {finding.fix}",
            highlight=False,
            soft_wrap=True,
        )
    raise typer.Exit(1)


@lake_app.command("rebuild")
def lake_rebuild_command(
    lake: LakeOption,
    skew_tolerance: SkewOption = "5m",
    status_map: Annotated[
        Path | None,
        typer.Option(
            "--status-map",
            metavar="FILE",
            help="an ocpp_status,ocpi_status CSV: the lake's new mapping of eDRV connector "
            "statuses (only its header: the default mapping), applied by this rebuild and "
            "every recorder after it",
        ),
    ] = None,
) -> None:
    """Re-derive the event and quarantine tables from the raw tables (after a parser fix, or
    with a new OCPP status mapping)."""
    from evlog._lake.layout import Lake
    from evlog._upkeep.maintenance import rebuild

    opened, skew = Lake.open(lake), parse_duration(skew_tolerance, "--skew-tolerance")
    with _progress_bars() as progress:
        summary = rebuild(opened, skew, status_map=status_map, progress=progress)
    out.print(
        f"rebuilt from {summary.recorded} raw records: {summary.events} events, "
        f"{summary.quarantined} quarantined",
        highlight=False,
    )


@lake_app.command("compact")
def lake_compact_command(
    lake: LakeOption,
    checkpoints: Annotated[
        bool,
        typer.Option(help="Also bring the per-day state checkpoints up to date."),
    ] = True,
    rollups: Annotated[
        bool,
        typer.Option(
            help="Also bring the per-day status rollups up to date (whole days that availability "
            "reports read instead of replaying them)."
        ),
    ] = True,
    rollup_tz: Annotated[
        list[str] | None,
        typer.Option(
            "--rollup-tz",
            metavar="ZONE",
            help="Also keep rollups of local days in this time zone (repeatable; the lake keeps "
            "UTC and every zone asked for before). Reports by day, week or month in the zone "
            "use them.",
        ),
    ] = None,
) -> None:
    """Merge small files into sorted, well-sized ones; keep the per-day state checkpoints and
    status rollups.

    Safe while a recorder appends: only files listed at the start are merged, and they are
    removed only after the merged file is in place.
    """
    from evlog._lake.layout import Lake
    from evlog._upkeep.compact import compact

    opened = Lake.open(lake)
    with _progress_bars() as progress:
        summary = compact(
            opened,
            checkpoints=checkpoints,
            rollups=rollups,
            rollup_zones=rollup_tz or (),
            progress=progress,
        )
    out.print(_compact_line(summary), highlight=False)


def _print_info(info: LakeInfo) -> None:
    from rich.table import Table as RichTable

    from evlog._reports.render import format_duration

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
    if info.gaps:
        gaps = RichTable(title="coverage gaps (nobody listening)", title_justify="left")
        for column in ("source", "from", "to", "duration"):
            gaps.add_column(column)
        for gap in info.gaps:
            gaps.add_row(gap.source, _when(gap.start), _when(gap.end), format_duration(gap.seconds))
        out.print(gaps)
    quarantine = RichTable(title="quarantine", title_justify="left")
    for column in ("source", "reason", "records"):
        quarantine.add_column(column)
    for source, reason, count in info.quarantine:
        quarantine.add_row(source, reason, f"{count:,}")
    if not info.quarantine:
        quarantine.caption = "empty"
    out.print(quarantine)
    rolled = RichTable(title="rollups (per-day status time, `lake compact`)", title_justify="left")
    for column in ("zone", "first day", "last day", "days", "fresh"):
        rolled.add_column(column)
    for r in info.rollups:
        first, last = (str(d) if d else "" for d in (r.first_day, r.last_day))
        rolled.add_row(r.zone, first, last, str(r.days), str(r.fresh_days))
    if not info.rollups:
        rolled.caption = "none yet: `evlog lake compact` keeps them"
    out.print(rolled)


def _when(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


# ---------------------------------------------------------------------------------------------
# report: one command per report of the registry (evlog/_reports/_registry.py), its options the
# report's declared ones. They only parse options: validation and errors live in the library.


def _report_command(report: Report) -> Callable[..., None]:
    """`evlog report NAME`, with `report`'s options (and its variants' switches) as flags."""
    options = cli_options(report)

    def command(**given: Any) -> None:
        from evlog._api import open_lake
        from evlog._reports.render import render, select_rows

        values = report.read(given, options)
        lake = open_lake(
            values["lake"],
            engine=values.get("engine", "duckdb"),
            spark_master=values.get("spark_master"),
            **engine_switches(),
        )
        chosen = report.chosen(values)
        outcome = lake.outcome(chosen, values)
        for note in chosen.after(outcome, values):
            err.print(note, highlight=False)
        for warning in chosen.warnings(outcome):
            print(f"evlog: warning: {warning}", file=sys.stderr)
        frame = select_rows(chosen.frame(outcome), values["columns"], values["sort"], values["top"])
        render(
            frame,
            values["format"],
            values["output"],
            title=chosen.title_of(outcome),
            wide=values["wide"],
        )
        if values.get("plot") is not None and chosen.plot is not None:
            written = chosen.plot.draw(outcome, values["plot"], values.get("tz", "UTC"))
            err.print(f"plot written to {written}", highlight=False)

    parameters = [
        inspect.Parameter(
            option.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=inspect.Parameter.empty if option.required else option.default,
            annotation=Annotated[
                Literal[option.choices] if option.choices else option.annotation,
                typer.Option(
                    option.flag,
                    help=option.help,
                    metavar=option.metavar,
                    show_default=option.show_default,
                    case_sensitive=False,
                    envvar=option.envvar,
                ),
            ],
        )
        for option in options
    ]
    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__doc__ = f"{report.summary}\n\n{report.details}" if report.details else report.summary
    return command


for _report in COMMANDS.values():
    report_app.command(_report.cli_name)(_report_command(_report))


# ---------------------------------------------------------------------------------------------
# simulate


@app.command("simulate")
def simulate_command(
    out_dir: Annotated[
        Path,
        typer.Option(
            "--out", metavar="DIR", help="Directory to write feeds, truth and manifest into."
        ),
    ],
    stations: Annotated[
        int, typer.Option("--stations", metavar="N", help="Number of stations.")
    ] = 20,
    days: Annotated[
        int, typer.Option("--days", metavar="N", help="Length of the span in days.")
    ] = 7,
    seed: Annotated[
        int, typer.Option("--seed", metavar="N", help="Random seed (same args, same bytes).")
    ] = 0,
    start: Annotated[
        str | None,
        typer.Option(
            "--start",
            metavar="WHEN",
            help="Span start, ISO 8601 (no offset = UTC). Default 2026-11-02.",
        ),
    ] = None,
    faults: Annotated[
        bool,
        typer.Option(
            "--faults/--no-faults",
            help="Inject delivery faults (duplicates, late and skewed records, recorder outages, "
            "malformed records).",
        ),
    ] = True,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace earlier simulator output in --out.")
    ] = False,
) -> None:
    """Write realistic raw feeds (HERE stream, eDRV webhooks) with their ground truth."""
    import time

    from evlog._simulate import simulate  # lazily: other commands do not need it

    began = time.perf_counter()
    with _progress_bars() as progress:
        manifest = simulate(
            out_dir,
            stations=stations,
            days=days,
            seed=seed,
            start=start,
            faults=faults,
            overwrite=overwrite,
            progress=progress,
        )
    elapsed = time.perf_counter() - began
    counts = manifest["counts"]
    records = counts["delivered_records"]
    out.print(
        f"simulated {manifest['stations']} stations ({manifest['evses']} EVSEs), "
        f"{manifest['start']} to {manifest['end']}: {counts['here_messages']} HERE messages, "
        f"{counts['webhooks']} webhooks in {elapsed:.1f}s ({records / max(elapsed, 1e-9):,.0f} "
        f"records/s) -> {out_dir}",
        highlight=False,
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: run the command, print domain errors on one line and exit 2."""
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="evlog", standalone_mode=False)
    except typer.TyperException as exc:  # click's usage errors, as typer re-exports them
        message = exc.format_message()
        if type(exc).__name__ == "NoArgsIsHelpError":  # a group run without a command: its help
            print(message, file=sys.stderr)
            code = exc.exit_code
        else:
            code = _fail(message, exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        code = 130
    except RuntimeError as exc:  # DuckDB's answer to a Ctrl-C during a query
        if str(exc) != "Query interrupted":
            raise
        code = 130
    except EvlogError as exc:
        code = _fail(str(exc))
    except Exception as exc:  # a lake too big for the memory DuckDB may use: one line
        duckdb = sys.modules.get("duckdb")  # not imported for --help and usage errors
        if duckdb is None or not isinstance(exc, duckdb.OutOfMemoryException):
            raise
        from evlog._lake.duck import out_of_memory_message

        code = _fail(out_of_memory_message(), 1)
    if code == 130:  # Ctrl-C: typer turns it into this exit code, silently
        code = _fail("interrupted", 130)
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int = 2) -> int:
    one_line = " ".join(message.split())
    print(f"evlog: error: {one_line}", file=sys.stderr)
    return code
