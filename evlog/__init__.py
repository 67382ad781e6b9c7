"""evlog: record EV charging network feeds into a Parquet lake and replay them with DuckDB.

This module is the public API: what `__all__` names. Everything else lives in private modules
(`evlog._*`) that may change between releases.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from evlog._api import EvlogLake, open_lake, record_stream, record_webhook_files
from evlog._errors import (
    EvlogError,
    ExportError,
    InputError,
    LakeError,
    LakeNotFoundError,
    OutputError,
    RecordError,
    UsageError,
)
from evlog._lake.layout import Lake
from evlog._reports.cec import export_cec
from evlog._reports.ev_chart import ev_chart_dashboard, export_ev_chart
from evlog._reports.reliability import export_charging_use_spec
from evlog._reports.uk_pcpr import export_uk_pcpr
from evlog._time import parse_duration, parse_instant, parse_window
from evlog._version import __version__

if TYPE_CHECKING:
    from evlog._reports import plots

__all__ = [
    "EvlogError",
    "EvlogLake",
    "ExportError",
    "InputError",
    "Lake",
    "LakeError",
    "LakeNotFoundError",
    "OutputError",
    "RecordError",
    "UsageError",
    "__version__",
    "ev_chart_dashboard",
    "export_cec",
    "export_charging_use_spec",
    "export_ev_chart",
    "export_uk_pcpr",
    "open_lake",
    "parse_duration",
    "parse_instant",
    "parse_window",
    "plots",
    "record_stream",
    "record_webhook_files",
]


def __getattr__(name: str) -> Any:
    # `evlog.plots` (the figures of every report) imports matplotlib: only when first used.
    if name == "plots":
        from evlog._reports import plots

        return plots
    raise AttributeError(f"module 'evlog' has no attribute {name!r}")
