"""CSMS calls of the feature profiles beyond Core: Smart Charging, Local Auth
List Management, Reservation, Firmware Management and the security whitepaper.
Each module offers ``HANDLERS`` (request type → handler); this package merges
them and offers the hooks the Core needs (a charging profile with a
RemoteStartTransaction, triggered messages of other profiles, and the moments
of a station's life the features react to).

Whether a model supports a profile is checked once, by the dispatcher
(:func:`fleetsim.station.handlers.handle`); the hooks are cheap no-ops for a
station that never used the feature (its state in ``station.features`` does
not exist), but for the security log every station of a security model keeps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fleetsim.station.features import firmware, local_auth, reservation, security, smart_charging

if TYPE_CHECKING:
    from fleetsim.ocpp.datatypes import ChargingProfile
    from fleetsim.ocpp.enums import Reason
    from fleetsim.station.connector import Connector
    from fleetsim.station.ports import FeaturePort


def _merged(*tables: dict[type, Callable[..., Any]]) -> dict[type, Callable[..., Any]]:
    merged: dict[type, Callable[..., Any]] = {}
    for table in tables:
        if merged.keys() & table.keys():
            raise RuntimeError(f"handlers defined twice: {merged.keys() & table.keys()}")
        merged.update(table)
    return merged


HANDLERS: dict[type, Callable[..., Any]] = _merged(
    smart_charging.HANDLERS, local_auth.HANDLERS, reservation.HANDLERS, firmware.HANDLERS, security.HANDLERS,
)


def accept_remote_start_profile(station: FeaturePort, connector: Connector, profile: ChargingProfile,
                                now_s: float) -> bool:
    """A RemoteStartTransaction carrying a TxProfile (OCPP 1.6 §5.11)."""
    return smart_charging.accept_remote_start_profile(station, connector, profile, now_s)


def can_trigger(station: FeaturePort, requested: str) -> bool:
    return firmware.can_trigger(station, requested)


def trigger(station: FeaturePort, action: str, connector_id: int | None, now_s: float) -> None:
    if not firmware.can_trigger(station, action):
        raise AssertionError(f"no feature sends {action}")
    firmware.trigger(station, action, now_s)


# ------------------------------------------------------------------ the station's life


def on_transaction_started(station: FeaturePort, connector: Connector, now_s: float) -> None:
    """The transaction is on the connector; its StartTransaction is not yet queued."""
    smart_charging.on_transaction_started(station, connector, now_s)


def on_transaction_stopped(station: FeaturePort, connector: Connector, now_s: float) -> None:
    """The connector's transaction has just ended."""
    smart_charging.on_transaction_stopped(station, connector, now_s)
    firmware.on_transaction_stopped(station, now_s)


def on_reboot(station: FeaturePort, reason: Reason, now_s: float) -> None:
    security.on_reboot(station, reason, now_s)


def on_boot_accepted(station: FeaturePort, now_s: float) -> None:
    """A BootNotification was accepted (after the StatusNotifications it causes are queued)."""
    installed = firmware.on_boot_accepted(station, now_s)
    security.on_boot_accepted(station, now_s, installed)


def on_configuration_changed(station: FeaturePort, key: str, now_s: float) -> None:
    security.on_configuration_changed(station, key, now_s)


def reserved_for_other(station: FeaturePort, connector: Connector, id_tag: str) -> bool:
    """Whether a reservation keeps ``id_tag`` from charging at ``connector`` (§5.13)."""
    return reservation.reserved_for_other(station, connector, id_tag)


def use_reservation(station: FeaturePort, connector: Connector, id_tag: str, now_s: float) -> int | None:
    """The reservation a transaction of ``id_tag`` starting on ``connector`` uses up, if any."""
    return reservation.use_reservation(station, connector, id_tag, now_s)
