"""The hostile peer's IO: raw WebSocket over trio sockets on 127.0.0.1, either
side (a CSMS that fleetsim's stations connect to, a charge point that
connects to the embedded CSMS), and the measurements made in the process
under test: the event loop's longest task step, the probe's latency, memory.

Every task of the hostile side is named ``hostile:...`` so the loop watch can
leave it out: what is measured is the code under test.  The hostile side
keeps its own steps short (payloads built before the run, zero masking keys
for big frames), since it shares the loop.
"""

from __future__ import annotations

import base64
import ctypes
import hashlib
import json
import os
import re
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple
from urllib.parse import unquote

import trio

from hostile_frames import OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, FrameReader, PeerFrame, RawFrame, close_code
from hostile_ocpp import confirmation, dumps

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3
HOSTILE = "hostile:"
LOOP_BLOCK_LIMIT_S = 0.050  # the bound on any one block of the event loop
PROBE_P99_LIMIT_S = 0.020  # the bound on the probe's p99


# ---------------------------------------------------------------- what is measured


class Tally:
    """Counts for the suite's summary (printed by conftest.py at the end)."""

    def __init__(self) -> None:
        self.frames_sent = 0
        self.bytes_sent = 0
        self.cases = 0
        self.max_block_s = 0.0
        self.max_block_task = ""
        self.peak_rss_growth_mb = 0.0
        self.probe_samples = 0
        self.by_test: dict[str, str] = {}

    def block(self, seconds: float, task: str) -> None:
        if seconds > self.max_block_s:
            self.max_block_s, self.max_block_task = seconds, task


TALLY = Tally()


class LoopWatch(trio.abc.Instrument):
    """The longest single task step of the code under test: while one step
    runs, nothing else in the process does, so this *is* the longest block of
    the event loop (trio runs no task between two steps' ends and starts).
    Both the wall time and the thread's CPU time of the step are kept: the
    CPU time is what the step cost; the wall time adds whatever the shared
    machine ran in between."""

    def __init__(self) -> None:
        self.armed = False
        self.longest_s = 0.0  # wall
        self.longest_cpu_s = 0.0
        self.longest_task = ""
        self.longest_gc_s = 0.0  # of the longest step, the collector's share
        self.gc_s = 0.0  # the collector's time in the step running now
        self._gc_started = 0.0
        self.steps = 0
        self.longest_hostile_s = 0.0  # the hostile side's own longest step (CPU): it delays the probe too
        self._wall = 0.0
        self._cpu = 0.0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self._wall, self._cpu = time.perf_counter(), time.thread_time()
        self.gc_s = 0.0

    def on_gc(self, phase: str, info: dict[str, Any]) -> None:
        """A ``gc.callbacks`` entry: the collector's share of a step is told apart."""
        if phase == "start":
            self._gc_started = time.thread_time()
        else:
            self.gc_s += time.thread_time() - self._gc_started

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        if not self.armed:
            return
        cpu = time.thread_time() - self._cpu
        if HOSTILE in task.name or "hostile_" in task.name:
            self.longest_hostile_s = max(self.longest_hostile_s, cpu)
            return
        wall = time.perf_counter() - self._wall
        self.steps += 1
        if cpu > self.longest_cpu_s:
            self.longest_cpu_s = cpu
            self.longest_task = task.name
            self.longest_gc_s = self.gc_s
        self.longest_s = max(self.longest_s, wall)

    def check(self) -> None:
        TALLY.block(self.longest_cpu_s, self.longest_task)
        assert self.longest_cpu_s <= LOOP_BLOCK_LIMIT_S, (
            f"the event loop was blocked {self.longest_cpu_s * 1000:.1f} ms (CPU, of which the garbage collector "
            f"{self.longest_gc_s * 1000:.1f} ms; {self.longest_s * 1000:.1f} ms wall) by one step of task "
            f"{self.longest_task}")


_LIBC = ctypes.CDLL(None)


def rss_peak_reset() -> None:
    """Linux: give the heap's free memory back to the system (what earlier
    cases freed would otherwise be reused unseen), then reset VmHWM, the peak
    resident set size, to the current one."""
    _LIBC.malloc_trim(0)
    with open("/proc/self/clear_refs", "w") as file:
        file.write("5")


def rss_mb(field: str = "VmRSS") -> float:
    with open("/proc/self/status") as file:
        match = re.search(rf"{field}:\s+(\d+) kB", file.read())
    assert match is not None
    return int(match[1]) / 1024


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0.0


# ---------------------------------------------------------------- the wire


class Closed(NamedTuple):
    """How the peer ended the connection: its close frame's code (None: no
    close frame came, only the end of the TCP stream)."""

    code: int | None


class Wire:
    """A raw WebSocket connection as the hostile side holds it: frames go out
    exactly as built, frames come in through a strict reader."""

    def __init__(self, stream: trio.SocketStream, *, client: bool, leftover: bytes = b"") -> None:
        self.stream = stream
        self.client = client  # a client masks what it sends (RFC 6455 §5.1)
        self.reader = FrameReader(expect_masked=not client)
        self.inbox: list[PeerFrame] = self.reader.feed(leftover) if leftover else []
        self.closed: Closed | None = None
        self.pongs: list[bytes] = []
        self._key = os.urandom(4)
        self._sending = trio.Lock()  # the probe's sender and reader both write
        self.send_failed = False
        self._read = 0

    async def send(self, data: bytes, frames: int = 1) -> None:
        """Send as is.  A peer that is gone is no error here: what it did before
        going is what the caller judges (``closed`` once read to the end)."""
        TALLY.frames_sent += frames
        TALLY.bytes_sent += len(data)
        async with self._sending:
            try:
                await self.stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self.send_failed = True

    async def send_text(self, data: bytes) -> None:
        await self.send(RawFrame(OP_TEXT, data, masked=self.client, key=self._key).encode())

    async def send_frames(self, frames: list[RawFrame]) -> None:
        await self.send(b"".join(frame.encode() for frame in frames), len(frames))

    async def next_frame(self) -> PeerFrame | None:
        """The peer's next frame; None once it closed (see ``closed``).  Pongs
        are kept in ``pongs``, a close frame is answered (RFC 6455 §5.5.1)."""
        while True:
            while self.inbox:
                frame = self.inbox.pop(0)
                if frame.opcode == OP_PONG:
                    self.pongs.append(frame.payload)
                    continue
                if frame.opcode == OP_CLOSE:
                    self.closed = Closed(close_code(frame.payload))
                    await self._reply_close(frame.payload[:2])
                    return None
                return frame
            if self.closed is not None:
                return None
            try:
                data = await self.stream.receive_some(65536)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""
            if not data:
                self.closed = Closed(None)
                return None
            self.inbox.extend(self.reader.feed(data))

    async def _reply_close(self, code: bytes) -> None:
        await self.send(RawFrame(OP_CLOSE, code, masked=self.client, key=self._key).encode())

    async def next_message(self) -> Any:
        """The peer's next OCPP message, decoded; None once it closed.  Every
        64th lets the loop run others: a flood of answers read back must not
        make the hostile side the probe's bottleneck."""
        self._read += 1
        if self._read % 64 == 0:
            await trio.lowlevel.checkpoint()
        while True:
            frame = await self.next_frame()
            if frame is None:
                return None
            if frame.opcode == OP_PING:  # the peer's keep-alive (RFC 6455 §5.5.2)
                await self.send(RawFrame(OP_PONG, frame.payload, masked=self.client, key=self._key).encode())
                continue
            return json.loads(frame.payload)

    async def answer_call(self, message: list[Any], payload: dict[str, Any] | None = None) -> None:
        """Answer a CALL of the peer's with ``payload`` (default: what a lenient CSMS answers)."""
        await self.send_text(dumps([3, message[1], confirmation(message[2]) if payload is None else payload]))

    def abort(self) -> None:
        """End the TCP connection with a reset, as a killed process's kernel does."""
        sock = self.stream.socket
        if sock.fileno() == -1:
            return  # already closed
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()


def accept_for(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


class Request(NamedTuple):
    charge_point_id: str
    headers: dict[str, str]
    leftover: bytes


async def read_request(stream: trio.SocketStream, limit: int = 65536) -> Request | None:
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        if len(buffer) > limit:
            return None
        try:
            data = await stream.receive_some(16384)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return None
        if not data:
            return None
        buffer += data
    head, _, leftover = buffer.partition(b"\r\n\r\n")
    start, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    path = start.split(" ")[1] if start.count(" ") >= 2 else ""
    return Request(unquote(path.rstrip("/").rpartition("/")[2]), headers, leftover)


def switching_protocols(request: Request, subprotocol: str | None = "ocpp1.6", accept: bytes | None = None) -> bytes:
    lines = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Accept: {(accept or accept_for(request.headers['sec-websocket-key'].encode())).decode()}"]
    if subprotocol is not None:
        lines.append(f"Sec-WebSocket-Protocol: {subprotocol}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def accept_upgrade(stream: trio.SocketStream, request: Request) -> Wire:
    await stream.send_all(switching_protocols(request))
    return Wire(stream, client=False, leftover=request.leftover)


# ---------------------------------------------------------------- a hostile CSMS

Handler = Callable[[trio.SocketStream, Request], Awaitable[None]]


async def serve_hostile_csms(handler: Handler, rcvbuf: int | None = None, port: int = 0, *,
                             task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
    """Accept connections on 127.0.0.1 (``port``, 0: an ephemeral one; the port
    is given to ``task_status``) and hand each, its upgrade request read, to
    ``handler``.  ``rcvbuf`` shrinks the receive buffer of every accepted
    socket (a peer that stops reading then pushes back at once)."""
    listener = trio.socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart after kill -9 takes the port again
    if rcvbuf is not None:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    await listener.bind(("127.0.0.1", port))
    listener.listen(4096)
    async with trio.open_nursery() as nursery:
        task_status.started(listener.getsockname()[1])
        with listener:
            while True:
                sock, _ = await listener.accept()
                nursery.start_soon(_hostile_connection, trio.SocketStream(sock), handler, name=f"{HOSTILE}connection")


async def _hostile_connection(stream: trio.SocketStream, handler: Handler) -> None:
    async with stream:
        request = await read_request(stream)
        if request is not None:
            try:
                await handler(stream, request)
            except* (trio.BrokenResourceError, trio.ClosedResourceError):
                pass  # the station went away: what it did is judged by the script's observations


# ---------------------------------------------------------------- a hostile charge point


def upgrade_request(port: int, charge_point_id: str, *, subprotocol: str = "ocpp1.6",
                    extra: str = "") -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (f"GET /ocpp/{charge_point_id} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Protocol: {subprotocol}\r\n{extra}\r\n").encode()


async def read_response(stream: trio.SocketStream) -> tuple[str, bytes]:
    """The server's status line and the bytes after its head ("" when it
    closed before answering)."""
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        try:
            data = await stream.receive_some(16384)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            data = b""
        if not data:
            return "", b""
        buffer += data
    head, _, rest = buffer.partition(b"\r\n\r\n")
    return head.split(b"\r\n", 1)[0].decode("latin-1"), rest


async def open_hostile_cp(port: int, charge_point_id: str, password: str | None = None) -> Wire:
    """A charge point that completes the handshake properly (with HTTP Basic
    when given a password); what it sends after is up to the caller."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    extra = ""
    if password is not None:
        token = base64.b64encode(f"{charge_point_id}:{password}".encode()).decode()
        extra = f"Authorization: Basic {token}\r\n"
    await stream.send_all(upgrade_request(port, charge_point_id, extra=extra))
    status, rest = await read_response(stream)
    assert status.startswith("HTTP/1.1 101"), f"the CSMS refused the upgrade: {status!r}"
    return Wire(stream, client=True, leftover=rest)
