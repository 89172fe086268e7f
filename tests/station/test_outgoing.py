"""The station's outgoing CALLs (OCPP-J 1.6 §4.1.1): one in flight, the rest
queued, transaction messages kept over a disconnect; and latency measured from
the time a CALL was due, so a slow CSMS is charged for the queue it causes."""

from __future__ import annotations

import json
from itertools import pairwise

import pytest
from core_steps import AC_3PHASE, DC_2CCS, MODEL_IDS, badge, booted, calls, model, start_charging
from harness import SILENT, Bench, Silence

from fleetsim.csms.config import CsmsConfig
from fleetsim.ocpp.frames import Call
from fleetsim.ocpp.payloads.core import HeartbeatReq, StatusNotificationReq
from fleetsim.station.outgoing import MAX_QUEUED_TRANSACTION_MESSAGES, Outgoing, OutgoingQueue


def heartbeat(due_s: float = 0.0) -> Outgoing:
    return Outgoing("Heartbeat", HeartbeatReq(), due_s)


def transaction_message(action: str = "MeterValues", due_s: float = 0.0) -> Outgoing:
    return Outgoing(action, HeartbeatReq(), due_s, is_transaction=True)


# ---------------------------------------------------------------- OutgoingQueue


def test_one_call_in_flight_the_others_wait_in_order() -> None:
    queue = OutgoingQueue()
    first, second, third = heartbeat(), heartbeat(), heartbeat()
    for call in (first, second, third):
        queue.push(call)

    assert queue.take_next(1.0) is first
    assert queue.in_flight is first
    assert queue.take_next(1.0) is None, "OCPP-J §4.1.1: no second CALL while one is unanswered"

    assert queue.answered(first.unique_id) is first
    assert queue.take_next(2.0) is second
    queue.answered(second.unique_id)
    assert queue.take_next(3.0) is third
    assert len(queue) == 0


def test_a_sent_call_gets_a_fresh_unique_id_its_send_time_and_an_attempt() -> None:
    queue = OutgoingQueue()
    first, second = heartbeat(due_s=0.5), heartbeat(due_s=0.5)
    queue.push(first)
    queue.push(second)

    queue.take_next(1.0)
    queue.answered(first.unique_id)
    queue.take_next(4.0)

    assert first.unique_id != second.unique_id
    assert len(first.unique_id) <= 36  # OCPP-J §4.1.3
    assert (first.sent_s, second.sent_s) == (1.0, 4.0)
    assert (first.due_s, second.due_s) == (0.5, 0.5), "the due time stays: latency is measured from it"
    assert first.attempts == second.attempts == 1


def test_an_answer_to_another_id_is_not_for_the_call_in_flight() -> None:
    queue = OutgoingQueue()
    call = heartbeat()
    queue.push(call)
    queue.take_next(0.0)

    assert queue.answered("not-" + call.unique_id) is None
    assert queue.in_flight is call
    assert queue.answered(call.unique_id) is call
    assert queue.answered(call.unique_id) is None, "an answer is taken once"


def test_push_front_goes_before_the_queue_but_not_before_the_call_in_flight() -> None:
    queue = OutgoingQueue()
    in_flight, waiting, urgent = heartbeat(), heartbeat(), heartbeat()
    queue.push(in_flight)
    queue.push(waiting)
    queue.take_next(0.0)
    queue.push_front(urgent)

    assert queue.peek() is urgent
    assert queue.take_next(0.0) is None
    queue.answered(in_flight.unique_id)
    assert queue.take_next(0.0) is urgent


def test_a_retried_call_goes_back_to_the_head_and_waits_until_its_time() -> None:
    queue = OutgoingQueue()
    failed, behind = transaction_message("StartTransaction"), transaction_message()
    queue.push(failed)
    queue.push(behind)
    queue.take_next(0.0)
    queue.answered(failed.unique_id)

    queue.retry(failed, 60.0)

    assert queue.take_next(59.9) is None, "nothing overtakes a transaction message waiting for its retry"
    again = queue.take_next(60.0)
    assert again is failed
    assert failed.attempts == 2
    assert failed.due_s == 60.0, "the retry's latency counts from its own intended time, not the first attempt's"


def test_a_disconnect_keeps_transaction_messages_in_order_and_loses_the_rest() -> None:
    queue = OutgoingQueue()
    start = transaction_message("StartTransaction")
    status = Outgoing("StatusNotification", HeartbeatReq(), 0.0)
    values = transaction_message("MeterValues")
    beat = heartbeat()
    stop = transaction_message("StopTransaction")
    for call in (start, status, values, beat, stop):
        queue.push(call)
    queue.take_next(0.0)  # StartTransaction in flight when the link drops

    lost = queue.on_disconnect()

    assert lost == [status, beat]
    assert queue.in_flight is None
    assert [queue.take_next(1.0)] == [start], "the unanswered one is sent again first"
    queue.answered(start.unique_id)
    assert queue.take_next(1.0) is values
    queue.answered(values.unique_id)
    assert queue.take_next(1.0) is stop


def test_a_non_transaction_call_in_flight_is_lost_with_the_connection() -> None:
    queue = OutgoingQueue()
    beat = heartbeat()
    queue.push(beat)
    queue.take_next(0.0)

    assert queue.on_disconnect() == [beat]
    assert len(queue) == 0
    assert queue.in_flight is None


def test_a_disconnect_ends_a_retry_wait() -> None:
    queue = OutgoingQueue()
    failed = transaction_message()
    queue.push(failed)
    queue.take_next(0.0)
    queue.answered(failed.unique_id)
    queue.retry(failed, 600.0)

    queue.on_disconnect()

    assert queue.take_next(1.0) is failed


def test_pending_transaction_messages_counts_the_queue_and_the_call_in_flight() -> None:
    queue = OutgoingQueue()
    for call in (transaction_message(), heartbeat(), transaction_message(), transaction_message()):
        queue.push(call)
    assert queue.pending_transaction_messages() == 3
    queue.take_next(0.0)
    assert queue.pending_transaction_messages() == 3
    queue.answered(queue.in_flight.unique_id)
    assert queue.pending_transaction_messages() == 2


def test_a_built_payload_is_built_when_sent_and_only_once() -> None:
    built: list[int] = []
    transaction_id: list[int | None] = [None]

    def build() -> StatusNotificationReq | None:
        built.append(1)
        if transaction_id[0] is None:
            return None
        return StatusNotificationReq(connector_id=transaction_id[0], error_code="NoError", status="Available")

    call = Outgoing("StatusNotification", None, 0.0, build=build)
    transaction_id[0] = 7  # learnt after queueing, before sending

    payload = call.materialize()
    assert payload is not None and payload.connector_id == 7
    assert call.materialize() is payload
    assert built == [1]


def test_a_builder_that_finds_nothing_to_send_materializes_to_none() -> None:
    call = Outgoing("StopTransaction", None, 0.0, build=lambda: None, is_transaction=True)
    assert call.materialize() is None


def test_a_plain_payload_is_sent_as_given() -> None:
    payload = HeartbeatReq()
    assert Outgoing("Heartbeat", payload, 0.0).materialize() is payload


# ---------------------------------------------------------------- in a station


def answer_times(bench: Bench) -> dict[str, float]:
    """unique id -> when the CSMS's CALLRESULT / CALLERROR reached the station."""
    times = {}
    for at, data in bench.received:
        frame = json.loads(data)
        if frame[0] in (3, 4):
            times[frame[1]] = at
    return times


@pytest.mark.parametrize("latency_s", [0.001, 0.5, 3.0])
def test_never_two_calls_in_flight_with_a_slow_csms(latency_s: float) -> None:
    # OCPP-J 1.6 §4.1.1: a CALL is sent only once the previous one was answered.
    bench = booted(AC_3PHASE, latency_s=latency_s, settle_s=60.0)
    start_charging(bench, 1, settle_s=30.0)
    start_charging(bench, 2, settle_s=30.0)
    bench.run_for(600)

    answered = answer_times(bench)
    sent = bench.sent
    assert len(sent) > 20
    for (_, previous), (sent_at, _) in pairwise(sent):
        assert previous.unique_id in answered
        assert sent_at >= answered[previous.unique_id]
    assert len({call.unique_id for _, call in sent}) == len(sent), "unique ids are never reused"


def test_latency_of_a_queued_call_includes_its_wait_its_service_time_does_not() -> None:
    # Three StatusNotifications fall due at the same moment (BootNotification
    # answered, OCPP 1.6 §4.9); with a CSMS taking 2 s each, the third waits
    # 4 s in the queue.  Corrected latency counts that wait; service time not.
    bench = Bench(model(AC_3PHASE), latency_s=2.0)
    bench.connect()
    bench.run_for(30)

    statuses = calls(bench, "StatusNotification")
    assert [t for t, _ in statuses] == pytest.approx([2.0, 4.0, 6.0])
    stats = bench.station.stats.exchange("StatusNotification")
    stats.fold()  # the interval's histograms into the totals, as an interval tick does
    assert stats.answered == 3
    assert stats.service.get_min_value() == pytest.approx(2_000_000, rel=1e-3)
    assert stats.service.get_max_value() == pytest.approx(2_000_000, rel=1e-3)
    assert stats.corrected.get_min_value() == pytest.approx(2_000_000, rel=1e-3)
    assert stats.corrected.get_max_value() == pytest.approx(6_000_000, rel=1e-3)
    assert stats.corrected.get_mean_value() == pytest.approx(4_000_000, rel=1e-3)


def test_an_unqueued_call_has_the_same_corrected_and_service_latency() -> None:
    bench = booted(AC_3PHASE, latency_s=0.25, csms=CsmsConfig(heartbeat_interval_s=60), settle_s=10.0)
    bench.run_for(3600)

    stats = bench.station.stats.exchange("Heartbeat")
    stats.fold()
    assert stats.answered >= 50
    assert stats.corrected.get_max_value() == pytest.approx(250_000, rel=1e-3)
    assert stats.service.get_max_value() == pytest.approx(250_000, rel=1e-3)
    assert stats.errors == {} and stats.timeouts == 0


@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_a_call_without_answer_times_out_at_the_models_declared_response_timeout(model_id: str) -> None:
    # The certificate's declared OCPP response timeout bounds how long the
    # station waits; the CALL queued behind the silent one goes right after.
    declared_s = model(model_id).response_timeout_s
    bench = booted(model_id, csms=CsmsConfig(heartbeat_interval_s=60))
    silenced: list[Call] = []

    def silence_the_next_call(call: Call) -> Silence | None:
        if not silenced:
            silenced.append(call)
            return SILENT
        return None

    bench.answer_override = silence_the_next_call
    while not silenced:
        bench.run_for(1.0)
    (silent_at,) = [at for at, call in bench.sent if call is silenced[0]]
    bench.run_until(silent_at + 1.0)
    badge(bench, 1, "TAG-1")  # an Authorize.req falls due, behind the silent CALL
    bench.run_for(declared_s + 5.0)

    after = [at for at, _ in bench.sent if at > silent_at]
    assert after[0] == pytest.approx(silent_at + declared_s)
    (authorize_at, _), = calls(bench, "Authorize")
    assert authorize_at == pytest.approx(silent_at + declared_s)
    stats = bench.station.stats.exchange(silenced[0].action)
    assert stats.timeouts == 1
    bench.station.stats.fold()
    assert bench.station.stats.exchange("Authorize").corrected.get_max_value() == pytest.approx(
        (declared_s - 1.0 + bench.latency_s) * 1e6, rel=1e-3
    )


def test_a_silent_heartbeat_is_not_retried() -> None:
    bench = booted(DC_2CCS, csms=CsmsConfig(heartbeat_interval_s=60))
    bench.answer_override = lambda call: SILENT if call.action == "Heartbeat" else None
    bench.run_for(600)

    heartbeats = [t for t, _ in calls(bench, "Heartbeat")]
    assert len(heartbeats) >= 9
    assert [b - a for a, b in pairwise(heartbeats)] == pytest.approx([60.0] * (len(heartbeats) - 1))


def test_an_answer_that_does_not_validate_is_recorded_as_an_error_and_the_station_carries_on() -> None:
    bench = booted(AC_3PHASE, csms=CsmsConfig(heartbeat_interval_s=60))
    bench.answer_override = lambda call: SILENT if call.action == "Heartbeat" else None
    while not calls(bench, "Heartbeat"):
        bench.run_for(1.0)
    (_, heartbeat), = [(at, call) for at, call in bench.sent if call.action == "Heartbeat"]
    bench.send_raw(b'[3, "%s", {"currentTime": "yesterday"}]' % heartbeat.unique_id.encode())
    bench.answer_override = None
    bench.run_for(300)

    stats = bench.station.stats.exchange("Heartbeat")
    assert sum(stats.errors.values()) == 1
    assert all(code.startswith("invalid.") for code in stats.errors)
    assert stats.answered >= 5, "the next heartbeats are answered normally"


def test_an_answer_to_no_call_of_ours_is_counted_and_ignored() -> None:
    bench = booted(AC_3PHASE)
    bench.send_raw(b'[3, "never-sent", {}]')
    bench.send_raw(b'[4, "never-sent-either", "InternalError", "", {}]')
    bench.run_for(1)

    counters = bench.station.stats.counters
    assert (counters["csms.unexpected_result"], counters["csms.unexpected_error"]) == (1, 1)
    assert bench.replies == {}


def test_the_last_transaction_message_pending_marks_when_all_of_them_are_gone() -> None:
    queue = OutgoingQueue()
    assert queue.last_transaction_message() is None
    first, last = transaction_message("StartTransaction"), transaction_message("MeterValues")
    for call in (first, heartbeat(), last, heartbeat()):
        queue.push(call)
    assert queue.last_transaction_message() is last
    later = transaction_message("StopTransaction")
    for _ in range(3):  # send and answer the first three: the marked one is gone, a later one is not
        sent = queue.take_next(0.0)
        assert sent is not None and queue.holds(sent)
        queue.answered(sent.unique_id)
    queue.push(later)
    assert not queue.holds(last) and queue.holds(later) and not queue.holds(first)
    in_flight = queue.take_next(0.0)
    assert in_flight is not None and in_flight.action == "Heartbeat"
    assert queue.last_transaction_message() is later


def test_a_queue_full_of_messages_of_a_lost_transaction_is_skipped_through_at_once() -> None:
    # A StartTransaction abandoned after a long outage leaves its MeterValues
    # with no transactionId to send: each is dropped as it comes up, however
    # many there are, and the next message behind them goes out.
    bench = booted(AC_3PHASE)
    station = bench.station

    def queue_them(now_s: float) -> None:
        for _ in range(MAX_QUEUED_TRANSACTION_MESSAGES - 1):
            station.enqueue(Outgoing("MeterValues", None, now_s, build=lambda: None, is_transaction=True))
        station.enqueue(heartbeat(now_s))
        station.on_timer(now_s)

    sent_before = len(bench.sent)
    bench.act(queue_them)
    bench.run_for(1)

    assert bench.sent_actions()[sent_before:] == ["Heartbeat"]
    assert len(station.queue) == 0
