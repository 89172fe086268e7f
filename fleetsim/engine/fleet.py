"""The fleet: thousands of stations in one trio process.

A connected station costs no task.  One task, the reactor
(:mod:`fleetsim.engine.reactor`), serves every station's socket and every
station's timers (heartbeats, meter samples, reaction delays, session events),
which live in **one heap for the whole fleet**: a trio wake-up costs tens of
microseconds, a heap pop well under one, and one wake-up serves everything that
is ready or due.  A task exists only while a station connects (or waits to
connect again), and while a CSMS that stopped reading holds its sends.

Sends are synchronous (see :mod:`fleetsim.engine.link`), so the reactor sends
for any station without a task switch.
"""

from __future__ import annotations

import gc
import heapq
import logging
import math
import random
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Final

import trio

from fleetsim.engine import framing
from fleetsim.engine.link import Link, LinkError, connect
from fleetsim.engine.options import ConnectOptions, Progress
from fleetsim.engine.reactor import MAX_READY, Reactor
from fleetsim.engine.source_ports import SourcePorts
from fleetsim.engine.watch import gc_unwatched
from fleetsim.metrics.intervals import Census
from fleetsim.metrics.recorder import Recorder, Recording
from fleetsim.metrics.summary import CONNECT
from fleetsim.ocpp.enums import Reason, RegistrationStatus
from fleetsim.station.backoff import WaitLog
from fleetsim.station.station import Station

INF = math.inf
# The clocks the hot path reads several times a call, bound once (compiled,
# a module's attribute is looked up on every read).
_perf_counter: Final = time.perf_counter
_wall_time: Final = time.time
NO_KEY = -1  # a runner with no live entry in the timer heap
# Messages of one read handled in one go before the other stations get a turn
# (8,000 tiny ones fit in a 16 KiB read: handled at once they held the loop 54 ms).
MESSAGES_PER_STEP = 64
# Timers run in one pass of the reactor before sockets get their turn again (a
# clock-aligned burst of 19,000 meter samples would otherwise hold the loop).
MAX_TIMERS_PER_PASS = 512
# Links whose frames are held (see Fleet._hold) before they are sent.  A burst
# of sends wakes the CSMS once; but the CSMS then answers the burst in turn,
# and the last of it waits for the others: a burst is the simulator's own
# queueing, in the latency it measures.  Measured (benchmarks/selflag.py, 2,000
# stations, 10,000 heartbeats/s, responder.py; fleet.py throughput for the
# gain): 1 link, fleet p50 0.03 ms against the probe's 0.10; 8, 0.10 against
# 0.08, and 7 % more calls per CPU-second (and 30 % more pings) than 1; 16
# no more than 8; 32, a p50 of 0.32 ms; 128, 0.75 ms.
MAX_HELD = 8
# The timer heap is compacted (see Fleet._compact) when it holds more entries
# than twice what it held after the last compaction, and at least this many.
MIN_COMPACT_AT = 4096
# How long one pass of the reactor may serve sockets, and then timers, before
# trio's other tasks get a turn (the interval writer, connects, a CSMS in the same process): with 256
# ready sockets and 512 timers at tens of microseconds each, a pass would
# otherwise hold the loop for tens of milliseconds.
PASS_BUDGET_S = 0.002
log = logging.getLogger(__name__)


# A station's part in a run whose load changes (stages, fleetsim.spec.stages):
IDLE = 0  # not started yet
ON = 1  # started by the ramp: connecting, connected, or waiting to connect again
LEAVING = 2  # removed from the load: delivering its StopTransactions, then closing
OFF = 3  # removed: closed, its timers no longer run; started again as a new station


def _deadline_s(micros: int) -> float:
    """A time, in seconds, at which _fire_timers finds a timer of microsecond
    ``micros`` due (``micros <= now * 1e6``): ``micros / 1e6``, moved up a
    float's step at a time until it is.  Unmoved, it can fall a hair short,
    and a clock that lands exactly on the deadline armed (trio's MockClock)
    would then wake the loop for a timer it does not fire, again and again."""
    seconds = micros / 1_000_000
    while seconds * 1_000_000 < micros:
        seconds = math.nextafter(seconds, INF)
    return seconds


class _Runner:
    """The engine's side of one station: its link and its place in the heap."""

    __slots__ = ("again", "back", "closed_as", "connected_once", "cut_by", "fd", "index", "key", "life", "link",
                 "ping_waits", "scheduled_s", "started_s", "state", "station", "waits")

    def __init__(self, station: Station, index: int) -> None:
        self.station = station
        self.state = IDLE
        self.back = False  # added again while leaving: started once it has left
        self.life = 0  # how often the ramp started it: a connect loop of an earlier life gives up
        self.connected_once = False  # in any life: the fleet's stations ever connected count it once
        self.link: Link | None = None
        self.fd = -1  # the link's descriptor in the reactor
        self.again = False  # in the fleet's list of links to read again without waiting
        self.ping_waits = False  # its ping goes right after the read of what arrived before it
        self.cut_by: str | None = None  # the fault that cut the link (fleetsim.engine.faults)
        # The CSMS's close frame, or its breach of RFC 6455: how the link ends.
        self.closed_as: str | None = None
        self.scheduled_s = INF
        self.key = NO_KEY  # its entry in the fleet's timer heap for scheduled_s (see Fleet._reschedule)
        self.index = index
        # When the ramp started it: a wake-up that fell due before is no lag of ours.
        self.started_s = INF
        self.waits = WaitLog()  # its reconnect back-off waits, for outage recovery

    def unschedule(self) -> None:
        """Its heap entry is stale from now on (it fired, or the station left)."""
        self.scheduled_s = INF
        self.key = NO_KEY

    @property
    def booted(self) -> bool:
        """Connected and Accepted by the CSMS."""
        return self.link is not None and self.station.registration == RegistrationStatus.ACCEPTED


# How a station removed from the load leaves (fleetsim.spec.stages): its
# transactions stopped, their StopTransactions delivered within this many real
# seconds (a CSMS that does not answer them must not hold the stage), then closed.
LEAVE_GRACE_S = 10.0


class Fleet:
    def __init__(self, stations: Sequence[Station], options: ConnectOptions, recorder: Recorder, rng: random.Random, *,
                 renew: Callable[[Station, float], Station] | None = None) -> None:
        self.runners = [_Runner(station, i) for i, station in enumerate(stations)]
        # The stations that run are always the first ``target`` (the ramp
        # moves ``active`` towards it); a station started again after it was
        # removed is a new one, made by ``renew`` (as if powered on anew).
        self.target = len(self.runners)
        self.active = 0
        self._retargeted = trio.Event()
        self._renew = renew
        self.leave_grace_s = LEAVE_GRACE_S
        self.options = options
        self.recorder = recorder
        self.rng = rng
        self.progress = Progress()
        # The fleet's timers: one int per entry, a wake-up's microsecond
        # (rounded up) above the runner's index (see _reschedule).
        self._heap: list[int] = []
        self._index_bits = max(1, len(self.runners).bit_length())
        self._index_mask = (1 << self._index_bits) - 1
        self._compact_at = MIN_COMPACT_AT  # the heap's length that has it drop its superseded entries
        # The engine's clock on the hot path: once the reactor runs, trio's
        # system clock read directly (_system_now), or another clock's own
        # method (trio.current_time reaches it through two more calls).
        self._now: Callable[[], float] = trio.current_time
        self._clock_offset = 0.0  # trio's system clock's, once the reactor runs on it
        self._reactor: Reactor | None = None
        self._by_fd: dict[int, _Runner] = {}
        self._again: list[_Runner] = []  # links to read again without waiting (see Link.maybe_more)
        self._held: list[_Runner] = []  # stations whose frames wait for the end of the phase (see _release)
        self._held_since_s = INF  # when what is held began to be held: its CALLs are timed from their release
        self._unread: Sequence[tuple[int, int]] = ()  # the last poll's ready descriptors a pass left unread
        self._serving = False  # inside a pass of the reactor: the timer is armed when it ends
        self._slack_s = 0.0  # how late a timer may fire, to share a wake-up with others (gather_s)
        self._tick_s = INF  # while ticking (see _serve): when the next pass comes
        self._nursery: trio.Nursery | None = None
        # Until then the CSMS is unreachable (an outage fault): every
        # connection attempt fails, counted as connect.failed.outage.
        self.outage_until_s = -INF
        self.ramp_stopped = False  # set when the run's duration is over: the ramp starts no more stations
        # How late timers fire, µs: the simulator's own lag, which would
        # otherwise be mistaken for the CSMS's (recorded per interval).
        self.timer_lag = recorder.simulator_histogram("timer_lag")
        self._timer_lag = Recording(self.timer_lag)
        self.partial_budget = framing.PartialBudget(options.max_partial_bytes)
        # The fleet picks its connections' local ports: the kernel's search
        # slows to ~0.5 ms a connect past ~15,000 connections to one CSMS.
        # (Not drawn from ``rng``: the run's seeded draws stay what they were.)
        self.source_ports = SourcePorts()

    def census(self) -> tuple[int, int]:
        """(stations booted and connected now, connectors charging now)."""
        return _census(self.runners)

    async def take_census(self, batch: int = 1000) -> Census:
        """:meth:`census` with the loop's other tasks run every ``batch``
        stations (a pass over 19,000 stations would otherwise stall every
        socket for milliseconds once an interval), and the live counters."""
        booted = charging = 0
        runners = self.runners
        for start in range(0, len(runners), batch):
            if start:
                await trio.lowlevel.checkpoint()
            some_booted, some_charging = _census(runners[start:start + batch])
            booted += some_booted
            charging += some_charging
        return self._counted(booted, charging)

    def census_now(self) -> Census:
        """:meth:`take_census` in one pass (for the last interval of a run)."""
        return self._counted(*self.census())

    def _counted(self, booted: int, charging: int) -> Census:
        progress = self.progress
        progress.booted, progress.charging = booted, charging
        return Census(progress.connected, booted, charging, progress.messages_out, progress.messages_in)

    # ------------------------------------------------------------ running

    async def run(self, ramp_per_s: float, *, freeze_gc_after_ramp: bool = True,
                  task_status: trio.TaskStatus[float] = trio.TASK_STATUS_IGNORED) -> None:
        """Start the stations at ``ramp_per_s`` (up to ``target``; see
        :meth:`retarget`) and run them until cancelled.  With
        ``freeze_gc_after_ramp``, manage the collector (see managed_gc).
        Started (``nursery.start``) once that start-up is done, before the
        first station starts, with the time then: the moment the run's own
        lag counts from."""
        with managed_gc(freeze_gc_after_ramp):
            self._reactor = Reactor()
            try:
                async with trio.open_nursery() as nursery:
                    self._nursery = nursery
                    nursery.start_soon(self._serve)
                    task_status.started(trio.current_time())
                    await self._follow(nursery, ramp_per_s, freeze_gc_after_ramp)
            finally:
                self._nursery = None
                self._close_all()
                self._reactor.close()

    def retarget(self, stations: int) -> None:
        """Run the first ``stations`` of the fleet from now on: the ramp adds
        or removes the difference at its rate."""
        self.target = max(0, min(stations, len(self.runners)))
        self._retargeted.set()

    async def _follow(self, nursery: trio.Nursery, ramp_per_s: float, freeze_gc: bool) -> None:
        """Ramp to the target, then wait for the next one, until cancelled."""
        while True:
            self._retargeted = trio.Event()
            await self._ramp(nursery, ramp_per_s)
            if freeze_gc:
                # What the ramp made (links, connections) lives for the run:
                # out of the collector's sight.  Without a collection first:
                # at 2,000 stations one found no garbage at all (0 of 153,000
                # objects) and stalled the loop 61 ms (0.85 s at 15,000),
                # while gc.freeze() takes 2 µs (benchmarks/gc_pauses.py).
                gc.freeze()
            if self.active == self.target or self.ramp_stopped:
                await self._retargeted.wait()

    async def _ramp(self, nursery: trio.Nursery, ramp_per_s: float) -> None:
        """Move ``active`` to ``target``, a station every 1/ramp_per_s."""
        start_s = trio.current_time()
        step = 0
        while self.active != self.target and not self.ramp_stopped:
            if ramp_per_s > 0:
                due_s = start_s + step / ramp_per_s
                if due_s > trio.current_time():
                    await trio.sleep_until(due_s)
                    continue  # the target may have moved meanwhile
                if step % 64 == 0:
                    await trio.lowlevel.checkpoint()  # behind schedule: start them, but let the loop run
                    if self.ramp_stopped or self.active == self.target:
                        break  # the run is ending: stations not started by now never are
            step += 1
            if self.active < self.target:
                self.active += 1
                self._start(nursery, self.runners[self.active - 1])
            else:
                self.active -= 1
                self._remove(nursery, self.runners[self.active])

    def _start(self, nursery: trio.Nursery, runner: _Runner) -> None:
        now_s = trio.current_time()
        if runner.state == LEAVING:
            runner.back = True  # started again once its StopTransactions are delivered
            return
        if runner.state == OFF:
            if self._renew is not None:
                runner.station = self._renew(runner.station, now_s)
            runner.unschedule()
        else:
            self.progress.started += 1
        runner.state = ON
        runner.life += 1
        runner.started_s = now_s
        nursery.start_soon(self._connect_loop, runner, False)

    def _remove(self, nursery: trio.Nursery, runner: _Runner) -> None:
        if runner.state == LEAVING:
            runner.back = False
        elif runner.state == ON:
            runner.state = LEAVING
            nursery.start_soon(self._leave, runner)

    async def _leave(self, runner: _Runner) -> None:
        """A station removed from the load: its transactions stopped and
        their StopTransactions delivered (within leave_grace_s), then closed;
        its timers stop.  A station that is not connected just goes."""
        station = runner.station
        if runner.link is not None:
            station.end_sessions(Reason.OTHER, trio.current_time())
            self.after(runner)
            with trio.move_on_after(self.leave_grace_s):
                while runner.link is not None and station.queue.pending_transaction_messages():
                    await trio.sleep(0.05)
        if undelivered := station.queue.pending_transaction_messages():
            station.stats.count("stage.undelivered_transaction_messages", undelivered)
        link = runner.link
        if link is not None:
            link.close(framing.CLOSE_NORMAL, "removed from the load")
            self._forget(runner, link)
        station.stats.count("stage.removed")
        runner.state = OFF
        runner.unschedule()  # its heap entries are stale now
        if runner.back and self._nursery is not None:
            runner.back = False
            self._start(self._nursery, runner)

    async def _connect_loop(self, runner: _Runner, lost: bool) -> None:
        """Connect ``runner``'s station, with back-off between attempts, and
        hand its link to the reactor.  ``lost``: its connection was lost (not a
        reboot), so the first attempt waits too."""
        station = runner.station
        backoff = self.options.reconnect
        waits = 0  # since it was last connected: the back-off's attempt number
        life = runner.life

        def removed() -> bool:  # from the load, or removed and started again (a new life, its own loop)
            return runner.state != ON or runner.life != life

        while not removed():
            if lost:
                # A failed attempt, or a lost connection (OCPP 1.6 leaves the wait to
                # the vendor): exponential back-off, with jitter unless configured
                # without, so a fleet cut at once does not come back in lockstep.
                # Each wait is logged: outage recovery is reported net of them.
                start_s = trio.current_time()
                end_s = start_s + backoff.wait_s(waits, self.rng)
                runner.waits.wait(start_s, end_s)
                waits += 1
                await trio.sleep_until(end_s)
            lost = True
            if station.offline_until_s > trio.current_time():
                await trio.sleep_until(station.offline_until_s)
            if removed():
                return  # removed from the load while it waited
            link = await self._connect(runner)
            if link is not None:
                if removed():
                    link.close(framing.CLOSE_NORMAL, "removed from the load")
                    return
                self._attach(runner, link)
                return

    async def _connect(self, runner: _Runner) -> Link | None:
        options = self.options
        station = runner.station
        password = options.passwords(station.charge_point_id) if options.passwords else None
        authorization = framing.basic_authorization(station.charge_point_id, password) if password else None
        source = options.source_addresses[runner.index % len(options.source_addresses)] if options.source_addresses else None
        started_s = trio.current_time()
        if started_s < self.outage_until_s:
            self._connect_failed(station, "outage")
            return None
        try:
            with trio.fail_after(options.connect_timeout_s):
                link = await connect(
                    options.target, station.charge_point_id, authorization=authorization,
                    ssl_context=options.ssl_context, local_address=source, max_message_bytes=options.max_message_bytes,
                    budget=self.partial_budget, ports=self.source_ports,
                )
        except trio.TooSlowError:
            self._connect_failed(station, "timeout")
            return None
        except (LinkError, OSError) as error:
            self._connect_failed(station, _reason(error))
            return None
        if trio.current_time() < self.outage_until_s:
            link.close()  # the outage began while connecting
            self._connect_failed(station, "outage")
            return None
        station.stats.record_reaction(CONNECT, trio.current_time() - started_s)
        station.stats.count("connect.ok")
        if not runner.connected_once:
            runner.connected_once = True
            station.stats.count("stations.connected")  # once per station: how much of the fleet ever got in
        elif station.online_since_s > -INF:  # this life of it has been connected before (not one started anew)
            station.stats.count("connect.reconnect")
        return link

    def _connect_failed(self, station: Station, reason: str) -> None:
        self.progress.connect_failures += 1
        station.stats.count(f"connect.failed.{reason}")

    def _attach(self, runner: _Runner, link: Link) -> None:
        """A new connection: the reactor watches its socket from now on."""
        assert self._reactor is not None
        runner.link, runner.closed_as, runner.ping_waits = link, None, False
        runner.fd = link.sock.fileno()
        self._by_fd[runner.fd] = runner
        self._reactor.register(runner.fd)
        self.progress.connected += 1
        runner.station.on_connected(trio.current_time())
        self.after(runner)
        if link.maybe_more and not runner.again:  # frames the CSMS sent right behind its handshake
            runner.again = True
            self._again.append(runner)
        self._arm()

    def _drop(self, runner: _Runner, cause: str) -> None:
        """The link is gone (the CSMS's doing, a fault's or the station's own):
        count it, tell the station, and start connecting again."""
        link = runner.link
        if link is None:
            return
        station = runner.station
        # Ours first: a fault that cut it, or a reboot; else the CSMS's doing.
        cause = runner.cut_by or ("reboot" if station.want_disconnect else cause)
        station.stats.count(f"disconnect.{cause}")
        self.progress.disconnects += 1
        self._forget(runner, link)
        self.after(runner)
        if self._nursery is not None and runner.state == ON:
            self._nursery.start_soon(self._connect_loop, runner, not station.want_disconnect)

    def _forget(self, runner: _Runner, link: Link) -> None:
        assert self._reactor is not None
        self._reactor.unregister(runner.fd)  # before close: the descriptor's number may be reused
        self._by_fd.pop(runner.fd, None)
        runner.fd, runner.link, runner.cut_by = -1, None, None
        self.progress.connected -= 1
        link.close()
        runner.station.on_disconnected(trio.current_time())

    def _close_all(self) -> None:
        """The run is over: closing now is no disconnect."""
        for runner in self.runners:
            if runner.link is not None:
                self._forget(runner, runner.link)
        for runner in self._again:
            runner.again = False
        self._again.clear()

    def _station_failed(self, runner: _Runner, where: str) -> None:
        """Count (and log, once per kind) an exception a station raised."""
        counters = self.recorder.simulator_counters
        counters["station_errors"] += 1
        kind = f"station_errors.{where}"
        counters[kind] += 1
        if counters[kind] == 1:
            log.exception("station %s failed handling a %s; it is disconnected and the run will fail",
                          runner.station.charge_point_id, where)

    def cut(self, runner: _Runner, cause: str) -> bool:
        """Cut a station's connection as a failing network does (no close
        frame); it reconnects with back-off.  False: it had none."""
        link = runner.link
        if link is None or link.closed:
            return False
        runner.cut_by = cause
        self._drop(runner, cause)
        return True

    # ------------------------------------------------------------ the reactor

    async def _serve(self) -> None:
        """Every socket's readiness and every timer, from this one task: a
        pass handles what is ready and due, bounded, then yields.  While
        traffic flows (and gather_s is set) it ticks: the next pass comes
        gather_s later, serving everything that arrived meanwhile, one wake-up
        for all of it.  A tick that finds nothing puts it to sleep until a
        socket is readable or a timer is due."""
        reactor = self._reactor
        assert reactor is not None
        gather_s = self.options.gather_s if reactor.precise and not self.options.target.tls else 0.0
        self._slack_s = gather_s
        if reactor.clock_offset is not None:
            self._clock_offset = reactor.clock_offset
            self._now = self._system_now
        else:
            self._now = trio.lowlevel.current_clock().current_time
        while True:
            self._serving = True
            try:
                more, worked = self._pass(reactor)
            finally:
                self._serving = False
                self._release()  # (a pass that raised: what it held must not wait for ever)
            if more:
                await trio.lowlevel.checkpoint()
            elif gather_s > 0 and worked:
                self._tick_s = trio.current_time() + gather_s
                self._arm()
                try:
                    await reactor.wait_timer()
                finally:
                    self._tick_s = INF
            else:
                self._arm()
                await reactor.wait()

    def _system_now(self) -> float:
        """trio's system clock, read as it reads itself (perf_counter() plus
        its offset): its method is plain Python, and the hot path reads the
        clock several times a call."""
        return self._clock_offset + _perf_counter()

    def _arm(self) -> None:
        """Arm the reactor's timer for the next wake-up: the heap's head, or up
        to gather_s after it, so that timers falling due close together fire in
        one pass; never after the tick while ticking.  A timer already armed
        within that window is kept (re-arming is a system call)."""
        reactor = self._reactor
        if self._serving or reactor is None:
            return
        heap = self._heap
        head_s = _deadline_s(heap[0] >> self._index_bits) if heap else INF
        earliest_s = min(head_s, self._tick_s)
        latest_s = min(head_s + self._slack_s, self._tick_s)
        if not earliest_s <= reactor.armed <= latest_s:
            reactor.arm(latest_s)

    def _pass(self, reactor: Reactor) -> tuple[bool, bool]:
        """One round: sockets for at most PASS_BUDGET_S, then timers for as
        long (sockets that keep a pass busy must not starve the timers, nor
        they the sockets).  Returns (work was left over: a budget ran out,
        the pass found anything to do).  Ready sockets not read stay ready."""
        clock = self._now
        self._held_since_s = clock()
        deadline_s = self._held_since_s + PASS_BUDGET_S
        # What the last poll found and the budget left unread comes first: a
        # poll costs per descriptor it returns, and a saturated pass reads a
        # few dozen of the MAX_READY it would return each time.  (One closed
        # meanwhile is gone from by_fd; one whose number a new connection took
        # reads nothing, harmlessly.)
        backlog = bool(self._unread)
        ready = self._unread or reactor.ready()
        self._unread = ()
        by_fd = self._by_fd
        read = 0
        over = False
        for index, (fd, _) in enumerate(ready):
            runner = by_fd.get(fd)
            if runner is not None:
                read += 1
                self._read(runner)
                if len(self._held) >= MAX_HELD:
                    self._release()
                if clock() > deadline_s:
                    over = True
                    self._unread = ready[index + 1:]
                    break
        again, self._again = self._again, []
        for index, runner in enumerate(again):
            if over:  # still marked: their turn comes first in the next pass
                self._again[:0] = again[index:]
                break
            runner.again = False
            if runner.link is not None:
                read += 1
                self._read(runner)
                if len(self._held) >= MAX_HELD:
                    self._release()
                over = clock() > deadline_s
        self._release()
        timers_left, fired = self._fire_timers(clock() + PASS_BUDGET_S)
        self._release()
        # (After the last of a backlog, a poll: descriptors ready since then
        # would otherwise wait out the gathering.)
        more = timers_left or over or backlog or len(ready) >= MAX_READY or bool(self._again)
        return more, bool(read or fired)

    def _hold(self, runner: _Runner, link: Link) -> None:
        """Within a pass, what a station sends waits for the end of the phase
        (sockets, then timers) or for MAX_HELD links to hold something, and
        leaves then per link in one system call: frames due together (a CALL
        and a ping, an answer and the next CALL) share it, and the CSMS is
        woken once for the burst rather than once a frame (a wake-up on
        another core cost more than the send itself)."""
        if self._serving and link.hold():
            self._held.append(runner)

    def _release(self) -> None:
        """Send what was held (see _hold); the CALL each station took while
        it was held left now, and is timed from now."""
        while self._held:
            held, self._held = self._held, []
            phase_s = self._held_since_s
            sent_s = self._held_since_s = self._now()
            for runner in held:
                link = runner.link
                if link is None:
                    continue  # dropped meanwhile: its link let go of what it held
                if link.release():
                    self._start_flusher(runner, link)
                runner.station.on_sent(phase_s, sent_s)
                if link.closed:
                    self._drop(runner, runner.closed_as or link.failure or "closed")

    def _read(self, runner: _Runner) -> None:
        link = runner.link
        assert link is not None
        try:
            events = link.read()
        except LinkError as error:
            # Closing the link for a Reset or a fault lands here too.
            self._drop(runner, runner.closed_as or link.failure or _reason(error))
            return
        if events:
            self._handle(runner, link, events)
        if runner.ping_waits and runner.link is link and not link.closed:
            self._ping(runner, link)  # the read it waited for is done: whatever arrived since, it goes
        if runner.link is link:
            if link.closed:
                self._drop(runner, runner.closed_as or link.failure or "closed")
            elif link.maybe_more and not runner.again:
                runner.again = True
                self._again.append(runner)

    def _handle(self, runner: _Runner, link: Link, events: list[framing.Event]) -> None:
        station = runner.station
        progress = self.progress
        now = self._now()
        # When the read's bytes reached the host (the kernel's stamp): an
        # answer read late, the loop busy or gathering, is timed from there.
        received = link.received_at
        received_s = min(now, received + (now - _wall_time())) if received else now
        try:
            for count, event in enumerate(events, start=1):
                if type(event) is framing.Message:
                    progress.messages_in += 1
                    station.on_message(event.data, now, received_s)
                elif type(event) is framing.Pong:
                    pass  # the answer to our ping: nothing to answer, nothing to record
                else:
                    runner.closed_as = _closed_as(event, runner.closed_as)
                    if type(event) is not framing.Ping:
                        # The answers to the CALLs before a close or a violation
                        # leave before the close frame, in the order asked.
                        self.after(runner)
                    self._hold(runner, link)
                    if link.answer(event):
                        self._start_flusher(runner, link)
                    if link.closed:
                        return
                if count == MESSAGES_PER_STEP and count < len(events):
                    # A read can hold thousands of tiny messages: what they
                    # asked for goes out, and the other stations get a turn.
                    link.unread(events[count:])
                    break
            self.after(runner)
        except Exception:
            # Our bug, found by what this station received: it must not end the
            # fleet.  Counted (the run then fails, see simulator.station_errors).
            runner.closed_as = "internal_error"
            self._station_failed(runner, "message")
            link.close(framing.CLOSE_INTERNAL_ERROR, "internal error")

    def _fire_timers(self, deadline_s: float) -> tuple[bool, int]:
        """Run the timers due now, at most MAX_TIMERS_PER_PASS of them and
        until ``deadline_s``: (more were due, how many fired)."""
        heap = self._heap
        runners = self.runners
        shift, mask = self._index_bits, self._index_mask
        timer_lag = self._timer_lag
        clock = self._now
        now = clock()
        fired = 0
        while heap and heap[0] >> shift <= now * 1_000_000:
            if fired == MAX_TIMERS_PER_PASS or now > deadline_s:
                return True, fired
            key = heapq.heappop(heap)
            runner = runners[key & mask]
            if key != runner.key or runner.state == OFF:
                continue  # superseded by an earlier entry that already fired, or removed from the load
            fired += 1
            now = clock()  # a long batch makes later timers later still
            # Counted from the ramp's start of the station (not started yet: no
            # lag; a station the ramp has not reached has timers too, those of
            # a fault injected into it).  (int(x + 0.5), not round(): round()
            # allocates a bound method each call; the two differ only at
            # halves and below 1 µs.)
            wake_s = runner.scheduled_s
            since_s = wake_s if wake_s >= runner.started_s else runner.started_s  # inf: not started
            late_us = int((now - since_s) * 1_000_000 + 0.5) if since_s < now else 1
            timer_lag.record(late_us if late_us > 1 else 1)
            runner.unschedule()
            try:
                # Due by its microsecond, which can be a float's hair before
                # the wake-up the station asked for: it is given at least that
                # time, or it would find nothing due and ask again for ever
                # (under a clock that only moves when the loop idles).
                runner.station.on_timer(now if now >= wake_s else wake_s)
            except Exception:  # our bug: this station only, never the fleet's timers
                self._station_failed(runner, "timer")
                if runner.link is not None:
                    runner.closed_as = "internal_error"
                    runner.link.close(framing.CLOSE_INTERNAL_ERROR, "internal error")
                    self._drop(runner, "internal_error")
                continue
            self.after(runner)
            if len(self._held) >= MAX_HELD:
                self._release()
        return False, fired

    # ------------------------------------------------------------ sending and timers

    def after(self, runner: _Runner) -> None:
        """After the station handled an event: send its frames, close its link
        if it is going down (a reset), re-arm its timer."""
        station = runner.station
        outbox = station.outbox
        link = runner.link
        if outbox:
            if link is not None:
                # Several frames due at once leave in one system call.
                self._hold(runner, link)
                if link.send_text(outbox[0]) if len(outbox) == 1 else link.send_texts(outbox):
                    self._start_flusher(runner, link)
                self.progress.messages_out += len(outbox)
            outbox.clear()
        if station.want_ping and not runner.ping_waits:
            if link is not None and (runner.again or (station.queue.in_flight is not None and link.bytes_waiting())):
                # What arrived before the ping is read first: a pong landing
                # behind an unread answer would lend it the pong's arrival time.
                # Only an answer is timed from its arrival, and only a CALL in
                # flight has one to come (asking the kernel is a system call).
                # One read only (_read sends it then): on a busy link more is
                # always on its way, and right behind a read all a pong can
                # lend an answer is the microseconds since.
                runner.ping_waits = True
                if not runner.again:
                    runner.again = True
                    self._again.append(runner)
            else:
                self._ping(runner, link)
        if station.wake_at_s < runner.scheduled_s:
            self._reschedule(runner, station.wake_at_s)
        if link is not None and link is runner.link:
            if station.want_disconnect and not link.closed:
                link.close(framing.CLOSE_NORMAL, "reboot")
                self._drop(runner, "reboot")
            elif link.closed:
                self._drop(runner, link.failure or "closed")  # it cut itself (a CSMS that does not read)

    def _reschedule(self, runner: _Runner, wake_s: float) -> None:
        """A station wants waking earlier than its heap entry says.  Only an
        earlier wake-up needs a new entry; a later one is found when the
        earlier entry fires (the station ignores an early on_timer).

        An entry is one int: the wake-up's microsecond, rounded up (a timer
        never fires early), shifted above the runner's index, so that the
        heap compares ints, and a push allocates no tuple for the collector
        to track.  Wake-ups in the same microsecond fire by index."""
        runner.scheduled_s = wake_s
        key = runner.key = (math.ceil(wake_s * 1_000_000) << self._index_bits) | runner.index
        heap = self._heap
        heapq.heappush(heap, key)
        if len(heap) > self._compact_at:
            self._compact(heap)
        if not self._serving and heap[0] == key:
            self._arm()  # from outside the reactor (a connect, a fault, the run's end): an earlier wake-up

    def _compact(self, heap: list[int]) -> None:
        """Drop the superseded entries (a station's wake-up that moved earlier
        leaves its later one behind until it comes up), in place: a heap
        mostly of dead entries costs every push and pop cache misses.  Run
        when the heap has doubled since, so its cost per push stays constant
        (about 3 ms for 19,000 stations' 38,000 entries).  A removed station's
        entry and a rare duplicate stay: the pop skips them as before."""
        runners, mask = self.runners, self._index_mask
        heap[:] = [key for key in heap if key == runners[key & mask].key]
        heapq.heapify(heap)
        self._compact_at = max(2 * len(heap), MIN_COMPACT_AT)

    def _ping(self, runner: _Runner, link: Link | None) -> None:
        station = runner.station
        runner.ping_waits = False
        if link is not None:
            self._hold(runner, link)
            if link.send_ping():
                self._start_flusher(runner, link)
            station.stats.count("websocket.ping")
        station.on_ping_sent(self._now())
        if station.wake_at_s < runner.scheduled_s:
            self._reschedule(runner, station.wake_at_s)

    def _start_flusher(self, runner: _Runner, link: Link) -> None:
        """The kernel took only part of what the link sent: drain the rest in a
        task, which cuts a CSMS that reads nothing for send_stall_s."""
        if self._nursery is not None:
            self._nursery.start_soon(self._flush, runner, link)

    async def _flush(self, runner: _Runner, link: Link) -> None:
        await link.flush(self.options.send_stall_s)
        if link.closed and runner.link is link:
            self._drop(runner, link.failure or "closed")


# The collector's thresholds during a run: young generations collected often
# (Python's 700 and 10: each pass walks at most a few thousand young objects),
# the old generation never.  What lives for the run was frozen after the ramp
# (gc.freeze: out of every collection's sight), the station's steady traffic
# makes no reference cycles (tests/engine/test_gc.py), and payloads are not
# tracked at all (fleetsim.ocpp.base.Payload), so what a full collection
# would walk is what survived two young ones since: a walk of the whole fleet
# for little or nothing to free.  Measured (benchmarks/gc_pauses.py, 2,000
# stations with sessions, 2,000 calls/s, 20 s): Python's thresholds paused up
# to 33 ms (a gen-2 collection); a gen-0 threshold of 20,000 (what fleetsim
# used before) 7.8-11.6 ms every pause; 700/10 without gen 2, 0.4 ms median,
# 5.0 ms at most.  The old generation is collected again when the run ends.
GC_RUN_THRESHOLDS = (700, 10, 1_000_000_000)


@contextmanager
def managed_gc(manage: bool) -> Iterator[None]:
    """Collect and freeze what exists before the first station connects (no
    traffic yet to stall, so the pause is not the simulator's lag), and set
    the run's thresholds (GC_RUN_THRESHOLDS)."""
    if not manage:
        yield
        return
    with gc_unwatched():
        gc.collect()
    gc.freeze()
    thresholds = gc.get_threshold()
    gc.set_threshold(*GC_RUN_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()  # what the run froze may be garbage now (a process that runs fleets one after another)


def _census(runners: Sequence[_Runner]) -> tuple[int, int]:
    booted = charging = 0
    for runner in runners:
        station = runner.station
        if runner.booted:
            booted += 1
        charging += sum(1 for c in station.connectors if c.transaction is not None and c.power_w > 0)
    return booted, charging


# How a link the CSMS ended is counted (disconnect.<cause>): its close frame,
# or how it broke RFC 6455, by the close code the station answered with.
_CLOSED_AS = {framing.Close: "closed_by_csms", framing.Violation: "protocol_violation"}
_VIOLATIONS = {
    framing.CLOSE_INVALID_PAYLOAD: "invalid_utf8",
    framing.CLOSE_POLICY_VIOLATION: "partial_frames_budget",
    framing.CLOSE_TOO_BIG: "message_too_big",
}

# The counter a failed connection lands in: the first phrase its message holds
# (most specific first, so a TLS or HTTP 401 failure is not counted as refused).
_REASONS = (
    (" 401", "unauthorized"), ("eaddrnotavail", "no_local_port"), ("tls", "tls"), ("handshake refused", "rejected"), ("refused", "refused"),
    ("reset", "reset"), ("timedout", "timeout"), ("timeout", "timeout"), ("handshake", "handshake"),
    ("closed", "closed"), ("resolve", "resolve"), ("source address", "source_address"),
)


def _closed_as(event: framing.Event, before: str | None) -> str | None:
    if type(event) is framing.Violation:
        return _VIOLATIONS.get(event.code, "protocol_violation")
    return _CLOSED_AS.get(type(event), before)


def _reason(error: BaseException) -> str:
    if isinstance(error, socket.gaierror):  # getaddrinfo's: "Name or service not known", ...
        return "resolve"
    text = str(error).lower()
    for phrase, reason in _REASONS:
        if phrase in text:
            return reason
    return type(error).__name__
