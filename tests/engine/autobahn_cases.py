"""The frame-level cases of the Autobahn WebSocket test suite (its client and
server sections share them: 1 framing, 2 pings and pongs, 3 reserved bits,
4 opcodes, 5 fragmentation, 6 UTF-8, 7 closing), as rows of data.

Each row says what the peer sends, step by step, and what fleetsim must do:
the messages it delivers to the station or CSMS, the pongs it sends, the code
of its close frame, and whether it *fails* the connection (RFC 6455 §7.1.7:
its close is its own verdict, not an echo of a valid close from the peer).
Numbers and descriptions follow the suite's case list
(https://github.com/crossbario/autobahn-testsuite); the UTF-8 sequences are
Markus Kuhn's UTF-8 decoder stress test, as the suite uses them.  Where the
suite says "the peer waits one second", the rows wait for an event instead (a
pong, or nothing having been sent once fleetsim has read everything), so that
no row depends on timing.

Rows beyond the suite are marked ``fleetsim.*``: the caps of our own.

Named ``autobahn_cases`` (not ``cases``): test directories have no
``__init__.py`` and share one import namespace.
"""

from __future__ import annotations

import itertools
import struct
from typing import NamedTuple

OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class Frame(NamedTuple):
    opcode: int
    payload: bytes = b""
    fin: bool = True
    rsv: int = 0  # the three reserved bits, RSV1 highest
    length: int | None = None  # the length announced, if not the payload's
    length_form: int | None = None  # 126 or 127 to force that length encoding; None: the minimal one


class Send(NamedTuple):
    """The peer writes ``frames``; in pieces of ``chop`` bytes, fleetsim reading
    each before the next (Autobahn's ``chopsize``), or all in one write."""

    frames: tuple[Frame, ...]
    chop: int | None = None


class SendCut(NamedTuple):
    """One frame written in pieces, cut at ``cuts`` (offsets into its payload),
    fleetsim reading each piece before the next."""

    frame: Frame
    cuts: tuple[int, ...]


class AwaitPong(NamedTuple):
    """The peer waits for fleetsim's pong to this ping before going on."""

    payload: bytes


class AwaitClose(NamedTuple):
    """The peer waits for fleetsim's close frame (failing fast)."""


class Quiet(NamedTuple):
    """fleetsim has read all the peer sent and answered nothing yet."""


Step = Send | SendCut | AwaitPong | AwaitClose | Quiet


class Case(NamedTuple):
    id: str
    what: str
    steps: tuple[Step, ...]
    messages: tuple[tuple[bytes, bool], ...] = ()  # (payload, binary) delivered, in order
    pongs: tuple[bytes, ...] = ()
    close: int = 1000  # the code of fleetsim's close frame
    failed: bool = False  # fleetsim fails the connection rather than echoing the peer's close
    note: str = ""  # a non-strict choice of fleetsim's: what and why


def close_frame(code: int, reason: bytes = b"") -> Frame:
    return Frame(OP_CLOSE, struct.pack("!H", code) + reason)


NORMAL_CLOSE = Send((close_frame(1000),))
# RFC 6455 §5.5.3: of pings not yet answered, an endpoint may answer only the
# most recent.  fleetsim pongs the last ping of each read (and of what waits
# while its peer does not read), so a ping flood costs one pong per read; the
# pongs sent are then the suite's in order, ending with the last.
PINGS_TOGETHER = ("pings read together get one pong, for the latest (RFC 6455 §5.5.3; Autobahn: non-strict, "
                  "all pongs are its preference)")


def send(*frames: Frame, chop: int | None = None) -> Send:
    return Send(frames, chop)


def frame_wise(*frames: Frame) -> tuple[Send, ...]:
    """Autobahn's ``sync=True``: each frame in a write of its own."""
    return tuple(Send((frame,)) for frame in frames)


def text(payload: bytes) -> tuple[bytes, bool]:
    return (payload, False)


def binary(payload: bytes) -> tuple[bytes, bool]:
    return (payload, True)


def failing(code: int) -> dict[str, object]:
    return {"close": code, "failed": True}


HELLO = b"Hello, world!"


# ------------------------------------------------------------- 1 framing


def framing_cases() -> list[Case]:
    sizes = [0, 125, 126, 127, 128, 65535, 65536]
    rows = []
    for opcode, group, fill, kind in ((OP_TEXT, "1.1", b"*", text), (OP_BINARY, "1.2", b"\xfe", binary)):
        name = "text" if opcode == OP_TEXT else "binary"
        for number, size in enumerate(sizes, 1):
            payload = fill * size
            rows.append(Case(f"{group}.{number}", f"{name} message of {size} bytes",
                             (send(Frame(opcode, payload)), NORMAL_CLOSE), messages=(kind(payload),)))
        payload = fill * 65536
        rows.append(Case(f"{group}.8", f"{name} message of 65536 bytes in writes of 997 bytes",
                         (send(Frame(opcode, payload), chop=997), NORMAL_CLOSE), messages=(kind(payload),)))
    return rows


# ---------------------------------------------------- 2 pings and pongs


def ping_cases() -> list[Case]:
    odd = b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff"
    pings = [b"payload-%d" % i for i in range(10)]
    return [
        Case("2.1", "ping without payload", (send(Frame(OP_PING)), NORMAL_CLOSE), pongs=(b"",)),
        Case("2.2", "ping with a small text payload", (send(Frame(OP_PING, HELLO)), NORMAL_CLOSE), pongs=(HELLO,)),
        Case("2.3", "ping with a small binary (non UTF-8) payload", (send(Frame(OP_PING, odd)), NORMAL_CLOSE),
             pongs=(odd,)),
        Case("2.4", "ping with a binary payload of 125 bytes", (send(Frame(OP_PING, b"\xfe" * 125)), NORMAL_CLOSE),
             pongs=(b"\xfe" * 125,)),
        Case("2.5", "ping with a binary payload of 126 bytes: control frames carry at most 125 (§5.5)",
             (send(Frame(OP_PING, b"\xfe" * 126)),), **failing(1002)),
        Case("2.6", "ping with a payload of 125 bytes, written byte by byte",
             (send(Frame(OP_PING, b"\xfe" * 125), chop=1), NORMAL_CLOSE), pongs=(b"\xfe" * 125,)),
        Case("2.7", "unsolicited pong without payload: nothing in reply",
             (send(Frame(OP_PONG), close_frame(1000)),)),
        Case("2.8", "unsolicited pong with payload: nothing in reply",
             (send(Frame(OP_PONG, b"unsolicited pong payload"), close_frame(1000)),)),
        Case("2.9", "unsolicited pong, then a ping: only the ping is answered",
             (send(Frame(OP_PONG, b"unsolicited pong payload"), Frame(OP_PING, b"ping payload")), NORMAL_CLOSE),
             pongs=(b"ping payload",)),
        Case("2.10", "10 pings with payload: a pong for the last at least", (send(*(Frame(OP_PING, p) for p in pings)),
                                                                            NORMAL_CLOSE),
             pongs=tuple(pings), note=PINGS_TOGETHER),
        Case("2.11", "10 pings with payload, written byte by byte",
             (send(*(Frame(OP_PING, p) for p in pings), chop=1), NORMAL_CLOSE), pongs=tuple(pings), note=PINGS_TOGETHER),
    ]


# ---------------------------------------------------------- 3 reserved bits


def reserved_bit_cases() -> list[Case]:
    def then_ping(rsv: int) -> tuple[Frame, ...]:
        return (Frame(OP_TEXT, HELLO), Frame(OP_TEXT, HELLO, rsv=rsv), Frame(OP_PING))

    why = "RSV bits without a negotiated extension (§5.2)"
    echoed = {"messages": (text(HELLO),), **failing(1002)}
    return [
        Case("3.1", f"small text message with RSV = 1: {why}", (send(Frame(OP_TEXT, HELLO, rsv=1)),), **failing(1002)),
        Case("3.2", "text message, then again with RSV = 2, then a ping: the first is delivered, no pong",
             (send(*then_ping(2)),), **echoed),
        Case("3.3", "as 3.2 with RSV = 3, frame by frame", frame_wise(*then_ping(3)), **echoed),
        Case("3.4", "as 3.2 with RSV = 4, byte by byte", (send(*then_ping(4), chop=1),), **echoed),
        Case("3.5", "small binary message with RSV = 5", (send(Frame(OP_BINARY, b"\x00\xff\xfe\xfd", rsv=5)),),
             **failing(1002)),
        Case("3.6", "ping with RSV = 6", (send(Frame(OP_PING, HELLO, rsv=6)),), **failing(1002)),
        Case("3.7", "close with RSV = 7", (send(Frame(OP_CLOSE, struct.pack("!H", 1000), rsv=7)),),
             **failing(1002)),
    ]


# ---------------------------------------------------------------- 4 opcodes


def opcode_cases() -> list[Case]:
    rows = []
    for group, opcodes in (("4.1", (3, 4, 5, 6, 7)), ("4.2", (11, 12, 13, 14, 15))):
        kind = "non-control" if group == "4.1" else "control"
        for number, opcode in enumerate(opcodes, 1):
            payload = b"reserved opcode payload" if number in (2, 4, 5) else b""
            what = f"frame with reserved {kind} opcode {opcode}" + (" and a payload" if payload else "")
            if number <= 2:
                rows.append(Case(f"{group}.{number}", what, (send(Frame(opcode, payload)),), **failing(1002)))
                continue
            frames = (Frame(OP_TEXT, HELLO), Frame(opcode, payload), Frame(OP_PING))
            rows.append(Case(f"{group}.{number}", f"text message, then a {what}, then a ping: no pong",
                             (send(*frames, chop=1 if number == 5 else None),),
                             messages=(text(HELLO),), **failing(1002)))
    return rows


# ---------------------------------------------------------- 5 fragmentation


def fragmentation_cases() -> list[Case]:
    one, two = b"fragment1", b"fragment2"
    two_fragments = (Frame(OP_TEXT, one, fin=False), Frame(OP_CONTINUATION, two))
    with_ping = (Frame(OP_TEXT, one, fin=False), Frame(OP_PING, b"ping payload"), Frame(OP_CONTINUATION, two))
    stray = failing(1002)
    rows = [
        Case("5.1", "ping in 2 fragments: control frames are not fragmented (§5.5)",
             (send(Frame(OP_PING, one, fin=False), Frame(OP_CONTINUATION, two)),), **stray),
        Case("5.2", "pong in 2 fragments", (send(Frame(OP_PONG, one, fin=False), Frame(OP_CONTINUATION, two)),),
             **stray),
        Case("5.3", "text message in 2 fragments", (send(*two_fragments), NORMAL_CLOSE), messages=(text(one + two),)),
        Case("5.4", "as 5.3, frame by frame", (*frame_wise(*two_fragments), NORMAL_CLOSE),
             messages=(text(one + two),)),
        Case("5.5", "as 5.3, byte by byte", (send(*two_fragments, chop=1), NORMAL_CLOSE),
             messages=(text(one + two),)),
        Case("5.6", "text message in 2 fragments with a ping between: pong, then the message",
             (send(*with_ping), NORMAL_CLOSE), messages=(text(one + two),), pongs=(b"ping payload",)),
        Case("5.7", "as 5.6, frame by frame", (*frame_wise(*with_ping), NORMAL_CLOSE), messages=(text(one + two),),
             pongs=(b"ping payload",)),
        Case("5.8", "as 5.6, byte by byte", (send(*with_ping, chop=1), NORMAL_CLOSE), messages=(text(one + two),),
             pongs=(b"ping payload",)),
    ]
    for number, fin in ((9, True), (12, False)):
        frames = (Frame(OP_CONTINUATION, b"non-continuation payload", fin=fin), Frame(OP_TEXT, HELLO))
        what = f"continuation frame (FIN = {int(fin)}) with nothing to continue, then a text message"
        rows += [
            Case(f"5.{number}", what, (send(*frames),), **stray),
            Case(f"5.{number + 1}", f"{what}, frame by frame", frame_wise(*frames), **stray),
            Case(f"5.{number + 2}", f"{what}, byte by byte", (send(*frames, chop=1),), **stray),
        ]
    rows.append(Case(
        "5.15", "text message in 2 fragments, then a continuation with nothing to continue, then a text message",
        (send(*two_fragments, Frame(OP_CONTINUATION, b"fragment3", fin=False), Frame(OP_TEXT, b"fragment4")),),
        messages=(text(one + two),), **stray))
    for number, fin in ((16, False), (17, True)):
        stray_start = (Frame(OP_CONTINUATION, one, fin=fin), Frame(OP_TEXT, two, fin=False),
                       Frame(OP_CONTINUATION, b"fragment3"))
        rows.append(Case(f"5.{number}", f"twice: a continuation (FIN = {int(fin)}) with nothing to continue, "
                         "then a text message in 2 fragments", (send(*stray_start, *stray_start),), **stray))
    rows.append(Case("5.18", "text message in 2 fragments, both with the text opcode (§5.4)",
                     (send(Frame(OP_TEXT, one, fin=False), Frame(OP_TEXT, two)),), **stray))
    pieces = [b"fragment%d" % i for i in range(1, 6)]
    first = (Frame(OP_TEXT, pieces[0], fin=False), Frame(OP_CONTINUATION, pieces[1], fin=False),
             Frame(OP_PING, b"pongme 1!"))
    rest = (Frame(OP_CONTINUATION, pieces[2], fin=False), Frame(OP_CONTINUATION, pieces[3], fin=False),
            Frame(OP_PING, b"pongme 2!"), Frame(OP_CONTINUATION, pieces[4]))
    expected = {"messages": (text(b"".join(pieces)),), "pongs": (b"pongme 1!", b"pongme 2!")}
    rows += [
        Case("5.19", "text message in 5 fragments with 2 pings between; the first pong comes before the rest is sent",
             (send(*first), AwaitPong(b"pongme 1!"), send(*rest), NORMAL_CLOSE), **expected),
        Case("5.20", "as 5.19, frame by frame",
             (*frame_wise(*first), AwaitPong(b"pongme 1!"), *frame_wise(*rest), NORMAL_CLOSE), **expected),
    ]
    return rows


# ------------------------------------------------------------------ 6 UTF-8

# Greek "kosme", the classic test word, its omicron with oxia U+1F79 (3 bytes)
KOSME = "\u03ba\u1f79\u03c3\u03bc\u03b5".encode()
INVALID_AT_12 = KOSME + b"\xf4\x90\x80\x80" + b"edited"  # U+110000 in UTF-8's scheme: out of range


def bytewise(payload: bytes) -> tuple[Frame, ...]:
    """A text message in fragments of one byte each (§5.4)."""
    if len(payload) <= 1:
        return (Frame(OP_TEXT, payload),)
    last = len(payload) - 1
    return tuple(Frame(OP_TEXT if i == 0 else OP_CONTINUATION, payload[i : i + 1], fin=i == last)
                 for i in range(len(payload)))


def utf8_message(case_id: str, what: str, frames: tuple[Frame, ...], payload: bytes, valid: bool) -> Case:
    if valid:
        return Case(case_id, what, (send(*frames), NORMAL_CLOSE), messages=(text(payload),))
    return Case(case_id, what, (send(*frames),), **failing(1007))


def early_utf8_cases() -> list[Case]:
    hello = "Hello-µ@ßöäüàá-UTF-8!!".encode()
    first, second = "Hello-µ@ßöä".encode(), "üàá-UTF-8!!".encode()
    surrogate = KOSME + b"\xed\xa0\x80" + b"edited"
    late = ("a stream of one frame, cut in writes: fleetsim checks UTF-8 per frame, not per read, so it fails when "
            "the frame is complete (Autobahn: non-strict); unmasking and checking partial frames would cost every "
            "read work for a frame the size cap and partial-frame budget already bound")
    rows = [
        Case("6.1.1", "text message of length 0", (send(Frame(OP_TEXT)), NORMAL_CLOSE), messages=(text(b""),)),
        Case("6.1.2", "text message in 3 fragments, each empty",
             (send(Frame(OP_TEXT, fin=False), Frame(OP_CONTINUATION, fin=False), Frame(OP_CONTINUATION)),
              NORMAL_CLOSE), messages=(text(b""),)),
        Case("6.1.3", "text message in 3 fragments, the first and last empty",
             (send(Frame(OP_TEXT, fin=False), Frame(OP_CONTINUATION, b"middle frame payload", fin=False),
                   Frame(OP_CONTINUATION)), NORMAL_CLOSE), messages=(text(b"middle frame payload"),)),
        utf8_message("6.2.1", "valid UTF-8 text message in one fragment", (Frame(OP_TEXT, hello),), hello, True),
        utf8_message("6.2.2", "valid UTF-8 text message in 2 fragments, split on a code point boundary",
                     (Frame(OP_TEXT, first, fin=False), Frame(OP_CONTINUATION, second)), first + second, True),
        utf8_message("6.2.3", "valid UTF-8 text message in fragments of 1 byte, splitting code points",
                     bytewise(hello), hello, True),
        utf8_message("6.2.4", "valid UTF-8 text message (κόσμε) in fragments of 1 byte", bytewise(KOSME), KOSME,
                     True),
        utf8_message("6.3.1", "invalid UTF-8 text message (a surrogate), unfragmented",
                     (Frame(OP_TEXT, surrogate),), surrogate, False),
        utf8_message("6.3.2", "invalid UTF-8 text message (a surrogate) in fragments of 1 byte",
                     bytewise(surrogate), surrogate, False),
    ]
    # The message turns invalid at byte 12 (0x90 after 0xF4); 6.4.1 cuts it
    # around the whole bad sequence, 6.4.2 right after that byte.
    for number, (cut, stop) in enumerate(((11, 15), (12, 13)), 1):
        frames = (Frame(OP_TEXT, INVALID_AT_12[:cut], fin=False),
                  Frame(OP_CONTINUATION, INVALID_AT_12[cut:stop], fin=False),
                  Frame(OP_CONTINUATION, INVALID_AT_12[stop:]))
        rows.append(Case(f"6.4.{number}", "invalid UTF-8 text message in 3 fragments: fleetsim fails on the second "
                         "(fail fast), before the third is sent",
                         (send(frames[0]), Quiet(), send(frames[1]), AwaitClose()), **failing(1007)))
        rows.append(Case(f"6.4.{number + 2}", f"as 6.4.{number}, but one frame written in 3 pieces",
                         (SendCut(Frame(OP_TEXT, INVALID_AT_12), (cut, stop)),), **failing(1007), note=late))
    return sorted(rows, key=lambda row: row.id)


def kuhn_sequences() -> list[tuple[str, list[tuple[bool, bytes]]]]:
    """Markus Kuhn's UTF-8 decoder test sequences, grouped as the suite's 6.5-6.23."""
    boundaries = set(itertools.accumulate(len(c.encode()) for c in "\u03ba\u1f79\u03c3\u03bc\u03b5"))
    missing_last = [b"\xc0", b"\xe0\x80", b"\xf0\x80\x80", b"\xf8\x80\x80\x80", b"\xfc\x80\x80\x80\x80",
                    b"\xdf", b"\xef\xbf", b"\xf7\xbf\xbf", b"\xfb\xbf\xbf\xbf", b"\xfd\xbf\xbf\xbf\xbf"]
    lonely = [(0xC0, 0xDF), (0xE0, 0xEF), (0xF0, 0xF7), (0xF8, 0xFB), (0xFC, 0xFD)]
    high = [b"\xed\xa0\x80", b"\xed\xad\xbf", b"\xed\xae\x80", b"\xed\xaf\xbf"]
    low = [b"\xed\xb0\x80", b"\xed\xbf\xbf"]
    noncharacters = [b"\xef\xbf\xbe", b"\xef\xbf\xbf"] + [
        bytes([lead, second, 0xBF, last])
        for lead in (0xF0, 0xF1, 0xF2, 0xF3, 0xF4)
        for second in (0x8F, 0x9F, 0xAF, 0xBF)
        for last in (0xBE, 0xBF)
        if not (lead == 0xF4 and second != 0x8F) and not (lead == 0xF0 and second == 0x8F)  # > U+10FFFF, overlong
    ]
    return [
        ("valid UTF-8 sequences", [(True, b"hello$world"), (True, b"hello\xc2\xa2world"),
                                   (True, b"hello\xe2\x82\xacworld"), (True, b"hello\xf0\xa4\xad\xa2world"),
                                   (True, KOSME)]),
        ("all prefixes of κόσμε", [(n in boundaries, KOSME[:n]) for n in range(1, len(KOSME) + 1)]),
        ("first sequence of each length", [(True, b"\x00"), (True, b"\xc2\x80"), (True, b"\xe0\xa0\x80"),
                                           (True, b"\xf0\x90\x80\x80")]),
        ("first sequence of length 5 and 6 (not Unicode)", [(False, b"\xf8\x88\x80\x80\x80"),
                                                            (False, b"\xfc\x84\x80\x80\x80\x80")]),
        ("last sequence of each length", [(True, b"\x7f"), (True, b"\xdf\xbf"), (True, b"\xef\xbf\xbf"),
                                          (True, b"\xf4\x8f\xbf\xbf")]),
        ("last sequence of length 4, 5, 6 (above U+10FFFF)", [(False, b"\xf7\xbf\xbf\xbf"),
                                                              (False, b"\xfb\xbf\xbf\xbf\xbf"),
                                                              (False, b"\xfd\xbf\xbf\xbf\xbf\xbf")]),
        ("other boundaries", [(True, b"\xed\x9f\xbf"), (True, b"\xee\x80\x80"), (True, b"\xef\xbf\xbd"),
                              (True, b"\xf4\x8f\xbf\xbf"), (False, b"\xf4\x90\x80\x80")]),
        ("unexpected continuation bytes", [(False, s) for s in (b"\x80", b"\xbf", b"\x80\xbf", b"\x80\xbf\x80",
                                                                b"\x80\xbf\x80\xbf", b"\x80\xbf\x80\xbf\x80",
                                                                b"\x80\xbf\x80\xbf\x80\xbf",
                                                                bytes(range(0x80, 0xBF)))]),
        ("lonely start bytes, each followed by a space",
         [(False, b"".join(bytes([b, 0x20]) for b in range(lo, hi))) for lo, hi in lonely]),
        ("sequences missing their last continuation byte", [(False, s) for s in missing_last]),
        ("those incomplete sequences concatenated", [(False, b"".join(missing_last))]),
        ("impossible bytes", [(False, b"\xfe"), (False, b"\xff"), (False, b"\xfe\xfe\xff\xff")]),
        ("overlong '/'", [(False, b"\xc0\xaf"), (False, b"\xe0\x80\xaf"), (False, b"\xf0\x80\x80\xaf"),
                          (False, b"\xf8\x80\x80\x80\xaf"), (False, b"\xfc\x80\x80\x80\x80\xaf")]),
        ("maximum overlong sequences", [(False, b"\xc1\xbf"), (False, b"\xe0\x9f\xbf"), (False, b"\xf0\x8f\xbf\xbf"),
                                        (False, b"\xf8\x87\xbf\xbf\xbf"), (False, b"\xfc\x83\xbf\xbf\xbf\xbf")]),
        ("overlong NUL", [(False, b"\xc0\x80"), (False, b"\xe0\x80\x80"), (False, b"\xf0\x80\x80\x80"),
                          (False, b"\xf8\x80\x80\x80\x80"), (False, b"\xfc\x80\x80\x80\x80\x80")]),
        ("single UTF-16 surrogates", [(False, s) for s in (*high, b"\xed\xb0\x80", b"\xed\xbe\x80", b"\xed\xbf\xbf")]),
        ("paired UTF-16 surrogates", [(False, h + lo) for h in high for lo in low]),
        ("noncharacters (valid UTF-8)", [(True, s) for s in noncharacters]),
        ("Unicode specials", [(True, bytes([0xEF, 0xBF, last])) for last in range(0xB9, 0xC0)]),
    ]


def kuhn_cases() -> list[Case]:
    rows = []
    for group, (title, sequences) in enumerate(kuhn_sequences(), 5):
        for number, (valid, payload) in enumerate(sequences, 1):
            what = f"{title}: {payload.hex(' ')} is {'valid' if valid else 'not'} UTF-8"
            rows.append(utf8_message(f"6.{group}.{number}", what, (Frame(OP_TEXT, payload),), payload, valid))
            if len(payload) > 1:  # beyond the suite: the same message in one-byte fragments
                rows.append(utf8_message(f"6.{group}.{number} bytewise", f"{what}; in fragments of 1 byte",
                                         bytewise(payload), payload, valid))
    return rows


# ------------------------------------------------------------------ 7 closing


def closing_cases() -> list[Case]:
    frag = (Frame(OP_TEXT, b"fragment1", fin=False), close_frame(1000), Frame(OP_CONTINUATION, b"fragment2"))
    rows = [
        Case("7.1.1", "a text message, then a close", (send(Frame(OP_TEXT, b"Hello World!"), close_frame(1000)),),
             messages=(text(b"Hello World!"),)),
        Case("7.1.2", "two close frames: the second is ignored", (send(close_frame(1000), Frame(OP_CLOSE)),)),
        Case("7.1.3", "a ping after the close: no pong (§5.5.1)", (send(close_frame(1000), Frame(OP_PING)),)),
        Case("7.1.4", "a text message after the close: ignored", (send(close_frame(1000), Frame(OP_TEXT, HELLO)),)),
        Case("7.1.5", "a first fragment, the close, the last fragment: no message", (send(*frag),)),
        Case("7.1.6", "a 256 KiB message, a text message, the close, a ping: both messages, no pong",
             (send(Frame(OP_TEXT, b"BAsd7&jh23" * 26215 + b"BAsd7&"), Frame(OP_TEXT, b"Hello World!"),
                   close_frame(1000), Frame(OP_PING)),),
             messages=(text(b"BAsd7&jh23" * 26215 + b"BAsd7&"), text(b"Hello World!"))),
        Case("7.3.1", "close without a body (no code): answered with 1000 (§7.1.5, §7.4.1: 1005 is never sent)",
             (send(Frame(OP_CLOSE)),)),
        Case("7.3.2", "close with a 1-byte body", (send(Frame(OP_CLOSE, b"a")),), **failing(1002)),
        Case("7.3.3", "close with code 1000", (send(close_frame(1000)),)),
        Case("7.3.4", "close with code and reason", (send(close_frame(1000, b"Hello World!")),)),
        Case("7.3.5", "close with a reason of 123 bytes (the most that fits)", (send(close_frame(1000, b"*" * 123)),)),
        Case("7.3.6", "close with a reason of 124 bytes: a control frame of 126 (§5.5)",
             (send(close_frame(1000, b"*" * 124)),), **failing(1002)),
        Case("7.5.1", "close whose reason is not UTF-8: 1007 (§8.1; the suite accepts 1002 or 1007)",
             (send(close_frame(1000, KOSME + b"\xed\xa0\x80edited")),), **failing(1007)),
    ]
    for number, code in enumerate([1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999], 1):
        rows.append(Case(f"7.7.{number}", f"close with valid code {code}: echoed", (send(close_frame(code)),),
                         close=code))
    for number, code in enumerate([0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999], 1):
        rows.append(Case(f"7.9.{number}", f"close with invalid code {code} (§7.4)", (send(close_frame(code)),),
                         **failing(1002)))
    for number, code in enumerate([5000, 65535], 1):
        rows.append(Case(f"7.13.{number}", f"close with code {code}: the RFC defines none above 4999 (§7.4.2); "
                         "fleetsim answers 1002 (the suite: informational)", (send(close_frame(code)),),
                         **failing(1002)))
    return rows


# ------------------------------------------------------ fleetsim's own caps


def fleetsim_cases(max_message_bytes: int) -> list[Case]:
    return [
        Case("fleetsim.1", f"text message of {max_message_bytes + 1} bytes: above the size cap",
             (send(Frame(OP_TEXT, b"*" * (max_message_bytes + 1))),), **failing(1009)),
        Case("fleetsim.2", "a message in 1,025 fragments: above the fragment cap",
             (send(Frame(OP_TEXT, fin=False), *[Frame(OP_CONTINUATION, fin=False)] * 1024),), **failing(1009)),
        Case("fleetsim.3", "64-bit length with the most significant bit set (§5.2)",
             (send(Frame(OP_BINARY, length=1 << 63)),), **failing(1002)),
        Case("fleetsim.4", "a 5-byte payload with a 16-bit length (§5.2: the minimal number of bytes)",
             (send(Frame(OP_TEXT, b"hello", length_form=126)),), **failing(1002)),
        Case("fleetsim.5", "a 256-byte payload with a 64-bit length",
             (send(Frame(OP_BINARY, bytes(256), length_form=127)),), **failing(1002)),
    ]


def all_cases(max_message_bytes: int) -> list[Case]:
    return [
        *framing_cases(), *ping_cases(), *reserved_bit_cases(), *opcode_cases(), *fragmentation_cases(),
        *early_utf8_cases(), *kuhn_cases(), *closing_cases(), *fleetsim_cases(max_message_bytes),
    ]
