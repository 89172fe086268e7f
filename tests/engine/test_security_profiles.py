"""OCPP 1.6 security whitepaper §2, the three security profiles, end to end on
127.0.0.1: our link against our embedded CSMS, then ``fleetsim run`` against
``fleetsim csms serve`` in its own process.

1 = HTTP Basic over ws://; 2 = Basic over wss://, the station verifying the
CSMS's certificate; 3 = wss:// with a client certificate.  Certificates come
from the ``pki`` fixture (tests/conftest.py, trustme).
"""

from __future__ import annotations

import base64
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec
import pytest
import trio

from fleetsim.csms.config import BasicAuth, CsmsConfig, TlsFiles
from fleetsim.csms.server import RunningCsms, serve_csms
from fleetsim.csms.tls import accept_tls, server_context
from fleetsim.engine import framing
from fleetsim.engine import link as link_module
from fleetsim.engine.link import Link, LinkError, Target, connect
from fleetsim.ocpp.enums import RegistrationStatus
from fleetsim.ocpp.frames import CallResult, decode_confirmation, decode_frame, encode_call
from fleetsim.ocpp.payloads import core

if TYPE_CHECKING:
    from conftest import Pki  # the ``pki`` fixture's type

DEADLINE_S = 10
PASSWORD = b"correct-horse-battery-staple-42"  # an AuthorizationKey: 16 to 40 characters (whitepaper)


@asynccontextmanager
async def running_csms(config: CsmsConfig) -> AsyncIterator[RunningCsms]:
    async with trio.open_nursery() as nursery:
        csms = await nursery.start(serve_csms, config)
        yield csms
        nursery.cancel_scope.cancel()


async def open_station(
    csms: RunningCsms, *, password: bytes | None = None, ssl_context: ssl.SSLContext | None = None
) -> Link:
    authorization = framing.basic_authorization("CP1", password) if password is not None else None
    return await connect(
        Target.parse(csms.url + "/ocpp"), "CP1", authorization=authorization, ssl_context=ssl_context,
        local_address=None, max_message_bytes=1 << 20,
    )


async def boot(link: Link) -> RegistrationStatus:
    """Send a BootNotification and return the CSMS's verdict."""
    request = core.BootNotificationReq(charge_point_vendor="Acme", charge_point_model="X1")
    link.send_text(encode_call("boot-1", request))
    while True:
        for event in await link.receive():
            if isinstance(event, framing.Message):
                frame = decode_frame(event.data)
                assert isinstance(frame, CallResult) and frame.unique_id == "boot-1", frame
                confirmation = decode_confirmation("BootNotification", frame)
                assert isinstance(confirmation, core.BootNotificationConf)
                return confirmation.status


async def wait_until(condition: Callable[[], bool]) -> None:
    """Poll; the caller owns the deadline."""
    while not condition():
        await trio.sleep(0.001)


def tls_files(pki: Pki, *, stranger: bool = False, client_ca: bool = False) -> TlsFiles:
    cert, key = (pki.stranger_cert, pki.stranger_key) if stranger else (pki.server_cert, pki.server_key)
    return TlsFiles(str(cert), str(key), str(pki.ca_file) if client_ca else None)


# ---------------------------------------------------------------- profile 1


async def test_profile_1_the_right_password_connects_and_boots() -> None:
    config = CsmsConfig(basic_auth=BasicAuth(shared_password=PASSWORD.decode()))
    with trio.fail_after(DEADLINE_S):
        async with running_csms(config) as csms:
            assert csms.url.startswith("ws://")
            link = await open_station(csms, password=PASSWORD)
            assert await boot(link) is RegistrationStatus.ACCEPTED
            link.close()


@pytest.mark.parametrize("password", [b"wrong-password-of-sixteen", None], ids=["wrong", "none"])
async def test_profile_1_a_wrong_or_missing_password_is_http_401(password: bytes | None) -> None:
    config = CsmsConfig(basic_auth=BasicAuth(shared_password=PASSWORD.decode()))
    with trio.fail_after(DEADLINE_S):
        async with running_csms(config) as csms:
            with pytest.raises(LinkError, match="HTTP 401") as refused:
                await open_station(csms, password=password)
            assert csms.stats.handshakes_refused == {"401": 1} and csms.stats.connections_total == 0
    assert PASSWORD.decode() not in str(refused.value)


# ---------------------------------------------------------------- profile 2


async def test_profile_2_basic_auth_over_tls_with_the_csms_verified(pki: Pki) -> None:
    config = CsmsConfig(basic_auth=BasicAuth(shared_password=PASSWORD.decode()), tls=tls_files(pki))
    with trio.fail_after(DEADLINE_S):
        async with running_csms(config) as csms:
            assert csms.url.startswith("wss://127.0.0.1:")
            link = await open_station(csms, password=PASSWORD, ssl_context=pki.client_context())
            assert isinstance(link.sock, ssl.SSLSocket) and link.sock.version() in ("TLSv1.2", "TLSv1.3")
            assert await boot(link) is RegistrationStatus.ACCEPTED
            with pytest.raises(LinkError, match="HTTP 401"):  # TLS does not replace the password
                await open_station(csms, password=b"wrong-password-of-sixteen", ssl_context=pki.client_context())
            link.close()
            assert csms.stats.tls_handshakes_failed == {}


async def test_profile_2_a_csms_certificate_from_another_ca_fails_verification(pki: Pki) -> None:
    config = CsmsConfig(basic_auth=BasicAuth(shared_password=PASSWORD.decode()), tls=tls_files(pki, stranger=True))
    with trio.fail_after(DEADLINE_S):
        async with running_csms(config) as csms:
            with pytest.raises(LinkError, match="TLS verification of the CSMS certificate failed"):
                await open_station(csms, password=PASSWORD, ssl_context=pki.client_context())
            await wait_until(lambda: bool(csms.stats.tls_handshakes_failed))
            # The station's "unknown CA" alert ends that connection only.
            assert csms.stats.tls_handshakes_failed == {"TLSV1_ALERT_UNKNOWN_CA": 1}
            trusting = pki.client_context(ca_file=pki.stranger_ca_file)
            link = await open_station(csms, password=PASSWORD, ssl_context=trusting)
            assert await boot(link) is RegistrationStatus.ACCEPTED
            link.close()
            assert csms.stats.internal_errors == 0


# ---------------------------------------------------------------- profile 3


async def test_profile_3_a_client_certificate_connects_and_boots(pki: Pki) -> None:
    config = CsmsConfig(tls=tls_files(pki, client_ca=True))
    with trio.fail_after(DEADLINE_S):
        async with running_csms(config) as csms:
            link = await open_station(csms, ssl_context=pki.client_context(certificate=True))
            assert await boot(link) is RegistrationStatus.ACCEPTED
            link.close()
            assert csms.stats.tls_handshakes_failed == {} and csms.stats.connections_total == 1


@pytest.mark.parametrize(
    ("version", "problem"),
    [
        # TLS 1.3: the alert certificate_required arrives at the station's first read (RFC 8446 §4.4.2.4).
        (ssl.TLSVersion.TLSv1_3, "the CSMS requires a client certificate"),
        # TLS 1.2: inside the handshake, as a generic handshake_failure (RFC 5246 §7.4.6).
        (ssl.TLSVersion.TLSv1_2, "it may require a client certificate"),
    ],
    ids=["TLS1.3", "TLS1.2"],
)
async def test_profile_3_without_a_client_certificate_the_csms_refuses_tls(
    pki: Pki, version: ssl.TLSVersion, problem: str
) -> None:
    config = CsmsConfig(tls=tls_files(pki, client_ca=True))
    context = pki.client_context()
    context.minimum_version = context.maximum_version = version
    with trio.fail_after(DEADLINE_S):
        async with running_csms(config) as csms:
            with pytest.raises(LinkError, match=f"TLS failed: .*{problem}"):
                await open_station(csms, ssl_context=context)
            await wait_until(lambda: bool(csms.stats.tls_handshakes_failed))
            assert csms.stats.tls_handshakes_failed == {"PEER_DID_NOT_RETURN_A_CERTIFICATE": 1}
            assert csms.stats.connections_total == 0
            # Ends that connection only: a station with a certificate is served.
            link = await open_station(csms, ssl_context=pki.client_context(certificate=True))
            assert await boot(link) is RegistrationStatus.ACCEPTED
            link.close()


# ---------------------------------------------------------------- the link over TLS, both sides


async def tls_pair(pki: Pki) -> tuple[Link, Link]:
    """(server, client) links over a TLS socket pair: the server side is the
    CSMS's (accept_tls), the client side the station's."""
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    theirs.setblocking(False)
    accepted: list[ssl.SSLSocket | str] = []

    async def serve() -> None:
        accepted.append(await accept_tls(theirs, server_context(tls_files(pki))))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve)
        client_sock = await link_module._tls_handshake(ours, pki.client_context(), "127.0.0.1")
    (server_sock,) = accepted
    assert isinstance(server_sock, ssl.SSLSocket)
    return Link(server_sock, b"", 1 << 24, client=False), Link(client_sock, b"", 1 << 24, client=True)


async def collect(link: Link, count: int) -> list[framing.Event]:
    events: list[framing.Event] = []
    while len(events) < count:
        events += await link.receive()
    return events


async def test_a_link_over_tls_carries_big_messages_both_ways_and_flushes_in_order(pki: Pki) -> None:
    # Many TLS records per message (16 KiB each, RFC 8446 §5.1); the CSMS's
    # sends outgrow the kernel buffer, so they go through the flusher, whose
    # retries must start with the bytes OpenSSL was given first.
    big, small, upload = b"a" * 8_000_000, b"after", b"u" * 300_000
    with trio.fail_after(DEADLINE_S):
        server, client = await tls_pair(pki)
        async with trio.open_nursery() as nursery:
            assert server.send_text(big) is True  # the kernel buffer is full: the caller starts the flusher
            nursery.start_soon(server.flush)
            assert server.send_text(small) is False  # queued behind the frame OpenSSL is still sending
            if client.send_text(upload):  # the other way too, when the buffer is full
                nursery.start_soon(client.flush)
            assert await collect(client, 2) == [framing.Message(big), framing.Message(small)]
            assert await collect(server, 1) == [framing.Message(upload)]
        server.close()
        with pytest.raises(LinkError, match="closed"):
            await collect(client, 1)
    client.close()


# ---------------------------------------------------------------- the CLI, profile 2 end to end

FLEETSIM = [sys.executable, "-c", "from fleetsim.cli import main; main()"]


def base64_forms(secret: bytes) -> list[bytes]:
    """What ``secret`` looks like inside any base64 text (a Basic credential):
    its whole 3-byte groups, at each of the three alignments."""
    forms = []
    for start in range(3):
        chunk = secret[start:]
        forms.append(base64.b64encode(chunk[: len(chunk) // 3 * 3]))
    return forms


async def read_until(stream: trio.abc.ReceiveStream, pattern: re.Pattern[bytes]) -> tuple[re.Match[bytes], bytes]:
    seen = b""
    while (match := pattern.search(seen)) is None:
        data = await stream.receive_some()
        assert data, f"the CSMS exited: {seen!r}"
        seen += data
    return match, seen


async def read_to_end(stream: trio.abc.ReceiveStream) -> bytes:
    seen = b""
    while data := await stream.receive_some():
        seen += data
    return seen


async def test_the_cli_runs_a_fleet_over_tls_and_writes_the_password_nowhere(pki: Pki, tmp_path: Path) -> None:
    env = {**os.environ, "FLEETSIM_TEST_SECRET": PASSWORD.decode(), "PYTHONUNBUFFERED": "1"}
    stats_file, out = tmp_path / "csms-stats.json", tmp_path / "results"
    serve = [*FLEETSIM, "csms", "serve", "--port", "0", "--tls-cert", str(pki.server_cert), "--tls-key",
             str(pki.server_key), "--password-env", "FLEETSIM_TEST_SECRET", "--status-interval", "0",
             "--stats-out", str(stats_file)]
    run = [*FLEETSIM, "run", "--stations", "3", "--duration", "3s", "-q", "--out", str(out), "--ca-file",
           str(pki.ca_file), "--password-env", "FLEETSIM_TEST_SECRET", "--csms"]
    with trio.fail_after(90):  # two interpreters start; the run lasts 3 s plus its clean stop
        async with trio.open_nursery() as nursery:
            start = partial(trio.run_process, serve, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
            csms = await nursery.start(start)
            match, csms_output = await read_until(csms.stdout, re.compile(rb"listening on (wss://127\.0\.0\.1:\d+) "))
            result = await trio.run_process([*run, match[1].decode()], capture_stdout=True, capture_stderr=True,
                                            env=env, check=False)
            csms.send_signal(signal.SIGINT)  # stops cleanly and writes --stats-out
            csms_output += await read_to_end(csms.stdout)
    assert result.returncode == 0, result.stderr.decode()
    stats = msgspec.json.decode(stats_file.read_bytes())
    assert stats["calls_received"]["BootNotification"] >= 3
    assert stats["tls_handshakes_failed"] == {} and stats["handshakes_refused"] == {}
    summary = msgspec.json.decode((out / "summary.json").read_bytes())
    assert summary  # the run wrote its results
    leaks = [PASSWORD, *base64_forms(PASSWORD)]
    texts = {"run stdout": result.stdout, "run stderr": result.stderr, "csms output": csms_output}
    texts |= {str(path): path.read_bytes() for path in out.rglob("*") if path.is_file()}
    assert len(texts) > 3
    assert [name for name, text in texts.items() if any(leak in text for leak in leaks)] == []
