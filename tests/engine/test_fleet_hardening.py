"""The fleet keeps going whatever one station meets: a station's own
exception ends that station's connection only, failures are counted by their
real cause, and the run's own end is no disconnect."""

from __future__ import annotations

import contextlib
import itertools
import json
import random
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import trio
from autobahn_cases import OP_TEXT, Frame
from autobahn_peer import Peer, accept_upgrade, encode, listen
from test_fleet import PROFILES, make_fleet, wait_for

from fleetsim.csms.config import CsmsConfig
from fleetsim.csms.server import serve_csms
from fleetsim.engine import fleet as fleet_module
from fleetsim.engine import link as link_module
from fleetsim.engine.fleet import ConnectOptions, Fleet
from fleetsim.engine.link import Target
from fleetsim.engine.run import END_STEP_S, RunSpec, build_stations, run, shares
from fleetsim.metrics.histogram import Histogram
from fleetsim.metrics.recorder import Recorder
from fleetsim.ocpp.enums import Reason
from fleetsim.station.backoff import Backoff, Jitter
from fleetsim.station.station import Station
from fleetsim.station.timebase import Timebase

DEADLINE_S = 20
QUICK = Backoff(base_s=0.05, cap_s=0.05, jitter=Jitter.NONE)  # reconnect attempts 50 ms apart


@pytest.mark.patches_hot_path
async def test_a_station_that_raises_is_disconnected_and_the_fleet_goes_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    real_on_message = Station.on_message
    raised: list[str] = []

    def on_message(self: Station, data: bytes, now_s: float, received_s: float | None = None) -> None:
        if self.charge_point_id == "FS-bionever-bss011k-v1000-00002" and not raised:
            raised.append(self.charge_point_id)
            raise RuntimeError("a bug of ours")
        real_on_message(self, data, now_s, received_s)

    monkeypatch.setattr(Station, "on_message", on_message)
    recorder = Recorder()
    with trio.fail_after(DEADLINE_S):
        async with trio.open_nursery() as nursery:
            csms = await nursery.start(serve_csms, CsmsConfig(heartbeat_interval_s=1))
            fleet = make_fleet(csms, 10, recorder)
            nursery.start_soon(fleet.run, 0.0)
            # Every station boots: the unlucky one too, after its reconnect.
            await wait_for(lambda: recorder.counters()["stations.booted"] == 10)
            nursery.cancel_scope.cancel()
    assert raised
    assert recorder.simulator_counters["station_errors"] == 1
    assert recorder.counters()["disconnect.internal_error"] == 1
    assert "a bug of ours" in caplog.text


@pytest.mark.patches_hot_path
async def test_a_timer_that_raises_does_not_stop_the_other_stations_timers(monkeypatch: pytest.MonkeyPatch) -> None:
    real_on_timer = Station.on_timer
    unlucky: set[str] = set()

    def on_timer(self: Station, now_s: float) -> None:
        if self.charge_point_id == "FS-bescore-bsc-s12bcc-00001" and not unlucky:
            unlucky.add(self.charge_point_id)
            raise RuntimeError("a bug of ours")
        real_on_timer(self, now_s)

    monkeypatch.setattr(Station, "on_timer", on_timer)
    recorder = Recorder()
    with trio.fail_after(DEADLINE_S):
        async with trio.open_nursery() as nursery:
            csms = await nursery.start(serve_csms, CsmsConfig(heartbeat_interval_s=1))
            fleet = make_fleet(csms, 6, recorder)
            nursery.start_soon(fleet.run, 0.0)
            await wait_for(lambda: recorder.fleet_exchanges().get("Heartbeat") is not None
                           and recorder.fleet_exchanges()["Heartbeat"].answered >= 12)
            nursery.cancel_scope.cancel()
    assert recorder.simulator_counters["station_errors.timer"] == 1


async def test_the_runs_own_end_is_no_disconnect() -> None:
    # results/README.md: "closing at the end of the run is not counted", so
    # that `disconnects == 0` can pass.
    recorder = Recorder()
    spec = RunSpec(fleet=shares(sorted(PROFILES), 10), duration_s=1.5, ramp_per_s=0, reaction_delays=False)
    with trio.fail_after(DEADLINE_S):
        outcome = await run(spec, PROFILES, recorder)
    assert outcome.progress.connected == 0
    assert recorder.counters()["connect.ok"] == 10
    assert not {name: n for name, n in recorder.counters().items() if name.startswith("disconnect.")}
    assert outcome.progress.disconnects == 0


async def loop_lag_of_a_short_run() -> Histogram:
    """The simulator's loop lag over a run of 10 stations for 1.5 s."""
    recorder = Recorder()
    spec = RunSpec(fleet=shares(sorted(PROFILES), 10), duration_s=1.5, ramp_per_s=0, reaction_delays=False)
    with trio.fail_after(DEADLINE_S):
        await run(spec, PROFILES, recorder)
    recorder.fold()
    return recorder.simulator["loop_lag"]


def assert_watched_and_never_held(lag: Histogram) -> None:
    assert lag.total_count >= 100  # watched throughout the run: every 10 ms
    assert lag.get_max_value() < 200_000, lag.get_max_value()  # nothing near the 0.3 s held outside it


@pytest.mark.patches_hot_path
async def test_closing_the_fleet_after_the_run_is_no_lag_of_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    # Closing 19,000 connections at once holds the loop about 0.4 s, after
    # the last measured message: it is not the simulator's lag during the run.
    close_all = Fleet._close_all

    def slow_close_all(self: Fleet) -> None:
        time.sleep(0.3)
        close_all(self)

    monkeypatch.setattr(Fleet, "_close_all", slow_close_all)
    assert_watched_and_never_held(await loop_lag_of_a_short_run())


@pytest.mark.patches_hot_path
async def test_the_fleets_start_up_collection_is_no_lag_of_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    # The fleet collects and freezes every station built before the first
    # connects: a full collection, 0.14 s at 19,000 stations.
    managed_gc = fleet_module.managed_gc

    @contextlib.contextmanager
    def slow_managed_gc(manage: bool) -> Iterator[None]:
        time.sleep(0.3)
        with managed_gc(manage):
            yield

    monkeypatch.setattr(fleet_module, "managed_gc", slow_managed_gc)
    assert_watched_and_never_held(await loop_lag_of_a_short_run())


@pytest.mark.patches_hot_path
async def test_a_ramp_of_zero_that_holds_the_loop_is_the_runs_lag(monkeypatch: pytest.MonkeyPatch) -> None:
    # The watch starts once the fleet reports started, and counts from then:
    # the stations a ramp of 0 starts at once, right after, are the run's.
    start = Fleet._start

    def slow_start(self: Fleet, nursery: trio.Nursery, runner: object) -> None:
        time.sleep(0.03)
        start(self, nursery, runner)  # type: ignore[arg-type]

    monkeypatch.setattr(Fleet, "_start", slow_start)
    lag = await loop_lag_of_a_short_run()
    assert lag.get_max_value() >= 250_000  # ten starts of 30 ms in one step


@pytest.mark.patches_hot_path
async def test_the_runs_end_stops_transactions_spread_over_a_second_in_a_few_wake_ups(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A wake-up a station (19,000 in the second) starved the fleet's own
    # timers: they fired up to 125 ms late while the run ended.
    moments: list[float] = []
    end_sessions = Station.end_sessions

    def noted(self: Station, reason: Reason, now_s: float) -> None:
        moments.append(now_s)
        end_sessions(self, reason, now_s)

    monkeypatch.setattr(Station, "end_sessions", noted)
    spec = RunSpec(fleet=shares(sorted(PROFILES), 400), duration_s=1.0, ramp_per_s=0, reaction_delays=False)
    with trio.fail_after(DEADLINE_S):
        await run(spec, PROFILES, Recorder())
    assert len(moments) == 400  # every station, once
    spread_s = max(moments) - min(moments)
    assert 0.9 <= spread_s <= 1.1  # still spread over the second, as people leave
    steps = sorted(set(moments))
    assert len(steps) <= 1.0 / END_STEP_S + 1  # together, a wake-up per step at most
    assert min(b - a for a, b in itertools.pairwise(steps)) >= END_STEP_S * 0.99


async def failed_reasons(options: ConnectOptions) -> dict[str, int]:
    recorder = Recorder()
    spec = RunSpec(fleet=shares(["bionever-bss011k-v1000"], 1), duration_s=0)
    timebase = Timebase(trio.current_time(), datetime.now(UTC), 1.0)
    fleet = Fleet(build_stations(spec, PROFILES, recorder, timebase), options, recorder, random.Random(1))
    with trio.move_on_after(0.5):
        await fleet.run(0.0)
    return {name.removeprefix("connect.failed."): n for name, n in recorder.counters().items()
            if name.startswith("connect.failed.")}


async def test_a_name_that_does_not_resolve_is_counted_as_resolve(monkeypatch: pytest.MonkeyPatch) -> None:
    async def getaddrinfo(*args: object, **kwargs: object) -> list[object]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(link_module.trio.socket, "getaddrinfo", getaddrinfo)
    options = ConnectOptions(Target.parse("ws://csms.invalid/ocpp"), reconnect=QUICK)
    reasons = await failed_reasons(options)
    assert set(reasons) == {"resolve"}


async def test_a_source_address_the_host_does_not_have_is_counted_as_such() -> None:
    with trio.fail_after(DEADLINE_S):
        async with trio.open_nursery() as nursery:
            csms = await nursery.start(serve_csms, CsmsConfig())
            # 192.0.2.1 (RFC 5737 TEST-NET-1) is on no interface here: bind fails at once.
            options = ConnectOptions(Target.parse(csms.url), source_addresses=("192.0.2.1",), reconnect=QUICK)
            reasons = await failed_reasons(options)
            nursery.cancel_scope.cancel()
    assert set(reasons) == {"source_address"}


async def test_a_fleet_that_never_connects_shows_no_timer_lag() -> None:
    # Its sessions' timers are armed only as the run ends: falling due then is
    # no lateness of the timer task (it once read "timer lag p99 6.5 s").
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there: every connection is refused
    recorder = Recorder()
    spec = RunSpec(fleet=shares(sorted(PROFILES), 100), duration_s=3.0, ramp_per_s=0, stop_grace_s=0.5,
                   csms_url=f"ws://127.0.0.1:{port}/ocpp")
    with trio.fail_after(DEADLINE_S):
        await run(spec, PROFILES, recorder)
    assert recorder.counters()["connect.failed.refused"] >= 100
    recorder.fold()
    timer_lag = recorder.simulator["timer_lag"]
    assert timer_lag.total_count == 0 or timer_lag.get_max_value() < 50_000


async def test_the_ramp_starts_no_station_once_the_duration_is_over(autojump_clock: trio.abc.Clock) -> None:
    # The stop grace (StopTransactions delivered) is no time to start more
    # stations: a 4 s run of a slow ramp once started its whole fleet.
    recorder = Recorder()
    spec = RunSpec(fleet=shares(sorted(PROFILES), 100), duration_s=1.0, ramp_per_s=10, stop_grace_s=5.0,
                   reaction_delays=False)
    outcome = await run(spec, PROFILES, recorder)
    assert 10 <= outcome.progress.started <= 11  # t = 0, 0.1, ... 1.0


async def test_a_csms_that_half_closes_gets_the_answers_to_what_it_sent_before() -> None:
    # A CSMS writes CALLs and shuts its side (a FIN, no close frame): the
    # answers still leave, in order, before the connection is given up
    # (RFC 6455 calls it failed, 1006; a half-closed peer may still read).
    # 16,384 bytes exactly: a read that fills the link's buffer is read again
    # at once, 64 messages a read, and the read that meets the FIN comes in
    # the pass that holds the last batch's answers (on a busy machine it may
    # fall to the next pass; tests/engine/test_link.py checks the link alone).
    listener = listen()
    url = f"ws://127.0.0.1:{listener.getsockname()[1]}/ocpp"
    spec = RunSpec(fleet=shares(["bionever-bss011k-v1000"], 1), duration_s=0, speed=1.0, reaction_delays=False,
                   sessions=None)
    recorder = Recorder()
    stations = build_stations(spec, PROFILES, recorder, Timebase(trio.current_time(), datetime.now(UTC), 1.0))
    fleet = Fleet(stations, ConnectOptions(Target.parse(url), reconnect=QUICK), recorder, random.Random(1))
    frame_bytes = len(encode(Frame(OP_TEXT, b'[2,"c0000","ClearCache",{}]'), mask=False))
    calls = [b'[2,"c%04d","ClearCache",{}]' % n for n in range(16_384 // frame_bytes)]
    pad = 16_384 % frame_bytes
    calls[-1] = b'[2,"c%s","ClearCache",{}]' % (b"9" * (4 + pad))  # into the last unique id (36 at most)
    data = b"".join(encode(Frame(OP_TEXT, call), mask=False) for call in calls)
    assert len(data) == 16_384
    with trio.fail_after(DEADLINE_S):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(fleet.run, 0.0)
            peer = Peer(await accept_upgrade(listener), masks=False)
            listener.close()
            boot = json.loads(await peer.read_text())
            assert boot[2] == "BootNotification"
            accepted = {"status": "Accepted", "currentTime": "2026-01-01T00:00:00Z", "interval": 300}
            peer.sock.sendall(encode(Frame(OP_TEXT, json.dumps([3, boot[1], accepted]).encode()), mask=False))
            assert json.loads(await peer.read_text())[2] == "StatusNotification"  # left unanswered
            peer.sock.setblocking(True)
            peer.sock.sendall(data)  # all of it, and the FIN, before the fleet runs again
            peer.sock.shutdown(socket.SHUT_WR)
            peer.sock.setblocking(False)
            await peer.read_to_eof()
            nursery.cancel_scope.cancel()
    answers = [json.loads(payload) for opcode, payload in peer.received if opcode == OP_TEXT]
    assert [answer[1] for answer in answers if answer[0] == 3 and answer[1] != boot[1]] == [
        json.loads(call)[1] for call in calls]
    assert recorder.counters()["disconnect.closed"] == 1
