"""The embedded CSMS in several processes forked from this one, each listening
on the same address and port (SO_REUSEPORT: the kernel spreads the new
connections over them, by a hash of each connection's addresses).  A station keeps its
process for as long as its connection lasts; one that reconnects may land on
another, so transaction ids are disjoint (the k-th of n processes starts at
first + k and steps by n).

Each process sends its counters (CsmsStats) to the parent every ``every_s``
and once more when told to stop (SIGTERM); SIGINT is the parent's to act on,
so a Ctrl-C on the terminal stops no CSMS process under a run that still
delivers its last StopTransactions.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import signal
import socket
from collections.abc import Callable
from functools import partial
from multiprocessing.connection import Connection
from multiprocessing.context import ForkProcess

import msgspec
import trio

from fleetsim.csms.config import CsmsConfig
from fleetsim.csms.server import CsmsStats, added_stats, serve_csms
from fleetsim.engine.mailbox import Mailbox

_STOP_WAIT_S = 10.0  # for a process's last counters after SIGTERM


class ProcessUsage(msgspec.Struct, frozen=True):
    """What one process used so far: CPU seconds (user and system) and its
    peak resident memory."""

    cpu_s: float = 0.0
    peak_rss_mb: float = 0.0

    @classmethod
    def now(cls) -> ProcessUsage:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return cls(round(usage.ru_utime + usage.ru_stime, 3), round(usage.ru_maxrss / 1024, 1))  # Linux: KiB


class _Report(msgspec.Struct, frozen=True):
    """A CSMS process's news: its counters and what it used."""

    stats: CsmsStats
    usage: ProcessUsage


class CsmsProcesses:
    """``count`` CSMS processes on ``host``:``port`` (0: any free port)."""

    def __init__(self, config: CsmsConfig, count: int, host: str = "127.0.0.1", port: int = 0,
                 every_s: float = 1.0) -> None:
        self.config = config
        self.count = count
        self.host = host
        self.port = port
        self.every_s = every_s
        self._processes: list[tuple[ForkProcess, Connection]] = []
        self._latest: dict[int, _Report] = {}

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'wss' if self.config.tls is not None else 'ws'}://{host}:{self.port}"

    def start(self) -> str:
        """Pick the port, fork the processes (before any thread or event loop
        of this one runs), wait until each listens, and return the URL
        stations connect under.  OSError when the address cannot be used."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        context = multiprocessing.get_context("fork")
        # Holds the port (bound, not listening: it takes no connection) until the processes listen on it.
        with socket.socket(family, socket.SOCK_STREAM) as holder:
            holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            holder.bind((self.host, self.port))
            self.port = holder.getsockname()[1]
            for index in range(self.count):
                own = msgspec.structs.replace(self.config,
                                              first_transaction_id=self.config.first_transaction_id + index,
                                              transaction_id_step=self.count)
                receiver, sender = context.Pipe(duplex=False)
                process = context.Process(target=_serve, name=f"fleetsim CSMS {index}",
                                          args=(own, self.host, self.port, sender, self.every_s))
                process.start()
                sender.close()
                self._processes.append((process, receiver))
            for index, (_, connection) in enumerate(self._processes):
                # Each says it listens with its first counters; one that cannot says nothing.
                if not connection.poll(_STOP_WAIT_S):
                    self.kill()
                    raise OSError(f"CSMS process {index} did not start listening")
                try:
                    self._latest[index] = msgspec.msgpack.decode(connection.recv_bytes(), type=_Report)
                except EOFError:
                    self.kill()
                    raise OSError(f"CSMS process {index} could not listen on {self.host}:{self.port}") from None
        return self.url

    def stats(self) -> CsmsStats:
        """The counters of every process, added, as last heard."""
        return added_stats(report.stats for report in self._latest.values())

    def usage(self) -> list[ProcessUsage]:
        """What each process used, as last heard."""
        return [self._latest[index].usage if index in self._latest else ProcessUsage() for index in range(self.count)]

    async def watch(self, on_stats: Callable[[CsmsStats], None] | None = None) -> None:
        """Keep the latest counters of each process (until cancelled), and
        hand their sum to ``on_stats`` every ``every_s``."""
        async def listen(index: int, connection: Connection) -> None:
            try:
                while True:
                    await trio.lowlevel.wait_readable(connection.fileno())
                    while connection.poll():
                        self._latest[index] = msgspec.msgpack.decode(connection.recv_bytes(), type=_Report)
            except (EOFError, OSError, msgspec.DecodeError):
                return

        async with trio.open_nursery() as nursery:
            for index, (_, connection) in enumerate(self._processes):
                nursery.start_soon(listen, index, connection)
            if on_stats is not None:
                while True:
                    await trio.sleep(self.every_s)
                    on_stats(self.stats())

    def stop(self) -> CsmsStats:
        """Stop every process and return their last counters, added."""
        for process, _ in self._processes:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        for index, (process, connection) in enumerate(self._processes):
            try:
                while connection.poll(_STOP_WAIT_S):
                    self._latest[index] = msgspec.msgpack.decode(connection.recv_bytes(), type=_Report)
            except (EOFError, OSError, msgspec.DecodeError):
                pass
            process.join(_STOP_WAIT_S)
            if process.is_alive():
                process.kill()
                process.join()
            connection.close()
        self._processes = []
        return self.stats()

    def kill(self) -> None:
        for process, _ in self._processes:
            if process.is_alive():
                process.kill()
        for process, connection in self._processes:
            process.join()
            connection.close()
        self._processes = []


def _serve(config: CsmsConfig, host: str, port: int, connection: Connection, every_s: float) -> None:
    """One CSMS process: listens (its first counters say so), serves until
    SIGTERM, sending its counters every ``every_s`` and at the end (from a
    thread: a parent that does not read never stalls the CSMS)."""
    os.setpgid(0, 0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent says when

    mailbox = Mailbox(connection, "CSMS counters")

    async def report(stats: CsmsStats) -> None:
        while True:
            mailbox.post(msgspec.msgpack.encode(_Report(stats, ProcessUsage.now())))
            await trio.sleep(every_s)

    async def serve() -> CsmsStats:
        with trio.open_signal_receiver(signal.SIGTERM) as signals:
            async with trio.open_nursery() as nursery:
                running = await nursery.start(partial(serve_csms, config, host, port, reuse_port=True,
                                                         own_process=True))
                nursery.start_soon(report, running.stats)
                async for _ in signals:
                    break
                nursery.cancel_scope.cancel()
        return running.stats

    stats: CsmsStats | None = None
    try:
        stats = trio.run(serve)
    except* OSError:
        pass  # it could not listen: the parent hears nothing and says so
    mailbox.close(msgspec.msgpack.encode(_Report(stats, ProcessUsage.now())) if stats is not None else None)
