"""The eleven messages of the OCA white paper "Improved security for OCPP 1.6-J"
(edition 3): certificates, security events, logs and signed firmware.

Sections cited are the white paper's: chapter 5 (Messages, one section per
``.req`` and ``.conf``, in alphabetical order) and chapter 6 (Datatypes); use
case ids (A02, M05, N01, ...) are those the white paper takes from OCPP 2.0.1.
The official JSON schemas (``urn:OCPP:Cp:1.6:2020:3:<Action>.req``) are the
authority for names, lengths and required fields; ``tests/ocpp`` checks these
Structs against them.

Several enums of the white paper share a name with an OCPP 1.6 enum but not its
values (MessageTrigger, TriggerMessageStatus, FirmwareStatus); they are prefixed
here (``ExtendedMessageTrigger``, ``ExtendedTriggerMessageStatus``,
``SignedFirmwareStatus``) so both can be imported side by side.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import msgspec

from fleetsim.ocpp.base import (
    ActionSpec,
    CiString50,
    CiString255,
    DateTime,
    FeatureProfile,
    Initiator,
    Payload,
    spec,
)

# Lengths of the white paper's strings that OCPP 1.6 §7 has no CiStringNType for.
String40 = Annotated[str, msgspec.Meta(max_length=40)]
String128 = Annotated[str, msgspec.Meta(max_length=128)]
String512 = Annotated[str, msgspec.Meta(max_length=512)]
String800 = Annotated[str, msgspec.Meta(max_length=800)]
String5500 = Annotated[str, msgspec.Meta(max_length=5500)]
String10000 = Annotated[str, msgspec.Meta(max_length=10000)]


# --- Enums (white paper chapter 6) ------------------------------------------------


class CertificateSignedStatus(StrEnum):
    """§6 CertificateSignedStatusEnumType: the answer to CertificateSigned.req."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"


class CertificateStatus(StrEnum):
    """§6 CertificateStatusEnumType (the schema calls it
    InstallCertificateStatusEnumType): the answer to InstallCertificate.req."""

    ACCEPTED = "Accepted"
    FAILED = "Failed"
    REJECTED = "Rejected"


class CertificateUse(StrEnum):
    """§6 CertificateUseEnumType: which root certificate is meant."""

    CENTRAL_SYSTEM_ROOT_CERTIFICATE = "CentralSystemRootCertificate"
    MANUFACTURER_ROOT_CERTIFICATE = "ManufacturerRootCertificate"


class DeleteCertificateStatus(StrEnum):
    """§6 DeleteCertificateStatusEnumType."""

    ACCEPTED = "Accepted"
    FAILED = "Failed"
    NOT_FOUND = "NotFound"


class ExtendedMessageTrigger(StrEnum):
    """§6 MessageTriggerEnumType, the messages ExtendedTriggerMessage.req can
    ask for (not the OCPP 1.6 MessageTrigger: adds LogStatusNotification and
    SignChargePointCertificate, drops DiagnosticsStatusNotification)."""

    BOOT_NOTIFICATION = "BootNotification"
    LOG_STATUS_NOTIFICATION = "LogStatusNotification"
    FIRMWARE_STATUS_NOTIFICATION = "FirmwareStatusNotification"
    HEARTBEAT = "Heartbeat"
    METER_VALUES = "MeterValues"
    SIGN_CHARGE_POINT_CERTIFICATE = "SignChargePointCertificate"
    STATUS_NOTIFICATION = "StatusNotification"


class ExtendedTriggerMessageStatus(StrEnum):
    """§6 TriggerMessageStatusEnumType, the answer to ExtendedTriggerMessage.req."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    NOT_IMPLEMENTED = "NotImplemented"


class GenericStatus(StrEnum):
    """§6 GenericStatusEnumType: the answer to SignCertificate.req."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"


class GetInstalledCertificateStatus(StrEnum):
    """§6 GetInstalledCertificateStatusEnumType."""

    ACCEPTED = "Accepted"
    NOT_FOUND = "NotFound"


class HashAlgorithm(StrEnum):
    """§6 HashAlgorithmEnumType, used in CertificateHashData."""

    SHA256 = "SHA256"
    SHA384 = "SHA384"
    SHA512 = "SHA512"


class LogStatus(StrEnum):
    """§6 LogStatusEnumType: the answer to GetLog.req."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    ACCEPTED_CANCELED = "AcceptedCanceled"


class LogType(StrEnum):
    """§6 LogEnumType: which log GetLog.req asks for."""

    DIAGNOSTICS_LOG = "DiagnosticsLog"
    SECURITY_LOG = "SecurityLog"


class SignedFirmwareStatus(StrEnum):
    """§6 FirmwareStatusEnumType of the white paper (a superset of OCPP 1.6's
    FirmwareStatus, with the signature and scheduling states)."""

    DOWNLOADED = "Downloaded"
    DOWNLOAD_FAILED = "DownloadFailed"
    DOWNLOADING = "Downloading"
    DOWNLOAD_SCHEDULED = "DownloadScheduled"
    DOWNLOAD_PAUSED = "DownloadPaused"
    IDLE = "Idle"
    INSTALLATION_FAILED = "InstallationFailed"
    INSTALLING = "Installing"
    INSTALLED = "Installed"
    INSTALL_REBOOTING = "InstallRebooting"
    INSTALL_SCHEDULED = "InstallScheduled"
    INSTALL_VERIFICATION_FAILED = "InstallVerificationFailed"
    INVALID_SIGNATURE = "InvalidSignature"
    SIGNATURE_VERIFIED = "SignatureVerified"


class UpdateFirmwareStatus(StrEnum):
    """§6 UpdateFirmwareStatusEnumType: the answer to SignedUpdateFirmware.req."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    ACCEPTED_CANCELED = "AcceptedCanceled"
    INVALID_CERTIFICATE = "InvalidCertificate"
    REVOKED_CERTIFICATE = "RevokedCertificate"


class UploadLogStatus(StrEnum):
    """§6 UploadLogStatusEnumType, reported by LogStatusNotification.req."""

    BAD_MESSAGE = "BadMessage"
    IDLE = "Idle"
    NOT_SUPPORTED_OPERATION = "NotSupportedOperation"
    PERMISSION_DENIED = "PermissionDenied"
    UPLOADED = "Uploaded"
    UPLOAD_FAILURE = "UploadFailure"
    UPLOADING = "Uploading"


# --- Compound types (white paper chapter 6) ---------------------------------------
# Fields are in the schemas' order (Payload makes them all keyword-only).


class CertificateHashData(Payload):
    """§6 CertificateHashDataType: identifies a certificate by the hashes of
    its issuer's name and key and its serial number (RFC 6960 style)."""

    hash_algorithm: HashAlgorithm
    issuer_name_hash: String128
    issuer_key_hash: String128
    serial_number: String40


class LogParameters(Payload):
    """§6 LogParametersType: where to upload a log, and which time span."""

    remote_location: String512
    oldest_timestamp: DateTime | None = None
    latest_timestamp: DateTime | None = None


class Firmware(Payload):
    """§6 FirmwareType: a signed firmware image and when to fetch and install it."""

    location: String512
    retrieve_date_time: DateTime
    install_date_time: DateTime | None = None
    signing_certificate: String5500  # PEM
    signature: String800  # base64


# --- Messages (white paper chapter 5) ---------------------------------------------


class CertificateSignedReq(Payload):
    """§5.1 (use cases A02/A03): the Central System returns the Charge Point
    certificate the CA signed."""

    certificate_chain: String10000  # PEM; may include the sub-CA certificates


class CertificateSignedConf(Payload):
    """§5.2."""

    status: CertificateSignedStatus


class DeleteCertificateReq(Payload):
    """§5.3 (use case M04)."""

    certificate_hash_data: CertificateHashData


class DeleteCertificateConf(Payload):
    """§5.4."""

    status: DeleteCertificateStatus


class ExtendedTriggerMessageReq(Payload):
    """§5.5 (use case F06): the Central System asks the Charge Point to send a
    message, e.g. a SignCertificate.req for a new certificate."""

    requested_message: ExtendedMessageTrigger
    connector_id: int | None = None


class ExtendedTriggerMessageConf(Payload):
    """§5.6."""

    status: ExtendedTriggerMessageStatus


class GetInstalledCertificateIdsReq(Payload):
    """§5.7 (use case M03)."""

    certificate_type: CertificateUse


_NonEmptyHashDataList = Annotated[list[CertificateHashData], msgspec.Meta(min_length=1)]


class GetInstalledCertificateIdsConf(Payload):
    """§5.8.  The hash data is absent when none is installed; when present it
    has at least one entry (schema ``minItems: 1``)."""

    certificate_hash_data: _NonEmptyHashDataList | None = None
    status: GetInstalledCertificateStatus


class GetLogReq(Payload):
    """§5.9 (use case N01): upload a diagnostics or security log."""

    log: LogParameters
    log_type: LogType
    request_id: int
    retries: int | None = None
    retry_interval: int | None = None  # seconds


class GetLogConf(Payload):
    """§5.10."""

    status: LogStatus
    filename: CiString255 | None = None


class InstallCertificateReq(Payload):
    """§5.11 (use case M05): install a root certificate."""

    certificate_type: CertificateUse
    certificate: String5500  # PEM


class InstallCertificateConf(Payload):
    """§5.12."""

    status: CertificateStatus


class LogStatusNotificationReq(Payload):
    """§5.13 (use case N01): progress of a GetLog upload."""

    status: UploadLogStatus
    request_id: int | None = None


class LogStatusNotificationConf(Payload):
    """§5.14: empty."""


class SecurityEventNotificationReq(Payload):
    """§5.15 (use case A04): a critical security event (the white paper's
    appendix lists them: ``type`` is free text of at most 50 characters)."""

    type: CiString50
    timestamp: DateTime
    tech_info: CiString255 | None = None


class SecurityEventNotificationConf(Payload):
    """§5.16: empty."""


class SignCertificateReq(Payload):
    """§5.17 (use cases A02/A03): the Charge Point's certificate signing request."""

    csr: String5500  # PEM, RFC 2986


class SignCertificateConf(Payload):
    """§5.18."""

    status: GenericStatus


class SignedFirmwareStatusNotificationReq(Payload):
    """§5.19 (use case L01): progress of a SignedUpdateFirmware."""

    status: SignedFirmwareStatus
    request_id: int | None = None


class SignedFirmwareStatusNotificationConf(Payload):
    """§5.20: empty."""


class SignedUpdateFirmwareReq(Payload):
    """§5.21 (use case L01): download, verify and install signed firmware."""

    retries: int | None = None
    retry_interval: int | None = None  # seconds
    request_id: int
    firmware: Firmware


class SignedUpdateFirmwareConf(Payload):
    """§5.22."""

    status: UpdateFirmwareStatus


SPECS: tuple[ActionSpec, ...] = (
    spec(
        "SecurityEventNotification",
        SecurityEventNotificationReq,
        SecurityEventNotificationConf,
        Initiator.CHARGE_POINT,
        FeatureProfile.SECURITY,
    ),
    spec(
        "SignCertificate",
        SignCertificateReq,
        SignCertificateConf,
        Initiator.CHARGE_POINT,
        FeatureProfile.SECURITY,
    ),
    spec(
        "CertificateSigned",
        CertificateSignedReq,
        CertificateSignedConf,
        Initiator.CENTRAL_SYSTEM,
        FeatureProfile.SECURITY,
    ),
    spec(
        "InstallCertificate",
        InstallCertificateReq,
        InstallCertificateConf,
        Initiator.CENTRAL_SYSTEM,
        FeatureProfile.SECURITY,
    ),
    spec(
        "DeleteCertificate",
        DeleteCertificateReq,
        DeleteCertificateConf,
        Initiator.CENTRAL_SYSTEM,
        FeatureProfile.SECURITY,
    ),
    spec(
        "GetInstalledCertificateIds",
        GetInstalledCertificateIdsReq,
        GetInstalledCertificateIdsConf,
        Initiator.CENTRAL_SYSTEM,
        FeatureProfile.SECURITY,
    ),
    spec(
        "ExtendedTriggerMessage",
        ExtendedTriggerMessageReq,
        ExtendedTriggerMessageConf,
        Initiator.CENTRAL_SYSTEM,
        FeatureProfile.SECURITY,
    ),
    spec(
        "GetLog",
        GetLogReq,
        GetLogConf,
        Initiator.CENTRAL_SYSTEM,
        FeatureProfile.SECURITY,
    ),
    spec(
        "LogStatusNotification",
        LogStatusNotificationReq,
        LogStatusNotificationConf,
        Initiator.CHARGE_POINT,
        FeatureProfile.SECURITY,
    ),
    spec(
        "SignedUpdateFirmware",
        SignedUpdateFirmwareReq,
        SignedUpdateFirmwareConf,
        Initiator.CENTRAL_SYSTEM,
        FeatureProfile.SECURITY,
    ),
    spec(
        "SignedFirmwareStatusNotification",
        SignedFirmwareStatusNotificationReq,
        SignedFirmwareStatusNotificationConf,
        Initiator.CHARGE_POINT,
        FeatureProfile.SECURITY,
    ),
)
