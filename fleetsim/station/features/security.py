"""The OCA white paper "Improved security for OCPP 1.6-J" (edition 3), for
models that certified it: certificates (A02/A03 CertificateSigned,
M03 GetInstalledCertificateIds, M04 DeleteCertificate, M05 InstallCertificate),
ExtendedTriggerMessage (F06), GetLog (N01), SignedUpdateFirmware (L01) and the
security events (A04).

Security events: every one goes into the station's security log; the
critical ones of the white paper's list are also sent to the Central System
(SecurityEventNotification.req) once the station runs a security profile
(SecurityProfile 1-3).  At SecurityProfile 0 a station is a plain OCPP 1.6
one: it answers the white paper's calls but volunteers none of its messages,
which a Central System without the extension would not know.  A station
reports StartupOfTheDevice once booted, ResetOrReboot for a reset or reboot
(after it is back up: going down, it could not), FirmwareUpdated once new
firmware runs; a changed SecurityProfile or AuthorizationKey is
ReconfigurationOfSecurityParameters, which is logged only, not being critical.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import msgspec

from fleetsim.ocpp.base import FeatureProfile
from fleetsim.ocpp.payloads.security import (
    CertificateSignedConf,
    CertificateSignedReq,
    CertificateSignedStatus,
    CertificateStatus,
    DeleteCertificateConf,
    DeleteCertificateReq,
    DeleteCertificateStatus,
    ExtendedMessageTrigger,
    ExtendedTriggerMessageConf,
    ExtendedTriggerMessageReq,
    ExtendedTriggerMessageStatus,
    GetInstalledCertificateIdsConf,
    GetInstalledCertificateIdsReq,
    GetInstalledCertificateStatus,
    GetLogConf,
    GetLogReq,
    InstallCertificateConf,
    InstallCertificateReq,
    LogStatus,
    LogStatusNotificationReq,
    SecurityEventNotificationReq,
    SignCertificateConf,
    SignCertificateReq,
    SignedFirmwareStatus,
    SignedFirmwareStatusNotificationReq,
    SignedUpdateFirmwareConf,
    SignedUpdateFirmwareReq,
    UpdateFirmwareStatus,
    UploadLogStatus,
)
from fleetsim.station.features import certificates, firmware
from fleetsim.station.features.certificates import ROOTS, CertificateKind, Stored
from fleetsim.station.outgoing import Outgoing

if TYPE_CHECKING:
    from fleetsim.ocpp.enums import Reason
    from fleetsim.station.ports import SecurityPort
    from fleetsim.station.replies import Reply

KEY = "security"
INF = float("inf")
LOG_LENGTH = 100  # security log entries a station keeps
MAX_CHAIN_SIZE = 10_000  # the whitepaper's ceiling of CertificateSignedMaxChainSize


class SecurityEvent(StrEnum):
    """The white paper's list of security events (appendix), spelled as sent."""

    FIRMWARE_UPDATED = "FirmwareUpdated"
    FAILED_TO_AUTHENTICATE_AT_CENTRAL_SYSTEM = "FailedToAuthenticateAtCentralSystem"
    CENTRAL_SYSTEM_FAILED_TO_AUTHENTICATE = "CentralSystemFailedToAuthenticate"
    SETTING_SYSTEM_TIME = "SettingSystemTime"
    STARTUP_OF_THE_DEVICE = "StartupOfTheDevice"
    RESET_OR_REBOOT = "ResetOrReboot"
    SECURITY_LOG_WAS_CLEARED = "SecurityLogWasCleared"
    RECONFIGURATION_OF_SECURITY_PARAMETERS = "ReconfigurationOfSecurityParameters"
    MEMORY_EXHAUSTION = "MemoryExhaustion"
    INVALID_MESSAGES = "InvalidMessages"
    ATTEMPTED_REPLAY_ATTACKS = "AttemptedReplayAttacks"
    TAMPER_DETECTION_ACTIVATED = "TamperDetectionActivated"
    INVALID_FIRMWARE_SIGNATURE = "InvalidFirmwareSignature"
    INVALID_FIRMWARE_SIGNING_CERTIFICATE = "InvalidFirmwareSigningCertificate"
    INVALID_CENTRAL_SYSTEM_CERTIFICATE = "InvalidCentralSystemCertificate"
    INVALID_CHARGE_POINT_CERTIFICATE = "InvalidChargePointCertificate"
    INVALID_TLS_VERSION = "InvalidTLSVersion"
    INVALID_TLS_CIPHER_SUITE = "InvalidTLSCipherSuite"


CRITICAL = frozenset({  # A04: these are sent; the others are only logged
    SecurityEvent.FIRMWARE_UPDATED, SecurityEvent.SETTING_SYSTEM_TIME, SecurityEvent.STARTUP_OF_THE_DEVICE,
    SecurityEvent.RESET_OR_REBOOT, SecurityEvent.SECURITY_LOG_WAS_CLEARED, SecurityEvent.MEMORY_EXHAUSTION,
    SecurityEvent.TAMPER_DETECTION_ACTIVATED,
})


class LoggedEvent(msgspec.Struct, frozen=True):
    event: SecurityEvent
    at: datetime
    tech_info: str | None = None


class SecurityState(msgspec.Struct):
    store: list[Stored]
    log: list[LoggedEvent] = msgspec.field(default_factory=list)
    pending: list[LoggedEvent] = msgspec.field(default_factory=list)  # critical, to send once back up
    started: bool = False  # StartupOfTheDevice reported since the last power-up


def _state(station: SecurityPort) -> SecurityState:
    state = station.features.get(KEY)
    if state is None:
        store = certificates.factory_store(station.charge_point_id, station.model.vendor)
        state = station.features[KEY] = SecurityState(store)
    return state


def _supported(station: SecurityPort) -> bool:
    return station.model.supports(FeatureProfile.SECURITY)


def _reporting(station: SecurityPort) -> bool:
    return station.config.get_int("SecurityProfile", 0) > 0


# ------------------------------------------------------------------ security events (A04)


def record_event(station: SecurityPort, event: SecurityEvent, now_s: float, tech_info: str | None = None, *,
                 defer: bool = False) -> None:
    state = _state(station)
    entry = LoggedEvent(event, station.wall(now_s), tech_info[:255] if tech_info else None)
    state.log.append(entry)
    del state.log[:-LOG_LENGTH]
    if event not in CRITICAL or not _reporting(station):
        return
    if defer:
        state.pending.append(entry)
    else:
        _send_event(station, entry, now_s)


def _send_event(station: SecurityPort, entry: LoggedEvent, now_s: float) -> None:
    request = SecurityEventNotificationReq(type=entry.event, timestamp=entry.at, tech_info=entry.tech_info)
    station.enqueue(Outgoing("SecurityEventNotification", request, now_s))


def on_reboot(station: SecurityPort, reason: Reason, now_s: float) -> None:
    if not _supported(station):
        return
    _state(station).started = False
    record_event(station, SecurityEvent.RESET_OR_REBOOT, now_s, str(reason), defer=True)


def on_boot_accepted(station: SecurityPort, now_s: float, firmware_installed: bool) -> None:
    if not _supported(station):
        return
    state = _state(station)
    pending, state.pending = state.pending, []
    for entry in pending:
        _send_event(station, entry, now_s)
    if not state.started:
        state.started = True
        record_event(station, SecurityEvent.STARTUP_OF_THE_DEVICE, now_s)
    if firmware_installed:
        record_event(station, SecurityEvent.FIRMWARE_UPDATED, now_s)


def on_configuration_changed(station: SecurityPort, key: str, now_s: float) -> None:
    if _supported(station) and key in ("SecurityProfile", "AuthorizationKey"):
        record_event(station, SecurityEvent.RECONFIGURATION_OF_SECURITY_PARAMETERS, now_s, f"{key} changed")


def security_log(station: SecurityPort) -> list[LoggedEvent]:
    state = station.features.get(KEY)
    return list(state.log) if state is not None else []


# ------------------------------------------------------------------ certificates (A02, M03-M05)


def certificate_signed(station: SecurityPort, request: CertificateSignedReq, now_s: float) -> Reply:
    """A02/A03: the Charge Point certificate the CA signed for our CSR.  Too
    long a chain (CertificateSignedMaxChainSize) or no valid certificate in it:
    Rejected, the latter logged as InvalidChargePointCertificate."""
    chain = request.certificate_chain
    if len(chain) > station.config.get_int("CertificateSignedMaxChainSize", MAX_CHAIN_SIZE):
        station.stats.count("security.chain_too_long")
        return CertificateSignedConf(status=CertificateSignedStatus.REJECTED)
    blocks = certificates.der_blocks(chain)
    if not blocks:
        record_event(station, SecurityEvent.INVALID_CHARGE_POINT_CERTIFICATE, now_s, "no valid certificate in chain")
        return CertificateSignedConf(status=CertificateSignedStatus.REJECTED)
    state = _state(station)
    state.store = [s for s in state.store if s.kind != CertificateKind.CHARGE_POINT]
    state.store.append(Stored(CertificateKind.CHARGE_POINT, certificates.hash_data(blocks[0])))
    return CertificateSignedConf(status=CertificateSignedStatus.ACCEPTED)


def install_certificate(station: SecurityPort, request: InstallCertificateReq, now_s: float) -> Reply:
    """M05: one root certificate; Rejected when invalid or when the store
    already holds CertificateStoreMaxLength roots."""
    blocks = certificates.der_blocks(request.certificate)
    if len(blocks) != 1:
        return InstallCertificateConf(status=CertificateStatus.REJECTED)
    kind = CertificateKind(request.certificate_type)
    data = certificates.hash_data(blocks[0])
    state = _state(station)
    if any(s.kind == kind and certificates.same(s.hash_data, data) for s in state.store):
        return InstallCertificateConf(status=CertificateStatus.ACCEPTED)  # already there
    roots = sum(1 for s in state.store if s.kind in ROOTS)
    if roots >= station.config.get_int("CertificateStoreMaxLength", roots + 1):
        station.stats.count("security.store_full")
        return InstallCertificateConf(status=CertificateStatus.REJECTED)
    state.store.append(Stored(kind, data))
    return InstallCertificateConf(status=CertificateStatus.ACCEPTED)


def delete_certificate(station: SecurityPort, request: DeleteCertificateReq, now_s: float) -> Reply:
    """M04: NotFound, or Failed for the last certificate of its kind when the
    model cannot be left without one (certificate AQ-1 roots, AQ-3 its own)."""
    state = _state(station)
    found = next((s for s in state.store if certificates.same(s.hash_data, request.certificate_hash_data)), None)
    if found is None:
        return DeleteCertificateConf(status=DeleteCertificateStatus.NOT_FOUND)
    last = sum(1 for s in state.store if s.kind == found.kind) == 1
    model = station.model
    removable = model.last_charge_point_certificate_removable if found.kind == CertificateKind.CHARGE_POINT \
        else model.last_root_certificate_removable
    if last and not removable:
        return DeleteCertificateConf(status=DeleteCertificateStatus.FAILED)
    state.store.remove(found)
    return DeleteCertificateConf(status=DeleteCertificateStatus.ACCEPTED)


def get_installed_certificate_ids(station: SecurityPort, request: GetInstalledCertificateIdsReq, now_s: float) -> Reply:
    """M03: the hash data of the root certificates of the type asked for."""
    kind = CertificateKind(request.certificate_type)
    found = [s.hash_data for s in _state(station).store if s.kind == kind]
    if not found:
        return GetInstalledCertificateIdsConf(status=GetInstalledCertificateStatus.NOT_FOUND)
    return GetInstalledCertificateIdsConf(status=GetInstalledCertificateStatus.ACCEPTED, certificate_hash_data=found)


# ------------------------------------------------------------------ ExtendedTriggerMessage (F06)


def _send_sign_certificate(station: SecurityPort, connector_id: int | None, now_s: float) -> None:
    """A02: a new key pair and its CSR, for the CSMS to have signed."""
    organization = station.config.get("CpoName") or station.model.vendor
    request = SignCertificateReq(csr=certificates.csr(station.charge_point_id, organization))

    def on_answer(conf: SignCertificateConf | None, now: float) -> None:
        if conf is not None:
            station.stats.count(f"security.sign_certificate.{conf.status}")

    station.queue.push_front(Outgoing("SignCertificate", request, now_s, on_answer=on_answer))


def _send_firmware_status(station: SecurityPort, connector_id: int | None, now_s: float) -> None:
    # The requestId is left out only when no update runs (whitepaper §5.19).
    status = firmware.firmware_status(station)
    state = station.features.get(firmware.KEY)
    running = state.update if state is not None and status != SignedFirmwareStatus.IDLE else None
    request = SignedFirmwareStatusNotificationReq(status=status, request_id=running.request_id if running else None)
    station.queue.push_front(Outgoing("SignedFirmwareStatusNotification", request, now_s))


def _send_log_status(station: SecurityPort, connector_id: int | None, now_s: float) -> None:
    upload = firmware.uploading(station, firmware.UploadKind.LOG)
    request = (LogStatusNotificationReq(status=UploadLogStatus.UPLOADING, request_id=upload.request_id)
               if upload is not None else LogStatusNotificationReq(status=UploadLogStatus.IDLE))
    station.queue.push_front(Outgoing("LogStatusNotification", request, now_s))


def _core_trigger(action: str) -> Callable[[SecurityPort, int | None, float], None]:
    return lambda station, connector_id, now_s: station.trigger(action, connector_id, now_s)


_EXTENDED: dict[ExtendedMessageTrigger, Callable[[SecurityPort, int | None, float], None]] = {
    ExtendedMessageTrigger.BOOT_NOTIFICATION: _core_trigger("BootNotification"),
    ExtendedMessageTrigger.HEARTBEAT: _core_trigger("Heartbeat"),
    ExtendedMessageTrigger.METER_VALUES: _core_trigger("MeterValues"),
    ExtendedMessageTrigger.STATUS_NOTIFICATION: _core_trigger("StatusNotification"),
    ExtendedMessageTrigger.FIRMWARE_STATUS_NOTIFICATION: _send_firmware_status,
    ExtendedMessageTrigger.LOG_STATUS_NOTIFICATION: _send_log_status,
    ExtendedMessageTrigger.SIGN_CHARGE_POINT_CERTIFICATE: _send_sign_certificate,
}


def extended_trigger_message(station: SecurityPort, request: ExtendedTriggerMessageReq, now_s: float) -> Reply:
    """F06: as TriggerMessage (OCPP 1.6 §5.17), with the white paper's messages."""
    connector_id = request.connector_id
    if connector_id not in (None, 0) and station.connector(connector_id) is None:
        return ExtendedTriggerMessageConf(status=ExtendedTriggerMessageStatus.REJECTED)
    if station.queue.full():  # as TriggerMessage: its queue has no room for another
        return ExtendedTriggerMessageConf(status=ExtendedTriggerMessageStatus.REJECTED)
    send = _EXTENDED[request.requested_message]
    received_s = now_s

    def fire(now: float) -> None:
        send(station, connector_id, now)
        station.stats.record_reaction("TriggerMessage→message", now - received_s)

    station.at(station.effect_at(now_s, station.reaction(station.model.triggered_delay)), fire)
    return ExtendedTriggerMessageConf(status=ExtendedTriggerMessageStatus.ACCEPTED)


# ------------------------------------------------------------------ GetLog (N01), SignedUpdateFirmware (L01)


def get_log(station: SecurityPort, request: GetLogReq, now_s: float) -> Reply:
    """N01: the log's file name, then its upload reported by
    LogStatusNotification; a new request cancels an upload in progress."""
    filename = f"{request.log_type}-{station.charge_point_id}-{firmware.file_stamp(station, now_s)}.log"
    upload = firmware.Upload(firmware.UploadKind.LOG, request.log.remote_location, request.request_id)
    replaced = firmware.start_upload(station, upload, now_s)
    return GetLogConf(status=LogStatus.ACCEPTED_CANCELED if replaced else LogStatus.ACCEPTED, filename=filename[:255])


def _base64(text: str) -> bool:
    try:
        return bool(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError):
        return False


def signed_update_firmware(station: SecurityPort, request: SignedUpdateFirmwareReq, now_s: float) -> Reply:
    """L01: refused with InvalidCertificate (and logged) when the signing
    certificate is no certificate; a signature that does not decode fails
    verification (InvalidSignature).  A new request cancels one in progress."""
    image = request.firmware
    if not certificates.der_blocks(image.signing_certificate):
        record_event(station, SecurityEvent.INVALID_FIRMWARE_SIGNING_CERTIFICATE, now_s)
        return SignedUpdateFirmwareConf(status=UpdateFirmwareStatus.INVALID_CERTIFICATE)
    signature_valid = _base64(image.signature)
    if not signature_valid:
        record_event(station, SecurityEvent.INVALID_FIRMWARE_SIGNATURE, now_s)
    install_s = station.timebase.engine_s(image.install_date_time) if image.install_date_time else -INF
    update = firmware.Update(
        image.location, station.timebase.engine_s(image.retrieve_date_time), install_s, signed=True,
        request_id=request.request_id, signature_valid=signature_valid,
    )
    replaced = firmware.start_update(station, update, now_s)
    return SignedUpdateFirmwareConf(status=UpdateFirmwareStatus.ACCEPTED_CANCELED if replaced
                                    else UpdateFirmwareStatus.ACCEPTED)


HANDLERS: dict[type, Callable[..., Any]] = {
    CertificateSignedReq: certificate_signed,
    InstallCertificateReq: install_certificate,
    DeleteCertificateReq: delete_certificate,
    GetInstalledCertificateIdsReq: get_installed_certificate_ids,
    ExtendedTriggerMessageReq: extended_trigger_message,
    GetLogReq: get_log,
    SignedUpdateFirmwareReq: signed_update_firmware,
}
