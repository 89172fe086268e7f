"""The fleet on real sockets against the embedded CSMS on 127.0.0.1."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
import trio
import trio_websocket

from fleetsim.csms.config import CsmsConfig, Faults
from fleetsim.csms.server import RunningCsms, serve_csms
from fleetsim.engine.fleet import ConnectOptions, Fleet
from fleetsim.engine.link import Target
from fleetsim.engine.run import RunSpec, build_stations, run, shares, station_ids
from fleetsim.metrics.recorder import Recorder
from fleetsim.profiles.builtin import load_builtin
from fleetsim.sessions.simple import SimpleSessions
from fleetsim.station.backoff import Backoff
from fleetsim.station.timebase import Timebase

PROFILES = load_builtin()


def make_fleet(csms: RunningCsms, stations: int, recorder: Recorder, *, speed: float = 1.0,
               sessions: SimpleSessions | None = None, backoff_s: float = 0.05) -> Fleet:
    spec = RunSpec(fleet=shares(sorted(PROFILES), stations), duration_s=0, speed=speed, reaction_delays=False,
                   sessions=sessions)
    timebase = Timebase(trio.current_time(), datetime.now(UTC), speed)
    options = ConnectOptions(Target.parse(csms.url), reconnect=Backoff(base_s=backoff_s, cap_s=backoff_s * 4))
    return Fleet(build_stations(spec, PROFILES, recorder, timebase), options, recorder, random.Random(1))


async def wait_for(condition, timeout_s: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    with trio.fail_after(timeout_s):
        while not condition():
            await trio.sleep(0.02)


async def test_every_station_connects_boots_and_heartbeats() -> None:
    recorder = Recorder()
    async with trio.open_nursery() as nursery:
        csms = await nursery.start(serve_csms, CsmsConfig(heartbeat_interval_s=1))
        fleet = make_fleet(csms, 25, recorder)
        nursery.start_soon(fleet.run, 0.0)
        await wait_for(lambda: recorder.counters()["boot.Accepted"] == 25)
        await wait_for(lambda: recorder.fleet_exchanges().get("Heartbeat") is not None
                       and recorder.fleet_exchanges()["Heartbeat"].answered >= 25)
        assert fleet.progress.connected == 25
        assert len(csms.central.charge_points) == 25
        # The fleet reads trio's system clock itself (Fleet._system_now): the same time as trio's.
        before, fleet_now, after = trio.current_time(), fleet._now(), trio.current_time()
        assert before <= fleet_now <= after
        nursery.cancel_scope.cancel()
    exchanges = recorder.fleet_exchanges()
    assert exchanges["BootNotification"].answered == 25
    # After the boot, a StatusNotification for connector 0 and each connector.
    connectors = sum(len(PROFILES[pid].hardware.connectors) + 1 for _, pid in station_ids(
        RunSpec(fleet=shares(sorted(PROFILES), 25), duration_s=0)))
    assert exchanges["StatusNotification"].answered == connectors
    assert not any(s.errors or s.timeouts for s in exchanges.values())


async def test_ramp_starts_stations_at_the_given_rate(autojump_clock: trio.abc.Clock) -> None:
    # Virtual time: the ramp is a schedule, so it can be checked exactly.
    recorder = Recorder()
    async with trio.open_nursery() as nursery:
        csms = await nursery.start(serve_csms, CsmsConfig())
        fleet = make_fleet(csms, 10, recorder)
        start = trio.current_time()
        nursery.start_soon(fleet.run, 5.0)
        await trio.sleep(0.5)
        assert fleet.progress.started == 3  # t = 0, 0.2, 0.4
        await trio.sleep(1.5)
        assert fleet.progress.started == 10
        assert trio.current_time() - start == pytest.approx(2.0)
        nursery.cancel_scope.cancel()


async def test_stations_reconnect_when_the_csms_drops_them() -> None:
    recorder = Recorder()
    config = CsmsConfig(heartbeat_interval_s=1, faults=Faults(drop_after_messages=6))
    async with trio.open_nursery() as nursery:
        csms = await nursery.start(serve_csms, config)
        fleet = make_fleet(csms, 5, recorder)
        nursery.start_soon(fleet.run, 0.0)
        await wait_for(lambda: fleet.progress.disconnects >= 5 and fleet.progress.connected == 5, timeout_s=15)
        nursery.cancel_scope.cancel()
    counters = recorder.counters()
    assert counters["connect.ok"] >= 10  # everyone came back at least once
    # A station never boots again after a mere reconnect: BootNotification is
    # for power-up and reboot (OCPP 1.6 §4.2).
    assert counters["boot.Accepted"] == 5


async def test_a_csms_that_is_not_there_counts_failures_and_keeps_trying() -> None:
    recorder = Recorder()
    with trio.socket.socket() as probe:  # a free port with nobody listening
        await probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    spec = RunSpec(fleet=shares(["bionever-bss011k-v1000"], 2), duration_s=0, reaction_delays=False, sessions=None)
    stations = build_stations(spec, PROFILES, recorder, Timebase(trio.current_time(), datetime.now(UTC)))
    options = ConnectOptions(Target.parse(f"ws://127.0.0.1:{port}"), reconnect=Backoff(base_s=0.02, cap_s=0.05))
    fleet = Fleet(stations, options, recorder, random.Random(1))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(fleet.run, 0.0)
        await wait_for(lambda: fleet.progress.connect_failures >= 6)
        nursery.cancel_scope.cancel()
    assert recorder.counters()["connect.failed.refused"] >= 6


async def test_run_ends_transactions_cleanly_and_reports_every_exchange() -> None:
    spec = RunSpec(fleet=shares(["wenzhou-bsec-22k-a-2-ccs2-400s", "bescore-bsc-s12bcc"], 10), duration_s=3.0,
                   ramp_per_s=0, speed=60.0, reaction_delays=False,
                   sessions=SimpleSessions(mean_idle_s=30.0, mean_connected_s=600.0))
    recorder = Recorder()
    with trio.fail_after(20):
        outcome = await run(spec, PROFILES, recorder)
    assert outcome.stations == 10 and outcome.embedded_csms
    exchanges = recorder.fleet_exchanges()
    starts, stops = exchanges["StartTransaction"].answered, exchanges["StopTransaction"].answered
    assert starts > 0
    assert stops == starts  # every transaction was ended and its StopTransaction delivered
    assert exchanges["MeterValues"].answered > 0


async def test_websocket_pings_go_out_at_the_certified_interval() -> None:
    # bescore: WebSocketPingInterval 120 s (ORS-11); at 100x a ping every 1.2 s.
    recorder = Recorder()
    spec = RunSpec(fleet=shares(["bescore-bsc-s12bcc"], 2), duration_s=0, speed=100.0, reaction_delays=False,
                   sessions=None)
    async with trio.open_nursery() as nursery:
        csms = await nursery.start(serve_csms, CsmsConfig())
        stations = build_stations(spec, PROFILES, recorder, Timebase(trio.current_time(), datetime.now(UTC), 100.0))
        fleet = Fleet(stations, ConnectOptions(Target.parse(csms.url)), recorder, random.Random(1))
        nursery.start_soon(fleet.run, 0.0)
        await wait_for(lambda: recorder.counters()["websocket.ping"] >= 4, timeout_s=10)
        assert fleet.progress.connected == 2 and fleet.progress.disconnects == 0
        nursery.cancel_scope.cancel()


async def test_stations_spread_over_several_source_addresses() -> None:
    # Each source address has its own ~28,000 ephemeral ports towards one CSMS.
    recorder = Recorder()
    spec = RunSpec(fleet=shares(["bionever-bss011k-v1000"], 4), duration_s=0, reaction_delays=False, sessions=None)
    async with trio.open_nursery() as nursery:
        csms = await nursery.start(serve_csms, CsmsConfig())
        stations = build_stations(spec, PROFILES, recorder, Timebase(trio.current_time(), datetime.now(UTC)))
        options = ConnectOptions(Target.parse(csms.url), source_addresses=("127.0.0.2", "127.0.0.3"))
        fleet = Fleet(stations, options, recorder, random.Random(1))
        nursery.start_soon(fleet.run, 0.0)
        await wait_for(lambda: fleet.progress.connected == 4)
        sources = sorted(runner.link.sock.getsockname()[0] for runner in fleet.runners if runner.link is not None)
        nursery.cancel_scope.cancel()
    assert sources == ["127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.3"]


async def test_a_close_from_the_csms_is_counted_as_such_and_the_station_reconnects() -> None:
    recorder = Recorder()
    closed = 0

    async def accept_boot_then_close(request: trio_websocket.WebSocketRequest) -> None:
        nonlocal closed
        socket = await request.accept(subprotocol="ocpp1.6")
        if closed == 0:  # the first connection boots; a reconnect is no reboot
            frame = await socket.get_message()
            unique_id = frame.split('"')[1]
            await socket.send_message(f'[3,"{unique_id}",{{"status":"Accepted",'
                                      '"currentTime":"2026-01-01T00:00:00Z","interval":300}]')
        closed += 1
        await socket.aclose(code=1001, reason="going away")

    async with trio.open_nursery() as nursery:
        server = await nursery.start(trio_websocket.serve_websocket, accept_boot_then_close, "127.0.0.1", 0, None)
        spec = RunSpec(fleet=shares(["bionever-bss011k-v1000"], 1), duration_s=0, reaction_delays=False, sessions=None)
        stations = build_stations(spec, PROFILES, recorder, Timebase(trio.current_time(), datetime.now(UTC)))
        options = ConnectOptions(Target.parse(f"ws://127.0.0.1:{server.port}/ocpp"),
                                 reconnect=Backoff(base_s=0.05))
        fleet = Fleet(stations, options, recorder, random.Random(1))
        nursery.start_soon(fleet.run, 0.0)
        await wait_for(lambda: closed >= 2)
        nursery.cancel_scope.cancel()
    counters = recorder.counters()
    assert counters["disconnect.closed_by_csms"] >= 1
    assert not any(name.startswith("disconnect.") and name != "disconnect.closed_by_csms" for name in counters)
