"""The OCPP 1.6 configuration a station of a certified model exposes.

:func:`build_configuration` turns a :class:`StationProfile` into every key a
GetConfiguration.req would list: value (a string, as on the wire), read-only
flag, and for read-write keys what ChangeConfiguration.req may set, so the
station can answer Accepted / Rejected / NotSupported (OCPP 1.6 §5.3, §6.9).

Where values come from, in order (each key's ``source`` says which):

1. the certificate: ORS-* limits, C-* features, C-09 measurands, SC-1.x units,
   R-1, the connectors (HFS-*, connector table);
2. an old-format certificate's listed configuration (``declared``), when its
   value is valid for the key;
3. :data:`DEFAULTS`: a documented choice for keys certificates do not print.

Keys present only with a feature (CERTIFICATES.md): AllowOfflineTxForUnknownId
(C-02), MaxEnergyOnInvalidId (C-03), AuthorizationCacheEnabled (C-04),
MinimumStatusDuration (C-05), WebSocketPingInterval (ORS-11 stated), the Local
Auth List keys (LocalAuthListManagement supported), ReserveConnectorZeroSupported
(R-1 stated), the Smart Charging keys, SupportedFileTransferProtocols (ORS-16),
and the security keys (a security profile supported).  AuthorizationKey is
write-only (whitepaper): it has no value and never appears in readable output.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import NamedTuple

import msgspec

from fleetsim.ocpp.base import FeatureProfile
from fleetsim.profiles.keys import BY_NAME, CATALOGUE, Access, ValueKind
from fleetsim.profiles.profile import OCPP16_PROFILES, CurrentType, StationProfile

__all__ = ["DEFAULTS", "ChangeVerdict", "ConfigurationKey", "Default", "StationConfiguration", "build_configuration"]


class ChangeVerdict(StrEnum):
    """ChangeConfiguration.conf status (OCPP 1.6 §7.8 ConfigurationStatus)."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    NOT_SUPPORTED = "NotSupported"


class Default(NamedTuple):
    value: str
    reason: str
    low: int | None = None  # accepted range for integer keys
    high: int | None = None


_DAY_S = 86_400

# Values for keys certificates do not print, each with the reason for it.
DEFAULTS: dict[str, Default] = {
    "AllowOfflineTxForUnknownId": Default(
        "false", "C-02 says it is supported, not that it is on; off is the safe choice"
    ),
    "AuthorizationCacheEnabled": Default("true", "C-04: the cache is there to be used"),
    "AuthorizeRemoteTxRequests": Default(
        "false", "remote starts go straight to StartTransaction, as the certificate's RemoteStart time measures"
    ),
    "ClockAlignedDataInterval": Default(
        "0", "§9.1 ClockAlignedDataInterval: 0 = no clock-aligned data until the CSMS sets it", 0, _DAY_S
    ),
    "ConnectionTimeOut": Default("60", "common vendor default (seed 001 declares 60)", 1, 3600),
    "HeartbeatInterval": Default("300", "replaced by BootNotification.conf interval; clamped to ORS-6/7", 0, _DAY_S),
    "LocalAuthorizeOffline": Default("false", "C-01 not stated: no offline starts unless the CSMS enables them"),
    "LocalPreAuthorize": Default("false", "wait for the CSMS's Authorize.conf: exercises the CSMS"),
    "MaxEnergyOnInvalidId": Default("0", "C-03: deliver nothing more once an id is invalidated", 0, 1_000_000),
    "MeterValueSampleInterval": Default("60", "one sample a minute; clamped to ORS-4/5", 0, _DAY_S),
    "MinimumStatusDuration": Default("0", "C-05: supported; 0 = report every status change", 0, 3600),
    "ResetRetries": Default("3", "common vendor default (seed 001 declares 3)", 0, 10),
    "StopTransactionOnInvalidId": Default(
        "true", "§9.1 StopTransactionOnInvalidId: stop charging for an id the CSMS rejects"
    ),
    "StopTxnAlignedData": Default("", "§9.1 StopTxnAlignedData: transactionData only when the CSMS asks for it"),
    "StopTxnSampledData": Default("", "§9.1 StopTxnSampledData: transactionData only when the CSMS asks for it"),
    "TransactionMessageAttempts": Default("3", "common vendor default", 0, 10),
    "TransactionMessageRetryInterval": Default("60", "common vendor default", 0, 3600),
    "WebSocketPingInterval": Default("0", "range only; the value is ORS-11", 0, _DAY_S),
    "LocalAuthListEnabled": Default("true", "LA-0: the list is there to be used"),
    "LocalAuthListMaxLength": Default("1000", "ORS-12 missing: a modest list"),
    "SendLocalListMaxLength": Default("100", "ORS-13 missing: a modest batch"),
    "ChargeProfileMaxStackLevel": Default("3", "ORS-14 missing: a few stack levels"),
    "ChargingScheduleMaxPeriods": Default("24", "ORS-15 missing: hourly periods for a day"),
    "MaxChargingProfilesInstalled": Default("10", "ORS-19 missing: as seed 000"),
    "ChargingScheduleAllowedChargingRateUnit": Default("Current,Power", "SC-1.1/1.2 missing: both units"),
    "CertificateSignedMaxChainSize": Default("10000", "ORS-17 missing: the whitepaper's maximum"),
    "CertificateStoreMaxLength": Default("10", "ORS-18 missing: a handful of installed certificates"),
    "SecurityProfile": Default("0", "whitepaper: 0 until the CSMS raises it; it can only go up"),
}

_BOOLEAN = ("true", "false")
_ROTATIONS = ("RST", "RTS", "SRT", "STR", "TRS", "TSR", "NotApplicable", "Unknown")
_INTEGER = re.compile(r"[+-]?\d{1,18}")


class ConfigurationKey(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    value: str | None  # as GetConfiguration.conf reports it; None only for write-only keys
    readonly: bool
    access: Access
    kind: ValueKind
    source: str  # certificate row, "declared", "derived" or "default"
    min_value: int | None = None  # INTEGER
    max_value: int | None = None
    choices: tuple[str, ...] | None = None  # accepted values, or accepted CSL items
    max_items: int | None = None  # CSL
    min_items: int = 0
    min_length: int | None = None  # STRING
    max_length: int | None = None
    only_increase: bool = False  # whitepaper: SecurityProfile can only be raised

    @property
    def readable(self) -> bool:
        return self.access is not Access.WRITE_ONLY

    def accepts(self, value: str) -> bool:
        """Is ``value`` of this key's type and within its range (ignoring access)?"""
        match self.kind:
            case ValueKind.BOOLEAN:
                return value.strip().lower() in (self.choices or _BOOLEAN)
            case ValueKind.INTEGER:
                return self._accepts_integer(value)
            case ValueKind.CSL:
                return self._accepts_list(value)
            case ValueKind.STRING:
                low, high = self.min_length or 0, self.max_length or 500  # CiString500 (§7)
                return low <= len(value) <= high
        return False

    def _accepts_integer(self, value: str) -> bool:
        if not _INTEGER.fullmatch(value.strip()):
            return False
        number = int(value)
        if self.choices is not None and str(number) not in self.choices:
            return False
        return (self.min_value is None or number >= self.min_value) and (
            self.max_value is None or number <= self.max_value
        )

    def _accepts_list(self, value: str) -> bool:
        items = [item.strip().lower() for item in value.split(",") if item.strip()]
        if len(items) != len(set(items)) or len(items) < self.min_items:
            return False
        if self.max_items is not None and len(items) > self.max_items:
            return False
        allowed = {choice.lower() for choice in self.choices} if self.choices is not None else None
        return allowed is None or all(item in allowed for item in items)

    def canonical(self, value: str) -> str:
        """``value`` as the station stores and reports it ("TRUE" -> "true";
        CSL items in the spec's spelling, no spaces)."""
        if self.kind is ValueKind.BOOLEAN:
            return value.strip().lower()
        if self.kind is ValueKind.INTEGER:
            return str(int(value))
        if self.kind is ValueKind.CSL:
            spelling = {choice.lower(): choice for choice in self.choices or ()}
            items = [item.strip() for item in value.split(",") if item.strip()]
            return ",".join(spelling.get(item.lower(), item) for item in items)
        return value

    def verdict(self, value: str, current: str | None = None) -> ChangeVerdict:
        """ChangeConfiguration.conf status for setting this key to ``value``."""
        if self.readonly or not self.accepts(value):
            return ChangeVerdict.REJECTED  # §5.3: read-only or invalid value
        if self.only_increase and int(value) < int(current if current is not None else self.value or 0):
            return ChangeVerdict.REJECTED
        return ChangeVerdict.ACCEPTED


class StationConfiguration(msgspec.Struct, frozen=True):
    keys: tuple[ConfigurationKey, ...]  # in the spec's order

    def get(self, name: str) -> ConfigurationKey | None:
        """Look a key up; OCPP key names are CiString50, case-insensitive."""
        folded = name.casefold()
        return next((key for key in self.keys if key.key.casefold() == folded), None)

    def readable(self) -> tuple[ConfigurationKey, ...]:
        """What GetConfiguration.req without a key list returns."""
        return tuple(key for key in self.keys if key.readable)

    def values(self) -> dict[str, str]:
        return {key.key: key.value for key in self.readable() if key.value is not None}

    def verdict(self, name: str, value: str) -> ChangeVerdict:
        key = self.get(name)
        return ChangeVerdict.NOT_SUPPORTED if key is None else key.verdict(value)


# ---------------------------------------------------------------- building


def _key(name: str, value: str | None, source: str, **rules: object) -> ConfigurationKey:
    spec = BY_NAME[name]
    return ConfigurationKey(
        key=name,
        value=value,
        readonly=spec.access is Access.READ_ONLY,
        access=spec.access,
        kind=spec.kind,
        source=source,
        **rules,  # type: ignore[arg-type]
    )


def _default(name: str, low: int | None = None, high: int | None = None) -> ConfigurationKey:
    """A key from DEFAULTS, its range narrowed to [low, high] when the certificate gives one."""
    default = DEFAULTS[name]
    spec = BY_NAME[name]
    if spec.kind is ValueKind.INTEGER:
        low = default.low if low is None else low
        high = default.high if high is None else high
        value = int(default.value)
        value = max(low, value) if low is not None else value
        value = min(high, value) if high is not None else value
        return _key(name, str(value), "default", min_value=low, max_value=high)
    if spec.kind is ValueKind.BOOLEAN:
        return _key(name, default.value, "default", choices=_BOOLEAN)
    return _key(name, default.value, "default")


def _count(name: str, stated: int | None, row: str) -> ConfigurationKey:
    """A read-only count from an ORS row, or its documented default."""
    if stated is not None:
        return _key(name, str(stated), row)
    return _key(name, DEFAULTS[name].value, "default")


def _choice(name: str, allowed: tuple[str, ...], source: str) -> ConfigurationKey:
    """A boolean the station can only set to the values the certificate allows."""
    allowed = allowed or _BOOLEAN
    return _key(name, "true" if "true" in allowed else "false", source, choices=allowed)


def _flag_choices(yes: bool | None, no: bool | None) -> tuple[str, ...]:
    """Values allowed by a pair of rows like C-06.2 (true) / C-06.1 (false):
    only a row saying "No" rules its value out; an unstated row does not."""
    return tuple(value for value, flag in (("true", yes), ("false", no)) if flag is not False)


def _core_keys(profile: StationProfile) -> list[ConfigurationKey]:
    features, limits = profile.features, profile.limits
    keys = [
        _default("AuthorizeRemoteTxRequests"),
        _default("ClockAlignedDataInterval"),
        _default("ConnectionTimeOut"),
        _phase_rotation(profile),
        _default("HeartbeatInterval", limits.heartbeat_interval_min_s, limits.heartbeat_interval_max_s),
        _local_authorize_offline(features.offline_authorization),
        _default("LocalPreAuthorize"),
        _default(
            "MeterValueSampleInterval",
            limits.meter_value_sample_interval_min_s,
            limits.meter_value_sample_interval_max_s,
        ),
        _key("NumberOfConnectors", str(profile.connector_count), "HFS-8"),
        _default("ResetRetries"),
        _choice(
            "StopTransactionOnEVSideDisconnect",
            _flag_choices(features.end_authorization_on_ev_unplug, features.keep_authorization_on_ev_unplug),
            "C-06.1/C-06.2",
        ),
        _default("StopTransactionOnInvalidId"),
        _key("SupportedFeatureProfiles", _feature_profiles(profile), "profiles"),
        _default("TransactionMessageAttempts"),
        _default("TransactionMessageRetryInterval"),
        _choice(
            "UnlockConnectorOnEVSideDisconnect",
            _flag_choices(features.unlock_on_ev_unplug, features.keep_locked_on_ev_unplug),
            "C-10.1/C-10.2",
        ),
    ]
    optional = {
        "AllowOfflineTxForUnknownId": features.offline_tx_for_unknown_id,
        "MaxEnergyOnInvalidId": features.max_energy_on_invalid_id,
        "AuthorizationCacheEnabled": features.authorization_cache,
        "MinimumStatusDuration": features.limit_status_notifications,
    }
    keys += [_default(name) for name, supported in optional.items() if supported]
    if limits.get_configuration_max_keys is not None:
        keys.append(_key("GetConfigurationMaxKeys", str(limits.get_configuration_max_keys), "ORS-1"))
    if limits.websocket_ping_interval_s is not None:
        keys.append(
            _key(
                "WebSocketPingInterval", str(limits.websocket_ping_interval_s), "ORS-11", min_value=0, max_value=_DAY_S
            )
        )
    return keys


def _local_authorize_offline(supported: bool | None) -> ConfigurationKey:
    """C-01: offline authorization supported -> on and switchable; "No" ->
    fixed off; not stated -> the default, switchable."""
    if supported is None:
        return _default("LocalAuthorizeOffline")
    return _key("LocalAuthorizeOffline", str(supported).lower(), "C-01", choices=_BOOLEAN if supported else ("false",))


def _feature_profiles(profile: StationProfile) -> str:
    # SupportedFeatureProfiles holds only the six 1.6 profiles; "Security" is not a value of it.
    return ",".join(p.value for p in OCPP16_PROFILES if p in profile.supported_profiles)


def _phase_rotation(profile: StationProfile) -> ConfigurationKey:
    """OCPP 1.6 §9.1 ConnectorPhaseRotation: RST for three-phase AC connectors (the
    standard reference phasing), NotApplicable for single-phase and DC."""
    items = []
    for connector in profile.hardware.connectors:
        if connector.current_type is CurrentType.AC and connector.phases == 3:
            code = "RST"
        elif connector.current_type is CurrentType.DC or connector.phases == 1:
            code = "NotApplicable"
        else:
            code = "Unknown"
        items.append(f"{connector.connector_id}.{code}")
    choices = tuple(f"{n}.{code}" for n in range(profile.connector_count + 1) for code in _ROTATIONS)
    return _key(
        "ConnectorPhaseRotation",
        ",".join(items),
        "derived",
        choices=choices,
        min_items=1,
        max_items=profile.connector_count + 1,
    )


def _meter_keys(profile: StationProfile) -> list[ConfigurationKey]:
    """C-09.1/C-09.2 measurands and the ORS-2/3/9/10 list lengths."""
    m, limits = profile.measurands, profile.limits
    sampled = tuple(dict.fromkeys(m.sampled_tested + m.sampled_declared))
    aligned = tuple(dict.fromkeys(m.aligned_tested + m.aligned_declared))
    keys = [
        _csl(
            "MeterValuesSampledData",
            m.sampled_tested or m.sampled_declared,
            sampled,
            limits.meter_values_sampled_data_max_length,
            "C-09.1",
        ),
        _csl(
            "MeterValuesAlignedData",
            m.aligned_tested or m.aligned_declared,
            aligned,
            limits.meter_values_aligned_data_max_length,
            "C-09.2",
        ),
        _csl("StopTxnSampledData", (), sampled, limits.stop_txn_sampled_data_max_length, "default"),
        _csl("StopTxnAlignedData", (), aligned, limits.stop_txn_aligned_data_max_length, "default"),
    ]
    for name, stated, row in (
        ("MeterValuesAlignedDataMaxLength", limits.meter_values_aligned_data_max_length, "ORS-2"),
        ("MeterValuesSampledDataMaxLength", limits.meter_values_sampled_data_max_length, "ORS-3"),
        ("StopTxnAlignedDataMaxLength", limits.stop_txn_aligned_data_max_length, "ORS-9"),
        ("StopTxnSampledDataMaxLength", limits.stop_txn_sampled_data_max_length, "ORS-10"),
    ):
        if stated is not None:
            keys.append(_key(name, str(stated), row))
    return keys


def _csl(
    name: str, value: tuple[str, ...], allowed: tuple[str, ...], max_items: int | None, source: str
) -> ConfigurationKey:
    limit = max_items if max_items is not None else len(allowed)
    return _key(name, ",".join(value[:limit]), source, choices=allowed, max_items=limit)


def _profile_keys(profile: StationProfile) -> list[ConfigurationKey]:
    """Keys of the Firmware, Local Auth List, Reservation and Smart Charging profiles."""
    supported, limits, features = profile.supported_profiles, profile.limits, profile.features
    keys: list[ConfigurationKey] = []
    if FeatureProfile.FIRMWARE_MANAGEMENT in supported and limits.file_transfer_protocols:
        protocols = ",".join(p.value for p in limits.file_transfer_protocols)
        keys.append(_key("SupportedFileTransferProtocols", protocols, "ORS-16"))
    if FeatureProfile.LOCAL_AUTH_LIST_MANAGEMENT in supported:
        keys += [
            _default("LocalAuthListEnabled"),
            _count("LocalAuthListMaxLength", limits.local_auth_list_max_length, "ORS-12"),
            _count("SendLocalListMaxLength", limits.send_local_list_max_length, "ORS-13"),
        ]
    if FeatureProfile.RESERVATION in supported and features.reserve_whole_station is not None:
        keys.append(_key("ReserveConnectorZeroSupported", str(features.reserve_whole_station).lower(), "R-1"))
    if FeatureProfile.SMART_CHARGING in supported:
        units = [
            u
            for u, flag in (("Current", features.charging_rate_current), ("Power", features.charging_rate_power))
            if flag
        ]
        keys += [
            _count("ChargeProfileMaxStackLevel", limits.charge_profile_max_stack_level, "ORS-14"),
            _key("ChargingScheduleAllowedChargingRateUnit", ",".join(units), "SC-1.1/SC-1.2")
            if units
            else _default("ChargingScheduleAllowedChargingRateUnit"),
            _count("ChargingScheduleMaxPeriods", limits.charging_schedule_max_periods, "ORS-15"),
            _count("MaxChargingProfilesInstalled", limits.max_charging_profiles_installed, "ORS-19"),
        ]
    return keys


def _security_keys(profile: StationProfile) -> list[ConfigurationKey]:
    """Security whitepaper keys, for stations supporting a security profile."""
    security, limits = profile.security, profile.limits
    levels = sorted(security.profiles)
    if not levels:
        return []
    keys = [
        _key(
            "SecurityProfile",
            DEFAULTS["SecurityProfile"].value,
            "default",
            choices=("0", *map(str, levels)),
            only_increase=True,
        )
    ]
    if 1 in levels or 2 in levels:
        # Whitepaper: required unless only profile 3; 16 bytes minimum, up to 40 hex digits.
        keys.append(_key("AuthorizationKey", None, "whitepaper", min_length=16, max_length=40))
    if 2 in levels or 3 in levels:
        keys += [
            _count("CertificateSignedMaxChainSize", limits.certificate_signed_max_chain_size, "ORS-17"),
            _count("CertificateStoreMaxLength", limits.certificate_store_max_length, "ORS-18"),
        ]
    return keys


def _with_declared(key: ConfigurationKey, declared: dict[str, str | None]) -> ConfigurationKey:
    """Old-format certificates list the tested configuration: use a listed
    value for a read-write key when it is valid for that key."""
    value = declared.get(key.key)
    if key.readonly or not key.readable or value is None:
        return key
    if key.key == "ConnectorPhaseRotation" or not key.accepts(value):
        return key  # derived from the connectors; or invalid for this model
    return msgspec.structs.replace(key, value=key.canonical(value), source="declared")


def build_configuration(profile: StationProfile) -> StationConfiguration:
    """Every configuration key a station of this model exposes, in spec order."""
    keys = _core_keys(profile) + _meter_keys(profile) + _profile_keys(profile) + _security_keys(profile)
    keys = [_with_declared(key, profile.declared_configuration) for key in keys]
    if not any(key.key == "GetConfigurationMaxKeys" for key in keys):
        # ORS-1 missing: let one GetConfiguration.req ask for every key.
        keys.append(_key("GetConfigurationMaxKeys", str(sum(key.readable for key in keys) + 1), "derived"))
    order = {spec.name: index for index, spec in enumerate(CATALOGUE)}
    return StationConfiguration(tuple(sorted(keys, key=lambda key: order[key.key])))
