"""The fleet's reactor: one task for every socket and timer, woken by a
timerfd without an exception, and answers timed from their arrival at the
host (the kernel's stamp), not from when a busy loop got to them."""

from __future__ import annotations

import contextlib
import heapq
import json
import math
import os
import random
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime

import pytest
import trio
from under_test import UNDER_TEST

from fleetsim.engine import framing
from fleetsim.engine.fleet import ConnectOptions, Fleet
from fleetsim.engine.link import Link, Target
from fleetsim.engine.reactor import MAX_READY, Reactor
from fleetsim.engine.run import RunSpec, build_stations, shares
from fleetsim.metrics.recorder import Recorder
from fleetsim.profiles.builtin import load_builtin
from fleetsim.station.timebase import Timebase

PROFILES = load_builtin()


def tcp_pair() -> tuple[socket.socket, socket.socket]:
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    server, _ = listener.accept()
    listener.close()
    client.setblocking(False)
    return client, server


def test_a_read_carries_the_kernels_arrival_time_however_late_it_is_read() -> None:
    ours, theirs = tcp_pair()
    link = Link(ours, b"", 1 << 20, client=True)
    time.sleep(0.05)  # the kernel turns stamping on a moment after a socket asks (a deferred static key)
    sent_at = time.time()
    theirs.sendall(framing.encode_frame(framing.OP_TEXT, b'[3,"1",{}]', masked=False))
    time.sleep(0.2)  # the loop was busy
    events = link.read()
    assert events == [framing.Message(b'[3,"1",{}]')]
    assert abs(link.received_at - sent_at) < 0.05  # not the read's time, 200 ms later
    link.close()
    theirs.close()


async def test_the_timer_wakes_the_reactor_at_its_deadline_and_a_socket_before_it() -> None:
    reactor = Reactor()
    assert reactor.precise  # trio's system clock: a timerfd
    start = trio.current_time()
    reactor.arm(start + 0.05)
    await reactor.wait()
    woke = trio.current_time() - start
    assert 0.049 <= woke < 0.5
    assert reactor.ready() != []  # the timer's own descriptor: the owner ignores it
    ours, theirs = tcp_pair()
    reactor.register(ours.fileno())
    reactor.arm(trio.current_time() + 10.0)  # re-arming clears the fired timer
    start = trio.current_time()
    theirs.sendall(b"x")
    await reactor.wait()
    assert trio.current_time() - start < 1.0
    assert [fd for fd, _ in reactor.ready()] == [ours.fileno()]
    reactor.unregister(ours.fileno())
    reactor.close()
    ours.close()
    theirs.close()


class ThreadCsms:
    """A CSMS in a thread of its own: it answers every CALL at once, however
    busy the fleet's trio loop is."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        with contextlib.suppress(Exception):  # the fleet went away: the thread ends
            sock, _ = self.listener.accept()
            buffer = b""
            while (parsed := framing.split_head(buffer)) is None:
                buffer += sock.recv(4096)
            assert not isinstance(parsed, str)
            head, _ = parsed
            request = framing.read_upgrade_request(head)
            assert not isinstance(request, str)
            sock.sendall(framing.server_accept(request.key, "ocpp1.6"))
            parser = framing.FrameParser(expect_masked=True, max_message_bytes=1 << 20)
            while data := sock.recv(65536):
                for event in parser.feed(data):
                    if type(event) is framing.Message:
                        _, unique_id, action, _ = json.loads(event.data)
                        payload: dict[str, object] = {}
                        if action == "BootNotification":
                            payload = {"status": "Accepted", "currentTime": "2026-01-01T00:00:00Z", "interval": 1}
                        elif action == "Heartbeat":
                            payload = {"currentTime": "2026-01-01T00:00:00Z"}
                        answer = json.dumps([3, unique_id, payload]).encode()
                        sock.sendall(framing.encode_frame(framing.OP_TEXT, answer, masked=False))
                    elif type(event) is framing.Ping:
                        sock.sendall(framing.encode_frame(framing.OP_PONG, event.data, masked=False))

    def close(self) -> None:
        self.listener.close()


# A fleet of one station, its timer at a microsecond whose float deadline
# (micros / 1e6) times 1e6 falls short of it (249, 251, 489, ...), under
# trio's MockClock: the clock lands exactly on the deadline armed.  "75+":
# the station's heartbeat falls due a float's hair after 75 / 1e6, which is
# still microsecond 75 (nextafter(75e-6) * 1e6 == 75.0).
_TIMER_UNDER_MOCK_CLOCK = """
import math, random, sys
from datetime import UTC, datetime
import trio, trio.testing
from fleetsim.engine.fleet import ON, ConnectOptions, Fleet
from fleetsim.engine.link import Target
from fleetsim.engine.reactor import Reactor
from fleetsim.engine.run import RunSpec, build_stations, shares
from fleetsim.metrics.recorder import Recorder
from fleetsim.profiles.builtin import load_builtin
from fleetsim.station.timebase import Timebase

async def fired(case):
    recorder = Recorder()
    spec = RunSpec(fleet=shares(["bionever-bss011k-v1000"], 1), duration_s=0, reaction_delays=False, sessions=None)
    stations = build_stations(spec, load_builtin(), recorder, Timebase(0.0, datetime.now(UTC)))
    fleet = Fleet(stations, ConnectOptions(Target.parse("ws://127.0.0.1:9")), recorder, random.Random(1))
    fleet._reactor = Reactor()
    runner = fleet.runners[0]
    runner.state, runner.started_s = ON, 0.0
    wake_s = int(case.rstrip("+")) / 1e6
    if case.endswith("+"):
        wake_s = runner.station.heartbeat_due_s = math.nextafter(wake_s, math.inf)
    runner.station.wake_at_s = wake_s
    fleet.after(runner)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(fleet._serve)
        await trio.sleep(wake_s + 1.0)
        nursery.cancel_scope.cancel()
    return fleet.timer_lag.get_total_count()

for case in sys.argv[1:]:
    print(case, trio.run(fired, case, clock=trio.testing.MockClock(autojump_threshold=0)), flush=True)
"""


def test_a_timer_fires_under_a_clock_that_lands_exactly_on_its_deadline() -> None:
    # The deadline armed was micros / 1e6, and a timer fires once micros <=
    # now * 1e6: for about 1.5 % of microseconds the clock reached the
    # deadline without the timer being due, and the loop spun for ever.  And
    # a timer due by its microsecond fired before the station's own float
    # wake-up, which found nothing due, asked for the same again, and spun.
    # (A child process: a spinning loop never lets the mock clock move.)
    cases = ["249", "251", "489", "4112587296", "250", "75+", "300+"]
    assert all(int(m) / 1e6 * 1e6 < int(m) for m in cases[:4])  # the deadlines that fell short
    assert all(math.nextafter(int(m[:-1]) / 1e6, math.inf) * 1e6 == int(m[:-1]) for m in cases[5:])
    child = subprocess.run([sys.executable, "-c", _TIMER_UNDER_MOCK_CLOCK, *cases], capture_output=True, text=True,
                           timeout=60, env={**os.environ, "PYTHONPATH": str(UNDER_TEST)}, check=False)
    assert child.returncode == 0, child.stderr[-2000:]
    assert child.stdout.split() == [part for case in cases for part in (case, "1")]  # each fired, once


@pytest.mark.patches_hot_path
@pytest.mark.parametrize("gather_ms", [0.0, 5.0])
async def test_an_answer_is_timed_from_its_arrival_while_the_loop_is_held(
        gather_ms: float, monkeypatch: pytest.MonkeyPatch) -> None:
    # The fleet's loop is held 300 ms right after each heartbeat goes out (as a
    # long pass or a collection would); the CSMS answers at once from another
    # thread.  The answer waits in the kernel, stamped on arrival: its latency
    # is the CSMS's few milliseconds, not the 300 ms the loop was away.
    held = []
    send_text = Link.send_text

    def send_then_hold(link: Link, data: bytes) -> bool:
        flusher = send_text(link, data)
        if b'"Heartbeat"' in data and len(held) < 3:
            held.append(data)
            time.sleep(0.3)
        return flusher

    monkeypatch.setattr(Link, "send_text", send_then_hold)
    csms = ThreadCsms()
    recorder = Recorder()
    profile_id = sorted(PROFILES)[0]
    spec = RunSpec(fleet=shares([profile_id], 1), duration_s=0, reaction_delays=False, sessions=None)
    timebase = Timebase(trio.current_time(), datetime.now(UTC), 1.0)
    stations = build_stations(spec, PROFILES, recorder, timebase)
    stations[0].config.set("ClockAlignedDataInterval", "0")
    options = ConnectOptions(Target.parse(f"ws://127.0.0.1:{csms.port}/ocpp"), gather_s=gather_ms / 1000)
    fleet = Fleet(stations, options, recorder, random.Random(1))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(fleet.run, 0.0)
        with trio.fail_after(20):
            while len(held) < 3 or stations[0].queue.in_flight is not None:
                await trio.sleep(0.05)
        nursery.cancel_scope.cancel()
    csms.close()
    heartbeats = next(m for m in recorder.models.values()).exchanges["Heartbeat"]
    assert heartbeats.answered >= 3
    # Each of the three held heartbeats would read >= 300 ms from the loop's clock.
    recorder.fold()
    assert heartbeats.service.get_total_count() >= 3
    assert heartbeats.service.get_max_value() < 100_000, heartbeats.service.get_max_value()


@pytest.mark.patches_hot_path
async def test_a_ping_waits_for_the_answer_that_arrived_before_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # A heartbeat goes out and the loop is away 100 ms: its answer arrives and
    # waits in the kernel.  Then a ping falls due in a pass whose socket phase
    # does not reach this socket (on a busy fleet: the pass's budget ran out,
    # or more sockets were ready than one poll returns).  A read returns the
    # kernel's stamp of the last bytes it takes: had the ping gone out first,
    # the pong would land behind the answer and lend it its arrival time, so
    # the heartbeat would read 100 ms.  The ping waits for the read instead.
    held: list[bytes] = []
    passes_blind: list[bool] = []
    send_text, ready = Link.send_text, Reactor.ready

    def send_then_hold(link: Link, data: bytes) -> bool:
        flusher = send_text(link, data)
        if b'"Heartbeat"' in data and len(held) < 3:
            held.append(data)
            time.sleep(0.1)
            stations[0].ping_due_s = stations[0].wake_at_s = trio.current_time()
            passes_blind.append(True)
        return flusher

    def blind_once(reactor: Reactor) -> list[tuple[int, int]]:
        return [] if passes_blind and passes_blind.pop() else ready(reactor)

    monkeypatch.setattr(Link, "send_text", send_then_hold)
    monkeypatch.setattr(Reactor, "ready", blind_once)
    csms = ThreadCsms()
    recorder = Recorder()
    spec = RunSpec(fleet=shares([sorted(PROFILES)[0]], 1), duration_s=0, reaction_delays=False, sessions=None)
    stations = build_stations(spec, PROFILES, recorder, Timebase(trio.current_time(), datetime.now(UTC), 1.0))
    stations[0].config.set("ClockAlignedDataInterval", "0")
    fleet = Fleet(stations, ConnectOptions(Target.parse(f"ws://127.0.0.1:{csms.port}/ocpp")), recorder,
                  random.Random(1))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(fleet.run, 0.0)
        with trio.fail_after(20):
            while len(held) < 3 or stations[0].queue.in_flight is not None or stations[0].want_ping:
                await trio.sleep(0.05)
        nursery.cancel_scope.cancel()
    csms.close()
    assert recorder.counters()["websocket.ping"] >= 3  # every ping went out, after the read
    heartbeats = next(m for m in recorder.models.values()).exchanges["Heartbeat"]
    recorder.fold()
    assert heartbeats.service.get_total_count() >= 3
    assert heartbeats.service.get_max_value() < 50_000, heartbeats.service.get_max_value()


@pytest.mark.patches_hot_path
async def test_a_ping_waits_for_one_read_only(monkeypatch: pytest.MonkeyPatch) -> None:
    # On a busy link something has always arrived unread by the time a ping
    # falls due: the ping waits for one read, then goes, as often as the
    # station's WebSocketPingInterval asks.
    monkeypatch.setattr(Link, "bytes_waiting", lambda link: True)
    csms = ThreadCsms()
    recorder = Recorder()
    spec = RunSpec(fleet=shares([sorted(PROFILES)[0]], 1), duration_s=0, reaction_delays=False, sessions=None)
    stations = build_stations(spec, PROFILES, recorder, Timebase(trio.current_time(), datetime.now(UTC), 1.0))
    stations[0].config.set("ClockAlignedDataInterval", "0")
    stations[0].config.set("WebSocketPingInterval", "1")
    fleet = Fleet(stations, ConnectOptions(Target.parse(f"ws://127.0.0.1:{csms.port}/ocpp")), recorder,
                  random.Random(1))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(fleet.run, 0.0)
        await trio.sleep(3.5)
        nursery.cancel_scope.cancel()
    csms.close()
    assert recorder.counters()["websocket.ping"] >= 3


def test_the_timer_heap_drops_superseded_entries_and_keeps_every_live_one() -> None:
    # A station whose wake-up moves earlier leaves its later entry behind (a
    # CALL's response timeout, then its answer): at 20,000 calls a second
    # those piled up to five times the fleet.  The heap now drops them once
    # it has doubled, and the next wake-up of every station is still in it.
    recorder = Recorder()
    spec = RunSpec(fleet=shares(["bionever-bss011k-v1000"], 50), duration_s=0, reaction_delays=False, sessions=None)
    stations = build_stations(spec, PROFILES, recorder, Timebase(0.0, datetime.now(UTC)))
    fleet = Fleet(stations, ConnectOptions(Target.parse("ws://127.0.0.1:9")), recorder, random.Random(1))
    rng = random.Random(2)
    wake = {id(runner): 1000.0 for runner in fleet.runners}
    longest = 0
    for _ in range(20_000):
        runner = rng.choice(fleet.runners)
        if rng.random() < 0.5 or runner.scheduled_s == float("inf"):
            runner.unschedule()  # its entry fired: any wake-up is new
            wake[id(runner)] = rng.uniform(100.0, 1000.0)
        else:
            wake[id(runner)] = runner.scheduled_s - rng.uniform(0.0, 1.0)  # earlier: the old entry is superseded
        runner.station.wake_at_s = wake[id(runner)]
        fleet.after(runner)
        longest = max(longest, len(fleet._heap))
    assert longest <= 4097  # without compaction: 20,000
    entries = {(key >> fleet._index_bits, key & fleet._index_mask) for key in fleet._heap}
    for runner in fleet.runners:
        assert runner.scheduled_s == wake[id(runner)]
        assert (math.ceil(runner.scheduled_s * 1e6), runner.index) in entries  # its microsecond, rounded up
    fired = []
    while fleet._heap:
        key = heapq.heappop(fleet._heap)
        runner = fleet.runners[key & fleet._index_mask]
        if key == runner.key:
            fired.append(runner.scheduled_s)
            runner.unschedule()
    assert len(fired) == len(fleet.runners) and fired == sorted(fired)


@pytest.mark.patches_hot_path
def test_a_pass_serves_what_the_last_poll_left_unread_before_polling_again() -> None:
    # A saturated pass reads a few dozen of the sockets a poll returns before
    # its budget runs out.  Polling again each pass cost per descriptor
    # returned; the rest is served first, in order, and once the last of it
    # has been, the next pass polls at once rather than wait out the
    # gathering with sockets ready.
    recorder = Recorder()
    spec = RunSpec(fleet=shares(["bionever-bss011k-v1000"], 300), duration_s=0, reaction_delays=False, sessions=None)
    stations = build_stations(spec, PROFILES, recorder, Timebase(0.0, datetime.now(UTC)))
    fleet = Fleet(stations, ConnectOptions(Target.parse("ws://127.0.0.1:9")), recorder, random.Random(1))
    fleet._by_fd = {100 + runner.index: runner for runner in fleet.runners}
    now = [0.0]
    fleet._now = lambda: now[0]
    reads: list[int] = []

    def read(runner: object) -> None:
        reads.append(runner.index)  # type: ignore[attr-defined]
        now[0] += 0.0001  # 20 reads fill a pass's budget (PASS_BUDGET_S, 2 ms)

    fleet._read = read  # type: ignore[method-assign]

    class Ready:
        polls = 0

        def ready(self) -> list[tuple[int, int]]:
            self.polls += 1
            return [(fd, 1) for fd in sorted(fleet._by_fd)][:MAX_READY]

    reactor = Ready()
    passes = []
    while len(reads) < MAX_READY:
        passes.append(fleet._pass(reactor))  # type: ignore[arg-type]
    assert reactor.polls == 1
    assert reads == list(range(MAX_READY))  # each once, in the poll's order
    assert all(more for more, _ in passes)  # the last of them too: the next pass polls
    fleet._pass(reactor)  # type: ignore[arg-type]
    assert reactor.polls == 2
