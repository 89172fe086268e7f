"""Every built-in model, as its certificate describes it: it boots, charges,
and answers GetConfiguration with what the certificate says (CERTIFICATES.md)."""

from __future__ import annotations

import random

import pytest
from core_steps import MODEL_IDS, booted, calls, configuration, meter_values, model, profile, start_charging, unplug

from fleetsim.csms.config import CsmsConfig
from fleetsim.ocpp.base import FeatureProfile
from fleetsim.sessions.simple import SimpleSessions, drive

LOCAL_AUTH_KEYS = {"LocalAuthListEnabled", "LocalAuthListMaxLength", "SendLocalListMaxLength"}
SMART_CHARGING_KEYS = {
    "ChargeProfileMaxStackLevel", "ChargingScheduleAllowedChargingRateUnit", "ChargingScheduleMaxPeriods",
    "MaxChargingProfilesInstalled",
}
CORE_REQUIRED = {  # OCPP 1.6 §9.1, required keys
    "AuthorizeRemoteTxRequests", "ClockAlignedDataInterval", "ConnectionTimeOut", "GetConfigurationMaxKeys",
    "HeartbeatInterval", "LocalAuthorizeOffline", "LocalPreAuthorize", "MeterValuesAlignedData",
    "MeterValuesSampledData", "MeterValueSampleInterval", "NumberOfConnectors", "ResetRetries",
    "ConnectorPhaseRotation", "StopTransactionOnEVSideDisconnect", "StopTransactionOnInvalidId",
    "StopTxnAlignedData", "StopTxnSampledData", "SupportedFeatureProfiles", "TransactionMessageAttempts",
    "TransactionMessageRetryInterval", "UnlockConnectorOnEVSideDisconnect",
}


def csl(value: str | None) -> set[str]:
    return {item.strip() for item in (value or "").split(",") if item.strip()}


@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_boots_and_reports_every_connector(model_id: str) -> None:
    bench = booted(model_id)

    assert bench.station.registration == "Accepted"
    (_, boot), = calls(bench, "BootNotification")
    assert boot.charge_point_model == (profile(model_id).model or model_id)[:20]
    connectors = profile(model_id).connector_count
    assert sorted(p.connector_id for _, p in calls(bench, "StatusNotification")) == list(range(connectors + 1))


@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_runs_a_full_session_on_every_connector(model_id: str) -> None:
    bench = booted(model_id, csms=CsmsConfig(first_transaction_id=1))
    connectors = range(1, profile(model_id).connector_count + 1)
    for connector_id in connectors:
        start_charging(bench, connector_id, f"TAG-{connector_id}", settle_s=30)
    bench.run_for(1800)
    for connector_id in connectors:
        unplug(bench, connector_id)
    bench.run_for(30)

    starts = {p.connector_id: p for _, p in calls(bench, "StartTransaction")}
    stops = {p.transaction_id: p for _, p in calls(bench, "StopTransaction")}
    assert starts.keys() == set(connectors)
    assert sorted(stops) == [c for c in connectors]
    for connector_id, start in starts.items():
        stop = stops[connector_id]  # ids handed out in connector order
        rating = model(model_id).ratings[connector_id - 1]
        delivered_wh = stop.meter_stop - start.meter_start
        hours = (stop.timestamp - start.timestamp).total_seconds() / 3600
        assert hours > 0.5
        assert 0 < delivered_wh <= rating.max_power_w * hours + 1, "never above the connector's rating"
        assert bench.statuses(connector_id)[-1] == "Available"
    if int(configuration(bench, "MeterValueSampleInterval")["MeterValueSampleInterval"]) > 0:
        assert {p.transaction_id for _, p in meter_values(bench) if p.transaction_id} == set(connectors)
    exchanges = bench.station.stats.exchanges
    failures = {a: s.summary() for a, s in exchanges.items() if s.timeouts or s.errors}
    assert failures == {}


@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_get_configuration_matches_the_certificate(model_id: str) -> None:
    cert = profile(model_id)
    bench = booted(model_id, csms=CsmsConfig(heartbeat_interval_s=240))
    keys = configuration(bench)
    supported = cert.supported_profiles

    assert keys.keys() >= CORE_REQUIRED
    assert csl(keys["SupportedFeatureProfiles"]) == {str(p) for p in supported}
    assert "Security" not in keys["SupportedFeatureProfiles"], "a security profile is not a feature profile"
    assert keys["NumberOfConnectors"] == str(cert.connector_count)
    assert keys["HeartbeatInterval"] == "240", "as BootNotification.conf said"
    limits = cert.limits
    for key, limit in [
        ("GetConfigurationMaxKeys", limits.get_configuration_max_keys),  # ORS-1
        ("MeterValuesAlignedDataMaxLength", limits.meter_values_aligned_data_max_length),  # ORS-2
        ("MeterValuesSampledDataMaxLength", limits.meter_values_sampled_data_max_length),  # ORS-3
        ("StopTxnAlignedDataMaxLength", limits.stop_txn_aligned_data_max_length),  # ORS-9
        ("StopTxnSampledDataMaxLength", limits.stop_txn_sampled_data_max_length),  # ORS-10
        ("WebSocketPingInterval", limits.websocket_ping_interval_s),  # ORS-11
    ]:
        if limit is not None:
            assert keys[key] == str(limit), key
    # C-09.1 / C-09.2: the measurands the lab tested (or the vendor declared)
    measurands = cert.measurands
    assert csl(keys["MeterValuesSampledData"]) <= set(measurands.sampled_tested) | set(measurands.sampled_declared)
    assert csl(keys["MeterValuesAlignedData"]) <= set(measurands.aligned_tested) | set(measurands.aligned_declared)
    # Keys present only with their feature
    features = cert.features
    assert ("AuthorizationCacheEnabled" in keys) == bool(features.authorization_cache)  # C-04
    assert ("AllowOfflineTxForUnknownId" in keys) == bool(features.offline_tx_for_unknown_id)  # C-02
    if features.offline_authorization:  # C-01
        assert keys["LocalAuthorizeOffline"] == "true"
    if features.end_authorization_on_ev_unplug and not features.keep_authorization_on_ev_unplug:  # C-06.2
        assert keys["StopTransactionOnEVSideDisconnect"] == "true"
    assert (keys.keys() >= LOCAL_AUTH_KEYS) == (FeatureProfile.LOCAL_AUTH_LIST_MANAGEMENT in supported)
    assert not (LOCAL_AUTH_KEYS & keys.keys()) or FeatureProfile.LOCAL_AUTH_LIST_MANAGEMENT in supported
    assert (keys.keys() >= SMART_CHARGING_KEYS) == (FeatureProfile.SMART_CHARGING in supported)
    if FeatureProfile.SMART_CHARGING in supported:
        for key, limit in [("ChargeProfileMaxStackLevel", limits.charge_profile_max_stack_level),  # ORS-14
                           ("ChargingScheduleMaxPeriods", limits.charging_schedule_max_periods),  # ORS-15
                           ("MaxChargingProfilesInstalled", limits.max_charging_profiles_installed)]:  # ORS-19
            if limit is not None:
                assert keys[key] == str(limit), key
        units = {"Current"} if features.charging_rate_current else set()
        units |= {"Power"} if features.charging_rate_power else set()
        assert csl(keys["ChargingScheduleAllowedChargingRateUnit"]) == (units or {"Current", "Power"})  # SC-1.x
    if FeatureProfile.RESERVATION in supported:
        assert keys["ReserveConnectorZeroSupported"] == str(bool(features.reserve_whole_station)).lower()
    if limits.file_transfer_protocols:  # ORS-16
        assert csl(keys["SupportedFileTransferProtocols"]) == {str(p) for p in limits.file_transfer_protocols}
    assert ("SecurityProfile" in keys) == bool(cert.security.profiles)
    assert "AuthorizationKey" not in keys


def test_an_old_format_certificates_declared_keys_are_what_the_station_reports() -> None:
    # Seed 001's "Subset Certificate" lists the keys directly; the station
    # reports those values, save two it must work out itself.
    bionever = "bionever-bss011k-v1000"
    bench = booted(bionever)
    keys = configuration(bench)
    declared = profile(bionever).declared_configuration
    worked_out = {
        "HeartbeatInterval",  # BootNotification.conf decides (§4.2)
        "ConnectorPhaseRotation",  # follows the one connector, not the OCR'd three
    }
    compared = 0
    for key, value in declared.items():
        if key in keys and value is not None and key not in worked_out:
            assert keys[key].casefold() == value.replace(" ", "").casefold(), key
            compared += 1
    assert compared >= 15
    assert not {key for key, value in declared.items() if value is None} & keys.keys(), "'-' means not implemented"


@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_six_hours_of_sessions_close_every_transaction_they_open(model_id: str) -> None:
    bench = booted(model_id)
    plan = SimpleSessions(mean_idle_s=900.0, mean_connected_s=1800.0, id_tags=("TAG-A", "TAG-B", "TAG-C"))
    bench.act(lambda now: drive(bench.station, plan, random.Random(11), now))
    bench.run_for(6 * 3600.0)

    starts = calls(bench, "StartTransaction")
    stops = {p.transaction_id: p for _, p in calls(bench, "StopTransaction")}
    assert len(starts) >= 3
    open_now = {c.connector_id for c in bench.station.connectors if c.transaction is not None}
    assert len(stops) >= len(starts) - len(open_now)
    assert set(stops) <= set(range(1, len(starts) + 1))
    for transaction_id, stop in stops.items():
        (_, start), = [(t, p) for t, p in starts][transaction_id - 1:transaction_id]
        assert stop.meter_stop >= start.meter_start
    exchanges = bench.station.stats.exchanges
    assert all(s.timeouts == 0 and not s.errors for s in exchanges.values())
