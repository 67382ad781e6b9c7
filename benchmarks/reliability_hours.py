"""The cost of `--opening-hours` on a yearly reliability report: time and peak RSS, as ratios.

    .venv/bin/python benchmarks/reliability_hours.py [--evses 10000] [--standard nevi]

On the synthetic year of `reliability_year.py` (built there if missing, kept under --dir; 4 EVSEs
per location), each in its own child process: `evlog report reliability --standard S --month
2025-12 --outages` (the ledger: every event replayed either way, so the ratio is the opening
hours' own cost) without and with an opening-hours CSV giving every location Monday-Friday
08:00-20:00 and Saturday 09:00-13:00 (about 300 closed intervals per location over the year,
computed in Python and bound as lists), and the same figures without `--outages`, both against the
run without the file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--evses", type=int, default=10_000)
    parser.add_argument("--standard", default="nevi", choices=("nevi", "cec", "uk-pcpr"))
    parser.add_argument("--dir", type=Path, default=Path("/tmp/evlog-bench-reliability-year"))
    args = parser.parse_args()
    from reliability_year import child  # beside this script
    from replay_data import generate

    lake = args.dir / f"{args.evses}x365x2"
    if not (lake / "status_events").exists():
        generate(lake, args.evses * 365 * 2, args.evses, 365)
    hours = args.dir / f"hours-{args.evses}.csv"
    locations = sorted({f"LOC-{i // 4:06d}" for i in range(args.evses)})
    rows = [f"{loc},mon-fri,08:00,20:00\n{loc},sat,09:00,13:00" for loc in locations]
    hours.write_text("entity_id,weekday,open,close\n" + "\n".join(rows) + "\n")
    base = ["report", "reliability", "--lake", str(lake), "--standard", args.standard]
    base += ["--month", "2025-12", "--format", "csv", "--output", "/dev/null"]
    env = {"EVLOG_NO_ROLLUPS": "1"}  # the same replay with and without the file
    print(f"{args.evses:,} EVSEs, {len(locations):,} locations, {args.standard}", flush=True)
    for label, extra in (("figures", []), ("ledger (--outages)", ["--outages"])):
        plain = child([*base, *extra], env)
        masked = child([*base, *extra, "--opening-hours", str(hours)], env)
        print(
            f"{label}: without {plain[0]:.1f} s / {plain[1]:,.0f} MB, with --opening-hours "
            f"{masked[0]:.1f} s / {masked[1]:,.0f} MB: x{masked[0] / plain[0]:.2f} time, "
            f"x{masked[1] / plain[1]:.2f} RSS",
            flush=True,
        )


if __name__ == "__main__":
    main()
