"""The certificate rows, by ID code, and the profile field each one fills.

One table per certificate section.  The parser matches rows by their ID code
(``C-01``) and falls back to the label (the certificate's own wording) when
the code is unreadable; the CLI uses the same tables to label what it shows.
"""

from __future__ import annotations

from typing import NamedTuple


class Row(NamedTuple):
    row_id: str  # canonical ID code, e.g. "C-06.1", "ORS-14"
    field: str  # attribute of the profile sub-Struct it fills
    label: str  # the certificate's wording


HARDWARE_ROWS: tuple[Row, ...] = (
    Row("HFS-1", "detachable_cable", "Has a detachable cable"),
    Row("HFS-2", "fixed_cable", "Has a fixed cable"),
    Row("HFS-3", "ac_support", "Has AC support"),
    Row("HFS-4", "dc_support", "Has DC support"),
    Row("HFS-5", "single_phase", "Has 1 phase support"),
    Row("HFS-6", "two_phase", "Has 2 phase support"),
    Row("HFS-7", "three_phase", "Has 3 phase support"),
    Row("HFS-8", "connectors", "No. Connectors"),
    Row("HFS-9", "communication", "Communication technology"),
    Row("HFS-10", "rfid_readers", "RFID readers"),
    Row("HFS-11", "dc_power_kw", "DC power level"),
)

# Labels of the same hardware facts in older certificates, which have no ID
# codes (seed 001: "Socket(s) / connector(s)  Single", "Fixed cable  Yes").
HARDWARE_ALIASES: dict[str, str] = {
    "Detachable cable": "HFS-1",
    "Fixed cable": "HFS-2",
    "AC support": "HFS-3",
    "DC support": "HFS-4",
    "Socket(s) / connector(s)": "HFS-8",
    "Number of connectors": "HFS-8",
    "Connectors": "HFS-8",
}

FEATURE_ROWS: tuple[Row, ...] = (
    Row("C-01", "offline_authorization", "Support for offline authorization of transactions"),
    Row("C-02", "offline_tx_for_unknown_id", "Support for allowing Offline Authorization for Unknown Ids"),
    Row("C-03", "max_energy_on_invalid_id", "Support for maximizing energy for invalid ids"),
    Row("C-04", "authorization_cache", "Authorization Cache"),
    Row("C-05", "limit_status_notifications", "Support to limit StatusNotifications"),
    Row(
        "C-06.1",
        "keep_authorization_on_ev_unplug",
        "Support for maintaining authorization when cable disconnected on EV side",
    ),
    Row(
        "C-06.2",
        "end_authorization_on_ev_unplug",
        "Support for not maintaining authorization when cable disconnected on EV side",
    ),
    Row("C-07", "local_start", "Support for local start"),
    Row("C-08", "local_stop", "Support for local stop"),
    Row("C-10.1", "unlock_on_ev_unplug", "Support for unlocking connector when cable disconnected on EV side"),
    Row("C-10.2", "keep_locked_on_ev_unplug", "Support for not unlocking when cable disconnected on EV side"),
    Row("LA-0", "local_auth_list", "Support for Local Authorization List Management"),
    Row("RT-0", "remote_trigger", "Support for Remote Trigger"),
    Row("R-0", "reservations", "Support for Reservations"),
    Row("R-1", "reserve_whole_station", "Support reservations of entire Charging Station"),
    Row("SC-1.1", "charging_rate_current", "Supported charging rate unit A"),
    Row("SC-1.2", "charging_rate_power", "Supported charging rate unit W"),
    Row("F-1", "secure_firmware_update", "Support for Secure Firmware Updates"),
)

SECURITY_ROWS: tuple[Row, ...] = (
    Row(
        "C-11", "profile_1_basic_auth", "Support for Security Profile 1: Unsecured Transport with Basic Authentication"
    ),
    Row("SEC-1", "profile_1_basic_auth", "Security Profile 1: Unsecured Transport with Basic Authentication"),
    Row("SEC-2", "profile_2_tls_basic_auth", "Security Profile 2: TLS with Basic Authentication"),
    Row("SEC-3", "profile_3_tls_client_cert", "Security Profile 3: TLS with Client Side Certificates"),
    Row("C-12", "cipher_suites", "Supported Cipher Suites"),
    Row("SEC-4", "cipher_suites", "Supported Cipher Suites"),
)

MEASURAND_ROWS: tuple[Row, ...] = (
    Row("C-09.1", "sampled", "MeterValuesSampledData"),
    Row("C-09.2", "aligned", "MeterValuesAlignedData"),
)

ANSWER_ROWS: tuple[Row, ...] = (
    Row("AQ-1", "last_root_certificate_removable", "Can the last CentralSystemRootCertificate be removed?"),
    Row(
        "AQ-2",
        "cable_lock_before_authorization",
        "Does the Charging Station have a cable lock ... before authorization?",
    ),
    Row("AQ-3", "last_charge_point_certificate_removable", "Can the last ChargePointCertificate be removed?"),
    Row("AQ-4", "firmware_download_during_transaction", "Able to download firmware during a transaction?"),
    Row("AQ-5", "evse_selection_before_authorization", "Enforces a selection of EVSE prior to authorization?"),
    Row("AQ-6", "iec_61851_1_charging", "Supports charging an EV using IEC 61851-1?"),
    Row("AQ-7.1", "stop_transaction_before_power_down", "Reports StopTransaction before going down"),
    Row("AQ-7.2", "stop_transaction_after_power_up", "Reports StopTransaction after being back online"),
    Row("AQ-9", "mechanized_connector_lock", "At least one connector with a mechanized locking mechanism?"),
    Row("AQ-11", "non_ev_authorization", "Authorization method not relying on EV-station communication?"),
)

LIMIT_ROWS: tuple[Row, ...] = (
    Row("ORS-1", "get_configuration_max_keys", "GetConfigurationMaxKeys"),
    Row("ORS-2", "meter_values_aligned_data_max_length", "MeterValuesAlignedDataMaxLength"),
    Row("ORS-3", "meter_values_sampled_data_max_length", "MeterValuesSampledDataMaxLength"),
    Row("ORS-4", "meter_value_sample_interval_min_s", "Minimum MeterValueSampleInterval supported"),
    Row("ORS-5", "meter_value_sample_interval_max_s", "Maximum MeterValueSampleInterval supported"),
    Row("ORS-6", "heartbeat_interval_min_s", "Minimum HeartbeatInterval supported"),
    Row("ORS-7", "heartbeat_interval_max_s", "Maximum HeartbeatInterval supported"),
    Row("ORS-8", "stop_transaction_max_meter_values", "StopTransactionMaxMeterValues"),
    Row("ORS-9", "stop_txn_aligned_data_max_length", "StopTxnAlignedDataMaxLength"),
    Row("ORS-10", "stop_txn_sampled_data_max_length", "StopTxnSampledDataMaxLength"),
    Row("ORS-11", "websocket_ping_interval_s", "WebSocketPingInterval"),
    Row("ORS-12", "local_auth_list_max_length", "LocalAuthListMaxLength"),
    Row("ORS-13", "send_local_list_max_length", "SendLocalListMaxLength"),
    Row("ORS-14", "charge_profile_max_stack_level", "ChargingProfileMaxStackLevel"),
    Row("ORS-15", "charging_schedule_max_periods", "ChargingScheduleMaxPeriods"),
    Row("ORS-16", "file_transfer_protocols", "Supported file transfer protocols"),
    Row("ORS-17", "certificate_signed_max_chain_size", "CertificateSignedMaxChainSize"),
    Row("ORS-18", "certificate_store_max_length", "CertificateStoreMaxLength"),
    Row("ORS-19", "max_charging_profiles_installed", "MaxChargingProfilesInstalled"),
)

# Rows that only head a group (their sub-rows carry the values).
GROUP_HEADERS: frozenset[str] = frozenset({"C-06", "C-09", "C-10", "SC-1", "AQ-7"})

# Performance table rows: field of Performance -> names used by the formats.
PERFORMANCE_NAMES: dict[str, tuple[str, ...]] = {
    "response": ("OCPP response timeout",),
    "triggered": ("OCPP triggered function timeout",),
    "remote_start": (
        "Transaction authorization time by RemoteStartTransaction",
        "Response time RemoteStartTransaction",
    ),
    "remote_stop": (
        "Transaction authorization end time by RemoteStopTransaction",
        "Response time RemoteStopTransaction",
    ),
}


def row_label(row_id: str) -> str | None:
    """The certificate wording of a row ID, for messages and the CLI."""
    for table in (HARDWARE_ROWS, FEATURE_ROWS, SECURITY_ROWS, MEASURAND_ROWS, ANSWER_ROWS, LIMIT_ROWS):
        for row in table:
            if row.row_id == row_id:
                return row.label
    return None


KNOWN_ROW_IDS: frozenset[str] = (
    frozenset(
        row.row_id
        for table in (HARDWARE_ROWS, FEATURE_ROWS, SECURITY_ROWS, MEASURAND_ROWS, ANSWER_ROWS, LIMIT_ROWS)
        for row in table
    )
    | GROUP_HEADERS
)
