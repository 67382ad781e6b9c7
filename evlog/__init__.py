"""evlog: record EV charging network feeds into a Parquet lake and replay them with DuckDB.

This module is the public API: what `__all__` names. Everything else lives in private modules
(`evlog._*`) that may change between releases.

The names are imported when first used (PEP 562), so that `import evlog` (and the `evlog`
command, whose package this is) loads neither DuckDB, Polars and pyarrow nor the package metadata
before they are needed; type checkers read the imports below.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    from evlog._progress import ProgressStep
    from evlog._reports import plots
    from evlog._reports.cec import export_cec
    from evlog._reports.ev_chart import ev_chart_dashboard, export_ev_chart
    from evlog._reports.reliability import export_charging_use_spec
    from evlog._reports.uk_pcpr import export_uk_pcpr
    from evlog._time import parse_duration, parse_instant, parse_window
    from evlog._version import __version__

#: where each public name is defined (`evlog.plots` is a module: the figures of every report)
_DEFINED_IN = {
    "EvlogLake": "evlog._api",
    "open_lake": "evlog._api",
    "record_stream": "evlog._api",
    "record_webhook_files": "evlog._api",
    **dict.fromkeys(
        (
            "EvlogError",
            "ExportError",
            "InputError",
            "LakeError",
            "LakeNotFoundError",
            "OutputError",
            "RecordError",
            "UsageError",
        ),
        "evlog._errors",
    ),
    "Lake": "evlog._lake.layout",
    "ProgressStep": "evlog._progress",
    "ev_chart_dashboard": "evlog._reports.ev_chart",
    "export_ev_chart": "evlog._reports.ev_chart",
    "export_cec": "evlog._reports.cec",
    "export_charging_use_spec": "evlog._reports.reliability",
    "export_uk_pcpr": "evlog._reports.uk_pcpr",
    "parse_duration": "evlog._time",
    "parse_instant": "evlog._time",
    "parse_window": "evlog._time",
    "__version__": "evlog._version",  # read from the installed package's metadata
}

__all__ = [
    "EvlogError",
    "EvlogLake",
    "ExportError",
    "InputError",
    "Lake",
    "LakeError",
    "LakeNotFoundError",
    "OutputError",
    "ProgressStep",
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
    if name == "plots":
        return importlib.import_module("evlog._reports.plots")
    if name not in _DEFINED_IN:
        raise AttributeError(f"module 'evlog' has no attribute {name!r}")
    value = getattr(importlib.import_module(_DEFINED_IN[name]), name)
    globals()[name] = value  # once imported, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
