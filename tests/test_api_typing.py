"""mypy checks the keywords of the one-line report methods (`lake.flaps(flap_treshold=...)` is a
type error), from the TypedDicts generated from the report registry."""

from __future__ import annotations

from pathlib import Path

from mypy import api

ROOT = Path(__file__).resolve().parents[1]

SNIPPET = """\
import evlog
lake = evlog.open_lake("lake")
lake.uptime("2024-04-01", by="day", station=["S1"], hold_after_gap=True)
lake.flaps(flap_treshold="2m")
lake.reliability("nevi", month="2025-03", outage_states=["INOPERATIVE"])
lake.uptime_relation(tz=3)
lake.availability_spark(by_location=True, evse="E1")
"""


def test_mypy_rejects_a_misspelt_or_mistyped_keyword(tmp_path: Path) -> None:
    # the project's strictness, on the snippet alone (pyproject.toml names the package to check)
    config = tmp_path / "mypy.ini"
    config.write_text(f"[mypy]\nstrict = True\nignore_missing_imports = True\nmypy_path = {ROOT}\n")
    snippet = tmp_path / "snippet.py"
    snippet.write_text(SNIPPET)
    out, err, status = api.run(
        [
            "--config-file",
            str(config),
            "--cache-dir",
            str(ROOT / ".mypy_cache"),
            "--no-error-summary",
            str(snippet),
        ]
    )
    assert status == 1, out + err
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert [line.split(":")[1] for line in errors] == ["4", "6"], out
    assert 'Unexpected keyword argument "flap_treshold"' in errors[0]
    assert '"tz"' in errors[1] and '"int"' in errors[1]
