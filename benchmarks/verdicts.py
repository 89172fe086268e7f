"""What verdicts cost: abort thresholds judged live at every interval, and
compare's noise band.

    python benchmarks/verdicts.py            # both
    python benchmarks/verdicts.py live       # abort thresholds only
    python benchmarks/verdicts.py compare    # the noise band only

live: a recorder holding what 20,000 stations record in ten minutes (5 models
x 10 actions, 1.3 M answers a model, every latency spread over four orders of
magnitude), then the abort thresholds judged after a fold as the run does
(fleetsim.cli.gates.AbortWatch): the time per interval, and the longest step
the event loop waits for (the watch lets the loop's other tasks run between
figures).

compare: two 10-minute runs of 5 models x 10 actions at a 1 s interval
(latency.hlog written by the interval writer), compared with a p99 limit:
reading the logs and bootstrapping every band.

Medians of 5 repetitions (live) or of 3 (compare), CPU time of this process.
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import trio

from fleetsim.cli.gates import AbortWatch, compare_folders
from fleetsim.engine.run import FleetShare, RunSpec
from fleetsim.metrics.intervals import Census, IntervalWriter
from fleetsim.metrics.recorder import Recorder
from fleetsim.metrics.results import summary_document, write_summary
from fleetsim.report.compare import parse_regression_limits
from fleetsim.report.folder import read_summary
from fleetsim.report.thresholds import parse_threshold

MODELS = 5
ACTIONS = ("Heartbeat", "MeterValues", "StatusNotification", "StartTransaction", "StopTransaction", "Authorize",
           "BootNotification", "DataTransfer", "FirmwareStatusNotification", "DiagnosticsStatusNotification")
THRESHOLDS = [
    "errors.rate < 1% abort",
    "timeouts == 0 abort",
    "BootNotification.p99 < 2s abort",
    "connect.p99 < 1s abort",
    "*.p99 < 10s abort",
    "*.p99.9 < declared abort",
]


def _stations_recorder(answers_per_model: int) -> Recorder:
    """A recorder as 20,000 stations leave it after ten minutes."""
    rng = random.Random(1)
    recorder = Recorder()
    for index in range(MODELS):
        model = recorder.model(f"model-{index}", 30.0)
        for action in ACTIONS:
            stats = model.exchange(action)
            for _ in range(answers_per_model // len(ACTIONS) // 50):
                latency_s = rng.lognormvariate(-6, 1.5)  # 2.5 ms median, a tail to seconds
                for _ in range(50):  # the same bucket 50 times: the histogram's shape is what costs
                    stats.record_answer(0.0, 0.0, latency_s)
            stats.record_error("InternalError")
        for _ in range(4000):
            model.record_reaction("connect", rng.lognormvariate(-5, 1))
        model.count("connect.ok", 4000)
    recorder.fold()
    return recorder


def live() -> None:
    recorder = _stations_recorder(1_300_000)
    for expression in THRESHOLDS:
        watch = AbortWatch([parse_threshold(expression.replace(" abort", " abort after 0s"))], recorder)
        totals, longest = [], []

        async def judge() -> None:
            last = time.process_time()
            worst = 0.0

            async def clock() -> None:  # wakes at every checkpoint of the watch
                nonlocal last, worst
                while True:
                    await trio.lowlevel.checkpoint()
                    now = time.process_time()
                    worst, last = max(worst, now - last), now

            async with trio.open_nursery() as nursery:
                nursery.start_soon(clock)
                await trio.sleep(0)  # the clock's first wait
                started = time.process_time()
                last = started
                await watch(1.0)
                totals.append(time.process_time() - started)
                longest.append(worst)
                nursery.cancel_scope.cancel()

        for _ in range(5):
            watch.aborted = None
            trio.run(judge)
        print(f"{expression:<32} {statistics.median(totals) * 1000:7.2f} ms per interval, "
              f"longest step {statistics.median(longest) * 1000:5.2f} ms")


def _run_folder(out: Path, seed: int, seconds: int) -> Path:
    rng = random.Random(seed)
    recorder = Recorder()
    writer = IntervalWriter(out, recorder, datetime(2025, 1, 1, tzinfo=UTC))
    models = [recorder.model(f"model-{index}", 30.0) for index in range(MODELS)]
    for second in range(1, seconds + 1):
        for model in models:
            for action in ACTIONS:
                stats = model.exchange(action)
                for _ in range(20):
                    stats.record_answer(0.0, 0.0, rng.lognormvariate(-6, 1.2))
        writer.tick(float(second), Census())
    writer.close(float(seconds), Census())
    spec = RunSpec(fleet=tuple(FleetShare(f"model-{index}", 4000) for index in range(MODELS)), duration_s=seconds)
    write_summary(out, summary_document(recorder, spec, None, run_id=out.name, host="bench"))
    return out


def compare() -> None:
    with tempfile.TemporaryDirectory() as folder:
        base, new = _run_folder(Path(folder) / "base", 1, 600), _run_folder(Path(folder) / "new", 2, 600)
        limits = parse_regression_limits("p99=10%")
        durations = []
        for _ in range(3):
            started = time.process_time()
            comparison = compare_folders(base, new, read_summary(base), read_summary(new), limits, min_count=1,
                                         confidence=0.99)
            durations.append(time.process_time() - started)
        bands = sum(len(row.bands) for row in comparison.rows)
        print(f"compare, 2 x 10 min, {len(comparison.rows)} rows, {bands} p99 bands: "
              f"{statistics.median(durations):.2f} s")


if __name__ == "__main__":
    which = sys.argv[1:] or ["live", "compare"]
    if "live" in which:
        live()
    if "compare" in which:
        compare()
