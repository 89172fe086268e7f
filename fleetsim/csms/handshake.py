"""The server side of the opening handshake: read the HTTP upgrade request,
decide (charge point id, Basic auth, subprotocol), answer.

:func:`decide` is pure; :func:`read_request` and :func:`send_all` do the IO on
a non-blocking socket, plain or TLS, like :mod:`fleetsim.engine.link`.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import socket
import ssl
from typing import Final
from urllib.parse import unquote

import msgspec
import trio

from fleetsim.csms.config import CsmsConfig
from fleetsim.engine import framing
from fleetsim.engine.link import SUBPROTOCOL

_RECV_BYTES: Final = 16384


class Upgrade(msgspec.Struct, frozen=True):
    """Accept: switch to WebSocket with ``response``."""

    charge_point_id: str
    response: bytes


class Refuse(msgspec.Struct, frozen=True):
    """Answer with an HTTP error and close.  ``reason`` never holds a credential."""

    status: int
    reason: str

    @property
    def response(self) -> bytes:
        return framing.server_refuse(self.status, self.reason)


def charge_point_id_of(path: str) -> str:
    """OCPP-J 1.6 §3.1.1: the charge point id is the last path segment of the
    URL the station connects to, percent-encoded."""
    return unquote(path.partition("?")[0].rstrip("/").rpartition("/")[2])


def decide(head: framing.HttpHead, config: CsmsConfig) -> Upgrade | Refuse:
    request = framing.read_upgrade_request(head)
    if isinstance(request, str):
        return Refuse(400, request)  # RFC 6455 §4.2.1: not an acceptable upgrade
    charge_point_id = charge_point_id_of(request.path)
    if not charge_point_id:
        return Refuse(400, "no charge point id in the path")
    if config.basic_auth is not None:
        expected = config.basic_auth.password_for(charge_point_id)
        if expected is None or not _basic_auth_matches(request.authorization, charge_point_id, expected):
            return Refuse(401, "Unauthorized")  # security whitepaper §2.1, profile 1
    if config.faults.refuse_subprotocol:
        # RFC 6455 §4.2.2: a server that speaks none of the offered subprotocols
        # omits the header; OCPP-J 1.6 §3.1.2 makes the station give up.
        return Upgrade(charge_point_id, _accept_without_subprotocol(request.key))
    if SUBPROTOCOL not in request.subprotocols:
        return Refuse(400, f"subprotocol {SUBPROTOCOL} required")  # OCPP-J 1.6 §3.1.2
    return Upgrade(charge_point_id, framing.server_accept(request.key, SUBPROTOCOL))


def _basic_auth_matches(header: str | None, charge_point_id: str, expected: bytes) -> bool:
    """RFC 7617 Basic credentials; the user name must be the charge point id
    (security whitepaper §2.1).  Constant-time comparisons."""
    if header is None:
        return False
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    user, separator, password = decoded.partition(b":")
    if not separator:
        return False
    user_ok = hmac.compare_digest(user, charge_point_id.encode())
    password_ok = hmac.compare_digest(password, expected)
    return user_ok and password_ok


def _accept_without_subprotocol(key: bytes) -> bytes:
    return (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {framing.accept_for(key).decode()}\r\n\r\n"
    ).encode()


async def read_request(sock: socket.socket) -> tuple[framing.HttpHead, bytes] | str | None:
    """The request head and the bytes after it; what is wrong with the head,
    to be answered with HTTP 400; or None when the client went away.  The
    caller owns the timeout."""
    buffer = b""
    while True:
        try:
            data = sock.recv(_RECV_BYTES)
        except (BlockingIOError, ssl.SSLWantReadError):
            # On TLS a record may be incomplete although the kernel had bytes;
            # SSLWantReadError is an OSError but not a BlockingIOError.
            await trio.lowlevel.wait_readable(sock)
            continue
        except ssl.SSLWantWriteError:  # TLS wants to write (RFC 8446 §4.6.3 KeyUpdate) before it reads
            await trio.lowlevel.wait_writable(sock)
            continue
        except OSError:  # gone, or a TLS alert from the client
            return None
        if not data:
            return None
        buffer += data
        parsed = framing.split_head(buffer)
        if parsed is not None:
            return parsed


async def send_all(sock: socket.socket, data: bytes) -> bool:
    """Write all of ``data``; False if the connection is gone."""
    view = memoryview(data)
    while view:
        try:
            sent = sock.send(view)
        except (BlockingIOError, ssl.SSLWantWriteError):
            await trio.lowlevel.wait_writable(sock)
            continue
        except ssl.SSLWantReadError:
            await trio.lowlevel.wait_readable(sock)
            continue
        except OSError:
            return False
        view = view[sent:]
    return True
