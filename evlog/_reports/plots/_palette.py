"""The colours of every plot: each state has its colour, the same in every figure."""

from __future__ import annotations

from typing import Any

import numpy as np

# Okabe & Ito (2008), "Color Universal Design": safe for deuteranopia, protanopia, tritanopia.
OKABE_ITO = {
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
    "black": "#000000",
}
NO_DATA_GREY = "#D9D9D9"
UNKNOWN_GREY = "#8C8C8C"

STATE_COLOURS: dict[str, str] = {
    "AVAILABLE": OKABE_ITO["bluish_green"],
    "CHARGING": OKABE_ITO["blue"],
    "RESERVED": OKABE_ITO["sky_blue"],
    "BLOCKED": OKABE_ITO["orange"],
    "OUT_OF_ORDER": OKABE_ITO["vermillion"],
    "INOPERATIVE": OKABE_ITO["reddish_purple"],
    "PLANNED": OKABE_ITO["yellow"],
    "REMOVED": OKABE_ITO["black"],
    "UNKNOWN": UNKNOWN_GREY,
    # Stations' connectivity apart from EVSE statuses (Tol's muted green and wine), so that a
    # timeline of both never shows `online` as AVAILABLE or `offline` as OUT_OF_ORDER.
    "online": "#117733",
    "offline": "#882255",
    "no_data": NO_DATA_GREY,
    "unobserved": "#FFFFFF",  # drawn hatched: the recorder was not listening
}
STATE_LABELS: dict[str, str] = {
    "no_data": "no data (before first event / after a gap)",
    "unobserved": "unobserved (recorder not listening)",
}
OTHER_STATE_COLOUR = "#BBBBBB"
# Time in these states makes an entity "interesting" for the timeline's selection.
BAD_STATES = frozenset({"offline", "OUT_OF_ORDER", "INOPERATIVE", "UNKNOWN", "BLOCKED"})
NOT_OBSERVED = frozenset({"no_data", "unobserved"})


def band_colours(bands: int) -> list[Any]:
    """`bands` colours of viridis, evenly apart (perceptually uniform, safe for colour blindness):
    one per band of a banded colour scale."""
    from matplotlib import colormaps

    return list(colormaps["viridis"](np.linspace(0, 1, bands)))
