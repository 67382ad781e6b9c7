"""UK filing export (`--export uk-pcpr DIR`): the annual figures of The Public Charge Point
Regulations 2023 (SI 2023/1168), from a `--standard uk-pcpr` reliability result.

Per calendar year of the report months, from the row of the year's last report month (its basis is
the calendar year to date, docs/reliability.md "UK"):

- `uk_pcpr_<YYYY>_network.csv`: reg. 8(2), the annual report to the Secretary of State: the number
  of charge points (EVSEs) and the network's reliability as a percentage; reg. 7(2), the 99 %
  requirement, and whether it was met;
- `uk_pcpr_<YYYY>_points.csv`: each EVSE's own figure (the per-point distribution behind the
  network mean), and `uk_pcpr_<YYYY>_distribution.csv`, how many EVSEs fall in each band;
- `uk_pcpr_<YYYY>_summary.md`: reg. 7(6), "information on its compliance with the reliability
  requirement" for the operator's website.

Each file is written atomically. The regulation's text and every interpretation are in
docs/reliability.md ("Export: --export uk-pcpr DIR").
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evlog._errors import UsageError
from evlog._reports.files import export_directory, text_cell, write_csv_rows, write_file

if TYPE_CHECKING:
    from evlog._reports.reliability import ReliabilityResult

NETWORK_HEADER = (
    "year",
    "period_start",
    "period_end",
    "complete_year",
    "charge_points",
    "charge_points_assessed",
    "charge_points_meeting_99",
    "network_reliability_pct",
    "requirement_pct",
    "compliant",
    "coverage_pct",
    "no_verdict_reason",
)
POINTS_HEADER = (
    "year",
    "evse_id",
    "station_id",
    "location_id",
    "reliability_pct",
    "not_reliable_min",
    "excluded_min",
    "assessed_min",
    "coverage_pct",
    "no_verdict_reason",
)
DISTRIBUTION_HEADER = ("year", "band", "charge_points", "share_pct")


@dataclass(frozen=True)
class Band:
    """A range of per-point reliability, [low, high) percent (`high` None: up to 100 inclusive)."""

    label: str
    low: float
    high: float | None


BANDS = (
    Band("100", 100.0, None),
    Band("99 to under 100", 99.0, 100.0),
    Band("98 to under 99", 98.0, 99.0),
    Band("95 to under 98", 95.0, 98.0),
    Band("90 to under 95", 90.0, 95.0),
    Band("under 90", 0.0, 90.0),
)
NO_FIGURE = "no figure"


def check_export(standard: str) -> None:
    """An UK PCPR export reports `--standard uk-pcpr` figures; checked before any replay."""
    if standard != "uk-pcpr":
        raise UsageError("--export uk-pcpr: the PCPR figures need --standard uk-pcpr")


def _band(figure: float | None) -> str:
    if figure is None:
        return NO_FIGURE
    rounded = round(figure, 9)  # as the verdicts: float noise cannot move a point across a band
    for band in BANDS:
        if rounded >= band.low and (band.high is None or rounded < band.high):
            return band.label
    return BANDS[-1].label


@dataclass(frozen=True)
class Year:
    """One calendar year's rows: its network row and its ports' rows (of its last report month)."""

    year: int
    month: str
    network: dict[str, Any]
    points: list[dict[str, Any]]

    @property
    def complete(self) -> bool:
        return self.month.endswith("-12")


def years_of(result: ReliabilityResult) -> list[Year]:
    """Each calendar year of the report months, from its last report month's rows."""
    import polars as pl

    frame = result.frame
    months = sorted(set(frame.get_column("report_month").to_list()))
    last: dict[int, str] = {}
    for month in months:
        last[int(month[:4])] = month  # sorted: the year's last month wins
    years = []
    for year, month in sorted(last.items()):
        rows = frame.filter(pl.col("report_month") == month)
        network = rows.filter(pl.col("scope") == "network").row(0, named=True)
        points = rows.filter(pl.col("scope") == "port").sort("port_id").to_dicts()
        years.append(Year(year, month, network, points))
    return years


def _network_row(y: Year) -> list[str]:
    n = y.network
    return [
        str(y.year),
        n["basis_start"].date().isoformat(),
        n["basis_end"].date().isoformat(),
        text_cell(y.complete),
        text_cell(n["ports"]),
        text_cell(n["ports_assessed"]),
        text_cell(n["ports_passed"]),
        text_cell(n["uptime_pct"]),
        text_cell(n["target_pct"], 0),
        text_cell(n["passed"]),
        text_cell(n["coverage_pct"], 2),
        n["no_verdict_reason"] or "",
    ]


def _point_rows(y: Year) -> list[list[str]]:
    return [
        [
            str(y.year),
            p["port_id"] or "",
            p["station_id"] or "",
            p["location_id"] or "",
            text_cell(p["uptime_pct"]),
            text_cell(p["t_outage_min"]),
            text_cell(p["t_excluded_min"]),
            text_cell(p["denominator_min"]),
            text_cell(p["coverage_pct"], 2),
            p["no_verdict_reason"] or "",
        ]
        for p in y.points
    ]


def distribution(points: Sequence[dict[str, Any]]) -> list[tuple[str, int, float]]:
    """(band, points, share %) of every band, `NO_FIGURE` last."""
    counts = {band.label: 0 for band in BANDS} | {NO_FIGURE: 0}
    for p in points:
        counts[_band(p["uptime_pct"])] += 1
    total = len(points) or 1
    return [(label, count, 100.0 * count / total) for label, count in counts.items()]


def summary(y: Year) -> str:
    """The reg. 7(6) statement for the operator's website (Markdown)."""
    n = y.network
    span = "calendar year" if y.complete else f"year to date (to the end of {y.month})"
    if n["passed"] is None:
        verdict = f"No verdict can be given: {n['no_verdict_reason'] or 'no figure'}."
    elif n["passed"]:
        verdict = "The network met the reliability requirement."
    else:
        verdict = "The network did not meet the reliability requirement."
    figure = "no figure" if n["uptime_pct"] is None else f"{n['uptime_pct']:.2f} %"
    lines = [
        f"# Reliability of our rapid charge point network, {y.year}",
        "",
        f"Over the {span} {n['basis_start'].date()} to {n['basis_end'].date()} (end exclusive), "
        f"our network of {n['ports']} rapid charge points (EVSEs) was, on average, reliable "
        f"for {figure} of the time. The Public Charge Point Regulations 2023, regulation 7(2), "
        "require 99 % during each calendar year. " + verdict,
        "",
        "A charge point counts as reliable while its status is available, charging or reserved, "
        "or unknown or blocked (ineligible for measurement, reg. 7(3)), and as not reliable while "
        "it is inoperative or out of order (reg. 7(4)).",
        "",
        "| reliability of a charge point | charge points | share |",
        "| --- | ---: | ---: |",
        *(f"| {band} | {count} | {share:.1f} % |" for band, count, share in distribution(y.points)),
        "",
    ]
    return "\n".join(lines)


def _text_writer(text: str) -> Callable[[Path], object]:
    return lambda tmp: tmp.write_text(text, encoding="utf-8")


def export_uk_pcpr(result: ReliabilityResult, directory: str | os.PathLike[str]) -> list[Path]:
    """Write the files of every calendar year of the report months (module docstring) in
    `directory`, each atomically; returns the paths."""
    check_export(result.rule.standard.value)
    target = export_directory(directory)
    paths: list[Path] = []
    for y in years_of(result):
        stem = target / f"uk_pcpr_{y.year}"
        files = {
            Path(f"{stem}_network.csv"): (NETWORK_HEADER, [_network_row(y)]),
            Path(f"{stem}_points.csv"): (POINTS_HEADER, _point_rows(y)),
            Path(f"{stem}_distribution.csv"): (
                DISTRIBUTION_HEADER,
                [[str(y.year), b, str(c), f"{s:.1f}"] for b, c, s in distribution(y.points)],
            ),
        }
        for path, (header, rows) in files.items():
            write_csv_rows(path, header, rows, "export")
            paths.append(path)
        path = Path(f"{stem}_summary.md")
        write_file(path, _text_writer(summary(y)), "export")
        paths.append(path)
    return paths
