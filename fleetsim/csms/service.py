"""One server with a fixed service time: a CSMS whose capacity is known in
advance, for measuring a load tool's capacity search against.

Every CALL of every station joins one FIFO queue; the server takes them one at
a time, each for exactly ``service_time_s``, and the answer leaves when its
service completes.  So the CSMS answers at most ``1 / service_time_s`` CALLs
per second (a D/D/1 or M/D/1 queue, depending on the arrivals) and, past that,
the queue fills and latency grows without bound.

The service is a trio sleep, not CPU work, so the capacity does not depend on
the machine's load.  Each service ends at ``max(arrival, previous end) +
service_time_s`` on trio's clock: a late wake-up of the server task does not
lengthen the services after it, so the long-run rate stays exactly
``1 / service_time_s`` (as long as the process can keep up with it at all).

Bounded by construction (DESIGN.md): the queue holds at most
:data:`MAX_QUEUED_CALLS` CALLs and :data:`MAX_QUEUED_BYTES` bytes of them.  A
connection whose CALL finds it full waits, holding that one CALL, and reads
nothing from its socket meanwhile: the backlog stays in the kernel's buffers and
the stations' own queues (TCP back-pressure), never in ours.  Waiting
connections get in in the order they came, so one station that floods CALLs
(against OCPP-J 1.6 §4.1.1) gets no more of the server than its turn.  A
waiting connection reads no ping and no close frame either, as a CSMS with a
full input queue would not; a link cut meanwhile, or the CSMS stopping, ends the
wait at once.

What passes through the server: well-formed CALLs only.  A frame that cannot be
decoded is answered with its CALLERROR at once (OCPP-J 1.6 §4.2.3), and answers
to the CSMS's own CALLs are taken at once.  A CALL whose station has gone by
its turn is dropped without taking a service (counted in ``answers_lost``).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import Any, Final, Protocol

import trio

# Queued CALLs of all connections together, the one in service included.
# OCPP-J 1.6 §4.1.1 lets a station have one CALL in flight, so a well-behaved
# fleet queues one per station; past about a thousand the queue only adds
# waiting time (1,024 × 2 ms is 2 s), which TCP back-pressure adds just as well
# at no memory cost to us.  Past the cap, latency keeps growing: in the sockets.
MAX_QUEUED_CALLS: Final = 1024
# A CALL may be up to max_message_bytes (4 MiB by default): the count alone
# would allow gigabytes.  A single CALL larger than this still gets in when
# the queue is empty, so nothing waits for ever.
MAX_QUEUED_BYTES: Final = 16 * 1024 * 1024


class _Connection(Protocol):
    closed: bool


Serve = Callable[[Any, Any, float], None]
"""Called as ``serve(connection, call, done_s)`` when a service completes;
must not block."""


class _Waiting:
    """A connection waiting for room, with its one CALL."""

    __slots__ = ("entry", "event", "live")

    def __init__(self, entry: tuple[Any, Any, int, float]) -> None:
        self.entry = entry
        self.event = trio.Event()
        self.live = True


class SingleServer:
    """The queue and its server.  ``put`` from the connections' tasks, ``run``
    in a task of its own."""

    __slots__ = ("_bytes", "_items", "_nonempty", "_serve", "_stall", "_waiting", "max_length", "served",
                 "service_time_s")

    def __init__(self, service_time_s: float, serve: Serve, stall: tuple[float, float] | None = None) -> None:
        if not (math.isfinite(service_time_s) and service_time_s > 0):
            raise ValueError("the service time must be a positive number of seconds")
        self.service_time_s = service_time_s
        self._serve = serve
        self._stall = stall  # the stall fault's [start, end): the server serves nothing in it
        self._items: deque[tuple[Any, Any, int, float]] = deque()  # connection, call, size, arrival time
        self._bytes = 0
        self._waiting: deque[_Waiting] = deque()
        self._nonempty = trio.Event()
        self.max_length = 0  # the longest the queue has been: never above MAX_QUEUED_CALLS
        self.served = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def waiting(self) -> int:
        """Connections waiting for room (each holds one CALL and reads nothing)."""
        return sum(1 for waiting in self._waiting if waiting.live)

    def _has_room(self, size: int) -> bool:
        if not self._items:
            return True
        return len(self._items) < MAX_QUEUED_CALLS and self._bytes + size <= MAX_QUEUED_BYTES

    def _append(self, entry: tuple[Any, Any, int, float]) -> None:
        self._items.append(entry)
        self._bytes += entry[2]
        self.max_length = max(self.max_length, len(self._items))
        self._nonempty.set()

    async def put(self, connection: _Connection, call: Any, size: int, arrival_s: float) -> None:
        """Queue ``call`` of ``connection``; when the queue is full, wait (in
        order of coming) until it has room.  ``size``: the CALL's bytes."""
        entry = (connection, call, size, arrival_s)
        if not self._waiting and self._has_room(size):
            self._append(entry)
            return
        waiting = _Waiting(entry)
        self._waiting.append(waiting)
        self._admit()  # the ones before it may all have gone
        try:
            await waiting.event.wait()
        finally:
            # Cancelled (the connection or the CSMS ends): the admitter skips it.
            # Marked, not removed: removing from the middle of a deque of
            # thousands, once per connection at shutdown, would be quadratic.
            waiting.live = waiting.event.is_set()

    def _admit(self) -> None:
        """Move waiting CALLs into the queue while it has room, first come first."""
        waiting = self._waiting
        while waiting:
            first = waiting[0]
            if not first.live:
                waiting.popleft()
                continue
            if not self._has_room(first.entry[2]):
                return
            waiting.popleft()
            self._append(first.entry)
            first.event.set()

    async def run(self) -> None:
        """Serve until cancelled."""
        done_s = -math.inf
        items = self._items
        while True:
            if not items:
                self._nonempty = trio.Event()
                await self._nonempty.wait()
                continue
            connection, call, size, arrival_s = items[0]
            now_s = trio.current_time()
            if not connection.closed:  # a station that has gone takes no service
                done_s = max(arrival_s, done_s) + self.service_time_s
                await trio.sleep_until(done_s)
                now_s = done_s = await self._wait_out_stall(done_s)
                self.served += 1
            items.popleft()
            self._bytes -= size
            self._admit()
            self._serve(connection, call, now_s)

    async def _wait_out_stall(self, done_s: float) -> float:
        if self._stall is not None:
            start_s, end_s = self._stall
            if start_s <= trio.current_time() < end_s:
                await trio.sleep_until(end_s)
                return end_s  # the service completes as the stall ends; the next starts then
        return done_s
