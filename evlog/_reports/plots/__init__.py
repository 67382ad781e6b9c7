"""Pictures of the reports (matplotlib, no display needed): `--plot FILE.png|svg` and notebooks.

Each plot is a pair: `<plot>_figure(frame, ...)` builds a `matplotlib.figure.Figure` (show it in a
notebook, tweak it, or read back what it draws), `plot_<plot>(frame, path, ...)` writes it. The
file type follows the suffix of `path`: `.png` or `.svg`, anything else is a `UsageError` naming
`--plot`. No pyplot and no global backend: figures are drawn on their own Agg canvas, so importing
this package changes nothing for a notebook's inline backend.

Plots, and the report frame each one reads (`evlog.open_lake(...).<report>(...)`):

| plot                    | input                                 | what it shows                  |
|-------------------------|---------------------------------------|--------------------------------|
| `timeline_figure`       | `intervals`                           | state bands per entity,        |
|                         |                                       | outages, flapping episodes     |
| `uptime_heatmap_figure` | `uptime` (any `by`, `day` the norm)   | stations x periods, uptime_pct |
| `flap_ranking_figure`   | `flaps`                               | worst flappers: disconnects,   |
|                         |                                       | time flapping                  |
| `hour_of_week_figure`   | `availability` by hour (or location   | mean AVAILABLE and CHARGING    |
|                         | roll-up by hour), or `intervals`      | share per hour of week         |
| `status_share_figure`   | `availability` by day/week/month      | network share per status and   |
|                         |                                       | period (stacked bars)          |
| `heatmap_figure`        | any frame with entity, period and a   | the general heat map behind    |
|                         | percentage column                     | the uptime one                 |
| `reliability_figure`    | `reliability`                         | ports of the last month        |
|                         |                                       | against the target             |

`plot_report(report, frame, path)` is the one call the CLI makes for `--plot FILE` (it writes
`report_figure(report, frame)`):

    availability  -> hour-of-week profile when the periods are an hour or shorter, else the
                     status share per period (per-location roll-up: heat map of available_pct)
    uptime        -> daily uptime heat map
    flaps         -> worst-flapper ranking
    intervals     -> state timeline

Every time axis is labelled with its time zone: the zone of the frame's timestamps (the report's
`--tz`), unless `tz=` says otherwise. Colours come from the Okabe-Ito palette, which stays
distinguishable with the common colour-vision deficiencies; the same state always has the same
colour in every plot.

One private module per figure family (`_timeline`, `_heatmap`, `_flap_ranking`, `_hour_of_week`,
`_status_share`, `_reliability`, and `_by_report` for the dispatch); they share the canvas and
file handling of `_figure`, the time axes of `_time` and the colours of `_palette`. Import from
`evlog._reports.plots` only.
"""

from evlog._reports.plots._by_report import REPORT_PLOTS, plot_report, report_figure
from evlog._reports.plots._figure import DPI, PLOT_SUFFIXES, check_plot_path, save_figure
from evlog._reports.plots._flap_ranking import flap_ranking_figure, flap_totals, plot_flap_ranking
from evlog._reports.plots._heatmap import heatmap_figure, plot_uptime_heatmap, uptime_heatmap_figure
from evlog._reports.plots._hour_of_week import (
    WEEKDAYS,
    hour_of_week_figure,
    hour_of_week_profile,
    plot_hour_of_week,
)
from evlog._reports.plots._palette import (
    BAD_STATES,
    NO_DATA_GREY,
    NOT_OBSERVED,
    OKABE_ITO,
    OTHER_STATE_COLOUR,
    STATE_COLOURS,
    STATE_LABELS,
    UNKNOWN_GREY,
)
from evlog._reports.plots._reliability import plot_reliability, reliability_figure
from evlog._reports.plots._status_share import STATUS_ORDER, plot_status_share, status_share_figure
from evlog._reports.plots._summary import plot_summary, summary_figure
from evlog._reports.plots._time import frame_zone
from evlog._reports.plots._timeline import (
    Episode,
    flapping_episodes,
    merge_adjacent,
    plot_timeline,
    rank_entities,
    timeline_figure,
)

__all__ = [
    "BAD_STATES",
    "DPI",
    "NOT_OBSERVED",
    "NO_DATA_GREY",
    "OKABE_ITO",
    "OTHER_STATE_COLOUR",
    "PLOT_SUFFIXES",
    "REPORT_PLOTS",
    "STATE_COLOURS",
    "STATE_LABELS",
    "STATUS_ORDER",
    "UNKNOWN_GREY",
    "WEEKDAYS",
    "Episode",
    "check_plot_path",
    "flap_ranking_figure",
    "flap_totals",
    "flapping_episodes",
    "frame_zone",
    "heatmap_figure",
    "hour_of_week_figure",
    "hour_of_week_profile",
    "merge_adjacent",
    "plot_flap_ranking",
    "plot_hour_of_week",
    "plot_reliability",
    "plot_report",
    "plot_status_share",
    "plot_summary",
    "plot_timeline",
    "plot_uptime_heatmap",
    "rank_entities",
    "reliability_figure",
    "report_figure",
    "save_figure",
    "status_share_figure",
    "summary_figure",
    "timeline_figure",
    "uptime_heatmap_figure",
]
