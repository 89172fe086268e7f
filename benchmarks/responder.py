"""A bare OCPP 1.6-J central system: the instrument for measuring fleetsim
under load.

One level-triggered ``select.epoll`` loop, no trio, no CSMS logic: each CALL
gets the smallest valid CALLRESULT, at once or after an injected delay, and
each answer's own time here is measured from the kernel's arrival stamp of its
CALL (``SO_TIMESTAMPNS``) to the ``send()`` of the answer.  It costs a fraction
of the embedded CSMS per call, so at 80 % of a fleet's maximum rate it is not
the bottleneck: what fleetsim reports above what this did is fleetsim's own
(and the loopback's).  Its connections are fleetsim's own ``Link`` on the
server's side (framing, pongs, closes, the kernel's stamp of each read).

    python benchmarks/responder.py --port 9500
    python benchmarks/responder.py --port 0 --delay fixed:40ms --seed 11 --truth truth.bin

It prints ``listening on 127.0.0.1:PORT`` first.  With ``--truth``, on SIGTERM
or SIGINT it writes, for every Heartbeat it answered, the wall-clock time of
the answer's ``send()`` and the answer's own time here (seconds), as native
doubles in pairs (at most ``MAX_TRUTH`` pairs; later ones are not kept), then
exits.  Delays are drawn from ``random.Random(seed)`` in the order the CALLs
are read.  Used by ``selflag.py``, ``fleet.py --csms bare`` and
``tests/engine/test_fidelity_at_load.py``.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import random
import select
import signal
import socket
import sys
import time
from array import array
from datetime import UTC, datetime

import msgspec

from fleetsim.csms.config import ResponseDelay
from fleetsim.engine import framing
from fleetsim.engine.limits import raise_open_files_limit
from fleetsim.engine.link import Link, LinkError

MAX_TRUTH = 20_000_000  # pairs: 320 MB at most
MAX_MESSAGE_BYTES = 1 << 20
MAX_PENDING = 1_000_000  # delayed answers held at once (OCPP-J: one CALL in flight a station)


class _Connection:
    __slots__ = ("head", "link", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.head = b""  # the upgrade request so far
        self.link: Link | None = None  # once upgraded: fleetsim's own link, the server's side


class Responder:
    def __init__(self, port: int, delay: ResponseDelay, seed: int, heartbeat_interval_s: int, truth: bool) -> None:
        raise_open_files_limit(20_000)
        self.listener = socket.create_server(("127.0.0.1", port), backlog=4096)
        self.listener.setblocking(False)
        self.port = self.listener.getsockname()[1]
        self.epoll = select.epoll()
        self.epoll.register(self.listener.fileno(), select.EPOLLIN)
        self.connections: dict[int, _Connection] = {}
        self.again: set[int] = set()  # links that may hold more than readiness will announce
        self.delay = delay
        self.rng = random.Random(seed)
        self.heartbeat_interval_s = heartbeat_interval_s
        self.truth = array("d") if truth else None
        self.heap: list[tuple[float, int, int, bytes, float, bool]] = []
        self.order = itertools.count()
        self.transaction_ids = itertools.count(1)
        self.stopping = False
        self._second = -1
        self._now_text = ""

    def serve(self) -> None:
        poll, heap = self.epoll.poll, self.heap
        while not self.stopping:
            timeout = 0.0 if self.again else max(0.0, heap[0][0] - time.monotonic()) if heap else 0.5
            try:
                ready = poll(timeout, 1024)
            except InterruptedError:
                continue
            again, self.again = self.again, set()
            for fd in again:
                self._read(fd)
            for fd, _ in ready:
                if fd == self.listener.fileno():
                    self._accept()
                elif fd not in again:
                    self._read(fd)
            if heap:
                now = time.monotonic()
                while heap and heap[0][0] <= now:
                    _, _, fd, payload, arrived_at, heartbeat = heapq.heappop(heap)
                    self._send(fd, payload, arrived_at, heartbeat)

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except BlockingIOError:
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.connections[sock.fileno()] = _Connection(sock)
            self.epoll.register(sock.fileno(), select.EPOLLIN)

    def _close(self, fd: int) -> None:
        connection = self.connections.pop(fd, None)
        if connection is not None:
            self.epoll.unregister(fd)
            self.again.discard(fd)
            if connection.link is not None:
                connection.link.close()
            else:
                connection.sock.close()

    def _read(self, fd: int) -> None:
        connection = self.connections.get(fd)
        if connection is None:
            return
        link = connection.link
        if link is None:
            self._handshake(connection)
            return
        try:
            events = link.read()
        except LinkError:
            self._close(fd)
            return
        arrived_at = link.received_at or time.time()  # the kernel's stamp of the read
        for event in events:
            if type(event) is framing.Message:
                self._answer(fd, event.data, arrived_at)
            elif link.answer(event) or link.closed:  # a pong that did not fit, a close, a violation
                self._close(fd)
                return
        if link.maybe_more:
            self.again.add(fd)

    def _handshake(self, connection: _Connection) -> None:
        fd = connection.sock.fileno()
        try:
            data = connection.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        parsed = framing.split_head(connection.head + data) if data else "closed"
        if parsed is None:
            connection.head += data
            return
        request = None if isinstance(parsed, str) else framing.read_upgrade_request(parsed[0])
        if request is None or isinstance(request, str):
            self._close(fd)
            return
        connection.sock.sendall(framing.server_accept(request.key, "ocpp1.6"))
        connection.link = Link(connection.sock, parsed[1], MAX_MESSAGE_BYTES, client=False)
        if connection.link.maybe_more:  # frames right behind the request
            self.again.add(fd)

    def _answer(self, fd: int, data: bytes, arrived_at: float) -> None:
        try:
            message = msgspec.json.decode(data)
            kind, unique_id, action = message[0], message[1], message[2]
        except (msgspec.DecodeError, IndexError, KeyError, TypeError):
            return
        if kind != 2:
            return  # an answer to a CALL of ours: we send none
        payload = msgspec.json.encode([3, unique_id, self._body(action)])
        heartbeat = action == "Heartbeat"
        delay_ms = self.delay.draw_ms(self.rng)
        if delay_ms <= 0:
            self._send(fd, payload, arrived_at, heartbeat)
        elif len(self.heap) >= MAX_PENDING:
            self._close(fd)  # a peer that sends CALLs without waiting for the answers
        else:
            due = time.monotonic() + delay_ms / 1000 - (time.time() - arrived_at)
            heapq.heappush(self.heap, (due, next(self.order), fd, payload, arrived_at, heartbeat))

    def _send(self, fd: int, payload: bytes, arrived_at: float, heartbeat: bool) -> None:
        connection = self.connections.get(fd)
        if connection is None or connection.link is None:
            return
        if connection.link.send_text(payload) or connection.link.closed:
            self._close(fd)  # the kernel took only part: a peer that does not read (this loop drains nothing)
            return
        if heartbeat and self.truth is not None and len(self.truth) < 2 * MAX_TRUTH:
            sent_at = time.time()
            self.truth.append(sent_at)
            self.truth.append(sent_at - arrived_at)

    def _body(self, action: str) -> dict:
        match action:
            case "Heartbeat":
                return {"currentTime": self._now()}
            case "BootNotification":
                return {"status": "Accepted", "currentTime": self._now(), "interval": self.heartbeat_interval_s}
            case "Authorize":
                return {"idTagInfo": {"status": "Accepted"}}
            case "StartTransaction":
                return {"transactionId": next(self.transaction_ids), "idTagInfo": {"status": "Accepted"}}
            case "DataTransfer":
                return {"status": "Accepted"}
            case _:  # StatusNotification, MeterValues, StopTransaction, the status notifications
                return {}

    def _now(self) -> str:
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._now_text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return self._now_text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=ResponseDelay.parse, default=ResponseDelay())
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--heartbeat-interval", type=int, default=60)
    parser.add_argument("--truth", default=None, help="where to write the Heartbeat answers' own times on exit")
    args = parser.parse_args()
    responder = Responder(args.port, args.delay, args.seed, args.heartbeat_interval, args.truth is not None)

    def stop(*_: object) -> None:
        responder.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"listening on 127.0.0.1:{responder.port}", flush=True)
    responder.serve()
    if args.truth is not None:
        assert responder.truth is not None
        with open(args.truth, "wb") as out:
            responder.truth.tofile(out)
    sys.exit(0)


if __name__ == "__main__":
    main()
