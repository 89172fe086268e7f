"""A station fed what a hostile CSMS sends: every CALL gets an answer, and
nothing the CSMS does grows the station's queue or timers without a cap."""

from __future__ import annotations

import pytest
from core_steps import AC_3PHASE, booted
from harness import SILENT

from fleetsim.ocpp.errors import ErrorCode
from fleetsim.ocpp.frames import CallError
from fleetsim.ocpp.payloads.core import ChangeConfigurationReq, ClearCacheReq
from fleetsim.ocpp.payloads.remote_trigger import TriggerMessageReq
from fleetsim.station.handlers import MAX_PENDING_TIMERS
from fleetsim.station.outgoing import MAX_QUEUED_OTHER_CALLS, MAX_QUEUED_TRANSACTION_MESSAGES, Outgoing, OutgoingQueue


def test_a_deeply_nested_call_is_answered_with_a_formation_violation() -> None:
    bench = booted(AC_3PHASE)
    bench.send_raw(b'[2,"deep","DataTransfer",{"vendorId":"x","data":' + b"[" * 5000 + b"]" * 5000 + b"}]")
    bench.run_for(1)
    reply = bench.reply("deep")
    assert isinstance(reply, CallError) and reply.code == ErrorCode.FORMATION_VIOLATION


def test_a_trigger_flood_from_a_csms_that_never_answers_keeps_the_queue_bounded() -> None:
    # 502,000 TriggerMessages once grew a station's queue without end.
    bench = booted(AC_3PHASE)
    bench.answer_override = lambda call: SILENT  # the CSMS answers none of the triggered messages
    uids = []
    for _ in range(3_000):
        uids.append(bench.send_call(TriggerMessageReq(requested_message="StatusNotification", connector_id=1)))
        bench.run_for(0.001)
    bench.run_for(1)
    queue = bench.station.queue
    assert len(queue) <= MAX_QUEUED_OTHER_CALLS
    statuses = [str(bench.reply(uid).status) for uid in uids]
    assert statuses.count("Accepted") >= MAX_QUEUED_OTHER_CALLS
    assert statuses.count("Rejected") > 2_000  # §5.17: "will not be sent"


def test_a_call_flood_faster_than_the_station_reacts_is_answered_busy_not_scheduled() -> None:
    # With reaction delays every answer is a timer: a CSMS that does not wait
    # for answers (OCPP-J 1.6 §4.1.1) must not grow them without end.
    bench = booted(AC_3PHASE, reaction_delays=True)
    uids = [bench.send_call(ClearCacheReq()) for _ in range(MAX_PENDING_TIMERS * 3)]
    bench.run_for(0.01)
    assert len(bench.station._timers) <= MAX_PENDING_TIMERS
    bench.run_for(120)
    busy = [uid for uid in uids if isinstance(bench.replies.get(uid), CallError)]
    assert busy and all(bench.reply(uid).code == ErrorCode.INTERNAL_ERROR for uid in busy)
    assert len(bench.replies) == len(uids)  # every CALL answered, one way or the other


class Counted:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def count(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n


def test_a_full_queue_drops_the_oldest_meter_values_and_keeps_start_and_stop() -> None:
    stats = Counted()
    queue = OutgoingQueue(stats)
    assert queue.push(Outgoing("StartTransaction", None, 0.0, is_transaction=True))
    for n in range(MAX_QUEUED_TRANSACTION_MESSAGES + 50):
        assert queue.push(Outgoing("MeterValues", None, float(n), is_transaction=True))
    assert queue.push(Outgoing("StopTransaction", None, 1e9, is_transaction=True))
    assert len(queue) == MAX_QUEUED_TRANSACTION_MESSAGES
    actions = [queue.take_next(0.0).action]  # the StartTransaction is still first
    assert actions == ["StartTransaction"]
    assert stats.counts == {"queue.dropped.MeterValues": 52}
    for _ in range(MAX_QUEUED_OTHER_CALLS):
        assert queue.push(Outgoing("StatusNotification", None, 0.0))
    assert not queue.push(Outgoing("StatusNotification", None, 0.0))
    assert queue.full() and stats.counts["queue.dropped.StatusNotification"] == 1


@pytest.mark.patches_hot_path
def test_clock_aligned_meter_values_without_room_are_dropped_before_they_are_sampled(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A CSMS that answers none of the station's calls: clock-aligned
    # MeterValues (no transaction) pile up to the queue's cap, and the ones
    # after it are counted as dropped without being sampled and built first.
    from fleetsim.station import metering

    bench = booted(AC_3PHASE)
    bench.answer_override = lambda call: SILENT
    samples = []
    real_sample = metering.sample
    monkeypatch.setattr(metering, "sample", lambda *args: samples.append(1) or real_sample(*args))
    bench.send_call(ChangeConfigurationReq(key="ClockAlignedDataInterval", value="1"))
    bench.run_for(300)
    assert bench.station.queue.full()
    sampled, dropped = len(samples), bench.recorder.counters()["queue.dropped.MeterValues"]
    bench.run_for(300)
    assert bench.recorder.counters()["queue.dropped.MeterValues"] >= dropped + 250
    # Sampled only for the room that each unanswered CALL's timeout frees (one
    # a declared timeout); all 300 were sampled before.
    assert len(samples) - sampled <= 300 // 10


def test_a_station_with_no_room_sleeps_through_clock_aligned_values_and_counts_each_as_dropped(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Its queue full and no transaction open, a clock-aligned MeterValues could
    # only be dropped: the station does not wake for each one, yet every one
    # that fell due is accounted for, made or dropped, once the CSMS answers.
    from fleetsim.station.station import Station

    bench = booted(AC_3PHASE)
    bench.answer_override = lambda call: SILENT
    bench.send_call(ChangeConfigurationReq(key="ClockAlignedDataInterval", value="1"))
    start_s = bench.now_s
    bench.run_for(300)
    assert bench.station.queue.full()
    wakes = []
    real_on_timer = Station.on_timer
    monkeypatch.setattr(Station, "on_timer",
                        lambda station, now_s: wakes.append(now_s) or real_on_timer(station, now_s))
    bench.run_for(300)
    # Woken by its CALLs' timeouts and its heartbeats, not by the 300 values.
    assert len(wakes) <= 300 // 5
    bench.answer_override = None  # the CSMS answers again: the queue drains
    bench.run_for(60)
    end_s = bench.now_s
    assert not bench.station.queue.full()
    made = bench.sent_actions(since_s=start_s).count("MeterValues") + sum(
        1 for call in bench.station.queue._queue if call.action == "MeterValues")
    dropped = bench.recorder.counters()["queue.dropped.MeterValues"]
    connectors = len(bench.station.connectors)
    boundaries = int(end_s) - int(start_s)  # whole seconds of the wall clock (it starts at midnight)
    assert abs(made + dropped - boundaries * connectors) <= connectors


def test_a_station_given_room_after_sleeping_through_clock_aligned_values_fires_now_not_when_they_fell_due() -> None:
    # The engine reads a wake-up in the past as its own timer lag.
    bench = booted(AC_3PHASE)
    bench.answer_override = lambda call: SILENT
    bench.send_call(ChangeConfigurationReq(key="ClockAlignedDataInterval", value="1"))
    bench.run_for(300)
    station = bench.station
    for _ in range(60):  # (between two of its CALLs' timeouts, which wake it)
        if station.aligned_held is not None and station.aligned_due_s < bench.now_s - 2:
            break
        bench.run_for(1)
    assert station.aligned_held is not None and station.aligned_due_s < bench.now_s - 2
    dropped = bench.recorder.counters()["queue.dropped.MeterValues"]
    bench.disconnect()  # its queued calls go with the connection: room again
    assert not station.queue.full()
    assert station.wake_at_s >= bench.now_s
    bench.run_for(0)
    assert bench.recorder.counters()["queue.dropped.MeterValues"] >= dropped + 2  # the ones it slept through
