"""A fleet whose collector is watched for a minute of traffic after its ramp
(tests/engine/test_gc.py runs it in a process of its own).

    python tests/engine/gc_fleet.py PORT STATIONS SECONDS

Prints one JSON line: collections, the longest pause (ms) and the calls
answered in the window, or why it could not run.
"""

from __future__ import annotations

import json
import random
import sys
from datetime import UTC, datetime

import trio

from fleetsim.engine.fleet import ConnectOptions, Fleet
from fleetsim.engine.limits import raise_open_files_limit
from fleetsim.engine.link import Target
from fleetsim.engine.run import RunSpec, build_stations, shares
from fleetsim.engine.watch import watch_gc
from fleetsim.metrics.recorder import Recorder
from fleetsim.profiles.builtin import load_builtin
from fleetsim.sessions.simple import SimpleSessions
from fleetsim.station.timebase import Timebase


def _answered(recorder: Recorder) -> int:
    return sum(stats.answered for model in recorder.models.values() for stats in model.exchanges.values())


async def main(port: int, stations: int, window_s: float) -> dict[str, object]:
    profiles = load_builtin()
    recorder = Recorder()
    spec = RunSpec(fleet=shares(sorted(profiles), stations), duration_s=0, reaction_delays=False,
                   sessions=SimpleSessions(mean_idle_s=120.0, mean_connected_s=600.0))
    timebase = Timebase(trio.current_time(), datetime.now(UTC), 1.0)
    fleet = Fleet(build_stations(spec, profiles, recorder, timebase),
                  ConnectOptions(Target.parse(f"ws://127.0.0.1:{port}/ocpp")), recorder, random.Random(1))
    with watch_gc(recorder):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(fleet.run, 2000.0)
            with trio.fail_after(120):
                while recorder.counters().get("stations.booted", 0) < stations:
                    await trio.sleep(0.5)
            await trio.sleep(5.0)  # the boots' status notifications
            recorder.simulator["gc_pause"].zero()
            answered = _answered(recorder)
            await trio.sleep(window_s)
            pauses = recorder.simulator["gc_pause"]
            result = {"collections": pauses.get_total_count(), "longest_ms": pauses.get_max_value() / 1000,
                      "answered": _answered(recorder) - answered}
            nursery.cancel_scope.cancel()
    return result


if __name__ == "__main__":
    port, stations, window_s = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    if raise_open_files_limit(stations + 500) < stations + 500:
        print(json.dumps({"skipped": f"the open-files limit is below {stations + 500:,}"}))
    else:
        print(json.dumps(trio.run(main, port, stations, window_s)))
