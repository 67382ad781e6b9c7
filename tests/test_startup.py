"""Start-up: `evlog --help`, a command's help and a usage error import none of the heavy libraries
(DuckDB, Polars, pyarrow, numpy, matplotlib, Spark, the HTTP client and server): each command
imports what it runs. An eager import anywhere on the way (the CLI, `evlog/__init__.py`, a report
declaration) fails these tests, naming the module that pulled it in."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

HEAVY = ("duckdb", "polars", "pyarrow", "numpy", "matplotlib", "pyspark", "httpx", "uvicorn")


def imported_modules(*args: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run `python -X importtime -m evlog ARGS`: its outcome, and every module it imported, in
    import order (the `-X importtime` lines on stderr)."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "evlog", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    names = re.findall(r"^import time:\s+\d+ \|\s+\d+ \|( *)(\S+)$", result.stderr, re.M)
    return result, [name for _, name in names]


@pytest.mark.parametrize(
    "args, code",
    [
        (("--help",), 0),
        (("report", "uptime", "--help"), 0),
        (("report", "availability", "--by", "fortnight", "--lake", "x"), 2),  # a bad choice
    ],
    ids=["evlog --help", "report uptime --help", "a usage error"],
)
def test_help_and_usage_errors_import_no_heavy_library(args: tuple[str, ...], code: int) -> None:
    result, modules = imported_modules(*args)
    assert result.returncode == code, result.stderr[-2000:]
    assert "evlog._cli" in modules and "typer" in modules  # the import log was read
    heavy = [name for name in modules if name.split(".")[0] in HEAVY]
    assert not heavy, f"`evlog {' '.join(args)}` imported {heavy[:5]}"


def test_import_evlog_and_its_version_are_cheap() -> None:
    # the public names are imported when first used (PEP 562); `__version__` reads metadata only
    code = (
        "import sys, evlog; v = evlog.__version__; "
        f"print(v, sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))"
    )
    shown = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout.split(" ", 1)
    assert shown[0].strip() and shown[1].strip() == "[]"


def test_public_names_resolve_lazily() -> None:
    import evlog

    for name in evlog.__all__:
        assert getattr(evlog, name) is not None, name
    assert set(evlog.__all__) <= set(dir(evlog))
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        evlog.nonsense  # noqa: B018
