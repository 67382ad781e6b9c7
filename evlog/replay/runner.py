"""Assemble the replay SQL files into one query and run it on DuckDB with bound parameters.

Each file in `sql/` is one concept, a SELECT that reads earlier concepts by name. The runner strings
them together as common table expressions, in dependency order, followed by one report query::

    event_rows → entities → observations → coverage_spans → coverage_gaps → pieces → intervals
               → periods → replayed_periods → period_pieces → <report>

Some reports read further concepts (`REPORT_CONCEPTS`), e.g. availability's per-status time.

`event_rows` is the only concept that differs between entity kinds (EVSEs from `status_events`,
stations from `connectivity_events`); everything after it is shared. User input never becomes SQL
text: ids, times and thresholds are bound as named parameters (`$name`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any

import duckdb

from evlog.schema import Source


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

# Concepts every report is built on, in dependency order. Materialized ones are read more than once
# and must not be recomputed (the events are scanned and sorted once).
SHARED_CONCEPTS: tuple[tuple[str, bool], ...] = (
    ("entities", False),
    ("observations", True),
    ("coverage_spans", True),
    ("coverage_gaps", False),
    ("pieces", False),
    ("intervals", True),
    ("periods", True),
    ("replayed_periods", False),
    ("period_pieces", False),  # read once per report: streamed, never stored
)

# Concepts only some reports read, appended to the shared ones.
REPORT_CONCEPTS: dict[str, tuple[str, ...]] = {
    "availability": ("observed_time", "status_time"),
    "status_rollup": ("observed_time", "status_time"),
}

_PARAMETER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_LEADING_WITH = re.compile(r"^\s*WITH\s", re.IGNORECASE)


@cache
def load_sql(name: str) -> str:
    """The text of `sql/<name>.sql`, shipped as package data."""
    return resources.files("evlog.replay").joinpath("sql", f"{name}.sql").read_text("utf-8")


def concept_sql(name: str) -> str:
    """A file's SQL without its leading comment block (comments inside stay)."""
    lines = load_sql(name).splitlines()
    while lines and (not lines[0].strip() or lines[0].lstrip().startswith("--")):
        lines.pop(0)
    return "\n".join(lines).strip().rstrip(";")


def build_query(kind: EntityKind, report: str) -> str:
    """The full query of `report` (a file name in `sql/`) for entities of `kind`."""
    concepts = [("event_rows", KINDS[kind].event_rows_file, False)]
    concepts += [(name, name, materialized) for name, materialized in SHARED_CONCEPTS]
    concepts += [(name, name, False) for name in REPORT_CONCEPTS.get(report, ())]
    ctes = [
        f"{name} AS {'MATERIALIZED ' if materialized else ''}(\n{concept_sql(file)}\n)"
        for name, file, materialized in concepts
    ]
    report_sql = concept_sql(report)
    if _LEADING_WITH.match(report_sql):
        # The report's own CTEs continue the chain.
        return "WITH " + ",\n".join(ctes) + ",\n" + _LEADING_WITH.sub("", report_sql, count=1)
    return "WITH " + ",\n".join(ctes) + "\n" + report_sql


def bind(kind: EntityKind, report: str, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The query of `report` (DuckDB SQL, `$name` parameters) and the parameters it uses."""
    query = build_query(kind, report)
    available = {**params, "coverage_source": KINDS[kind].coverage_source.value}
    used = set(_PARAMETER.findall(query))
    missing = used - available.keys()
    if missing:
        raise ValueError(f"report {report} needs parameters {sorted(missing)}")
    return query, {name: available[name] for name in used}


def run(
    con: duckdb.DuckDBPyConnection, kind: EntityKind, report: str, params: dict[str, Any]
) -> duckdb.DuckDBPyRelation:
    """A lazy relation over `report`; only the parameters the query uses are bound."""
    query, bound = bind(kind, report, params)
    # Parameters are named per kind so that relations of both kinds can be combined (DuckDB refuses
    # a union of relations that bind the same parameter name).
    query = _PARAMETER.sub(lambda match: f"${match.group(1)}_{kind.value}", query)
    return con.sql(query, params={f"{name}_{kind.value}": value for name, value in bound.items()})
