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

import base64
import contextlib
import gc
import random
from collections.abc import Awaitable, Callable, Iterator
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
from fleetsim.station.backoff import Backoff
from fleetsim.station.timebase import Timebase
from hostile_ocpp import dumps
from hostile_peer import (
    HOSTILE,
    TALLY,
    LoopWatch,
    Request,
    Wire,
    accept_upgrade,
    read_response,
    rss_mb,
    rss_peak_reset,
    serve_hostile_csms,
    switching_protocols,
    upgrade_request,
)
from hostile_probe import PROBE_PERIOD_S, HookProbe

PROFILES = load_builtin()
HOSTILE_MODEL = "evsis-jc-9932-100-cu07"  # every feature profile: the most actions to answer
PROBE_MODEL = "bionever-bss011k-v1000"  # Core only; its own figures in the recorder

def check_answered(samples: int, window_s: float) -> None:
    """A probe that stopped being answered has no samples to be slow in: about
    one answer per period is due (a third of them is asked, for a loaded
    machine; windows under 0.2 s are too short to judge)."""
    due = window_s / PROBE_PERIOD_S
    assert window_s < 0.2 or samples >= due / 3, f"the probe got {samples} answers in {window_s:.2f} s, {due:.0f} due"


class Outcome:
    """What one run saw: the scripts' results and the measurements."""

    def __init__(self, probe_call: Callable[[str], bytes], *, probe_client: bool) -> None:
        self.watch = LoopWatch()
        self.probe = HookProbe(probe_call, client=probe_client)
        self.results: list[Any] = []
        self.escaped: BaseException | None = None  # what brought the fleet or the CSMS down
        self.hung = False
        self.window_s = 0.0
        self.recorder = Recorder()
        self.csms: RunningCsms | None = None
        self.fleet: Fleet | None = None
        self.rss_start_mb = 0.0
        self.rss_peak_mb = 0.0
        self.armed = trio.Event()  # the window is open: hostile traffic may start

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
        TALLY.probe_samples += len(self.probe.latencies_s)
        assert self.probe.disconnects == 0, "the probe lost its connection"
        check_answered(len(self.probe.latencies_s), self.window_s)


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
            await stream.send_all(switching_protocols(request))
            self.outcome.probe.attach(stream.socket, request.leftover)
            await self.outcome.probe.keep_awake()
        elif self.started < self.stations:
            self.started += 1
            result = None
            try:
                await self.outcome.armed.wait()  # nothing hostile before the measurements start
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


def build_fleet(port: int, stations: int, recorder: Recorder, **options: Any) -> Fleet:
    """The hostile stations and the probe station; ``options`` of ConnectOptions override."""
    spec = RunSpec(fleet=(FleetShare(HOSTILE_MODEL, stations, id_pattern="HOSTILE-{n}"),
                          FleetShare(PROBE_MODEL, 1, id_pattern="PROBE-{n}")),
                   duration_s=0, reaction_delays=False, sessions=None)
    timebase = Timebase(trio.current_time(), datetime.now(UTC))
    settings = {"reconnect": Backoff(base_s=0.05, cap_s=0.2), "connect_timeout_s": 2.0, **options}
    connect = ConnectOptions(Target.parse(f"ws://127.0.0.1:{port}/ocpp"), **settings)
    return Fleet(build_stations(spec, PROFILES, recorder, timebase), connect, recorder, random.Random(1))


def against_fleet(script: StationScript, *, stations: int = 1, deadline_s: float = 10.0, settle_s: float = 0.02,
                  rcvbuf: int | None = None, **options: Any) -> Outcome:
    """Run ``script`` for ``stations`` hostile stations of one fleet (the
    first connection of each), beside the probe; return what was seen.
    ``options``: ConnectOptions of the fleet's."""
    outcome = Outcome(lambda uid: dumps([2, uid, "GetConfiguration", {"key": ["HeartbeatInterval"]}]),
                      probe_client=False)
    rig = FleetRig(script, stations, outcome)

    async def hostile_main() -> None:
        async with trio.open_nursery() as nursery:
            port = await nursery.start(serve_hostile_csms, rig.route, rcvbuf, name=f"{HOSTILE}csms")
            outcome.fleet = fleet = build_fleet(port, stations, outcome.recorder, **options)
            nursery.start_soon(_run_fleet, fleet, outcome, rig.done, name="fleet under test")
            await _watch_window(outcome, rig.done, deadline_s, settle_s)
            nursery.cancel_scope.cancel()

    gc.callbacks.append(outcome.watch.on_gc)
    try:
        with _heap_frozen():
            trio.run(hostile_main, instruments=[outcome.watch, outcome.probe])
    finally:
        gc.callbacks.remove(outcome.watch.on_gc)
        outcome.probe.close()
    TALLY.cases += 1
    return outcome


@contextlib.contextmanager
def _heap_frozen() -> Iterator[None]:
    """As a run freezes its heap (fleetsim.engine.fleet.managed_gc): the heap
    there is now, here the test process's own (thousands of tests' objects),
    kept out of the collector's walks.  A full collection of it during a
    window paused the probe 20-50 ms in a whole suite's run.  No collection
    first: one per case, of that heap, would cost as much (and the probe,
    once running, would time it); freezing and unfreezing move lists only."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


async def _run_fleet(fleet: Fleet, outcome: Outcome, done: trio.Event) -> None:
    try:
        await fleet.run(0.0, freeze_gc_after_ramp=False)
    except BaseException as error:  # RecursionError and the like: the finding
        _escaped(error, outcome, done)


async def _watch_window(outcome: Outcome, done: trio.Event, deadline_s: float, settle_s: float) -> None:
    with trio.move_on_after(deadline_s) as scope:
        while not outcome.probe.booted:
            await trio.sleep(0.001)
        rss_peak_reset()
        outcome.rss_start_mb = rss_mb()
        outcome.watch.armed = outcome.probe.armed = True
        outcome.armed.set()
        start_s = trio.current_time()
        await done.wait()
        await trio.sleep(settle_s)  # the probe goes on a moment after the hostile side is done
        outcome.window_s = trio.current_time() - start_s
    outcome.watch.armed = outcome.probe.armed = False
    outcome.rss_peak_mb = rss_mb("VmHWM")
    TALLY.peak_rss_growth_mb = max(TALLY.peak_rss_growth_mb, outcome.rss_growth_mb)
    outcome.hung = scope.cancelled_caught


# ---------------------------------------------------------------- the CSMS under test

CsmsScript = Callable[[RunningCsms, int], Awaitable[Any]]


def against_csms(script: CsmsScript, *, charge_points: int = 1, config: CsmsConfig | None = None,
                 deadline_s: float = 10.0, settle_s: float = 0.02, probe_password: str | None = None) -> Outcome:
    """Run ``script(csms, n)`` for n in range(charge_points), each a hostile
    charge point opening its own connections, beside the probe."""
    outcome = Outcome(lambda uid: dumps([2, uid, "Heartbeat", {}]), probe_client=True)
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

    gc.callbacks.append(outcome.watch.on_gc)
    try:
        with _heap_frozen():
            trio.run(hostile_main, instruments=[outcome.watch, outcome.probe])
    finally:
        gc.callbacks.remove(outcome.watch.on_gc)
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
        await outcome.armed.wait()  # nothing hostile before the measurements start
        result = await script(outcome.csms, n)
    finally:
        outcome.results.append(result)
        if len(outcome.results) >= total:
            done.set()


async def _csms_probe(outcome: Outcome, password: str | None) -> None:
    assert outcome.csms is not None
    stream = await trio.open_tcp_stream("127.0.0.1", outcome.csms.port)
    extra = ""
    if password is not None:
        extra = f"Authorization: Basic {base64.b64encode(f'PROBE:{password}'.encode()).decode()}\r\n"
    await stream.send_all(upgrade_request(outcome.csms.port, "PROBE", extra=extra))
    status, leftover = await read_response(stream)
    assert status.startswith("HTTP/1.1 101"), f"the probe was refused: {status!r}"
    async with stream:
        outcome.probe.attach(stream.socket, leftover)
        await outcome.probe.keep_awake()
