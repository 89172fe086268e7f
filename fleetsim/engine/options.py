"""How a fleet connects (:class:`ConnectOptions`) and what it shows live
(:class:`Progress`): msgspec Structs apart from :mod:`fleetsim.engine.fleet`,
which may be compiled (a Struct compiled with it would lose ``frozen=True``);
``fleet.ConnectOptions`` and ``fleet.Progress`` are the same classes.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable

import msgspec

from fleetsim.engine.link import DEFAULT_MAX_PARTIAL_BYTES, DEFAULT_SEND_STALL_S
from fleetsim.engine.target import Target
from fleetsim.metrics.live import LastInterval
from fleetsim.station.backoff import Backoff

DEFAULT_GATHER_S = 0.002


class ConnectOptions(msgspec.Struct, frozen=True):
    target: Target
    ssl_context: ssl.SSLContext | None = None
    passwords: Callable[[str], bytes | None] | None = None  # charge point id -> AuthorizationKey
    source_addresses: tuple[str, ...] = ()
    connect_timeout_s: float = 10.0
    reconnect: Backoff = Backoff()  # the waits before connecting again (fleetsim.station.backoff)
    max_message_bytes: int = 4 * 1024 * 1024
    send_stall_s: float = DEFAULT_SEND_STALL_S  # a CSMS that reads nothing for this long is cut
    # What all stations together may hold of unfinished frames (RFC 6455
    # framing.PartialBudget): a CSMS that starts large frames and never
    # finishes them gets connections cut (1008), not the process's memory.
    max_partial_bytes: int = DEFAULT_MAX_PARTIAL_BYTES
    # How long the reactor lets frames gather after a socket woke it, before
    # serving every ready socket in one pass (and how late a timer may fire to
    # share a wake-up): a wake-up of trio costs tens of microseconds here, so at
    # light load one per frame dominates the CPU (benchmarks/fleet.py realistic).
    # Latency is unaffected: each read carries the kernel's arrival stamp.  Not
    # on TLS links (no stamp there): the reactor then serves every frame at once.
    gather_s: float = DEFAULT_GATHER_S


class Progress(msgspec.Struct):
    """Live figures for the terminal; cheap counters, updated on the hot path."""

    started: int = 0
    connected: int = 0
    booted: int = 0
    charging: int = 0
    messages_out: int = 0
    messages_in: int = 0
    connect_failures: int = 0
    disconnects: int = 0
    last_interval: LastInterval = LastInterval()  # set at each interval tick (fleetsim.engine.run)
    interval_lines: tuple[str, ...] = ()  # that interval's latency.hlog lines (fleetsim.engine.workers)
    interval_messages: tuple[int, int] = (0, 0)  # messages out and in so far, at that interval's close
