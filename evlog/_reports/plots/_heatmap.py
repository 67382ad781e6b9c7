"""Heat maps: entities x periods coloured by a percentage column (the `uptime` report's one)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from evlog._reports.plots._figure import (
    check_plot_path,
    empty_figure,
    new_figure,
    save_figure,
    short_id,
    window_text,
)
from evlog._reports.plots._palette import NO_DATA_GREY, UNKNOWN_GREY, band_colours
from evlog._reports.plots._time import as_zone, frame_zone, period_ticks

# The colour bands of a percentage: equal-width colours for unequal bands, finest where the
# rules draw their lines (NEVI 97 %, UK 99 %), so 88 % and 99 % never look alike.
PERCENT_BANDS: tuple[float, ...] = (0, 50, 80, 90, 95, 97, 98, 99, 99.5, 100)
MAX_WIDTH_IN = 16.0  # 1,760 px at the plots' DPI


def heatmap_figure(
    frame: pl.DataFrame,
    *,
    value: str,
    entity: str,
    value_label: str,
    title: str,
    tz: str | None = None,
    max_entities: int = 60,
) -> Figure:
    """Entities x periods coloured by a percentage column; null (no observed time) is grey.

    Rows are sorted worst first (lowest mean); at most `max_entities` rows are drawn.
    """
    zone = frame_zone(frame, "period_start", tz)
    if frame.is_empty():
        return empty_figure(new_figure(10, 3), title)
    frame = as_zone(frame, ["period_start", "period_end"], zone)
    periods = frame.select("period_start", "period_end").unique().sort("period_start")
    order = (
        frame.group_by(entity)
        .agg(mean=pl.col(value).mean(), observed=pl.col(value).is_not_null().any())
        .sort(["observed", "mean", entity], descending=[True, False, False], nulls_last=True)
    )
    total = order.height
    names = order[entity].head(max_entities).to_list()
    grid = np.full((len(names), periods.height), np.nan)
    column_of = {p: i for i, p in enumerate(periods["period_start"].to_list())}
    row_of = {name: i for i, name in enumerate(names)}
    # observed, but no figure: a location whose EVSEs were all UNKNOWN has no available_pct,
    # yet someone was listening; that is not "no data"
    unknown = np.zeros(grid.shape, dtype=bool)
    observed = frame.get_column("observed_s") if "observed_s" in frame.columns else None
    cells = frame.select(entity, "period_start", value).iter_rows()
    for index, (name, start, cell) in enumerate(cells):
        if name not in row_of:
            continue
        if cell is not None:
            grid[row_of[name], column_of[start]] = cell
        elif observed is not None and (observed[index] or 0) > 0:
            unknown[row_of[name], column_of[start]] = True

    # One cell per period up to a page width: an hourly week is 168 narrow cells, not 10,000 px.
    width = min(MAX_WIDTH_IN, max(7.0, 2.6 + 0.55 * periods.height))
    figure = new_figure(width, 1.8 + 0.3 * len(names))
    ax = figure.add_subplot()
    norm = BoundaryNorm(PERCENT_BANDS, len(PERCENT_BANDS) - 1)
    cmap = ListedColormap(band_colours(len(PERCENT_BANDS) - 1)).with_extremes(bad=NO_DATA_GREY)
    image = ax.imshow(
        np.ma.masked_invalid(grid), aspect="auto", cmap=cmap, norm=norm, interpolation="nearest"
    )
    if unknown.any():
        ax.imshow(
            np.ma.masked_where(~unknown, np.ones(grid.shape)),
            aspect="auto",
            cmap=ListedColormap([UNKNOWN_GREY]),
            interpolation="nearest",
        )
    bar = figure.colorbar(image, ax=ax, pad=0.01, ticks=PERCENT_BANDS, spacing="uniform")
    bar.set_label(f"{value_label} (%)")
    if grid.size <= 600 and periods.height <= 31:
        for (r, c), cell in np.ndenumerate(grid):
            if np.isfinite(cell):
                dark = int(norm(cell)) < (len(PERCENT_BANDS) - 1) * 0.55
                ax.text(c, r, f"{cell:.1f}", ha="center", va="center", fontsize=7,
                        color="white" if dark else "black")  # fmt: skip
            else:
                ax.text(c, r, "\u2013", ha="center", va="center", fontsize=7, color="#555555")
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels([short_id(str(n)) for n in names], fontsize=8)
    period_ticks(ax, periods, 16)
    ax.set_xlabel(f"period start ({zone})")
    ax.set_ylabel(entity)
    window = window_text(periods["period_start"].min(), periods["period_end"].max())
    more = f"; worst {len(names)} of {total} shown" if total > len(names) else ""
    ax.set_title(f"{title} — {window} ({zone}){more}", fontsize=11, loc="left")
    figure.legend(
        handles=[
            Patch(facecolor=NO_DATA_GREY, edgecolor="#777777", label="no data (nothing observed)"),
            *(
                [Patch(facecolor=UNKNOWN_GREY, label="observed, status UNKNOWN")]
                if unknown.any()
                else []
            ),
        ],
        loc="outside lower right",
        fontsize=8,
        frameon=False,
    )
    return figure


def uptime_heatmap_figure(
    uptime: pl.DataFrame, *, tz: str | None = None, title: str | None = None, max_entities: int = 60
) -> Figure:
    """Stations x periods (days, normally) coloured by `uptime_pct` (the `uptime` report frame)."""
    return heatmap_figure(
        uptime,
        value="uptime_pct",
        entity="station_id",
        value_label="uptime, online / observed time",
        title=title or "Station uptime",
        tz=tz,
        max_entities=max_entities,
    )


def plot_uptime_heatmap(uptime: pl.DataFrame, path: str | os.PathLike[str], **options: Any) -> Path:
    """Write `uptime_heatmap_figure(uptime, **options)` to `path` (.png or .svg)."""
    check_plot_path(path)
    return save_figure(uptime_heatmap_figure(uptime, **options), path)
