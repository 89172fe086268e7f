"""The process under test and its probe, both directions, each case in its own
``trio.run`` with the loop watch installed.

* :func:`against_fleet`: a fleetsim :class:`~fleetsim.engine.fleet.Fleet` whose
  stations connect to a hostile CSMS in this process.  The hostile stations
  meet ``script``; one probe station (another model) meets a well-behaved CSMS
  that sends it a GetConfiguration every 5 ms, its latency measured from the
  intended send time (no coordinated omission).
* :func:`against_csms`: the embedded CSMS (``serve_csms``); hostile charge
  points run ``script``; one probe charge point sends a Heartbeat every 5 ms,
  measured the same way.
"""

from __future__ import annotations

import os
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import trio

from fleetsim.csms.config import CsmsConfig
from fleetsim.csms.server import RunningCsms, serve_csms
from fleetsim.engine.fleet import ConnectOptions, Fleet
from fleetsim.engine.link import Target
from fleetsim.engine.run import FleetShare, RunSpec, build_stations
from fleetsim.metrics.recorder import Recorder
from fleetsim.profiles.builtin import load_builtin
from fleetsim.station.timebase import Timebase
from hostile_ocpp import dumps
from hostile_peer import (
    HOSTILE,
    TALLY,
    LoopWatch,
    Request,
    Wire,
    accept_upgrade,
    open_hostile_cp,
    rss_mb,
    rss_peak_reset,
    serve_hostile_csms,
)

PROFILES = load_builtin()
HOSTILE_MODEL = "evsis-jc-9932-100-cu07"  # every feature profile: the most actions to answer
PROBE_MODEL = "bionever-bss011k-v1000"  # Core only; its own figures in the recorder
PROBE_PERIOD_S = 0.005


class RunDelay:
    """How long this thread has waited for a CPU while runnable (Linux
    schedstat, field 2): on a shared machine, the time other processes took."""

    def __init__(self) -> None:
        self._fd = os.open("/proc/thread-self/schedstat", os.O_RDONLY)

    def __call__(self) -> float:
        return int(os.pread(self._fd, 64, 0).split()[1]) / 1e9

    def close(self) -> None:
        os.close(self._fd)


class Probe:
    """Calls on a fixed schedule; each latency counts from the call's intended
    send time, so a stalled loop shows as the stall (HdrHistogram's
    correction for coordinated omission).

    ``latencies_s`` are net of the time the machine's other processes held
    the CPU meanwhile (:class:`RunDelay`, read once the call is sent and once
    it is answered: any wait for the CPU before the send stays in, so the net
    figure errs high); ``raw_latencies_s`` keep it."""

    def __init__(self, watch: LoopWatch) -> None:
        self.watch = watch
        self.latencies_s: list[float] = []
        self.raw_latencies_s: list[float] = []
        self.ready = trio.Event()
        self.disconnects = 0
        self._intended: dict[str, tuple[float, float]] = {}
        self._run_delay = RunDelay()
        self._answered = trio.Event()
        self._answered.set()

    async def run(self, wire: Wire, request: Callable[[str], bytes], answer_calls: bool) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._send, wire, request, name=f"{HOSTILE}probe-send")
            while (message := await wire.next_message()) is not None:
                if message[0] == 2 and answer_calls:
                    await wire.answer_call(message)
                elif message[0] in (3, 4) and message[1] in self._intended:
                    intended_s, delay_s = self._intended.pop(message[1])
                    if self.watch.armed:
                        raw_s = trio.current_time() - intended_s
                        self.raw_latencies_s.append(raw_s)
                        self.latencies_s.append(raw_s - (self._run_delay() - delay_s))
                    self._answered.set()
            nursery.cancel_scope.cancel()
        self.disconnects += 1

    async def _send(self, wire: Wire, request: Callable[[str], bytes]) -> None:
        start_s = trio.current_time()
        for n in range(1, 1 << 62):
            intended_s = start_s + n * PROBE_PERIOD_S
            await trio.sleep_until(intended_s)
            await self._answered.wait()  # OCPP-J 1.6 §4.1.1: one CALL in flight
            self._answered = trio.Event()
            uid = f"probe-{n}"
            self._intended[uid] = intended_s, self._run_delay()
            await wire.send_text(request(uid))

    def close(self) -> None:
        self._run_delay.close()

    def check(self, window_s: float) -> None:
        TALLY.probe_samples += len(self.latencies_s)
        assert self.disconnects == 0, "the probe lost its connection"
        check_answered(len(self.latencies_s), window_s)


def check_answered(samples: int, window_s: float) -> None:
    """A probe that stopped being answered has no samples to be slow in: about
    one answer per period is due (a third of them is asked, for a loaded
    machine; windows under 0.2 s are too short to judge)."""
    due = window_s / PROBE_PERIOD_S
    assert window_s < 0.2 or samples >= due / 3, f"the probe got {samples} answers in {window_s:.2f} s, {due:.0f} due"


class Outcome:
    """What one run saw: the scripts' results and the measurements."""

    def __init__(self) -> None:
        self.watch = LoopWatch()
        self.probe = Probe(self.watch)
        self.results: list[Any] = []
        self.escaped: BaseException | None = None  # what brought the fleet or the CSMS down
        self.hung = False
        self.window_s = 0.0
        self.recorder = Recorder()
        self.csms: RunningCsms | None = None
        self.fleet: Fleet | None = None
        self.rss_start_mb = 0.0
        self.rss_peak_mb = 0.0

    @property
    def rss_growth_mb(self) -> float:
        """How far the process's peak resident set rose above its size when
        the watch was armed (Linux VmHWM, reset then)."""
        return self.rss_peak_mb - self.rss_start_mb

    def check(self) -> None:
        """The invariants of every case: nothing escaped, nothing hung, the loop
        never blocked, the probe kept being answered."""
        assert self.escaped is None, f"an exception escaped the code under test: {self.escaped!r}"
        assert not self.hung, "the case did not finish in time (a hang)"
        self.watch.check()
        self.probe.check(self.window_s)


# ---------------------------------------------------------------- stations under test

StationScript = Callable[[trio.SocketStream, Request, "FleetRig"], Awaitable[Any]]


class FleetRig:
    def __init__(self, script: StationScript, stations: int, outcome: Outcome) -> None:
        self.script = script
        self.stations = stations
        self.outcome = outcome
        self.started = 0
        self.done = trio.Event()
        # Stations back after their hostile episode, answering a CALL again.
        self.recovered: list[str] = []
        self.recovery = trio.Event()

    async def route(self, stream: trio.SocketStream, request: Request) -> None:
        if request.charge_point_id.startswith("PROBE"):
            wire = await accept_upgrade(stream, request)
            boot = await wire.next_message()
            await wire.answer_call(boot)
            self.outcome.probe.ready.set()
            call = lambda uid: dumps([2, uid, "GetConfiguration", {"key": ["HeartbeatInterval"]}])  # noqa: E731
            await self.outcome.probe.run(wire, call, answer_calls=True)
        elif self.started < self.stations:
            self.started += 1
            result = None
            try:
                result = await self.script(stream, request, self)
            finally:
                self.outcome.results.append(result)
                if len(self.outcome.results) >= self.stations:
                    self.done.set()
        else:  # a station back after its hostile episode meets a well-behaved CSMS
            await self.well_behaved(await accept_upgrade(stream, request), request.charge_point_id)

    async def well_behaved(self, wire: Wire, charge_point_id: str) -> None:
        """Answer what the station asks, and ask it a CALL: at once (a booted
        station answers), and again after its BootNotification (one that was
        not booted answers nothing before, OCPP 1.6 §4.2.1)."""
        ask = lambda n: dumps([2, f"recovered-{n}", "GetConfiguration", {"key": ["HeartbeatInterval"]}])  # noqa: E731
        await wire.send_text(ask(0))
        boots = 0
        while (message := await wire.next_message()) is not None:
            if message[0] == 2:
                await wire.answer_call(message)
                if message[2] == "BootNotification":
                    boots += 1
                    await wire.send_text(ask(boots))
            elif message[0] == 3 and str(message[1]).startswith("recovered"):
                self.recovered.append(charge_point_id)
                self.recovery.set()


def build_fleet(port: int, stations: int, recorder: Recorder, *, max_message_bytes: int = 4 << 20) -> Fleet:
    spec = RunSpec(fleet=(FleetShare(HOSTILE_MODEL, stations, id_pattern="HOSTILE-{n}"),
                          FleetShare(PROBE_MODEL, 1, id_pattern="PROBE-{n}")),
                   duration_s=0, reaction_delays=False, sessions=None)
    timebase = Timebase(trio.current_time(), datetime.now(UTC))
    options = ConnectOptions(Target.parse(f"ws://127.0.0.1:{port}/ocpp"), backoff_initial_s=0.05,
                             backoff_max_s=0.2, connect_timeout_s=2.0, max_message_bytes=max_message_bytes)
    return Fleet(build_stations(spec, PROFILES, recorder, timebase), options, recorder, random.Random(1))


def against_fleet(script: StationScript, *, stations: int = 1, deadline_s: float = 10.0, settle_s: float = 0.02,
                  rcvbuf: int | None = None) -> Outcome:
    """Run ``script`` for ``stations`` hostile stations of one fleet (the
    first connection of each), beside the probe; return what was seen."""
    outcome = Outcome()
    rig = FleetRig(script, stations, outcome)

    async def hostile_main() -> None:
        async with trio.open_nursery() as nursery:
            port = await nursery.start(serve_hostile_csms, rig.route, rcvbuf, name=f"{HOSTILE}csms")
            outcome.fleet = fleet = build_fleet(port, stations, outcome.recorder)
            nursery.start_soon(_run_fleet, fleet, outcome, rig.done, name="fleet under test")
            await _watch_window(outcome, rig.done, deadline_s, settle_s)
            nursery.cancel_scope.cancel()

    try:
        trio.run(hostile_main, instruments=[outcome.watch])
    finally:
        outcome.probe.close()
    TALLY.cases += 1
    return outcome


async def _run_fleet(fleet: Fleet, outcome: Outcome, done: trio.Event) -> None:
    try:
        await fleet.run(0.0, freeze_gc_after_ramp=False)
    except BaseException as error:  # RecursionError and the like: the finding
        _escaped(error, outcome, done)


async def _watch_window(outcome: Outcome, done: trio.Event, deadline_s: float, settle_s: float) -> None:
    with trio.move_on_after(deadline_s) as scope:
        await outcome.probe.ready.wait()
        rss_peak_reset()
        outcome.rss_start_mb = rss_mb()
        outcome.watch.armed = True
        start_s = trio.current_time()
        await done.wait()
        await trio.sleep(settle_s)  # the probe goes on a moment after the hostile side is done
        outcome.window_s = trio.current_time() - start_s
    outcome.watch.armed = False
    outcome.rss_peak_mb = rss_mb("VmHWM")
    TALLY.peak_rss_growth_mb = max(TALLY.peak_rss_growth_mb, outcome.rss_growth_mb)
    outcome.hung = scope.cancelled_caught


# ---------------------------------------------------------------- the CSMS under test

CsmsScript = Callable[[RunningCsms, int], Awaitable[Any]]


def against_csms(script: CsmsScript, *, charge_points: int = 1, config: CsmsConfig | None = None,
                 deadline_s: float = 10.0, settle_s: float = 0.02, probe_password: str | None = None) -> Outcome:
    """Run ``script(csms, n)`` for n in range(charge_points), each a hostile
    charge point opening its own connections, beside the probe."""
    outcome = Outcome()
    done = trio.Event()

    async def hostile_main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_serve_csms, config or CsmsConfig(), outcome, done, name="csms under test")
            while outcome.csms is None and outcome.escaped is None:
                await trio.sleep(0.001)
            if outcome.csms is not None:
                nursery.start_soon(_csms_probe, outcome, probe_password, name=f"{HOSTILE}probe")
                for n in range(charge_points):
                    nursery.start_soon(_csms_script, script, outcome, n, charge_points, done, name=f"{HOSTILE}cp")
                await _watch_window(outcome, done, deadline_s, settle_s)
                stats = outcome.csms.stats
                if stats.internal_errors and outcome.escaped is None:
                    outcome.escaped = RuntimeError(f"the CSMS counted {stats.internal_errors} internal errors "
                                                   "(a traceback each in its log)")
            nursery.cancel_scope.cancel()

    try:
        trio.run(hostile_main, instruments=[outcome.watch])
    finally:
        outcome.probe.close()
    TALLY.cases += 1
    return outcome


async def _serve_csms(config: CsmsConfig, outcome: Outcome, done: trio.Event) -> None:
    try:
        async with trio.open_nursery() as inner:
            outcome.csms = await inner.start(serve_csms, config)
    except BaseException as error:
        _escaped(error, outcome, done)


def _escaped(error: BaseException, outcome: Outcome, done: trio.Event) -> None:
    """Keep what escaped the code under test; re-raise our own cancellation."""
    found = error.subgroup(lambda e: not isinstance(e, (trio.Cancelled, BaseExceptionGroup))) if isinstance(
        error, BaseExceptionGroup) else None if isinstance(error, trio.Cancelled) else error
    if found is None:
        raise error
    outcome.escaped = found
    done.set()


async def _csms_script(script: CsmsScript, outcome: Outcome, n: int, total: int, done: trio.Event) -> None:
    assert outcome.csms is not None
    result = None
    try:
        result = await script(outcome.csms, n)
    finally:
        outcome.results.append(result)
        if len(outcome.results) >= total:
            done.set()


async def _csms_probe(outcome: Outcome, password: str | None) -> None:
    assert outcome.csms is not None
    wire = await open_hostile_cp(outcome.csms.port, "PROBE", password)
    await wire.send_text(dumps([2, "boot", "BootNotification", {"chargePointVendor": "Probe",
                                                                "chargePointModel": "P"}]))
    await wire.next_message()
    outcome.probe.ready.set()
    await outcome.probe.run(wire, lambda uid: dumps([2, uid, "Heartbeat", {}]), answer_calls=True)
