"""The station test bench (tests/station/harness.py) for session tests: a
station paired with the embedded CSMS's pure logic, in virtual time."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "station"))

import heapq
from collections.abc import Callable

from core_steps import AC_3PHASE, DC_2CCS, booted, calls, meter_values, model
from harness import Bench

DATA = Path(__file__).resolve().parents[2] / "scenarios" / "data"

__all__ = ["AC_3PHASE", "DATA", "DC_2CCS", "Bench", "booted", "calls", "meter_values", "model", "run_late"]


def run_late(bench: Bench, end_s: float, lag_s: Callable[[], float]) -> None:
    """``Bench.run_until``, with the station's timers run late as a lagging
    event loop runs them: each wake-up ``lag_s()`` seconds after it was due
    (the CSMS's answers arrive on time)."""
    while True:
        next_delivery = bench._deliveries[0][0] if bench._deliveries else float("inf")
        wake_s = bench.station.wake_at_s
        if min(wake_s, next_delivery) > end_s:
            break
        if next_delivery <= wake_s:
            bench.now_s = max(bench.now_s, next_delivery)
            _, _, data = heapq.heappop(bench._deliveries)
            if bench.connected:
                bench.station.on_message(data, bench.now_s)
        else:
            bench.now_s = max(bench.now_s, wake_s + lag_s())
            bench.station.on_timer(bench.now_s)
        bench._drain()
    bench.now_s = max(bench.now_s, end_s)
