"""What a report is, written down once: `Report` (name, entity, summary, options, columns, default
period, plot, rollups) and `Option` (flag, type, default, help, parser, SQL parameter).

The CLI commands, the API methods, the plot dispatch and docs/reports.md are all made from these
declarations (`evlog._reports._registry` lists them), so adding an option to a report is one new
`Option` in that report's declaration. The options every report shares are declared here, once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evlog._errors import UsageError
from evlog._lake.names import Source
from evlog._replay.runner import EntityKind
from evlog._reports.exclusions import parse_station_map
from evlog._reports.files import check_output_file, is_stdout
from evlog._reports.render import OutputFormat, parse_format
from evlog._window import Period, Window, parse_ids, parse_optional_choice

if TYPE_CHECKING:
    import polars as pl

    from evlog._replay.engine import EngineBase

#: The parsed options of one run of a report, by `Option.name` (`start`, `end`, `by`, `tz` too).
Values = Mapping[str, Any]
#: An option without a default: the user must give it.
REQUIRED: Any = ...


def _as_given(value: Any, flag: str) -> Any:
    return value


def _ids(value: Any, flag: str) -> tuple[str, ...]:
    return parse_ids(value)


@dataclass(frozen=True)
class Option:
    """One option of a report: `--flag` on the command line, keyword `name` in the API."""

    name: str
    flag: str
    annotation: Any  # the command line's type (as typer reads it)
    default: Any
    help: str
    #: (value, flag) -> the value the report uses; raises `UsageError` naming the flag.
    parse: Callable[[Any, str], Any] = _as_given
    #: (parsed value, every option's parsed value) -> the value the report uses, for an option
    #: whose meaning depends on another (the causes an exclusion may have depend on --standard)
    resolve: Callable[[Any, Values], Any] | None = None
    #: the SQL parameter it binds, if any, and how its parsed value is bound
    param: str | None = None
    bind: Callable[[Any], Any] = lambda value: value
    metavar: str | None = None
    #: the values it takes, if a fixed few (the command line offers and checks them; the parse
    #: still checks an API keyword's value)
    choices: tuple[str, ...] = ()
    show_default: bool = True
    #: the environment variable the command line takes its value from when the flag is absent
    envvar: str | None = None
    #: only on the command line (where to write, which engine), not an API keyword
    cli_only: bool = False
    #: the API keyword's type, as Python source, where it takes more than the command line's
    #: (`evlog/_reports/_api_options.py`, generated, types the one-line methods with it)
    api_type: str | None = None

    def read(self, value: Any) -> Any:
        return self.parse(value, self.flag)

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def python_type(self) -> str:
        """The API keyword's type as Python source."""
        if self.api_type is not None:
            return self.api_type
        shown = getattr(self.annotation, "__name__", None)
        if shown is not None and not hasattr(self.annotation, "__args__"):
            return str(shown)
        return str(self.annotation).replace("pathlib.", "")


@dataclass(frozen=True)
class Plot:
    """The figure `--plot FILE` draws: `draw(outcome, path, tz)` with the report's outcome (its
    frame, or its result object for reports that compute one)."""

    describes: str
    draw: Callable[[Any, Path, str], Path]


def report_plot(key: str, describes: str) -> Plot:
    """A figure of `evlog._reports.plots.plot_report`, which draws a report's frame by `key`."""

    def draw(frame: pl.DataFrame, path: Path, tz: str) -> Path:
        from evlog._reports.plots import plot_report  # lazily: matplotlib is slow to import

        return plot_report(key, frame, path, tz=tz)

    return Plot(describes, draw)


def _plot_path(value: Path | None, flag: str) -> Path | None:
    if value is None:
        return None
    from evlog._reports.plots import check_plot_path  # lazily: matplotlib is slow to import

    return check_plot_path(value)  # before any replay work: a typo fails at once


def _output_path(value: Path | None, flag: str) -> Path | None:
    if value is None or is_stdout(value):
        return value
    return check_output_file(value, flag)  # before any replay work, as `--plot`


def _listed(value: Any) -> list[str]:
    return list(value)


# The options reports share ------------------------------------------------------------------

LAKE_ENV = "EVLOG_LAKE"  # every command's default --lake
LAKE = Option(
    "lake",
    "--lake",
    str,
    REQUIRED,
    "Lake directory (with --engine spark: any URI Spark reads, s3a://, hdfs://, file://).",
    envvar=LAKE_ENV,
    show_default=False,
    cli_only=True,
    metavar="DIR",
)
START = Option(
    "start",
    "--start",
    str | None,
    None,
    "Window start: a date or time (2026-11-05, 2026-11-05T08:00, no offset = local time in "
    "--tz), a month (2026-11), an ISO week (2026-W45), today, yesterday, now, or a time ago "
    "(-7d). Default: first event's day.",
    metavar="WHEN",
    api_type="str | date | datetime | None",
)
END = Option(
    "end",
    "--end",
    str | None,
    None,
    "Window end, exclusive, written as --start. Default: the last event or the end of the "
    "recorded coverage.",
    metavar="WHEN",
    api_type="str | date | datetime | None",
)
BY_HELP = "Period per row."
IDS_TYPE = "str | Iterable[str] | None"  # one id, or several
TZ = Option("tz", "--tz", str, "UTC", "Time zone of period boundaries (IANA name).", metavar="ZONE")
EVSE = Option(
    "evse",
    "--evse",
    list[str] | None,
    None,
    "Only this EVSE (repeatable).",
    parse=_ids,
    param="entity_ids",
    bind=_listed,
    api_type=IDS_TYPE,
    metavar="ID",
)
LOCATION = Option(
    "location",
    "--location",
    list[str] | None,
    None,
    "Only EVSEs of this location (repeatable).",
    parse=_ids,
    param="location_ids",
    bind=_listed,
    api_type=IDS_TYPE,
    metavar="ID",
)
STATION = Option(
    "station",
    "--station",
    list[str] | None,
    None,
    "Only this station (repeatable).",
    parse=_ids,
    param="entity_ids",
    bind=_listed,
    api_type=IDS_TYPE,
    metavar="ID",
)
# Metadata filters (docs/lake.md, "Metadata"): each narrows a report to the ports (EVSE reports)
# or stations (station reports) whose latest eDRV metadata before the window end matches.
#: UK PCPR 2023 reg. 2(1): a "rapid charge point" is one with a power of 50 kW or more
RAPID_KW = 50.0
RAPID = Option(
    "rapid",
    "--rapid",
    bool,
    False,
    f"Only rapid ports (eDRV connector power >= {RAPID_KW:g} kW; a station: one of its "
    "connectors). A port whose power the feed never gave is left out.",
)


def _metadata_option(name: str, field: str, metavar: str) -> Option:
    return Option(
        name,
        f"--{name}",
        list[str] | None,
        None,
        f"Only ports (stations) whose eDRV metadata has this {field} (repeatable, any case).",
        parse=_ids,
        api_type=IDS_TYPE,
        metavar=metavar,
    )


class Feed(StrEnum):
    """Which feed's ports a report covers (`--feed`; docs/lake.md, "Feeds")."""

    HERE = "here"  # HERE EVSEs
    EDRV = "edrv"  # eDRV connectors


def parse_feed(value: str | Feed | None, option: str = "--feed") -> Feed | None:
    return parse_optional_choice(Feed, value, option)


FEED = Option(
    "feed",
    "--feed",
    str | None,
    None,
    "Only the ports of one feed: here (HERE EVSEs) or edrv (eDRV connectors). A network "
    "recorded from both holds each charger twice, once per feed.",
    parse=parse_feed,
    choices=tuple(f.value for f in Feed),
    api_type="str | Feed | None",
    metavar="FEED",
)
VENDOR = _metadata_option("vendor", "vendor", "NAME")
MODEL = _metadata_option("model", "model", "NAME")
FIRMWARE = _metadata_option("firmware", "firmware version", "VERSION")
METADATA_FILTERS = (RAPID, VENDOR, MODEL, FIRMWARE)
#: the metadata fields a report can be grouped by (`metadata_group.sql`)
GROUP_FIELDS = ("vendor", "model", "firmware", "protocol", "connector_type", "power_type", "rapid")


def _group_field(value: str | None, flag: str) -> str | None:
    if value is None or value in GROUP_FIELDS:
        return value
    raise UsageError(f"{flag}: expected one of {'|'.join(GROUP_FIELDS)}, got {value!r}")


def group_option(entities: str) -> Option:
    """`--group FIELD`: one row per value of a metadata field and period, `entities` summed."""
    return Option(
        "group",
        "--group",
        str | None,
        None,
        f"One row per value of this eDRV metadata field and period: the {entities}' times "
        f"summed, the ratios over the sums (rapid: power >= {RAPID_KW:g} kW, true/false).",
        parse=_group_field,
        param="group_by",
        choices=GROUP_FIELDS,
        show_default=False,
        metavar="FIELD",
    )


def check_group(values: Values) -> None:
    """`--group` makes its own rows: not with `--by-location`, and `--plot` does not draw them."""
    if values.get("group") is None:
        return
    if values.get("by_location"):
        raise UsageError("--group: not with --by-location")
    if values.get("plot") is not None:
        raise UsageError("--plot: does not draw --group results")


#: the id a filter that keeps nothing binds: no parser makes an empty id (HERE and eDRV ids are
#: refused when empty), and an empty id list would mean "every entity"
NO_ENTITY = ("",)


def metadata_params(values: Values, rapid_kw: float = RAPID_KW) -> dict[str, Any]:
    """The SQL parameters of `metadata_kept.sql` from the metadata filters among `values`."""
    return {
        "rapid_only": bool(values.get("rapid")),
        "rapid_kw": rapid_kw,
        "vendors": [v.lower() for v in values.get("vendor") or ()],
        "models": [v.lower() for v in values.get("model") or ()],
        "firmwares": [v.lower() for v in values.get("firmware") or ()],
    }


def metadata_filtered(values: Values) -> bool:
    """Whether any metadata filter (or `--feed`) is given."""
    return any(values.get(option.name) for option in (*METADATA_FILTERS, FEED))


def metadata_ids(
    engine: EngineBase[Any],
    kind: EntityKind,
    window: Window,
    values: Values,
    rapid_kw: float = RAPID_KW,
    replayed: bool = False,
) -> tuple[str, ...]:
    """The ids of the ports (`kind` EVSE) or stations that the metadata filters keep (`--rapid`:
    a power of at least `rapid_kw`); if `replayed`, only those with an observation before the
    window end."""
    # unless the entities are needed, run as a station query: `metadata_ids.sql` reads no events,
    # and a station query lists no checkpoints or rollups
    relation = engine.relation(
        kind if replayed else EntityKind.STATION,
        "metadata_replayed_ids" if replayed else "metadata_ids",
        window,
        metadata_kind="port" if kind is EntityKind.EVSE else "station",
        **metadata_params(values, rapid_kw),
    )
    return tuple(sorted(engine.to_polars(relation)["entity_id"].to_list()))


def feed_coverage(values: Values) -> dict[str, Any]:
    """The parameters of a report of one feed's ports (docs/lake.md, "Feeds"): eDRV ports alone
    (`--feed edrv`) are governed by the webhook receiver's coverage, as their stations (rule
    *Coverage*), and replay every day (the rollups hold the EVSEs' usual coverage)."""
    from evlog._replay.engine import NO_ROLLUPS

    if values.get("feed") is Feed.EDRV:
        return {"coverage_source": Source.EDRV_WEBHOOKS.value, NO_ROLLUPS: True}
    return {}


def feed_ids(engine: EngineBase[Any], window: Window, feed: Feed) -> tuple[str, ...]:
    """The ports of `feed` with an observation before the window end (`feed_ids.sql`)."""
    relation = engine.relation(EntityKind.EVSE, "feed_ids", window, feed=feed.value)
    return tuple(sorted(engine.to_polars(relation)["entity_id"].to_list()))


def narrowed_ids(
    engine: EngineBase[Any],
    kind: EntityKind,
    window: Window,
    values: Values,
    given: tuple[str, ...],
) -> tuple[str, ...]:
    """The entity ids a report binds: `given` (`--evse`, `--station`; empty: every entity),
    narrowed to those the metadata filters and `--feed` keep when one is given (`NO_ENTITY` if
    none is)."""
    if not metadata_filtered(values):
        return given
    kept: set[str] | None = None
    if any(values.get(option.name) for option in METADATA_FILTERS):
        kept = set(metadata_ids(engine, kind, window, values))
    feed = values.get("feed")
    if feed is not None and kind is EntityKind.EVSE:
        of_feed = set(feed_ids(engine, window, feed))
        kept = of_feed if kept is None else kept & of_feed
    if kept is None:
        return given
    chosen = tuple(entity for entity in given if entity in kept) if given else tuple(sorted(kept))
    return chosen or NO_ENTITY


HOLD_AFTER_GAP = Option(
    "hold_after_gap",
    "--hold-after-gap",
    bool,
    False,
    "After a coverage gap, keep the last state instead of counting no_data until the next event.",
    param="hold_after_gap",
)
STATION_MAP = Option(
    "station_map",
    "--station-map",
    Path | None,
    None,
    "CSV station_id,evse_id: more ports whose station's offline time counts against them.",
    parse=parse_station_map,
    api_type="str | os.PathLike[str] | Iterable[tuple[str, str]] | None",
    metavar="CSV",
)
STATUS_ONLY = Option(
    "status_only",
    "--status-only",
    bool,
    False,
    "Judge a port by its own status alone, not also by its station's connectivity.",
)
ENGINES = ("duckdb", "spark")  # the replay engines `--engine` names
ENGINE = Option(
    "engine",
    "--engine",
    str,
    "duckdb",
    "Replay engine: duckdb (embedded) or spark (pip install 'evlog[spark]', Java 17+; "
    "SPARK_REMOTE=sc://host:15002 for Spark Connect).",
    cli_only=True,
    choices=ENGINES,
)
SPARK_MASTER = Option(
    "spark_master",
    "--spark-master",
    str | None,
    None,
    "Spark master with --engine spark, e.g. local[*] (default) or spark://host:7077.",
    cli_only=True,
    metavar="URL",
)
FORMAT = Option(
    "format",
    "--format",
    str,
    "table",
    "Output format.",
    parse=lambda value, flag: parse_format(value),
    cli_only=True,
    choices=tuple(f.value for f in OutputFormat),
)
OUTPUT = Option(
    "output",
    "--output",
    Path | None,
    None,
    "Write to FILE instead of stdout (`-`: stdout; parquet needs a file or a pipe).",
    parse=_output_path,
    cli_only=True,
    metavar="FILE",
)


@dataclass(frozen=True)
class Report:
    """One report. `run(report, engine, values)` makes its outcome: the engine's lazy relation
    (`lazy`), or a result object that `frame_of` turns into the report's frame."""

    name: str
    entity: str  # one row per ... (for people: the docs and `--help`)
    summary: str  # one line
    columns: tuple[str, ...]
    run: Callable[[Report, EngineBase[Any], Values], Any]
    options: tuple[Option, ...] = ()  # after the window options, in `--help` order
    kind: EntityKind | None = None  # whose events the replay reads and the window spans
    sql: str | None = None  # the replay SQL report `run` names
    default_by: Period | None = Period.DAY  # None: the report has no --by
    zoned: bool = True  # has --tz
    window: tuple[Option, Option] = (START, END)
    lake: Option = LAKE
    engines: tuple[str, ...] = ("duckdb", "spark")
    plot: Plot | None = None
    rollups: bool = False  # may read `lake compact`'s per-day rollups instead of replaying
    lazy: bool = True
    frame_of: Callable[[Any], pl.DataFrame] | None = None
    title: Callable[[Any], str] | str = ""
    details: str = ""  # more `--help` text after the summary
    check: Callable[[Values], None] = lambda values: None  # rules across several options
    #: what the command does with the outcome besides showing it (`--export`), and what it says
    #: it did (the CLI prints each line on stderr, as it does "plot written to ...")
    after: Callable[[Any, Values], list[str]] = lambda outcome, values: []
    #: what a user must know about the outcome (the CLI prints each on stderr)
    warnings: Callable[[Any], list[str]] = lambda outcome: []
    #: the switch that picks this report on its parent's command (`--by-location`), and that
    #: command's name
    switch: Option | None = None
    command: str | None = None
    variants: tuple[Report, ...] = ()
    positional: tuple[str, ...] = ("start", "end")  # API arguments that may be positional

    @property
    def report_options(self) -> tuple[Option, ...]:
        """Window, period, zone and the report's own options (its variants' switches among them)."""
        shown = [*self.window]
        if self.default_by is not None:
            shown.append(
                Option(
                    "by",
                    "--by",
                    str,
                    self.default_by.value,
                    BY_HELP,
                    api_type="str | Period",
                    choices=tuple(p.value for p in Period),
                )
            )
        if self.zoned:
            shown.append(TZ)
        return (*shown, *self.options)

    @property
    def api_options(self) -> tuple[Option, ...]:
        """The keywords of `lake.report(name, ...)`."""
        return tuple(option for option in self.report_options if not option.cli_only)

    def read(
        self, given: Mapping[str, Any], options: tuple[Option, ...] | None = None
    ) -> dict[str, Any]:
        """Parse the `options` given (by name; the API's by default); absent ones take their
        defaults."""
        options = self.api_options if options is None else options
        known = {option.name for option in options}
        unknown = sorted(set(given) - known)
        if unknown:
            raise TypeError(f"report {self.name!r} has no option {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for option in options:
            value = given.get(option.name, option.default)
            if value is REQUIRED:
                raise TypeError(f"report {self.name!r} needs option {option.name!r}")
            values[option.name] = option.read(value)
        for option in options:
            if option.resolve is not None:
                values[option.name] = option.resolve(values[option.name], values)
        self.check(values)
        return values

    @property
    def command_line(self) -> str:
        """How it is run: `evlog report NAME`, with the switch of a variant."""
        switch = f" {self.switch.flag}" if self.switch is not None else ""
        return f"evlog report {self.cli_name}{switch}"

    @property
    def cli_name(self) -> str:
        """Its command's name: `feed-health` for report `feed_health` (and its variants)."""
        return (self.command or self.name).replace("_", "-")

    def chosen(self, values: Values) -> Report:
        """This report, or the variant whose switch is on (`by_location=True`)."""
        for variant in self.variants:
            if variant.switch is not None and values.get(variant.switch.name):
                return variant
        return self

    def sql_params(self, values: Values) -> dict[str, Any]:
        """The SQL parameters the options bind."""
        return {
            option.param: option.bind(values[option.name])
            for option in self.options
            if option.param is not None
        }

    def frame(self, outcome: Any) -> pl.DataFrame:
        return outcome if self.frame_of is None else self.frame_of(outcome)

    def title_of(self, outcome: Any) -> str:
        return self.title if isinstance(self.title, str) else self.title(outcome)


def replay(report: Report, engine: EngineBase[Any], values: Values) -> Any:
    """The usual `run`: replay `report.sql` for `report.kind` over the window the values give,
    for the entities the id and metadata filters keep."""
    assert report.kind is not None and report.sql is not None
    window = engine.window(
        report.kind, values["start"], values["end"], values.get("by", Period.NONE), values["tz"]
    )
    return engine.relation(
        report.kind, report.sql, window, **replay_params(report, engine, window, values)
    )


def replay_params(
    report: Report, engine: EngineBase[Any], window: Window, values: Values
) -> dict[str, Any]:
    """The SQL parameters the options bind (`Report.sql_params`), the entity ids narrowed by
    the metadata filters (`narrowed_ids`)."""
    assert report.kind is not None
    params = report.sql_params(values)
    if "entity_ids" in params:
        given = tuple(params["entity_ids"])
        params["entity_ids"] = list(narrowed_ids(engine, report.kind, window, values, given))
    if "group_by" in params:
        params["rapid_kw"] = RAPID_KW
    return {**params, **feed_coverage(values)}


def _names(value: str | None, flag: str) -> list[str] | None:
    return None if value is None else [name.strip() for name in value.split(",") if name.strip()]


COLUMNS = Option(
    "columns",
    "--columns",
    str | None,
    None,
    "Only these columns, in this order (comma-separated).",
    parse=_names,
    metavar="A,B,...",
    cli_only=True,
)
SORT = Option(
    "sort",
    "--sort",
    str | None,
    None,
    "Sort rows by these columns (comma-separated; COLUMN:desc for descending, nulls last).",
    parse=_names,
    metavar="COLUMN[:desc],...",
    cli_only=True,
)
TOP = Option(
    "top",
    "--top",
    int | None,
    None,
    "Only the first N rows (after --sort).",
    metavar="N",
    cli_only=True,
)
WIDE = Option(
    "wide",
    "--wide",
    bool,
    False,
    "Terminal table as is: every column, whole ids and times (by default it is fitted to the "
    "terminal and the caption says how).",
    cli_only=True,
)


def plot_option(plot: Plot) -> Option:
    return Option(
        "plot",
        "--plot",
        Path | None,
        None,
        f"Also draw the report to FILE (.png or .svg): {plot.describes}.",
        parse=_plot_path,
        metavar="FILE",
        cli_only=True,
    )


def cli_options(report: Report) -> tuple[Option, ...]:
    """A report's command-line options, in `--help` order (`--lake` first, output last)."""
    options = [report.lake, *report.report_options]
    if "spark" in report.engines:
        options += [ENGINE, SPARK_MASTER]
    options += [FORMAT, OUTPUT, COLUMNS, SORT, TOP, WIDE]
    if report.plot is not None:
        options.append(plot_option(report.plot))
    return tuple(options)
