"""The embedded CSMS in several processes behind one listening socket
(``fleetsim csms serve --workers``, and the CSMS of ``fleetsim run
--workers``): the connections spread over the processes, transaction ids
stay unique over all of them, and the statistics add up."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import msgspec
import trio
import trio_websocket

from fleetsim.csms.config import CsmsConfig
from fleetsim.csms.processes import CsmsProcesses

STATIONS = 24
START = '{"connectorId":1,"idTag":"TAG","meterStart":0,"timestamp":"2026-12-06T12:00:00Z"}'


def _sockets(pid: int) -> int:
    return sum(1 for fd in Path(f"/proc/{pid}/fd").iterdir() if os.readlink(fd).startswith("socket:"))


def test_connections_spread_over_the_processes_and_transaction_ids_stay_unique() -> None:
    processes = CsmsProcesses(CsmsConfig(), 2, every_s=0.2)
    url = processes.start()
    children = [process.pid for process, _ in processes._processes]
    ids: list[int] = []
    held: list[int] = []

    async def station(n: int, ready: trio.Event, done: trio.Event) -> None:
        async with trio_websocket.open_websocket_url(f"{url}/CP-{n}", subprotocols=["ocpp1.6"]) as ws:
            await ws.send_message(f'[2,"s{n}","StartTransaction",{START}]')
            answer = msgspec.json.decode(await ws.get_message())
            ids.append(answer[2]["transactionId"])
            if len(ids) == STATIONS:
                ready.set()
            await done.wait()

    async def main() -> None:
        with trio.fail_after(20):
            ready, done = trio.Event(), trio.Event()
            async with trio.open_nursery() as nursery:
                for n in range(STATIONS):
                    nursery.start_soon(station, n, ready, done)
                await ready.wait()
                held.extend(_sockets(pid) for pid in children if pid is not None)
                done.set()

    try:
        trio.run(main)
    finally:
        stats = processes.stop()
    assert len(set(ids)) == STATIONS  # unique over both processes
    assert {transaction_id % 2 for transaction_id in ids} == {0, 1}  # both processes started transactions
    assert all(sockets > 2 for sockets in held)  # each holds stations' connections (beyond its listener and pipe)
    assert stats.connections_total == STATIONS
    assert stats.calls_received == {"StartTransaction": STATIONS}


def test_csms_serve_with_workers_adds_up_the_processes_statistics(tmp_path: Path) -> None:
    stats_file = tmp_path / "stats.json"
    server = subprocess.Popen([sys.executable, "-m", "fleetsim", "csms", "serve", "--port", "0", "--workers", "2",
                               "--status-interval", "0", "--stats-out", str(stats_file)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline() if server.stdout else ""
        assert "in 2 processes" in line, line
        url = line.split(" listening on ")[1].split()[0]
        run = subprocess.run([sys.executable, "-m", "fleetsim", "run", "--csms", url, "--stations", "30",
                              "--duration", "3s", "--ramp", "0/s", "--out", str(tmp_path / "run"), "-q"],
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
    finally:
        server.send_signal(signal.SIGINT)
        stdout, stderr = server.communicate(timeout=30)
    assert server.returncode == 0, stderr
    stats = json.loads(stats_file.read_text())
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert stats["connections_total"] == 30
    assert stats["calls_received"]["BootNotification"] == summary["fleet"]["exchanges"]["BootNotification"]["count"]
    assert "stopped: 30 connections" in stdout
