"""Driving a run's load while it goes: the intervals it closes, handed in
order to whoever drives (a capacity search, fleetsim.capacity.drive); the
stage plan of a staged run, set at its times; and, for a run split over
worker processes, the orders the coordinator sends each worker (a target, a
note) and the steering it drives them all with."""

from __future__ import annotations

import collections
import math
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from multiprocessing.connection import Connection

import msgspec
import trio

from fleetsim.engine.fleet import Fleet
from fleetsim.metrics.intervals import RunEvent
from fleetsim.metrics.stages import added
from fleetsim.metrics.tally import Tally
from fleetsim.spec.run import RunSpec, shard_positions
from fleetsim.spec.stages import StageWindow, shard_target


class ClosedInterval(msgspec.Struct, frozen=True):
    """An interval the run just closed: its end (seconds since the start),
    its latency.hlog lines, the run's counts so far and its messages so far."""

    end_s: float
    lines: tuple[str, ...]
    tally: Tally
    messages_out: int
    messages_in: int


# Closed intervals a driver of the load has not read yet: one that stopped
# reading loses the oldest, never the run's memory.
MAX_UNREAD_INTERVALS = 64


class _Intervals:
    """Closed intervals in order, for a driver that awaits them one by one
    (the oldest unread are dropped past MAX_UNREAD_INTERVALS)."""

    def __init__(self) -> None:
        self._closed: collections.deque[ClosedInterval] = collections.deque(maxlen=MAX_UNREAD_INTERVALS)
        self._arrived = trio.Event()

    def closed(self, interval: ClosedInterval) -> None:
        self._closed.append(interval)
        self._arrived.set()

    async def interval(self) -> ClosedInterval:
        """The next interval the run closes."""
        while not self._closed:
            self._arrived = trio.Event()
            await self._arrived.wait()
        return self._closed.popleft()


def _part(fleet: Fleet, positions: Sequence[int] | None, stations: int) -> int:
    """This process's part of the fleet's first ``stations`` (``positions``:
    a shard's places in the whole fleet's ramp order; None: the whole fleet)."""
    return min(stations, len(fleet.runners)) if positions is None else shard_target(positions, stations)


class Steering(_Intervals):
    """A run's load driven as it goes (a capacity search): the number of
    running stations, the intervals as they close, notes in events.csv, and
    the end of the run.  Counts are the whole fleet's; a shard runs its part."""

    def __init__(self, fleet: Fleet, spec: RunSpec, start_s: float, note: Callable[[RunEvent], None] | None,
                 stop: trio.Event) -> None:
        super().__init__()
        self.fleet = fleet
        self.spec = spec
        self.start_s = start_s
        self._note = note
        self._stop = stop
        self._positions = None if spec.shard.whole else shard_positions(spec)
        self.target = 0
        self.finished = False  # the driver ended the run: no interruption

    @property
    def elapsed_s(self) -> float:
        return trio.current_time() - self.start_s

    def part(self, stations: int) -> int:
        """This process's part of the fleet's first ``stations``."""
        return _part(self.fleet, self._positions, stations)

    def retarget(self, stations: int) -> int:
        """Run the fleet's first ``stations``; returns this process's part."""
        self.target = stations
        mine = self.part(stations)
        self.fleet.retarget(mine)
        return mine

    def note(self, event: RunEvent) -> None:
        if self._note is not None:
            self._note(event)

    def stop(self) -> None:
        """End the run cleanly, as reaching its duration does."""
        self._stop.set()


Steer = Callable[[Steering], Awaitable[None]]  # drives the load; the run ends when it returns


async def run_steered(steer: Steer, steering: Steering) -> None:
    await steer(steering)
    steering.finished = True
    steering.stop()


class Ticks:
    """The interval ticks a staged run has closed (folded, and the stages
    fed the run's counts)."""

    def __init__(self) -> None:
        self.last_s = -math.inf
        self._changed = trio.Event()

    def closed(self, elapsed_s: float) -> None:
        self.last_s = elapsed_s
        self._changed.set()
        self._changed = trio.Event()

    async def wait_closed(self, at_s: float) -> None:
        while self.last_s < at_s:
            await self._changed.wait()


async def drive_stages(fleet: Fleet, spec: RunSpec, windows: list[StageWindow], start_s: float,
                        note: Callable[[RunEvent], None] | None, ticks: Ticks) -> None:
    """Set each stage's target at its start, and note the stage and its
    plateau in events.csv (each process its own stations: the merge adds them)."""
    positions = None if spec.shard.whole else shard_positions(spec)
    interval_s = spec.interval_s
    for window in windows:
        await trio.sleep_until(start_s + window.start_s)
        tick_s = round(window.start_s / interval_s) * interval_s
        if window.index > 1 and abs(window.start_s - tick_s) < 1e-6:
            # The plateau before ends at the tick at this stage's start; its counts are
            # taken once that tick has folded its histograms, which takes the loop's
            # turns.  Stations added or removed meanwhile (a removal's StopTransactions,
            # answered in milliseconds) would count in it, their latencies not.
            with trio.move_on_after(interval_s / 2):
                await ticks.wait_closed(tick_s - interval_s / 2)
        mine = _part(fleet, positions, window.stations)
        fleet.retarget(mine)
        if note is not None:
            note(RunEvent(elapsed_s=window.start_s, kind="stage", span_s=window.end_s - window.start_s,
                          label=f"stage {window.index}: {window.from_stations:,} → {window.stations:,} stations",
                          stations=mine, at_s=window.start_s))
            note(RunEvent(elapsed_s=window.plateau_start_s, kind="plateau", span_s=window.plateau_s,
                          label=f"stage {window.index} plateau", stations=mine, at_s=window.plateau_start_s))


# ---------------------------------------------------------------- a run split over workers


class Retarget(msgspec.Struct, tag=True):
    """The coordinator's order: run the fleet's first ``stations``."""

    stations: int


class Note(msgspec.Struct, tag=True):
    """The coordinator's order: note this in events.csv (``stations``: the
    fleet's; each worker notes its own part, and the merge adds them)."""

    event: RunEvent


class Finish(msgspec.Struct, tag=True):
    """The coordinator's order: end the run cleanly (the load's driver is done)."""


Order = Retarget | Note | Finish
_order_decoder = msgspec.msgpack.Decoder(Order)


async def follow(orders: Connection, report: Callable[[ClosedInterval], None], steering: Steering) -> None:
    """A worker's load, as the coordinator orders it, until it says Finish
    (or is gone: the run then ends cleanly as well); every interval it
    closes is ``report``ed."""
    async def forward() -> None:
        while True:
            report(await steering.interval())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(forward)
        await _obey(orders, steering)
        nursery.cancel_scope.cancel()


async def _obey(orders: Connection, steering: Steering) -> None:
    while True:
        await trio.lowlevel.wait_readable(orders.fileno())
        try:
            while orders.poll():
                match _order_decoder.decode(orders.recv_bytes()):
                    case Retarget(stations=stations):
                        steering.retarget(stations)
                    case Note(event=event):
                        steering.note(msgspec.structs.replace(event, stations=steering.part(event.stations)))
                    case Finish():
                        return
        except (EOFError, OSError, msgspec.DecodeError):
            return


# An interval one worker closed: (end_s, length_s, lines, tally, (messages out, in)).
WorkerInterval = tuple[float, float, tuple[str, ...], Tally | None, tuple[int, int]]


class SplitSteering(_Intervals):
    """The coordinator's steering of a split run: targets and notes go to
    every worker (``order``); an interval is closed once every running worker
    closed it (their lines together, their counts added)."""

    def __init__(self, order: Callable[[Order], None], start_at: Callable[[], datetime | None]) -> None:
        super().__init__()
        self._order = order
        self._start_at = start_at

    @property
    def elapsed_s(self) -> float:
        start_at = self._start_at()
        return (datetime.now(UTC) - start_at).total_seconds() if start_at is not None else 0.0

    def retarget(self, stations: int) -> int:
        self._order(Retarget(stations))
        return stations

    def note(self, event: RunEvent) -> None:
        self._order(Note(event))

    def closed_by_all(self, parts: Iterable[WorkerInterval]) -> None:
        parts = list(parts)
        self.closed(ClosedInterval(
            max(end for end, *_ in parts), tuple(line for _, _, lines, *_ in parts for line in lines),
            added([tally for *_, tally, _ in parts if tally is not None]),
            sum(messages[0] for *_, messages in parts), sum(messages[1] for *_, messages in parts)))
