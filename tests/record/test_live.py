"""The live session every live recorder shares (`evlog._record.live`): one log format for the three
commands (JSON lines, or key=value text), one choice of levels, a clean stop on SIGTERM with a stop
coverage row, and coverage claims that stop while a recorder cannot take records."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from evlog._lake.layout import Lake
from evlog._lake.names import Table
from evlog._record.derive import POLL_FEED
from evlog._record.live import SessionCoverage, TextFormatter, fields, logfmt
from tests.fakes.edrv_server import TOKEN, FakeEdrv
from tests.fakes.here_server import FakeHere, credentials_text
from tests.record.test_receiver import free_port

RECORDERS = ("webhooks", "here", "poll")
SOURCES = {"webhooks": "edrv_webhooks", "here": "here_stream", "poll": "edrv_poll"}
TEXT_LINE = re.compile(r'^ts=\S+ level=(debug|info|warning|error) logger=\S+ msg=("[^"]*"|\S+)')


@contextmanager
def recorder_command(recorder: str, lake: Path) -> Iterator[tuple[list[str], dict[str, str]]]:
    """The command line (and environment) that runs `recorder` into `lake`, its fake service
    serving meanwhile."""
    evlog = [sys.executable, "-m", "evlog", "record"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "EDRV_TOKEN": TOKEN}
    with ExitStack() as stack:
        if recorder == "webhooks":
            listen = f"127.0.0.1:{free_port()}"
            yield [*evlog, "webhooks", "--lake", str(lake), "--listen", listen], env
        elif recorder == "here":
            here = FakeHere(batch_size=5)
            stack.enter_context(here.serve())
            lake.parent.mkdir(parents=True, exist_ok=True)
            creds = lake.parent / "credentials.properties"
            creds.write_text(credentials_text(f"{here.url}/oauth2/token"))
            options = ["--credentials", str(creds), "--lookup-url", here.lookup_url]
            yield [*evlog, "here", "--lake", str(lake), *options], env
        else:
            edrv = FakeEdrv()
            edrv.add("st-1", online=True)
            stack.enter_context(edrv.serve())
            options = ["--api-base", edrv.api_base, "--token-env", "EDRV_TOKEN", "--every", "5m"]
            yield [*evlog, "poll", "--lake", str(lake), *options], env


def run_until_sigterm(recorder: str, tmp_path: Path, *options: str) -> tuple[list[str], Lake]:
    """Start `evlog record <recorder>`, wait for its start coverage row, SIGTERM it; its stderr
    lines (after a clean exit) and its lake."""
    lake = tmp_path / "lake"
    coverage = lake / Table.COVERAGE.value / f"source={SOURCES[recorder]}"
    with recorder_command(recorder, lake) as (command, env):
        process = subprocess.Popen(
            [*command, *options], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            deadline = time.monotonic() + 30
            while not any(coverage.rglob("*.parquet")) and time.monotonic() < deadline:
                assert process.poll() is None, process.communicate()[1].decode()
                time.sleep(0.05)
            process.send_signal(signal.SIGTERM)
            _, err = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
    assert process.returncode == 0, err.decode()[-3000:]
    return err.decode().splitlines(), Lake.open(lake)


def coverage_kinds(lake: Lake) -> list[str]:
    return sorted(r["kind"] for r in lake.read(Table.COVERAGE).to_pylist())


@pytest.mark.parametrize("recorder", RECORDERS)
def test_json_lines_by_default_and_sigterm_is_a_clean_stop(recorder: str, tmp_path: Path) -> None:
    lines, lake = run_until_sigterm(recorder, tmp_path)
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"ts", "level", "logger", "msg"} <= entry.keys() for entry in entries)
    assert all(datetime.fromisoformat(entry["ts"]).tzinfo is not None for entry in entries)
    messages = [entry["msg"] for entry in entries]
    stopping = entries[messages.index("stopping (again to abort)")]
    assert stopping["signal"] == "SIGTERM" and stopping["logger"] == "evlog.record"
    stopped = entries[messages.index("stopped")]
    assert stopped["session"] and stopped["level"] == "info"
    assert "start" in coverage_kinds(lake) and "stop" in coverage_kinds(lake)


@pytest.mark.parametrize("recorder", RECORDERS)
def test_log_format_text_is_key_value_lines(recorder: str, tmp_path: Path) -> None:
    lines, lake = run_until_sigterm(recorder, tmp_path, "--log-format", "text")
    assert lines and all(TEXT_LINE.match(line) for line in lines), lines
    assert any(" msg=stopped session=" in line for line in lines)
    assert any(' msg="stopping (again to abort)" signal=SIGTERM' in line for line in lines)
    assert "stop" in coverage_kinds(lake)


@pytest.mark.parametrize("recorder", RECORDERS)
def test_quiet_hides_info_and_verbose_shows_debug(recorder: str, tmp_path: Path) -> None:
    quiet, lake = run_until_sigterm(recorder, tmp_path / "quiet", "-q")
    levels = {json.loads(line)["level"] for line in quiet}
    assert levels <= {"warning", "error"}
    assert "stop" in coverage_kinds(lake)  # quiet, and still a clean stop
    if recorder == "webhooks":  # a receiver without a secret warns: warnings stay
        assert any("NO SECRET" in json.loads(line)["msg"] for line in quiet)
    verbose, _ = run_until_sigterm(recorder, tmp_path / "verbose", "-v")
    entries = [json.loads(line) for line in verbose]
    written = [e for e in entries if e["level"] == "debug" and e["msg"] == "coverage written"]
    assert {e["kind"] for e in written} >= {"start", "stop"}
    assert any(e["level"] == "info" for e in entries)


def test_verbose_and_quiet_together_is_a_usage_error(tmp_path: Path) -> None:
    with recorder_command("poll", tmp_path / "lake") as (command, env):
        done = subprocess.run([*command, "-v", "-q"], env=env, capture_output=True, timeout=30)
    assert done.returncode == 2
    assert done.stderr.decode().strip().splitlines() == [
        "evlog: error: -v/--verbose and -q/--quiet: give one of them"
    ]
    assert not (tmp_path / "lake").exists()


def test_text_lines_quote_and_keep_a_traceback_on_one_line() -> None:
    assert logfmt({"a": 1, "b": None, "c": 'say "hi"', "d": 0.5, "e": ""}) == (
        'a=1 c="say \\"hi\\"" d=0.500 e=""'
    )
    try:
        raise ValueError("line one\nline two")
    except ValueError:
        record = logging.LogRecord("evlog.x", logging.ERROR, "", 0, "failed", (), sys.exc_info())
    record.fields = fields(segment="s 1")["fields"]
    line = TextFormatter().format(record)
    assert "\n" not in line and TEXT_LINE.match(line)
    assert ' segment="s 1" exc="Traceback' in line and "line one\\nline two" in line


def test_an_interruption_stops_the_claim_until_the_next_beat(tmp_path: Path) -> None:
    lake = Lake.create(tmp_path / "lake")
    now = [datetime(2026, 11, 21, 10, tzinfo=UTC)]

    def clock() -> datetime:
        return now[0]

    coverage = SessionCoverage(lake, POLL_FEED.source.value, "sess", timedelta(seconds=20), clock)
    coverage.start()
    now[0] += timedelta(seconds=20)
    coverage.beat()
    coverage.interrupt()  # e.g. the receiver's log refused writes
    now[0] += timedelta(seconds=20)
    coverage.stop()  # nothing: that time is not claimed
    coverage.beat()  # a new interval, under a new id
    now[0] += timedelta(seconds=5)
    coverage.beat()  # not due
    coverage.stop()
    rows: list[dict[str, Any]] = sorted(
        lake.read(Table.COVERAGE).to_pylist(), key=lambda r: (r["covered_to"], r["kind"])
    )
    spans = [(r["session_id"][:4], r["kind"], r["covered_to"] - r["covered_from"]) for r in rows]
    assert spans == [
        ("sess", "start", timedelta(0)),
        ("sess", "heartbeat", timedelta(seconds=20)),
        ("sess", "start", timedelta(0)),
        ("sess", "stop", timedelta(seconds=5)),
    ]
    assert len({r["session_id"] for r in rows}) == 2
