"""The embedded CSMS against hostile stations: bad input is answered as OCPP-J
prescribes, and a station that floods or stops reading is cut, never waited on
or buffered for without end, while the others are served."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import trio
from csms_helpers import Station, running_csms, wait_until
from test_csms_server import recv_until_eof, tcp_connect

from fleetsim.csms.central import CentralSystem
from fleetsim.csms.config import CsmsConfig, DelayKind, ResponseDelay
from fleetsim.csms.server import MAX_DELAYED_ANSWERS
from fleetsim.engine import framing
from fleetsim.ocpp.errors import ErrorCode
from fleetsim.ocpp.frames import Call, CallError, CallResult
from fleetsim.ocpp.payloads import core

DEADLINE_S = 20


async def test_a_deeply_nested_call_gets_a_formation_violation_and_the_connection_lives() -> None:
    # A 20 KB frame of nested arrays once made msgspec raise RecursionError
    # through the server: a traceback per frame and a dropped connection.
    nested = b"[" * 10_000 + b"]" * 10_000
    with trio.fail_after(DEADLINE_S):
        async with running_csms() as csms:
            station = await Station.open(csms, "CP-deep")
            station.send(b'[2,"deep-1","DataTransfer",{"vendorId":"x","data":' + nested + b"}]")
            answer = await station.wait_answer("deep-1")
            assert isinstance(answer, CallError)
            assert answer.code == ErrorCode.FORMATION_VIOLATION
            station.send(nested)  # no CALL to answer: counted, ignored
            assert isinstance(await station.call(core.HeartbeatReq()), CallResult)
            assert csms.stats.internal_errors == 0
            assert csms.stats.malformed_received[ErrorCode.FORMATION_VIOLATION] == 2


async def test_a_station_that_floods_calls_beyond_the_delayed_answers_cap_is_cut() -> None:
    config = CsmsConfig(delay=ResponseDelay(kind=DelayKind.FIXED, fixed_ms=60_000))
    with trio.fail_after(DEADLINE_S):
        async with running_csms(config) as csms:
            polite = await Station.open(csms, "CP-polite")
            flood = await Station.open(csms, "CP-flood")
            frames = [b'[2,"f%d","Heartbeat",{}]' % n for n in range(MAX_DELAYED_ANSWERS + 10)]
            flood.link.send_texts(frames)
            await wait_until(lambda: csms.stats.connections_cut.get("calls_flood") == 1)
            assert len(csms._server.timers) <= MAX_DELAYED_ANSWERS  # a timer per held answer, no more
            await wait_until(lambda: csms.stats.connections_open == 1)
            assert set(csms._server.connections) == {"CP-polite"}
            del polite


async def test_a_ping_flood_from_a_station_that_does_not_read_costs_one_pong_per_read() -> None:
    with trio.fail_after(DEADLINE_S):
        async with running_csms() as csms:
            other = await Station.open(csms, "CP-other")
            rude = await Station.open(csms, "CP-rude")
            server_link = csms._server.connections["CP-rude"].link
            ping = framing.encode_frame(framing.OP_PING, b"p" * 125, masked=True)
            for _ in range(400):  # 20,000 pings of 125 bytes, never reading a pong
                rude.link.sock.sendall(ping * 50)
                await trio.lowlevel.checkpoint()
                assert server_link.backlog_bytes <= 127  # RFC 6455 §5.5.3: one pong owed at most
            for _ in range(20):
                assert isinstance(await other.call(core.HeartbeatReq()), CallResult)
            assert csms.stats.connections_open == 2


async def test_a_station_that_stops_reading_its_answers_is_cut_and_others_are_served() -> None:
    with trio.fail_after(DEADLINE_S):
        async with running_csms(CsmsConfig(send_stall_s=0.5)) as csms:
            other = await Station.open(csms, "CP-other")
            rude = await Station.open(csms, "CP-rude")
            csms._server.connections["CP-rude"].link.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            rude.link.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            for batch in range(50):  # 5,000 CALLs whose answers are never read
                rude.link.send_texts([b'[2,"h%d-%d","Heartbeat",{}]' % (batch, n) for n in range(100)])
                await trio.sleep(0)
            for _ in range(10):
                assert isinstance(await other.call(core.HeartbeatReq()), CallResult)
            await wait_until(lambda: csms.stats.connections_open == 1)
            assert csms.stats.connections_cut == {"send_stalled": 1}
            assert isinstance(await other.call(core.HeartbeatReq()), CallResult)


def test_an_accepted_reset_unregisters_the_charge_point_until_it_boots_again() -> None:
    # OCPP 1.6 §5.14 and §4.2.1: the CSMS sends nothing to a charge point
    # that is rebooting, which would otherwise be left unanswered.
    central = CentralSystem(CsmsConfig())
    boot = core.BootNotificationReq(charge_point_vendor="Acme", charge_point_model="X1")
    now = datetime(2026, 1, 1, tzinfo=UTC)
    central.handle("CP1", Call("b1", "BootNotification", boot), now)
    assert central.state("CP1").registration == "Accepted"
    central.on_confirmation("CP1", core.ResetReq(type="Soft"), core.ResetConf(status="Rejected"))
    assert central.state("CP1").registration == "Accepted"
    central.on_confirmation("CP1", core.ResetReq(type="Soft"), core.ResetConf(status="Accepted"))
    assert central.state("CP1").registration is None


async def test_a_client_inventing_charge_point_ids_gets_no_state_past_the_cap() -> None:
    with trio.fail_after(DEADLINE_S):
        async with running_csms(CsmsConfig(max_charge_points=3)) as csms:
            for n in range(3):
                await (await Station.open(csms, f"CP-{n}")).call_boot()
            refused = await tcp_connect(csms.port)
            refused.sendall(framing.client_request(f"127.0.0.1:{csms.port}", "/CP-new", framing.new_key(), "ocpp1.6",
                                                   None))
            assert (await recv_until_eof(refused)).startswith(b"HTTP/1.1 503 ")
            again = await Station.open(csms, "CP-1")  # a known id is welcome back
            assert isinstance(await again.call(core.HeartbeatReq()), CallResult)
            assert len(csms.central.charge_points) == 3


async def test_unfinished_frames_of_all_stations_are_bounded_by_one_budget() -> None:
    # 200 connections each holding an unfinished 4 MiB frame once reached
    # 920 MB.  One budget for the process: the connection whose frame does not
    # fit is cut (1008), the others keep theirs, and closing gives it back.
    budget_bytes = 3 * 1024 * 1024
    with trio.fail_after(DEADLINE_S):
        async with running_csms(CsmsConfig(max_partial_bytes=budget_bytes)) as csms:
            other = await Station.open(csms, "CP-other")
            hoarders = [await Station.open(csms, f"CP-hoard-{n}") for n in range(5)]
            # The head of a 4 MiB text frame and just under 1 MiB of it, masked, never
            # finished: three fit in the budget, and no more (with a whole 1 MiB each, the
            # third overran it by 42 bytes, and whether it was cut raced the test's polling).
            head = framing.encode_frame(framing.OP_TEXT, b"x" * (4 * 1024 * 1024), masked=True)[:1024 * 1024 - 1024]
            for hoarder in hoarders:
                hoarder.link.sock.sendall(head)
            budget = csms._server.partial_budget
            await wait_until(lambda: budget.refusals >= 2)
            assert budget.peak_bytes <= budget_bytes
            assert isinstance(await other.call(core.HeartbeatReq()), CallResult)
            await wait_until(lambda: csms.stats.connections_open == 4)  # two of five cut
            for hoarder in hoarders:
                hoarder.link.close()
            await wait_until(lambda: budget.held_bytes == 0)
