"""The simulator watches itself: GC pauses and event-loop lag land in the
recorder's simulator histograms."""

from __future__ import annotations

import gc
import time
from functools import partial
from itertools import pairwise

import pytest
import trio

from fleetsim.engine.watch import watch_gc, watch_loop_lag
from fleetsim.metrics.recorder import Recorder


def test_every_collection_is_timed_and_counted_while_watched() -> None:
    recorder = Recorder()
    callbacks = list(gc.callbacks)
    with watch_gc(recorder):
        garbage = [[] for _ in range(1000)]
        for a, b in pairwise(garbage):
            a.append(b)
            b.append(a)  # cycles: only the collector frees them
        del garbage, a, b
        started = time.perf_counter()
        gc.collect()
        took_us = (time.perf_counter() - started) * 1e6
    assert gc.callbacks == callbacks  # unhooked
    pauses = recorder.simulator_histogram("gc_pause")
    assert pauses.total_count >= 1
    assert recorder.simulator_counters["gc.collections.2"] >= 1
    assert 0 < pauses.get_max_value() <= took_us * 1.01 + 1
    count = pauses.total_count
    gc.collect()
    assert pauses.total_count == count  # not watched any more


async def test_loop_lag_is_near_zero_when_nothing_blocks(autojump_clock: trio.abc.Clock) -> None:
    recorder = Recorder()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch_loop_lag, recorder)
        await trio.sleep(1.0)
        nursery.cancel_scope.cancel()
    lag = recorder.simulator_histogram("loop_lag")
    assert 99 <= lag.total_count <= 100  # every 10 ms
    assert lag.get_max_value() <= 1  # virtual time: exactly on time (1 µs is the histogram's floor)


async def test_a_task_that_blocks_the_loop_shows_up_as_lag() -> None:
    recorder = Recorder()
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch_loop_lag, recorder)
            await trio.sleep(0.05)
            time.sleep(0.08)  # what a long batch of work (or a GC pause) does to every other task
            await trio.sleep(0.05)
            nursery.cancel_scope.cancel()
    lag = recorder.simulator_histogram("loop_lag")
    assert lag.get_max_value() / 1000 == pytest.approx(80, abs=15)


def test_a_deliberate_collection_before_any_traffic_is_left_out() -> None:
    from fleetsim.engine.watch import gc_unwatched

    recorder = Recorder()
    with watch_gc(recorder):
        with gc_unwatched():
            gc.collect()
        assert recorder.simulator_histogram("gc_pause").total_count == 0
        gc.collect()
    assert recorder.simulator_histogram("gc_pause").total_count == 1


async def test_a_long_freeze_weighs_in_the_percentiles_as_long_as_it_lasted() -> None:
    # A loop frozen for 67 s once showed as a lag p99 of 4.3 ms: one late
    # probe among thousands.  Corrected for coordinated omission, a freeze
    # of half the watched time puts the median inside the freeze.
    recorder = Recorder()
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch_loop_lag, recorder)
            await trio.sleep(0.3)
            time.sleep(0.4)
            await trio.sleep(0.05)
            nursery.cancel_scope.cancel()
    lag = recorder.simulator_histogram("loop_lag")
    frozen = sum(
        item.count_at_value_iterated_to for item in lag.get_recorded_iterator() if item.value_iterated_to > 100_000)
    assert frozen >= 25  # the probes the 0.4 s freeze kept from running, 10 ms apart, later than 100 ms
    assert lag.get_value_at_percentile(90) > 100_000


async def test_a_watch_given_its_start_counts_a_block_before_its_first_run() -> None:
    # The run starts the watch when the fleet reports started; a fleet that
    # starts every station at once (ramp 0) holds the loop before the watch
    # first runs, and that hold is the run's lag.
    recorder = Recorder()
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(partial(watch_loop_lag, recorder, since_s=trio.current_time()))
            time.sleep(0.08)  # before the watch's first step
            await trio.sleep(0.05)
            nursery.cancel_scope.cancel()
    lag = recorder.simulator_histogram("loop_lag")
    assert lag.get_max_value() / 1000 == pytest.approx(70, abs=15)  # its first probe was due 10 ms in
