"""The other end of a connection under test, on a raw non-blocking socket: it
plays an Autobahn case's steps (:mod:`autobahn_cases`) and reads what
fleetsim sends back, with its own minimal RFC 6455 encoder and decoder (not
fleetsim's, so a bug in fleetsim's framing cannot hide itself).

Two peers: a server for fleetsim's station link (``link.connect``) and a
client (it masks, RFC 6455 §5.3) for the embedded CSMS.  Both run in the same
trio process as the side under test, so "fleetsim has read everything sent
so far" is exact: ``trio.testing.wait_all_tasks_blocked`` returns once
fleetsim's reader is parked again with nothing left to read.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import socket
import struct
from typing import NamedTuple

import trio
import trio.testing
from autobahn_cases import OP_CLOSE, OP_PONG, OP_TEXT, AwaitClose, AwaitPong, Frame, Quiet, Send, SendCut, Step

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3


def encode(frame: Frame, mask: bool) -> bytes:
    """``frame`` on the wire, masked with a random key when ``mask``."""
    payload = frame.payload
    length = len(payload) if frame.length is None else frame.length
    form = frame.length_form or (length if length < 126 else 126 if length < 65536 else 127)
    first = (0x80 if frame.fin else 0) | (frame.rsv << 4) | frame.opcode
    extended = struct.pack("!H" if form == 126 else "!Q", length) if form >= 126 else b""
    head = bytes([first, (0x80 if mask else 0) | form]) + extended
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + xor(payload, key)


def xor(data: bytes, key: bytes) -> bytes:
    """RFC 6455 §5.3 masking (its own inverse), as one big-integer XOR."""
    stream = (key * (len(data) // 4 + 1))[: len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(len(data), "big")


def payload_offset(frame: Frame, mask: bool) -> int:
    """Where the payload starts in ``encode(frame, mask)``: after the header."""
    return len(encode(frame, mask)) - len(frame.payload)


class Outcome(NamedTuple):
    pongs: tuple[bytes, ...]
    close: int | None  # the code of fleetsim's close frame; None: it sent none
    failed: bool  # its close was not an echo of a valid close the peer sent


class Peer:
    def __init__(self, sock: socket.socket, *, masks: bool) -> None:
        self.sock = sock
        self.masks = masks  # a client masks, and reads unmasked frames (RFC 6455 §5.1)
        self.received: list[tuple[int, bytes]] = []  # (opcode, payload) of fleetsim's frames, in order
        self._unread = bytearray()
        self._eof = False
        self._sent_close: int | None = None  # the code of the valid close we sent, once sent
        self._texts_read = 0  # text frames of fleetsim's that read_text returned

    # --------------------------------------------------------------- sending

    async def play(self, steps: tuple[Step, ...]) -> None:
        for step in steps:
            match step:
                case Send(frames=frames, chop=chop):
                    data = b"".join(encode(frame, self.masks) for frame in frames)
                    pieces = [data] if chop is None else [data[i : i + chop] for i in range(0, len(data), chop)]
                    await self._write(pieces)
                    self._note_close(frames)
                case SendCut(frame=frame, cuts=cuts):
                    data = encode(frame, self.masks)
                    start = payload_offset(frame, self.masks)
                    points = [0, *(start + cut for cut in cuts), len(data)]
                    pieces = [data[a:b] for a, b in zip(points, points[1:], strict=False)]
                    for piece in pieces[:-1]:
                        await self._write([piece])
                        await self._expect_quiet()
                    await self._write(pieces[-1:])
                case AwaitPong(payload=payload):
                    await self._read_until(lambda: (OP_PONG, payload) in self.received)
                case AwaitClose():
                    await self._read_until(lambda: any(op == OP_CLOSE for op, _ in self.received))
                case Quiet():
                    await self._expect_quiet()

    def _note_close(self, frames: tuple[Frame, ...]) -> None:
        for frame in frames:
            if frame.opcode == OP_CLOSE and self._sent_close is None and len(frame.payload) != 1:
                self._sent_close = struct.unpack("!H", frame.payload[:2])[0] if frame.payload else 1000

    async def _write(self, pieces: list[bytes]) -> None:
        """Write each piece and let fleetsim read it before the next; a peer that
        fleetsim has already closed on stops writing, as a real one would."""
        for piece in pieces:
            view = memoryview(piece)
            while view:
                try:
                    view = view[self.sock.send(view) :]
                except BlockingIOError:
                    await trio.lowlevel.wait_writable(self.sock)
                except (BrokenPipeError, ConnectionResetError):
                    return
            await trio.testing.wait_all_tasks_blocked()

    # --------------------------------------------------------------- reading

    async def _expect_quiet(self) -> None:
        before = len(self.received)
        await trio.testing.wait_all_tasks_blocked()
        self._read_available()
        assert len(self.received) == before and not self._eof, f"fleetsim answered early: {self.received}"

    async def _read_until(self, condition: object) -> None:
        while not condition():  # type: ignore[operator]
            assert not self._eof, f"connection ended first; fleetsim sent {self.received}"
            await trio.lowlevel.wait_readable(self.sock)
            self._read_available()

    async def read_to_end(self) -> Outcome:
        while not self._eof:
            await trio.lowlevel.wait_readable(self.sock)
            self._read_available()
        self.sock.close()
        return self._outcome()

    async def read_text(self) -> bytes:
        """Until fleetsim has sent a text frame not read by this call before: its payload."""
        seen = self._texts_read
        await self._read_until(lambda: sum(op == OP_TEXT for op, _ in self.received) > seen)
        self._texts_read += 1
        return [payload for op, payload in self.received if op == OP_TEXT][seen]

    async def read_to_eof(self) -> None:
        """Everything fleetsim sends until it ends the connection."""
        while not self._eof:
            await trio.lowlevel.wait_readable(self.sock)
            self._read_available()

    def _read_available(self) -> None:
        while not self._eof:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return
            except ConnectionResetError:  # fleetsim closed with our bytes unread: the kernel resets
                data = b""
            if not data:
                self._eof = True
            self._unread += data
            self._decode()

    def _decode(self) -> None:
        buffer = self._unread
        while len(buffer) >= 2:
            first, second = buffer[0], buffer[1]
            assert first & 0x70 == 0, "fleetsim set a reserved bit"
            assert first & 0x80, "fleetsim fragmented a frame"
            masked = bool(second & 0x80)
            assert masked != self.masks, "a client masks what it sends, a server does not (RFC 6455 §5.1)"
            length, at = second & 0x7F, 2
            if length == 126:
                if len(buffer) < 4:
                    return
                (length,), at = struct.unpack_from("!H", buffer, 2), 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                (length,), at = struct.unpack_from("!Q", buffer, 2), 10
            key_end = at + 4 if masked else at
            if len(buffer) < key_end + length:
                return
            payload = bytes(buffer[key_end : key_end + length])
            if masked:
                payload = xor(payload, bytes(buffer[at:key_end]))
            self.received.append((first & 0x0F, payload))
            del buffer[: key_end + length]

    def _outcome(self) -> Outcome:
        opcodes = [op for op, _ in self.received]
        assert set(opcodes) <= {OP_PONG, OP_CLOSE}, f"fleetsim sent frames it should not: {self.received}"
        closes = [payload for op, payload in self.received if op == OP_CLOSE]
        if not closes:
            return Outcome(self._pongs(), None, True)
        assert opcodes.index(OP_CLOSE) == len(opcodes) - 1, "fleetsim sent frames after its close (§5.5.1)"
        body = closes[0]
        assert len(body) >= 2, "fleetsim's close frame carries a code"
        body[2:].decode()  # RFC 6455 §5.5.1: its reason is UTF-8
        (code,) = struct.unpack("!H", body[:2])
        return Outcome(self._pongs(), code, code != self._sent_close)

    def _pongs(self) -> tuple[bytes, ...]:
        return tuple(payload for op, payload in self.received if op == OP_PONG)


# ---------------------------------------------------------------- handshakes


def accept_value(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


async def read_head(sock: socket.socket) -> bytes:
    head = b""
    while b"\r\n\r\n" not in head:
        await trio.lowlevel.wait_readable(sock)
        data = sock.recv(65536)
        assert data, "closed during the handshake"
        head += data
    assert head.endswith(b"\r\n\r\n"), "nothing may follow the head before the upgrade completes"
    return head


def listen() -> socket.socket:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    return listener


async def accept_upgrade(listener: socket.socket) -> socket.socket:
    """Accept one WebSocket client and agree to ocpp1.6 (RFC 6455 §4.2.2)."""
    await trio.lowlevel.wait_readable(listener)
    sock, _ = listener.accept()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # each write goes out now, as Autobahn's do
    sock.setblocking(False)
    head = await read_head(sock)
    match = re.search(rb"(?im)^sec-websocket-key:\s*(\S+)", head)
    assert match, head
    sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Accept: " + accept_value(match.group(1)) + b"\r\n"
                 b"Sec-WebSocket-Protocol: ocpp1.6\r\n\r\n")
    return sock


async def open_upgrade(port: int, path: str) -> socket.socket:
    """Connect as a WebSocket client speaking ocpp1.6 (RFC 6455 §4.1)."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # each write goes out now, as Autobahn's do
    sock.setblocking(False)
    key = base64.b64encode(os.urandom(16))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 f"Sec-WebSocket-Key: {key.decode()}\r\nSec-WebSocket-Version: 13\r\n"
                 "Sec-WebSocket-Protocol: ocpp1.6\r\n\r\n".encode())
    head = await read_head(sock)
    assert head.startswith(b"HTTP/1.1 101 "), head
    assert b"Sec-WebSocket-Accept: " + accept_value(key) in head, head
    return sock
