"""`evlog lake check`: read every file and manifest of a lake and say what is damaged, with the fix.

A lake is damaged by what evlog does not do itself: a copy cut short, a disk that lost blocks, a
file dropped into a table folder by hand. Every Parquet file's footer is read (with `deep`, every
row group too, which reads the whole lake), every manifest is parsed, and what killed writers left
behind is listed. Nothing is changed: the findings say what to do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from evlog._lake import checkpoints, rollups
from evlog._lake.layout import INTENTS, Lake
from evlog._lake.names import Table
from evlog._lake.schema import SCHEMAS

_RAW = {Table.RAW_STATUS.value, Table.RAW_WEBHOOKS.value, Table.RAW_POLLS.value}
_DERIVED = {
    Table.STATUS_EVENTS.value,
    Table.CONNECTIVITY_EVENTS.value,
    Table.QUARANTINE.value,
    Table.ENTITY_METADATA.value,
}
_REBUILT_BY_COMPACT = (
    "delete it: the next `evlog lake compact` writes it again (reports replay the events meanwhile)"
)


@dataclass(frozen=True)
class Finding:
    """One thing wrong with the lake: where, what, and what to do about it."""

    path: str  # relative to the lake
    problem: str
    fix: str


@dataclass(frozen=True)
class CheckResult:
    files: int  # Parquet files read
    findings: list[Finding]


def check_lake(lake: Lake, *, deep: bool = False) -> CheckResult:
    """Check every file of `lake` (see the module docstring)."""
    findings: list[Finding] = []
    files = 0
    for path in sorted(lake.root.rglob("*.parquet")):
        relative = path.relative_to(lake.root)
        if any(part.startswith(".") for part in relative.parts):
            continue  # a hidden staging area: listed below as a leftover, if it is one
        files += 1
        problem = _parquet_problem(path, relative, deep)
        if problem is not None:
            findings.append(Finding(str(relative), problem, _fix(relative)))
    findings.extend(_manifest_findings(lake))
    findings.extend(_leftovers(lake))
    return CheckResult(files, findings)


def _parquet_problem(path: Path, relative: Path, deep: bool) -> str | None:
    try:
        parquet = pq.ParquetFile(path)
        if deep:
            for group in range(parquet.num_row_groups):
                parquet.read_row_group(group)
        names = parquet.schema_arrow.names
    except (pa.ArrowException, OSError) as exc:
        return f"not a whole Parquet file ({str(exc).splitlines()[0]})"
    table = relative.parts[0]
    if table not in {t.value for t in Table}:
        return None  # checkpoints and rollups: their schemas are their writers' business
    expected = SCHEMAS[Table(table)].names
    missing = [name for name in expected if name not in names]
    if missing:
        return f"not a {table} file: no column {', '.join(missing)}"
    return None


def _fix(relative: Path) -> str:
    table = relative.parts[0]
    if table in _RAW:
        return (
            "move it out of the lake; its records are lost unless the capture is imported again "
            "(`evlog record ...` adds only what the lake lacks)"
        )
    if table in _DERIVED:
        return "move it out of the lake, then `evlog lake rebuild` derives it from the raw tables"
    if table == Table.COVERAGE.value:
        return "move it out of the lake, then declare the capture's coverage again (--coverage)"
    if table in ("checkpoints", "rollups"):
        return _REBUILT_BY_COMPACT
    return "move it out of the lake: it is not one of the lake's files"


def _manifest_findings(lake: Lake) -> list[Finding]:
    found = []
    manifests = [lake.root / checkpoints.CHECKPOINT_DIR / checkpoints.MANIFEST]
    manifests += sorted((lake.root / rollups.MANIFEST_DIR).glob("*.json"))
    for path in manifests:
        if not path.exists():
            continue
        try:
            if path.parent == lake.root / rollups.MANIFEST_DIR:
                rollups.parse_manifest_file(path)
            else:
                checkpoints.read_manifest(lake)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            found.append(
                Finding(
                    str(path.relative_to(lake.root)),
                    f"damaged manifest ({exc})",
                    _REBUILT_BY_COMPACT,
                )
            )
    for path in sorted((lake.root / "_captures").rglob("*.json")):
        try:
            json.loads(path.read_bytes())
        except ValueError as exc:
            found.append(
                Finding(
                    str(path.relative_to(lake.root)),
                    f"damaged capture record ({exc})",
                    "delete it: captures recorded before are then read again (and add nothing)",
                )
            )
    return found


def _leftovers(lake: Lake) -> list[Finding]:
    found = []
    for path in sorted((lake.root / INTENTS).glob("*.json")):
        found.append(
            Finding(
                str(path.relative_to(lake.root)),
                "a writer died in the middle of a step",
                "nothing to do: the next writer (any `evlog record` or `evlog lake compact`) "
                "settles it",
            )
        )
    for path in sorted(lake.root.rglob(".*")):
        if path.name.endswith((".tmp", ".staged")) or path.name.startswith(".rebuild-"):
            found.append(
                Finding(
                    str(path.relative_to(lake.root)),
                    "left behind by a killed writer",
                    "nothing to do: `evlog lake compact` removes it",
                )
            )
    return found
