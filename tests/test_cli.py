"""The command line as a user runs it: help everywhere, one-line errors with exit 2, summaries."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

from evlog._cli import app
from tests import feeds


def evlog(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evlog", *args],
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=120,
    )


def walk(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from walk(sub, (*path, name))


COMMANDS = list(walk(typer.main.get_command(app)))


@pytest.mark.parametrize(
    "path, command", COMMANDS, ids=[" ".join(p) or "evlog" for p, _ in COMMANDS]
)
def test_every_command_and_option_has_help(path: tuple[str, ...], command: Any) -> None:
    assert (command.help or "").strip(), f"evlog {' '.join(path)} has no help text"
    for param in command.params:
        if param.name != "help":
            assert (getattr(param, "help", None) or "").strip(), f"{path} {param.name} has no help"


def test_help_runs_for_every_command() -> None:
    for path, _ in COMMANDS:
        result = evlog(*path, "--help")
        assert result.returncode == 0, result.stderr
        assert "Usage:" in result.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["record", "stream", "x.gz"], "Missing option '--lake'"),
        (["record", "stream", "--lake", "L", "--bogus"], "No such option: --bogus"),
        (["record", "stream", "--lake", "L", "does-not-exist.gz"], "input not found"),
        (["record", "stream", "--lake", "L", "-", "--coverage", "2024-01-02"], "--coverage"),
        (
            ["record", "stream", "--lake", "L", "-", "--coverage", "2024-01-02/2024-01-01"],
            "not after",
        ),
        (["record", "stream", "--lake", "L", "-", "--skew-tolerance", "soon"], "--skew-tolerance"),
        (["lake", "info", "--lake", "no-such-lake"], "lake not found"),
        (["lake", "rebuild", "--lake", "no-such-lake"], "lake not found"),
    ],
)
def test_bad_options_exit_2_with_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    args = [
        str(tmp_path / a) if a in ("L", "no-such-lake", "does-not-exist.gz") else a for a in args
    ]
    result = evlog(*args, stdin=b"")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("evlog: error:") and message in lines[0]
    assert "Traceback" not in result.stderr


def test_record_prints_a_summary_and_lake_info_shows_it(tmp_path: Path) -> None:
    capture = tmp_path / "c.gz"
    capture.write_bytes(
        feeds.members(feeds.message("loc-1", ("e1", "AVAILABLE", "2024-04-05T10:00:00Z")), b"junk")
    )
    lake = str(tmp_path / "lake")
    result = evlog("record", "stream", str(capture), "--lake", lake)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "recorded 2 records (1 events), 0 duplicates, 1 quarantined"
    again = evlog("record", "stream", "-", "--lake", lake, stdin=b"")  # nothing, and it says so
    assert again.returncode == 1
    assert "warning: nothing recorded: the inputs held no records" in again.stderr
    info = evlog("lake", "info", "--lake", lake)
    assert info.returncode == 0, info.stderr
    assert "status_events" in info.stdout and "invalid JSON" in info.stdout


def test_webhooks_from_stdin(tmp_path: Path) -> None:
    body = feeds.jsonl(feeds.webhook("w1", "st-1", True, "2024-04-05T10:00:00Z"))
    result = evlog(
        "record", "webhooks", "--from", "-", "--lake", str(tmp_path / "lake"), stdin=body
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("recorded 1 records (1 events)")


def test_duckdb_settings_and_its_memory_give_one_line_errors(tmp_path: Path) -> None:
    """A value DuckDB refuses is a usage error naming the variable (exit 2); a limit too small for
    the work stops the command with what to change (exit 1), never a traceback."""
    capture = tmp_path / "c.ndjson"
    capture.write_bytes(
        feeds.ndjson(
            *(
                feeds.message(f"loc-{i}", (f"e{i}", "AVAILABLE", f"2024-04-05T10:{i:02}:00Z"))
                for i in range(50)
            )
        )
    )
    lake = str(tmp_path / "lake")
    assert evlog("record", "stream", str(capture), "--lake", lake).returncode == 0

    def report(limit: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "evlog", "report", "availability", "--lake", lake],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "EVLOG_DUCKDB_MEMORY_LIMIT": limit},
        )

    for limit, code, message in [
        ("plenty", 2, "EVLOG_DUCKDB_MEMORY_LIMIT=plenty: DuckDB refuses it"),
        ("1MB", 1, "DuckDB ran out of memory (memory limit: EVLOG_DUCKDB_MEMORY_LIMIT=1MB)"),
    ]:
        result = report(limit)
        assert result.returncode == code, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"evlog: error: {message}"), result.stderr
    assert report("200MB").returncode == 0
