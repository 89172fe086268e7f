"""What recording costs: the hot path (one answer, two views), and the
periodic work of an interval tick (encode, fold, zero, percentiles).

    python benchmarks/recorder.py

Medians of 7 repetitions, in-process, no network.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import timeit
from datetime import UTC, datetime
from pathlib import Path

from hdrh.histogram import HdrHistogram

from fleetsim.metrics.histogram import new_histogram
from fleetsim.metrics.intervals import Census, IntervalWriter
from fleetsim.metrics.recorder import ExchangeStats, Recorder


def _median_us(function, number: int) -> float:  # type: ignore[no-untyped-def]
    return statistics.median(timeit.repeat(function, number=number, repeat=7)) / number * 1e6


def hot_path() -> None:
    rng = random.Random(1)
    times = [(t, t + rng.random() * 0.01, t + 0.01 + rng.random() * 0.05) for t in (rng.random() * 100
                                                                                   for _ in range(100_000))]
    stats = ExchangeStats(30.0)
    record = stats.record_answer

    def answers() -> None:
        for due_s, sent_s, answered_s in times:
            record(due_s, sent_s, answered_s)

    def loop() -> None:
        for _due_s, _sent_s, _answered_s in times:
            pass

    per_answer = (_median_us(answers, 1) - _median_us(loop, 1)) / len(times)
    print(f"record_answer (corrected + service, late check): {per_answer * 1000:.0f} ns per answer")


def histogram_operations() -> None:
    rng = random.Random(2)
    full = new_histogram()
    for _ in range(10_000):
        full.record_value(int(rng.lognormvariate(8, 1)))  # ~3 ms median, a long tail
    other = new_histogram()
    other.add(full)
    library = HdrHistogram(1, 3_600_000_000, 3)
    library.add(full)
    print(f"encode (hlog payload): {_median_us(full.encode, 200):.0f} µs")
    print(f"add (fold an interval into the total): {_median_us(lambda: other.add(full), 200):.0f} µs")
    print(f"zero (memset): {_median_us(other.zero, 2000):.1f} µs; library reset: {_median_us(library.reset, 5):.0f} µs")
    all_four = _median_us(lambda: full.values_at_percentiles((50, 90, 99, 99.9)), 200)
    print(f"p50+p90+p99+p99.9 in one pass: {all_four:.0f} µs; "
          f"library, each: {_median_us(lambda: library.get_value_at_percentile(99), 20):.0f} µs")


def tick() -> None:
    rng = random.Random(3)
    recorder = Recorder()
    actions = ("Heartbeat", "MeterValues", "StatusNotification", "StartTransaction", "StopTransaction", "Authorize",
               "BootNotification", "DataTransfer")
    for model_index in range(5):
        model = recorder.model(f"model-{model_index}", 30.0)
        for action in actions:
            model.exchange(action)
    with tempfile.TemporaryDirectory() as folder:
        writer = IntervalWriter(Path(folder), recorder, datetime(2025, 1, 1, tzinfo=UTC))
        durations, steps = [], []
        for second in range(1, 8):
            for model in recorder.models.values():
                for stats in model.exchanges.values():
                    for _ in range(50):
                        sent_s = second + rng.random()
                        stats.record_answer(sent_s, sent_s, sent_s + rng.lognormvariate(-6, 1))
            longest = 0.0
            started = timeit.default_timer()
            last = started
            for _ in writer.tick_steps(float(second), Census()):
                now = timeit.default_timer()
                longest, last = max(longest, now - last), now
            durations.append(timeit.default_timer() - started)
            steps.append(longest)
        writer.close(8.0, Census())
    series = sum(1 for _, interval, _ in recorder.series()) - 3
    print(f"interval tick, 5 models x 8 actions ({series} latency series, all recorded): "
          f"{statistics.median(durations) * 1000:.1f} ms in all, longest step {statistics.median(steps) * 1000:.2f} ms")


if __name__ == "__main__":
    hot_path()
    histogram_operations()
    tick()
