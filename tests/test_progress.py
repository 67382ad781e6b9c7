"""Progress of long offline work: what the library tells a `Progress` callback (the CLI's bars
are tested through the command line in tests/test_first_hour.py)."""

from __future__ import annotations

import io
from pathlib import Path

import evlog
from evlog._lake.layout import Lake
from evlog._progress import ProgressStep
from evlog._simulate import simulate
from evlog._upkeep.compact import compact
from evlog._upkeep.maintenance import rebuild
from tests import feeds


def last_of_each(steps: list[ProgressStep]) -> dict[str, ProgressStep]:
    last: dict[str, ProgressStep] = {}
    for step in steps:
        last[step.task] = step
    return last


def in_order(steps: list[ProgressStep], task: str) -> bool:
    done = [step.done for step in steps if step.task == task]
    return done == sorted(done)


def test_an_import_tells_bytes_read_then_the_compaction(tmp_path: Path) -> None:
    first = feeds.ndjson(feeds.message("loc-1", ("e1", "AVAILABLE", "2024-04-05T10:00:00Z")))
    second = feeds.ndjson(
        feeds.message("loc-1", ("e1", "CHARGING", "2024-04-05T11:00:00Z")),
        feeds.message("loc-2", ("e2", "AVAILABLE", "2024-04-06T09:00:00Z")),
    )
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.ndjson").write_bytes(first)
    (tmp_path / "in" / "b.ndjson").write_bytes(second)
    steps: list[ProgressStep] = []
    evlog.record_stream(tmp_path / "lake", [str(tmp_path / "in")], progress=steps.append)
    size = len(first) + len(second)
    last = last_of_each(steps)
    assert list(last) == [
        "storing records",
        "reading captures",
        "merging partitions",
        "updating checkpoints",
        "updating rollups",
    ]
    assert last["reading captures"] == ProgressStep("reading captures", size, size, "bytes")
    assert last["storing records"] == ProgressStep("storing records", 3, None, "records")
    merged = last["merging partitions"]
    assert merged.done == merged.total and merged.unit == "partitions"
    assert all(in_order(steps, task) for task in last)


def test_stdin_has_no_total(tmp_path: Path) -> None:
    body = feeds.ndjson(feeds.message("loc-1", ("e1", "AVAILABLE", "2024-04-05T10:00:00Z")))
    steps: list[ProgressStep] = []
    evlog.record_stream(
        tmp_path / "lake", ["-"], stdin=io.BytesIO(body), compact=False, progress=steps.append
    )
    assert steps == [
        ProgressStep("storing records", 1, None, "records"),
        ProgressStep("reading captures", len(body), None, "bytes"),
    ]


def test_webhook_files_compact_and_rebuild_tell_their_steps(tmp_path: Path) -> None:
    saved = tmp_path / "hooks.jsonl"
    saved.write_bytes(
        feeds.jsonl(
            feeds.webhook("w1", "s1", True, "2024-04-05T10:00:00Z"),
            feeds.webhook("w2", "s1", False, "2024-04-05T12:00:00Z"),
        )
    )
    steps: list[ProgressStep] = []
    evlog.record_webhook_files(tmp_path / "lake", [str(saved)], progress=steps.append)
    size = saved.stat().st_size
    assert last_of_each(steps)["reading captures"] == ProgressStep(
        "reading captures", size, size, "bytes"
    )

    lake = Lake.open(tmp_path / "lake")
    steps.clear()
    compact(lake, progress=steps.append)
    merged = [step for step in steps if step.task == "merging partitions"]
    assert merged[0].done == 0 and merged[-1].done == merged[-1].total == len(merged) - 1
    assert merged[-1].total > 0

    steps.clear()
    rebuild(lake, progress=steps.append)
    # two raw webhooks: every raw record is derived again
    assert steps[0] == ProgressStep("re-deriving raw records", 0, 2, "records")
    assert steps[-1] == ProgressStep("re-deriving raw records", 2, 2, "records")


def test_simulate_tells_the_days(tmp_path: Path) -> None:
    steps: list[ProgressStep] = []
    simulate(tmp_path / "sim", stations=1, days=3, progress=steps.append)
    assert steps == [ProgressStep("simulating days", n, 3, "days") for n in range(4)]
