"""Payloads of the Firmware Management profile (OCPP 1.6 §4 and §5; fields in §6)."""

from __future__ import annotations

from fleetsim.ocpp.base import ActionSpec, CiString255, DateTime, FeatureProfile, Initiator, Payload, spec
from fleetsim.ocpp.enums import DiagnosticsStatus, FirmwareStatus


class DiagnosticsStatusNotificationReq(Payload):
    """OCPP 1.6 §6.17."""

    status: DiagnosticsStatus


class DiagnosticsStatusNotificationConf(Payload):
    """OCPP 1.6 §6.18: no fields."""


class FirmwareStatusNotificationReq(Payload):
    """OCPP 1.6 §6.19."""

    status: FirmwareStatus


class FirmwareStatusNotificationConf(Payload):
    """OCPP 1.6 §6.20: no fields."""


class GetDiagnosticsReq(Payload):
    """OCPP 1.6 §6.25.  ``location`` is the URI to upload to; the schema's
    "format": "uri" is not checked.  ``retry_interval`` is in seconds."""

    location: str
    retries: int | None = None
    retry_interval: int | None = None
    start_time: DateTime | None = None
    stop_time: DateTime | None = None


class GetDiagnosticsConf(Payload):
    """OCPP 1.6 §6.26.  No ``file_name`` means no diagnostics are available."""

    file_name: CiString255 | None = None


class UpdateFirmwareReq(Payload):
    """OCPP 1.6 §6.55.  ``location`` is the URI to download from; the schema's
    "format": "uri" is not checked.  ``retry_interval`` is in seconds."""

    location: str
    retries: int | None = None
    retrieve_date: DateTime
    retry_interval: int | None = None


class UpdateFirmwareConf(Payload):
    """OCPP 1.6 §6.56: no fields."""


SPECS: tuple[ActionSpec, ...] = (
    spec(
        "DiagnosticsStatusNotification",
        DiagnosticsStatusNotificationReq,
        DiagnosticsStatusNotificationConf,
        Initiator.CHARGE_POINT,
        FeatureProfile.FIRMWARE_MANAGEMENT,
    ),
    spec(
        "FirmwareStatusNotification",
        FirmwareStatusNotificationReq,
        FirmwareStatusNotificationConf,
        Initiator.CHARGE_POINT,
        FeatureProfile.FIRMWARE_MANAGEMENT,
    ),
    spec(
        "GetDiagnostics",
        GetDiagnosticsReq,
        GetDiagnosticsConf,
        Initiator.CENTRAL_SYSTEM,
        FeatureProfile.FIRMWARE_MANAGEMENT,
    ),
    spec(
        "UpdateFirmware",
        UpdateFirmwareReq,
        UpdateFirmwareConf,
        Initiator.CENTRAL_SYSTEM,
        FeatureProfile.FIRMWARE_MANAGEMENT,
    ),
)
