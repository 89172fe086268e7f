"""StationProfile: everything an OCA certificate tells about one station model.

A profile is plain data (frozen msgspec Structs) read from a certificate by
:mod:`fleetsim.profiles.certificate` or from a profile file.  ``None`` always
means "the certificate does not say"; ``False`` means it says no.  Field names
carry units (``_s``, ``_kw``, ``_a``); the certificate row each field comes from
is cited beside it and listed in :mod:`fleetsim.profiles.rows`.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

import msgspec

from fleetsim.ocpp.base import FeatureProfile

# OCPP 1.6 §7.31 Measurand, spelled as on the wire.  Certificates list these
# in C-09.1 / C-09.2 (or as the raw MeterValues*Data values in old formats).
MEASURANDS: tuple[str, ...] = (
    "Current.Export",
    "Current.Import",
    "Current.Offered",
    "Energy.Active.Export.Register",
    "Energy.Active.Import.Register",
    "Energy.Reactive.Export.Register",
    "Energy.Reactive.Import.Register",
    "Energy.Active.Export.Interval",
    "Energy.Active.Import.Interval",
    "Energy.Reactive.Export.Interval",
    "Energy.Reactive.Import.Interval",
    "Frequency",
    "Power.Active.Export",
    "Power.Active.Import",
    "Power.Factor",
    "Power.Offered",
    "Power.Reactive.Export",
    "Power.Reactive.Import",
    "RPM",
    "SoC",
    "Temperature",
    "Voltage",
)

# The six OCPP 1.6 feature profiles in the order of §3.2, as SupportedFeatureProfiles
# lists them.  FeatureProfile.SECURITY (the whitepaper) is deliberately absent.
OCPP16_PROFILES: tuple[FeatureProfile, ...] = (
    FeatureProfile.CORE,
    FeatureProfile.FIRMWARE_MANAGEMENT,
    FeatureProfile.LOCAL_AUTH_LIST_MANAGEMENT,
    FeatureProfile.RESERVATION,
    FeatureProfile.SMART_CHARGING,
    FeatureProfile.REMOTE_TRIGGER,
)


class _Data(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of the profile Structs: immutable, keyword-only, strict on decode so
    a typo in a hand-edited profile file is an error, not a silent default."""


class CertificateFormat(StrEnum):
    CURRENT = "current"  # tables HFS-*, C-*, ..., ORS-* and a performance table
    SUBSET = "subset"  # older "Subset Certificate": raw configuration keys


class CurrentType(StrEnum):
    AC = "AC"
    DC = "DC"


class CableKind(StrEnum):
    FIXED = "Fixed"  # HFS-2: tethered cable
    SOCKET = "Socket"  # HFS-1: detachable cable, the driver brings it


class ConnectorType(StrEnum):
    """Connector types as certificates write them (the OCPP 2.0.1
    ConnectorEnumType spellings: c = cable, s = socket, w = wireless)."""

    C_CCS1 = "cCCS1"
    C_CCS2 = "cCCS2"
    C_G105 = "cG105"  # CHAdeMO
    C_TESLA = "cTesla"
    C_TYPE1 = "cType1"
    C_TYPE2 = "cType2"
    S_309_1P_16A = "s309-1P-16A"
    S_309_1P_32A = "s309-1P-32A"
    S_309_3P_16A = "s309-3P-16A"
    S_309_3P_32A = "s309-3P-32A"
    S_BS1361 = "sBS1361"
    S_CEE_7_7 = "sCEE-7-7"
    S_TYPE2 = "sType2"
    S_TYPE3 = "sType3"
    OTHER_1PH_MAX_16A = "Other1PhMax16A"
    OTHER_1PH_OVER_16A = "Other1PhOver16A"
    OTHER_3PH = "Other3Ph"
    PAN = "Pan"
    W_INDUCTIVE = "wInductive"
    W_RESONANT = "wResonant"
    UNDETERMINED = "Undetermined"
    UNKNOWN = "Unknown"


class CommunicationTechnology(StrEnum):
    ETHERNET = "Ethernet"
    WIFI = "WiFi"
    MOBILE_NETWORK = "Mobile Network"


class RfidReaders(StrEnum):
    NONE = "None"
    SINGLE = "Single"
    MULTIPLE = "Multiple"


class FileTransferProtocol(StrEnum):
    """Values of SupportedFileTransferProtocols (OCPP 1.6 errata v4.0)."""

    FTP = "FTP"
    FTPS = "FTPS"
    HTTP = "HTTP"
    HTTPS = "HTTPS"
    SFTP = "SFTP"


class Certification(_Data):
    number: str | None  # e.g. "OCA.0016.1183.CS"
    date: dt.date | None  # certification date
    test_lab: str | None
    report_reference: str | None = None
    format: CertificateFormat = CertificateFormat.CURRENT


class Connector(_Data):
    connector_id: int  # OCPP connectorId, 1-based
    current_type: CurrentType | None
    phases: int | None  # 1, 2 or 3 for AC; None for DC or unknown
    connector_type: ConnectorType | None
    cable: CableKind | None
    max_current_a: float | None = None
    max_power_kw: float | None = None


class Hardware(_Data):
    connectors: tuple[Connector, ...]
    detachable_cable: bool | None  # HFS-1
    fixed_cable: bool | None  # HFS-2
    ac_support: bool | None  # HFS-3
    dc_support: bool | None  # HFS-4
    single_phase: bool | None  # HFS-5
    two_phase: bool | None  # HFS-6
    three_phase: bool | None  # HFS-7
    communication: tuple[CommunicationTechnology, ...]  # HFS-9
    rfid_readers: RfidReaders | None  # HFS-10
    dc_power_kw: float | None  # HFS-11


class OptionalFeatures(_Data):
    """The optional-feature rows.  False for LA/RT/R/F when the whole profile
    was not tested: the simulator exposes certified functionality only."""

    offline_authorization: bool | None = None  # C-01
    offline_tx_for_unknown_id: bool | None = None  # C-02
    max_energy_on_invalid_id: bool | None = None  # C-03
    authorization_cache: bool | None = None  # C-04
    limit_status_notifications: bool | None = None  # C-05
    keep_authorization_on_ev_unplug: bool | None = None  # C-06.1
    end_authorization_on_ev_unplug: bool | None = None  # C-06.2
    local_start: bool | None = None  # C-07
    local_stop: bool | None = None  # C-08
    unlock_on_ev_unplug: bool | None = None  # C-10.1
    keep_locked_on_ev_unplug: bool | None = None  # C-10.2
    local_auth_list: bool | None = None  # LA-0
    remote_trigger: bool | None = None  # RT-0
    reservations: bool | None = None
    reserve_whole_station: bool | None = None  # R-1 (reservation of connector 0)
    charging_rate_current: bool | None = None  # SC-1.1: limits in A
    charging_rate_power: bool | None = None  # SC-1.2: limits in W
    secure_firmware_update: bool | None = None  # F-1


class Security(_Data):
    profile_1_basic_auth: bool | None = None  # C-11 / SEC-1
    profile_2_tls_basic_auth: bool | None = None  # SEC-2 (or Core row text)
    profile_3_tls_client_cert: bool | None = None  # SEC-3 (or Advanced Security)
    cipher_suites: tuple[str, ...] = ()  # C-12 / SEC-4

    @property
    def profiles(self) -> frozenset[int]:
        flags = (self.profile_1_basic_auth, self.profile_2_tls_basic_auth, self.profile_3_tls_client_cert)
        return frozenset(n for n, flag in enumerate(flags, start=1) if flag)


class Measurands(_Data):
    """C-09.1 (sampled) and C-09.2 (clock-aligned): what the lab tested and
    what the vendor says the station supports, as OCPP Measurand strings."""

    sampled_tested: tuple[str, ...] = ()
    sampled_declared: tuple[str, ...] = ()
    aligned_tested: tuple[str, ...] = ()
    aligned_declared: tuple[str, ...] = ()


class ConfigurationLimits(_Data):
    """ORS-* rows ("Other Relevant Settings"): limits the lab configured."""

    get_configuration_max_keys: int | None = None  # ORS-1
    meter_values_aligned_data_max_length: int | None = None  # ORS-2
    meter_values_sampled_data_max_length: int | None = None  # ORS-3
    meter_value_sample_interval_min_s: int | None = None  # ORS-4
    meter_value_sample_interval_max_s: int | None = None  # ORS-5
    heartbeat_interval_min_s: int | None = None  # ORS-6
    heartbeat_interval_max_s: int | None = None  # ORS-7
    stop_transaction_max_meter_values: int | None = None  # ORS-8
    stop_txn_aligned_data_max_length: int | None = None  # ORS-9
    stop_txn_sampled_data_max_length: int | None = None  # ORS-10
    websocket_ping_interval_s: int | None = None  # ORS-11 (0 = no ping)
    local_auth_list_max_length: int | None = None  # ORS-12
    send_local_list_max_length: int | None = None  # ORS-13
    charge_profile_max_stack_level: int | None = None  # ORS-14
    charging_schedule_max_periods: int | None = None  # ORS-15
    file_transfer_protocols: tuple[FileTransferProtocol, ...] | None = None  # ORS-16
    certificate_signed_max_chain_size: int | None = None  # ORS-17
    certificate_store_max_length: int | None = None  # ORS-18
    max_charging_profiles_installed: int | None = None  # ORS-19


class AdditionalAnswers(_Data):
    """AQ-* rows that change how a station behaves."""

    last_root_certificate_removable: bool | None = None  # AQ-1
    cable_lock_before_authorization: bool | None = None  # AQ-2: plug-in first impossible
    last_charge_point_certificate_removable: bool | None = None  # AQ-3
    firmware_download_during_transaction: bool | None = None  # AQ-4
    evse_selection_before_authorization: bool | None = None  # AQ-5
    iec_61851_1_charging: bool | None = None  # AQ-6: basic PWM, no SoC
    stop_transaction_before_power_down: bool | None = None  # AQ-7.1
    stop_transaction_after_power_up: bool | None = None  # AQ-7.2
    mechanized_connector_lock: bool | None = None  # AQ-9
    non_ev_authorization: bool | None = None  # AQ-11: e.g. RFID, not ISO 15118


class Measured(_Data):
    """Lab-measured times of one kind of exchange, in seconds."""

    min_s: float
    avg_s: float
    max_s: float

    def __post_init__(self) -> None:
        if not 0 <= self.min_s <= self.avg_s <= self.max_s:
            raise ValueError(f"need 0 <= min <= avg <= max, got {self.min_s}/{self.avg_s}/{self.max_s}")


class Timing(_Data):
    declared_max_s: float | None = None  # the vendor's maximum (PICS value)
    measured: Measured | None = None  # the lab's min/avg/max


class Performance(_Data):
    """The performance table.  No OCPP 1.6 key holds these; the station engine
    draws its reaction delays from ``measured`` and never exceeds ``declared_max_s``."""

    response: Timing = Timing()  # OCPP response timeout: .req -> .conf
    triggered: Timing = Timing()  # TriggerMessage.req -> the triggered .req
    remote_start: Timing = Timing()  # RemoteStartTransaction.req -> StartTransaction.req
    remote_stop: Timing = Timing()  # RemoteStopTransaction.req -> StopTransaction.req
    measured_over: CommunicationTechnology | None = None


class StationProfile(_Data):
    id: str  # short slug for CLI and scenarios, e.g. "bescore-bsc-s12bcc"
    vendor: str | None
    model: str | None
    firmware_version: str | None
    certification: Certification
    hardware: Hardware
    profiles_passed: frozenset[FeatureProfile]
    profiles_not_tested: frozenset[FeatureProfile]
    features: OptionalFeatures
    security: Security
    measurands: Measurands
    limits: ConfigurationLimits
    answers: AdditionalAnswers
    performance: Performance
    # Old-format certificates list configuration keys directly; their values
    # (None for "-", i.e. the key is not implemented) seed the configuration.
    declared_configuration: dict[str, str | None] = {}

    @property
    def supported_profiles(self) -> frozenset[FeatureProfile]:
        """The OCPP 1.6 profiles a station of this model exposes.  Newer OCA
        programmes certify LA, RT and R as optional features of Core (LA-0,
        RT-0, R-0) and firmware management as part of Core (F-1, ORS-16).
        Core is always there: no OCPP 1.6 certificate is issued without it."""
        found = (set(self.profiles_passed) - {FeatureProfile.SECURITY}) | {FeatureProfile.CORE}
        by_feature = {
            FeatureProfile.LOCAL_AUTH_LIST_MANAGEMENT: self.features.local_auth_list,
            FeatureProfile.REMOTE_TRIGGER: self.features.remote_trigger,
            FeatureProfile.RESERVATION: self.features.reservations,
        }
        found.update(profile for profile, flag in by_feature.items() if flag)
        firmware_evidence = self.features.secure_firmware_update or self.limits.file_transfer_protocols
        if firmware_evidence and FeatureProfile.FIRMWARE_MANAGEMENT not in self.profiles_not_tested:
            found.add(FeatureProfile.FIRMWARE_MANAGEMENT)
        return frozenset(found)

    @property
    def connector_count(self) -> int:
        return len(self.hardware.connectors)
