"""The CSMS over real sockets on 127.0.0.1: handshake, answers, malformed
input, authentication, and a client that is not ours (trio-websocket)."""

from __future__ import annotations

import logging
import socket
from datetime import datetime

import msgspec
import pytest
import trio
import trio_websocket
from csms_helpers import Station, open_link, running_csms, sample_requests, schema_errors, wait_until

from fleetsim.csms.central import CentralSystem
from fleetsim.csms.config import BasicAuth, CsmsConfig, Faults
from fleetsim.engine import framing
from fleetsim.engine.link import LinkError
from fleetsim.ocpp.enums import AuthorizationStatus
from fleetsim.ocpp.errors import ErrorCode
from fleetsim.ocpp.frames import Call, CallError, CallResult, decode_confirmation
from fleetsim.ocpp.payloads import core

DEADLINE_S = 10  # generous: these tests use the real clock


async def test_boot_and_heartbeat() -> None:
    with trio.fail_after(DEADLINE_S):
        async with running_csms(CsmsConfig(heartbeat_interval_s=77)) as csms:
            station = await Station.open(csms)
            boot = await station.call(sample_requests()["BootNotification"])
            assert isinstance(boot, CallResult)
            confirmation = decode_confirmation("BootNotification", boot)
            assert isinstance(confirmation, core.BootNotificationConf) and confirmation.interval == 77
            heartbeat = await station.call(core.HeartbeatReq())
            assert isinstance(decode_confirmation("Heartbeat", heartbeat), core.HeartbeatConf)
            assert csms.stats.calls_received == {"BootNotification": 1, "Heartbeat": 1}
            assert csms.stats.answers_sent == 2 and csms.stats.connections_open == 1
            assert csms.url.startswith("ws://127.0.0.1:") and csms.port > 0


async def test_every_charge_point_call_is_answered_schema_valid_over_the_wire() -> None:
    with trio.fail_after(DEADLINE_S):
        async with running_csms() as csms:
            station = await Station.open(csms, "CP-all")
            for action, request in sample_requests().items():
                answer = await station.call(request)
                assert isinstance(answer, CallResult), action
                assert schema_errors(f"{action}Response", msgspec.json.decode(answer.payload)) == [], action


async def test_authorize_and_transactions_over_the_wire() -> None:
    config = CsmsConfig(id_tags={"BLOCKED1": AuthorizationStatus.BLOCKED}, unknown_id_tag=AuthorizationStatus.INVALID)
    with trio.fail_after(DEADLINE_S):
        async with running_csms(config) as csms:
            station = await Station.open(csms)
            answer = await station.call(core.AuthorizeReq(id_tag="blocked1"))
            assert msgspec.json.decode(answer.payload) == {"idTagInfo": {"status": "Blocked"}}
            answer = await station.call(core.AuthorizeReq(id_tag="stranger"))
            assert msgspec.json.decode(answer.payload) == {"idTagInfo": {"status": "Invalid"}}
            ids = set()
            for _ in range(5):
                start = await station.call(sample_requests()["StartTransaction"])
                ids.add(msgspec.json.decode(start.payload)["transactionId"])
            assert len(ids) == 5


MALFORMED = [
    # (frame, the CALLERROR code it must get) -- OCPP-J 1.6 §4.2.3
    (b'[2,"m1","Heartbeat",{"surplus":1}]', ErrorCode.FORMATION_VIOLATION),
    (b'[2,"m2","Authorize",{}]', ErrorCode.PROTOCOL_ERROR),
    (b'[2,"m3","Authorize",{"idTag":5}]', ErrorCode.TYPE_CONSTRAINT_VIOLATION),
    (b'[2,"m4","Authorize",{"idTag":"123456789012345678901"}]', ErrorCode.TYPE_CONSTRAINT_VIOLATION),
    (
        b'[2,"m5","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Dancing"}]',
        ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    ),
    (b'[2,"m6","Teleport",{}]', ErrorCode.NOT_IMPLEMENTED),
    (b'[2,"m7"]', ErrorCode.PROTOCOL_ERROR),
    (b'[2,"m8","Reset",{"type":"Soft"}]', ErrorCode.NOT_SUPPORTED),  # CSMS-initiated, sent by a station
]


async def test_malformed_calls_get_the_right_callerror_and_the_connection_survives() -> None:
    with trio.fail_after(DEADLINE_S):
        async with running_csms() as csms:
            station = await Station.open(csms)
            for data, code in MALFORMED:
                station.send(data)
                uid = msgspec.json.decode(data)[1]
                answer = await station.wait_answer(uid)
                assert isinstance(answer, CallError), data
                assert answer.code == code, data
            # Frames nobody can answer: not JSON, an unknown message type, an
            # answer to no CALL.  Ignored, counted, and the connection lives on.
            for data in (b"not json", b'[7,"x",{}]', b'[3,"nobody-asked",{}]', b"[]"):
                station.send(data)
            assert isinstance(await station.call(core.HeartbeatReq()), CallResult)
            assert csms.stats.unexpected_answers == 1
            assert sum(csms.stats.malformed_received.values()) == len(MALFORMED) - 1 + 3
            assert csms.stats.errors_sent[ErrorCode.NOT_SUPPORTED] == 1


async def test_a_trio_websocket_client_boots_and_heartbeats() -> None:
    # Interop with an independent RFC 6455 implementation (wsproto underneath).
    with trio.fail_after(DEADLINE_S):
        async with running_csms() as csms:
            url = f"{csms.url}/ocpp/CP-trio"
            async with trio_websocket.open_websocket_url(url, subprotocols=["ocpp1.6"]) as ws:
                assert ws.subprotocol == "ocpp1.6"
                await ws.send_message('[2,"b1","BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}]')
                boot = msgspec.json.decode(await ws.get_message())
                assert boot[:2] == [3, "b1"] and boot[2]["status"] == "Accepted"
                await ws.send_message('[2,"h1","Heartbeat",{}]')
                heartbeat = msgspec.json.decode(await ws.get_message())
                assert heartbeat[:2] == [3, "h1"] and schema_errors("HeartbeatResponse", heartbeat[2]) == []
                await ws.ping(b"are you there")  # returns when our pong arrives
            assert ws.closed is not None and ws.closed.code == 1000  # our server echoed the close
            assert "CP-trio" in csms.central.charge_points
            await wait_until(lambda: csms.stats.connections_open == 0)


async def test_a_client_without_the_ocpp_subprotocol_gets_http_400() -> None:
    with trio.fail_after(DEADLINE_S):
        async with running_csms() as csms:
            with pytest.raises(trio_websocket.ConnectionRejected) as rejected:
                async with trio_websocket.open_websocket_url(f"{csms.url}/CP1", subprotocols=["ocpp2.0.1"]):
                    pass
            assert rejected.value.status_code == 400
            assert csms.stats.handshakes_refused == {"400": 1}


async def test_a_refused_subprotocol_is_a_clear_link_error() -> None:
    with trio.fail_after(DEADLINE_S):
        async with running_csms(CsmsConfig(faults=Faults(refuse_subprotocol=True))) as csms:
            with pytest.raises(LinkError, match="subprotocol"):
                await open_link(csms)


async def test_basic_auth(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    auth = BasicAuth(shared_password="shared-SECRET-1", passwords={"CP1": "own-SECRET-2"})
    with trio.fail_after(DEADLINE_S):
        async with running_csms(CsmsConfig(basic_auth=auth)) as csms:
            good = framing.basic_authorization("CP1", b"own-SECRET-2")
            link = await open_link(csms, "CP1", good)
            assert isinstance(await Station(link).call(core.HeartbeatReq()), CallResult)
            await open_link(csms, "CP2", framing.basic_authorization("CP2", b"shared-SECRET-1"))
            wrong = [
                ("CP1", framing.basic_authorization("CP1", b"shared-SECRET-1")),  # the shared one is not CP1's
                ("CP1", framing.basic_authorization("CP2", b"own-SECRET-2")),  # user name is not the id
                ("CP1", None),
                ("CP1", "Basic !!!not-base64"),
                ("CP1", "Bearer own-SECRET-2"),
            ]
            for charge_point_id, authorization in wrong:
                with pytest.raises(LinkError, match="401"):
                    await open_link(csms, charge_point_id, authorization)
            assert csms.stats.handshakes_refused == {"401": len(wrong)}
            published = msgspec.json.encode(csms.stats).decode() + repr(csms.stats) + caplog.text
            assert "SECRET" not in published


async def test_a_protocol_violation_closes_with_1002_and_others_carry_on() -> None:
    with trio.fail_after(DEADLINE_S):
        async with running_csms() as csms:
            other = await Station.open(csms, "CP-other")
            sock = await raw_upgrade(csms.port, "CP-rude")
            sock.sendall(framing.encode_frame(framing.OP_TEXT, b"[]", masked=False))  # RFC 6455 §5.1: must mask
            parser = framing.FrameParser(expect_masked=False, max_message_bytes=1 << 16)
            events = parser.feed(await recv_until_eof(sock))
            assert events[0] == framing.Close(framing.CLOSE_PROTOCOL_ERROR, "client frames must be masked")
            assert isinstance(await other.call(core.HeartbeatReq()), CallResult)


async def test_garbage_and_silent_clients_do_not_hurt_the_server() -> None:
    with trio.fail_after(DEADLINE_S):
        async with running_csms(CsmsConfig(handshake_timeout_s=0.2)) as csms:
            garbage = await tcp_connect(csms.port)
            garbage.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert (await recv_until_eof(garbage)).startswith(b"HTTP/1.1 400 ")
            unreadable = await tcp_connect(csms.port)
            unreadable.sendall(b"GET /CP1 HTTP/1.1\r\nno colon in this header\r\n\r\n")
            assert (await recv_until_eof(unreadable)).startswith(b"HTTP/1.1 400 malformed header line")
            silent = await tcp_connect(csms.port)  # says nothing: closed at the handshake timeout
            assert await recv_until_eof(silent) == b""
            vanishing = await tcp_connect(csms.port)
            vanishing.close()
            assert isinstance(await (await Station.open(csms)).call(core.HeartbeatReq()), CallResult)
            assert csms.stats.internal_errors == 0


async def test_pings_are_ponged_and_a_closing_station_is_let_go() -> None:
    with trio.fail_after(DEADLINE_S):
        async with running_csms() as csms:
            link = await open_link(csms)
            link.send_ping(b"hello")
            events: list[framing.Event] = []
            while not events:
                events = await link.receive()
            assert events == [framing.Pong(b"hello")]
            link.close(framing.CLOSE_NORMAL)
            await wait_until(lambda: csms.stats.connections_open == 0)


# ----------------------------------------------------------------- raw sockets


async def tcp_connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


async def recv_until_eof(sock: socket.socket) -> bytes:
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except BlockingIOError:
            await trio.lowlevel.wait_readable(sock)
            continue
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            sock.close()
            return data
        data += chunk


async def raw_upgrade(port: int, charge_point_id: str) -> socket.socket:
    sock = await tcp_connect(port)
    key = framing.new_key()
    sock.sendall(framing.client_request(f"127.0.0.1:{port}", f"/{charge_point_id}", key, "ocpp1.6", None))
    buffer = b""
    while (parsed := framing.split_head(buffer)) is None:
        await trio.lowlevel.wait_readable(sock)
        buffer += sock.recv(65536)
    assert not isinstance(parsed, str)
    assert framing.check_server_response(parsed[0], key, "ocpp1.6") is None
    return sock


async def test_our_own_bug_in_one_connection_does_not_stop_the_others(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real_handle = CentralSystem.handle

    def handle(self: CentralSystem, charge_point_id: str, call: Call, now: datetime) -> object:
        if charge_point_id == "CP-unlucky":
            raise RuntimeError("a bug of ours")
        return real_handle(self, charge_point_id, call, now)

    monkeypatch.setattr(CentralSystem, "handle", handle)
    with trio.fail_after(DEADLINE_S):
        async with running_csms() as csms:
            lucky = await Station.open(csms, "CP-lucky")
            unlucky = await Station.open(csms, "CP-unlucky")
            unlucky.send(b'[2,"1","Heartbeat",{}]')
            with pytest.raises(LinkError):
                await unlucky.next_frame()
            # RFC 6455 §7.4.1: 1011, the server met a condition it could not handle.
            assert [close.code for close in unlucky.closes] == [framing.CLOSE_INTERNAL_ERROR]
            assert isinstance(await lucky.call(core.HeartbeatReq()), CallResult)
            assert csms.stats.internal_errors == 1 and csms.stats.connections_open == 1
    assert "a bug of ours" in caplog.text  # logged with its traceback
