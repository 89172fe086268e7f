"""WebSocketPingInterval (OCPP 1.6 §9.1): the station asks its link for a
WebSocket ping at the interval its model is configured with; 0 means none."""

from __future__ import annotations

from harness import Bench

from fleetsim.ocpp.payloads.core import ChangeConfigurationReq
from fleetsim.profiles.builtin import load_builtin
from fleetsim.station.build import build_model

PROFILES = load_builtin()


def test_a_ping_falls_due_every_web_socket_ping_interval() -> None:
    # bescore certifies ORS-11 WebSocketPingInterval 120.
    bench = Bench(build_model(PROFILES["bescore-bsc-s12bcc"]))
    bench.connect()
    pings = []
    for _ in range(3):
        bench.run_until(bench.station.ping_due_s)
        assert bench.station.want_ping
        bench.station.on_ping_sent(bench.now_s)  # the engine sends it
        pings.append(bench.now_s)
    assert pings == [120.0, 240.0, 360.0]


def test_interval_zero_means_no_ping_and_a_change_takes_effect() -> None:
    # evsis certifies ORS-11 WebSocketPingInterval 0.
    bench = Bench(build_model(PROFILES["evsis-jc-9932-100-cu07"]))
    bench.connect()
    bench.run_for(3600)
    assert bench.station.ping_due_s == float("inf") and not bench.station.want_ping

    uid = bench.send_call(ChangeConfigurationReq(key="WebSocketPingInterval", value="30"))
    bench.run_for(1)
    assert str(bench.reply(uid).status) == "Accepted"
    bench.run_for(30)
    assert bench.station.want_ping


def test_no_ping_is_due_while_disconnected() -> None:
    bench = Bench(build_model(PROFILES["bescore-bsc-s12bcc"]))
    bench.connect()
    bench.disconnect()
    assert bench.station.ping_due_s == float("inf")


def test_one_ping_is_asked_for_at_a_time_and_the_next_counts_from_its_send() -> None:
    # On a busy link the engine holds a ping until it has read what arrived
    # first (tests/engine/test_reactor.py).  Meanwhile the station asks for
    # no other: its ping timer is off until the engine says the ping went
    # out, and the next falls due an interval after that.
    bench = Bench(build_model(PROFILES["bescore-bsc-s12bcc"]))  # WebSocketPingInterval 120
    bench.connect()
    bench.run_until(120.0)
    assert bench.station.want_ping and bench.station.ping_due_s == float("inf")
    bench.run_for(500)  # held: no timer fires for it
    assert bench.station.want_ping and bench.station.ping_due_s == float("inf")
    bench.station.on_ping_sent(bench.now_s)
    assert not bench.station.want_ping
    assert bench.station.ping_due_s == bench.now_s + 120 and bench.station.wake_at_s <= bench.now_s + 120


def test_a_changed_interval_holds_from_the_change_and_for_every_ping_after() -> None:
    # The station keeps the interval it read until the configuration changes.
    bench = Bench(build_model(PROFILES["bescore-bsc-s12bcc"]))  # 120 s
    bench.connect()
    bench.run_until(bench.station.ping_due_s)
    bench.station.on_ping_sent(bench.now_s)
    assert bench.station.ping_due_s == bench.now_s + 120
    asked_s = bench.now_s
    uid = bench.send_call(ChangeConfigurationReq(key="WebSocketPingInterval", value="45"))
    bench.run_for(1)  # the change is handled within the second
    assert str(bench.reply(uid).status) == "Accepted"
    pings = []
    for _ in range(2):
        bench.run_until(bench.station.ping_due_s)
        bench.station.on_ping_sent(bench.now_s)
        pings.append(bench.now_s)
    assert asked_s + 45 <= pings[0] <= asked_s + 46  # 45 s from the change, not 120 from the last ping
    assert pings[1] - pings[0] == 45.0
