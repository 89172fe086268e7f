"""One timer task for everything the CSMS does later: delayed answers, its own
CALLs, their timeouts.

A trio sleep costs a wake-up of 16-26 µs; a sleeping task per connection
does not scale to 20,000 connections.  Here a heap holds the due times and a
single task sleeps until the earliest, in a cancel scope whose deadline is
moved forward when an earlier entry arrives (trio re-reads a scope's deadline
on every change).  Callbacks are plain synchronous functions: sending on a
:class:`~fleetsim.engine.link.Link` needs no await.
"""

from __future__ import annotations

import heapq
import logging
import math
from collections.abc import Callable
from typing import Any

import trio

log = logging.getLogger(__name__)

Callback = Callable[[Any, Any, float], None]
"""Called as ``callback(first, second, due_s)``; must not block."""


class TimerHeap:
    __slots__ = ("_heap", "_scope", "_sequence", "failures", "pause_from_s", "pause_until_s")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callback, Any, Any]] = []
        self._sequence = 0  # ties break by insertion order; callbacks never compare
        self._scope: trio.CancelScope | None = None
        self.pause_from_s = math.inf  # nothing runs in [pause_from_s, pause_until_s)
        self.pause_until_s = math.inf
        self.failures = 0

    def __len__(self) -> int:
        return len(self._heap)

    def schedule(self, due_s: float, callback: Callback, first: Any = None, second: Any = None) -> None:
        """Run ``callback`` at ``due_s`` (trio clock) or as soon as possible after."""
        self._sequence += 1
        heapq.heappush(self._heap, (due_s, self._sequence, callback, first, second))
        scope = self._scope
        if scope is not None and due_s < scope.deadline:
            scope.deadline = due_s

    async def run(self) -> None:
        """Run callbacks as they fall due, until cancelled."""
        heap = self._heap
        while True:
            now_s = trio.current_time()
            if self.pause_from_s <= now_s < self.pause_until_s:  # a configured stall
                await trio.sleep_until(self.pause_until_s)
                continue
            while heap and heap[0][0] <= now_s:
                due_s, _, callback, first, second = heapq.heappop(heap)
                try:
                    callback(first, second, due_s)
                except Exception:  # one connection's bug must not stop every timer
                    self.failures += 1
                    log.exception("CSMS timer callback failed")
            with trio.CancelScope(deadline=heap[0][0] if heap else math.inf) as scope:
                self._scope = scope
                await trio.sleep_forever()
            self._scope = None
