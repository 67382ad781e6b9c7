"""Test tiers. `make test` runs everything; `make test-fast` (`-m "not slow and not spark"`) the
tests that take well under a second or two each, for the edit-run loop.

A test is `spark` when it starts Apache Spark, `slow` when its module is listed here (measured:
`pytest --durations=0`; a module whose tests take seconds each: real servers, SIGKILLs, simulated
weeks, executed notebooks, CLI subprocesses by the dozen). One list: marking a module is one line.
"""

from __future__ import annotations

import pytest

SPARK_MODULES = frozenset({"tests/replay/test_spark.py"})
SLOW_MODULES = frozenset(
    {
        "tests/test_cli.py",
        "tests/test_first_hour.py",
        "tests/test_notebooks.py",
        "tests/record/test_compaction.py",
        "tests/record/test_consumer.py",
        "tests/record/test_dedupe.py",
        "tests/record/test_live.py",
        "tests/record/test_poller.py",
        "tests/record/test_receiver.py",
        "tests/record/test_receiver_faults.py",
        "tests/record/test_write_path.py",
        "tests/replay/test_properties.py",
        "tests/reports/test_edrv_ports.py",
        "tests/reports/test_plots.py",
        "tests/reports/test_reliability_hours.py",
        "tests/reports/test_reliability_rollups.py",
        "tests/sources/test_fastparse.py",
        "tests/sources/test_fuzz.py",
        "tests/upkeep/test_compact.py",
        "tests/upkeep/test_faults.py",
        "tests/upkeep/test_import_compaction.py",
        "tests/upkeep/test_rollups.py",
    }
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "spark: starts Apache Spark (local mode)")
    config.addinivalue_line("markers", "slow: takes seconds (servers, kills, simulations)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = config.rootpath
    for item in items:
        module = item.path.relative_to(root).as_posix()
        if module in SPARK_MODULES:
            item.add_marker(pytest.mark.spark)
            # one worker runs them all (`make test` distributes by `--dist loadgroup`): one JVM
            # to start and warm up instead of one per worker
            item.add_marker(pytest.mark.xdist_group("spark"))
        if module in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
