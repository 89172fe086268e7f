"""What the CSMS does in time: response delays, its own CALLs at their rate,
and the stall, drop and malformed faults.  The clock is virtual
(``autojump_clock``): a trio MockClock that jumps to the next deadline whenever
every task waits, so an hour of CSMS traffic takes milliseconds.  Real sockets
on 127.0.0.1 deliver synchronously, so the clock never jumps over real IO."""

from __future__ import annotations

import msgspec
import pytest
import trio
import trio.testing
from csms_helpers import Station, running_csms, sample_requests

from fleetsim.csms.config import CsmsConfig, DelayKind, Faults, MalformedKind, ResponseDelay, TrafficRule
from fleetsim.csms.server import RunningCsms
from fleetsim.engine.link import LinkError
from fleetsim.ocpp.actions import Action
from fleetsim.ocpp.errors import ErrorCode, Malformed
from fleetsim.ocpp.frames import Call, CallResult, decode_confirmation, encode_error
from fleetsim.ocpp.payloads import core

VIRTUAL_DEADLINE_S = 100_000  # virtual seconds: only a hang reaches it


async def timed_heartbeat(station: Station) -> float:
    sent_s = trio.current_time()
    answer = await station.call(core.HeartbeatReq())
    assert isinstance(answer, CallResult)
    return trio.current_time() - sent_s


async def test_a_fixed_delay_is_applied_to_every_answer(autojump_clock: trio.testing.MockClock) -> None:
    config = CsmsConfig(delay=ResponseDelay(DelayKind.FIXED, fixed_ms=250))
    with trio.fail_after(VIRTUAL_DEADLINE_S):
        async with running_csms(config) as csms:
            station = await Station.open(csms)
            for _ in range(3):
                assert await timed_heartbeat(station) == pytest.approx(0.25, abs=1e-6)


async def test_uniform_delays_stay_in_their_bounds(autojump_clock: trio.testing.MockClock) -> None:
    config = CsmsConfig(delay=ResponseDelay(DelayKind.UNIFORM, low_ms=100, high_ms=300), seed=3)
    with trio.fail_after(VIRTUAL_DEADLINE_S):
        async with running_csms(config) as csms:
            station = await Station.open(csms)
            delays = [await timed_heartbeat(station) for _ in range(30)]
            assert min(delays) >= 0.1 - 1e-6 and max(delays) <= 0.3 + 1e-6
            assert max(delays) - min(delays) > 0.1  # they do vary


async def test_a_delayed_answer_is_lost_when_its_station_has_gone(autojump_clock: trio.testing.MockClock) -> None:
    config = CsmsConfig(delay=ResponseDelay(DelayKind.FIXED, fixed_ms=1000))
    with trio.fail_after(VIRTUAL_DEADLINE_S):
        async with running_csms(config) as csms:
            station = await Station.open(csms)
            station.send(b'[2,"h","Heartbeat",{}]')
            await trio.sleep(0.5)
            station.link.close()
            await trio.sleep(1)
            assert csms.stats.answers_lost == 1 and csms.stats.internal_errors == 0


async def booted_stations(csms: RunningCsms, count: int, *, auto_answer: bool = True) -> list[Station]:
    stations = [await Station.open(csms, f"CP{n}", auto_answer=auto_answer) for n in range(count)]
    for station in stations:
        await station.call_boot()
    return stations


async def test_csms_calls_are_sent_at_the_configured_rate(autojump_clock: trio.testing.MockClock) -> None:
    rule = TrafficRule(Action.TRIGGER_MESSAGE, per_station_per_s=2)
    with trio.fail_after(VIRTUAL_DEADLINE_S):
        async with running_csms(CsmsConfig(traffic=(rule,), seed=11)) as csms:
            stations = await booted_stations(csms, 3)
            async with trio.open_nursery() as nursery:
                for station in stations:
                    nursery.start_soon(station.serve_forever)
                await trio.sleep(100)
                nursery.cancel_scope.cancel()
    sent = csms.stats.csms_calls_sent["TriggerMessage"]
    assert 600 * 0.85 < sent < 600 * 1.15  # 3 stations x 2/s x 100 s, Poisson
    assert sum(len(s.csms_calls) for s in stations) == sent
    assert csms.stats.csms_call_results["TriggerMessage"]["Accepted"] >= sent - 3  # the last may be in flight


async def test_csms_calls_per_hour_over_a_virtual_day(autojump_clock: trio.testing.MockClock) -> None:
    rule = TrafficRule(Action.GET_CONFIGURATION, per_station_per_hour=10)
    with trio.fail_after(VIRTUAL_DEADLINE_S):
        async with running_csms(CsmsConfig(traffic=(rule,), seed=5)) as csms:
            (station,) = await booted_stations(csms, 1)
            with trio.move_on_after(24 * 3600):
                await station.serve_forever()
    assert 240 * 0.75 < csms.stats.csms_calls_sent["GetConfiguration"] < 240 * 1.25


async def test_no_csms_calls_before_an_accepted_boot(autojump_clock: trio.testing.MockClock) -> None:
    rule = TrafficRule(Action.RESET, per_station_per_s=1)
    with trio.fail_after(VIRTUAL_DEADLINE_S):
        async with running_csms(CsmsConfig(traffic=(rule,))) as csms:
            station = await Station.open(csms)
            with trio.move_on_after(20):
                await station.serve_forever()
    assert station.csms_calls == [] and csms.stats.csms_calls_sent == {}
    assert csms.stats.csms_calls_skipped["Reset"] > 5


async def test_remote_stop_targets_the_open_transaction(autojump_clock: trio.testing.MockClock) -> None:
    rule = TrafficRule(Action.REMOTE_STOP_TRANSACTION, per_station_per_s=1)
    with trio.fail_after(VIRTUAL_DEADLINE_S):
        async with running_csms(CsmsConfig(traffic=(rule,))) as csms:
            (station,) = await booted_stations(csms, 1)
            start = await station.call(sample_requests()["StartTransaction"])
            transaction_id = msgspec.json.decode(start.payload)["transactionId"]
            while not station.csms_calls:
                await station.next_frame()
    (call,) = station.csms_calls
    assert call.action == "RemoteStopTransaction" and call.payload.transaction_id == transaction_id


async def test_one_csms_call_in_flight_and_a_timeout_frees_the_slot(autojump_clock: trio.testing.MockClock) -> None:
    # OCPP-J 1.6 §4.1.1: a second CALL waits until the first is answered or times out.
    rule = TrafficRule(Action.CLEAR_CACHE, per_station_per_s=10)
    config = CsmsConfig(traffic=(rule,), csms_call_timeout_s=30, csms_call_queue=2)
    with trio.fail_after(VIRTUAL_DEADLINE_S):
        async with running_csms(config) as csms:
            (station,) = await booted_stations(csms, 1, auto_answer=False)
            first_s = None
            while len(station.csms_calls) < 2:
                await station.next_frame()
                first_s = first_s or trio.current_time()
            assert trio.current_time() - first_s == pytest.approx(30, abs=0.01)
            station.send(encode_error(station.csms_calls[1].unique_id, ErrorCode.NOT_SUPPORTED))
            while len(station.csms_calls) < 3:
                await station.next_frame()
    results = csms.stats.csms_call_results["ClearCache"]
    assert results["timeout"] == 1 and results[f"CallError:{ErrorCode.NOT_SUPPORTED}"] == 1
    assert csms.stats.callerrors_received == {"NotSupported": 1}
    assert csms.stats.csms_calls_skipped["ClearCache"] > 100  # the queue of 2 overflowed


async def test_a_stall_answers_nothing_until_it_ends(autojump_clock: trio.testing.MockClock) -> None:
    config = CsmsConfig(faults=Faults(stall_at_s=10, stall_for_s=30))
    with trio.fail_after(VIRTUAL_DEADLINE_S):
        async with running_csms(config) as csms:
            station = await Station.open(csms)
            assert await timed_heartbeat(station) == 0
            await trio.sleep(12 - trio.current_time())
            assert await timed_heartbeat(station) == pytest.approx(28, abs=0.01)  # answered at 40 s
            assert await timed_heartbeat(station) == 0


async def test_drop_after_messages_closes_the_connection(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(VIRTUAL_DEADLINE_S):
        async with running_csms(CsmsConfig(faults=Faults(drop_after_messages=3))) as csms:
            station = await Station.open(csms)
            for _ in range(3):
                assert isinstance(await station.call(core.HeartbeatReq()), CallResult)
            with pytest.raises(LinkError):
                await station.next_frame()
            assert station.closes == []  # dropped, not closed: no close frame
            assert csms.stats.connections_dropped == 1
            again = await Station.open(csms)  # a reconnection is served
            assert isinstance(await again.call(core.HeartbeatReq()), CallResult)


@pytest.mark.parametrize("kind", list(MalformedKind))
async def test_every_nth_answer_is_malformed(kind: MalformedKind, autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(VIRTUAL_DEADLINE_S):
        async with running_csms(CsmsConfig(faults=Faults(malformed_every=3, malformed_kind=kind))) as csms:
            station = await Station.open(csms)
            verdicts = []
            for n in range(6):
                station.send(f'[2,"h{n}","Heartbeat",{{}}]'.encode())
                frame = await station.next_frame()
                if isinstance(frame, CallResult):
                    frame = decode_confirmation("Heartbeat", frame)
                verdicts.append(isinstance(frame, Malformed))
            assert verdicts == [False, False, True, False, False, True]
            assert csms.stats.malformed_sent == 2


async def test_csms_calls_wait_out_a_stall(autojump_clock: trio.testing.MockClock) -> None:
    rule = TrafficRule(Action.CLEAR_CACHE, per_station_per_s=1)
    config = CsmsConfig(traffic=(rule,), faults=Faults(stall_at_s=5, stall_for_s=100))
    with trio.fail_after(VIRTUAL_DEADLINE_S):
        async with running_csms(config) as csms:
            (station,) = await booted_stations(csms, 1)
            times: list[float] = []
            while trio.current_time() < 110:
                frame = await station.next_frame()
                if isinstance(frame, Call):
                    times.append(trio.current_time())
    assert not [t for t in times if 5 <= t < 105]
