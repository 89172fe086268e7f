"""The simulator's own latency: fleetsim's heartbeat latency against a
separate probe's on the same CSMS at the same moment.

    python benchmarks/selflag.py --stations 2000 --rates 8500,13500
    python benchmarks/selflag.py --stations 2000 --rates 7000,11000 --csms embedded

For each offered rate, three processes: a CSMS, a fleet of ``--stations``
sending heartbeats at that rate, and a probe: a bare Python client in a process
of its own with ``--probe-sockets`` connections, each sending a Heartbeat and
timing its answer with a blocking read, one call at a time.  Both measure over
the same wall-clock window.  What fleetsim reports above the probe is what the
simulator adds of its own (its loop, its collector, its reading); the CSMS's
queueing is in both.

The CSMS is responder.py by default: a bare loop that costs a fraction of the
embedded CSMS per call, so that near the fleet's maximum rate the two cores
still have room for the CSMS, and its queueing does not drown what the fleet
adds.  ``--csms embedded`` takes fleetsim's own CSMS, which needs a core of its
own at these rates: the machine is then saturated, and the figure is mostly how
the fleet's sending lines up with the CSMS's queue.

The fleet's answered calls per second (heartbeats, and the clock-aligned meter
values that fall due at the run's speed) and its CPU share are printed beside
the latencies.  Choose the rates with ``fleet.py throughput --csms bare``: the
bars are 50 % and 80 % of the fleet's maximum rate, in answered calls.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import statistics
import subprocess
import sys
import time

import trio
from fleet import Csms, _answered, _booted, _fleet  # benchmarks/fleet.py
from floor import masked_text, open_connections  # benchmarks/floor.py

from fleetsim import build
from fleetsim.engine.limits import raise_open_files_limit
from fleetsim.metrics.histogram import new_histogram
from fleetsim.metrics.recorder import Recorder


async def _fleet_side(params: dict) -> dict:
    stations, port = params["stations"], params["port"]
    recorder = Recorder()
    fleet = _fleet(stations, port, params["rate"] * 60 / stations, False, recorder)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(fleet.run, 5000.0)
        while _booted(recorder) < stations:
            await trio.sleep(0.2)
        await trio.sleep(max(0.0, params["start_at"] - time.time()))
        recorder.fold()  # the window starts empty
        answered0, cpu0, wall0 = _answered(recorder), time.process_time(), time.perf_counter()
        await trio.sleep(max(0.0, params["end_at"] - time.time()))
        wall = time.perf_counter() - wall0
        answered_per_s, cpu_share = (_answered(recorder) - answered0) / wall, (time.process_time() - cpu0) / wall
        window = new_histogram()
        for model in recorder.models.values():
            if "Heartbeat" in model.exchanges:
                window.add(model.exchanges["Heartbeat"].service_interval)
        nursery.cancel_scope.cancel()
    return {"answered_per_s": answered_per_s, "cpu_share": cpu_share,
            "count": window.get_total_count(), "p50_ms": window.get_value_at_percentile(50) / 1000,
            "p99_ms": window.get_value_at_percentile(99) / 1000, "max_ms": window.get_max_value() / 1000}


def _probe_side(params: dict) -> dict:
    socks = open_connections(params["port"], params["sockets"])
    latencies_ms: list[float] = []
    seq = 0
    period_s = 1.0 / params["per_socket_per_s"]
    while time.time() < params["end_at"]:
        for sock in socks:
            seq += 1
            sent = time.perf_counter()
            sock.send(masked_text(b'[2,"p%d","Heartbeat",{}]' % seq))
            select.select([sock], [], [])
            sock.recv(4096)
            elapsed_ms = (time.perf_counter() - sent) * 1000
            if params["start_at"] <= time.time() <= params["end_at"]:
                latencies_ms.append(elapsed_ms)
        time.sleep(period_s)
    latencies_ms.sort()
    pick = lambda q: latencies_ms[min(len(latencies_ms) - 1, int(q * len(latencies_ms)))]  # noqa: E731
    return {"count": len(latencies_ms), "p50_ms": pick(0.5), "p99_ms": pick(0.99), "max_ms": latencies_ms[-1]}


def _worker(side: str, params: dict) -> None:
    raise_open_files_limit(params.get("stations", 0) + 1024)
    result = trio.run(_fleet_side, params) if side == "fleet" else _probe_side(params)
    print(json.dumps(result))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_worker":
        _worker(sys.argv[2], json.loads(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stations", type=int, default=2000)
    parser.add_argument("--rates", type=lambda text: [int(part) for part in text.split(",")], default=[8500, 13500])
    parser.add_argument("--window", type=float, default=15.0)
    parser.add_argument("--probe-sockets", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--csms", choices=("bare", "embedded"), default="bare",
                        help="responder.py (a bare loop that keeps up) or fleetsim's embedded CSMS")
    args = parser.parse_args()
    print(f"self-added latency, {os.cpu_count()} cores, python {sys.version.split()[0]}, {build.kind()} build: "
          f"{args.stations} stations sending heartbeats, a probe of {args.probe_sockets} sockets in its own process, "
          f"windows of {args.window:g} s, {args.csms} CSMS, median of {args.repeat}")
    print(f"{'offered/s':>10} {'answered/s':>10} {'fleet CPU':>10} {'fleet p50':>10} {'fleet p99':>10} "
          f"{'probe p50':>10} {'probe p99':>10} {'p99 added':>10}   (ms)")
    with Csms(heartbeat_interval_s=60, bare=args.csms == "bare") as csms:
        for rate in args.rates:
            runs = []
            for _ in range(args.repeat):
                start_at = time.time() + 12.0  # after the ramp and boot (fleet.py's 5,000/s ramp)
                window = {"port": csms.port, "start_at": start_at, "end_at": start_at + args.window}
                fleet = subprocess.Popen([sys.executable, __file__, "_worker", "fleet",
                                          json.dumps({**window, "stations": args.stations, "rate": rate})],
                                         stdout=subprocess.PIPE, text=True)
                probe = subprocess.Popen([sys.executable, __file__, "_worker", "probe",
                                          json.dumps({**window, "sockets": args.probe_sockets,
                                                      "per_socket_per_s": 25})],
                                         stdout=subprocess.PIPE, text=True)
                fleet_out, probe_out = fleet.communicate()[0], probe.communicate()[0]
                runs.append((json.loads(fleet_out.strip().splitlines()[-1]),
                             json.loads(probe_out.strip().splitlines()[-1])))
            pick = lambda side, key: statistics.median(run[side][key] for run in runs)  # noqa: E731
            added = statistics.median(run[0]["p99_ms"] - run[1]["p99_ms"] for run in runs)
            print(f"{rate:>10} {pick(0, 'answered_per_s'):>10.0f} {pick(0, 'cpu_share'):>10.2f} "
                  f"{pick(0, 'p50_ms'):>10.2f} {pick(0, 'p99_ms'):>10.2f} {pick(1, 'p50_ms'):>10.2f} "
                  f"{pick(1, 'p99_ms'):>10.2f} {added:>10.2f}")


if __name__ == "__main__":
    main()
