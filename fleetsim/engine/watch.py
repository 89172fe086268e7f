"""The simulator watches itself: its event loop's lag and the garbage
collector's pauses, into the recorder's ``simulator`` histograms (µs); and,
with the embedded CSMS in its process, it collects the young generations on a
clock (:func:`collect_young`).

Latency is measured by the simulator's own clock reads, so any time the
simulator spends not reading its sockets (a long batch of timers, a GC pause)
is added to whatever answers arrive meanwhile and would be taken for the
CSMS's.  Measured here, it is reported beside the figures, with a warning when
it is large enough to matter (fleetsim.metrics.summary.lag_warning).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

import trio

from fleetsim.metrics.histogram import us
from fleetsim.metrics.recorder import Recorder
from fleetsim.metrics.summary import LOOP_PROBE_PERIOD_S


async def watch_loop_lag(recorder: Recorder, period_s: float = LOOP_PROBE_PERIOD_S, *,
                         since_s: float | None = None) -> None:
    """Sleep ``period_s`` again and again and record how late each wake-up is.
    A wake-up costs about 20 µs, so at 10 ms this is 0.2 % of a core.
    ``since_s``: the moment the watch counts from (its first probe is due a
    period after it), when that was before this task first ran.

    Corrected for coordinated omission, as the CSMS's latencies are: a probe
    that wakes 67 s late also stands for the 6,700 probes the frozen loop
    could not run (each later by one period less), so a 67 s freeze is a 67 s
    freeze in every percentile, not one sample among thousands."""
    histogram = recorder.simulator_histogram("loop_lag")
    period_us = us(period_s)
    due_s = (trio.current_time() if since_s is None else since_s) + period_s
    while True:
        await trio.sleep_until(due_s)
        histogram.record_corrected_value(us(trio.current_time() - due_s), period_us)
        due_s = trio.current_time() + period_s


class _GcTimer:
    """A ``gc.callbacks`` entry: the collector calls it at the start and the end
    of every collection, in the thread that triggered it."""

    def __init__(self, recorder: Recorder) -> None:
        self.histogram = recorder.simulator_histogram("gc_pause")
        self.counters = recorder.simulator_counters
        self.names = tuple(f"gc.collections.{generation}" for generation in range(3))
        self.started_s = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self.started_s = time.perf_counter()
        else:
            self.histogram.record_value(us(time.perf_counter() - self.started_s))
            self.counters[self.names[info["generation"]]] += 1


# The young generations' cadence while the embedded CSMS shares the fleet's
# process: it keeps a task a connection waiting for the next message, and each
# message replaces that wait's objects (five coroutines and their frames) with
# new ones.  The collector's count nets allocations against frees, so it hardly
# moves while the young generation fills with live objects: a collection, when
# one came, walked 5,000-8,000 of them (2-3 ms at the quickstart's 250
# stations) and every tenth 16,000-21,000 (6-8 ms).  On a clock, each walk holds
# only what came since the last one.
YOUNG_COLLECTION_PERIOD_S: Final = 0.1


async def collect_young(period_s: float = YOUNG_COLLECTION_PERIOD_S) -> None:
    """Collect the young generations (0 and 1) every ``period_s``: their
    survivors go to the old one, which the run does not collect
    (fleetsim.engine.fleet.GC_RUN_THRESHOLDS)."""
    while True:
        await trio.sleep(period_s)
        gc.collect(1)


@contextmanager
def watch_gc(recorder: Recorder) -> Iterator[None]:
    """Time every garbage collection while the block runs."""
    timer = _GcTimer(recorder)
    gc.callbacks.append(timer)
    try:
        yield
    finally:
        gc.callbacks.remove(timer)


@contextmanager
def gc_unwatched() -> Iterator[None]:
    """A deliberate collection while nothing is in flight (before the first
    station connects) stalls no measurement: leave it out of the figures."""
    watching = [callback for callback in gc.callbacks if isinstance(callback, _GcTimer)]
    for callback in watching:
        gc.callbacks.remove(callback)
    try:
        yield
    finally:
        gc.callbacks.extend(watching)
