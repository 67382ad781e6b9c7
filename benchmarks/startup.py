"""Start-up: the wall time of a command that does no work (`evlog --help`), against the
interpreter alone, in the same run.

    .venv/bin/python benchmarks/startup.py [--runs 10] [--evlog .venv/bin/evlog] [-- ARGS...]

Runs `python -c pass`, then `EVLOG ARGS` (default `--help`), each `--runs` times with output
discarded, alternating, and prints the median and minimum of each. Give another checkout's
`--evlog` (its own venv's script) for a before/after on one machine at one load.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def wall_times(command: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - began)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--evlog", default=".venv/bin/evlog")
    parser.add_argument("args", nargs="*", default=["--help"])
    options = parser.parse_args()
    commands = {"python -c pass": [sys.executable, "-c", "pass"]}
    commands[f"{options.evlog} {' '.join(options.args)}"] = [options.evlog, *options.args]
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(options.runs):  # alternate, so that a change of load hits both alike
        for name, command in commands.items():
            times[name] += wall_times(command, 1)
    for name, measured in times.items():
        print(
            f"{name}: median {statistics.median(measured):.3f} s, min {min(measured):.3f} s "
            f"({options.runs} runs)"
        )


if __name__ == "__main__":
    main()
