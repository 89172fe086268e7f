"""The floor: what a bare Python loop pays per OCPP call on these sockets.

No stations, no trio, no recording: N WebSocket connections to the embedded CSMS
(in another process, as in fleet.py), one level-triggered ``select.epoll``
registered once per socket, a heap of send times, a frame made ahead of time
(only its unique id formatted per call), and answers counted by their frame
headers.  Whatever fleetsim spends per call above this is its own doing; what
this costs is syscalls, the kernel's TCP path and the interpreter's loop.

    python benchmarks/floor.py --stations 1000 --interval 1          # MeterValues every 1 s each
    python benchmarks/floor.py --stations 5000 --interval 10
    python benchmarks/floor.py --stations 2000 --rate 20000 --action Heartbeat
    python benchmarks/floor.py --stations 1000 --interval 1 --gather 2   # sleeping 2 ms after each pass

Prints calls answered per CPU-second of this process (user + system), the
median of ``--repeat`` windows.
"""

from __future__ import annotations

import argparse
import heapq
import os
import resource
import select
import socket
import statistics
import struct
import sys
import time

from fleet import Csms  # benchmarks/fleet.py

from fleetsim.engine import framing
from fleetsim.engine.limits import raise_open_files_limit

# A MeterValues.req as an AC three-phase station sends it (energy, power, current per phase).
METER_VALUES = (
    b'{"connectorId":1,"transactionId":%d,"meterValue":[{"timestamp":"2026-12-06T10:00:00.000Z","sampledValue":['
    b'{"value":"12345","context":"Sample.Periodic","measurand":"Energy.Active.Import.Register","unit":"Wh"},'
    b'{"value":"11000","context":"Sample.Periodic","measurand":"Power.Active.Import","unit":"W"},'
    b'{"value":"15.9","context":"Sample.Periodic","measurand":"Current.Import","phase":"L1","unit":"A"},'
    b'{"value":"15.9","context":"Sample.Periodic","measurand":"Current.Import","phase":"L2","unit":"A"},'
    b'{"value":"15.9","context":"Sample.Periodic","measurand":"Current.Import","phase":"L3","unit":"A"}]}]}'
)
PAYLOADS = {"MeterValues": METER_VALUES % 1, "Heartbeat": b"{}"}
BOOT = b'{"chargePointVendor":"floor","chargePointModel":"floor"}'
MASK = b"\x11\x22\x33\x44"


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def masked_text(payload: bytes) -> bytes:
    """A client's text frame (RFC 6455 §5.3), with a fixed mask key: the floor
    does not pay for random keys."""
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x81, 0x80 | length)
    else:
        header = struct.pack("!BBH", 0x81, 0x80 | 126, length)
    return header + MASK + framing.apply_mask(payload, MASK)


def open_connections(port: int, count: int) -> list[socket.socket]:
    socks = []
    for n in range(count):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = framing.new_key()
        sock.sendall(framing.client_request(f"127.0.0.1:{port}", f"/ocpp/FLOOR-{n:05d}", key, "ocpp1.6", None))
        buffer = b""
        while (parsed := framing.split_head(buffer)) is None:
            buffer += sock.recv(4096)
        assert not isinstance(parsed, str), parsed
        head, leftover = parsed
        assert framing.check_server_response(head, key, "ocpp1.6") is None
        assert not leftover
        sock.sendall(masked_text(b'[2,"b","BootNotification",' + BOOT + b"]"))
        sock.recv(4096)  # the BootNotification.conf (small: one read)
        sock.setblocking(False)
        socks.append(sock)
    return socks


def count_frames(buffer: bytes) -> tuple[int, bytes]:
    """Complete server frames (unmasked) at the head of ``buffer``, and the rest."""
    frames, at, size = 0, 0, len(buffer)
    while size - at >= 2:
        length = buffer[at + 1] & 0x7F
        head = 2
        if length == 126:
            if size - at < 4:
                break
            length, head = struct.unpack_from("!H", buffer, at + 2)[0], 4
        elif length == 127:
            if size - at < 10:
                break
            length, head = struct.unpack_from("!Q", buffer, at + 2)[0], 10
        if size - at < head + length:
            break
        at += head + length
        frames += 1
    return frames, buffer[at:]


def run(socks: list[socket.socket], action: str, period_s: float, window_s: float, under_trio: bool = False,
        gather_s: float = 0.0) -> tuple[float, float]:
    """Each socket sends one ``action`` CALL every ``period_s`` (phases spread
    evenly); returns (answers per second, answers per CPU-second) over the window.
    ``under_trio``: the same loop as a trio task that waits for the epoll's
    descriptor (what trio itself costs per wake-up)."""
    if under_trio:
        import trio

        from fleetsim.engine.reactor import Reactor

        async def main() -> tuple[float, float]:
            # A timerfd in the epoll set wakes the task for the next send:
            # no cancelled scope, no exception (fleetsim.engine.reactor).
            reactor = Reactor()
            for sock in socks:
                reactor.register(sock.fileno())

            async def waiting(epoll: select.epoll, timeout: float) -> list[tuple[int, int]]:
                reactor.arm(trio.current_time() + timeout)
                await reactor.wait()
                return reactor.ready()

            try:
                return await _loop(socks, action, period_s, window_s, waiting, gather_s)
            finally:
                reactor.close()

        return trio.run(main)

    async def blocking(epoll: select.epoll, timeout: float) -> list[tuple[int, int]]:
        return epoll.poll(timeout, 512)

    coroutine = _loop(socks, action, period_s, window_s, blocking, gather_s)
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    raise AssertionError("the blocking loop never suspends")


async def _loop(socks: list[socket.socket], action: str, period_s: float, window_s: float, wait,  # type: ignore[no-untyped-def]
                gather_s: float = 0.0) -> tuple[float, float]:
    payload = PAYLOADS[action]
    prefix = b'[2,"%d","' + action.encode() + b'",'
    epoll = select.epoll()
    by_fd = {}
    for sock in socks:
        epoll.register(sock.fileno(), select.EPOLLIN)
        by_fd[sock.fileno()] = [sock, b""]
    start = time.monotonic() + 0.05
    heap = [(start + period_s * n / len(socks), n) for n in range(len(socks))]
    heapq.heapify(heap)
    end = start + window_s
    answered = sent = seq = 0
    cpu0, wall0 = cpu_s(), time.monotonic()
    worked = False
    while True:
        if gather_s and worked:
            # As fleetsim's reactor gathers: after a pass that found work, let
            # what falls due within gather_s come due and what is on its way
            # arrive, then serve it all from one wake-up.
            time.sleep(gather_s)
        now = time.monotonic()
        if now >= end:
            break
        worked = bool(heap) and heap[0][0] <= now
        while heap and heap[0][0] <= now:
            due, n = heapq.heappop(heap)
            seq += 1
            socks[n].send(masked_text(prefix % seq + payload + b"]"))
            sent += 1
            heapq.heappush(heap, (due + period_s, n))
        timeout = 0.0 if worked else max(0.0, min(heap[0][0], end) - time.monotonic()) if heap else 0.1
        for fd, _ in await wait(epoll, timeout):
            entry = by_fd.get(fd)
            if entry is None:
                continue  # the timer's own descriptor
            data = entry[0].recv(16384)
            if not data:
                raise RuntimeError("the CSMS closed a connection")
            frames, entry[1] = count_frames(entry[1] + data)
            answered += frames
            worked = True
    cpu, wall = cpu_s() - cpu0, time.monotonic() - wall0
    epoll.close()
    return answered / wall, answered / cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stations", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=None, help="seconds between one socket's calls")
    parser.add_argument("--rate", type=float, default=None, help="calls per second of the whole fleet instead")
    parser.add_argument("--action", choices=sorted(PAYLOADS), default="MeterValues")
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--trio", action="store_true", help="wait as a trio task (what trio costs per wake-up)")
    parser.add_argument("--gather", type=float, default=0.0,
                        help="ms to sleep after each pass before polling again, as fleetsim's reactor gathers")
    parser.add_argument("--csms", choices=("embedded", "bare"), default="embedded",
                        help="bare: responder.py, as fleet.py's --csms bare (the same CSMS for both figures)")
    args = parser.parse_args()
    period_s = args.stations / args.rate if args.rate else (args.interval or 1.0)
    raise_open_files_limit(args.stations + 256)
    print(f"floor, {os.cpu_count()} cores, python {sys.version.split()[0]}: {args.stations} sockets, "
          f"{args.action} every {period_s:g} s each ({args.stations / period_s:.0f}/s offered), "
          f"{args.repeat} windows of {args.window:g} s, gathering {args.gather:g} ms, {args.csms} CSMS")
    with Csms(heartbeat_interval_s=3600, bare=args.csms == "bare") as csms:
        socks = open_connections(csms.port, args.stations)
        runs = [run(socks, args.action, period_s, args.window, args.trio, args.gather / 1000)
                for _ in range(args.repeat)]
        for sock in socks:
            sock.close()
    for rate, per_cpu in runs:
        print(f"  answered {rate:>9.0f}/s   {per_cpu:>9.0f} calls per CPU-second")
    print(f"median: {statistics.median(r[1] for r in runs):.0f} calls per CPU-second "
          f"({1e6 / statistics.median(r[1] for r in runs):.1f} µs per call)")


if __name__ == "__main__":
    main()
