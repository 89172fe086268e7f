"""Payloads of the Core profile (OCPP 1.6 §4 and §5; fields in §6).

Authorize, BootNotification, Heartbeat, MeterValues, StartTransaction,
StatusNotification and StopTransaction are the hot path of a load run: keep
them plain Structs, with no validation beyond their annotations.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from fleetsim.ocpp.base import (
    ActionSpec,
    CiString20,
    CiString25,
    CiString50,
    CiString255,
    CiString500,
    DateTime,
    FeatureProfile,
    IdToken,
    Initiator,
    Payload,
    spec,
)
from fleetsim.ocpp.datatypes import ChargingProfile, IdTagInfo, KeyValue, MeterValue, TransactionData
from fleetsim.ocpp.enums import (
    AvailabilityStatus,
    AvailabilityType,
    ChargePointErrorCode,
    ChargePointStatus,
    ClearCacheStatus,
    ConfigurationStatus,
    DataTransferStatus,
    Reason,
    RegistrationStatus,
    RemoteStartStopStatus,
    ResetStatus,
    ResetType,
    UnlockStatus,
)


class AuthorizeReq(Payload):
    """OCPP 1.6 §6.1."""

    id_tag: IdToken


class AuthorizeConf(Payload):
    """OCPP 1.6 §6.2."""

    id_tag_info: IdTagInfo


class BootNotificationReq(Payload):
    """OCPP 1.6 §6.3.  ``charge_box_serial_number`` is deprecated in favour of
    ``charge_point_serial_number`` but still on the wire."""

    charge_point_vendor: CiString20
    charge_point_model: CiString20
    charge_point_serial_number: CiString25 | None = None
    charge_box_serial_number: CiString25 | None = None
    firmware_version: CiString50 | None = None
    iccid: CiString20 | None = None
    imsi: CiString20 | None = None
    meter_type: CiString25 | None = None
    meter_serial_number: CiString25 | None = None


class BootNotificationConf(Payload):
    """OCPP 1.6 §6.4.  ``interval`` is in seconds: the heartbeat interval when
    Accepted, else the wait before the next BootNotification.req."""

    status: RegistrationStatus
    current_time: DateTime
    interval: int


class ChangeAvailabilityReq(Payload):
    """OCPP 1.6 §6.7.  Connector 0 is the whole Charge Point."""

    connector_id: int
    type: AvailabilityType


class ChangeAvailabilityConf(Payload):
    """OCPP 1.6 §6.8."""

    status: AvailabilityStatus


class ChangeConfigurationReq(Payload):
    """OCPP 1.6 §6.9."""

    key: CiString50
    value: CiString500


class ChangeConfigurationConf(Payload):
    """OCPP 1.6 §6.10."""

    status: ConfigurationStatus


class ClearCacheReq(Payload):
    """OCPP 1.6 §6.11: no fields."""


class ClearCacheConf(Payload):
    """OCPP 1.6 §6.12."""

    status: ClearCacheStatus


class DataTransferReq(Payload):
    """OCPP 1.6 §6.15.  ``data`` is free text; its meaning is vendor-defined."""

    vendor_id: CiString255
    message_id: CiString50 | None = None
    data: str | None = None


class DataTransferConf(Payload):
    """OCPP 1.6 §6.16."""

    status: DataTransferStatus
    data: str | None = None


class GetConfigurationReq(Payload):
    """OCPP 1.6 §6.23.  No ``key`` means all keys."""

    key: list[CiString50] | None = None


class GetConfigurationConf(Payload):
    """OCPP 1.6 §6.24."""

    configuration_key: list[KeyValue] | None = None
    unknown_key: list[CiString50] | None = None


class HeartbeatReq(Payload):
    """OCPP 1.6 §6.29: no fields."""


class HeartbeatConf(Payload):
    """OCPP 1.6 §6.30."""

    current_time: DateTime


class MeterValuesReq(Payload):
    """OCPP 1.6 §6.31."""

    connector_id: int
    transaction_id: int | None = None
    meter_value: Annotated[list[MeterValue], msgspec.Meta(min_length=1)]


class MeterValuesConf(Payload):
    """OCPP 1.6 §6.32: no fields."""


class RemoteStartTransactionReq(Payload):
    """OCPP 1.6 §6.33.  A charging profile given here must be a TxProfile."""

    connector_id: int | None = None
    id_tag: IdToken
    charging_profile: ChargingProfile | None = None


class RemoteStartTransactionConf(Payload):
    """OCPP 1.6 §6.34."""

    status: RemoteStartStopStatus


class RemoteStopTransactionReq(Payload):
    """OCPP 1.6 §6.35."""

    transaction_id: int


class RemoteStopTransactionConf(Payload):
    """OCPP 1.6 §6.36."""

    status: RemoteStartStopStatus


class ResetReq(Payload):
    """OCPP 1.6 §6.39."""

    type: ResetType


class ResetConf(Payload):
    """OCPP 1.6 §6.40."""

    status: ResetStatus


class StartTransactionReq(Payload):
    """OCPP 1.6 §6.45.  ``meter_start`` is in Wh."""

    connector_id: int
    id_tag: IdToken
    meter_start: int
    reservation_id: int | None = None
    timestamp: DateTime


class StartTransactionConf(Payload):
    """OCPP 1.6 §6.46."""

    id_tag_info: IdTagInfo
    transaction_id: int


class StatusNotificationReq(Payload):
    """OCPP 1.6 §6.47."""

    connector_id: int
    error_code: ChargePointErrorCode
    info: CiString50 | None = None
    status: ChargePointStatus
    timestamp: DateTime | None = None
    vendor_id: CiString255 | None = None
    vendor_error_code: CiString50 | None = None


class StatusNotificationConf(Payload):
    """OCPP 1.6 §6.48: no fields."""


class StopTransactionReq(Payload):
    """OCPP 1.6 §6.49.  ``meter_stop`` is in Wh; an absent ``reason`` means Local."""

    id_tag: IdToken | None = None
    meter_stop: int
    timestamp: DateTime
    transaction_id: int
    reason: Reason | None = None
    transaction_data: list[TransactionData] | None = None


class StopTransactionConf(Payload):
    """OCPP 1.6 §6.50.  ``id_tag_info`` is present when the request had an idTag."""

    id_tag_info: IdTagInfo | None = None


class UnlockConnectorReq(Payload):
    """OCPP 1.6 §6.53."""

    connector_id: int


class UnlockConnectorConf(Payload):
    """OCPP 1.6 §6.54."""

    status: UnlockStatus


SPECS: tuple[ActionSpec, ...] = (
    spec("Authorize", AuthorizeReq, AuthorizeConf, Initiator.CHARGE_POINT, FeatureProfile.CORE),
    spec(
        "BootNotification",
        BootNotificationReq,
        BootNotificationConf,
        Initiator.CHARGE_POINT,
        FeatureProfile.CORE,
    ),
    spec(
        "ChangeAvailability",
        ChangeAvailabilityReq,
        ChangeAvailabilityConf,
        Initiator.CENTRAL_SYSTEM,
        FeatureProfile.CORE,
    ),
    spec(
        "ChangeConfiguration",
        ChangeConfigurationReq,
        ChangeConfigurationConf,
        Initiator.CENTRAL_SYSTEM,
        FeatureProfile.CORE,
    ),
    spec("ClearCache", ClearCacheReq, ClearCacheConf, Initiator.CENTRAL_SYSTEM, FeatureProfile.CORE),
    spec("DataTransfer", DataTransferReq, DataTransferConf, Initiator.EITHER, FeatureProfile.CORE),
    spec(
        "GetConfiguration",
        GetConfigurationReq,
        GetConfigurationConf,
        Initiator.CENTRAL_SYSTEM,
        FeatureProfile.CORE,
    ),
    spec("Heartbeat", HeartbeatReq, HeartbeatConf, Initiator.CHARGE_POINT, FeatureProfile.CORE),
    spec("MeterValues", MeterValuesReq, MeterValuesConf, Initiator.CHARGE_POINT, FeatureProfile.CORE),
    spec(
        "RemoteStartTransaction",
        RemoteStartTransactionReq,
        RemoteStartTransactionConf,
        Initiator.CENTRAL_SYSTEM,
        FeatureProfile.CORE,
    ),
    spec(
        "RemoteStopTransaction",
        RemoteStopTransactionReq,
        RemoteStopTransactionConf,
        Initiator.CENTRAL_SYSTEM,
        FeatureProfile.CORE,
    ),
    spec("Reset", ResetReq, ResetConf, Initiator.CENTRAL_SYSTEM, FeatureProfile.CORE),
    spec(
        "StartTransaction",
        StartTransactionReq,
        StartTransactionConf,
        Initiator.CHARGE_POINT,
        FeatureProfile.CORE,
    ),
    spec(
        "StatusNotification",
        StatusNotificationReq,
        StatusNotificationConf,
        Initiator.CHARGE_POINT,
        FeatureProfile.CORE,
    ),
    spec(
        "StopTransaction",
        StopTransactionReq,
        StopTransactionConf,
        Initiator.CHARGE_POINT,
        FeatureProfile.CORE,
    ),
    spec(
        "UnlockConnector",
        UnlockConnectorReq,
        UnlockConnectorConf,
        Initiator.CENTRAL_SYSTEM,
        FeatureProfile.CORE,
    ),
)
