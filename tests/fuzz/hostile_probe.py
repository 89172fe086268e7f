"""The probe: a well-behaved peer of one station (or of the CSMS) in the
process under test, measuring how long a CALL waits for its answer.

Its end of the socket is driven from the trio instrument hooks
``before_io_wait``/``after_io_wait``, which run once per pass of the
scheduler, right around its wait for IO: the probe sends when a call falls
due and reads the answer as soon as the loop looks at its sockets, with no
task of its own to be scheduled.  Tasks would add two scheduler hops per call
(a sender's and a reader's) that a CSMS in another process does not cost:
the figure would be about three times what a remote peer sees.  So measured,
a call waits for exactly what the code under test makes it wait: the other
tasks' steps, the station's own, and the loop's IO wait.

Calls go out on a fixed schedule and each latency counts from its intended
send time: when one is late, those due meanwhile go out behind it and count
from their own intended times (the correction for coordinated omission).
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from typing import Any

import trio

from hostile_frames import OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, FrameReader, PeerViolation, RawFrame
from hostile_ocpp import confirmation, dumps

# A call every 10 ms: fine enough to see any stall over a few milliseconds,
# and a station's own pace at worst (a real one calls every few seconds).  The
# correction for coordinated omission charges a stall to every call due in it.
PROBE_PERIOD_S = 0.010
_KEY = b"\x00\x00\x00\x00"


class RunDelay:
    """How long this thread has waited for a CPU while runnable (Linux
    schedstat, field 2): on a shared machine, the time other processes took."""

    def __init__(self) -> None:
        self._fd = os.open("/proc/thread-self/schedstat", os.O_RDONLY)

    def __call__(self) -> float:
        return int(os.pread(self._fd, 64, 0).split()[1]) / 1e9

    def close(self) -> None:
        os.close(self._fd)


class HookProbe(trio.abc.Instrument):
    """``client``: the probe is a charge point (it boots, then sends
    ``call(uid)``); else it is the CSMS of one station (it accepts the boot,
    then sends ``call(uid)``).  ``latencies_s`` are net of the time other
    processes held the CPU (:class:`RunDelay`, read at the send and at the
    answer: a wait for the CPU before the send stays in, so the net figure
    errs high); ``raw_latencies_s`` keep it.  Only calls answered while
    ``armed`` count."""

    def __init__(self, call: Callable[[str], bytes], *, client: bool) -> None:
        self.call = call
        self.client = client
        self.armed = False
        self.booted = False
        self.disconnects = 0
        self.latencies_s: list[float] = []
        self.raw_latencies_s: list[float] = []
        self._sock: socket.socket | None = None
        self._reader = FrameReader(expect_masked=not client)
        self._out = b""
        self._next_s = 0.0
        self._sent = 0
        self._in_flight: tuple[str, float, float] | None = None
        self._run_delay = RunDelay()

    # ------------------------------------------------------------ set-up (from a task)

    def attach(self, sock: trio.socket.SocketType, leftover: bytes = b"") -> None:
        """Take over a connection whose handshake is done (a duplicate of its
        descriptor: the task that opened it keeps it open, and reads nothing)."""
        self._sock = socket.socket(fileno=os.dup(sock.fileno()))
        self._sock.setblocking(False)
        if self.client:
            self._write(dumps([2, "probe-boot", "BootNotification", {"chargePointVendor": "Probe",
                                                                     "chargePointModel": "P"}]))
        if leftover:
            self._take(leftover, time.perf_counter())

    async def keep_awake(self) -> None:
        """Wake the loop when a call falls due and when an answer arrives
        (the hooks do the work; this task only makes the loop look)."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._tick, name="hostile:probe-tick")
            while self._sock is not None:
                try:
                    await trio.lowlevel.wait_readable(self._sock)
                except trio.ClosedResourceError:  # the hooks found it gone
                    break
                await trio.sleep(0)  # the after_io_wait hook read it; wait again next pass
            nursery.cancel_scope.cancel()

    async def _tick(self) -> None:
        while True:
            await trio.sleep(PROBE_PERIOD_S / 2)

    def close(self) -> None:
        self._run_delay.close()
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    # ------------------------------------------------------------ the hooks

    def before_io_wait(self, timeout: float) -> None:
        self._turn()

    def after_io_wait(self, timeout: float) -> None:
        self._turn()

    def _turn(self) -> None:
        if self._sock is None:
            return
        now = time.perf_counter()
        try:
            data = self._sock.recv(65536)
        except BlockingIOError:
            data = None
        except OSError:
            data = b""
        if data == b"":
            self._lost()
            return
        if data:
            self._take(data, now)
        self._send_due(now)
        self._flush()

    def _take(self, data: bytes, now: float) -> None:
        try:
            frames = self._reader.feed(data)
        except PeerViolation:
            self._lost()
            return
        for frame in frames:
            if frame.opcode == OP_PING:
                self._write(frame.payload, OP_PONG)
            elif frame.opcode == OP_CLOSE:
                self._lost()
                return
            elif frame.opcode != OP_PONG:
                self._on_message(json.loads(frame.payload), now)

    def _on_message(self, message: list[Any], now: float) -> None:
        if message[0] == 2:  # the peer's CALL: answer as a lenient peer does
            self._write(dumps([3, message[1], confirmation(message[2])]))
            if not self.client and message[2] == "BootNotification":
                self._start(now)
        elif message[1] == "probe-boot":
            self._start(now)
        elif self._in_flight is not None and message[1] == self._in_flight[0]:
            _, intended_s, delay_s = self._in_flight
            self._in_flight = None
            if self.armed:
                raw_s = now - intended_s
                self.raw_latencies_s.append(raw_s)
                self.latencies_s.append(raw_s - (self._run_delay() - delay_s))

    def _start(self, now: float) -> None:
        self.booted = True
        self._next_s = now + PROBE_PERIOD_S

    def _send_due(self, now: float) -> None:
        # OCPP-J 1.6 §4.1.1: one CALL in flight; the ones due meanwhile follow it.
        if self.booted and self._in_flight is None and now >= self._next_s:
            self._sent += 1
            uid = f"probe-{self._sent}"
            self._in_flight = uid, self._next_s, self._run_delay()
            self._next_s += PROBE_PERIOD_S
            self._write(self.call(uid))

    def _write(self, payload: bytes, opcode: int = OP_TEXT) -> None:
        self._out += RawFrame(opcode, payload, masked=self.client, key=_KEY).encode()
        self._flush()

    def _flush(self) -> None:
        if self._sock is None or not self._out:
            return
        try:
            sent = self._sock.send(self._out)
        except BlockingIOError:
            return
        except OSError:
            self._lost()
            return
        self._out = self._out[sent:]

    def _lost(self) -> None:
        if self.armed:  # not the end of the run closing it
            self.disconnects += 1
        if self._sock is not None:
            trio.lowlevel.notify_closing(self._sock)  # wakes keep_awake, parked on it
            self._sock.close()
            self._sock = None
