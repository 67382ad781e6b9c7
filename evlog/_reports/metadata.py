"""metadata: the stations and ports the feeds describe (eDRV vendor, model, firmware, connector
type, format and power; HERE location), latest or as a history of changes.

The table behind it is `entity_metadata` (docs/lake.md, "Metadata"); the same latest values are
what the reports' `--rapid`, `--vendor`, `--model` and `--firmware` filter by.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from evlog._errors import UsageError
from evlog._replay.runner import EntityKind
from evlog._reports._report import (
    METADATA_FILTERS,
    RAPID_KW,
    Option,
    Report,
    Values,
    metadata_filtered,
    metadata_params,
)
from evlog._window import Period

if TYPE_CHECKING:
    from evlog._replay.engine import EngineBase

ENTITY_KINDS = ("station", "port")


def _kind(value: str | None, flag: str) -> str | None:
    if value is None or value in ENTITY_KINDS:
        return value
    raise UsageError(f"{flag}: expected one of {'|'.join(ENTITY_KINDS)}, got {value!r}")


KIND = Option(
    "kind",
    "--kind",
    str | None,
    None,
    "Only stations or only ports.",
    choices=ENTITY_KINDS,
    parse=_kind,
    show_default=False,
)
HISTORY = Option(
    "history",
    "--history",
    bool,
    False,
    "One row per run of the same values (a firmware update starts a new row), not the latest.",
)


def _metadata(report: Report, engine: EngineBase[Any], values: Values) -> Any:
    window = engine.window(
        EntityKind.EVSE, values["start"], values["end"], Period.NONE, values["tz"]
    )
    return engine.relation(
        EntityKind.EVSE,
        "metadata",
        window,
        listed_kind=values["kind"] or "",
        history=values["history"],
        metadata_filtered=metadata_filtered(values),
        **metadata_params(values),
    )


REPORT = Report(
    name="metadata",
    entity="station or port (--history: run of the same values)",
    summary="The stations and ports the feeds describe: eDRV vendor, model, firmware, protocol, "
    "connector type, format and power, and the location.",
    details="As described before --end (default: the lake's end; --start is not used). Ports "
    "are eDRV connectors and HERE EVSEs (which carry only their location); each field is the "
    "latest value a record carried. `rapid` is power_kw >= "
    f"{RAPID_KW:g} (empty when the power is unknown).",
    columns=(
        "entity_kind",
        "entity_id",
        "station_id",
        "location_id",
        "vendor",
        "model",
        "firmware",
        "serial_number",
        "protocol",
        "connector_type",
        "connector_format",
        "power_kw",
        "rapid",
        "power_type",
        "first_seen",
        "last_seen",
        "observations",
    ),
    run=_metadata,
    options=(KIND, *METADATA_FILTERS, HISTORY),
    default_by=None,
    title="metadata",
)
