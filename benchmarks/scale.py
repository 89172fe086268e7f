"""Scale-out benchmarks: a fleet over worker processes (``fleetsim run
--workers``), as a user runs it, on this machine.

    python benchmarks/scale.py fleet --stations 50000 --workers 3 --addresses 4
    python benchmarks/scale.py tax --stations 3000 --repeat 3

``fleet``: stations that connect, boot and heartbeat (no sessions, no CSMS
calls) against the embedded CSMS, which runs in processes of its own.
Prints the connect and boot times, the peak memory and CPU of every process
(the run's summary.json, ``run.processes``) and the fleet side's memory per
station (the workers' peak RSS over the stations, the interpreter included).

``tax``: a charging fleet (sessions at 10x, MeterValues) against one external
CSMS (``fleetsim csms serve --workers 2``): N stations in one process, 2N in
two workers (each as loaded as the one process: what coordinating costs), and
N in two workers (half loaded each: what splitting a small fleet costs).  OCPP
calls answered per CPU-second of the fleet side (every process of ``fleetsim
run``, the coordinator and the start-up included), the median of ``--repeat``
runs each.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

FLEETSIM = [sys.executable, "-m", "fleetsim"]
MODELS = ("bescore-bsc-s12bcc", "bionever-bss011k-v1000", "evsis-jc-9932-100-cu07", "taeseongcontech-tsct-2007cp",
          "wenzhou-bsec-22k-a-2-ccs2-400s")


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _idle_scenario(folder: Path, stations: int, heartbeat_s: int) -> Path:
    """A scenario of ``stations`` idle stations, the five models in equal
    parts, heartbeating every ``heartbeat_s`` against the embedded CSMS."""
    per, extra = divmod(stations, len(MODELS))
    groups = "".join(
        f'\n[[groups]]\nmodel = "{model}"\nstations = {per + (1 if n < extra else 0)}\n'
        for n, model in enumerate(MODELS))
    path = folder / "idle.toml"
    path.write_text(f'name = "idle fleet"\n\n[run]\nmean_idle_s = 2592000\n\n[csms]\ncalls = []\n'
                    f"heartbeat_interval_s = {heartbeat_s}\n{groups}")
    return path


def _booted_at(folder: Path, stations: int) -> tuple[float | None, float | None]:
    """Seconds from the start until every station was connected, and booted
    (timeseries.csv; None: never)."""
    connected_s = booted_s = None
    with (folder / "timeseries.csv").open() as rows:
        for row in csv.DictReader(rows):
            elapsed_s = float(row["elapsed_s"])
            if connected_s is None and int(row["connected"]) >= stations:
                connected_s = elapsed_s
            if booted_s is None and int(row["booted"]) >= stations:
                booted_s = elapsed_s
    return connected_s, booted_s


def fleet(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(args.keep) if args.keep else Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        scenario = _idle_scenario(folder, args.stations, args.heartbeat)
        addresses = [arg for n in range(args.addresses) for arg in ("--source-address", f"127.0.0.{n + 2}")]
        command = [*FLEETSIM, "run", str(scenario), "--workers", str(args.workers), "--ramp", f"{args.ramp}/s",
                   "--duration", f"{args.duration}s", "--out", str(folder / "run"), "-q", *addresses]
        print(" ".join(command[2:]))
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        wall_s = time.perf_counter() - started
        print(done.stdout.strip())
        if done.returncode not in (0, 99):
            print(done.stderr[-3000:], file=sys.stderr)
        summary = json.loads((folder / "run" / "summary.json").read_text())
        run = summary["run"]
        connected_s, booted_s = _booted_at(folder / "run", args.stations)
        ramp_s = args.stations / args.ramp
        connect = summary["fleet"]["connection"].get("connect_ms") or {}
        print(f"\nstations {args.stations:,}, ramp {args.ramp}/s ({ramp_s:.0f} s), {run['workers']} workers, "
              f"{run.get('csms_processes', 0)} CSMS processes, wall {wall_s:.0f} s")
        print(f"all connected at {connected_s} s, all booted at {booted_s} s "
              f"({'' if booted_s is None else f'{booted_s - ramp_s:+.1f} s after the ramp'})")
        if connect:
            print(f"connect (TCP + WebSocket) p50 {connect.get('p50')} ms, p99 {connect.get('p99')} ms, "
                  f"max {connect.get('max')} ms")
        processes = run["processes"]
        print(f"{'process':<14} {'CPU s':>8} {'peak RSS MB':>12}")
        rows = [("coordinator", processes["coordinator"])]
        rows += [(f"worker {n}", usage) for n, usage in enumerate(processes["workers"])]
        rows += [(f"CSMS {n}", usage) for n, usage in enumerate(processes.get("csms", []))]
        for name, usage in rows:
            print(f"{name:<14} {usage['cpu_s']:>8.1f} {usage['peak_rss_mb']:>12.1f}")
        workers_mb = sum(usage["peak_rss_mb"] for usage in processes["workers"])
        print(f"fleet side: {workers_mb * 1024 / args.stations:.1f} KB per station (workers' peak RSS, "
              f"interpreters included); coordinator {processes['coordinator']['cpu_s'] / wall_s * 100:.1f} % "
              f"of a core")


def _serve_csms() -> tuple[subprocess.Popen[str], str]:
    csms = subprocess.Popen([*FLEETSIM, "csms", "serve", "--port", "0", "--workers", "2", "--status-interval", "0"],
                            stdout=subprocess.PIPE, text=True)
    line = csms.stdout.readline() if csms.stdout else ""
    return csms, line.split(" listening on ")[1].split()[0]


def _charging_run(url: str, stations: int, workers: int, folder: Path, seconds: int) -> dict[str, Any]:
    before = _children_cpu_s()
    command = [*FLEETSIM, "run", "--csms", url, "--stations", str(stations), "--speed", "10", "--mean-idle", "5m",
               "--mean-session", "20m", "--ramp", "0/s", "--duration", f"{seconds}s", "--out", str(folder), "-q"]
    if workers > 1:
        command += ["--workers", str(workers)]
    done = subprocess.run(command, capture_output=True, text=True)
    cpu_s = _children_cpu_s() - before
    if done.returncode != 0:
        print(done.stderr[-2000:], file=sys.stderr)
    summary = json.loads((folder / "summary.json").read_text())
    answered = sum(exchange["answered"] for exchange in summary["fleet"]["exchanges"].values())
    return {"answered": answered, "cpu_s": cpu_s, "calls_per_cpu_s": answered / cpu_s}


def tax(args: argparse.Namespace) -> None:
    csms, url = _serve_csms()
    # (workers, stations): one process with N; two workers with 2N (each worker as loaded as the one
    # process: what coordinating costs); two workers with N (the same fleet split: what splitting costs).
    runs = ((1, args.stations), (2, 2 * args.stations), (2, args.stations))
    results: dict[tuple[int, int], list[dict[str, Any]]] = {run: [] for run in runs}
    try:
        with tempfile.TemporaryDirectory() as scratch:
            for n in range(args.repeat):
                for workers, stations in runs:  # interleaved: the machine's noise falls on all alike
                    figures = _charging_run(url, stations, workers, Path(scratch) / f"{workers}-{stations}-{n}",
                                            args.duration)
                    results[(workers, stations)].append(figures)
                    print(f"workers {workers}, {stations:,} stations: {figures['answered']:,} calls, "
                          f"{figures['cpu_s']:.1f} CPU-s, {figures['calls_per_cpu_s']:,.0f} calls per CPU-second")
    finally:
        csms.send_signal(signal.SIGINT)
        csms.wait(30)
    one, same_load, same_fleet = (statistics.median(r["calls_per_cpu_s"] for r in results[run]) for run in runs)
    print(f"\nmedian calls per CPU-second: one process ({args.stations:,}) {one:,.0f}; two workers "
          f"({2 * args.stations:,}, as loaded each) {same_load:,.0f} (ratio {same_load / one:.2f}); two workers "
          f"({args.stations:,}, half loaded each) {same_fleet:,.0f} (ratio {same_fleet / one:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    modes = parser.add_subparsers(dest="mode", required=True)
    big = modes.add_parser("fleet")
    big.add_argument("--stations", type=int, default=50_000)
    big.add_argument("--workers", default="auto")
    big.add_argument("--addresses", type=int, default=4, help="loopback source addresses 127.0.0.2, ...")
    big.add_argument("--ramp", type=int, default=500)
    big.add_argument("--heartbeat", type=int, default=60, help="heartbeat interval, seconds")
    big.add_argument("--duration", type=int, default=0, help="seconds; default: the ramp and two heartbeats")
    big.add_argument("--keep", metavar="DIR", help="keep the scenario and the run's results in DIR")
    big.set_defaults(run=fleet)
    split = modes.add_parser("tax")
    split.add_argument("--stations", type=int, default=3000)
    split.add_argument("--duration", type=int, default=40)
    split.add_argument("--repeat", type=int, default=3)
    split.set_defaults(run=tax)
    args = parser.parse_args()
    if args.mode == "fleet" and not args.duration:
        args.duration = int(args.stations / args.ramp + 2 * args.heartbeat + 10)
    print(f"{os.cpu_count()} cores, python {sys.version.split()[0]}")
    args.run(args)


if __name__ == "__main__":
    main()
