"""RFC 6455 framing and handshake, sans-IO: the RFC's own examples both ways,
protocol violations as events, and properties over random input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleetsim.engine import framing
from fleetsim.engine.framing import Close, FrameParser, Message, Ping, Pong, Violation

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
        bytes([0x82, 0x7E, 0x01, 0x00]) + bytes(range(256)), False, [Message(bytes(range(256)))], id="256 bytes"
    ),
    pytest.param(
        bytes([0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]) + b"\x5a" * 65536,
        False,
        [Message(b"\x5a" * 65536)],
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
    pytest.param(bytes([0x88, 0x03, 0x03, 0xE8, 0xFF]), False, 1002, id="close reason not UTF-8"),
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
    for opcode, payload, cuts, ping in messages:
        if ping:
            stream += framing.encode_frame(framing.OP_PING, b"p", masked=masked)
            expected.append(Ping(b"p"))
        stream += fragmented(opcode, payload, cuts, masked)
        expected.append(Message(payload))
    points = sorted({s % (len(stream) + 1) for s in splits} | {0, len(stream)})
    one = parser(masked, max_message_bytes=1 << 17)
    events = [event for a, b in zip(points, points[1:], strict=False) for event in one.feed(stream[a:b])]
    assert events == expected


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=400), masked=st.booleans(), split=st.integers(min_value=0, max_value=400))
def test_random_bytes_never_raise(data: bytes, masked: bool, split: int) -> None:
    one = parser(masked, max_message_bytes=256)
    events = one.feed(data[:split]) + one.feed(data[split:])
    assert all(isinstance(event, Message | Ping | Pong | Close | Violation) for event in events)


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
