"""Payloads of the Smart Charging profile (OCPP 1.6 §5; fields in §6)."""

from __future__ import annotations

from fleetsim.ocpp.base import ActionSpec, DateTime, FeatureProfile, Initiator, Payload, spec
from fleetsim.ocpp.datatypes import ChargingProfile, ChargingSchedule
from fleetsim.ocpp.enums import (
    ChargingProfilePurposeType,
    ChargingProfileStatus,
    ChargingRateUnitType,
    ClearChargingProfileStatus,
    GetCompositeScheduleStatus,
)


class ClearChargingProfileReq(Payload):
    """OCPP 1.6 §6.13.  Every field narrows the selection; none clears all
    profiles.  ``id`` is a chargingProfileId."""

    id: int | None = None
    connector_id: int | None = None
    charging_profile_purpose: ChargingProfilePurposeType | None = None
    stack_level: int | None = None


class ClearChargingProfileConf(Payload):
    """OCPP 1.6 §6.14."""

    status: ClearChargingProfileStatus


class GetCompositeScheduleReq(Payload):
    """OCPP 1.6 §6.21.  ``duration`` is in seconds."""

    connector_id: int
    duration: int
    charging_rate_unit: ChargingRateUnitType | None = None


class GetCompositeScheduleConf(Payload):
    """OCPP 1.6 §6.22.  The schedule fields are set only when Accepted."""

    status: GetCompositeScheduleStatus
    connector_id: int | None = None
    schedule_start: DateTime | None = None
    charging_schedule: ChargingSchedule | None = None


class SetChargingProfileReq(Payload):
    """OCPP 1.6 §6.43.  The wire name of the profile is csChargingProfiles
    (plural), although it holds one profile."""

    connector_id: int
    cs_charging_profiles: ChargingProfile


class SetChargingProfileConf(Payload):
    """OCPP 1.6 §6.44."""

    status: ChargingProfileStatus


SPECS: tuple[ActionSpec, ...] = (
    spec(
        "ClearChargingProfile",
        ClearChargingProfileReq,
        ClearChargingProfileConf,
        Initiator.CENTRAL_SYSTEM,
        FeatureProfile.SMART_CHARGING,
    ),
    spec(
        "GetCompositeSchedule",
        GetCompositeScheduleReq,
        GetCompositeScheduleConf,
        Initiator.CENTRAL_SYSTEM,
        FeatureProfile.SMART_CHARGING,
    ),
    spec(
        "SetChargingProfile",
        SetChargingProfileReq,
        SetChargingProfileConf,
        Initiator.CENTRAL_SYSTEM,
        FeatureProfile.SMART_CHARGING,
    ),
)
