"""What the station logic costs per OCPP call, without sockets or an event loop.

The fleet's per-call cost is the kernel's (send, receive, epoll), the engine's
(framing, timers, readiness) and the station's: deciding what to send, making
it, and handling the answer.  This measures the last alone, in virtual time: a
fleet of stations of the built-in models is driven by their own wake-up times
and answered at once by a minimal CSMS in the same loop, as fast as the CPU
allows.  The CSMS's part (reading the unique id, picking a canned answer) is
measured apart and taken off.

    python benchmarks/station.py                        # both workloads
    python benchmarks/station.py --workload heartbeat   # Heartbeats (and clock-aligned MeterValues)
    python benchmarks/station.py --workload charging    # sessions, MeterValues every 1 s

Prints µs of station logic per call, the median of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import heapq
import random
import statistics
import sys
import time
from datetime import UTC, datetime

from fleetsim import build
from fleetsim.engine.run import FleetShare, RunSpec, build_stations, shares
from fleetsim.metrics.recorder import Recorder
from fleetsim.profiles.builtin import load_builtin
from fleetsim.sessions.simple import SimpleSessions
from fleetsim.station.station import Station
from fleetsim.station.timebase import Timebase

ANSWERS = {
    b"BootNotification": b'{"status":"Accepted","currentTime":"2026-01-01T00:00:00Z","interval":60}',
    b"Heartbeat": b'{"currentTime":"2026-01-01T00:00:00Z"}',
    b"Authorize": b'{"idTagInfo":{"status":"Accepted"}}',
    b"StartTransaction": b'{"transactionId":1,"idTagInfo":{"status":"Accepted"}}',
    b"StopTransaction": b"{}",
}


def answer(frame: bytes) -> bytes | None:
    """The CALLRESULT for one of our CALLs (None: not a CALL)."""
    if not frame.startswith(b'[2,"'):
        return None
    end = frame.index(b'"', 4)
    action_end = frame.index(b'"', end + 3)
    payload = ANSWERS.get(frame[end + 3:action_end], b"{}")
    return b'[3,"' + frame[4:end] + b'",' + payload + b"]"


def _stations(workload: str, count: int) -> list[Station]:
    profiles = load_builtin()
    speed = 600.0 if workload == "heartbeat" else 1.0
    timebase = Timebase(0.0, datetime(2026, 1, 1, tzinfo=UTC), speed)
    if workload == "heartbeat":
        # As benchmarks/fleet.py throughput: a 60 s (simulated) heartbeat, time
        # accelerated so that each station heartbeats every 0.1 s.
        spec = RunSpec(fleet=shares(sorted(profiles), count), duration_s=0, speed=speed, reaction_delays=False,
                       sessions=None)
    else:
        models = [pid for pid in sorted(profiles) if (profiles[pid].limits.meter_value_sample_interval_min_s or 0) <= 1]
        fleet = tuple(FleetShare(s.profile_id, s.stations, configuration=(("MeterValueSampleInterval", "1"),))
                      for s in shares(models, count))
        spec = RunSpec(fleet=fleet, duration_s=0, reaction_delays=False,
                       sessions=SimpleSessions(mean_idle_s=5.0, mean_connected_s=120.0, badge_delay_s=1.0))
    return build_stations(spec, profiles, Recorder(), timebase)


def run(workload: str, count: int, calls: int) -> tuple[float, float]:
    """(µs per call of station and harness, µs per call of the harness alone)."""
    stations = _stations(workload, count)
    heap: list[tuple[float, int, Station]] = []
    for index, station in enumerate(stations):
        station.on_connected(index * 1e-4)
        heap.append((station.wake_at_s, index, station))
    heapq.heapify(heap)
    frames: list[bytes] = []
    done = 0
    warm = calls // 5
    start = None
    while done < calls + warm:
        if start is None and done >= warm:
            start, counted = time.process_time(), done
        when_s, index, station = heapq.heappop(heap)
        now_s = max(when_s, 0.0)
        station.on_timer(now_s)
        if station.want_ping:
            station.on_ping_sent(now_s)  # as the engine does when it has sent it
        while station.outbox:
            sent = list(station.outbox)
            station.outbox.clear()
            for frame in sent:
                reply = answer(frame)
                if reply is not None:
                    if len(frames) < 50_000:
                        frames.append(frame)
                    done += 1
                    station.on_message(reply, now_s + 1e-4, now_s + 1e-4)
        heapq.heappush(heap, (station.wake_at_s, index, station))
    total = time.process_time() - start
    calls = done - counted
    # The harness alone: answering the frames it saw.
    begin = time.process_time()
    for _ in range(max(1, calls // len(frames))):
        for frame in frames:
            answer(frame)
    harness = (time.process_time() - begin) / (max(1, calls // len(frames)) * len(frames))
    return total / calls * 1e6, harness * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", choices=("heartbeat", "charging", "both"), default="both")
    parser.add_argument("--stations", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    random.seed(1)
    print(f"station logic, python {sys.version.split()[0]}, fleetsim {build.kind()} build")
    for workload in ("heartbeat", "charging") if args.workload == "both" else (args.workload,):
        figures = [run(workload, args.stations, args.calls) for _ in range(args.repeat)]
        station_us = statistics.median(total - harness for total, harness in figures)
        harness_us = statistics.median(harness for _, harness in figures)
        print(f"{workload:9}  {station_us:6.2f} µs of station logic per call  "
              f"({1e6 / station_us:,.0f} calls per CPU-second; the harness's {harness_us:.2f} µs taken off)")


if __name__ == "__main__":
    main()
