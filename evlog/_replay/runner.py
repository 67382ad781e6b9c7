"""Assemble the replay SQL files into one query and run it on DuckDB with bound parameters.

Each file in `sql/` is one concept, a SELECT that reads earlier concepts by name. A query is one
concept (a report, e.g. `uptime`) with every concept it reads, directly or not, strung together as
common table expressions in dependency order. Which concepts those are is read from the SQL itself:
the names after `FROM` and `JOIN` that are concept files (and not the file's own CTEs)::

    event_rows → entities → observations → coverage_spans → coverage_gaps → pieces → intervals
               → periods → replayed_periods → period_pieces → <report>

`event_rows` is the only concept that differs between entity kinds (EVSEs from `status_events`,
stations from `connectivity_events`); everything after it is shared. A query is about one kind; a
concept may read another kind's concept by the kind's prefix (`station_intervals`: the station
intervals in an EVSE query). Such a concept and everything it reads are composed again for that
kind, under prefixed names, with parameters of their own (`$station_entity_ids`).

A rule that several concepts apply (the arrival order that breaks ties, merging intervals by gaps
and islands, "forever") is written once, in `sql/rules/`, and read where it applies as
`{{rule ...}}`; `expand_rules` spells it out (also for SQL outside the concept files, such as the
checkpoints').

User input never becomes SQL text: ids, times and thresholds are bound as named parameters
(`$name`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from evlog._lake.names import Source
from evlog._time import FOREVER_US

if TYPE_CHECKING:
    import duckdb


class EntityKind(StrEnum):
    """What a report is about: EVSEs (status stream) or charging stations (connectivity)."""

    EVSE = "evse"
    STATION = "station"


@dataclass(frozen=True)
class KindSpec:
    event_rows_file: str
    coverage_source: Source  # the source whose coverage says when these entities were watched


KINDS: dict[EntityKind, KindSpec] = {
    EntityKind.EVSE: KindSpec("status_event_rows", Source.HERE_STREAM),
    EntityKind.STATION: KindSpec("connectivity_event_rows", Source.EDRV_WEBHOOKS),
}

# Concepts read more than once that must not be recomputed (the events are scanned and sorted once;
# the outage algebra is built once for the report and its outages).
MATERIALIZED = frozenset(
    {
        *("observations", "coverage_spans", "intervals", "periods"),
        *("port_ids", "port_outages", "incidents", "attributed_segments"),
    }
)

_PARAMETER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_LEADING_WITH = re.compile(r"^\s*WITH\s", re.IGNORECASE)
_READ = re.compile(r"\b(FROM|JOIN)(\s+)([A-Za-z_][A-Za-z0-9_]*)\b(?!\s*\()", re.IGNORECASE)
_LOCAL_CTE = re.compile(
    r"(?:\bWITH|,)\s*([A-Za-z_][A-Za-z0-9_]*)\s+AS\s+(?:MATERIALIZED\s+)?\(", re.IGNORECASE
)
_COMMENT = re.compile(r"--[^\n]*")
_RULE = re.compile(r"\{\{\s*([a-z_]+)\b([^}]*)\}\}")
_ISLANDS_ARGUMENTS = re.compile(r"^\s*FROM\s+([A-Za-z_][A-Za-z0-9_]*)\s+BY\s+(.+?)\s*$")


@cache
def load_sql(name: str) -> str:
    """The text of `sql/<name>.sql`, shipped as package data."""
    return resources.files("evlog._replay").joinpath("sql", f"{name}.sql").read_text("utf-8")


@cache
def concept_names() -> frozenset[str]:
    """Every concept file's name (`sql/*.sql`)."""
    folder = resources.files("evlog._replay").joinpath("sql")
    return frozenset(
        p.name.removesuffix(".sql") for p in folder.iterdir() if p.name.endswith(".sql")
    )


def _without_header(sql: str) -> str:
    """SQL without its leading comment block (comments inside stay)."""
    lines = sql.splitlines()
    while lines and (not lines[0].strip() or lines[0].lstrip().startswith("--")):
        lines.pop(0)
    return "\n".join(lines).strip().rstrip(";")


def concept_sql(name: str) -> str:
    """A file's SQL without its leading comment block, its rules spelled out."""
    return expand_rules(_without_header(load_sql(name)))


@cache
def rule_sql(name: str) -> str:
    """The text of the rule `sql/rules/<name>.sql`, without its leading comment block."""
    folder = resources.files("evlog._replay").joinpath("sql", "rules")
    return _without_header(folder.joinpath(f"{name}.sql").read_text("utf-8"))


def _reversed_order(order: str) -> str:
    """An ORDER BY list sorting the other way round, NULLs included."""
    flipped = {"ASC": "DESC", "DESC": "ASC", "FIRST": "LAST", "LAST": "FIRST"}
    return re.sub(r"\b(ASC|DESC|FIRST|LAST)\b", lambda m: flipped[m.group(1)], order)


def _spell_rule(match: re.Match[str]) -> str:
    name, arguments = match.group(1), match.group(2).strip()
    if name == "forever_us" and not arguments:
        return str(FOREVER_US)
    if name == "arrival_order" and arguments in ("", "ASC", "DESC"):
        order = " ".join(rule_sql(name).split())
        return _reversed_order(order) if arguments == "DESC" else order
    islands = _ISLANDS_ARGUMENTS.match(arguments)
    if name == "islands" and islands is not None:
        relation, partition = islands.groups()
        return rule_sql(name).format(relation=relation, partition=partition)
    raise ValueError(f"unknown rule or arguments: {match.group(0)}")


def expand_rules(sql: str) -> str:
    """`sql` with every `{{rule ...}}` replaced by the rule's SQL (see `sql/rules/`)."""
    return _RULE.sub(_spell_rule, sql)


@dataclass(frozen=True)
class Concept:
    """One concept of a query: a file's SQL composed for one entity kind."""

    name: str  # the name other concepts read it by (`event_rows`, `intervals`, ...)
    kind: EntityKind

    @property
    def file(self) -> str:
        return KINDS[self.kind].event_rows_file if self.name == "event_rows" else self.name


def _resolve(name: str, kind: EntityKind) -> Concept | None:
    """The concept that `name`, read by a concept of `kind`, stands for (None: a table)."""
    for other in EntityKind:
        prefix = f"{other.value}_"
        if name.startswith(prefix) and _is_concept(name.removeprefix(prefix)):
            return Concept(name.removeprefix(prefix), other)
    return Concept(name, kind) if _is_concept(name) else None


def _is_concept(name: str) -> bool:
    return name == "event_rows" or name in concept_names()


@cache
def reads(file: str) -> tuple[str, ...]:
    """The names a concept file reads after FROM and JOIN, less its own CTEs (comments skipped)."""
    sql = _COMMENT.sub("", concept_sql(file))
    local = {name.lower() for name in _LOCAL_CTE.findall(sql)}
    names = (match.group(3) for match in _READ.finditer(sql))
    return tuple(dict.fromkeys(n for n in names if n.lower() not in local))


def dependencies(concept: Concept) -> list[Concept]:
    """The concepts `concept` reads directly."""
    found = (_resolve(name, concept.kind) for name in reads(concept.file))
    return [c for c in found if c is not None]


def plan(kind: EntityKind, report: str) -> list[Concept]:
    """Every concept the query of `report` needs, each after those it reads; `report` last."""
    ordered: list[Concept] = []
    visiting: set[Concept] = set()

    def visit(concept: Concept) -> None:
        if concept in ordered:
            return
        if concept in visiting:
            raise ValueError(f"concept {concept.file} reads itself through its dependencies")
        visiting.add(concept)
        for dependency in dependencies(concept):
            visit(dependency)
        visiting.discard(concept)
        ordered.append(concept)

    visit(Concept(report, kind))
    return ordered


def tables_read(kind: EntityKind, report: str) -> frozenset[str]:
    """The tables (not concepts) the query of `report` reads, e.g. `status_rollups`."""
    return frozenset(
        name
        for concept in plan(kind, report)
        for name in reads(concept.file)
        if _resolve(name, concept.kind) is None
    )


def _cte_name(concept: Concept, kind: EntityKind) -> str:
    """The name of `concept` in a query about `kind`: another kind's concepts are prefixed."""
    return concept.name if concept.kind is kind else f"{concept.kind.value}_{concept.name}"


def _parameter_name(name: str, concept: Concept, kind: EntityKind) -> str:
    return name if concept.kind is kind else f"{concept.kind.value}_{name}"


def _composed(concept: Concept, kind: EntityKind) -> str:
    """The SQL of `concept` in a query about `kind`: concept names and parameters renamed."""

    def rename_read(match: re.Match[str]) -> str:
        if match.group(3).lower() in local:
            return f"{match.group(1)}{match.group(2)}{own}__{match.group(3)}"
        target = _resolve(match.group(3), concept.kind)
        if target is None:
            return match.group(0)
        return f"{match.group(1)}{match.group(2)}{_cte_name(target, kind)}"

    def rename_local(match: re.Match[str]) -> str:
        return match.group(0).replace(match.group(1), f"{own}__{match.group(1)}", 1)

    sql = concept_sql(concept.file)
    local = {name.lower() for name in _LOCAL_CTE.findall(_COMMENT.sub("", sql))}
    own = _cte_name(concept, kind)
    sql = _READ.sub(rename_read, sql)
    # A concept's own CTEs are named after it: Spark's SQL lifts them all to the top of the query,
    # where two concepts' `marked` (or one concept composed for two kinds) would clash.
    sql = _LOCAL_CTE.sub(rename_local, sql)
    return _PARAMETER.sub(lambda m: "$" + _parameter_name(m.group(1), concept, kind), sql)


def build_query(kind: EntityKind, report: str) -> str:
    """The full query of `report` (a file name in `sql/`) for entities of `kind`."""
    *concepts, last = plan(kind, report)
    ctes = [
        f"{_cte_name(c, kind)} AS {'MATERIALIZED ' if c.name in MATERIALIZED else ''}"
        f"(\n{_composed(c, kind)}\n)"
        for c in concepts
    ]
    report_sql = _composed(last, kind)
    if not ctes:
        return report_sql
    if _LEADING_WITH.match(report_sql):
        # The report's own CTEs continue the chain.
        return "WITH " + ",\n".join(ctes) + ",\n" + _LEADING_WITH.sub("", report_sql, count=1)
    return "WITH " + ",\n".join(ctes) + "\n" + report_sql


def stages(kind: EntityKind, report: str) -> list[tuple[str, str, bool]]:
    """The query of `report` as one statement per concept: (its CTE name, its SQL reading the
    concepts before it by name, whether it is materialized), in order; the report last ("").

    For engines that do not keep a multiply-read CTE as one shared result (Spark expands each
    read of it in its plan): keep each stage's result under its name (materialized ones
    computed once), then run the last."""
    *concepts, last = plan(kind, report)
    staged = [(_cte_name(c, kind), _composed(c, kind), c.name in MATERIALIZED) for c in concepts]
    return [*staged, ("", _composed(last, kind), False)]


def bind(
    kind: EntityKind,
    report: str,
    params: Mapping[str, Any],
    params_of: Mapping[EntityKind, Mapping[str, Any]] | None = None,
) -> tuple[str, dict[str, Any]]:
    """The query of `report` (DuckDB SQL, `$name` parameters) and the parameters it uses.

    `params` are those of `kind`'s concepts; `params_of[other]` those of another kind's concepts
    that the query reads (bound as `$<other>_<name>`)."""
    query = build_query(kind, report)
    available: dict[str, Any] = {}
    for each in EntityKind:
        given = params if each is kind else (params_of or {}).get(each, {})
        # the kind's governing source, unless the engine chose it for the lake (EVSEs of an
        # eDRV-only lake: `coverage.status_coverage_source`)
        own = {"coverage_source": KINDS[each].coverage_source.value, **given}
        prefix = "" if each is kind else f"{each.value}_"
        available.update({prefix + name: value for name, value in own.items()})
    used = set(_PARAMETER.findall(query))
    missing = used - available.keys()
    if missing:
        raise ValueError(f"report {report} needs parameters {sorted(missing)}")
    return query, {name: available[name] for name in used}


def run(
    con: duckdb.DuckDBPyConnection,
    kind: EntityKind,
    report: str,
    params: Mapping[str, Any],
    params_of: Mapping[EntityKind, Mapping[str, Any]] | None = None,
    tables: Mapping[str, str] | None = None,
    need: Callable[[frozenset[str]], None] | None = None,
) -> duckdb.DuckDBPyRelation:
    """A lazy relation over `report`; only the parameters the query uses are bound. `tables`
    reads other views in place of some tables (`status_events` → a view over fewer days);
    `need` is told the names the query reads before it is bound (to bind their views)."""
    query, bound = bind(kind, report, params, params_of)
    if tables:
        query = _READ.sub(
            lambda m: f"{m.group(1)}{m.group(2)}{tables.get(m.group(3), m.group(3))}", query
        )
    if need is not None:
        need(frozenset(m.group(3) for m in _READ.finditer(query)))
    # Parameters are named per kind so that relations of both kinds can be combined (DuckDB refuses
    # a union of relations that bind the same parameter name).
    query = _PARAMETER.sub(lambda match: f"${match.group(1)}_{kind.value}", query)
    return con.sql(query, params={f"{name}_{kind.value}": value for name, value in bound.items()})
