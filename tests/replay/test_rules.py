"""The rules several concepts apply, each written once in `sql/rules/` and spelled out by the
runner: given these rows, expect these rows; and no concept or upkeep SQL writes one out again."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from evlog._replay import runner
from evlog._time import FOREVER_US

PACKAGE = Path(runner.__file__).parents[1]
RULES = Path(runner.__file__).parent / "sql" / "rules"


def test_islands_merge_overlapping_and_touching_rows_per_partition() -> None:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE spans AS SELECT * FROM (VALUES "
        "('a', 0, 10), ('a', 5, 12), ('a', 12, 15), ('a', 20, 30), ('a', 21, 22), "
        "('b', 0, 1), ('b', 2, 3)) AS t(k, s, e)"
    )
    islands = runner.expand_rules("{{islands FROM spans BY k}}")
    merged = con.sql(
        f"SELECT k, min(s), max(e) FROM ({islands}) GROUP BY k, island ORDER BY ALL"
    ).fetchall()
    assert merged == [("a", 0, 15), ("a", 20, 30), ("b", 0, 1), ("b", 2, 3)]


def test_arrival_order_descending_is_the_exact_reverse_nulls_included() -> None:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE r AS SELECT * FROM (VALUES "
        "(1, 1, 0, 'k1'), (1, NULL, 0, 'k2'), (NULL, 0, 0, 'k3'), (1, 1, NULL, 'k4'), "
        "(0, 5, 0, 'k5'), (1, 1, 0, NULL)) AS t(received_at, arrival_index, evse_index, record_key)"
    )

    def keys(direction: str) -> list[tuple[object, ...]]:
        order = runner.expand_rules(f"{{{{arrival_order {direction}}}}}")
        return con.sql(f"SELECT * FROM r ORDER BY {order}").fetchall()

    ascending = keys("")
    assert ascending[0] == (0, 5, 0, "k5") and ascending[-1] == (None, 0, 0, "k3")
    assert keys("DESC") == ascending[::-1]


def test_forever_is_the_foundation_constant() -> None:
    assert runner.expand_rules("-{{forever_us}}") == f"-{FOREVER_US}"


def test_an_unknown_rule_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown rule"):
        runner.expand_rules("{{islands spans}}")


# What each rule looks like when written out by hand.
COPIES = {
    "forever": re.compile(r"4611686018427387904|1\s*<<\s*62|2\s*\*\*\s*62"),
    # with its NULL order, or an ORDER BY listing arrival columns by hand in any direction
    "arrival order": re.compile(
        r"arrival_index\s+(ASC|DESC)\s+NULLS|ORDER\s+BY[^)]*?received_at[^)]*?arrival_index",
        re.IGNORECASE,
    ),
    # the latest end before a row, which decides whether the row starts a new island
    "islands": re.compile(r"max\([^)]*\)\s+OVER\s*\([^)]*\b1\s+PRECEDING", re.IGNORECASE),
}


@pytest.mark.parametrize("rule", COPIES)
def test_no_copy_of_a_rule_outside_its_definition(rule: str) -> None:
    sources = [*PACKAGE.rglob("*.py"), *PACKAGE.rglob("*.sql")]
    copies = [
        str(path.relative_to(PACKAGE))
        for path in sources
        if COPIES[rule].search(path.read_text("utf-8"))
        and path.parent != RULES
        and path.name != "_time.py"
    ]
    assert not copies, f"the {rule} rule is written out again in {copies}"
