"""The link on real sockets: interop with an independent RFC 6455
implementation (trio-websocket, on wsproto), the flusher, and closing."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable

import pytest
import trio
import trio.testing
import trio_websocket

from fleetsim.engine import framing
from fleetsim.engine.link import Link, LinkError, Target, connect

DEADLINE_S = 10


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("ws://csms.example.com/ocpp", Target("csms.example.com", 80, "/ocpp", False)),
        ("wss://csms.example.com:8443/ocpp/", Target("csms.example.com", 8443, "/ocpp", True)),
        ("ws://[::1]:9000", Target("::1", 9000, "", False)),
    ],
)
def test_targets_parse(url: str, target: Target) -> None:
    assert Target.parse(url) == target


def test_target_paths_and_host_headers() -> None:
    assert Target.parse("ws://h/ocpp").path_for("CP1") == "/ocpp/CP1"  # OCPP-J 1.6 §3.1.1
    assert Target.parse("ws://h:80/x").host_header() == "h"
    assert Target.parse("ws://[::1]:9000").host_header() == "[::1]:9000"
    for bad in ("http://h/", "ws://", "ws://h:notaport/", "ws://h:0/", "ws://h:70000/"):
        with pytest.raises(ValueError):
            Target.parse(bad)
    for secret in ("ws://cp:s3cr3t@h/ocpp", "ws://h/ocpp?token=s3cr3t", "ws://h/ocpp#s3cr3t"):
        with pytest.raises(ValueError) as refused:
            Target.parse(secret)
        assert "s3cr3t" not in str(refused.value)


async def next_events(link: Link) -> list[framing.Event]:
    """The next non-empty batch of events; pings are answered, as a station does."""
    while True:
        events = await link.receive()
        for event in events:
            if isinstance(event, framing.Ping | framing.Close):
                link.answer(event)
        if events:
            return events


async def trio_websocket_server(
    nursery: trio.Nursery, handler: Callable[[trio_websocket.WebSocketRequest], Awaitable[None]]
) -> int:
    server = await nursery.start(trio_websocket.serve_websocket, handler, "127.0.0.1", 0, None)
    return server.port


async def link_to(port: int, authorization: str | None = None) -> Link:
    return await connect(
        Target.parse(f"ws://127.0.0.1:{port}/ocpp"),
        "CP1",
        authorization=authorization,
        ssl_context=None,
        local_address=None,
        max_message_bytes=1 << 20,
    )


async def test_our_client_against_a_trio_websocket_server() -> None:
    seen: dict[str, object] = {}

    async def handler(request: trio_websocket.WebSocketRequest) -> None:
        seen.setdefault("path", request.path)  # the first connection's
        seen.setdefault("authorization", dict(request.headers).get(b"authorization"))
        ws = await request.accept(subprotocol="ocpp1.6")
        try:
            while True:
                message = await ws.get_message()
                if message == "ping me":
                    await ws.ping(b"srv")  # returns once our pong arrived
                    await ws.send_message("ponged")
                elif message == "close me":
                    await ws.aclose(4000, "bye")  # returns once our close echo arrived
                    seen["server close"] = ws.closed
                    return
                else:
                    await ws.send_message(message)
        except trio_websocket.ConnectionClosed as closed:
            seen["client close"] = closed.reason

    with trio.fail_after(DEADLINE_S):
        async with trio.open_nursery() as nursery:
            port = await trio_websocket_server(nursery, handler)
            authorization = framing.basic_authorization("CP1", b"pw")
            link = await link_to(port, authorization)
            for payload in (b"[2,\"1\",\"Heartbeat\",{}]", "é".encode() * 200, b"x" * 100_000):
                link.send_text(payload)
                assert await next_events(link) == [framing.Message(payload)]
            link.send_ping(b"abc")
            assert await next_events(link) == [framing.Pong(b"abc")]  # wsproto pongs our ping
            link.send_text(b"ping me")
            assert await next_events(link) == [framing.Ping(b"srv")]  # answered inside next_events
            assert await next_events(link) == [framing.Message(b"ponged")]
            link.send_text(b"close me")
            assert await next_events(link) == [framing.Close(4000, "bye")]
            assert link.closed
            second = await link_to(port)
            second.close(framing.CLOSE_NORMAL, "done")
            await trio.testing.wait_all_tasks_blocked()
            nursery.cancel_scope.cancel()
    assert seen["path"] == "/ocpp/CP1"
    assert seen["authorization"] == authorization.encode()
    assert seen["server close"].code == 4000
    assert seen["client close"].code == framing.CLOSE_NORMAL


@pytest.mark.parametrize(
    ("accept", "problem"),
    [("no subprotocol", "server chose subprotocol None"), ("reject", "HTTP 403")],
)
async def test_our_client_refuses_a_server_that_does_not_speak_ocpp16(accept: str, problem: str) -> None:
    async def handler(request: trio_websocket.WebSocketRequest) -> None:
        if accept == "reject":
            await request.reject(403)
        else:
            ws = await request.accept()
            await ws.get_message()

    with trio.fail_after(DEADLINE_S):
        async with trio.open_nursery() as nursery:
            port = await trio_websocket_server(nursery, handler)
            with pytest.raises(LinkError, match=problem):
                await link_to(port)
            nursery.cancel_scope.cancel()


async def test_a_connection_refused_is_a_link_error() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # bound, not listening: nobody answers there
        with trio.fail_after(DEADLINE_S), pytest.raises(LinkError, match="cannot connect"):
            await link_to(port)


def socket_pair() -> tuple[socket.socket, socket.socket]:
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    theirs.setblocking(False)
    return ours, theirs


async def read_events(sock: socket.socket, parser: framing.FrameParser, count: int) -> list[framing.Event]:
    events: list[framing.Event] = []
    while len(events) < count:
        await trio.lowlevel.wait_readable(sock)
        events += parser.feed(sock.recv(1 << 20))
    return events


async def test_a_full_kernel_buffer_is_drained_by_the_flusher_in_order() -> None:
    ours, theirs = socket_pair()
    link = Link(ours, b"", 1 << 24, client=False)
    big, small = b"a" * 8_000_000, b"after"
    parser = framing.FrameParser(expect_masked=False, max_message_bytes=1 << 24)
    with trio.fail_after(DEADLINE_S):
        async with trio.open_nursery() as nursery:
            assert link.send_text(big) is True  # more than a socket buffer: the caller starts the flusher
            nursery.start_soon(link.flush)
            assert link.send_text(small) is False  # queued behind, flusher already running
            events = await read_events(theirs, parser, 2)
    assert events == [framing.Message(big), framing.Message(small)]
    assert link.bytes_out == len(framing.encode_frame(1, big, False)) + len(framing.encode_frame(1, small, False))
    theirs.close()


async def test_closing_wakes_a_parked_receiver_and_flusher() -> None:
    # trio.lowlevel.notify_closing: without it a task parked on a closed socket never wakes.
    ours, theirs = socket_pair()
    link = Link(ours, b"", 1 << 24, client=False)
    outcome: list[str] = []

    async def receiver() -> None:
        with pytest.raises(LinkError):
            await link.receive()
        outcome.append("receiver woke")

    with trio.fail_after(DEADLINE_S):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(receiver)
            assert link.send_text(b"b" * 8_000_000)
            nursery.start_soon(link.flush)
            await trio.testing.wait_all_tasks_blocked()
            link.close()
    assert outcome == ["receiver woke"]
    theirs.close()


async def test_frames_behind_the_handshake_are_delivered_first() -> None:
    ours, theirs = socket_pair()
    leftover = framing.encode_frame(framing.OP_TEXT, b"early", masked=False)
    link = Link(ours, leftover, 1 << 16, client=True)
    with trio.fail_after(DEADLINE_S):
        assert await link.receive() == [framing.Message(b"early")]
        theirs.close()
        with pytest.raises(LinkError, match="closed"):
            await next_events(link)


class CountingSocket(socket.socket):
    """A socket that counts its ``send`` calls (the system calls a link makes)."""

    sends = 0

    def send(self, data, flags: int = 0) -> int:  # type: ignore[no-untyped-def, override]
        self.sends += 1
        return super().send(data, flags)


def counted_pair() -> tuple[CountingSocket, socket.socket]:
    ours, theirs = socket_pair()
    counted = CountingSocket(fileno=ours.detach())
    counted.setblocking(False)
    return counted, theirs


def nothing_arrived(sock: socket.socket) -> bool:
    try:
        sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return True
    return False


async def test_held_frames_leave_in_one_send_in_the_order_written() -> None:
    ours, theirs = counted_pair()
    link = Link(ours, b"", 1 << 16, client=True)
    assert link.hold() is True
    assert link.hold() is False  # held already: the owner registers it once
    assert link.send_text(b'[2,"1","Heartbeat",{}]') is False
    assert link.send_ping(b"p") is False
    assert link.send_texts([b'[3,"9",{}]', b'[2,"2","Heartbeat",{}]']) is False
    assert ours.sends == 0 and nothing_arrived(theirs)
    assert link.release() is False  # all taken by the kernel: no flusher needed
    assert ours.sends == 1
    parser = framing.FrameParser(expect_masked=True, max_message_bytes=1 << 16)
    with trio.fail_after(DEADLINE_S):
        events = await read_events(theirs, parser, 4)
    assert events == [framing.Message(b'[2,"1","Heartbeat",{}]'), framing.Ping(b"p"),
                      framing.Message(b'[3,"9",{}]'), framing.Message(b'[2,"2","Heartbeat",{}]')]
    assert link.release() is False and ours.sends == 1  # nothing held: nothing sent
    assert link.send_text(b"now") is False and ours.sends == 2  # released: straight to the kernel again
    link.close()
    theirs.close()


@pytest.mark.parametrize("how", ["close", "close echo", "violation"])
async def test_closing_a_held_link_sends_what_it_held_before_the_close_frame(how: str) -> None:
    # The answers to the CALLs before a close leave before the close frame, in the order asked.
    ours, theirs = counted_pair()
    link = Link(ours, b"", 1 << 16, client=True)
    link.hold()
    link.send_text(b'[3,"1",{}]')
    if how == "close":
        link.close(framing.CLOSE_NORMAL, "reboot")
        expected = framing.Close(framing.CLOSE_NORMAL, "reboot")
    elif how == "close echo":
        link.answer(framing.Close(1005, ""))  # no status code: echoed as a normal close
        expected = framing.Close(framing.CLOSE_NORMAL, "")
    else:
        link.answer(framing.Violation(framing.CLOSE_PROTOCOL_ERROR, "bad frame"))
        expected = framing.Close(framing.CLOSE_PROTOCOL_ERROR, "bad frame")
    assert link.closed and ours.sends == 1
    parser = framing.FrameParser(expect_masked=True, max_message_bytes=1 << 16)
    with trio.fail_after(DEADLINE_S):
        events = await read_events(theirs, parser, 2)
    assert events == [framing.Message(b'[3,"1",{}]'), expected]
    theirs.close()


async def test_a_link_given_up_on_drops_what_it_held() -> None:
    ours, theirs = counted_pair()
    link = Link(ours, b"", 1 << 16, client=True)
    link.hold()
    link.send_text(b"never")
    link.close()  # no close frame: a connection cut, nothing more goes out
    assert ours.sends == 0
    assert link.release() is False and ours.sends == 0
    theirs.setblocking(True)
    assert theirs.recv(16) == b""  # end of stream, no data
    theirs.close()


async def test_a_backlogged_link_is_not_held_and_keeps_its_order() -> None:
    ours, theirs = socket_pair()
    link = Link(ours, b"", 1 << 24, client=False)
    big = b"a" * 8_000_000
    parser = framing.FrameParser(expect_masked=False, max_message_bytes=1 << 24)
    with trio.fail_after(DEADLINE_S):
        async with trio.open_nursery() as nursery:
            assert link.send_text(big) is True
            assert link.hold() is False  # the flusher sends what follows, behind the backlog
            assert link.send_text(b"after") is False
            nursery.start_soon(link.flush)
            events = await read_events(theirs, parser, 2)
    assert events == [framing.Message(big), framing.Message(b"after")]
    theirs.close()


def test_what_is_held_leaves_when_the_csms_shuts_its_side() -> None:
    # The fleet holds a pass's frames to write them together; a FIN read
    # meanwhile (a half-closed CSMS) must not drop the answers it held.
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    link = Link(ours, b"", 1 << 20, client=False)
    assert link.hold()
    link.send_text(b'[3,"a",{}]')
    link.send_text(b'[3,"b",{"status":"Accepted"}]')
    theirs.shutdown(socket.SHUT_WR)
    with pytest.raises(LinkError, match="closed by the CSMS"):
        link.read()
    assert link.closed
    theirs.settimeout(1)
    expected = b"".join(framing.encode_frame(framing.OP_TEXT, data, masked=False)
                        for data in (b'[3,"a",{}]', b'[3,"b",{"status":"Accepted"}]'))
    assert theirs.recv(4096) == expected
    link.close()
    theirs.close()
