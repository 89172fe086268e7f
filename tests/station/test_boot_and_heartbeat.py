"""Boot Notification (OCPP 1.6 §4.2) and Heartbeat (§4.6, §9.1.10 HeartbeatInterval)."""

from __future__ import annotations

from itertools import pairwise

import pytest
from core_steps import (
    AC_3PHASE,
    MODEL_IDS,
    badge,
    booted,
    calls,
    configuration,
    configure,
    csms_call,
    model,
    plug_in,
    sent_since,
)
from harness import SILENT, Bench

from fleetsim.csms.central import Refusal
from fleetsim.csms.config import CsmsConfig
from fleetsim.ocpp.enums import RegistrationStatus
from fleetsim.ocpp.errors import ErrorCode
from fleetsim.ocpp.payloads.core import BootNotificationConf, GetConfigurationReq
from fleetsim.ocpp.payloads.remote_trigger import TriggerMessageReq

DAY_S = 24 * 3600.0


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in pairwise(times)]


# ---------------------------------------------------------------- §4.2 BootNotification


@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_the_first_message_is_a_boot_notification_with_the_models_identity(model_id: str) -> None:
    station_model = model(model_id)
    bench = Bench(station_model, charge_point_id="CP-IDENTITY-0001")
    bench.connect()
    bench.run_for(0.0)

    (at, first), = bench.sent
    assert (at, first.action) == (0.0, "BootNotification")
    boot = first.payload
    # CiString20 / CiString25 / CiString50 (OCPP 1.6 §6.2): cut to fit.
    assert boot.charge_point_vendor == station_model.vendor[:20]
    assert boot.charge_point_model == station_model.model[:20]
    assert boot.firmware_version == station_model.firmware_version
    assert boot.charge_point_serial_number == "CP-IDENTITY-0001"


@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_accepted_then_a_status_notification_for_connector_0_and_each_connector(model_id: str) -> None:
    bench = booted(model_id)

    connectors = len(model(model_id).ratings)
    assert bench.sent_actions()[0] == "BootNotification"
    statuses = [(p.connector_id, str(p.status)) for _, p in calls(bench, "StatusNotification")]
    assert statuses == [(c, "Available") for c in range(connectors + 1)]
    assert bench.station.stats.counters["boot.Accepted"] == 1


def test_nothing_but_the_boot_notification_until_it_is_answered() -> None:
    # §4.2: no other request between power-on and an Accepted / Pending boot.
    bench = Bench(model(AC_3PHASE), latency_s=5.0)
    bench.connect()
    bench.run_for(1.0)
    plug_in(bench, 1)
    badge(bench, 2, "TAG-1")
    bench.run_for(3.9)

    assert bench.sent_actions() == ["BootNotification"]


@pytest.mark.parametrize("status", [RegistrationStatus.PENDING, RegistrationStatus.REJECTED])
def test_pending_or_rejected_then_nothing_but_a_boot_notification_after_the_interval(
    status: RegistrationStatus,
) -> None:
    csms = CsmsConfig(boot_status=status, boot_retry_interval_s=45, heartbeat_interval_s=10)
    bench = Bench(model(AC_3PHASE), csms=csms)
    bench.connect()
    bench.run_for(30)
    plug_in(bench, 1)
    badge(bench, 1, "TAG-1")  # nobody can authorize it: no Authorize.req goes out
    bench.run_for(400)

    assert set(bench.sent_actions()) == {"BootNotification"}
    boots = [t for t, _ in calls(bench, "BootNotification")]
    # interval counts from the BootNotification.conf (1 ms after each request)
    assert gaps(boots) == pytest.approx([45.0 + bench.latency_s] * (len(boots) - 1))
    assert len(boots) == 1 + int(430 // 45.001)


def test_a_boot_interval_of_zero_does_not_flood_the_csms() -> None:
    # §4.2: "If that interval value is zero, the Charge Point chooses a waiting
    # interval on its own, in a way that avoids flooding the Central System."
    bench = Bench(model(AC_3PHASE), csms=CsmsConfig(boot_status=RegistrationStatus.PENDING, boot_retry_interval_s=0))
    bench.connect()
    bench.run_for(3600)

    boots = [t for t, _ in calls(bench, "BootNotification")]
    assert 2 <= len(boots) <= 360
    assert min(gaps(boots)) >= 10.0


def test_pending_then_accepted_then_statuses_and_heartbeats() -> None:
    bench = Bench(model(AC_3PHASE), csms=CsmsConfig(heartbeat_interval_s=100))
    answers = iter([RegistrationStatus.PENDING, RegistrationStatus.ACCEPTED])

    def boot(call):  # type: ignore[no-untyped-def]
        if call.action != "BootNotification":
            return None
        return BootNotificationConf(status=next(answers), current_time=bench.timebase.wall(bench.now_s), interval=20)

    bench.answer_override = boot
    bench.connect()
    bench.run_for(500)

    actions = bench.sent_actions()
    assert actions[:2] == ["BootNotification", "BootNotification"]
    assert actions[2:5] == ["StatusNotification"] * 3
    assert set(actions[5:]) == {"Heartbeat"}
    # Accepted: the interval of that conf (20 s) is the heartbeat interval.
    assert gaps([t for t, _ in calls(bench, "Heartbeat")]) == pytest.approx([20.0] * (len(actions) - 6))


def test_a_boot_notification_refused_with_a_callerror_is_tried_again() -> None:
    bench = Bench(model(AC_3PHASE))
    refusals = iter([Refusal(ErrorCode.INTERNAL_ERROR, "database down")])
    bench.answer_override = lambda call: next(refusals, None) if call.action == "BootNotification" else None
    bench.connect()
    bench.run_for(300)

    boots = [t for t, _ in calls(bench, "BootNotification")]
    assert len(boots) == 2
    assert boots[1] - boots[0] >= 10.0
    assert bench.station.stats.exchange("BootNotification").errors == {"InternalError": 1}
    assert calls(bench, "StatusNotification"), "accepted the second time"


@pytest.mark.parametrize("failure", ["no answer", "invalid conf"])
def test_a_boot_notification_that_failed_is_sent_again(failure: str) -> None:
    # §4.2/§4.2.1: after a (re)start the station MUST contact the CSMS and be
    # accepted before it may do anything; one lost frame must not strand it.
    bench = Bench(model(AC_3PHASE))
    first: list[str] = []

    def fail_the_first_boot(call):  # type: ignore[no-untyped-def]
        if call.action != "BootNotification" or first:
            return None
        first.append(call.unique_id)
        return SILENT

    bench.answer_override = fail_the_first_boot
    bench.connect()
    bench.run_for(1)
    if failure == "invalid conf":
        bench.send_raw(b'[3, "%s", {"status": "Accepted"}]' % first[0].encode())  # no currentTime, no interval
    bench.run_for(600)

    assert len(calls(bench, "BootNotification")) == 2
    assert bench.station.registration == RegistrationStatus.ACCEPTED


def test_while_pending_a_triggered_message_is_sent() -> None:
    # §4.2: while Pending the station "SHALL NOT send request messages to the
    # Central System unless it has been instructed ... with a TriggerMessage.req".
    bench = Bench(model(AC_3PHASE), csms=CsmsConfig(boot_status=RegistrationStatus.PENDING, boot_retry_interval_s=600))
    bench.connect()
    bench.run_for(5)
    answer = csms_call(bench, TriggerMessageReq(requested_message="Heartbeat"), wait_s=10)

    assert str(answer.status) == "Accepted"
    assert bench.sent_actions() == ["BootNotification", "Heartbeat"]


def test_while_pending_the_station_answers_the_csms() -> None:
    # §4.2: "The Central System MAY send request messages to retrieve information
    # from the Charge Point or change its configuration. The Charge Point SHOULD respond."
    bench = Bench(model(AC_3PHASE), csms=CsmsConfig(boot_status=RegistrationStatus.PENDING, boot_retry_interval_s=600))
    bench.connect()
    bench.run_for(5)

    assert configure(bench, "HeartbeatInterval", "120") == "Accepted"
    assert configuration(bench, "HeartbeatInterval") == {"HeartbeatInterval": "120"}


def test_while_rejected_the_station_answers_nothing() -> None:
    # §4.2: "While Rejected, the Charge Point SHALL NOT respond to any Central
    # System initiated message."
    bench = Bench(model(AC_3PHASE), csms=CsmsConfig(boot_status=RegistrationStatus.REJECTED, boot_retry_interval_s=600))
    bench.connect()
    bench.run_for(5)
    uid = bench.send_call(GetConfigurationReq())
    bench.run_for(5)

    assert uid not in bench.replies


def test_before_any_boot_was_answered_a_csms_call_gets_no_answer() -> None:
    # §4.2.1: until its boot is accepted (or Pending), a station sends nothing.
    bench = Bench(model(AC_3PHASE))
    bench.answer_override = lambda call: SILENT if call.action == "BootNotification" else None
    bench.connect()
    bench.run_for(1.0)
    uid = bench.send_call(GetConfigurationReq())
    bench.run_for(1.0)

    assert uid not in bench.replies
    assert bench.station.stats.counters["csms_call.GetConfiguration.unanswered"] == 1


# ---------------------------------------------------------------- §4.6 Heartbeat


def test_a_day_of_heartbeats_at_the_interval_boot_notification_gave() -> None:
    bench = booted(AC_3PHASE, csms=CsmsConfig(heartbeat_interval_s=120))
    bench.run_for(DAY_S)

    heartbeats = [t for t, _ in calls(bench, "Heartbeat")]
    assert len(heartbeats) == pytest.approx(DAY_S / 120, abs=1)
    assert gaps(heartbeats) == pytest.approx([120.0] * (len(heartbeats) - 1))
    assert configuration(bench, "HeartbeatInterval") == {"HeartbeatInterval": "120"}
    stats = bench.station.stats.exchange("Heartbeat")
    assert (stats.answered, stats.timeouts, sum(stats.errors.values())) == (len(heartbeats), 0, 0)


def test_the_first_heartbeat_comes_an_interval_after_the_last_message() -> None:
    # §4.6: the station MAY skip a heartbeat when another PDU was sent within
    # the interval; this one restarts the interval with every message.
    bench = Bench(model(AC_3PHASE), csms=CsmsConfig(heartbeat_interval_s=300))
    bench.connect()
    bench.run_for(1000)

    last_status_at = calls(bench, "StatusNotification")[-1][0]
    assert calls(bench, "Heartbeat")[0][0] == pytest.approx(last_status_at + 300)


def test_change_configuration_heartbeat_interval_takes_effect_at_once() -> None:
    bench = booted(AC_3PHASE, csms=CsmsConfig(heartbeat_interval_s=300))
    bench.run_for(400)
    changed_at = bench.now_s

    assert configure(bench, "HeartbeatInterval", "45") == "Accepted"
    bench.run_for(1000)

    heartbeats = [t for t, _ in calls(bench, "Heartbeat", changed_at)]
    assert heartbeats[0] == pytest.approx(changed_at + bench.latency_s + 45.0)
    assert gaps(heartbeats) == pytest.approx([45.0] * (len(heartbeats) - 1))


def test_heartbeat_interval_zero_means_no_heartbeats() -> None:
    bench = booted(AC_3PHASE)
    assert configure(bench, "HeartbeatInterval", "0") == "Accepted"
    bench.run_for(DAY_S)

    assert calls(bench, "Heartbeat") == []


def test_no_heartbeats_while_disconnected() -> None:
    bench = booted(AC_3PHASE, csms=CsmsConfig(heartbeat_interval_s=60))
    bench.disconnect()
    bench.run_for(3600)  # the harness asserts nothing is emitted while down

    assert calls(bench, "Heartbeat", since_s=30.0) == []


def test_heartbeats_resume_after_a_reconnect() -> None:
    # §4.6: "The Charge Point SHALL send a Heartbeat.req PDU for ensuring that
    # the Central System knows that a Charge Point is still alive."
    bench = booted(AC_3PHASE, csms=CsmsConfig(heartbeat_interval_s=60))
    bench.disconnect()
    bench.run_for(600)
    bench.connect()
    reconnected_at = bench.now_s
    bench.run_for(600)

    assert len(calls(bench, "Heartbeat", reconnected_at)) >= 9
    assert sent_since(bench, reconnected_at)
