"""The replay SQL for Apache Spark: DuckDB's SQL transpiled by SQLGlot, with bound parameters.

The replay is written once, in DuckDB's dialect (`evlog/_replay/sql/`). For Spark, the assembled
query is parsed by SQLGlot (``read="duckdb"``), rewritten by the few transforms below, and generated
in Spark's dialect. This module is the one place where the two dialects differ:

- **parameters**: every ``$name`` becomes a typed literal built by SQLGlot's expression builders
  (strings quoted and escaped by the generator, floats as ``DOUBLE``, dates as ``DATE``, lists as
  ``ARRAY``): user input never becomes SQL text by string formatting;
- **functions**: ``epoch_us`` → ``unix_micros``, ``make_timestamptz`` → ``timestamp_micros``,
  ``len(list)`` → ``size``, ``row(...)`` → ``struct(...)`` (the tie order of ``arg_max``);
- **numbers**: a decimal literal such as ``100.0`` is ``DOUBLE`` (Spark would compute the
  percentages in ``DECIMAL`` and round them; DuckDB divides in ``DOUBLE``);
- **named windows** are inlined (Spark cannot extend ``OVER (w ROWS ...)``);
- ``AS MATERIALIZED`` is dropped (Spark decides what to reuse);
- **table names** are mapped to the engine's temporary views of one lake.

Everything else (``QUALIFY``, ``unnest … WITH ORDINALITY``, ``FILTER (WHERE …)``, null ordering,
``IS DISTINCT FROM``) SQLGlot's own DuckDB → Spark transpilation handles. DuckDB's ``ASOF JOIN``
has no Spark form; the replay SQL does not use it (see `flaps.sql`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import sqlglot
from sqlglot import exp

_FUNCTIONS = {"epoch_us": "unix_micros", "make_timestamptz": "timestamp_micros"}


def literal(value: Any) -> exp.Expr:
    """A typed SQL literal for a bound parameter value, built by SQLGlot (never by formatting)."""
    if isinstance(value, bool) or value is None:
        return exp.convert(value)
    if isinstance(value, int):
        return exp.convert(value)
    if isinstance(value, float):
        return exp.cast(exp.Literal.number(repr(value)), exp.DataType.Type.DOUBLE)
    if isinstance(value, str):
        return exp.Literal.string(value)
    if isinstance(value, datetime):
        raise TypeError("bind instants as integer microseconds, not datetimes")
    if isinstance(value, date):
        return exp.cast(exp.Literal.string(value.isoformat()), exp.DataType.Type.DATE)
    if isinstance(value, list | tuple):
        return exp.Array(expressions=[literal(item) for item in value])
    raise TypeError(f"cannot bind a {type(value).__name__} as a Spark SQL literal")


def to_spark(query: str, params: Mapping[str, Any], tables: Mapping[str, str] | None = None) -> str:
    """`query` (DuckDB SQL with ``$name`` parameters) as Spark SQL with `params` bound.

    `tables` maps table names read by the query to the names to read instead (CTE names are never
    tables, so they are left alone)."""
    tree = sqlglot.parse_one(query, read="duckdb")
    # children first, so that a rewritten node is built from rewritten arguments
    for node in reversed(list(tree.walk(bfs=False))):
        new = _rewrite(node, params, tables or {})
        if new is not node:
            if node is tree:
                tree = new
            else:
                node.replace(new)
    tree = _inline_named_windows(tree)
    return tree.sql(dialect="spark")


def _rewrite(node: exp.Expr, params: Mapping[str, Any], tables: Mapping[str, str]) -> exp.Expr:
    if isinstance(node, exp.Placeholder):
        name = str(node.name)
        if name not in params:
            raise ValueError(f"query parameter ${name} is not bound")
        return literal(params[name])
    if isinstance(node, exp.Anonymous):
        name = str(node.name).lower()
        if name in _FUNCTIONS:
            return exp.Anonymous(this=_FUNCTIONS[name], expressions=node.expressions)
        if name == "row":
            return exp.Struct(expressions=node.expressions)
    if isinstance(node, exp.Length):
        target = node.this
        if isinstance(target, exp.Cast) and target.to.is_type(exp.DataType.Type.ARRAY):
            return exp.ArraySize(this=target)
    if isinstance(node, exp.Literal) and not node.is_string:
        text = str(node.this)
        if "." in text and "e" not in text.lower():
            return exp.cast(node.copy(), exp.DataType.Type.DOUBLE)
    if isinstance(node, exp.CTE) and node.args.get("materialized") is not None:
        node.set("materialized", None)
        return node
    if isinstance(node, exp.Table) and not node.db and node.name in tables:
        alias = node.args.get("alias") or exp.TableAlias(this=exp.to_identifier(node.name))
        return exp.Table(this=exp.to_identifier(tables[node.name]), alias=alias)
    return node


def _inline_named_windows(tree: exp.Expr) -> exp.Expr:
    """Replace `OVER name` and `OVER (name ROWS ...)` by the named window's own specification."""
    for select in list(tree.find_all(exp.Select)):
        definitions = select.args.get("windows") or []
        named = {str(w.name): w for w in definitions}
        if not named:
            continue
        for window in select.find_all(exp.Window):
            if any(window is d for d in definitions):
                continue
            if window.find_ancestor(exp.Select) is not select:
                continue
            alias = window.args.get("alias")
            if alias is None or str(alias.name) not in named:
                continue
            definition = named[str(alias.name)]
            window.set("alias", None)
            if definition.args.get("partition_by"):
                window.set("partition_by", [p.copy() for p in definition.args["partition_by"]])
            if definition.args.get("order") is not None:
                window.set("order", definition.args["order"].copy())
            if window.args.get("spec") is None and definition.args.get("spec") is not None:
                window.set("spec", definition.args["spec"].copy())
        select.set("windows", None)
    return tree
