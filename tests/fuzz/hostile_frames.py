"""RFC 6455 as a hostile peer writes it: any header (FIN, RSV bits, opcode,
mask bit, each length form, a length that lies), a reference model of what a
conforming receiver must do with a sequence of such frames, a strict reader
of what the peer under test sends back, and hypothesis strategies over the
frame grammar.

Written from the RFC, independently of :mod:`fleetsim.engine.framing`: the
model is the oracle the peer under test is judged against.
"""

from __future__ import annotations

import codecs
import struct
from collections.abc import Callable, Sequence
from typing import NamedTuple

from hypothesis import strategies as st

OP_CONTINUATION, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA
RESERVED_OPCODES = (0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF)  # RFC 6455 §5.2

NO_STATUS = 1005  # RFC 6455 §7.1.5: how a close frame without a status code is reported
# RFC 6455 §7.4.1 and the IANA registry: codes an endpoint may send in a close frame.
VALID_CLOSE_CODES = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011}) | frozenset(range(3000, 5000))
# Registered after RFC 6455 (IANA: 1012 Service Restart, 1013 Try Again Later,
# 1014 Bad Gateway): a receiver may take them or fail the connection.
LATER_CLOSE_CODES = frozenset({1012, 1013, 1014})
INVALID_CLOSE_CODES = (0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535)

# Byte strings no UTF-8 decoder may accept (RFC 3629 §3, §10): a lone
# continuation byte, an overlong "/", a surrogate, a code point above U+10FFFF,
# a truncated sequence, bytes that never occur.
INVALID_UTF8 = (b"\x80", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82", b"\xff", b"\xfe")


class RawFrame(NamedTuple):
    """One frame as put on the wire.  ``length_form`` 16 or 64 forces that
    extended length field even where a shorter one would do (RFC 6455 §5.2
    asks for the minimal one); ``declared_length`` lies about the payload
    length (the payload bytes then sent are ``payload`` as given)."""

    opcode: int
    payload: bytes = b""
    fin: bool = True
    rsv: int = 0  # RSV1..RSV3 as a 3-bit number
    masked: bool = False
    length_form: int = 0  # 0: minimal
    declared_length: int | None = None
    key: bytes = b"\x00\x00\x00\x00"  # a zero key leaves the payload as it is: no cost for big frames

    @property
    def length(self) -> int:
        return len(self.payload) if self.declared_length is None else self.declared_length

    @property
    def is_control(self) -> bool:
        return self.opcode >= 0x8

    @property
    def non_minimal(self) -> bool:
        n = self.length
        return (self.length_form == 16 and n < 126) or (self.length_form == 64 and n < 65536)

    def encode(self) -> bytes:
        first = (0x80 if self.fin else 0) | (self.rsv & 7) << 4 | (self.opcode & 0xF)
        mask_bit = 0x80 if self.masked else 0
        n = self.length
        if self.length_form == 64 or n >= 65536:
            head = struct.pack("!BBQ", first, mask_bit | 127, n)
        elif self.length_form == 16 or n >= 126:
            head = struct.pack("!BBH", first, mask_bit | 126, n)
        else:
            head = bytes((first, mask_bit | n))
        if not self.masked:
            return head + self.payload
        return head + self.key + mask(self.payload, self.key)


def mask(data: bytes, key: bytes) -> bytes:
    """RFC 6455 §5.3."""
    if not data or key == b"\x00\x00\x00\x00":
        return data
    stream = (key * (len(data) // 4 + 1))[: len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(len(data), "big")


def close_payload(code: int | None, reason: bytes = b"") -> bytes:
    return b"" if code is None else struct.pack("!H", code) + reason


# ---------------------------------------------------------------- the model


class Outcome(NamedTuple):
    """What a conforming receiver does with a frame sequence: the data
    messages it takes (in order), the pings it must answer, and the close
    codes it may answer with (None: the connection stays open)."""

    messages: tuple[bytes, ...]
    pings: tuple[bytes, ...]
    close: frozenset[int] | None


def expected_outcomes(frames: Sequence[RawFrame], *, expect_masked: bool, max_message_bytes: int) -> list[Outcome]:
    """Every outcome RFC 6455 allows for ``frames``: one, or several where the
    RFC leaves the receiver a choice (a non-minimal length may be taken or
    refused; invalid UTF-8 may fail the connection at the first fragment that
    shows it or at the end of the message)."""
    messages: list[bytes] = []
    pings: list[bytes] = []
    optional: list[Outcome] = []
    open_opcode: int | None = None
    chunks: list[bytes] = []
    utf8 = codecs.getincrementaldecoder("utf-8")()
    utf8_bad = False

    def fail(codes: set[int] | frozenset[int]) -> list[Outcome]:
        return [*optional, Outcome(tuple(messages), tuple(pings), frozenset(codes))]

    for frame in frames:
        if frame.non_minimal:  # RFC 6455 §5.2 "MUST be used": refusing it is as right as taking it
            optional.append(Outcome(tuple(messages), tuple(pings), frozenset({1002})))
        if frame.rsv or frame.opcode in RESERVED_OPCODES or frame.masked != expect_masked:
            return fail({1002})  # §5.2: no extension negotiated; §5.1: masking by direction
        if frame.is_control:
            if not frame.fin or frame.length > 125:
                return fail({1002})  # §5.5
            if frame.opcode == OP_PING:
                pings.append(frame.payload)
            elif frame.opcode == OP_CLOSE:
                return [*optional, Outcome(tuple(messages), tuple(pings), _close_reply(frame.payload))]
            continue
        codes = set()
        if (frame.opcode == OP_CONTINUATION) == (open_opcode is None):
            codes.add(1002)  # §5.4: a continuation of nothing, or a new message inside a fragmented one
        if sum(map(len, chunks)) + frame.length > max_message_bytes:
            codes.add(1009)  # §7.4.1: too big to process (a receiver may see either breach first)
        if codes:
            return fail(codes)
        if frame.opcode != OP_CONTINUATION:
            open_opcode, chunks, utf8_bad = frame.opcode, [], False
            utf8 = codecs.getincrementaldecoder("utf-8")()
        chunks.append(frame.payload)
        if open_opcode == OP_TEXT and not utf8_bad:
            try:
                utf8.decode(frame.payload, final=frame.fin)
            except UnicodeDecodeError:
                utf8_bad = True
        if utf8_bad:
            # §8.1: fail on invalid UTF-8, here (fail fast) or once the message is whole.
            if not frame.fin:
                optional.append(Outcome(tuple(messages), tuple(pings), frozenset({1007})))
                continue
            return fail({1007})
        if frame.fin:
            messages.append(b"".join(chunks))
            open_opcode, chunks = None, []
    return [*optional, Outcome(tuple(messages), tuple(pings), None)]


def _close_reply(payload: bytes) -> frozenset[int]:
    """The codes of the close frame a receiver answers a close with (§5.5.1,
    §7.4): it echoes a valid code (or says 1000), fails an invalid one with 1002."""
    if not payload:
        return frozenset({1000, NO_STATUS})
    if len(payload) == 1:
        return frozenset({1002})
    (code,) = struct.unpack_from("!H", payload)
    try:
        payload[2:].decode()
    except UnicodeDecodeError:
        return frozenset({1002, 1007})  # §8.1 says 1007; Autobahn 7.5.1 takes either
    if code in VALID_CLOSE_CODES:
        return frozenset({code, 1000})
    if code in LATER_CLOSE_CODES:
        return frozenset({code, 1000, 1002})
    return frozenset({1002})


# ---------------------------------------------------------------- reading the peer


class PeerFrame(NamedTuple):
    opcode: int
    payload: bytes
    fin: bool


class PeerViolation(Exception):
    """The peer under test sent something RFC 6455 forbids."""


class FrameReader:
    """A strict incremental reader of what the peer under test sends.  It
    reads at an offset and drops what it read once per ``feed``: the hostile
    side shares the loop with the code under test, so it must stay cheap."""

    def __init__(self, *, expect_masked: bool) -> None:
        self.expect_masked = expect_masked
        self.buffer = b""
        self.at = 0

    def feed(self, data: bytes) -> list[PeerFrame]:
        self.buffer = self.buffer[self.at :] + data if self.at < len(self.buffer) else data
        self.at = 0
        frames: list[PeerFrame] = []
        while (frame := self._next()) is not None:
            frames.append(frame)
        return frames

    def _next(self) -> PeerFrame | None:
        buffer, at = self.buffer, self.at
        if len(buffer) - at < 2:
            return None
        first, second = buffer[at], buffer[at + 1]
        if first & 0x70:
            raise PeerViolation(f"the peer set reserved bits: {first:#x}")
        if bool(second & 0x80) != self.expect_masked:
            raise PeerViolation("the peer masked wrongly for its side (RFC 6455 §5.1)")
        n, position = second & 0x7F, at + 2
        if n == 126:
            if len(buffer) - at < 4:
                return None
            (n,), position = struct.unpack_from("!H", buffer, position), position + 2
        elif n == 127:
            if len(buffer) - at < 10:
                return None
            (n,), position = struct.unpack_from("!Q", buffer, position), position + 8
        key = b""
        if self.expect_masked:
            key, position = buffer[position : position + 4], position + 4
        if len(buffer) < position + n:
            return None
        payload = buffer[position : position + n]
        self.at = position + n
        return PeerFrame(first & 0x0F, mask(payload, key) if key else payload, bool(first & 0x80))


def close_code(payload: bytes) -> int:
    return struct.unpack_from("!H", payload)[0] if len(payload) >= 2 else NO_STATUS


# ---------------------------------------------------------------- strategies


class FrameCase(NamedTuple):
    """A sequence of frames built around ``calls`` (the data messages, each a
    complete OCPP CALL), with the way to deliver it: in chunks of these sizes
    (cycled), or all at once when empty."""

    frames: tuple[RawFrame, ...]
    chunk_sizes: tuple[int, ...]
    mutation: str

    def __repr__(self) -> str:
        frames = ", ".join(_short(frame) for frame in self.frames)
        return f"FrameCase({self.mutation!r}, chunks={self.chunk_sizes}, [{frames}])"


def _short(frame: RawFrame) -> str:
    fields = [f"op={frame.opcode:#x}", f"{frame.payload[:40]!r}" + ("..." if len(frame.payload) > 40 else "")]
    fields += [f"{name}={value!r}" for name, value, default in (
        ("fin", frame.fin, True), ("rsv", frame.rsv, 0), ("masked", frame.masked, None),
        ("length_form", frame.length_form, 0), ("declared_length", frame.declared_length, None)) if value != default]
    return "Frame(" + ", ".join(fields) + ")"


def _splits(data: bytes) -> st.SearchStrategy[list[bytes]]:
    """``data`` as 1-6 fragments, empty ones among them (§5.4 allows them)."""
    cuts = st.lists(st.integers(0, len(data)), max_size=5).map(sorted)
    return cuts.map(lambda points: [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)])


@st.composite
def _message_frames(draw: st.DrawFn, data: bytes, masked: bool) -> list[RawFrame]:
    opcode = draw(st.sampled_from((OP_TEXT, OP_TEXT, OP_TEXT, OP_BINARY)))
    pieces = draw(st.one_of(st.just([data]), _splits(data)))
    frames = []
    for index, piece in enumerate(pieces):
        frames.append(RawFrame(opcode if index == 0 else OP_CONTINUATION, piece, fin=index == len(pieces) - 1,
                               masked=masked, length_form=draw(_length_forms), key=draw(_keys)))
        if index < len(pieces) - 1 and draw(st.booleans()):  # §5.4: control frames between fragments
            frames.append(draw(_benign_control(masked)))
    return frames


_length_forms = st.sampled_from((0, 0, 0, 0, 0, 16, 64))
_keys = st.one_of(st.just(b"\x00\x00\x00\x00"), st.binary(min_size=4, max_size=4))


def _benign_control(masked: bool) -> st.SearchStrategy[RawFrame]:
    return st.builds(lambda op, data, key: RawFrame(op, data, masked=masked, key=key),
                     st.sampled_from((OP_PING, OP_PING, OP_PONG)), st.binary(max_size=125), _keys)


def _mutations(masked: bool, max_message_bytes: int, bad_call: bytes) -> st.SearchStrategy[tuple[str, list[RawFrame]]]:
    """Frames that break RFC 6455 (or probe one of its corners), by name."""
    def frame(op: int, data: bytes = b"", **fields: object) -> RawFrame:
        return RawFrame(op, data, masked=fields.pop("masked", masked), **fields)  # type: ignore[arg-type]

    invalid_text = st.sampled_from(INVALID_UTF8).map(lambda bad: bad_call.replace(b"@", bad))
    return st.one_of(
        st.tuples(st.just("rsv bits"), st.integers(1, 7).map(lambda rsv: [frame(OP_TEXT, bad_call, rsv=rsv)])),
        st.tuples(st.just("reserved opcode"), st.builds(lambda op, fin: [frame(op, b"x", fin=fin)],
                                                        st.sampled_from(RESERVED_OPCODES), st.booleans())),
        st.tuples(st.just("wrong masking"), st.just([frame(OP_TEXT, bad_call, masked=not masked)])),
        st.tuples(st.just("control frame over 125 bytes"),
                  st.integers(126, 300).map(lambda n: [frame(OP_PING, b"p" * n)])),
        st.tuples(st.just("fragmented control frame"), st.just([frame(OP_PING, b"p", fin=False)])),
        st.tuples(st.just("continuation of nothing"), st.just([frame(OP_CONTINUATION, b"x")])),
        st.tuples(st.just("message inside a fragmented one"),
                  st.just([frame(OP_TEXT, b"[2,", fin=False), frame(OP_TEXT, b"x")])),
        st.tuples(st.just("invalid UTF-8 text"),
                  st.builds(lambda text, cut: [frame(OP_TEXT, text[:cut], fin=False),
                                               frame(OP_CONTINUATION, text[cut:])] if cut else [frame(OP_TEXT, text)],
                            invalid_text, st.integers(0, 20))),
        st.tuples(st.just("close"), st.builds(lambda code, reason: [frame(OP_CLOSE, close_payload(code, reason))],
                                              st.sampled_from(sorted(VALID_CLOSE_CODES)[:12]), st.binary(max_size=3)
                                              .filter(_is_utf8))),
        st.tuples(st.just("close, no status"), st.just([frame(OP_CLOSE)])),
        st.tuples(st.just("close, one byte"), st.just([frame(OP_CLOSE, b"\x03")])),
        st.tuples(st.just("close, invalid code"), st.sampled_from(INVALID_CLOSE_CODES).map(
            lambda code: [frame(OP_CLOSE, close_payload(code, b"bye"))])),
        st.tuples(st.just("close, reason not UTF-8"), st.sampled_from(INVALID_UTF8).map(
            lambda bad: [frame(OP_CLOSE, close_payload(1000, bad))])),
        st.tuples(st.just("oversized frame"), st.integers(max_message_bytes + 1, 2**63 - 1).map(
            lambda n: [frame(OP_BINARY, b"", declared_length=n)])),
    )


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


@st.composite
def frame_cases(draw: st.DrawFn, *, masked: bool, max_message_bytes: int,
                call: Callable[[str, str], bytes]) -> FrameCase:
    """1-4 CALLs (``call(unique_id, filler)``), each whole or in fragments, with
    control frames between, maybe one mutation somewhere, then a last CALL:
    its answer tells the reader that everything before it was read."""
    frames: list[RawFrame] = []
    for n in range(draw(st.integers(1, 4))):
        frames.extend(draw(_message_frames(call(f"m{n}", ""), masked)))
    mutation = "none"
    if draw(st.integers(0, 4)):  # four in five carry a mutation
        mutation, bad = draw(_mutations(masked, max_message_bytes, call("bad", "@")))
        at = draw(st.integers(0, len(frames)))
        frames[at:at] = bad
    frames.extend(draw(_message_frames(call("last", ""), masked)))
    chunks = draw(st.one_of(st.just(()), st.lists(st.integers(1, 64), min_size=1, max_size=4).map(tuple)))
    return FrameCase(tuple(frames), chunks, mutation)


def wire_bytes(case: FrameCase) -> list[bytes]:
    """The case's bytes in the pieces it is delivered in.  A frame that lies
    about its length is followed by nothing (its payload never comes)."""
    data = b"".join(frame.encode() for frame in case.frames)
    if not case.chunk_sizes:
        return [data]
    pieces, at, n = [], 0, 0
    while at < len(data):
        size = case.chunk_sizes[n % len(case.chunk_sizes)]
        pieces.append(data[at : at + size])
        at, n = at + size, n + 1
    return pieces
