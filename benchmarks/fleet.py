"""Fleet benchmarks: memory per station, throughput per core, connect storms and
the simulator's own timer lag, against the embedded CSMS in another process on
loopback (so the two share no core's worth of work).

    python benchmarks/fleet.py idle --stations 1000,5000,10000,20000
    python benchmarks/fleet.py throughput --stations 2000 --rates 5000,10000,20000,30000
    python benchmarks/fleet.py throughput --stations 2000 --rates 60000      # the loop's maximum
    python benchmarks/fleet.py storm --stations 10000
    python benchmarks/fleet.py lag --stations 2000 --rate 8000
    python benchmarks/fleet.py realistic --stations 1000 --meter-interval 1
    python benchmarks/fleet.py realistic --stations 5000 --meter-interval 10

``throughput --no-pings`` sets every model's WebSocketPingInterval to 0 (what
the pings cost: under time acceleration they fall due as often as the rest).

A heartbeat loop's maximum is its figure when offered more than it sends (say
``--rates 60000`` for 2,000 stations here): its pings then fill the CPU that
the heartbeats leave, so a loop that answers all it is offered at a CPU share
of 1.00 is bound by the offer, not by its own cost, and the note column says so.

``throughput`` and ``realistic`` take ``--csms bare``: responder.py instead of
the embedded CSMS, a bare loop that answers at a fraction of its cost per call,
so that on two cores the fleet saturates first.

Each figure comes from a fresh simulator process.  Throughput is OCPP calls
answered per CPU-second of the simulator process (user + system time), i.e.
calls per second per core, with full station logic and latency recording.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import trio

from fleetsim import build
from fleetsim.engine.fleet import ConnectOptions, Fleet
from fleetsim.engine.limits import raise_open_files_limit
from fleetsim.engine.link import Target
from fleetsim.engine.run import FleetShare, RunSpec, build_stations, shares
from fleetsim.metrics.recorder import Recorder
from fleetsim.profiles.builtin import load_builtin
from fleetsim.sessions.simple import SimpleSessions
from fleetsim.station.timebase import Timebase

CSMS_CODE = """
import sys, trio
from fleetsim.csms.config import CsmsConfig
from fleetsim.csms.server import serve_csms
async def main():
    async with trio.open_nursery() as nursery:
        running = await nursery.start(serve_csms, CsmsConfig(heartbeat_interval_s=int(sys.argv[1])))
        print(running.port, flush=True)
trio.run(main)
"""


def rss_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def system_s() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_stime


def switches() -> int:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_nvcsw + usage.ru_nivcsw


class Csms:
    """The embedded CSMS in its own process; or, ``bare``, responder.py (a
    bare epoll loop answering every CALL: a fraction of the embedded CSMS's
    cost per call, so the fleet, not the CSMS, is what saturates)."""

    def __init__(self, heartbeat_interval_s: int, bare: bool = False) -> None:
        if bare:
            command = [sys.executable, str(Path(__file__).with_name("responder.py")),
                       "--heartbeat-interval", str(heartbeat_interval_s)]
        else:
            command = [sys.executable, "-c", CSMS_CODE, str(heartbeat_interval_s)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline().rsplit(":", 1)[-1])

    def __enter__(self) -> Csms:
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(10)


def run_worker(mode: str, **params: object) -> dict:
    """Run one measurement in a fresh process (a clean heap for RSS figures)."""
    output = subprocess.run([sys.executable, __file__, "_worker", mode, json.dumps(params)],
                            capture_output=True, text=True, check=False)
    if output.returncode != 0:
        raise RuntimeError(output.stderr[-2000:])
    return json.loads(output.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- workers (in the simulator process)


def _fleet(stations: int, port: int, speed: float, sessions: bool, recorder: Recorder, pings: bool = True) -> Fleet:
    profiles = load_builtin()
    fleet_shares = shares(sorted(profiles), stations)
    if not pings:  # WebSocketPingInterval 0 (§9.1): no ping from the station
        fleet_shares = tuple(msgspec.structs.replace(share, configuration=(("WebSocketPingInterval", "0"),))
                             for share in fleet_shares)
    spec = RunSpec(fleet=fleet_shares, duration_s=0, speed=speed, reaction_delays=False,
                   sessions=SimpleSessions() if sessions else None)
    timebase = Timebase(trio.current_time(), datetime.now(UTC), speed)
    built = build_stations(spec, profiles, recorder, timebase)
    return Fleet(built, ConnectOptions(Target.parse(f"ws://127.0.0.1:{port}")), recorder, random.Random(1))


def _charging_fleet(stations: int, port: int, meter_interval_s: int, recorder: Recorder, gather_s: float | None = None
                    ) -> tuple[Fleet, list[str]]:
    """Stations that charge most of the time, with MeterValues every
    ``meter_interval_s`` and a transaction cycle (plug in, authorize, start,
    meter, stop, unplug): the models whose certified range allows the interval."""
    profiles = load_builtin()
    models = [pid for pid in sorted(profiles)
              if (profiles[pid].limits.meter_value_sample_interval_min_s or 0) <= meter_interval_s]
    fleet_shares = tuple(FleetShare(share.profile_id, share.stations,
                                    configuration=(("MeterValueSampleInterval", str(meter_interval_s)),))
                         for share in shares(models, stations))
    # Sessions of about two minutes with 5 s between them: most connectors charge.
    sessions = SimpleSessions(mean_idle_s=5.0, mean_connected_s=120.0, badge_delay_s=1.0)
    spec = RunSpec(fleet=fleet_shares, duration_s=0, reaction_delays=False, sessions=sessions)
    timebase = Timebase(trio.current_time(), datetime.now(UTC), 1.0)
    built = build_stations(spec, profiles, recorder, timebase)
    options = ConnectOptions(Target.parse(f"ws://127.0.0.1:{port}"))
    if gather_s is not None:
        options = msgspec.structs.replace(options, gather_s=gather_s)
    return Fleet(built, options, recorder, random.Random(1)), models


def _booted(recorder: Recorder) -> int:
    return recorder.counters().get("boot.Accepted", 0)


def _answered(recorder: Recorder) -> int:
    return sum(stats.answered for model in recorder.models.values() for stats in model.exchanges.values())


async def _idle(params: dict) -> dict:
    stations, port = params["stations"], params["port"]
    baseline_kb = rss_kb()
    recorder = Recorder()
    fleet = _fleet(stations, port, 1.0, False, recorder)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(fleet.run, params["ramp"])
        while _booted(recorder) < stations:
            await trio.sleep(0.2)
        await trio.sleep(params["settle_s"])  # a few heartbeats each
        heartbeats = sum(m.exchanges["Heartbeat"].answered for m in recorder.models.values() if "Heartbeat" in m.exchanges)
        import gc

        gc.collect()
        used_kb = rss_kb() - baseline_kb
        nursery.cancel_scope.cancel()
    return {"stations": stations, "rss_delta_kb": used_kb, "kb_per_station": used_kb / stations,
            "connected": fleet.progress.connected, "heartbeats": heartbeats}


async def _throughput(params: dict) -> dict:
    stations, port, window_s = params["stations"], params["port"], params["window_s"]
    recorder = Recorder()
    # Heartbeat interval 60 s (simulated); speed sets the offered rate.
    speed = params["rate"] * 60 / stations
    fleet = _fleet(stations, port, speed, params["sessions"], recorder, params.get("pings", True))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(fleet.run, 5000.0)
        while _booted(recorder) < stations:
            await trio.sleep(0.2)
        await trio.sleep(params["warmup_s"])
        recorder.fold()  # the timer lag of the window only (fleet.timer_lag is the interval histogram)
        calls0, cpu0, wall0 = _answered(recorder), cpu_s(), time.perf_counter()
        pings0 = recorder.counters().get("websocket.ping", 0)
        await trio.sleep(window_s)
        calls, cpu, wall = _answered(recorder) - calls0, cpu_s() - cpu0, time.perf_counter() - wall0
        pings = recorder.counters().get("websocket.ping", 0) - pings0
        lag = fleet.timer_lag
        nursery.cancel_scope.cancel()
    return {"stations": stations, "offered_per_s": params["rate"], "answered_per_s": calls / wall,
            "cpu_share": cpu / wall, "calls_per_cpu_s": calls / cpu if cpu else 0.0,
            "pings_per_s": pings / wall, "timers_per_call": lag.get_total_count() / calls if calls else 0.0,
            "lag_p50_ms": lag.get_value_at_percentile(50) / 1000, "lag_p99_ms": lag.get_value_at_percentile(99) / 1000,
            "lag_max_ms": lag.get_max_value() / 1000, "lag_samples": lag.get_total_count()}


async def _realistic(params: dict) -> dict:
    stations, port, window_s = params["stations"], params["port"], params["window_s"]
    recorder = Recorder()
    fleet, models = _charging_fleet(stations, port, params["meter_interval_s"], recorder, params.get("gather_s"))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(fleet.run, 2000.0)
        while _booted(recorder) < stations:
            await trio.sleep(0.2)
        await trio.sleep(params["warmup_s"])  # sessions start, the rate settles
        recorder.fold()  # the timer lag of the window only (fleet.timer_lag is the interval histogram)
        calls0, cpu0, wall0, sys0, switches0 = _answered(recorder), cpu_s(), time.perf_counter(), system_s(), switches()
        out0, in0 = fleet.progress.messages_out, fleet.progress.messages_in
        await trio.sleep(window_s)
        timers = fleet.timer_lag.get_total_count()
        frames_out, frames_in = fleet.progress.messages_out - out0, fleet.progress.messages_in - in0
        calls, cpu, wall = _answered(recorder) - calls0, cpu_s() - cpu0, time.perf_counter() - wall0
        system, switched = system_s() - sys0, switches() - switches0
        charging = fleet.census()[1]
        lag = fleet.timer_lag
        nursery.cancel_scope.cancel()
    meter_values = sum(m.exchanges["MeterValues"].answered for m in recorder.models.values() if "MeterValues" in m.exchanges)
    return {"stations": stations, "models": models, "answered_per_s": calls / wall, "cpu_share": cpu / wall,
            "calls_per_cpu_s": calls / cpu if cpu else 0.0, "charging": charging, "meter_values": meter_values,
            "system_share": system / cpu if cpu else 0.0, "switches_per_call": switched / calls if calls else 0.0,
            "timers_per_call": timers / calls if calls else 0.0, "frames_out_per_call": frames_out / calls if calls else 0.0,
            "frames_in_per_call": frames_in / calls if calls else 0.0,
            "lag_p99_ms": lag.get_value_at_percentile(99) / 1000, "rss_mb": rss_kb() / 1024}


async def _storm(params: dict) -> dict:
    stations, port = params["stations"], params["port"]
    recorder = Recorder()
    fleet = _fleet(stations, port, 1.0, False, recorder)
    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(fleet.run, 0.0)
        connected_at = None
        while _booted(recorder) < stations:
            if connected_at is None and fleet.progress.connected >= stations:
                connected_at = time.perf_counter() - start
            await trio.sleep(0.05)
        booted_at = time.perf_counter() - start
        nursery.cancel_scope.cancel()
    return {"stations": stations, "all_connected_s": connected_at or booted_at, "all_booted_s": booted_at,
            "connect_failures": fleet.progress.connect_failures}


def worker(mode: str, params: dict) -> None:
    raise_open_files_limit(params["stations"] + 1024)
    job = {"idle": _idle, "throughput": _throughput, "storm": _storm, "realistic": _realistic}[mode]
    print(json.dumps(trio.run(job, params)))


# ---------------------------------------------------------------- commands


def _machine() -> str:
    return f"{os.cpu_count()} cores, python {sys.version.split()[0]}, fleetsim {build.kind()} build"


def idle(args: argparse.Namespace) -> None:
    print(f"idle fleet, {_machine()}: RSS growth of the simulator per connected, booted, heartbeating station")
    print(f"{'stations':>9} {'RSS MB':>8} {'KB/station':>11} {'heartbeats':>11}")
    with Csms(heartbeat_interval_s=10) as csms:
        for n in args.stations:
            result = run_worker("idle", stations=n, port=csms.port, ramp=args.ramp, settle_s=12)
            print(f"{n:>9} {result['rss_delta_kb'] / 1024:>8.1f} {result['kb_per_station']:>11.1f} "
                  f"{result['heartbeats']:>11}")


def throughput(args: argparse.Namespace) -> None:
    print(f"throughput, {_machine()}: {args.stations} stations, heartbeats{' + sessions' if args.sessions else ''}, "
          f"{args.csms} CSMS, median of {args.repeat} runs")
    print(f"{'offered/s':>10} {'answered/s':>11} {'CPU share':>10} {'calls/CPU-s':>12} {'lag p99 ms':>11} "
          f"{'pings/s':>8} {'timers/call':>12}  note")
    with Csms(heartbeat_interval_s=60, bare=args.csms == "bare") as csms:
        for rate in args.rates:
            runs = [run_worker("throughput", stations=args.stations, port=csms.port, rate=rate, window_s=args.window,
                               warmup_s=3, sessions=args.sessions, pings=not args.no_pings)
                    for _ in range(args.repeat)]
            pick = lambda key: statistics.median(r[key] for r in runs)  # noqa: E731
            answered, cpu_share = pick("answered_per_s"), pick("cpu_share")
            note = ("" if cpu_share < 0.97 else "the maximum" if answered < 0.95 * rate
                    else "bound by the offer: offer more for the maximum")
            print(f"{rate:>10} {answered:>11.0f} {cpu_share:>10.2f} "
                  f"{pick('calls_per_cpu_s'):>12.0f} {pick('lag_p99_ms'):>11.2f} {pick('pings_per_s'):>8.0f} "
                  f"{pick('timers_per_call'):>12.2f}  {note}")


def realistic(args: argparse.Namespace) -> None:
    print(f"charging fleet, {_machine()}: {args.stations} stations, MeterValues every {args.meter_interval} s, "
          f"sessions of ~2 min, {args.csms} CSMS, median of {args.repeat} runs of {args.window:g} s")
    with Csms(heartbeat_interval_s=60, bare=args.csms == "bare") as csms:
        runs = [run_worker("realistic", stations=args.stations, port=csms.port, meter_interval_s=args.meter_interval,
                           window_s=args.window, warmup_s=args.warmup,
                           gather_s=None if args.gather is None else args.gather / 1000)
                for _ in range(args.repeat)]
    pick = lambda key: statistics.median(r[key] for r in runs)  # noqa: E731
    print(f"models: {', '.join(runs[0]['models'])}")
    print(f"{'answered/s':>11} {'CPU share':>10} {'calls/CPU-s':>12} {'of it system':>13} {'switches/call':>14} "
          f"{'charging':>9} {'lag p99 ms':>11} {'RSS MB':>7}")
    for r in runs:
        print(f"{r['answered_per_s']:>11.0f} {r['cpu_share']:>10.2f} {r['calls_per_cpu_s']:>12.0f} "
              f"{r['system_share']:>13.0%} {r['switches_per_call']:>14.2f} "
              f"{r['charging']:>9} {r['lag_p99_ms']:>11.2f} {r['rss_mb']:>7.0f}")
    print(f"median: {pick('calls_per_cpu_s'):.0f} calls per CPU-second at {pick('answered_per_s'):.0f} calls/s")


def storm(args: argparse.Namespace) -> None:
    print(f"connect storm, {_machine()}: every station at once, median of {args.repeat} runs")
    with Csms(heartbeat_interval_s=300) as csms:
        runs = [run_worker("storm", stations=args.stations, port=csms.port) for _ in range(args.repeat)]
    print(f"{args.stations} stations: all connected in {statistics.median(r['all_connected_s'] for r in runs):.2f}s, "
          f"all booted in {statistics.median(r['all_booted_s'] for r in runs):.2f}s, "
          f"connect failures {max(r['connect_failures'] for r in runs)}")


def lag(args: argparse.Namespace) -> None:
    with Csms(heartbeat_interval_s=60) as csms:
        result = run_worker("throughput", stations=args.stations, port=csms.port, rate=args.rate, window_s=args.window,
                            warmup_s=3, sessions=False)
    print(f"timer lag at {args.rate} calls/s offered by {args.stations} stations ({_machine()}): "
          f"p50 {result['lag_p50_ms']:.3f} ms, p99 {result['lag_p99_ms']:.3f} ms, max {result['lag_max_ms']:.3f} ms "
          f"over {result['lag_samples']} timers; answered {result['answered_per_s']:.0f}/s")


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",")]


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_worker":
        worker(sys.argv[2], json.loads(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(required=True)
    p = commands.add_parser("idle")
    p.add_argument("--stations", type=_ints, default=[1000, 5000, 10000, 20000])
    p.add_argument("--ramp", type=float, default=2000.0)
    p.set_defaults(func=idle)
    p = commands.add_parser("throughput")
    p.add_argument("--stations", type=int, default=2000)
    p.add_argument("--rates", type=_ints, default=[5000, 10000, 20000, 30000])
    p.add_argument("--window", type=float, default=10.0)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--sessions", action="store_true", help="sessions too (MeterValues, Start/Stop, Status)")
    p.add_argument("--csms", choices=("embedded", "bare"), default="embedded",
                   help="the CSMS process: fleetsim's embedded CSMS, or responder.py (a bare loop)")
    p.add_argument("--no-pings", action="store_true",
                   help="WebSocketPingInterval 0 for every model: what the stations' pings cost")
    p.set_defaults(func=throughput)
    p = commands.add_parser("realistic")
    p.add_argument("--stations", type=int, default=1000)
    p.add_argument("--meter-interval", type=int, default=1)
    p.add_argument("--gather", type=float, default=None,
                   help="ms the reactor gathers frames (ConnectOptions.gather_s; default: the product's)")
    p.add_argument("--window", type=float, default=20.0)
    p.add_argument("--warmup", type=float, default=10.0)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--csms", choices=("embedded", "bare"), default="embedded",
                   help="the CSMS process: fleetsim's embedded CSMS, or responder.py (a bare loop)")
    p.set_defaults(func=realistic)
    p = commands.add_parser("storm")
    p.add_argument("--stations", type=int, default=10000)
    p.add_argument("--repeat", type=int, default=3)
    p.set_defaults(func=storm)
    p = commands.add_parser("lag")
    p.add_argument("--stations", type=int, default=2000)
    p.add_argument("--rate", type=int, default=8000)
    p.add_argument("--window", type=float, default=10.0)
    p.set_defaults(func=lag)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
