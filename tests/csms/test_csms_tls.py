"""The CSMS over TLS (security whitepaper §2, profiles 2 and 3): a client that
is not ours, the handshake timeout, clients that do not speak TLS, and the
``--tls-*`` options.  Certificates: the ``pki`` fixture (tests/conftest.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec
import pytest
import trio
import trio.testing
import trio_websocket
from click.testing import CliRunner
from csms_helpers import Station, running_csms, sample_requests, wait_until

from fleetsim.cli.csms import csms, run_until_interrupted
from fleetsim.csms.config import CsmsConfig, TlsFiles
from fleetsim.csms.tls import server_context
from fleetsim.engine.link import LinkError, Target, connect
from fleetsim.ocpp.frames import CallResult
from fleetsim.ocpp.payloads import core

if TYPE_CHECKING:
    from conftest import Pki  # the ``pki`` fixture's type

DEADLINE_S = 10


def tls_config(pki: Pki, **changes: object) -> CsmsConfig:
    return CsmsConfig(tls=TlsFiles(str(pki.server_cert), str(pki.server_key)), **changes)  # type: ignore[arg-type]


async def test_an_independent_client_talks_to_the_tls_csms(pki: Pki) -> None:
    # trio-websocket (wsproto) over the standard library's TLS: big messages
    # span many TLS records (16 KiB each, RFC 8446 §5.1) on the CSMS's Link.
    data = "x" * 300_000
    request = [2, "dt-1", "DataTransfer", {"vendorId": "com.acme", "data": data}]
    with trio.fail_after(DEADLINE_S):
        async with running_csms(tls_config(pki)) as running:
            assert running.url == f"wss://127.0.0.1:{running.port}"
            url = f"{running.url}/ocpp/CP-wsproto"
            async with trio_websocket.open_websocket_url(
                url, ssl_context=pki.client_context(), subprotocols=["ocpp1.6"]
            ) as ws:
                assert ws.subprotocol == "ocpp1.6"
                await ws.send_message(json.dumps([2, "boot-1", "BootNotification", {
                    "chargePointVendor": "Acme", "chargePointModel": "X1"}]))
                assert json.loads(await ws.get_message())[2]["status"] == "Accepted"
                for _ in range(3):
                    await ws.send_message(json.dumps(request))
                    assert json.loads(await ws.get_message())[:2] == [3, "dt-1"]
            await wait_until(lambda: running.stats.connections_open == 0)
            assert running.stats.calls_received == {"BootNotification": 1, "DataTransfer": 3}
            assert running.stats.tls_handshakes_failed == {} and running.stats.internal_errors == 0


async def test_a_client_silent_before_tls_is_let_go_at_the_handshake_timeout(
    pki: Pki, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(DEADLINE_S * 10):
        async with running_csms(tls_config(pki, handshake_timeout_s=5.0)) as running:
            silent = await trio.open_tcp_stream("127.0.0.1", running.port)
            started_s = trio.current_time()
            assert await silent.receive_some() == b""  # closed by the CSMS
            assert 5.0 <= trio.current_time() - started_s < 6.0
            assert running.stats.tls_handshakes_failed == {"timeout": 1}
            await silent.aclose()


async def test_clients_that_do_not_speak_tls_end_only_their_own_connection(pki: Pki) -> None:
    with trio.fail_after(DEADLINE_S):
        async with running_csms(tls_config(pki)) as running:
            plain = Target.parse(f"ws://127.0.0.1:{running.port}/ocpp")
            with pytest.raises(LinkError):  # an HTTP request where a ClientHello belongs
                await connect(plain, "CP1", authorization=None, ssl_context=None, local_address=None,
                              max_message_bytes=1 << 20)
            vanishing = await trio.open_tcp_stream("127.0.0.1", running.port)
            await vanishing.aclose()
            await wait_until(lambda: sum(running.stats.tls_handshakes_failed.values()) == 2)
            assert running.stats.tls_handshakes_failed.keys() <= {"HTTP_REQUEST", "UNEXPECTED_EOF_WHILE_READING",
                                                                  "connection lost"}
            assert "HTTP_REQUEST" in running.stats.tls_handshakes_failed
            secure = Target.parse(f"{running.url}/ocpp")
            link = await connect(secure, "CP1", authorization=None, ssl_context=pki.client_context(),
                                 local_address=None, max_message_bytes=1 << 20)
            station = Station(link)
            assert isinstance(await station.call(sample_requests()["BootNotification"]), CallResult)
            assert isinstance(await station.call(core.HeartbeatReq()), CallResult)
            link.close()
            assert running.stats.internal_errors == 0


async def test_the_server_announces_wss_when_tls_is_on(pki: Pki) -> None:
    lines: list[str] = []
    with trio.fail_after(DEADLINE_S):
        async with trio.open_nursery() as nursery:
            running = await nursery.start(run_until_interrupted, tls_config(pki), "127.0.0.1", 0, 0.0, lines.append)
            nursery.cancel_scope.cancel()
    assert lines[0].startswith(f"fleetsim CSMS listening on wss://127.0.0.1:{running.port} ")


def test_tls_settings_load_from_toml(pki: Pki) -> None:
    text = f'[tls]\ncert_file = "{pki.server_cert}"\nkey_file = "{pki.server_key}"\nclient_ca_file = "{pki.ca_file}"\n'
    config = msgspec.toml.decode(text, type=CsmsConfig)
    assert config.tls == TlsFiles(str(pki.server_cert), str(pki.server_key), str(pki.ca_file))
    assert server_context(config.tls).verify_mode.name == "CERT_REQUIRED"  # profile 3
    with pytest.raises(msgspec.ValidationError):
        msgspec.toml.decode('[tls]\ncert = "x"\n', type=CsmsConfig)


def test_wrong_tls_options_are_usage_errors(pki: Pki, tmp_path: Path) -> None:
    runner = CliRunner()
    lonely_key = runner.invoke(csms, ["serve", "--tls-key", str(pki.server_key)])
    assert lonely_key.exit_code == 2 and "need --tls-cert" in lonely_key.output
    not_a_key = runner.invoke(csms, ["serve", "--tls-cert", str(pki.server_cert), "--tls-key", str(pki.ca_file)])
    assert not_a_key.exit_code == 2 and "cannot use the TLS files" in not_a_key.output
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    not_a_ca = runner.invoke(csms, ["serve", "--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key),
                                    "--tls-client-ca", str(empty)])
    assert not_a_ca.exit_code == 2 and "cannot use the TLS files" in not_a_ca.output
