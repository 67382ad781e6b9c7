"""Code, SQL, tests and docs cite the replay contract's rules by name (rule *Order by event time*),
and every cited name is a rule of docs/replay.md: a renamed or removed rule fails here, as does a
bare rule number or a reference to a design note outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CITATION = re.compile(r"\brules?\s+((?:\*[^*\n]+\*(?:,\s*|\s+and\s+)?)+)", re.IGNORECASE)
# "rule 3", also across one line break (not a heading followed by a numbered list)
NUMBERED = re.compile(
    r"\brules?(?:[ \t]+|[ \t]*\n[ \t]*(?=\S))\d|\bDESIGN(?:\.md| rule| replay)", re.IGNORECASE
)


def rule_names() -> set[str]:
    """The rule headings of docs/replay.md: `N. **Name.**` under "The rules"."""
    text = (ROOT / "docs" / "replay.md").read_text("utf-8")
    return {m.group(1) for m in re.finditer(r"^\d+\. \*\*(.+?)\.\*\*", text, re.MULTILINE)}


def cited_files() -> list[Path]:
    return sorted(
        [
            *(ROOT / "evlog").rglob("*.py"),
            *(ROOT / "evlog").rglob("*.sql"),
            *(ROOT / "tests").rglob("*.py"),
            *(ROOT / "docs").glob("*.md"),
            ROOT / "README.md",
            ROOT / "data" / "samples" / "README.md",
        ]
    )


def test_every_cited_rule_exists() -> None:
    names = rule_names()
    assert {"Order by event time", "Coverage", "Periods"} <= names
    cited: dict[str, set[str]] = {}
    for path in cited_files():
        if path.name == Path(__file__).name:
            continue
        for match in CITATION.finditer(path.read_text("utf-8")):
            for name in re.findall(r"\*([^*]+)\*", match.group(1)):
                cited.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    assert len(cited) >= 5  # the SQL does cite the contract
    unknown = {name: sorted(paths) for name, paths in cited.items() if name not in names}
    assert not unknown, f"cited rules missing from docs/replay.md: {unknown}"


def test_no_rule_numbers_or_outside_documents() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{text[: m.start()].count(chr(10)) + 1}: {m.group(0)}"
        for path in cited_files()
        if path.name != Path(__file__).name
        for text in [path.read_text("utf-8")]
        for m in NUMBERED.finditer(text)
    ]
    assert not found, found
