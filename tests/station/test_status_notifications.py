"""Status Notification (OCPP 1.6 §4.9): which statuses a connector reports, in
which order, and when (MinimumStatusDuration, offline)."""

from __future__ import annotations

import random
from itertools import pairwise

import pytest
from core_steps import (
    AC_3PHASE,
    CORE_ONLY,
    DC_ALL,
    MODEL_IDS,
    badge,
    booted,
    calls,
    configure,
    plug_in,
    start_charging,
    unplug,
)

from fleetsim.ocpp.enums import ChargePointStatus as S
from fleetsim.sessions.simple import SimpleSessions, drive
from fleetsim.station.power import Ev

# §4.9: the transitions a connector (id > 0) may report, from the table
# "State From \ To" (A2 ... I8).  Anything else is a protocol error.
ALLOWED: dict[S, set[S]] = {
    S.AVAILABLE: {S.PREPARING, S.CHARGING, S.SUSPENDED_EV, S.SUSPENDED_EVSE, S.RESERVED, S.UNAVAILABLE, S.FAULTED},
    S.PREPARING: {S.AVAILABLE, S.CHARGING, S.SUSPENDED_EV, S.SUSPENDED_EVSE, S.FINISHING, S.FAULTED},
    S.CHARGING: {S.AVAILABLE, S.SUSPENDED_EV, S.SUSPENDED_EVSE, S.FINISHING, S.UNAVAILABLE, S.FAULTED},
    S.SUSPENDED_EV: {S.AVAILABLE, S.CHARGING, S.SUSPENDED_EVSE, S.FINISHING, S.UNAVAILABLE, S.FAULTED},
    S.SUSPENDED_EVSE: {S.AVAILABLE, S.CHARGING, S.SUSPENDED_EV, S.FINISHING, S.UNAVAILABLE, S.FAULTED},
    S.FINISHING: {S.AVAILABLE, S.PREPARING, S.UNAVAILABLE, S.FAULTED},
    S.RESERVED: {S.AVAILABLE, S.PREPARING, S.UNAVAILABLE, S.FAULTED},
    S.UNAVAILABLE: {S.AVAILABLE, S.PREPARING, S.CHARGING, S.SUSPENDED_EV, S.SUSPENDED_EVSE, S.FAULTED},
    S.FAULTED: {S.AVAILABLE, S.PREPARING, S.CHARGING, S.SUSPENDED_EV, S.SUSPENDED_EVSE, S.FINISHING, S.RESERVED,
                S.UNAVAILABLE},
}

SMALL_AC_EV = Ev(battery_kwh=10.0, soc_start=0.5, max_ac_kw=11.0)  # full in about 27 minutes


def forbidden_transitions(statuses: list[str]) -> list[tuple[str, str]]:
    return [(a, b) for a, b in pairwise(statuses) if S(b) not in ALLOWED[S(a)]]


def test_a_session_reports_preparing_charging_suspended_ev_then_available() -> None:
    bench = booted(AC_3PHASE)
    plug_in(bench, 1, SMALL_AC_EV)  # A2
    bench.run_for(10)
    badge(bench, 1)  # B3
    bench.run_for(3600)  # the EV is full: C4
    unplug(bench, 1)  # D1: the fixed cable leaves the EV, nothing more to do
    bench.run_for(10)

    assert bench.statuses(1) == ["Available", "Preparing", "Charging", "SuspendedEV", "Available"]
    assert bench.statuses(2) == ["Available"], "connectors report independently"


def test_badge_first_then_plug_in_reports_preparing_then_charging() -> None:
    bench = booted(AC_3PHASE)
    badge(bench, 1)
    bench.run_for(20)
    plug_in(bench, 1)
    bench.run_for(10)

    assert bench.statuses(1) == ["Available", "Preparing", "Charging"]
    assert len(calls(bench, "StartTransaction")) == 1


@pytest.mark.parametrize("timeout_s", [60, 25])
def test_authorized_but_never_plugged_in_goes_back_to_available_after_connection_timeout(timeout_s: int) -> None:
    # §4.9 B1 / §9.1.9 ConnectionTimeOut.
    bench = booted(AC_3PHASE)
    if timeout_s != 60:
        assert configure(bench, "ConnectionTimeOut", str(timeout_s)) == "Accepted"
    badge(bench, 1)
    badged_at = bench.now_s
    bench.run_for(timeout_s + 30)

    assert bench.statuses(1) == ["Available", "Preparing", "Available"]
    (available_at, _), = [(t, p) for t, p in calls(bench, "StatusNotification", badged_at + 1) if p.connector_id == 1]
    assert available_at == pytest.approx(badged_at + timeout_s, abs=0.01)
    plug_in(bench, 1)
    bench.run_for(10)
    assert calls(bench, "StartTransaction") == [], "the authorization has lapsed"


def test_a_local_stop_reports_finishing_until_the_cable_is_removed() -> None:
    bench = booted(AC_3PHASE)
    start_charging(bench, 1, "TAG-1")
    bench.run_for(300)
    badge(bench, 1, "TAG-1")  # C6
    bench.run_for(120)
    assert bench.statuses(1)[-1] == "Finishing"
    unplug(bench, 1)  # F1
    bench.run_for(5)

    assert bench.statuses(1) == ["Available", "Preparing", "Charging", "Finishing", "Available"]


def test_a_status_notification_carries_no_error_and_the_time_of_the_change() -> None:
    bench = booted(AC_3PHASE)
    bench.run_for(1234.5)
    plug_in(bench, 2)
    bench.run_for(1)

    (at, status), = calls(bench, "StatusNotification", since_s=1000)
    assert (status.connector_id, str(status.status), str(status.error_code)) == (2, "Preparing", "NoError")
    assert status.timestamp == bench.timebase.wall(at)


def test_minimum_status_duration_holds_a_status_back_until_it_has_lasted() -> None:
    # §9.1.x MinimumStatusDuration: bionever declares 10 s.
    bench = booted(CORE_ONLY)
    plug_in(bench, 1)
    plugged_at = bench.now_s
    bench.run_for(9.9)
    assert bench.statuses(1) == ["Available"]
    bench.run_for(0.2)
    assert bench.statuses(1) == ["Available", "Preparing"]
    (reported_at, _), = calls(bench, "StatusNotification", plugged_at)
    assert reported_at == pytest.approx(plugged_at + 10.0)


def test_minimum_status_duration_omits_a_status_that_did_not_last() -> None:
    bench = booted(CORE_ONLY)
    plug_in(bench, 1)
    badge(bench, 1)  # Preparing lasts only until the transaction starts
    bench.run_for(60)

    assert bench.statuses(1) == ["Available", "Charging"]


def test_minimum_status_duration_zero_reports_at_once() -> None:
    bench = booted(CORE_ONLY)
    assert configure(bench, "MinimumStatusDuration", "0") == "Accepted"
    plug_in(bench, 1)
    plugged_at = bench.now_s
    bench.run_for(1)

    (reported_at, status), = calls(bench, "StatusNotification", plugged_at)
    assert (reported_at, str(status.status)) == (pytest.approx(plugged_at), "Preparing")


def test_ev_side_disconnect_without_stopping_reports_suspended_ev_and_keeps_the_transaction() -> None:
    # §4.10 / §9.1.24: StopTransactionOnEVSideDisconnect false.
    bench = booted(DC_ALL)
    assert configure(bench, "StopTransactionOnEVSideDisconnect", "false") == "Accepted"
    start_charging(bench, 1)
    bench.run_for(120)
    unplug(bench, 1)
    bench.run_for(600)

    assert bench.statuses(1)[-1] == "SuspendedEV"
    assert calls(bench, "StopTransaction") == []
    assert bench.station.connectors[0].transaction is not None


def test_reconnecting_the_ev_resumes_the_same_transaction_without_preparing() -> None:
    # §4.10: "If the EV is reconnected, energy transfer is allowed again";
    # SuspendedEV → Preparing is not a transition of the §4.9 table.
    bench = booted(DC_ALL)
    assert configure(bench, "StopTransactionOnEVSideDisconnect", "false") == "Accepted"
    start_charging(bench, 1)
    bench.run_for(120)
    unplug(bench, 1)
    bench.run_for(120)
    plug_in(bench, 1)
    bench.run_for(1)

    assert bench.statuses(1) == ["Available", "Preparing", "Charging", "SuspendedEV", "Charging"]
    assert len(calls(bench, "StartTransaction")) == 1


def test_after_a_reconnect_the_current_status_is_reported_if_it_changed_offline() -> None:
    # §4.9: "The Charge Point SHOULD send a StatusNotification.req PDU with its
    # current status if the status changed while the Charge Point was offline."
    bench = booted(AC_3PHASE)
    bench.disconnect()
    plug_in(bench, 1)
    bench.run_for(60)
    bench.connect()
    bench.run_for(10)

    assert bench.statuses(1) == ["Available", "Preparing"]


def test_after_a_reconnect_historical_statuses_are_not_replayed() -> None:
    # §4.9 rule 3: no StatusNotification for a status that came and went offline.
    bench = booted(AC_3PHASE)
    bench.disconnect()
    plug_in(bench, 2)
    bench.run_for(60)
    unplug(bench, 2)
    bench.run_for(60)
    reconnected_at = bench.now_s
    bench.connect()
    bench.run_for(10)

    assert calls(bench, "StatusNotification", reconnected_at) == []


@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_a_day_of_sessions_reports_only_transitions_the_spec_allows(model_id: str) -> None:
    bench = booted(model_id)
    plan = SimpleSessions(mean_idle_s=1800.0, mean_connected_s=3600.0)
    bench.act(lambda now: drive(bench.station, plan, random.Random(7), now))
    bench.run_for(24 * 3600.0)

    for connector_id in range(1, len(bench.station.connectors) + 1):
        statuses = bench.statuses(connector_id)
        assert len(statuses) > 10, "a day of sessions"
        assert forbidden_transitions(statuses) == []
        assert all(a != b for a, b in pairwise(statuses)), "only changes are reported"
    connector_0 = [str(p.status) for _, p in calls(bench, "StatusNotification") if p.connector_id == 0]
    assert set(connector_0) <= {"Available", "Unavailable", "Faulted"}


def test_the_transition_table_rejects_what_the_spec_does_not_list() -> None:
    assert forbidden_transitions(["Available", "Finishing"]) == [("Available", "Finishing")]
    assert forbidden_transitions(["SuspendedEV", "Preparing"]) == [("SuspendedEV", "Preparing")]
    assert forbidden_transitions(["Available", "Preparing", "Charging", "Finishing", "Available"]) == []
