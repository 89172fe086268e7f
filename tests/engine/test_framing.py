"""RFC 6455 framing and handshake, sans-IO: the RFC's own examples both ways,
protocol violations as events, and properties over random input."""

from __future__ import annotations

import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleetsim.engine import framing
from fleetsim.engine.framing import Close, FrameParser, Message, PartialBudget, Ping, Pong, Violation

HELLO_KEY = bytes([0x37, 0xFA, 0x21, 0x3D])

# RFC 6455 §5.7, "Examples".  (frame bytes, masked, events when parsed)
GOLDEN = [
    pytest.param(bytes([0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F]), False, [Message(b"Hello")], id="unmasked text"),
    pytest.param(
        bytes([0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58]),
        True,
        [Message(b"Hello")],
        id="masked text",
    ),
    pytest.param(
        bytes([0x01, 0x03, 0x48, 0x65, 0x6C, 0x80, 0x02, 0x6C, 0x6F]), False, [Message(b"Hello")], id="fragmented"
    ),
    pytest.param(bytes([0x89, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F]), False, [Ping(b"Hello")], id="unmasked ping"),
    pytest.param(
        bytes([0x8A, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58]),
        True,
        [Pong(b"Hello")],
        id="masked pong",
    ),
    pytest.param(
        bytes([0x82, 0x7E, 0x01, 0x00]) + bytes(range(256)), False, [Message(bytes(range(256)), True)], id="256 bytes"
    ),
    pytest.param(
        bytes([0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]) + b"\x5a" * 65536,
        False,
        [Message(b"\x5a" * 65536, True)],
        id="64 KiB",
    ),
]


def parser(masked: bool, max_message_bytes: int = 1 << 20) -> FrameParser:
    """A parser for frames that are ``masked`` (a server's) or not (a client's)."""
    return FrameParser(expect_masked=masked, max_message_bytes=max_message_bytes)


@pytest.mark.parametrize(("frame", "masked", "events"), GOLDEN)
def test_golden_frames_parse(frame: bytes, masked: bool, events: list[framing.Event]) -> None:
    assert parser(masked).feed(frame) == events


@pytest.mark.parametrize(("frame", "masked", "events"), GOLDEN)
def test_golden_frames_parse_byte_by_byte(frame: bytes, masked: bool, events: list[framing.Event]) -> None:
    one = parser(masked)
    assert [event for i in range(len(frame)) for event in one.feed(frame[i : i + 1])] == events


@pytest.mark.parametrize(("frame", "masked", "events"), [p for p in GOLDEN if p.id != "fragmented"])
def test_golden_frames_encode(
    frame: bytes, masked: bool, events: list[framing.Event], monkeypatch: pytest.MonkeyPatch
) -> None:
    # We never fragment what we send, so the fragmented example is parse-only.
    monkeypatch.setattr(framing._random, "getrandbits", lambda bits: int.from_bytes(HELLO_KEY, "little"))
    opcode = frame[0] & 0x0F
    (event,) = events
    assert framing.encode_frame(opcode, event.data, masked=masked) == frame


def test_masking_is_the_rfc_example_and_its_own_inverse() -> None:
    masked = framing.apply_mask(b"Hello", HELLO_KEY)
    assert masked == bytes([0x7F, 0x9F, 0x4D, 0x51, 0x58])
    assert framing.apply_mask(masked, HELLO_KEY) == b"Hello"
    assert framing.apply_mask(b"", HELLO_KEY) == b""


def test_close_frames() -> None:
    frame = framing.encode_close(1000, "bye", masked=False)
    assert frame == bytes([0x88, 0x05, 0x03, 0xE8]) + b"bye"
    assert parser(False).feed(frame) == [Close(1000, "bye")]
    assert parser(True).feed(framing.encode_close(1001, "", masked=True)) == [Close(1001, "")]
    # RFC 6455 §7.1.5: an empty close body means "no status code" (1005).
    assert parser(False).feed(bytes([0x88, 0x00])) == [Close(1005, "")]


def test_a_ping_between_fragments_is_delivered_in_order() -> None:
    # RFC 6455 §5.4: control frames may be injected in the middle of a fragmented message.
    data = bytes([0x01, 0x03]) + b"Hel" + bytes([0x89, 0x01]) + b"p" + bytes([0x80, 0x02]) + b"lo"
    assert parser(False).feed(data) == [Ping(b"p"), Message(b"Hello")]


# RFC 6455 §5.2, §5.4, §5.5, §7.4.1: what a peer must not send.  (data, parser
# expects masked frames, close code)
VIOLATIONS = [
    pytest.param(bytes([0xC1, 0x00]), False, 1002, id="RSV1 without an extension"),
    pytest.param(bytes([0xA1, 0x00]), False, 1002, id="RSV2"),
    pytest.param(bytes([0x81, 0x01]) + b"x", True, 1002, id="unmasked client frame on a server"),
    pytest.param(bytes([0x81, 0x81]) + HELLO_KEY + b"x", False, 1002, id="masked server frame on a client"),
    pytest.param(bytes([0x82, 0x7E, 0x04, 0x01]), False, 1009, id="message above the limit"),
    pytest.param(bytes([0x01, 0x7E, 0x02, 0x00]) + bytes(512) + bytes([0x80, 0x7E, 0x02, 0x01]), False, 1009,
                 id="fragments above the limit"),
    pytest.param(bytes([0x89, 0x7E, 0x00, 0x7E]), False, 1002, id="control frame above 125 bytes"),
    pytest.param(bytes([0x09, 0x00]), False, 1002, id="fragmented control frame"),
    pytest.param(bytes([0x80, 0x01]) + b"x", False, 1002, id="continuation without a start"),
    pytest.param(bytes([0x83, 0x00]), False, 1002, id="reserved data opcode"),
    pytest.param(bytes([0x8B, 0x00]), False, 1002, id="reserved control opcode"),
    pytest.param(bytes([0x01, 0x01]) + b"a" + bytes([0x81, 0x01]) + b"b", False, 1002,
                 id="new message inside a fragmented one"),
    pytest.param(bytes([0x88, 0x01, 0x03]), False, 1002, id="one-byte close body"),
    pytest.param(bytes([0x88, 0x03, 0x03, 0xE8, 0xFF]), False, 1007, id="close reason not UTF-8"),
    pytest.param(bytes([0x81, 0x02, 0xC3, 0x28]), False, 1007, id="text message not UTF-8"),
    pytest.param(bytes([0x01, 0x01, 0x61, 0x80, 0x01, 0xFF]), False, 1007, id="fragmented text not UTF-8"),
    pytest.param(bytes([0x88, 0x02, 0x03, 0xED]), False, 1002, id="close code 1005 on the wire"),
    pytest.param(bytes([0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 1]), False, 1002, id="64-bit length with its top bit set"),
    pytest.param(bytes([0x82, 0x7E, 0x00, 0x05]) + b"hello", False, 1002, id="16-bit length for 5 bytes"),
    pytest.param(bytes([0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0x01, 0x00]) + bytes(256), False, 1002,
                 id="64-bit length for 256 bytes"),
]


@pytest.mark.parametrize(("data", "masked", "code"), VIOLATIONS)
def test_violations_are_events_not_exceptions(data: bytes, masked: bool, code: int) -> None:
    one = parser(masked, max_message_bytes=1024)
    events = one.feed(data)
    assert isinstance(events[-1], Violation) and events[-1].code == code
    # After a violation the connection is over: the parser reads nothing more.
    assert one.feed(framing.encode_frame(framing.OP_TEXT, b"more", masked=masked)) == []


@pytest.mark.parametrize(("data", "masked", "code"), VIOLATIONS)
def test_violations_byte_by_byte(data: bytes, masked: bool, code: int) -> None:
    one = parser(masked, max_message_bytes=1024)
    events = [event for i in range(len(data)) for event in one.feed(data[i : i + 1])]
    assert isinstance(events[-1], Violation) and events[-1].code == code


def text_frames(pieces: list[bytes], fin_last: bool = True) -> bytes:
    """One text message fragmented into ``pieces`` (RFC 6455 §5.4), unmasked."""
    out = b""
    for index, piece in enumerate(pieces):
        first = (framing.OP_TEXT if index == 0 else framing.OP_CONTINUATION) | (
            0x80 if fin_last and index == len(pieces) - 1 else 0
        )
        out += bytes([first]) + framing.encode_frame(framing.OP_TEXT, piece, masked=False)[1:]
    return out


def test_empty_fragments_are_capped_per_message() -> None:
    # 40,000 empty fragments (78 KiB) once blocked the event loop for 13 s: empty
    # fragments added nothing to the size limit, and each frame re-summed the rest.
    stream = text_frames([b""] * 2_000, fin_last=False)
    one = parser(False)
    events = [event for i in range(0, len(stream), 65536) for event in one.feed(stream[i : i + 65536])]
    assert events == [Violation(1009, f"message in more than {framing.DEFAULT_MAX_FRAGMENTS} fragments")]


@pytest.mark.parametrize("count", [1, 2, 5])
def test_the_fragment_cap_is_exact_and_per_message(count: int) -> None:
    one = FrameParser(expect_masked=False, max_message_bytes=1024, max_fragments=count)
    pieces = [b"ab"] * count
    # Two messages of ``count`` fragments each: the count starts again per message.
    assert one.feed(text_frames(pieces) + text_frames(pieces)) == [Message(b"ab" * count)] * 2
    events = one.feed(text_frames([*pieces, b"ab"]))
    assert events == [Violation(1009, f"message in more than {count} fragments")]


def test_the_size_limit_counts_every_fragment_and_restarts_per_message() -> None:
    one = parser(False, max_message_bytes=10)
    assert one.feed(text_frames([b"abcde", b"fghij"])) == [Message(b"abcdefghij")]
    assert one.feed(text_frames([b"abcde", b"fghij"])) == [Message(b"abcdefghij")]
    assert one.feed(text_frames([b"abcde", b"fghij", b"k"])) == [Violation(1009, "message above 10 bytes")]


def bytes_allocated_while_feeding(one: FrameParser, pieces: list[bytes]) -> tuple[int, list[framing.Event]]:
    """Work done as memory allocated: the sum, over the feeds, of how far each
    feed raised the traced peak above what was allocated before it.  A parser
    that re-copies what it holds on every feed allocates that much every time."""
    events: list[framing.Event] = []
    total = 0
    tracemalloc.start()
    try:
        for piece in pieces:
            before, _ = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            events += one.feed(piece)
            total += tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    return total, events


@pytest.mark.parametrize(("size", "piece"), [(1 << 20, 1024), (1 << 16, 1)], ids=["1 MiB in 1 KiB", "64 KiB in 1 B"])
def test_buffering_a_frame_that_arrives_in_pieces_is_linear(size: int, piece: int) -> None:
    frame = framing.encode_frame(framing.OP_TEXT, b"Z" * size, masked=False)
    pieces = [frame[i : i + piece] for i in range(0, len(frame), piece)]
    allocated, events = bytes_allocated_while_feeding(parser(False, max_message_bytes=1 << 21), pieces)
    assert events == [Message(b"Z" * size)]
    # Linear: the frame is copied a few times in all (into the buffer, out of it,
    # the payload) plus a constant per feed (the list it returns), not once per
    # piece (about len(pieces) / 2 frame sizes).
    assert allocated < 6 * size + 100 * len(pieces), f"{allocated / size:.1f} frame sizes allocated"


# ------------------------------------------------------ partial-frame budget


def unfinished_frame(size: int) -> bytes:
    """All but the last byte of a binary frame of ``size`` payload bytes."""
    return framing.encode_frame(framing.OP_BINARY, bytes(size), masked=False)[:-1]


def test_a_shared_budget_bounds_what_all_parsers_hold() -> None:
    # 200 peers each holding an unfinished 4 MiB frame once held 920 MB; scaled
    # down 64-fold here: a 1 MiB budget, 64 KiB frames.
    size, budget = 1 << 16, PartialBudget(1 << 20)
    parsers = [FrameParser(expect_masked=False, max_message_bytes=1 << 22, budget=budget) for _ in range(200)]
    data = unfinished_frame(size)
    outcomes = []
    for one in parsers:
        outcomes.append(one.feed(data))
        assert budget.held_bytes <= budget.max_bytes
    admitted = len(data)
    fits = budget.max_bytes // admitted
    assert outcomes[:fits] == [[]] * fits  # held, waiting for their last byte
    cut = Violation(1008, "partial-frame memory budget exhausted")
    assert outcomes[fits:] == [[cut]] * (200 - fits)  # each refused connection alone is cut
    assert budget.held_bytes == sum(one.held_bytes for one in parsers) == fits * admitted
    assert budget.refusals == 200 - fits
    for one in parsers:
        one.release()
    assert budget.held_bytes == 0
    assert parsers[0].feed(b"\x00") == []  # a released parser reads nothing more


def test_frames_that_arrive_whole_cost_no_budget() -> None:
    budget = PartialBudget(0)
    one = FrameParser(expect_masked=False, max_message_bytes=1 << 20, budget=budget)
    frames = framing.encode_frame(framing.OP_TEXT, b"[2,\"1\",\"Heartbeat\",{}]", masked=False) * 3
    assert one.feed(frames) == [Message(b'[2,"1","Heartbeat",{}]')] * 3
    assert one.feed(b"\x81") == [Violation(1008, "partial-frame memory budget exhausted")]


def test_the_budget_follows_partial_frames_and_fragments_as_they_grow_and_finish() -> None:
    budget = PartialBudget(100)
    one = FrameParser(expect_masked=False, max_message_bytes=1 << 20, budget=budget)
    assert one.feed(text_frames([b"x" * 30], fin_last=False)) == []  # a first fragment, held
    assert budget.held_bytes == one.held_bytes == 30
    continuation = bytes([0x80, 40]) + b"y" * 40
    assert one.feed(continuation[:20]) == []  # and a partial frame
    assert budget.held_bytes == 50
    assert one.feed(continuation[20:]) == [Message(b"x" * 30 + b"y" * 40)]
    assert budget.held_bytes == one.held_bytes == 0
    assert one.feed(bytes([0x82, 110]) + bytes(99)) == [Violation(1008, "partial-frame memory budget exhausted")]
    assert budget.held_bytes == 0 and budget.peak_bytes == 50  # never 70: a finished message is given back


def test_a_violation_or_close_gives_back_what_was_held() -> None:
    budget = PartialBudget(1 << 20)
    one = FrameParser(expect_masked=False, max_message_bytes=1 << 20, budget=budget)
    assert one.feed(text_frames([b"x" * 500], fin_last=False) + bytes([0x00, 0x05]) + b"ab") == []
    assert budget.held_bytes == 504  # a fragment, and the start of the next
    assert one.feed(b"cde" + framing.encode_close(1000, "", masked=False)) == [Close(1000, "")]
    assert budget.held_bytes == 0
    one = FrameParser(expect_masked=False, max_message_bytes=1 << 20, budget=budget)
    assert one.feed(text_frames([b"x" * 500], fin_last=False) + b"\x81") == []
    assert budget.held_bytes == 501
    assert one.feed(b"\x00") == [Violation(1002, "new message inside a fragmented one")]
    assert budget.held_bytes == 0


# ------------------------------------------------------------- RFC 6455 §7.4


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535])
def test_close_codes_that_may_not_be_sent_are_a_protocol_error(code: int) -> None:
    # RFC 6455 §7.4.1-§7.4.2; echoing them would put them on the wire ourselves.
    assert parser(False).feed(framing.encode_close(code, "", masked=False)) == [
        Violation(1002, f"close code {code} may not be sent")
    ]


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999])
def test_defined_and_registered_close_codes_are_accepted(code: int) -> None:
    assert parser(True).feed(framing.encode_close(code, "bye", masked=True)) == [Close(code, "bye")]


def test_a_close_reason_is_cut_on_a_character_boundary() -> None:
    frame = framing.encode_close(1000, "ä" * 100, masked=False)  # 200 bytes of UTF-8, 123 allowed
    assert parser(False).feed(frame) == [Close(1000, "ä" * 61)]


def test_nothing_after_a_close_frame_is_read() -> None:
    # RFC 6455 §5.5.1: after its close frame a peer sends no data frames.
    after = framing.encode_frame(framing.OP_TEXT, b"late", masked=False) + bytes([0x89, 0x00])
    one = parser(False)
    assert one.feed(text_frames([b"part"], fin_last=False) + framing.encode_close(1000, "", False) + after) == [
        Close(1000, "")
    ]
    assert one.feed(after) == []


# ------------------------------------------------------------ RFC 6455 §8.1


def test_text_must_be_utf8_but_binary_need_not() -> None:
    assert parser(False).feed(framing.encode_frame(framing.OP_BINARY, b"\xff\xfe", masked=False)) == [
        Message(b"\xff\xfe", True)
    ]
    text = "Grüße, κόσμε 🚗".encode()
    assert parser(True).feed(framing.encode_frame(framing.OP_TEXT, text, masked=True)) == [Message(text)]
    # Surrogates and code points above U+10FFFF are not UTF-8 (RFC 3629 §3).
    for bad in (b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf"):
        assert parser(False).feed(framing.encode_frame(framing.OP_TEXT, bad, masked=False)) == [
            Violation(1007, "text message is not UTF-8")
        ]


def test_a_fragmented_text_message_fails_on_the_fragment_that_breaks_it() -> None:
    one = parser(False)
    valid = "κόσμε".encode()
    assert one.feed(text_frames([valid, b"\xf4\x90\x80\x80", b"edited"])[: 2 + len(valid)]) == []
    # The second fragment makes the message invalid whatever follows: fail now.
    second = bytes([0x00, 0x04]) + b"\xf4\x90\x80\x80"
    assert one.feed(second) == [Violation(1007, "text message is not UTF-8")]


def test_a_character_split_across_fragments_is_fine() -> None:
    text = "κόσμε".encode()
    assert parser(False).feed(text_frames([text[i : i + 1] for i in range(len(text))])) == [Message(text)]


# ---------------------------------------------------------------- properties


def fragmented(opcode: int, payload: bytes, cuts: list[int], masked: bool) -> bytes:
    """``payload`` as a first frame and continuations cut at ``cuts`` (RFC 6455 §5.4)."""
    points = sorted({c % (len(payload) + 1) for c in cuts} | {0, len(payload)})
    pieces = [payload[a:b] for a, b in zip(points, points[1:], strict=False)] or [b""]
    out = b""
    for index, piece in enumerate(pieces):
        first = (opcode if index == 0 else framing.OP_CONTINUATION) | (0x80 if index == len(pieces) - 1 else 0)
        frame = framing.encode_frame(framing.OP_TEXT, piece, masked=masked)
        out += bytes([first]) + frame[1:]  # re-head the FIN and opcode bits
    return out


messages = st.lists(
    st.tuples(
        st.sampled_from([framing.OP_TEXT, framing.OP_BINARY]),
        st.one_of(
            st.binary(max_size=300),
            # Around the 16-bit length boundary (RFC 6455 §5.2: 126 vs 127);
            # built, not drawn byte by byte, to keep hypothesis fast.
            st.builds(lambda n, b: bytes([b]) * n, st.integers(65530, 65540), st.integers(0, 255)),
        ),
        st.lists(st.integers(min_value=0, max_value=70000), max_size=3),
        st.booleans(),  # a ping before it
    ),
    max_size=6,
)


@settings(max_examples=150, deadline=None)
@given(messages=messages, masked=st.booleans(), splits=st.lists(st.integers(min_value=0), max_size=8))
def test_any_frames_split_anywhere_parse_back_to_the_same_messages(
    messages: list[tuple[int, bytes, list[int], bool]], masked: bool, splits: list[int]
) -> None:
    stream, expected = b"", []
    for opcode, raw, cuts, ping in messages:
        if ping:
            stream += framing.encode_frame(framing.OP_PING, b"p", masked=masked)
            expected.append(Ping(b"p"))
        binary = opcode == framing.OP_BINARY
        # RFC 6455 §8.1: text is UTF-8; as latin-1 text, bytes above 0x7F become
        # two-byte characters, so cuts fall inside characters too.
        payload = raw if binary else raw.decode("latin-1").encode()
        stream += fragmented(opcode, payload, cuts, masked)
        expected.append(Message(payload, binary))
    points = sorted({s % (len(stream) + 1) for s in splits} | {0, len(stream)})
    one = parser(masked, max_message_bytes=1 << 18)
    events = [event for a, b in zip(points, points[1:], strict=False) for event in one.feed(stream[a:b])]
    assert events == expected


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=400), masked=st.booleans(), split=st.integers(min_value=0, max_value=400))
def test_random_bytes_never_raise(data: bytes, masked: bool, split: int) -> None:
    one = parser(masked, max_message_bytes=256)
    events = one.feed(data[:split]) + one.feed(data[split:])
    assert all(isinstance(event, Message | Ping | Pong | Close | Violation) for event in events)


@settings(max_examples=300, deadline=None)
@given(
    stream=st.lists(st.sampled_from([
        bytes([0x01, 0x03]) + b"abc", bytes([0x00, 0x02]) + b"de", bytes([0x80, 0x01]) + b"f",
        bytes([0x81, 0x7E, 0x00, 0x80]) + b"g" * 128, bytes([0x89, 0x01]) + b"p", bytes([0x82, 0x05]) + b"\xff" * 5,
    ]), max_size=12).map(b"".join),
    cuts=st.lists(st.integers(min_value=0), max_size=10),
    max_bytes=st.integers(min_value=0, max_value=300),
)
def test_the_budget_always_matches_what_the_parser_holds(stream: bytes, cuts: list[int], max_bytes: int) -> None:
    budget = PartialBudget(max_bytes)
    one = FrameParser(expect_masked=False, max_message_bytes=1 << 20, budget=budget)
    points = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    for a, b in zip(points, points[1:], strict=False):
        one.feed(stream[a:b])
        assert budget.held_bytes == one.held_bytes <= max_bytes
    one.release()
    assert budget.held_bytes == 0


# ----------------------------------------------------------------- handshake


def test_the_accept_key_of_rfc_6455_section_1_3() -> None:
    assert framing.accept_for(b"dGhlIHNhbXBsZSBub25jZQ==") == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_a_client_request_reads_back_as_an_upgrade() -> None:
    key = framing.new_key()
    authorization = framing.basic_authorization("CP1", b"pw")
    request = framing.client_request("example.com:9000", "/ocpp/CP1", key, "ocpp1.6", authorization)
    head, rest = framing.split_head(request + b"\x81\x00")
    assert rest == b"\x81\x00"
    upgrade = framing.read_upgrade_request(head)
    assert upgrade == framing.UpgradeRequest("/ocpp/CP1", key, ("ocpp1.6",), authorization)
    assert authorization == "Basic Q1AxOnB3"  # base64("CP1:pw"), RFC 7617


def test_the_server_accept_satisfies_the_client() -> None:
    key = b"dGhlIHNhbXBsZSBub25jZQ=="
    head, _ = framing.split_head(framing.server_accept(key, "ocpp1.6"))
    assert framing.check_server_response(head, key, "ocpp1.6") is None
    assert "wrong Sec-WebSocket-Accept" in framing.check_server_response(head, b"x" * 24, "ocpp1.6")
    assert "subprotocol" in framing.check_server_response(head, key, "ocpp2.0.1")


@pytest.mark.parametrize(
    ("response", "problem"),
    [
        (b"HTTP/1.1 401 Unauthorized\r\n\r\n", "HTTP 401 Unauthorized"),
        (b"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP response"),
        (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n", "Upgrade: websocket"),
    ],
)
def test_unacceptable_server_responses(response: bytes, problem: str) -> None:
    head, _ = framing.split_head(response)
    assert problem in framing.check_server_response(head, b"k" * 24, "ocpp1.6")


@pytest.mark.parametrize(
    ("replace", "problem"),
    [
        (("GET", "POST"), "not a GET request"),
        (("Upgrade: websocket", "Upgrade: h2c"), "Upgrade"),
        (("Connection: Upgrade", "Connection: keep-alive"), "Connection"),
        (("Version: 13", "Version: 8"), "Version"),
    ],
)
def test_unacceptable_upgrade_requests(replace: tuple[str, str], problem: str) -> None:
    request = framing.client_request("h", "/CP1", framing.new_key(), "ocpp1.6", None)
    head, _ = framing.split_head(request.replace(replace[0].encode(), replace[1].encode()))
    assert problem in framing.read_upgrade_request(head)


def test_split_head_waits_for_the_end_and_refuses_garbage() -> None:
    assert framing.split_head(b"GET / HTTP/1.1\r\nHost: x\r\n") is None
    assert framing.split_head(b"x" * 20000) == "HTTP head too large"
    assert "malformed header" in framing.split_head(b"GET / HTTP/1.1\r\nno colon\r\n\r\n")
    head, _ = framing.split_head(b"GET / HTTP/1.1\r\nX-A: 1\r\nx-a: 2\r\n\r\n")
    assert head.headers == {"x-a": "1, 2"}  # RFC 9110 §5.3: repeated fields combine


def test_refusals_are_complete_http_responses() -> None:
    response = framing.server_refuse(401, "Unauthorized")
    head, body = framing.split_head(response)
    assert head.start_line == "HTTP/1.1 401 Unauthorized"
    assert head.headers["www-authenticate"] == 'Basic realm="ocpp"'  # RFC 7235 §3.1
    assert int(head.headers["content-length"]) == len(body)
