"""One station's WebSocket connection to the CSMS, on a plain non-blocking socket
driven by trio's low-level readiness API.

Sending is synchronous: a frame goes straight into the kernel's socket buffer
with one ``send`` call, so the fleet's timer task can send for any station
without a task switch.  Only when the buffer is full (a CSMS that stopped
reading) does a flusher task wait for the socket to drain.  Receiving is a
non-blocking :meth:`Link.read` when the owner knows the socket is readable (the
fleet's reactor, :mod:`fleetsim.engine.reactor`), or :meth:`Link.receive`, a
task parked in ``wait_readable`` (the embedded CSMS).

Security profiles (OCPP 1.6 security whitepaper §2): 1 = HTTP Basic over ws://,
2 = Basic over TLS (wss://, the server verified), 3 = TLS with a client
certificate.
"""

from __future__ import annotations

import array
import contextlib
import errno
import fcntl
import socket
import ssl
import struct
import termios
from collections import deque
from typing import Final

import trio

from fleetsim.engine import framing
from fleetsim.engine.source_ports import SourcePorts
from fleetsim.engine.target import Target

SUBPROTOCOL: Final = "ocpp1.6"
# Messages parsed from what one read brought before the owner gets them: the
# rest waits in the parser (Link.maybe_more), so 8,000 tiny frames in one read
# cost the loop a slice at a time, not 16 ms at once.
MAX_EVENTS_PER_READ: Final = 64
# One read's worth.  Small enough that what one read can hold (8,000 empty
# frames at most) is handled well inside a millisecond budget per peer, so a
# peer that floods cannot hold the loop; OCPP frames are a few hundred bytes.
_RECV_BYTES: Final = 16384
DEFAULT_MAX_BACKLOG_BYTES: Final = 8 * 1024 * 1024
"""What may wait for a peer to read, per connection: a SendLocalList answer or
a certificate chain fits many times over; a peer that lets more pile up is cut."""
DEFAULT_MAX_PARTIAL_BYTES: Final = 256 * 1024 * 1024
"""Unfinished frames all links of a process may hold together (64 messages of
the 4 MiB limit); frames that arrive whole within a read cost nothing of it."""
DEFAULT_SEND_STALL_S: Final = 30.0
"""A peer that takes no byte for this long (real seconds) is cut."""
# Linux: the kernel stamps each read with when its bytes arrived (socket(7)
# SO_TIMESTAMPNS, CLOCK_REALTIME), so an answer read late (the loop busy, or
# gathering frames, or collecting garbage) is still timed from its arrival.
_SO_TIMESTAMPNS: Final = 35
_STAMP_SPACE: Final = socket.CMSG_SPACE(16)
_STAMP = struct.Struct("@qq")


class LinkError(Exception):
    """The connection could not be opened or was lost; the message says why."""


class Link:
    """An open WebSocket connection.  A client (a station) masks what it sends
    and expects unmasked frames; a server (the embedded CSMS) the reverse.

    Bounded by construction: what the kernel does not take waits in a backlog
    of at most ``max_backlog_bytes``; a peer that lets it fill, or does not
    read for the flusher's ``stall_s``, is cut (:attr:`failure` says why)
    rather than waited on or buffered for without end."""

    __slots__ = (
        "_backlog",
        "_backlog_bytes",
        "_closed",
        "_current",
        "_flushing",
        "_held",
        "_masked",
        "_max_backlog_bytes",
        "_maybe_more",
        "_parser",
        "_pending",
        "_pong",
        "_stamped",
        "_tls",
        "bytes_in",
        "bytes_out",
        "failure",
        "received_at",
        "sock",
    )

    def __init__(self, sock: socket.socket, leftover: bytes, max_message_bytes: int, *, client: bool = True,
                 max_backlog_bytes: int = DEFAULT_MAX_BACKLOG_BYTES, budget: framing.PartialBudget | None = None) -> None:
        self.sock = sock
        self._masked = client
        # ``budget``: the process's allowance for unfinished frames, shared by
        # all its links (framing.PartialBudget); this link's share is given back on close.
        self._parser = framing.FrameParser(expect_masked=not client, max_message_bytes=max_message_bytes,
                                           budget=budget)
        # Bytes the kernel has not taken: the chunk being written (a TLS write
        # that wants a retry must be retried with the same bytes) and whole
        # frames behind it.  Never a growing ``bytes`` (quadratic to append to).
        self._current = memoryview(b"")
        self._backlog: deque[bytes] = deque()
        self._backlog_bytes = 0
        self._max_backlog_bytes = max_backlog_bytes
        self._pong: bytes | None = None  # the payload of a ping to answer once the backlog drains
        # While held (hold()): frames written wait here, in order, and leave
        # together with one system call at release().
        self._held: list[bytes] | None = None
        self._closed = False
        self._flushing = False
        self.failure: str | None = None  # why the link cut itself (a peer that does not read)
        self.bytes_out = 0
        self.bytes_in = 0
        # Wall-clock time (time.time()) the bytes of the last read reached this
        # host, from the kernel; 0.0 where it cannot tell (TLS, other systems).
        self.received_at = 0.0
        self._stamped = False
        self._tls = isinstance(sock, ssl.SSLSocket)
        if not self._tls:
            try:
                sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
                self._stamped = True
            except OSError:  # pragma: no cover - not Linux
                pass
        # Frames the peer sent right behind its handshake.
        self._pending: list[framing.Event] = self._parsed(leftover) if leftover else []
        # Decrypted bytes TLS already holds would never be announced by readiness.
        self._maybe_more = self._tls and sock.pending() > 0  # type: ignore[attr-defined]

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def backlog_bytes(self) -> int:
        """Bytes written by us and not yet taken by the kernel."""
        return len(self._current) + self._backlog_bytes

    def send_text(self, data: bytes) -> bool:
        """Queue one text message.  Returns True when a flusher must be started
        (the kernel buffer is full); the caller owns that task."""
        return self._write(framing.encode_frame(framing.OP_TEXT, data, masked=self._masked))

    def send_texts(self, messages: list[bytes]) -> bool:
        """Queue several text messages with one system call (see send_text)."""
        masked = self._masked
        return self._write(b"".join([framing.encode_frame(framing.OP_TEXT, data, masked=masked) for data in messages]))

    def hold(self) -> bool:
        """Hold what is written from now on until :meth:`release`: a
        fleet's frames due in one pass of its reactor leave per link in one
        system call, and close together (a peer woken once for a burst, not
        once a frame).  False when it was already held, or cannot be (closed,
        or a backlog already queues what is written: a flusher sends it)."""
        # (A backlog is drained by a flusher, flushing until it is empty.)
        if self._held is not None or self._closed or self._flushing:
            return False
        self._held = []
        return True

    def release(self) -> bool:
        """Write what was held, in order, with one system call (see
        :meth:`send_text` for the result)."""
        held, self._held = self._held, None
        if not held or self._closed:
            return False
        return self._put(held[0] if len(held) == 1 else b"".join(held))

    def _write(self, frame: bytes) -> bool:
        if self._closed:
            return False
        self.bytes_out += len(frame)
        if self._held is not None:
            self._held.append(frame)
            return False
        return self._put(frame)

    def _put(self, frame: bytes) -> bool:
        if self._current or self._backlog:
            self._backlog.append(frame)
            self._backlog_bytes += len(frame)
            if self.backlog_bytes > self._max_backlog_bytes:
                self._cut("backlog_full", framing.CLOSE_TOO_BIG)
            return False
        try:
            sent = self.sock.send(frame)
        except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
            sent = 0
        except OSError:
            self._closed = True
            return False
        if sent == len(frame):
            return False
        self._current = memoryview(frame)[sent:]
        if self.backlog_bytes > self._max_backlog_bytes:
            self._cut("backlog_full", framing.CLOSE_TOO_BIG)
            return False
        if self._flushing:
            return False
        self._flushing = True
        return True

    async def flush(self, stall_s: float = DEFAULT_SEND_STALL_S) -> None:
        """Drain what the kernel did not take; run as its own task.  A peer
        that takes nothing for ``stall_s`` is cut (``failure = "send_stalled"``)."""
        try:
            while (self._current or self._backlog) and not self._closed:
                if not self._current:
                    self._current = memoryview(self._next_chunk())
                writable = False
                with trio.move_on_after(stall_s):
                    try:
                        await trio.lowlevel.wait_writable(self.sock)
                    except trio.ClosedResourceError:  # close() from another task
                        return
                    writable = True
                if not writable:
                    self._cut("send_stalled", framing.CLOSE_POLICY_VIOLATION)
                    return
                try:
                    sent = self.sock.send(self._current)
                except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                    continue
                except OSError:
                    self._closed = True
                    return
                self._current = self._current[sent:]
                if not self._current and not self._backlog and self._pong is not None:
                    pong, self._pong = self._pong, None
                    self._backlog.append(framing.encode_frame(framing.OP_PONG, pong, masked=self._masked))
                    self._backlog_bytes += len(self._backlog[-1])
        finally:
            self._flushing = False

    def _next_chunk(self) -> bytes:
        """Whole frames from the backlog, joined up to about 64 KiB: one
        system call for many small frames, and no copy of the rest."""
        backlog = self._backlog
        chunk = [backlog.popleft()]
        size = len(chunk[0])
        while backlog and size + len(backlog[0]) <= _RECV_BYTES * 4:
            size += len(backlog[0])
            chunk.append(backlog.popleft())
        self._backlog_bytes -= size
        return chunk[0] if len(chunk) == 1 else b"".join(chunk)

    def _cut(self, reason: str, code: int) -> None:
        """Give up on a peer that does not read: try a close frame with one
        non-blocking write (it is unlikely to fit), then drop the connection."""
        self.failure = reason
        self._current, self._backlog, self._backlog_bytes, self._held = memoryview(b""), deque(), 0, None
        with contextlib.suppress(OSError, ssl.SSLError):
            self.sock.send(framing.encode_close(code, reason.replace("_", " "), masked=self._masked))
        self.close()

    @property
    def maybe_more(self) -> bool:
        """Events held back (:meth:`unread`) or bytes that readiness would not
        announce (a full read may have left more; TLS may hold decrypted bytes):
        read again without waiting."""
        return bool(self._pending) or self._maybe_more or self._parser.parsable

    def bytes_waiting(self) -> bool:
        """Whether bytes have reached this host that no read has taken yet
        (stamped links only: elsewhere a read is timed when it is made).  A
        read returns the kernel's stamp of the last bytes it takes, so bytes
        that arrive behind others before the read lend them their time."""
        if not self._stamped or self._closed:
            return False
        count = array.array("i", [0])
        try:
            fcntl.ioctl(self.sock.fileno(), termios.FIONREAD, count)
        except OSError:
            return False
        return count[0] > 0

    def unread(self, events: list[framing.Event]) -> None:
        """Give back events not handled yet: the next :meth:`read` returns them first."""
        self._pending = events + self._pending

    def read(self) -> list[framing.Event]:
        """One non-blocking read: the events it completes ([] when nothing
        came, or only part of a frame).  Raises :class:`LinkError` when the
        connection is gone."""
        if self._pending:
            events, self._pending = self._pending, []
            return events
        if self._closed:
            raise LinkError(f"connection cut: {self.failure}" if self.failure else "connection closed")
        if self._parser.parsable:
            return self._parsed(b"")
        try:
            if self._stamped:
                data, ancillary, _, _ = self.sock.recvmsg(_RECV_BYTES, _STAMP_SPACE)
                if ancillary:
                    seconds, nanoseconds = _STAMP.unpack_from(ancillary[0][2])
                    self.received_at = seconds + nanoseconds * 1e-9
                else:
                    # Unstamped (the kernel turns stamping on a moment after
                    # the first socket asks): the reader's own clock, then.
                    self.received_at = 0.0
            else:
                data = self.sock.recv(_RECV_BYTES)
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            # (A TLS read that wants to write first: the peer's next bytes
            # announce readiness again.)
            self._maybe_more = False
            return []
        except OSError as error:
            self._closed = True
            raise LinkError(f"connection lost: {error.strerror or error}") from error
        if not data:
            # The CSMS's FIN: what is held for it (answers to what it sent
            # before) still leaves, as it would have unheld; a half-closed
            # peer may read on.  A backlog it leaves goes with the link.
            self.release()
            self._closed = True
            raise LinkError("connection closed by the CSMS")
        self.bytes_in += len(data)
        self._maybe_more = len(data) == _RECV_BYTES or (self._tls and self.sock.pending() > 0)  # type: ignore[attr-defined]
        return self._parsed(data)

    def _parsed(self, data: bytes) -> list[framing.Event]:
        events = self._parser.feed(data, MAX_EVENTS_PER_READ)
        # Most reads hold one frame: only several can hold pings to fold.
        return _last_ping_only(events) if len(events) > 1 else events

    async def receive(self) -> list[framing.Event]:
        """Wait for data and return the events it completes.  Raises
        :class:`LinkError` when the connection is gone."""
        if self._pending:
            events, self._pending = self._pending, []
            return events
        while True:
            if self._closed:
                raise LinkError(f"connection cut: {self.failure}" if self.failure else "connection closed")
            try:
                if self._maybe_more or self._parser.parsable:
                    # Data may be waiting, so no wait: but a peer that sends
                    # without pause must not keep this task from yielding.
                    await trio.lowlevel.checkpoint()
                else:
                    await trio.lowlevel.wait_readable(self.sock)
            except trio.ClosedResourceError:  # close() from another task
                raise LinkError("connection closed") from None
            events = self.read()
            if events:
                return events

    def answer(self, event: framing.Event) -> bool:
        """RFC 6455 housekeeping for control events: pong a ping, echo a close,
        close on a violation.  True when a flusher must be started (as
        :meth:`send_text`)."""
        match event:
            case framing.Ping(data=data):
                if self._current or self._backlog:
                    # RFC 6455 §5.5.3: only the latest ping needs its pong.  A
                    # peer that pings but does not read gets one pong, later.
                    self._pong = data
                    return False
                return self._write(framing.encode_frame(framing.OP_PONG, data, masked=self._masked))
            case framing.Close(code=code):
                self.close(code if code != 1005 else framing.CLOSE_NORMAL)
            case framing.Violation(code=code, reason=reason):
                self.close(code, reason)
        return False

    def send_ping(self, data: bytes = b"") -> bool:
        """Send a ping; True when a flusher must be started (as :meth:`send_text`)."""
        return self._write(framing.encode_frame(framing.OP_PING, data, masked=self._masked))

    def close(self, code: int | None = None, reason: str = "") -> None:
        if self.sock.fileno() == -1:
            return
        # Not `if self._closed: return`: a link that found its peer gone is
        # closed for IO but still holds its descriptor until this call.
        if code is not None:
            self._write(framing.encode_close(code, reason, masked=self._masked))
            self.release()  # what was held goes first, the close frame last
        self._held = None  # without a close frame: a link given up on, nothing more to say
        self._closed = True
        self._parser.release()  # what it held of unfinished frames goes back to the process's budget
        try:
            # trio requires this before closing a socket a task may be parked on
            # (our receiver or flusher): it wakes them; without it they never wake.
            trio.lowlevel.notify_closing(self.sock)
        except RuntimeError:  # pragma: no cover - closed outside trio
            pass
        try:
            self.sock.close()
        except OSError:  # pragma: no cover - closing a dead socket
            pass


def _last_ping_only(events: list[framing.Event]) -> list[framing.Event]:
    """RFC 6455 §5.5.3: of several pings received together, only the latest
    needs a pong.  A ping flood then costs one pong per read, not one each."""
    pings = 0
    for event in events:
        if type(event) is framing.Ping:
            pings += 1
    if pings < 2:
        return events
    kept: list[framing.Event] = []
    for event in events:
        if type(event) is framing.Ping:
            pings -= 1
            if pings:
                continue
        kept.append(event)
    return kept


async def connect(
    target: Target,
    charge_point_id: str,
    *,
    authorization: str | None,
    ssl_context: ssl.SSLContext | None,
    local_address: str | None,
    max_message_bytes: int,
    budget: framing.PartialBudget | None = None,
    ports: SourcePorts | None = None,
) -> Link:
    """TCP connect, TLS handshake where the target is wss://, WebSocket upgrade
    with subprotocol ocpp1.6.  The caller owns the timeout (``trio.fail_after``).
    ``ports``: the local port is picked there (fleetsim.engine.source_ports)."""
    sock = await _tcp_connect(target, local_address, ports)
    try:
        if target.tls:
            if ssl_context is None:
                raise LinkError("wss:// needs a TLS context")
            sock = await _tls_handshake(sock, ssl_context, target.host)
        key = framing.new_key()
        request = framing.client_request(
            target.host_header(), target.path_for(charge_point_id), key, SUBPROTOCOL, authorization
        )
        await _send_all(sock, request)
        head, leftover = await _read_head(sock)
        problem = framing.check_server_response(head, key, SUBPROTOCOL)
        if problem is not None:
            raise LinkError(f"WebSocket handshake refused: {problem}")
        return Link(sock, leftover, max_message_bytes, budget=budget)
    except BaseException:
        sock.close()
        raise


async def _tcp_connect(target: Target, local_address: str | None, ports: SourcePorts | None) -> socket.socket:
    try:
        infos = await trio.socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise LinkError(f"cannot resolve {target.host}: {error.strerror or error}") from error
    if not infos:
        raise LinkError(f"cannot resolve {target.host}")
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setblocking(False)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        if local_address is not None or ports is not None:
            # Several source addresses multiply the ~28,000 ephemeral ports one
            # address has towards one CSMS address and port.
            wildcard = "::" if family == socket.AF_INET6 else "0.0.0.0"
            try:
                # Ports all taken: the kernel picks (its search, from the source address's ports).
                if (ports is None or not ports.bind(sock, local_address or wildcard)) and local_address is not None:
                    sock.bind((local_address, 0))
            except OSError as error:
                raise LinkError(f"cannot use source address {local_address or wildcard}: "
                                f"{error.strerror or error}") from error
        code = sock.connect_ex(address)
        if code not in (0, errno.EINPROGRESS):
            raise LinkError(f"cannot connect to {target.host}:{target.port}: {errno.errorcode.get(code, code)}")
        await trio.lowlevel.wait_writable(sock)
        code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            raise LinkError(f"cannot connect to {target.host}:{target.port}: {errno.errorcode.get(code, code)}")
        return sock
    except BaseException:
        sock.close()
        raise


async def tls_handshake(wrapped: ssl.SSLSocket) -> None:
    """Run the TLS handshake of a non-blocking socket, either side, waiting
    for the socket as OpenSSL asks.  The caller owns the timeout."""
    while True:
        try:
            wrapped.do_handshake()
            return
        except ssl.SSLWantReadError:
            await trio.lowlevel.wait_readable(wrapped)
        except ssl.SSLWantWriteError:
            await trio.lowlevel.wait_writable(wrapped)


async def _tls_handshake(sock: socket.socket, context: ssl.SSLContext, host: str) -> socket.socket:
    # wrap_socket detaches ``sock``: the TLS socket owns the descriptor, so it
    # is the one to close when the handshake fails or is cancelled.
    wrapped = context.wrap_socket(sock, server_hostname=host, do_handshake_on_connect=False)
    try:
        await tls_handshake(wrapped)
        return wrapped
    except ssl.SSLError as error:
        wrapped.close()
        raise _tls_failure(error) from error
    except OSError as error:
        wrapped.close()
        raise LinkError(f"connection lost during the TLS handshake: {error.strerror or error}") from error
    except BaseException:
        wrapped.close()
        raise


def _tls_failure(error: ssl.SSLError) -> LinkError:
    """Say which side's certificate was the problem, where TLS tells."""
    if isinstance(error, ssl.SSLCertVerificationError):
        # Security profiles 2 and 3: the station verifies the CSMS (RFC 5280 path validation).
        return LinkError(f"TLS verification of the CSMS certificate failed: {error.verify_message}")
    if error.reason == "TLSV13_ALERT_CERTIFICATE_REQUIRED":
        # Profile 3 without a client certificate.  Under TLS 1.3 the client's
        # side of the handshake is over before the server checks the client's
        # certificate (RFC 8446 §4.4.2.4), so this alert comes at the first read.
        return LinkError("TLS failed: the CSMS requires a client certificate (security profile 3); give one")
    if error.reason == "SSLV3_ALERT_HANDSHAKE_FAILURE":
        # TLS 1.2 has no alert of its own for a missing client certificate
        # (RFC 5246 §7.4.6): OpenSSL answers handshake_failure.
        return LinkError(f"TLS failed: the CSMS sent alert {error.reason}; it may require a client "
                         "certificate (security profile 3), or share no cipher suite with us")
    return LinkError(f"TLS failed: {error.reason or error}")


async def _send_all(sock: socket.socket, data: bytes) -> None:
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
        except ssl.SSLError as error:  # an alert from the CSMS: see _tls_failure
            raise _tls_failure(error) from error
        except OSError as error:
            raise LinkError(f"connection lost during the handshake: {error}") from error
        view = view[sent:]


async def _read_head(sock: socket.socket) -> tuple[framing.HttpHead, bytes]:
    buffer = b""
    while True:
        try:
            data = sock.recv(_RECV_BYTES)
        except (BlockingIOError, ssl.SSLWantReadError):
            await trio.lowlevel.wait_readable(sock)
            continue
        except ssl.SSLWantWriteError:
            await trio.lowlevel.wait_writable(sock)
            continue
        except ssl.SSLError as error:  # an alert from the CSMS: see _tls_failure
            raise _tls_failure(error) from error
        except OSError as error:
            raise LinkError(f"connection lost during the handshake: {error}") from error
        if not data:
            raise LinkError("the CSMS closed the connection during the handshake")
        buffer += data
        parsed = framing.split_head(buffer)
        if parsed is None:
            continue
        if isinstance(parsed, str):
            raise LinkError(f"WebSocket handshake refused: {parsed}")
        return parsed
