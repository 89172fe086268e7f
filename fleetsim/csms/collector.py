"""The collector, kept off a CSMS process's connections.

In a process of its own (``fleetsim csms serve``), the CSMS holds a few
objects for every connection, for as long as the connection lives.  CPython's
full collections walk every tracked object, and while connections arrive
(a fleet's ramp) the old generation grows enough to trigger one every second
or two: at 19,000 connections each paused the CSMS for up to 380 ms, which the
fleet measured as connect and boot latency (connect p99 223 ms; 33 ms with the
collector off: benchmarks/README.md, "Connecting").  So, as the fleet does
(fleetsim.engine.fleet.managed_gc), whatever has lived through a growth of
the connections is frozen out of the collector's sight (``gc.freeze``: 2 µs),
and young objects are collected as before.

What was frozen is never collected while frozen: a connection that closes
later is freed by its reference count, but any reference cycle it is part of
would stay.  When the connections fall to half of what they were at the last
freeze (stations gone, a storm), everything is unfrozen, so what churned away
is collected: memory stays bounded by what the CSMS held at its peak.
"""

from __future__ import annotations

import gc
from typing import Final, Protocol

import trio

# Connections added since the last freeze that make the next one (a ramp of
# 2,000 a second freezes every half second; a trickle never pays for it).
FREEZE_EVERY: Final = 1_000
CHECK_EVERY_S: Final = 0.5


class _Counts(Protocol):
    connections_open: int


async def keep_collector_off_connections(stats: _Counts, *, every: int = FREEZE_EVERY,
                                         check_every_s: float = CHECK_EVERY_S) -> None:
    """Until cancelled: freeze what lives once ``every`` connections were
    added since the last freeze; unfreeze once half of them are gone."""
    frozen_at = 0
    try:
        while True:
            await trio.sleep(check_every_s)
            open_now = stats.connections_open
            if open_now >= frozen_at + every:
                gc.freeze()
                frozen_at = open_now
            elif frozen_at and open_now < frozen_at // 2:
                gc.unfreeze()
                frozen_at = 0
    finally:
        gc.unfreeze()
