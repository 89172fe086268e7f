"""Requests the CSMS sends of its own accord: one generator per CSMS-initiated
OCPP 1.6 action, pure functions of what the CSMS knows of the charge point, a
seeded ``random.Random`` and the time.

A generator returns ``None`` when the request would make no sense now (no
open transaction to stop, no reservation to cancel); the server counts that as
skipped rather than inventing ids the charge point cannot know.  A traffic
rule's ``payload`` template overrides fields of what the generator made.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final

import msgspec

from fleetsim.csms.central import ChargePointState
from fleetsim.csms.config import CsmsConfig, TrafficRule
from fleetsim.ocpp.actions import Action
from fleetsim.ocpp.base import Payload
from fleetsim.ocpp.datatypes import (
    AuthorizationData,
    ChargingProfile,
    ChargingSchedule,
    ChargingSchedulePeriod,
    IdTagInfo,
)
from fleetsim.ocpp.enums import (
    AuthorizationStatus,
    AvailabilityType,
    ChargingProfileKindType,
    ChargingProfilePurposeType,
    ChargingRateUnitType,
    MessageTrigger,
    ResetType,
    UpdateType,
)
from fleetsim.ocpp.payloads import core, firmware, local_auth, remote_trigger, reservation, security, smart_charging
from fleetsim.ocpp.payloads.security import (
    CertificateHashData,
    CertificateUse,
    ExtendedMessageTrigger,
    Firmware,
    HashAlgorithm,
    LogParameters,
    LogType,
)

_DEFAULT_ID_TAG: Final = "FLEETSIM-REMOTE"
_MAX_LOCAL_LIST: Final = 10
# Placeholders for certificate traffic: well-formed PEM framing around text that
# is no certificate, so a charge point exercises its rejection path unless a
# template supplies a real one.  RFC 2606 reserves ".invalid" for such URLs.
_PEM: Final = "-----BEGIN CERTIFICATE-----\nZmxlZXRzaW0gcGxhY2Vob2xkZXI=\n-----END CERTIFICATE-----\n"
_CONFIGURATION_KEYS: Final = (
    # OCPP 1.6 §9.1 standard keys a load run can change without harm.
    ("MeterValueSampleInterval", ("15", "30", "60")),
    ("ClockAlignedDataInterval", ("0", "900")),
    ("ConnectionTimeOut", ("30", "60")),
    ("LocalAuthorizeOffline", ("true", "false")),
)


class OutboundContext(msgspec.Struct, frozen=True):
    """What the generators know beyond one charge point's state."""

    accepted_id_tags: tuple[str, ...]  # tags the CSMS accepts, for remote starts and local lists
    heartbeat_interval_s: int

    @classmethod
    def from_config(cls, config: CsmsConfig) -> OutboundContext:
        tags = tuple(tag for tag, status in config.id_tags.items() if status is AuthorizationStatus.ACCEPTED)
        return cls(tags, config.heartbeat_interval_s)


Generator = Callable[[ChargePointState, OutboundContext, random.Random, datetime], Payload | None]


def _connector(state: ChargePointState, rng: random.Random) -> int:
    return rng.choice(sorted(state.connector_ids)) if state.connector_ids else 1


def _id_tag(context: OutboundContext, rng: random.Random) -> str:
    return rng.choice(context.accepted_id_tags) if context.accepted_id_tags else _DEFAULT_ID_TAG


def _new_id(rng: random.Random) -> int:
    return rng.randrange(1, 2**31)  # JSON schema "integer"; 31 bits fit every implementation


def _hex(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(digits * 4):0{digits}x}"


# --------------------------------------------------------------- Core


def change_availability(
    state: ChargePointState, context: OutboundContext, rng: random.Random, now: datetime
) -> Payload:
    return core.ChangeAvailabilityReq(connector_id=_connector(state, rng), type=rng.choice(tuple(AvailabilityType)))


def change_configuration(
    state: ChargePointState, context: OutboundContext, rng: random.Random, now: datetime
) -> Payload:
    key, values = rng.choice(_CONFIGURATION_KEYS)
    return core.ChangeConfigurationReq(key=key, value=rng.choice(values))


def clear_cache(state: ChargePointState, context: OutboundContext, rng: random.Random, now: datetime) -> Payload:
    return core.ClearCacheReq()


def data_transfer(state: ChargePointState, context: OutboundContext, rng: random.Random, now: datetime) -> Payload:
    return core.DataTransferReq(vendor_id="org.fleetsim", message_id="Ping")


def get_configuration(state: ChargePointState, context: OutboundContext, rng: random.Random, now: datetime) -> Payload:
    if rng.random() < 0.5:
        return core.GetConfigurationReq()  # no key: all of them (OCPP 1.6 §6.23)
    return core.GetConfigurationReq(key=["HeartbeatInterval", "MeterValueSampleInterval"])


def remote_start_transaction(
    state: ChargePointState, context: OutboundContext, rng: random.Random, now: datetime
) -> Payload:
    return core.RemoteStartTransactionReq(connector_id=_connector(state, rng), id_tag=_id_tag(context, rng))


def remote_stop_transaction(
    state: ChargePointState, context: OutboundContext, rng: random.Random, now: datetime
) -> Payload | None:
    if not state.transactions:
        return None
    return core.RemoteStopTransactionReq(transaction_id=rng.choice(tuple(state.transactions)))


def reset(state: ChargePointState, context: OutboundContext, rng: random.Random, now: datetime) -> Payload:
    return core.ResetReq(type=ResetType.SOFT)  # Hard only by template: it drops open transactions


def unlock_connector(state: ChargePointState, context: OutboundContext, rng: random.Random, now: datetime) -> Payload:
    return core.UnlockConnectorReq(connector_id=_connector(state, rng))


# ---------------------------------------- Firmware, local list, reservation


def get_diagnostics(state: ChargePointState, context: OutboundContext, rng: random.Random, now: datetime) -> Payload:
    return firmware.GetDiagnosticsReq(location="ftp://diagnostics.fleetsim.invalid/upload")


def update_firmware(state: ChargePointState, context: OutboundContext, rng: random.Random, now: datetime) -> Payload:
    return firmware.UpdateFirmwareReq(location="https://firmware.fleetsim.invalid/firmware.bin", retrieve_date=now)


def get_local_list_version(
    state: ChargePointState, context: OutboundContext, rng: random.Random, now: datetime
) -> Payload:
    return local_auth.GetLocalListVersionReq()


def send_local_list(state: ChargePointState, context: OutboundContext, rng: random.Random, now: datetime) -> Payload:
    # OCPP 1.6 §5.15: a Full update replaces the list; its version must grow.
    accepted = IdTagInfo(status=AuthorizationStatus.ACCEPTED)
    entries = [
        AuthorizationData(id_tag=tag, id_tag_info=accepted) for tag in context.accepted_id_tags[:_MAX_LOCAL_LIST]
    ]
    return local_auth.SendLocalListReq(
        list_version=state.local_list_version + 1, local_authorization_list=entries, update_type=UpdateType.FULL
    )


def reserve_now(state: ChargePointState, context: OutboundContext, rng: random.Random, now: datetime) -> Payload:
    return reservation.ReserveNowReq(
        connector_id=_connector(state, rng),
        expiry_date=now + timedelta(minutes=15),
        id_tag=_id_tag(context, rng),
        reservation_id=_new_id(rng),
    )


def cancel_reservation(
    state: ChargePointState, context: OutboundContext, rng: random.Random, now: datetime
) -> Payload | None:
    if not state.reservations:
        return None
    return reservation.CancelReservationReq(reservation_id=rng.choice(tuple(state.reservations)))


# ------------------------------------------------- Smart charging, trigger


def set_charging_profile(
    state: ChargePointState, context: OutboundContext, rng: random.Random, now: datetime
) -> Payload:
    # OCPP 1.6 §3.13.2: a TxDefaultProfile on connector 0 applies to every
    # connector; Relative, so it starts with each transaction.
    schedule = ChargingSchedule(
        charging_rate_unit=ChargingRateUnitType.A,
        charging_schedule_period=[ChargingSchedulePeriod(start_period=0, limit=rng.choice((6.0, 10.0, 16.0, 32.0)))],
    )
    profile = ChargingProfile(
        charging_profile_id=_new_id(rng),
        stack_level=0,
        charging_profile_purpose=ChargingProfilePurposeType.TX_DEFAULT_PROFILE,
        charging_profile_kind=ChargingProfileKindType.RELATIVE,
        charging_schedule=schedule,
    )
    return smart_charging.SetChargingProfileReq(connector_id=0, cs_charging_profiles=profile)


def clear_charging_profile(
    state: ChargePointState, context: OutboundContext, rng: random.Random, now: datetime
) -> Payload:
    if state.charging_profiles:
        return smart_charging.ClearChargingProfileReq(id=rng.choice(tuple(state.charging_profiles)))
    return smart_charging.ClearChargingProfileReq(
        charging_profile_purpose=ChargingProfilePurposeType.TX_DEFAULT_PROFILE
    )


def get_composite_schedule(
    state: ChargePointState, context: OutboundContext, rng: random.Random, now: datetime
) -> Payload:
    return smart_charging.GetCompositeScheduleReq(
        connector_id=_connector(state, rng), duration=3600, charging_rate_unit=ChargingRateUnitType.A
    )


def trigger_message(state: ChargePointState, context: OutboundContext, rng: random.Random, now: datetime) -> Payload:
    # BootNotification is left out: a triggered boot resets the station's session.
    requested = rng.choice(
        (MessageTrigger.HEARTBEAT, MessageTrigger.STATUS_NOTIFICATION, MessageTrigger.METER_VALUES)
    )
    return remote_trigger.TriggerMessageReq(requested_message=requested)


# ------------------------------------------------- Security whitepaper


def certificate_signed(state: ChargePointState, context: OutboundContext, rng: random.Random, now: datetime) -> Payload:
    return security.CertificateSignedReq(certificate_chain=_PEM)


def delete_certificate(state: ChargePointState, context: OutboundContext, rng: random.Random, now: datetime) -> Payload:
    data = CertificateHashData(
        hash_algorithm=HashAlgorithm.SHA256,
        issuer_name_hash=_hex(rng, 64),
        issuer_key_hash=_hex(rng, 64),
        serial_number=_hex(rng, 16),
    )
    return security.DeleteCertificateReq(certificate_hash_data=data)


def extended_trigger_message(
    state: ChargePointState, context: OutboundContext, rng: random.Random, now: datetime
) -> Payload:
    requested = rng.choice(
        (
            ExtendedMessageTrigger.HEARTBEAT,
            ExtendedMessageTrigger.STATUS_NOTIFICATION,
            ExtendedMessageTrigger.METER_VALUES,
        )
    )
    return security.ExtendedTriggerMessageReq(requested_message=requested)


def get_installed_certificate_ids(
    state: ChargePointState, context: OutboundContext, rng: random.Random, now: datetime
) -> Payload:
    return security.GetInstalledCertificateIdsReq(certificate_type=CertificateUse.CENTRAL_SYSTEM_ROOT_CERTIFICATE)


def get_log(state: ChargePointState, context: OutboundContext, rng: random.Random, now: datetime) -> Payload:
    return security.GetLogReq(
        log=LogParameters(remote_location="https://logs.fleetsim.invalid/upload"),
        log_type=LogType.DIAGNOSTICS_LOG,
        request_id=_new_id(rng),
    )


def install_certificate(
    state: ChargePointState, context: OutboundContext, rng: random.Random, now: datetime
) -> Payload:
    return security.InstallCertificateReq(
        certificate_type=CertificateUse.CENTRAL_SYSTEM_ROOT_CERTIFICATE, certificate=_PEM
    )


def signed_update_firmware(
    state: ChargePointState, context: OutboundContext, rng: random.Random, now: datetime
) -> Payload:
    image = Firmware(
        location="https://firmware.fleetsim.invalid/firmware.bin",
        retrieve_date_time=now,
        signing_certificate=_PEM,
        signature="ZmxlZXRzaW0=",
    )
    return security.SignedUpdateFirmwareReq(request_id=_new_id(rng), firmware=image)


GENERATORS: dict[Action, Generator] = {
    Action.CHANGE_AVAILABILITY: change_availability,
    Action.CHANGE_CONFIGURATION: change_configuration,
    Action.CLEAR_CACHE: clear_cache,
    Action.DATA_TRANSFER: data_transfer,
    Action.GET_CONFIGURATION: get_configuration,
    Action.REMOTE_START_TRANSACTION: remote_start_transaction,
    Action.REMOTE_STOP_TRANSACTION: remote_stop_transaction,
    Action.RESET: reset,
    Action.UNLOCK_CONNECTOR: unlock_connector,
    Action.GET_DIAGNOSTICS: get_diagnostics,
    Action.UPDATE_FIRMWARE: update_firmware,
    Action.GET_LOCAL_LIST_VERSION: get_local_list_version,
    Action.SEND_LOCAL_LIST: send_local_list,
    Action.RESERVE_NOW: reserve_now,
    Action.CANCEL_RESERVATION: cancel_reservation,
    Action.SET_CHARGING_PROFILE: set_charging_profile,
    Action.CLEAR_CHARGING_PROFILE: clear_charging_profile,
    Action.GET_COMPOSITE_SCHEDULE: get_composite_schedule,
    Action.TRIGGER_MESSAGE: trigger_message,
    Action.CERTIFICATE_SIGNED: certificate_signed,
    Action.DELETE_CERTIFICATE: delete_certificate,
    Action.EXTENDED_TRIGGER_MESSAGE: extended_trigger_message,
    Action.GET_INSTALLED_CERTIFICATE_IDS: get_installed_certificate_ids,
    Action.GET_LOG: get_log,
    Action.INSTALL_CERTIFICATE: install_certificate,
    Action.SIGNED_UPDATE_FIRMWARE: signed_update_firmware,
}


def apply_template(payload: Payload, template: dict[str, Any]) -> Payload:
    """``payload`` with the wire-named fields of ``template`` replaced.  Raises
    ``msgspec.ValidationError`` when the result is not a valid request."""
    if not template:
        return payload
    fields = msgspec.to_builtins(payload)
    fields.update(template)
    return msgspec.convert(fields, type(payload))


def generate(
    rule: TrafficRule, state: ChargePointState, context: OutboundContext, rng: random.Random, now: datetime
) -> Payload | None:
    """The next request of ``rule`` for a charge point, or None to skip it."""
    payload = GENERATORS[rule.action](state, context, rng, now)
    return None if payload is None else apply_template(payload, rule.payload)


def check_rule(rule: TrafficRule, context: OutboundContext, now: datetime) -> None:
    """Raise ValueError when ``rule``'s template makes an invalid request, so a
    bad traffic file fails at start rather than on the first call."""
    sample = ChargePointState(transactions={1: "TAG"}, reservations={1: 1}, charging_profiles={1: 0})
    sample.connector_ids.add(1)
    try:
        generate(rule, sample, context, random.Random(0), now)
    except msgspec.ValidationError as error:
        raise ValueError(f"traffic rule {rule.action}: payload template: {error}") from None
