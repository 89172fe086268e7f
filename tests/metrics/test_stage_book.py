"""A stage's plateau is measured over whole intervals of the run's grid that
lie inside it: from its plateau's first tick to the last tick at or before
the stage's end, never an interval that runs into the next stage (its ramp),
in one process (StageBook, fed tick by tick) as in a merge (merged_stages,
fed the merged log's intervals)."""

from __future__ import annotations

from fleetsim.metrics import hlog
from fleetsim.metrics.histogram import new_histogram
from fleetsim.metrics.stages import StageBook, merged_stages
from fleetsim.metrics.tally import ExchangeTally, ModelTally, Tally
from fleetsim.spec.stages import Stage, stage_windows

TAG = "corrected.model-a.Heartbeat"


def _tally(answered: int) -> Tally:
    return Tally({"model-a": ModelTally(10.0, {}, {}, {"Heartbeat": ExchangeTally(answered, {}, 0, 0)})})


def _line(start_s: float, calls: int, latency_us: int) -> str:
    histogram = new_histogram()
    histogram.record_value(latency_us, calls)
    return hlog.interval_line(TAG, start_s, 1.0, histogram)


def _run(windows: list, calls: list[int], latency_us: list[int]) -> StageBook:
    """Ticks at 1, 2, ... s (a few ms late, as the engine's are): interval
    k (from k-1 to k s) answered ``calls[k-1]`` calls of ``latency_us[k-1]``."""
    book = StageBook(windows, 1.0)
    answered = 0
    for k, (n, latency) in enumerate(zip(calls, latency_us, strict=True), start=1):
        answered += n
        book.tick(k + 0.004, [_line(k - 1.0, n, latency)], _tally(answered), (answered, answered))
    return book


def test_a_stage_ending_between_ticks_leaves_out_the_interval_running_into_the_next_stage() -> None:
    # Stage 1: 0 → 10 at 10/s, plateau from 2 s to the stage's end at 6.6 s; stage 2 ramps from 6.6 s.
    windows = stage_windows([Stage(6.6, 10), Stage(5, 30)], ramp_per_s=10, interval_s=1.0)
    assert (windows[0].plateau_start_s, windows[0].end_s) == (2.0, 6.6)
    # Intervals 3-6 (2 s to 6 s) hold stage 1's steady load; interval 7 (6-7 s) the next stage's ramp, slow.
    calls = [5, 5, 10, 10, 10, 10, 40, 40, 40, 40, 40, 40]
    latency = [100, 100, 1_000, 1_000, 1_000, 1_000, 900_000, 2_000, 2_000, 2_000, 2_000, 2_000]
    first = _run(windows, calls, latency).sections()[0]
    assert first["measured_s"] == 4.0  # 2-3, 3-4, 4-5, 5-6: whole intervals inside the plateau
    heartbeat = first["fleet"]["exchanges"]["Heartbeat"]
    assert heartbeat["answered"] == heartbeat["count"] == 40
    assert heartbeat["corrected_ms"]["max"] < 2  # nothing of the ramp's 900 ms
    assert first["calls_per_s"] == 10.0


def test_a_stage_ending_on_a_tick_keeps_its_last_interval() -> None:
    windows = stage_windows([Stage(6, 10), Stage(6, 30)], ramp_per_s=10, interval_s=1.0)
    calls = [5, 5, 10, 10, 10, 10, 40, 40, 40, 40, 40, 40]
    first = _run(windows, calls, [1_000] * 12).sections()[0]
    assert first["measured_s"] == 4.0 and first["fleet"]["exchanges"]["Heartbeat"]["answered"] == 40


def test_a_merge_leaves_out_the_interval_running_into_the_next_stage_too() -> None:
    windows = stage_windows([Stage(6.6, 10), Stage(5, 30)], ramp_per_s=10, interval_s=1.0)
    calls = [5, 5, 10, 10, 10, 10, 40, 40, 40, 40, 40, 40]
    latency = [100, 100, 1_000, 1_000, 1_000, 1_000, 900_000, 2_000, 2_000, 2_000, 2_000, 2_000]
    shard = _run(windows, calls, latency).sections()
    intervals = []
    for k, (n, value) in enumerate(zip(calls, latency, strict=True)):
        histogram = new_histogram()
        histogram.record_value(value, n)
        intervals.append((float(k), 1.0, TAG, histogram))
    merged = merged_stages([shard], intervals)[0]
    heartbeat = merged["fleet"]["exchanges"]["Heartbeat"]
    assert heartbeat["count"] == 40 and heartbeat["corrected_ms"]["max"] < 2
