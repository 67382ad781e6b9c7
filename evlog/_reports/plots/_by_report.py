"""The plot of each report, as `--plot FILE` draws it."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import polars as pl
from matplotlib.figure import Figure

from evlog._errors import UsageError
from evlog._reports.plots._figure import check_plot_path, empty_figure, new_figure, save_figure
from evlog._reports.plots._flap_ranking import flap_ranking_figure
from evlog._reports.plots._heatmap import heatmap_figure, uptime_heatmap_figure
from evlog._reports.plots._hour_of_week import hour_of_week_figure
from evlog._reports.plots._status_share import evse_share_figure, status_share_figure
from evlog._reports.plots._timeline import timeline_figure

REPORT_PLOTS: dict[str, str] = {
    "availability": "hour-of-week profile (hourly periods) or status share per period",
    "uptime": "uptime heat map (stations x periods)",
    "flaps": "worst-flapper ranking",
    "intervals": "state timeline",
}


def plot_report(
    report: str,
    frame: pl.DataFrame,
    path: str | os.PathLike[str],
    *,
    tz: str | None = None,
    title: str | None = None,
) -> Path:
    """Draw the picture that suits `report` (its name on the command line) from its frame.

    availability -> hour-of-week profile if the periods are an hour or shorter, else the status
    share per period (with the per-location roll-up: a heat map of available_pct); uptime -> heat
    map; flaps -> worst-flapper ranking; intervals -> state timeline. Returns the path written.
    Raises `UsageError` (naming `--plot`) for a bad suffix or a report without a plot.
    """
    target = check_plot_path(path)
    return save_figure(report_figure(report, frame, tz=tz, title=title), target)


def report_figure(
    report: str, frame: pl.DataFrame, *, tz: str | None = None, title: str | None = None
) -> Figure:
    """The figure `plot_report` writes for `report` and its frame (see there)."""
    name = report.strip().lower()
    if name == "availability":
        return _availability_figure(frame, tz=tz, title=title)
    if name == "uptime":
        return uptime_heatmap_figure(frame, tz=tz, title=title)
    if name == "flaps":
        return flap_ranking_figure(frame, tz=tz, title=title)
    if name == "intervals":
        return timeline_figure(frame, tz=tz, title=title)
    choices = ", ".join(REPORT_PLOTS)
    raise UsageError(f"--plot: no plot for the {report} report (plots exist for {choices})")


def _availability_figure(frame: pl.DataFrame, *, tz: str | None, title: str | None) -> Figure:
    if frame.is_empty():
        return empty_figure(new_figure(10, 3), title or "Availability")
    longest = frame.select((pl.col("period_end") - pl.col("period_start")).max()).item()
    if longest <= timedelta(hours=1):
        return hour_of_week_figure(frame, tz=tz, title=title)
    if "evse_id" not in frame.columns:  # per-location roll-up
        return heatmap_figure(
            frame,
            value="available_pct",
            entity="location_id",
            value_label="time with at least one EVSE AVAILABLE",
            title=title or "Location availability",
            tz=tz,
        )
    if frame.get_column("period_start").n_unique() == 1:  # `--by none`: a bar per EVSE
        return evse_share_figure(frame, title=title)
    return status_share_figure(frame, tz=tz, title=title)
