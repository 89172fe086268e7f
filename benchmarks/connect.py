"""What one connect() costs as connections to one CSMS pile up, with the
local port left to the kernel and picked by the fleet
(fleetsim.engine.source_ports).

A listener in a process of its own accepts everything; this process opens
``--connections`` non-blocking TCP connections to it on loopback and prints
the mean cost of a connect() (the system call: on loopback the handshake is
done inside it) for each slice of ``--slice`` connections, both ways.  The
kernel's choice slows down once the even half of the ephemeral range is
used (Linux gives connect() the even ports first).  Needs about twice
``--connections`` open files in all (two processes); the range has about
28,000 ports (net.ipv4.ip_local_port_range), and connections closed less
than a minute earlier still hold theirs (TIME_WAIT): the script waits for
them to clear first.

    python benchmarks/connect.py --connections 19000
"""

from __future__ import annotations

import argparse
import os
import resource
import select
import signal
import socket
import subprocess
import time

from fleetsim.engine.source_ports import SourcePorts


def _serve(listener: socket.socket) -> None:
    """Accept everything, hold it, until killed."""
    poller = select.epoll()
    poller.register(listener.fileno(), select.EPOLLIN)
    held = []
    while True:
        poller.poll(1)
        while True:
            try:
                held.append(listener.accept()[0])
            except BlockingIOError:
                break


def _time_wait() -> int:
    result = subprocess.run(["ss", "-tan", "state", "time-wait"], capture_output=True, text=True, check=False)
    return max(0, len(result.stdout.splitlines()) - 1)


def measure(connections: int, slice_size: int, pick: bool) -> list[float]:
    """Mean µs per connect() for each slice of connections."""
    while _time_wait() > 50:
        time.sleep(2)
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(65535)
    listener.setblocking(False)
    address = listener.getsockname()
    pid = os.fork()
    if pid == 0:
        _serve(listener)
    listener.close()
    ports = SourcePorts() if pick else None
    sockets, means = [], []
    try:
        started = time.perf_counter()
        for count in range(1, connections + 1):
            sock = socket.socket()
            sock.setblocking(False)
            if ports is not None:
                ports.bind(sock, "0.0.0.0")
            sock.connect_ex(address)
            sockets.append(sock)
            if count % slice_size == 0:
                now = time.perf_counter()
                means.append((now - started) / slice_size * 1e6)
                started = now
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        for sock in sockets:
            sock.close()
    return means


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=19_000)
    parser.add_argument("--slice", type=int, default=2_000)
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    kernel = measure(args.connections, args.slice, pick=False)
    fleet = measure(args.connections, args.slice, pick=True)
    print(f"{'connections':>12} {'kernel picks, µs':>17} {'fleet picks, µs':>16}")
    for index, (a, b) in enumerate(zip(kernel, fleet, strict=True), start=1):
        print(f"{index * args.slice:>12,} {a:>17.1f} {b:>16.1f}")


if __name__ == "__main__":
    main()
