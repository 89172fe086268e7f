"""CSMS calls of the feature profiles beyond Core: Smart Charging, Local Auth
List Management, Reservation, Firmware Management and the security whitepaper.
Each module offers ``HANDLERS`` (request type → handler); this package merges
them and offers the hooks the Core needs (a charging profile with a
RemoteStartTransaction, triggered messages of other profiles)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fleetsim.ocpp.datatypes import ChargingProfile
    from fleetsim.station.connector import Connector
    from fleetsim.station.station import Station

HANDLERS: dict[type, Any] = {}


def accept_remote_start_profile(station: Station, connector: Connector, profile: ChargingProfile, now_s: float) -> bool:
    """A RemoteStartTransaction carrying a TxProfile (OCPP 1.6 §5.11)."""
    return False


def can_trigger(station: Station, requested: str) -> bool:
    return False


def trigger(station: Station, action: str, connector_id: int | None, now_s: float) -> None:
    raise AssertionError(f"no feature sends {action}")
