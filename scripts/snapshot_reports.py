"""Write every report of a lake in every format, to compare two versions of evlog byte for byte.

    .venv/bin/python scripts/snapshot_reports.py LAKE OUT_DIR
    diff -r OUT_BEFORE OUT_AFTER        # a refactoring must print nothing

Each report runs as a user runs it (`python -m evlog report …`, a real subprocess, fixed terminal
width) over a fixed set of option combinations; stdout, or the `--output` file for parquet, lands
in OUT_DIR under a name made of the arguments. A failing command's stderr and exit code are kept
too: errors are behaviour.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

FORMATS = ("table", "csv", "json", "markdown", "parquet")
VARIANTS: tuple[tuple[str, ...], ...] = (
    ("availability", "--by", "none"),
    ("availability", "--by", "day", "--tz", "Europe/Berlin"),
    ("availability", "--by-location", "--by", "day"),
    ("uptime", "--by", "none"),
    ("uptime", "--by", "day"),
    ("uptime", "--by", "hour", "--tz", "America/New_York"),
    ("uptime", "--by", "week", "--hold-after-gap"),
    ("flaps", "--by", "none"),
    ("flaps", "--by", "day", "--flap-threshold", "2m", "--flap-count", "2"),
    ("intervals",),
    ("intervals", "--by", "day"),
    ("reliability",),
    ("reliability", "--standard", "cec"),
    ("reliability", "--standard", "uk-pcpr"),
    ("reconcile",),
)


def main(lake: str, out: str) -> None:
    target = Path(out)
    target.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
    for variant in VARIANTS:
        for fmt in FORMATS:
            name = re.sub(r"[^A-Za-z0-9_.-]+", "_", "-".join((*variant, fmt))).strip("_")
            args = [sys.executable, "-m", "evlog", "report", *variant, "--lake", lake]
            args += ["--format", fmt]
            if fmt == "parquet":
                args += ["--output", str(target / f"{name}.parquet")]
            done = subprocess.run(args, capture_output=True, env=env, check=False)
            (target / f"{name}.out").write_bytes(done.stdout)
            (target / f"{name}.err").write_bytes(
                done.stderr + f"\nexit {done.returncode}\n".encode()
            )
    print(f"wrote {len(VARIANTS) * len(FORMATS)} reports to {target}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
