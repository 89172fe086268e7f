"""The OCPP configuration of each certified model, against OCPP 1.6 §9,
the security whitepaper and CERTIFICATES.md."""

from __future__ import annotations

import pytest
from profile_seeds import SEEDS, parsed_seed

from fleetsim.ocpp.base import FeatureProfile
from fleetsim.profiles import ChangeVerdict, StationConfiguration, build_configuration, parse_certificate
from fleetsim.profiles.configuration import DEFAULTS
from fleetsim.profiles.keys import BY_NAME, CATALOGUE, Access


def config(seed: str) -> StationConfiguration:
    return build_configuration(parsed_seed(seed).profile)


def value(seed: str, key: str) -> str | None:
    found = config(seed).get(key)
    assert found is not None, f"{key} missing"
    return found.value


@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_required_keys_of_every_supported_profile_are_present(seed: str) -> None:
    profile = parsed_seed(seed).profile
    names = {key.key for key in config(seed).keys}
    for spec in CATALOGUE:
        if spec.required and spec.profile in profile.supported_profiles:
            assert spec.name in names, spec.name
    assert names <= set(BY_NAME)  # only spec keys, spelled as in the spec


@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_keys_follow_the_catalogue_access_and_accept_their_own_values(seed: str) -> None:
    for key in config(seed).keys:
        spec = BY_NAME[key.key]
        assert key.access is spec.access and key.readonly is (spec.access is Access.READ_ONLY)
        if key.readable:
            assert isinstance(key.value, str)
        if not key.readonly and key.readable:
            assert key.accepts(key.value), (key.key, key.value)
            assert key.verdict(key.value) is ChangeVerdict.ACCEPTED


@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_every_default_has_a_reason(seed: str) -> None:
    for key in config(seed).keys:
        if key.source == "default":
            assert DEFAULTS[key.key].reason.strip()
            assert key.value == DEFAULTS[key.key].value or key.kind.value == "integer"  # integers may be clamped


@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_authorization_key_is_never_readable(seed: str) -> None:
    configuration = config(seed)
    assert all(key.key != "AuthorizationKey" for key in configuration.readable())
    assert "AuthorizationKey" not in configuration.values()
    authorization_key = configuration.get("AuthorizationKey")
    if authorization_key is not None:
        assert authorization_key.value is None and authorization_key.access is Access.WRITE_ONLY


@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_supported_feature_profiles_lists_only_16_profiles(seed: str) -> None:
    listed = value(seed, "SupportedFeatureProfiles").split(",")
    assert "Security" not in listed
    assert set(listed) == {p.value for p in parsed_seed(seed).profile.supported_profiles}


def test_seed_000_bescore() -> None:
    configuration = config("000")
    assert value("000", "SupportedFeatureProfiles") == (
        "Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,RemoteTrigger"
    )
    assert value("000", "NumberOfConnectors") == "2"
    assert value("000", "ConnectorPhaseRotation") == "1.NotApplicable,2.NotApplicable"  # DC
    assert value("000", "ChargeProfileMaxStackLevel") == "10"  # ORS-14, spec spelling
    assert configuration.get("ChargingProfileMaxStackLevel") is None
    assert value("000", "ChargingScheduleAllowedChargingRateUnit") == "Current,Power"
    assert value("000", "ReserveConnectorZeroSupported") == "true"
    assert value("000", "WebSocketPingInterval") == "120"
    assert value("000", "SupportedFileTransferProtocols") == "FTP,HTTP"
    assert value("000", "MeterValuesSampledData") == (
        "Energy.Active.Import.Interval,Current.Import,Power.Active.Import,Energy.Active.Import.Register,SoC,Voltage"
    )
    assert value("000", "CertificateStoreMaxLength") == "2000000"
    for key in (
        "AllowOfflineTxForUnknownId",
        "MaxEnergyOnInvalidId",
        "AuthorizationCacheEnabled",
        "MinimumStatusDuration",
        "LocalAuthListEnabled",
    ):
        assert configuration.get(key) is not None, key


def test_seed_000_change_configuration_verdicts() -> None:
    configuration = config("000")
    verdict = configuration.verdict
    assert verdict("HeartbeatInterval", "86400") is ChangeVerdict.ACCEPTED  # ORS-7
    assert verdict("HeartbeatInterval", "86401") is ChangeVerdict.REJECTED
    assert verdict("HeartbeatInterval", "0") is ChangeVerdict.REJECTED  # ORS-6 = 1
    assert verdict("HeartbeatInterval", "ten") is ChangeVerdict.REJECTED
    assert verdict("heartbeatinterval", "60") is ChangeVerdict.ACCEPTED  # keys are case-insensitive
    assert verdict("NumberOfConnectors", "3") is ChangeVerdict.REJECTED  # read-only
    assert verdict("NoSuchKey", "1") is ChangeVerdict.NOT_SUPPORTED
    # C-06.1 No / C-06.2 Yes: authorization always ends on EV-side unplug.
    assert verdict("StopTransactionOnEVSideDisconnect", "false") is ChangeVerdict.REJECTED
    assert verdict("StopTransactionOnEVSideDisconnect", "TRUE") is ChangeVerdict.ACCEPTED
    # C-10.1 No / C-10.2 Yes: never unlocks on EV-side unplug.
    assert verdict("UnlockConnectorOnEVSideDisconnect", "true") is ChangeVerdict.REJECTED
    assert verdict("MeterValuesSampledData", "SoC,Voltage") is ChangeVerdict.ACCEPTED
    assert verdict("MeterValuesSampledData", "SoC,Frequency") is ChangeVerdict.REJECTED  # not certified
    assert verdict("StopTxnSampledData", "") is ChangeVerdict.ACCEPTED
    assert verdict("AuthorizationKey", "0123456789abcdef0123") is ChangeVerdict.ACCEPTED  # write-only, writable
    assert verdict("AuthorizationKey", "short") is ChangeVerdict.REJECTED
    security = configuration.get("SecurityProfile")
    assert security is not None and security.value == "0"
    assert security.verdict("2") is ChangeVerdict.ACCEPTED
    assert security.verdict("4") is ChangeVerdict.REJECTED
    assert security.verdict("1", current="2") is ChangeVerdict.REJECTED  # whitepaper: only upwards


def test_seed_001_uses_the_listed_configuration() -> None:
    configuration = config("001")
    assert value("001", "SupportedFeatureProfiles") == "Core"
    assert value("001", "HeartbeatInterval") == "10"
    assert value("001", "ClockAlignedDataInterval") == "30"
    assert value("001", "AuthorizeRemoteTxRequests") == "true"  # listed as TRUE
    assert value("001", "TransactionMessageAttempts") == "1"
    assert value("001", "StopTransactionOnInvalidId") == "false"
    assert value("001", "UnlockConnectorOnEVSideDisconnect") == "false"
    assert value("001", "MinimumStatusDuration") == "10"
    assert value("001", "GetConfigurationMaxKeys") == "1"
    assert value("001", "ConnectorPhaseRotation") == "1.RST"  # one AC three-phase connector
    assert configuration.get("HeartbeatInterval").source == "declared"  # type: ignore[union-attr]
    for absent in (
        "WebSocketPingInterval",
        "AllowOfflineTxForUnknownId",
        "AuthorizationCacheEnabled",
        "LocalAuthListEnabled",
        "ChargeProfileMaxStackLevel",
        "SecurityProfile",
    ):
        assert configuration.get(absent) is None, absent


def test_seed_002_three_phase_and_list_lengths() -> None:
    configuration = config("002")
    assert value("002", "ConnectorPhaseRotation") == "1.RST,2.RST"
    assert configuration.verdict("StopTxnSampledData", "SoC,Voltage") is ChangeVerdict.ACCEPTED
    assert configuration.verdict("StopTxnSampledData", "SoC,Voltage,Temperature") is ChangeVerdict.REJECTED  # ORS-10
    assert configuration.get("AllowOfflineTxForUnknownId") is None  # C-02 No
    assert configuration.get("MinimumStatusDuration") is None  # C-05 No
    assert value("002", "CertificateSignedMaxChainSize") == "10000"


def test_seed_003_not_tested_profiles_have_no_keys() -> None:
    configuration = config("003")
    assert value("003", "SupportedFeatureProfiles") == "Core,FirmwareManagement,RemoteTrigger"
    for absent in (
        "LocalAuthListEnabled",
        "LocalAuthListMaxLength",
        "ChargeProfileMaxStackLevel",
        "ReserveConnectorZeroSupported",
        "SecurityProfile",
        "AuthorizationKey",
        "MaxEnergyOnInvalidId",
        "AuthorizationCacheEnabled",
        "MinimumStatusDuration",
    ):
        assert configuration.get(absent) is None, absent
    assert value("003", "AllowOfflineTxForUnknownId") == "false"  # C-02 Yes: present, off
    assert value("003", "ConnectorPhaseRotation") == "1.NotApplicable"  # single phase
    assert value("003", "HeartbeatInterval") == "60"  # default 300 clamped to ORS-7
    assert configuration.verdict("HeartbeatInterval", "9") is ChangeVerdict.REJECTED  # ORS-6 = 10
    assert configuration.verdict("MeterValueSampleInterval", "10") is ChangeVerdict.ACCEPTED
    # C-06.1 and C-06.2 both Yes: either behaviour can be configured.
    assert configuration.verdict("StopTransactionOnEVSideDisconnect", "false") is ChangeVerdict.ACCEPTED


def test_seed_004_smart_charging_in_amps_only() -> None:
    configuration = config("004")
    assert value("004", "ChargingScheduleAllowedChargingRateUnit") == "Current"
    assert value("004", "ReserveConnectorZeroSupported") == "false"
    assert value("004", "LocalAuthListMaxLength") == "100000"
    assert value("004", "GetConfigurationMaxKeys") == "3"
    installed = configuration.get("MaxChargingProfilesInstalled")
    assert installed is not None and installed.source == "default"  # no ORS-19 row
    assert installed.value == DEFAULTS["MaxChargingProfilesInstalled"].value
    assert value("004", "SupportedFileTransferProtocols") == "FTP,HTTP,HTTPS"


def test_configuration_order_is_the_spec_order() -> None:
    order = [spec.name for spec in CATALOGUE]
    names = [key.key for key in config("000").keys]
    assert names == sorted(names, key=order.index)


def test_canonical_values() -> None:
    configuration = config("000")
    assert configuration.get("LocalPreAuthorize").canonical(" TRUE ") == "true"  # type: ignore[union-attr]
    sampled = configuration.get("MeterValuesSampledData")
    assert sampled is not None and sampled.canonical("soc, voltage") == "SoC,Voltage"


def test_get_configuration_max_keys_defaults_to_every_key() -> None:
    profile = parse_certificate("Vendor name:\tACME\nProduct Designation:\tX-1\nHFS-8\tNo. Connectors\t1\n").profile
    configuration = build_configuration(profile)
    max_keys = configuration.get("GetConfigurationMaxKeys")
    assert max_keys is not None and int(max_keys.value or 0) >= len(configuration.readable())
    # No profile table read: Core only, which every OCPP 1.6 certificate includes.
    assert profile.profiles_passed == frozenset()
    assert profile.supported_profiles == {FeatureProfile.CORE}
    supported = configuration.get("SupportedFeatureProfiles")
    assert supported is not None and supported.value == "Core"
