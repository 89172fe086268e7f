"""Local ports for the fleet's connections, picked by the fleet.

Left to the kernel, a connect() searches the ephemeral range for a port whose
4-tuple is free, and Linux gives connect() the even ports of the range first
(bind() the odd ones).  Once about half the range holds connections to the
same CSMS address and port, every connect() scans the exhausted half first:
on this machine its cost went from 11 µs to 400-490 µs past ~15,000
connections to one listener (benchmarks/README.md, "Connecting"), and at a
ramp of 2,000 stations a second that alone took most of a core.  The fleet
instead binds each socket to the next port of the range itself, round
robin: one hash lookup in the kernel, 10-16 µs at any count.  A port in use
(another process's, or one in TIME_WAIT) refuses the bind and the next is
tried; after MAX_TRIES the kernel picks as before, so nothing is refused
that it would have allowed.
"""

from __future__ import annotations

import errno
import random
import socket
from pathlib import Path
from typing import Final

# Ports tried before leaving the choice to the kernel: a range mostly in use
# (TIME_WAIT after a reconnect storm) must not cost more than the kernel's own search.
MAX_TRIES: Final = 32
DEFAULT_RANGE: Final = (32768, 60999)  # Linux's default net.ipv4.ip_local_port_range
RANGE_FILE: Final = Path("/proc/sys/net/ipv4/ip_local_port_range")


def local_port_range(path: Path = RANGE_FILE) -> tuple[int, int]:
    """The ephemeral range the kernel hands out (its default when unreadable)."""
    try:
        low, high = (int(part) for part in path.read_text().split())
    except (OSError, ValueError):
        return DEFAULT_RANGE
    return (low, high) if 1024 <= low <= high <= 65535 else DEFAULT_RANGE


class SourcePorts:
    """Round robin over the ephemeral range, one cursor per source address,
    starting at a random port (two processes of one run do not walk the same
    ports in step)."""

    def __init__(self, port_range: tuple[int, int] | None = None, rng: random.Random | None = None) -> None:
        self.low, self.high = port_range or local_port_range()
        self._rng = rng or random.Random()
        self._next: dict[str, int] = {}
        self.kernel_picked = 0  # binds that fell back to the kernel's choice

    def bind(self, sock: socket.socket, address: str) -> bool:
        """Bind ``sock`` to ``address`` and a port of the range; False when
        MAX_TRIES ports were taken (the socket is left unbound: the kernel
        picks at connect).  Other errors are the caller's (a source address
        that is not this host's)."""
        span = self.high - self.low + 1
        cursor = self._next.get(address)
        if cursor is None:
            cursor = self.low + self._rng.randrange(span)
        for _ in range(MAX_TRIES):
            port = cursor
            cursor = self.low if cursor >= self.high else cursor + 1
            try:
                sock.bind((address, port))
            except OSError as error:
                if error.errno != errno.EADDRINUSE:
                    self._next[address] = cursor
                    raise
                continue
            self._next[address] = cursor
            return True
        self._next[address] = cursor
        self.kernel_picked += 1
        return False
