"""The catalogue of OCPP 1.6 configuration keys: name, feature profile,
required or optional, accessibility and type.

Sources: OCPP 1.6 Edition 2 §9 (9.1 Core, 9.2 Local Auth List Management,
9.3 Reservation, 9.4 Smart Charging), errata v4.0 (SupportedFileTransferProtocols)
and the Security Whitepaper for OCPP 1.6-J, Edition 3 (the security keys).
The order is the spec's (alphabetical within each section), which is also the
order GetConfiguration answers in.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

from fleetsim.ocpp.base import FeatureProfile


class Access(StrEnum):
    READ_ONLY = "R"
    READ_WRITE = "RW"
    WRITE_ONLY = "W"  # whitepaper: AuthorizationKey is never readable


class ValueKind(StrEnum):
    BOOLEAN = "boolean"
    INTEGER = "integer"
    STRING = "string"
    CSL = "CSL"  # comma separated list


class KeySpec(NamedTuple):
    name: str
    profile: FeatureProfile  # SECURITY for the whitepaper's keys
    required: bool
    access: Access
    kind: ValueKind
    unit: str | None = None


_CORE = FeatureProfile.CORE
_R, _RW, _W = Access.READ_ONLY, Access.READ_WRITE, Access.WRITE_ONLY
_BOOL, _INT, _STR, _CSL = ValueKind.BOOLEAN, ValueKind.INTEGER, ValueKind.STRING, ValueKind.CSL

CATALOGUE: tuple[KeySpec, ...] = (
    # §9.1 Core
    KeySpec("AllowOfflineTxForUnknownId", _CORE, False, _RW, _BOOL),
    KeySpec("AuthorizationCacheEnabled", _CORE, False, _RW, _BOOL),
    # §9.1 AuthorizeRemoteTxRequests: accessibility "R or RW", the vendor's choice; ours is RW.
    KeySpec("AuthorizeRemoteTxRequests", _CORE, True, _RW, _BOOL),
    KeySpec("BlinkRepeat", _CORE, False, _RW, _INT, "times"),
    KeySpec("ClockAlignedDataInterval", _CORE, True, _RW, _INT, "s"),
    KeySpec("ConnectionTimeOut", _CORE, True, _RW, _INT, "s"),
    KeySpec("ConnectorPhaseRotation", _CORE, True, _RW, _CSL),
    KeySpec("ConnectorPhaseRotationMaxLength", _CORE, False, _R, _INT),
    KeySpec("GetConfigurationMaxKeys", _CORE, True, _R, _INT),
    KeySpec("HeartbeatInterval", _CORE, True, _RW, _INT, "s"),
    KeySpec("LightIntensity", _CORE, False, _RW, _INT, "%"),
    KeySpec("LocalAuthorizeOffline", _CORE, True, _RW, _BOOL),
    KeySpec("LocalPreAuthorize", _CORE, True, _RW, _BOOL),
    KeySpec("MaxEnergyOnInvalidId", _CORE, False, _RW, _INT, "Wh"),
    KeySpec("MeterValuesAlignedData", _CORE, True, _RW, _CSL),
    KeySpec("MeterValuesAlignedDataMaxLength", _CORE, False, _R, _INT),
    KeySpec("MeterValuesSampledData", _CORE, True, _RW, _CSL),
    KeySpec("MeterValuesSampledDataMaxLength", _CORE, False, _R, _INT),
    KeySpec("MeterValueSampleInterval", _CORE, True, _RW, _INT, "s"),
    KeySpec("MinimumStatusDuration", _CORE, False, _RW, _INT, "s"),
    KeySpec("NumberOfConnectors", _CORE, True, _R, _INT),
    KeySpec("ResetRetries", _CORE, True, _RW, _INT, "times"),
    KeySpec("StopTransactionOnEVSideDisconnect", _CORE, True, _RW, _BOOL),
    KeySpec("StopTransactionOnInvalidId", _CORE, True, _RW, _BOOL),
    KeySpec("StopTxnAlignedData", _CORE, True, _RW, _CSL),
    KeySpec("StopTxnAlignedDataMaxLength", _CORE, False, _R, _INT),
    KeySpec("StopTxnSampledData", _CORE, True, _RW, _CSL),
    KeySpec("StopTxnSampledDataMaxLength", _CORE, False, _R, _INT),
    KeySpec("SupportedFeatureProfiles", _CORE, True, _R, _CSL),
    KeySpec("SupportedFeatureProfilesMaxLength", _CORE, False, _R, _INT),
    KeySpec("TransactionMessageAttempts", _CORE, True, _RW, _INT, "times"),
    KeySpec("TransactionMessageRetryInterval", _CORE, True, _RW, _INT, "s"),
    KeySpec("UnlockConnectorOnEVSideDisconnect", _CORE, True, _RW, _BOOL),
    KeySpec("WebSocketPingInterval", _CORE, False, _RW, _INT, "s"),
    # errata v4.0: file transfer protocols for UpdateFirmware / GetDiagnostics
    KeySpec("SupportedFileTransferProtocols", FeatureProfile.FIRMWARE_MANAGEMENT, False, _R, _CSL),
    # §9.2 Local Auth List Management
    KeySpec("LocalAuthListEnabled", FeatureProfile.LOCAL_AUTH_LIST_MANAGEMENT, True, _RW, _BOOL),
    KeySpec("LocalAuthListMaxLength", FeatureProfile.LOCAL_AUTH_LIST_MANAGEMENT, True, _R, _INT),
    KeySpec("SendLocalListMaxLength", FeatureProfile.LOCAL_AUTH_LIST_MANAGEMENT, True, _R, _INT),
    # §9.3 Reservation
    KeySpec("ReserveConnectorZeroSupported", FeatureProfile.RESERVATION, False, _R, _BOOL),
    # §9.4 Smart Charging (note the spec spelling "ChargeProfile...")
    KeySpec("ChargeProfileMaxStackLevel", FeatureProfile.SMART_CHARGING, True, _R, _INT),
    KeySpec("ChargingScheduleAllowedChargingRateUnit", FeatureProfile.SMART_CHARGING, True, _R, _CSL),
    KeySpec("ChargingScheduleMaxPeriods", FeatureProfile.SMART_CHARGING, True, _R, _INT),
    KeySpec("ConnectorSwitch3to1PhaseSupported", FeatureProfile.SMART_CHARGING, False, _R, _BOOL),
    KeySpec("MaxChargingProfilesInstalled", FeatureProfile.SMART_CHARGING, True, _R, _INT),
    # Security Whitepaper Edition 3, configuration keys
    KeySpec("AdditionalRootCertificateCheck", FeatureProfile.SECURITY, False, _R, _BOOL),
    KeySpec("AuthorizationKey", FeatureProfile.SECURITY, False, _W, _STR),
    KeySpec("CertificateSignedMaxChainSize", FeatureProfile.SECURITY, False, _R, _INT),
    KeySpec("CertificateStoreMaxLength", FeatureProfile.SECURITY, False, _R, _INT),
    KeySpec("CpoName", FeatureProfile.SECURITY, False, _RW, _STR),
    KeySpec("SecurityProfile", FeatureProfile.SECURITY, False, _RW, _INT),
)

BY_NAME: dict[str, KeySpec] = {spec.name: spec for spec in CATALOGUE}

# Keys certificates print that are not OCPP 1.6 §9 keys but PICS / OCTT settings
# (ORS-8; seed 001 lists it among the configuration keys).
NON_STANDARD_KEYS: tuple[str, ...] = ("StopTransactionMaxMeterValues",)
