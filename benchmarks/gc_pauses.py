"""Garbage-collector pauses of a loaded fleet under different collector
settings, to choose the one fleetsim uses (measure, don't guess).

    python benchmarks/gc_pauses.py --stations 2000 --rate 5000 --window 20

Each variant runs in a fresh simulator process against the embedded CSMS in
another process (as in fleet.py): stations with sessions (so meter values,
transactions and status notifications make garbage), ramped up, then measured
over a window.  Variants:

* ``collect+freeze``: after ramp-up, ``gc.collect(); gc.freeze()`` (what
  fleetsim did before this measurement);
* ``freeze``: after ramp-up, ``gc.freeze()`` only (no full collection);
* ``gen0=N``: the same with the generation-0 threshold raised to N.

The GC time per second is the sum of the pauses (what the event loop lost);
the loop lag p99 is what every other task waited, GC included.

Printed per variant: the post-ramp step's own pause, collections and GC time in
the window, pause p50/p99/max, event-loop lag p99 and calls per CPU-second.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import time

import trio
from fleet import Csms, _answered, _booted, _fleet, cpu_s  # benchmarks/fleet.py

from fleetsim.engine.limits import raise_open_files_limit
from fleetsim.engine.watch import watch_gc, watch_loop_lag
from fleetsim.metrics.recorder import Recorder

VARIANTS = {
    "collect+freeze": {"collect": True, "gen0": None},
    "freeze": {"collect": False, "gen0": None},
    "freeze, gen0=5000": {"collect": False, "gen0": 5_000},
    "freeze, gen0=20000": {"collect": False, "gen0": 20_000},
    "freeze, gen0=50000": {"collect": False, "gen0": 50_000},
    "freeze, 700/10/no gen2": {"collect": False, "gen0": 700, "gen2": 1_000_000},
    "freeze, 2000/10/no gen2": {"collect": False, "gen0": 2_000, "gen2": 1_000_000},
}


async def _measure(params: dict) -> dict:
    stations, port, window_s = params["stations"], params["port"], params["window_s"]
    recorder = Recorder()
    speed = params["rate"] * 60 / stations  # heartbeats every 60 s simulated, plus sessions
    fleet = _fleet(stations, port, speed, True, recorder)
    with watch_gc(recorder):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch_loop_lag, recorder)
            nursery.start_soon(lambda: fleet.run(2000.0, freeze_gc_after_ramp=False))
            while _booted(recorder) < stations:  # every link open: what lives for the run exists
                await trio.sleep(0.1)
            began = time.perf_counter()
            if params["collect"]:
                gc.collect()
            gc.freeze()
            post_ramp_ms = (time.perf_counter() - began) * 1000
            if params["gen0"] is not None:
                gc.set_threshold(params["gen0"], *gc.get_threshold()[1:])
            if params.get("gen2") is not None:
                gc.set_threshold(*gc.get_threshold()[:2], params["gen2"])
            await trio.sleep(params["warmup_s"])
            recorder.fold()  # start the window with empty totals
            for histogram in (*recorder.simulator.values(),):
                histogram.zero()
            recorder.simulator_counters.clear()
            calls0, cpu0, wall0 = _answered(recorder), cpu_s(), time.perf_counter()
            await trio.sleep(window_s)
            calls, cpu, wall = _answered(recorder) - calls0, cpu_s() - cpu0, time.perf_counter() - wall0
            nursery.cancel_scope.cancel()
    recorder.fold()
    pauses, loop = recorder.simulator["gc_pause"], recorder.simulator["loop_lag"]
    total_gc_ms = sum(value * count for value, count in _values(pauses)) / 1000
    return {
        "post_ramp_ms": post_ramp_ms, "collections": dict(recorder.simulator_counters),
        "gc_ms_per_s": total_gc_ms / wall, "pause_p50_ms": pauses.get_value_at_percentile(50) / 1000,
        "pause_p99_ms": pauses.get_value_at_percentile(99) / 1000, "pause_max_ms": pauses.get_max_value() / 1000,
        "loop_p99_ms": loop.get_value_at_percentile(99) / 1000, "calls_per_s": calls / wall,
        "calls_per_cpu_s": calls / cpu if cpu else 0.0,
    }


def _values(histogram):  # type: ignore[no-untyped-def]
    for item in histogram.get_recorded_iterator():
        yield item.value_iterated_to, item.count_at_value_iterated_to


def _worker(params: dict) -> None:
    raise_open_files_limit(params["stations"] + 1024)
    print(json.dumps(trio.run(_measure, params)))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_worker":
        _worker(json.loads(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stations", type=int, default=2000)
    parser.add_argument("--rate", type=int, default=5000)
    parser.add_argument("--window", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--variants", default=";".join(VARIANTS), help="names of the variants to run, separated by ;")
    args = parser.parse_args()
    chosen = args.variants.split(";")
    print(f"GC pauses: {args.stations} stations with sessions, {args.rate} calls/s offered, "
          f"{args.window:g} s window, median of {args.repeat}")
    print(f"{'variant':<28} {'post-ramp ms':>12} {'gen0/s':>7} {'gen1/s':>7} {'gen2':>5} {'GC ms/s':>8} "
          f"{'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'loop p99':>9} {'calls/CPU-s':>12}")
    with Csms(heartbeat_interval_s=60) as csms:
        for name, variant in VARIANTS.items():
            if name not in chosen:
                continue
            runs = []
            for _ in range(args.repeat):
                params = {"stations": args.stations, "port": csms.port, "rate": args.rate, "window_s": args.window,
                          "warmup_s": 3, **variant}
                output = subprocess.run([sys.executable, __file__, "_worker", json.dumps(params)],
                                        capture_output=True, text=True, check=True)
                runs.append(json.loads(output.stdout.strip().splitlines()[-1]))
            def pick(key: str, runs: list[dict] = runs) -> float:
                return statistics.median(r[key] for r in runs)

            def per_s(gen: int, runs: list[dict] = runs) -> float:
                return statistics.median(r["collections"].get(f"gc.collections.{gen}", 0) for r in runs)

            print(f"{name:<28} {pick('post_ramp_ms'):>12.1f} {per_s(0) / args.window:>7.1f} "
                  f"{per_s(1) / args.window:>7.1f} {per_s(2):>5.0f} {pick('gc_ms_per_s'):>8.2f} "
                  f"{pick('pause_p50_ms'):>7.2f} {pick('pause_p99_ms'):>7.2f} {pick('pause_max_ms'):>7.2f} "
                  f"{pick('loop_p99_ms'):>9.2f} {pick('calls_per_cpu_s'):>12.0f}")


if __name__ == "__main__":
    main()
