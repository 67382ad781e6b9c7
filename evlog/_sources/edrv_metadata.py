"""What eDRV says about a station and its connectors (the `entity_metadata` table, docs/lake.md
"Metadata"): vendor, model, firmware, serial number and protocol of a Chargestation, and each
connector's type, format, power and power type.

A Chargestation (a webhook's `data`, a poll snapshot's body) carries them as evlog's simulator
writes them (``vendor``, ``model``, ``ocppVersion``) or as eDRV does (``protocol``, and
``bootInfo`` from the station's OCPP BootNotification: ``chargePointVendor``,
``chargePointModel``, ``firmwareVersion``, ``chargePointSerialNumber``); its connectors are read
by `edrv.read_connectors`, the one parser of Connector objects (which the port status events read
too). Nothing here raises: a field missing or of an unexpected type is simply not carried (None),
and whether the record is valid at all is for `evlog._sources.edrv` to say.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from evlog._sources import edrv


class StationMetadata(NamedTuple):
    station_id: str
    location_id: str | None
    vendor: str | None
    model: str | None
    firmware: str | None
    serial_number: str | None
    protocol: str | None
    connectors: tuple[edrv.Connector, ...]  # `edrv.read_connectors`: the one connector parser


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _object_id(value: object) -> str | None:
    """An id given as itself or as a populated object (``{"_id": ...}``)."""
    return _text(value.get("_id") or value.get("id")) if isinstance(value, dict) else _text(value)


def station_metadata(
    station: object, connectors: list[edrv.Connector] | None = None
) -> StationMetadata | None:
    """The metadata of a Chargestation object; None if it is not one (no `_id`). `connectors`:
    its Connector objects if already read (`edrv.EdrvObservations.connectors`)."""
    if not isinstance(station, dict):
        return None
    station_id = _object_id(station)
    if station_id is None:
        return None
    boot = station.get("bootInfo")
    boot = boot if isinstance(boot, dict) else {}
    return StationMetadata(
        station_id,
        _object_id(station.get("location")),
        _text(station.get("vendor")) or _text(boot.get("chargePointVendor")),
        _text(station.get("model")) or _text(boot.get("chargePointModel")),
        _text(station.get("firmwareVersion")) or _text(boot.get("firmwareVersion")),
        _text(boot.get("chargePointSerialNumber")) or _text(boot.get("chargeBoxSerialNumber")),
        _text(station.get("protocol")) or _text(station.get("ocppVersion")),
        tuple(
            edrv.read_connectors(station, station_id).connectors
            if connectors is None
            else connectors
        ),
    )


def webhook_metadata(
    body: dict[str, Any], connectors: list[edrv.Connector] | None = None
) -> StationMetadata | None:
    """The station a decoded webhook body's `data` describes, if any."""
    return station_metadata(body.get("data"), connectors)


def snapshot_metadata(
    body: dict[str, Any], connectors: list[edrv.Connector] | None = None
) -> StationMetadata | None:
    """The station a decoded `GET /chargestations/{id}` body describes (its `result`, or
    itself)."""
    station = body["result"] if isinstance(body.get("result"), dict) else body
    return station_metadata(station, connectors)
