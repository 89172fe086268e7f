"""RFC 6455 WebSocket framing and the opening handshake, sans-IO.

fleetsim speaks WebSocket itself rather than through a general-purpose
library because the link is the product's hot path: measured here, a
trio-websocket round trip costs about 65 µs, hand-written framing on plain
sockets about 25 µs.  Only what OCPP-J needs is here: text messages (binary
accepted), fragmentation, ping/pong, close, masking.

Like wsproto, a peer that breaks the protocol yields an *event*
(:class:`Violation` with the close code to send), never an exception.  What
a peer controls is capped before it is stored (message size, fragments per
message, and with a :class:`PartialBudget` the partial frames of the whole
process), and the work done on its bytes is linear in them.
"""

from __future__ import annotations

import base64
import codecs
import hashlib
import random
import struct
from typing import Final

from fleetsim.engine.wsevents import Close, Event, HttpHead, Message, Ping, Pong, UpgradeRequest, Violation

GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3

OP_CONTINUATION: Final = 0x0
OP_TEXT: Final = 0x1
OP_BINARY: Final = 0x2
OP_CLOSE: Final = 0x8
OP_PING: Final = 0x9
OP_PONG: Final = 0xA

CLOSE_NORMAL: Final = 1000
CLOSE_GOING_AWAY: Final = 1001
CLOSE_PROTOCOL_ERROR: Final = 1002
CLOSE_INVALID_PAYLOAD: Final = 1007
CLOSE_POLICY_VIOLATION: Final = 1008
CLOSE_TOO_BIG: Final = 1009
CLOSE_INTERNAL_ERROR: Final = 1011

# A legitimate sender fragments only to stream a large message, in pieces of
# its send buffer (kilobytes); OCPP-J messages are normally sent whole.  At the
# default 4 MiB message limit that is at most 1,024 pieces of 4 KiB.  A peer
# sending more (40,000 empty fragments cost 13 s before this cap) makes us pay
# per-frame work and a list slot for no data; Autobahn's fragmentation and UTF-8
# cases (5.x, 6.x) use at most 64.
DEFAULT_MAX_FRAGMENTS: Final = 1024
_MAX_CLOSE_REASON_BYTES: Final = 123  # RFC 6455 §5.5: 125 bytes of control payload, 2 of them the code

_random = random.Random()  # masking keys (RFC 6455 §5.3); no secret is at stake on our links
_utf8_decoder = codecs.getincrementaldecoder("utf-8")


def apply_mask(data: bytes, key: bytes) -> bytes:
    """XOR ``data`` with the 4-byte masking key (RFC 6455 §5.3), as one big-int
    operation: far cheaper in Python than a byte loop."""
    n = len(data)
    if n == 0:
        return b""
    stream = (key * ((n >> 2) + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(stream, "little")).to_bytes(n, "little")


def _header(opcode: int, length: int, masked: bool) -> bytes:
    first = 0x80 | opcode  # FIN: we never fragment what we send
    mask_bit = 0x80 if masked else 0
    if length < 126:
        return bytes((first, mask_bit | length))
    if length < 65536:
        return struct.pack("!BBH", first, mask_bit | 126, length)
    return struct.pack("!BBQ", first, mask_bit | 127, length)


def encode_frame(opcode: int, payload: bytes, masked: bool) -> bytes:
    """One complete frame.  A client masks (``masked=True``), a server does not."""
    if not masked:
        return _header(opcode, len(payload), False) + payload
    key = _random.getrandbits(32).to_bytes(4, "little")
    return _header(opcode, len(payload), True) + key + apply_mask(payload, key)


def encode_close(code: int, reason: str, masked: bool) -> bytes:
    # RFC 6455 §5.5.1: the reason is UTF-8, so cut it on a character boundary.
    body = reason.encode()[:_MAX_CLOSE_REASON_BYTES].decode(errors="ignore").encode()
    return encode_frame(OP_CLOSE, struct.pack("!H", code) + body, masked)


def close_code_allowed(code: int) -> bool:
    """May a peer send ``code`` in a close frame?  RFC 6455 §7.4.1 defines
    1000-1003 and 1007-1011; 1004 is reserved; 1005, 1006 and 1015 must never be
    on the wire; the IANA registry (§11.7) adds 1012-1014; 1016-2999 are kept
    for future RFCs; 3000-4999 are for libraries and applications (§7.4.2);
    0-999 and 5000 and up are not used."""
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


class PartialBudget:
    """Bytes that all the parsers of a process together may hold in unfinished
    frames and unfinished fragmented messages.

    The per-message limit bounds one connection; this bounds their sum, so that
    many peers each sending most of a large frame and then nothing (200 such
    held 920 MB) cannot exhaust the process.  Charged only for bytes actually
    held, never for lengths merely announced, and nothing for a frame that
    arrives whole within one read (the common case costs nothing)."""

    __slots__ = ("held_bytes", "max_bytes", "peak_bytes", "refusals")

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError("a partial-frame budget cannot be negative")
        self.max_bytes = max_bytes
        self.held_bytes = 0
        self.peak_bytes = 0
        self.refusals = 0  # parsers cut because their growth did not fit

    def take(self, n_bytes: int) -> bool:
        held = self.held_bytes + n_bytes
        if held > self.max_bytes:
            self.refusals += 1
            return False
        self.held_bytes = held
        if held > self.peak_bytes:
            self.peak_bytes = held
        return True

    def give(self, n_bytes: int) -> None:
        self.held_bytes -= n_bytes


class FrameParser:
    """Incremental parser for one direction of a connection.

    ``expect_masked`` is True on a server (client frames must be masked) and
    False on a client (server frames must not be).  Feed it bytes as they
    arrive; it returns the complete events they finish.  After a
    :class:`Violation` or a :class:`Close` it reads nothing more.

    Work is linear in the input: a partial frame waits in a bytearray until the
    bytes it needs have arrived (``_need``), and is parsed once then.
    """

    __slots__ = (
        "_budget",
        "_buffer",
        "_charged",
        "_done",
        "_expect_masked",
        "_fragment_binary",
        "_fragment_bytes",
        "_fragments",
        "_max_fragments",
        "_mask_bit",
        "_max_message_bytes",
        "_need",
        "_utf8",
    )

    def __init__(
        self,
        expect_masked: bool,
        max_message_bytes: int,
        *,
        max_fragments: int = DEFAULT_MAX_FRAGMENTS,
        budget: PartialBudget | None = None,
    ) -> None:
        self._expect_masked = expect_masked
        self._mask_bit = 0x80 if expect_masked else 0
        self._max_message_bytes = max_message_bytes
        self._max_fragments = max_fragments
        self._budget = budget
        self._charged = 0  # bytes charged to the budget
        self._buffer = bytearray()  # the start of a frame not yet complete
        self._need = 0  # bytes the buffer must hold before parsing can progress
        self._fragments: list[bytes] | None = None  # of the unfinished message
        self._fragment_bytes = 0
        self._fragment_binary = False
        self._utf8: codecs.IncrementalDecoder | None = None  # of an unfinished text message
        self._done = False

    @property
    def parsable(self) -> bool:
        """Whole frames wait in the buffer (a feed stopped at its ``limit``)."""
        return bool(self._buffer) and self._need == 0

    def feed(self, data: bytes, limit: int = 1 << 62) -> list[Event]:
        """The events ``data`` completes, at most ``limit`` of them: what is
        left waits (:attr:`parsable`) for the next feed, ``b""`` will do.  A
        read that holds 8,000 tiny frames is then parsed a slice at a time."""
        if self._done:
            return []
        buffer = self._buffer
        if buffer:
            buffer += data
            if len(buffer) < self._need:
                return self._settle([]) if self._budget is not None else []
            data = bytes(buffer)
            buffer.clear()
        events: list[Event] = []
        offset = 0
        end = len(data)
        mask_bit = self._mask_bit
        while True:
            available = end - offset
            if available < 2:
                need = 2
                break
            if len(events) >= limit:
                need = 0
                break
            first = data[offset]
            second = data[offset + 1]
            length = second & 0x7F
            position = offset + 2
            if length > 125:
                if length == 126:
                    if available < 4:
                        need = 4
                        break
                    (length,) = struct.unpack_from("!H", data, position)
                    position += 2
                    minimal = length > 125
                else:
                    if available < 10:
                        need = 10
                        break
                    (length,) = struct.unpack_from("!Q", data, position)
                    position += 8
                    minimal = length > 0xFFFF
                if not minimal:  # RFC 6455 §5.2: "the minimal number of bytes MUST be used"
                    return self._fail(events, Violation(CLOSE_PROTOCOL_ERROR, "payload length not minimally encoded"))
            masked = second & 0x80
            whole_text = first == 0x81 and self._fragments is None
            if not (whole_text and masked == mask_bit and length <= self._max_message_bytes):
                violation = self._check_header(first, masked, length)
                if violation is not None:
                    return self._fail(events, violation)
            start = position + 4 if masked else position
            stop = start + length
            if stop > end:
                need = stop - offset
                break
            payload = apply_mask(data[start:stop], data[position:start]) if masked else data[start:stop]
            offset = stop
            if whole_text:  # the hot path: one frame, one text message
                if payload.isascii() or _is_utf8(payload):
                    events.append(Message(payload))
                    continue
                return self._fail(events, Violation(CLOSE_INVALID_PAYLOAD, "text message is not UTF-8"))  # §8.1
            event = self._on_frame(first & 0x80, first & 0x0F, payload)
            if event is not None:
                events.append(event)
                if type(event) is Violation or type(event) is Close:
                    # §5.5.1: nothing after a close frame is read; a violation ends the connection.
                    self._finish()
                    return events
        if offset < end:
            self._buffer += memoryview(data)[offset:]
            self._need = need
        return self._settle(events) if self._budget is not None else events

    def _fail(self, events: list[Event], violation: Violation) -> list[Event]:
        events.append(violation)
        self._finish()
        return events

    def release(self) -> None:
        """Give back what this parser holds to the budget; it reads nothing more.
        Call it when the connection closes, however it closes."""
        self._finish()

    @property
    def held_bytes(self) -> int:
        """Bytes held in an unfinished frame and an unfinished fragmented message."""
        return len(self._buffer) + self._fragment_bytes

    def _finish(self) -> None:
        self._done = True
        self._buffer = bytearray()
        self._fragments = None
        self._fragment_bytes = 0
        self._utf8 = None
        if self._budget is not None and self._charged:
            self._budget.give(self._charged)
        self._charged = 0

    def _settle(self, events: list[Event]) -> list[Event]:
        """Charge the budget for what this parser now holds, or give back."""
        assert self._budget is not None
        held = len(self._buffer) + self._fragment_bytes
        growth = held - self._charged
        if growth > 0 and not self._budget.take(growth):
            # 1008 rather than 1009: the cut is the process's policy, not a
            # property of this message, which may be small (RFC 6455 §7.4.1:
            # 1008 is the code to use when no more specific one fits).
            events.append(Violation(CLOSE_POLICY_VIOLATION, "partial-frame memory budget exhausted"))
            self._finish()
            return events
        if growth < 0:
            self._budget.give(-growth)
        self._charged = held
        return events

    def _check_header(self, first: int, masked: int, length: int) -> Violation | None:
        if first & 0x70:
            return Violation(CLOSE_PROTOCOL_ERROR, "reserved bits set without an extension")
        if bool(masked) != self._expect_masked:
            side = "client frames must be masked" if self._expect_masked else "server frames must not be masked"
            return Violation(CLOSE_PROTOCOL_ERROR, side)
        if length >> 63:
            return Violation(CLOSE_PROTOCOL_ERROR, "64-bit length with the most significant bit set")  # §5.2
        opcode = first & 0x0F
        if opcode >= 0x8:
            if opcode > OP_PONG:
                return Violation(CLOSE_PROTOCOL_ERROR, f"unknown opcode {opcode:#x}")
            if length > 125 or not first & 0x80:
                return Violation(CLOSE_PROTOCOL_ERROR, "control frames are at most 125 bytes and not fragmented")
            return None
        if opcode > OP_BINARY:
            return Violation(CLOSE_PROTOCOL_ERROR, f"unknown opcode {opcode:#x}")
        # 1009 (RFC 6455 §7.4.1: "a message that is too big for it to process")
        # for both caps: too many fragments is a message too big to track.
        if self._fragment_bytes + length > self._max_message_bytes:
            return Violation(CLOSE_TOO_BIG, f"message above {self._max_message_bytes} bytes")
        if opcode == OP_CONTINUATION and self._fragments is not None and len(self._fragments) >= self._max_fragments:
            return Violation(CLOSE_TOO_BIG, f"message in more than {self._max_fragments} fragments")
        return None

    def _on_frame(self, fin: int, opcode: int, payload: bytes) -> Event | None:
        if opcode == OP_TEXT or opcode == OP_BINARY:
            if self._fragments is not None:
                return Violation(CLOSE_PROTOCOL_ERROR, "new message inside a fragmented one")  # §5.4
            if fin:  # only a binary one comes here when whole
                return Message(payload, True)
            self._fragments = [payload]
            self._fragment_bytes = len(payload)
            self._fragment_binary = opcode == OP_BINARY
            self._utf8 = None if self._fragment_binary else _utf8_decoder()
            return self._check_text(payload, False)
        if opcode == OP_CONTINUATION:
            fragments = self._fragments
            if fragments is None:
                return Violation(CLOSE_PROTOCOL_ERROR, "continuation frame without a message")  # §5.4
            fragments.append(payload)
            self._fragment_bytes += len(payload)
            violation = self._check_text(payload, bool(fin))
            if violation is not None or not fin:
                return violation
            message = Message(b"".join(fragments), self._fragment_binary)
            self._fragments = None
            self._fragment_bytes = 0
            self._utf8 = None
            return message
        if opcode == OP_PING:
            return Ping(payload)
        if opcode == OP_PONG:
            return Pong(payload)
        return _close_event(payload)

    def _check_text(self, payload: bytes, final: bool) -> Violation | None:
        """RFC 6455 §8.1: a text message must be UTF-8.  Checked fragment by
        fragment, so the connection fails on the fragment that breaks it
        (Autobahn 6.4.1), not only at the message's end."""
        decoder = self._utf8
        if decoder is None:
            return None
        try:
            decoder.decode(payload, final)
        except UnicodeDecodeError:
            return Violation(CLOSE_INVALID_PAYLOAD, "text message is not UTF-8")
        return None


def _is_utf8(payload: bytes) -> bool:
    try:
        payload.decode()
    except UnicodeDecodeError:
        return False
    return True


def _close_event(payload: bytes) -> Close | Violation:
    if not payload:
        return Close(1005, "")  # RFC 6455 §7.1.5: no status code was present
    if len(payload) == 1:
        return Violation(CLOSE_PROTOCOL_ERROR, "close frame with a one-byte body")  # §5.5.1: a code is 2 bytes
    (code,) = struct.unpack_from("!H", payload)
    if not close_code_allowed(code):
        return Violation(CLOSE_PROTOCOL_ERROR, f"close code {code} may not be sent")  # §7.4.1, §7.4.2
    try:
        reason = payload[2:].decode()
    except UnicodeDecodeError:
        # §5.5.1: the reason is UTF-8; §8.1 fails a connection on invalid
        # UTF-8 with 1007 (Autobahn 7.5.1 accepts it).
        return Violation(CLOSE_INVALID_PAYLOAD, "close reason is not UTF-8")
    return Close(code, reason)


# ---------------------------------------------------------------- handshake


def new_key() -> bytes:
    return base64.b64encode(_random.getrandbits(128).to_bytes(16, "little"))


def accept_for(key: bytes) -> bytes:
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 §4.2.2)."""
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


def client_request(host: str, path: str, key: bytes, subprotocol: str, authorization: str | None) -> bytes:
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key.decode()}",
        "Sec-WebSocket-Version: 13",
        f"Sec-WebSocket-Protocol: {subprotocol}",
    ]
    if authorization is not None:
        lines.append(f"Authorization: {authorization}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def basic_authorization(user: str, password: bytes) -> str:
    """OCPP 1.6 security profile 1/2: HTTP Basic with the charge point id as user
    name and the AuthorizationKey as password (security whitepaper §2.1)."""
    return "Basic " + base64.b64encode(user.encode() + b":" + password).decode()


def split_head(buffer: bytes, limit: int = 16384) -> tuple[HttpHead, bytes] | str | None:
    """Parse an HTTP head from the start of ``buffer``: the head and the bytes
    after it, ``None`` if incomplete, or a string saying what is wrong."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return "HTTP head too large" if len(buffer) > limit else None
    try:
        text = buffer[:end].decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes any byte
        return "HTTP head is not text"
    start_line, *header_lines = text.split("\r\n")
    headers: dict[str, str] = {}
    for line in header_lines:
        name, sep, value = line.partition(":")
        if not sep:
            return f"malformed header line {line[:80]!r}"
        key = name.strip().lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    return HttpHead(start_line, headers), buffer[end + 4 :]


def check_server_response(head: HttpHead, key: bytes, subprotocol: str) -> str | None:
    """Why the server's handshake response is not acceptable, or None."""
    parts = head.start_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        return f"not an HTTP response: {head.start_line[:80]!r}"
    if parts[1] != "101":
        return f"HTTP {' '.join(parts[1:])}"
    if head.headers.get("upgrade", "").lower() != "websocket":
        return "response lacks Upgrade: websocket"
    if head.headers.get("sec-websocket-accept", "").encode() != accept_for(key):
        return "wrong Sec-WebSocket-Accept"
    chosen = head.headers.get("sec-websocket-protocol")
    if chosen != subprotocol:
        # OCPP-J 1.6 §3.1.2: the server must agree to the OCPP version.
        return f"server chose subprotocol {chosen!r}, not {subprotocol!r}"
    return None


def read_upgrade_request(head: HttpHead) -> UpgradeRequest | str:
    """The upgrade request in ``head``, or why it is not one (RFC 6455 §4.2.1)."""
    parts = head.start_line.split(" ")
    if len(parts) != 3 or parts[0] != "GET" or not parts[2].startswith("HTTP/1."):
        return f"not a GET request: {head.start_line[:80]!r}"
    if head.headers.get("upgrade", "").lower() != "websocket":
        return "missing Upgrade: websocket"
    if "upgrade" not in head.headers.get("connection", "").lower():
        return "missing Connection: Upgrade"
    if head.headers.get("sec-websocket-version") != "13":
        return "unsupported Sec-WebSocket-Version"
    key = head.headers.get("sec-websocket-key", "")
    if len(key) != 24:
        return "missing or malformed Sec-WebSocket-Key"
    protocols = tuple(p.strip() for p in head.headers.get("sec-websocket-protocol", "").split(",") if p.strip())
    return UpgradeRequest(parts[1], key.encode(), protocols, head.headers.get("authorization"))


def server_accept(key: bytes, subprotocol: str) -> bytes:
    return (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept_for(key).decode()}\r\nSec-WebSocket-Protocol: {subprotocol}\r\n\r\n"
    ).encode()


def server_refuse(status: int, reason: str) -> bytes:
    body = reason.encode()
    extra = 'WWW-Authenticate: Basic realm="ocpp"\r\n' if status == 401 else ""
    return (
        f"HTTP/1.1 {status} {reason}\r\n{extra}Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
