"""The link is bounded by construction: a peer that stops reading, floods
pings or floods data costs a capped amount of memory and of loop time, and
is cut rather than waited on (DESIGN.md, "Bounded by construction")."""

from __future__ import annotations

import socket

import pytest
import trio

from fleetsim.engine import framing
from fleetsim.engine.link import Link, LinkError, _last_ping_only

DEADLINE_S = 10


def socket_pair() -> tuple[socket.socket, socket.socket]:
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    theirs.setblocking(False)
    return ours, theirs


def fill_until_full(sock: socket.socket, frame: bytes) -> int:
    """Write ``frame`` into ``sock`` until the kernel takes no more; frames written."""
    count = 0
    view = memoryview(frame * 64)
    while True:
        try:
            sent = sock.send(view)
        except BlockingIOError:
            return count
        count += sent // len(frame)
        if sent < len(view):
            return count


async def test_a_peer_that_does_not_read_is_cut_when_the_backlog_is_full() -> None:
    ours, theirs = socket_pair()  # ``theirs`` never reads
    link = Link(ours, b"", 1 << 20, client=False, max_backlog_bytes=1 << 20)
    with trio.fail_after(DEADLINE_S):
        for _ in range(200):
            link.send_text(b"x" * 65536)
            if link.closed:
                break
    assert link.closed
    assert link.failure == "backlog_full"
    assert link.backlog_bytes == 0  # what was queued is released at once
    with pytest.raises(LinkError, match="backlog_full"):
        await link.receive()
    theirs.close()


async def test_a_peer_that_stops_reading_is_cut_after_the_stall_time(autojump_clock: trio.abc.Clock) -> None:
    ours, theirs = socket_pair()
    link = Link(ours, b"", 1 << 24, client=False)
    start_s = trio.current_time()
    with trio.fail_after(DEADLINE_S):
        assert link.send_text(b"y" * 4_000_000) is True  # more than the kernel takes: a flusher is needed
        await link.flush(stall_s=7.0)
    assert link.closed and link.failure == "send_stalled"
    assert trio.current_time() - start_s == pytest.approx(7.0)
    theirs.close()


async def test_a_ping_flood_from_a_peer_that_does_not_read_leaves_one_pong() -> None:
    # A CSMS that pings without reading once held 40,000 pongs (quadratic to
    # append to) and froze the loop for 40 s.  RFC 6455 §5.5.3: only the
    # latest ping needs its pong.
    ours, theirs = socket_pair()
    link = Link(ours, b"", 1 << 20, client=True)
    filled = fill_until_full(ours, b"z" * 1000)  # our way out is full: nothing we write leaves
    assert filled > 0
    pings = 40_000
    sent = 0
    with trio.fail_after(DEADLINE_S):
        while sent < pings:
            payload = b"%08d" % sent + b"p" * 117  # 125 bytes: a pong is 131 bytes on the wire
            batch = framing.encode_frame(framing.OP_PING, payload, masked=False)
            try:
                theirs.send(batch)
            except BlockingIOError:
                for event in await link.receive():
                    link.answer(event)
                continue
            sent += 1
        while True:  # drain what is still in the kernel
            events = None
            with trio.move_on_after(0.2):
                events = await link.receive()
            if events is None:
                break
            for event in events:
                link.answer(event)
    assert not link.closed
    assert link.backlog_bytes <= 131  # at most the one pong, not 40,000
    theirs.close()


def test_of_several_pings_read_together_only_the_last_is_kept() -> None:
    events: list[framing.Event] = [framing.Ping(b"1"), framing.Message(b"m"), framing.Ping(b"2"), framing.Pong(b"x"),
                                   framing.Ping(b"3")]
    assert _last_ping_only(events) == [framing.Message(b"m"), framing.Pong(b"x"), framing.Ping(b"3")]
    assert _last_ping_only([framing.Message(b"a")]) == [framing.Message(b"a")]


async def test_a_peer_that_floods_data_does_not_keep_other_tasks_from_running() -> None:
    # Reads of a socket that always has more must still yield to the loop's
    # other tasks: one peer can never stall the others.
    ours, theirs = socket_pair()
    link = Link(ours, b"", 1 << 20, client=True)
    frame = framing.encode_frame(framing.OP_TEXT, b'[2,"1","Heartbeat",{}]', masked=False)
    frames = fill_until_full(theirs, frame)
    probe_runs = 0
    received = 0
    done = trio.Event()

    async def probe() -> None:
        nonlocal probe_runs
        while not done.is_set():
            probe_runs += 1
            await trio.lowlevel.checkpoint()

    with trio.fail_after(DEADLINE_S):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(probe)
            await trio.lowlevel.checkpoint()
            probe_runs = 0
            while received < frames:
                received += sum(1 for event in await link.receive() if type(event) is framing.Message)
            done.set()
    reads = len(frame) * frames // 16384
    assert reads >= 4
    assert probe_runs >= reads // 2  # the probe ran between reads
    theirs.close()
