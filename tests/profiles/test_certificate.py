"""The parser on the five shipped certificates: the facts each one states,
read off the certificate text by hand."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from profile_seeds import CERTIFICATES, SEEDS, parsed_seed, seed_text, warned_fields

from fleetsim.ocpp.base import FeatureProfile as FP
from fleetsim.profiles import CertificateError, Measured, parse_certificate
from fleetsim.profiles.profile import (
    CableKind,
    CertificateFormat,
    CommunicationTechnology,
    ConnectorType,
    CurrentType,
    FileTransferProtocol,
    RfidReaders,
)

ALL_16 = {
    FP.CORE,
    FP.FIRMWARE_MANAGEMENT,
    FP.LOCAL_AUTH_LIST_MANAGEMENT,
    FP.RESERVATION,
    FP.SMART_CHARGING,
    FP.REMOTE_TRIGGER,
}

# seed: vendor, model, firmware, certificate number, date, test lab, id
IDENTITY = {
    "000": (
        "BESCORE NEW ENERGY TECHNOLOGY(QINGDAO) CO.,LTD.",
        "BSC-S12BCC",
        "V1.0.6",
        "OCA.0016.1183.CS",
        dt.date(2026, 1, 9),
        "Korea Testing Laboratory",
        "bescore-bsc-s12bcc",
    ),
    "001": (
        "Bionever Inc.",
        "BSS011K-V1000",
        "1.0",
        "OCA.0016.0640.CS",
        dt.date(2024, 3, 13),
        "Korea Testing Certification institute",
        "bionever-bss011k-v1000",
    ),
    "002": (
        "WENZHOU BLUESKY ENERGY TECHNOLOGY CO.,LTD",
        "BSEC-22K(A)2(CCS2)400S",
        "9b|Inx1.6-t07",
        "OCA.0016.1193.CS",
        dt.date(2026, 1, 30),
        "DNV Singapore Pte Ltd",
        "wenzhou-bsec-22k-a-2-ccs2-400s",
    ),
    "003": (
        "TaeSeongConTech",
        "TSCT-2007CP",
        "v1.0.0",
        "OCA.0016.0901.CS",
        dt.date(2024, 9, 24),
        "Korea Smart Grid Association",
        "taeseongcontech-tsct-2007cp",
    ),
    "004": (
        "EVSIS Co., Ltd.",
        "JC-9932-100-CU07",
        "0.0.1",
        "OCA.0016.0855.CS",
        dt.date(2024, 8, 13),
        "Korea Smart Grid Association",
        "evsis-jc-9932-100-cu07",
    ),
}


@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_identity(seed: str) -> None:
    profile = parsed_seed(seed).profile
    vendor, model, firmware, number, date, lab, slug = IDENTITY[seed]
    assert (profile.vendor, profile.model, profile.firmware_version) == (vendor, model, firmware)
    assert (profile.certification.number, profile.certification.date) == (number, date)
    assert profile.certification.test_lab == lab
    assert profile.id == slug


# seed: declared response / triggered / RemoteStart / RemoteStop maxima, as in the seeds README
DECLARED_S = {
    "000": (25, 5, 5, 5),
    "001": (10, 20, 10, None),
    "002": (10, 10, 10, 10),
    "003": (60, 30, 30, 5),
    "004": (30, 30, 30, 30),
}


@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_declared_timeouts(seed: str) -> None:
    performance = parsed_seed(seed).profile.performance
    got = tuple(
        t.declared_max_s
        for t in (performance.response, performance.triggered, performance.remote_start, performance.remote_stop)
    )
    assert got == DECLARED_S[seed]


def test_declared_timeouts_match_the_certificates_readme() -> None:
    """The README shipped beside the certificates states the same maxima."""
    readme = (CERTIFICATES / "README.md").read_text(encoding="utf-8")
    for seed, name in SEEDS.items():
        row = next(line for line in readme.splitlines() if line.startswith(f"| {name}"))
        numbers = tuple(int(n) for n in re.findall(r"\d+", row.split("|")[-2]))
        assert numbers == tuple(n for n in DECLARED_S[seed] if n is not None), seed


# seed: measured (min, avg, max) of response, triggered, RemoteStart, RemoteStop
MEASURED = {
    "000": ((0.27, 0.42, 22.22), (0.45, 1.69, 2.44), (4.79, 4.79, 4.79), (3.57, 3.57, 3.57)),
    "001": ((1, 1, 1), (13, 13, 13), (0, 0, 0), None),  # hh:mm:ss, one value each
    "002": ((0.23, 0.29, 1.17), (0.30, 0.67, 0.98), (1.84, 1.84, 1.84), (1.66, 1.66, 1.66)),
    "003": ((0.27, 0.83, 1.97), (1.37, 2.12, 3.06), (3.39, 3.39, 3.39), (3.06, 3.50, 3.94)),
    "004": ((0.34, 0.41, 0.87), (0.68, 0.79, 1.48), (4.97, 4.97, 4.97), (6.11, 16.58, 27.05)),
}


@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_measured_times(seed: str) -> None:
    performance = parsed_seed(seed).profile.performance
    timings = (performance.response, performance.triggered, performance.remote_start, performance.remote_stop)
    for timing, expected in zip(timings, MEASURED[seed], strict=True):
        if expected is None:
            assert timing.measured is None
        else:
            assert timing.measured == Measured(min_s=expected[0], avg_s=expected[1], max_s=expected[2])


# seed: count, current, phases, connector type, cable, dc power kW
HARDWARE = {
    "000": (2, CurrentType.DC, None, ConnectorType.C_CCS2, CableKind.FIXED, 120.0),
    "001": (1, CurrentType.AC, 3, None, CableKind.FIXED, None),
    "002": (2, CurrentType.AC, 3, ConnectorType.C_TYPE2, CableKind.FIXED, None),
    "003": (1, CurrentType.AC, 1, ConnectorType.C_TYPE1, CableKind.FIXED, None),
    "004": (2, CurrentType.DC, None, ConnectorType.C_CCS1, CableKind.FIXED, None),
}


@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_connectors(seed: str) -> None:
    hardware = parsed_seed(seed).profile.hardware
    count, current, phases, kind, cable, dc_kw = HARDWARE[seed]
    assert [c.connector_id for c in hardware.connectors] == list(range(1, count + 1))
    for connector in hardware.connectors:
        assert (connector.current_type, connector.phases, connector.connector_type, connector.cable) == (
            current,
            phases,
            kind,
            cable,
        )
    assert hardware.dc_power_kw == dc_kw
    assert hardware.dc_support is (current is CurrentType.DC if seed != "001" else None)


# seed: passed, not tested, exposed (SupportedFeatureProfiles)
PROFILES = {
    "000": ({FP.CORE, FP.SECURITY, FP.SMART_CHARGING}, set(), ALL_16),
    "001": ({FP.CORE}, ALL_16 - {FP.CORE}, {FP.CORE}),
    "002": ({FP.CORE, FP.SECURITY, FP.SMART_CHARGING}, set(), ALL_16),
    "003": (
        {FP.CORE, FP.FIRMWARE_MANAGEMENT, FP.REMOTE_TRIGGER},
        {FP.LOCAL_AUTH_LIST_MANAGEMENT, FP.SMART_CHARGING, FP.RESERVATION},
        {FP.CORE, FP.FIRMWARE_MANAGEMENT, FP.REMOTE_TRIGGER},
    ),
    "004": (ALL_16 | {FP.SECURITY}, set(), ALL_16),
}


@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_feature_profiles(seed: str) -> None:
    profile = parsed_seed(seed).profile
    passed, not_tested, exposed = PROFILES[seed]
    assert profile.profiles_passed == passed
    assert profile.profiles_not_tested == not_tested
    assert profile.supported_profiles == exposed


def test_seed_000_bescore_dc_120kw() -> None:
    profile = parsed_seed("000").profile
    assert profile.certification.format is CertificateFormat.CURRENT
    assert profile.hardware.communication == (CommunicationTechnology.MOBILE_NETWORK,)
    assert profile.hardware.rfid_readers is RfidReaders.SINGLE
    f = profile.features
    assert (
        f.offline_authorization,
        f.offline_tx_for_unknown_id,
        f.max_energy_on_invalid_id,
        f.authorization_cache,
        f.limit_status_notifications,
    ) == (True, True, True, True, True)
    assert (f.keep_authorization_on_ev_unplug, f.end_authorization_on_ev_unplug) == (False, True)
    assert (f.unlock_on_ev_unplug, f.keep_locked_on_ev_unplug) == (False, True)
    assert (f.local_auth_list, f.remote_trigger, f.reservations, f.reserve_whole_station) == (True,) * 4
    assert (f.charging_rate_current, f.charging_rate_power) == (True, True)
    assert profile.security.profiles == {1, 2, 3}
    assert profile.security.cipher_suites == ("TLS_RSA_WITH_AES_128_GCM_SHA256", "TLS_RSA_WITH_AES_256_GCM_SHA384")
    measurands = (
        "Energy.Active.Import.Interval",
        "Current.Import",
        "Power.Active.Import",
        "Energy.Active.Import.Register",
        "SoC",
        "Voltage",
    )
    assert profile.measurands.sampled_tested == measurands
    assert profile.measurands.aligned_tested == measurands
    assert set(profile.measurands.sampled_declared) == set(measurands)
    limits = profile.limits
    assert (
        limits.get_configuration_max_keys,
        limits.heartbeat_interval_min_s,
        limits.heartbeat_interval_max_s,
        limits.websocket_ping_interval_s,
        limits.local_auth_list_max_length,
        limits.charging_schedule_max_periods,
        limits.certificate_signed_max_chain_size,
        limits.max_charging_profiles_installed,
    ) == (100, 1, 86400, 120, 10000, 48, 2000000, 10)
    assert limits.file_transfer_protocols == (FileTransferProtocol.FTP, FileTransferProtocol.HTTP)
    answers = profile.answers
    assert (answers.iec_61851_1_charging, answers.stop_transaction_after_power_up, answers.non_ev_authorization) == (
        False,
        True,
        True,
    )
    assert profile.performance.measured_over is CommunicationTechnology.MOBILE_NETWORK
    assert parsed_seed("000").warnings == ()


def test_seed_001_subset_certificate() -> None:
    parsed = parsed_seed("001")
    profile = parsed.profile
    assert profile.certification.format is CertificateFormat.SUBSET
    assert profile.hardware.communication == (CommunicationTechnology.ETHERNET,)
    declared = profile.declared_configuration
    # OCR slips read under the right key; "-" means not implemented.
    assert declared["ConnectorPhaseRotation"] == "0.RST, 1.RST, 2.RTS"
    assert declared["ChargingScheduleAllowedChargingRateUnit"] == "Current"
    assert declared["WebSocketPingInterval"] is None
    assert declared["HeartbeatInterval"] == "10"
    assert "MessageTimeout" not in declared  # not an OCPP 1.6 key
    f = profile.features
    assert (f.offline_tx_for_unknown_id, f.max_energy_on_invalid_id, f.authorization_cache) == (False, False, False)
    assert f.limit_status_notifications is True  # MinimumStatusDuration 10
    assert f.end_authorization_on_ev_unplug is True  # StopTransactionOnEVSideDisconnect TRUE
    assert f.keep_locked_on_ev_unplug is True  # UnlockConnectorOnEVSideDisconnect FALSE
    assert (f.local_auth_list, f.remote_trigger, f.reservations) == (False, False, False)
    assert profile.measurands.sampled_tested == ("Energy.Active.Import.Register",)
    assert profile.limits.get_configuration_max_keys == 1
    assert profile.limits.max_charging_profiles_installed is None  # the certificate prints "FTP" there
    assert profile.security.profiles == frozenset()


def test_seed_001_warnings_say_what_is_missing() -> None:
    fields = warned_fields("001")
    assert {
        "declared_configuration.ConnectorPhaseRotation",  # OCR: ConnectorPhaseBotation
        "declared_configuration.MessageTimeout",
        "hardware.ac_support",  # inferred, not stated
        "hardware.dc_support",
        "features.local_start",
        "limits.heartbeat_interval_min_s",
        "limits.max_charging_profiles_installed",
        "performance.remote_stop.declared_max_s",
        "performance.response.measured",  # one hh:mm:ss value, not min/avg/max
        "answers",
    } <= fields


def test_seed_002_wenzhou_ac_three_phase() -> None:
    parsed = parsed_seed("002")
    profile = parsed.profile
    assert profile.hardware.communication == (
        CommunicationTechnology.MOBILE_NETWORK,
        CommunicationTechnology.WIFI,
        CommunicationTechnology.ETHERNET,
    )
    f = profile.features
    assert (
        f.offline_authorization,
        f.offline_tx_for_unknown_id,
        f.max_energy_on_invalid_id,
        f.authorization_cache,
        f.limit_status_notifications,
    ) == (True, False, False, True, False)
    assert len(profile.measurands.sampled_tested) == 7 and "Temperature" in profile.measurands.sampled_tested
    assert profile.security.cipher_suites == (
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    )
    limits = profile.limits
    assert (
        limits.meter_values_sampled_data_max_length,
        limits.meter_value_sample_interval_min_s,
        limits.stop_transaction_max_meter_values,
        limits.send_local_list_max_length,
        limits.certificate_store_max_length,
        limits.max_charging_profiles_installed,
    ) == (7, 0, 2, 100, 50, 20)
    assert limits.file_transfer_protocols == (FileTransferProtocol.FTP,)
    assert profile.answers.iec_61851_1_charging is True
    assert profile.performance.measured_over is CommunicationTechnology.ETHERNET
    # The certificate page and the abstract print the firmware differently.
    assert [w.field for w in parsed.warnings] == ["firmware_version"]


def test_seed_003_taeseong_no_local_list_no_smart_charging() -> None:
    profile = parsed_seed("003").profile
    f = profile.features
    assert (f.keep_authorization_on_ev_unplug, f.end_authorization_on_ev_unplug) == (True, True)
    assert (f.unlock_on_ev_unplug, f.keep_locked_on_ev_unplug) == (None, None)  # no C-10 rows
    assert (f.local_auth_list, f.reservations, f.remote_trigger) == (False, False, True)
    assert f.secure_firmware_update is False  # F-1 "False"
    assert profile.measurands.aligned_declared == ("Energy.Active.Import.Register",)
    limits = profile.limits
    assert (limits.heartbeat_interval_min_s, limits.heartbeat_interval_max_s, limits.websocket_ping_interval_s) == (
        10,
        60,
        0,
    )
    assert limits.local_auth_list_max_length is None
    assert profile.security.profiles == frozenset()
    assert "features.unlock_on_ev_unplug" in warned_fields("003")
    assert not any(field.startswith(("security", "limits.local_auth")) for field in warned_fields("003"))


def test_seed_004_evsis_dc_ccs1() -> None:
    profile = parsed_seed("004").profile
    f = profile.features
    assert (f.charging_rate_current, f.charging_rate_power) == (True, False)
    assert f.reserve_whole_station is False
    assert (f.local_auth_list, f.reservations) == (True, True)  # implied by the passed profiles
    assert f.secure_firmware_update is True
    assert profile.security.profiles == {1, 2, 3}
    assert len(profile.security.cipher_suites) == 2  # SEC-4
    assert profile.measurands.sampled_tested == (
        "Energy.Active.Import.Register",
        "SoC",
        "Power.Offered",
        "Current.Offered",
        "Power.Active.Import",
    )
    assert profile.measurands.aligned_tested == ("Energy.Active.Import.Register",)
    limits = profile.limits
    assert (
        limits.get_configuration_max_keys,
        limits.meter_value_sample_interval_max_s,
        limits.local_auth_list_max_length,
        limits.charge_profile_max_stack_level,
    ) == (3, 300, 100000, 5)
    assert limits.stop_transaction_max_meter_values is None  # no ORS-8 row
    assert limits.file_transfer_protocols == (
        FileTransferProtocol.FTP,
        FileTransferProtocol.HTTP,
        FileTransferProtocol.HTTPS,
    )
    assert {
        "hardware.connectors[1].connector_type",  # cCCSI read as cCCS1
        "hardware.dc_power_kw",
        "limits.max_charging_profiles_installed",
        "limits.stop_transaction_max_meter_values",
    } <= warned_fields("004")


# ---------------------------------------------------------------- format variations


def test_rows_without_tabs_are_read() -> None:
    """Text extractors that lay tables out with spaces instead of tabs."""
    text = seed_text("003").replace("\t", "   ")
    profile = parse_certificate(text).profile
    assert profile.limits.heartbeat_interval_max_s == 60
    assert profile.features.local_start is True
    assert profile.hardware.connectors[0].connector_type is ConnectorType.C_TYPE1
    assert profile.performance.remote_stop.measured == Measured(min_s=3.06, avg_s=3.50, max_s=3.94)


def test_ocr_slips_in_row_ids_and_types() -> None:
    text = seed_text("000").replace("ORS-11\t", "0RS-l1\t").replace("C-01\t", "C-0I\t").replace("cCCS2", "cCCSZ")
    parsed = parse_certificate(text)
    assert parsed.profile.limits.websocket_ping_interval_s == 120
    assert parsed.profile.features.offline_authorization is True
    assert parsed.profile.hardware.connectors[0].connector_type is ConnectorType.C_CCS2


def test_windows_line_endings_and_nbsp() -> None:
    text = seed_text("002").replace("\n", "\r\n").replace("Vendor name:", "Vendor\u00a0name:")
    assert parse_certificate(text).profile == parsed_seed("002").profile


@pytest.mark.parametrize(
    "text",
    ["", "hello world", "Certificate Holder: Foo", "ORS-1\tGetConfigurationMaxKeys\t5", "\t\t\n\n" * 50],
)
def test_nothing_usable_raises_certificate_error(text: str) -> None:
    with pytest.raises(CertificateError):
        parse_certificate(text)


def test_minimal_certificate_parses_with_warnings() -> None:
    parsed = parse_certificate("Vendor name:\tACME\nProduct Designation:\tX-1\nHFS-8\tNo. Connectors\t2\n")
    assert (parsed.profile.vendor, parsed.profile.model, parsed.profile.connector_count) == ("ACME", "X-1", 2)
    assert parsed.profile.id == "acme-x-1"
    fields = {w.field for w in parsed.warnings}
    assert {"hardware.connectors", "limits.get_configuration_max_keys", "performance.response.declared_max_s"} <= fields
