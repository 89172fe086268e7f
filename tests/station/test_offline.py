"""Transaction-related messages (OCPP 1.6 §3.7): queued while offline and
delivered in order after the reconnect; retried when the CSMS fails to process
them (§3.7.1, TransactionMessageAttempts / TransactionMessageRetryInterval);
everything else is not replayed."""

from __future__ import annotations

from itertools import pairwise

import pytest
from core_steps import (
    AC_3PHASE,
    DC_2CCS,
    badge,
    booted,
    calls,
    configure,
    meter_values,
    model,
    number,
    plug_in,
    sent_since,
    start_charging,
    unplug,
)
from harness import SILENT

from fleetsim.csms.central import Refusal
from fleetsim.csms.config import CsmsConfig
from fleetsim.ocpp.datatypes import IdTagInfo
from fleetsim.ocpp.enums import AuthorizationStatus
from fleetsim.ocpp.errors import ErrorCode
from fleetsim.ocpp.frames import Call
from fleetsim.ocpp.payloads.core import AuthorizeConf, StartTransactionConf

REGISTER = "Energy.Active.Import.Register"
TRANSACTION_MESSAGES = {"StartTransaction", "StopTransaction", "MeterValues"}


def refuse(action: str, times: int | None = None):  # type: ignore[no-untyped-def]
    """An answer override: a CALLERROR for ``action`` (the first ``times`` of them)."""
    count = [0]

    def override(call: Call) -> Refusal | None:
        if call.action != action or (times is not None and count[0] >= times):
            return None
        count[0] += 1
        return Refusal(ErrorCode.INTERNAL_ERROR, "cannot process")

    return override


def test_transaction_messages_queued_offline_are_delivered_in_order_after_the_reconnect() -> None:
    bench = booted(AC_3PHASE, csms=CsmsConfig(first_transaction_id=11))
    start_charging(bench, 1)
    bench.run_for(120)
    bench.disconnect()
    offline_from = bench.now_s
    bench.run_for(600)
    unplug(bench, 1)
    unplugged_at = bench.now_s
    bench.run_for(300)
    bench.connect()
    reconnected_at = bench.now_s
    bench.run_for(60)

    replayed = [(at, call) for at, call in sent_since(bench, reconnected_at) if call.action in TRANSACTION_MESSAGES]
    actions = [call.action for _, call in replayed]
    assert actions == ["MeterValues"] * 10 + ["StopTransaction"]
    assert {call.payload.transaction_id for _, call in replayed} == {11}
    stamps = [call.payload.meter_value[0].timestamp for _, call in replayed[:-1]]
    assert stamps == sorted(stamps)
    assert bench.timebase.wall(offline_from) < stamps[0] and stamps[-1] < bench.timebase.wall(unplugged_at)
    stop = replayed[-1][1].payload
    assert stop.timestamp == bench.timebase.wall(unplugged_at)
    assert str(stop.reason) == "EVDisconnected"
    registers = [number(call.payload.meter_value[0].sampled_value, REGISTER) for _, call in replayed[:-1]]
    assert registers == sorted(registers) and registers[-1] <= stop.meter_stop
    assert bench.central.state("CP-1").transactions == {}


def test_a_transaction_started_offline_gets_its_id_from_the_late_start_transaction_conf() -> None:
    # §3.5.x: LocalAuthorizeOffline with a cached idTag; §3.7: its StartTransaction
    # is queued, and so are its MeterValues and StopTransaction, which can only
    # carry the transactionId once the StartTransaction.conf has come back.
    bench = booted(AC_3PHASE, csms=CsmsConfig(first_transaction_id=500))
    start_charging(bench, 1, "TAG-1")  # TAG-1 is now in the authorization cache
    unplug(bench, 1)
    bench.run_for(5)
    bench.disconnect()
    start_charging(bench, 2, "TAG-1")
    started_at = bench.now_s - 5
    bench.run_for(300)
    unplug(bench, 2)
    bench.run_for(60)
    bench.connect()
    reconnected_at = bench.now_s
    bench.run_for(60)

    replayed = [call for _, call in sent_since(bench, reconnected_at) if call.action in TRANSACTION_MESSAGES]
    assert [call.action for call in replayed] == ["StartTransaction"] + ["MeterValues"] * 5 + ["StopTransaction"]
    start = replayed[0].payload
    assert (start.connector_id, start.id_tag) == (2, "TAG-1")
    assert start.timestamp == bench.timebase.wall(started_at)
    assert {call.payload.transaction_id for call in replayed[1:]} == {501}
    assert {call.payload.connector_id for call in replayed[1:-1]} == {2}


def test_an_unknown_tag_offline_starts_nothing() -> None:
    bench = booted(DC_2CCS)  # AllowOfflineTxForUnknownId false (C-02: supported, not enabled)
    bench.disconnect()
    start_charging(bench, 1, "STRANGER")
    bench.run_for(120)
    bench.connect()
    bench.run_for(60)

    assert bench.station.connectors[0].transaction is None
    assert calls(bench, "StartTransaction") == []


def test_an_unknown_tag_offline_starts_a_transaction_where_allowed() -> None:
    bench = booted(DC_2CCS)
    assert configure(bench, "AllowOfflineTxForUnknownId", "true") == "Accepted"
    bench.disconnect()
    start_charging(bench, 1, "STRANGER")
    bench.run_for(120)
    bench.connect()
    bench.run_for(60)

    (_, start), = calls(bench, "StartTransaction")
    assert start.id_tag == "STRANGER"
    assert all(p.transaction_id == 1 for _, p in meter_values(bench))


def test_non_transaction_messages_are_not_replayed() -> None:
    # A Heartbeat in flight when the link drops, clock-aligned values of idle
    # connectors while offline: gone with the connection (§3.7 keeps only
    # transaction-related messages).
    bench = booted(AC_3PHASE, csms=CsmsConfig(heartbeat_interval_s=60), latency_s=2.0, settle_s=60)
    assert configure(bench, "ClockAlignedDataInterval", "60") == "Accepted"
    assert configure(bench, "HeartbeatInterval", "45") == "Accepted"
    bench.run_for(400)
    while bench.station.queue.in_flight is None or bench.station.queue.in_flight.action != "Heartbeat":
        bench.run_for(0.5)
    bench.disconnect()
    bench.run_for(1800)
    bench.connect()
    reconnected_at = bench.now_s
    bench.run_for(10)

    assert bench.station.stats.counters["lost.Heartbeat"] == 1
    after = sent_since(bench, reconnected_at)
    assert [call.action for _, call in after if call.action != "Heartbeat"] in ([], ["MeterValues"] * 2)
    offline_wall = bench.timebase.wall(reconnected_at)
    assert all(p.meter_value[0].timestamp >= offline_wall for _, p in meter_values(bench, since_s=reconnected_at)), \
        "nothing measured while offline"
    assert len(calls(bench, "Heartbeat", reconnected_at)) <= 1


def test_an_unanswered_transaction_message_is_sent_again_after_the_reconnect() -> None:
    bench = booted(AC_3PHASE)
    bench.answer_override = lambda call: SILENT if call.action == "StartTransaction" else None
    start_charging(bench, 1, settle_s=2)  # the StartTransaction is in flight, unanswered
    bench.disconnect()
    bench.answer_override = None
    bench.run_for(30)
    bench.connect()
    bench.run_for(120)

    (_, first), (_, again) = calls(bench, "StartTransaction")
    assert again == first
    ids = [call.unique_id for _, call in bench.sent if call.action == "StartTransaction"]
    assert ids[0] != ids[1]
    assert {p.transaction_id for _, p in meter_values(bench)} == {1}
    assert bench.station.stats.exchange("StartTransaction").timeouts == 0


@pytest.mark.parametrize(("attempts", "interval_s"), [(3, 60), (2, 10), (4, 5)])
def test_a_stop_transaction_the_csms_fails_to_process_is_retried_then_discarded(attempts: int, interval_s: int) -> None:
    # §3.7.1 with the spec's own example (3, 60): send, wait 60 s, resend, wait
    # 120 s, resend; "If this final attempt fails, the Charge Point SHOULD
    # discard the message and continue with the next transaction-related message".
    bench = booted(AC_3PHASE)
    assert configure(bench, "TransactionMessageAttempts", str(attempts)) == "Accepted"
    assert configure(bench, "TransactionMessageRetryInterval", str(interval_s)) == "Accepted"
    start_charging(bench, 1)
    bench.run_for(30)
    bench.answer_override = refuse("StopTransaction")
    badge(bench, 1)
    bench.run_for(sum(interval_s * n for n in range(1, attempts)) + 60)

    sent = [t for t, _ in calls(bench, "StopTransaction")]
    latency = bench.latency_s
    assert [b - a for a, b in pairwise(sent)] == pytest.approx(
        [interval_s * n + latency for n in range(1, attempts)]
    )
    stats = bench.station.stats
    assert stats.exchange("StopTransaction").errors == {"InternalError": attempts}
    assert stats.counters["abandoned.StopTransaction"] == 1
    # ... and carries on with the next transaction-related message.
    unplug(bench, 1)
    start_charging(bench, 1, "TAG-2")
    assert len(calls(bench, "StartTransaction")) == 2


def test_a_transaction_message_never_answered_is_retried_after_each_timeout() -> None:
    # OCPP-J: no answer within the timeout is a failure to process too.
    bench = booted(AC_3PHASE)  # TransactionMessageAttempts 3, interval 60 s, declared timeout 10 s
    timeout_s = model(AC_3PHASE).response_timeout_s
    start_charging(bench, 1)
    bench.answer_override = lambda call: SILENT if call.action == "StopTransaction" else None
    badge(bench, 1)
    bench.run_for(400)

    sent = [t for t, _ in calls(bench, "StopTransaction")]
    assert [b - a for a, b in pairwise(sent)] == pytest.approx([timeout_s + 60, timeout_s + 120])
    stats = bench.station.stats
    assert stats.exchange("StopTransaction").timeouts == 3
    assert stats.counters["abandoned.StopTransaction"] == 1


def test_a_transaction_message_accepted_on_a_retry_is_not_sent_again() -> None:
    bench = booted(AC_3PHASE)
    bench.answer_override = refuse("StartTransaction", times=1)
    start_charging(bench, 1, settle_s=90)
    bench.run_for(600)

    starts = calls(bench, "StartTransaction")
    assert len(starts) == 2
    assert starts[1][0] - starts[0][0] == pytest.approx(60 + bench.latency_s)
    assert {p.transaction_id for _, p in meter_values(bench)} == {1}


def test_later_transaction_messages_wait_for_the_one_being_retried() -> None:
    # §3.7: "The delivery of new transaction-related messages SHALL wait until
    # the queue has been emptied" - chronological order over everything else.
    bench = booted(AC_3PHASE)
    bench.answer_override = refuse("StartTransaction", times=2)
    start_charging(bench, 1, settle_s=1)
    bench.run_for(600)

    actions = [a for a in bench.sent_actions() if a in TRANSACTION_MESSAGES]
    assert actions[:3] == ["StartTransaction"] * 3
    assert set(actions[3:]) == {"MeterValues"}
    sampled_stamps = [p.meter_value[0].timestamp for _, p in meter_values(bench)]
    assert sampled_stamps == sorted(sampled_stamps)


def test_an_abandoned_start_transaction_takes_its_meter_values_and_stop_with_it() -> None:
    # With no transactionId ever assigned, nothing can be related to it.
    bench = booted(AC_3PHASE)
    bench.answer_override = refuse("StartTransaction")
    start_charging(bench, 1)
    bench.run_for(400)
    unplug(bench, 1)
    bench.run_for(60)

    assert len(calls(bench, "StartTransaction")) == 3
    assert meter_values(bench) == []
    assert calls(bench, "StopTransaction") == []
    assert bench.station.stats.counters["transaction.never_started"] == 1


def test_a_call_error_on_a_non_transaction_message_is_recorded_not_retried() -> None:
    bench = booted(AC_3PHASE)
    bench.answer_override = refuse("StatusNotification")
    plug_in(bench, 1)
    bench.run_for(600)

    assert len(calls(bench, "StatusNotification", since_s=30)) == 1
    assert bench.station.stats.exchange("StatusNotification").errors == {"InternalError": 1}


# ---------------------------------------------------------------- authorizing while offline


def test_a_cached_tag_starts_a_transaction_offline() -> None:
    # §3.5: LocalAuthorizeOffline true with an Accepted entry in the Authorization Cache.
    bench = booted(AC_3PHASE)  # LocalAuthorizeOffline true (C-01), AuthorizationCacheEnabled true
    start_charging(bench, 1, "TAG-1")
    unplug(bench, 1)
    bench.disconnect()
    start_charging(bench, 2, "TAG-1")

    assert bench.station.connectors[1].transaction is not None
    assert bench.statuses(2) == ["Available"], "nothing reported while offline"


def test_with_local_authorize_offline_false_a_cached_tag_starts_nothing_offline() -> None:
    # §9.1 LocalAuthorizeOffline: "whether the Charge Point, when offline, will
    # start a transaction for locally-authorized identifiers".
    bench = booted(AC_3PHASE)
    assert configure(bench, "LocalAuthorizeOffline", "false") == "Accepted"
    start_charging(bench, 1, "TAG-1")
    unplug(bench, 1)
    bench.disconnect()
    start_charging(bench, 2, "TAG-1")

    assert bench.station.connectors[1].transaction is None


def test_a_cached_tag_past_its_expiry_date_starts_nothing_offline() -> None:
    # §3.5: "Identifiers that were valid but are apparently expired due to
    # passage of time MUST also be rejected."
    bench = booted(AC_3PHASE)
    expiring = IdTagInfo(status=AuthorizationStatus.ACCEPTED, expiry_date=bench.timebase.wall(bench.now_s + 60))
    transaction_ids = iter(range(1, 100))

    def answer(call):  # type: ignore[no-untyped-def]
        # The cache keeps the latest IdTagInfo (Authorize.conf, then StartTransaction.conf, §4.8).
        if call.action == "Authorize":
            return AuthorizeConf(id_tag_info=expiring)
        if call.action == "StartTransaction":
            return StartTransactionConf(id_tag_info=expiring, transaction_id=next(transaction_ids))
        return None

    bench.answer_override = answer
    start_charging(bench, 1, "TAG-1")
    unplug(bench, 1)
    bench.run_for(600)
    bench.disconnect()
    start_charging(bench, 2, "TAG-1")

    assert bench.station.connectors[1].transaction is None
