"""The table of every OCPP 1.6-J action fleetsim speaks: 28 of OCPP 1.6 and 11 of
the security whitepaper.  Dispatch goes through this table, never through
handler names looked up at run time."""

from __future__ import annotations

from enum import StrEnum

import msgspec

from fleetsim.ocpp.base import ActionSpec, FeatureProfile, Initiator, Payload
from fleetsim.ocpp.payloads import (
    core,
    firmware,
    local_auth,
    remote_trigger,
    reservation,
    security,
    smart_charging,
)


class Action(StrEnum):
    # Core (OCPP 1.6 §4 and §5)
    AUTHORIZE = "Authorize"
    BOOT_NOTIFICATION = "BootNotification"
    CHANGE_AVAILABILITY = "ChangeAvailability"
    CHANGE_CONFIGURATION = "ChangeConfiguration"
    CLEAR_CACHE = "ClearCache"
    DATA_TRANSFER = "DataTransfer"
    GET_CONFIGURATION = "GetConfiguration"
    HEARTBEAT = "Heartbeat"
    METER_VALUES = "MeterValues"
    REMOTE_START_TRANSACTION = "RemoteStartTransaction"
    REMOTE_STOP_TRANSACTION = "RemoteStopTransaction"
    RESET = "Reset"
    START_TRANSACTION = "StartTransaction"
    STATUS_NOTIFICATION = "StatusNotification"
    STOP_TRANSACTION = "StopTransaction"
    UNLOCK_CONNECTOR = "UnlockConnector"
    # Firmware Management
    DIAGNOSTICS_STATUS_NOTIFICATION = "DiagnosticsStatusNotification"
    FIRMWARE_STATUS_NOTIFICATION = "FirmwareStatusNotification"
    GET_DIAGNOSTICS = "GetDiagnostics"
    UPDATE_FIRMWARE = "UpdateFirmware"
    # Local Auth List Management
    GET_LOCAL_LIST_VERSION = "GetLocalListVersion"
    SEND_LOCAL_LIST = "SendLocalList"
    # Reservation
    CANCEL_RESERVATION = "CancelReservation"
    RESERVE_NOW = "ReserveNow"
    # Smart Charging
    CLEAR_CHARGING_PROFILE = "ClearChargingProfile"
    GET_COMPOSITE_SCHEDULE = "GetCompositeSchedule"
    SET_CHARGING_PROFILE = "SetChargingProfile"
    # Remote Trigger
    TRIGGER_MESSAGE = "TriggerMessage"
    # Security whitepaper (OCPP 1.6-J, edition 3)
    CERTIFICATE_SIGNED = "CertificateSigned"
    DELETE_CERTIFICATE = "DeleteCertificate"
    EXTENDED_TRIGGER_MESSAGE = "ExtendedTriggerMessage"
    GET_INSTALLED_CERTIFICATE_IDS = "GetInstalledCertificateIds"
    GET_LOG = "GetLog"
    INSTALL_CERTIFICATE = "InstallCertificate"
    LOG_STATUS_NOTIFICATION = "LogStatusNotification"
    SECURITY_EVENT_NOTIFICATION = "SecurityEventNotification"
    SIGN_CERTIFICATE = "SignCertificate"
    SIGNED_FIRMWARE_STATUS_NOTIFICATION = "SignedFirmwareStatusNotification"
    SIGNED_UPDATE_FIRMWARE = "SignedUpdateFirmware"


def _build_table() -> dict[str, ActionSpec]:
    table: dict[str, ActionSpec] = {}
    for module in (core, firmware, local_auth, reservation, smart_charging, remote_trigger, security):
        for entry in module.SPECS:
            if entry.action in table:
                raise RuntimeError(f"action {entry.action} defined twice")
            table[entry.action] = entry
    missing = {a.value for a in Action} - table.keys()
    extra = table.keys() - {a.value for a in Action}
    if missing or extra:
        raise RuntimeError(f"action table mismatch: missing {sorted(missing)}, extra {sorted(extra)}")
    return table


ACTIONS: dict[str, ActionSpec] = _build_table()
"""Every action by its wire name (an :class:`Action` is a ``str`` and works as a key)."""

ACTION_OF_REQUEST: dict[type[Payload], Action] = {s.request: Action(s.action) for s in ACTIONS.values()}
ACTION_OF_CONFIRMATION: dict[type[Payload], Action] = {
    s.confirmation: Action(s.action) for s in ACTIONS.values()
}

REQUEST_DECODERS: dict[str, msgspec.json.Decoder] = {
    name: msgspec.json.Decoder(s.request) for name, s in ACTIONS.items()
}
CONFIRMATION_DECODERS: dict[str, msgspec.json.Decoder] = {
    name: msgspec.json.Decoder(s.confirmation) for name, s in ACTIONS.items()
}

__all__ = [
    "ACTIONS",
    "ACTION_OF_CONFIRMATION",
    "ACTION_OF_REQUEST",
    "Action",
    "ActionSpec",
    "FeatureProfile",
    "Initiator",
]
