"""The embedded CSMS on trio: an accept loop, one task per connection that
reads and answers, and one timer task for everything that happens later.

Benchmarks run against this server in another process, so it must be at least
as fast as the simulator: frames go through :mod:`fleetsim.engine.link` (our
own RFC 6455 framing on plain non-blocking sockets), answers are written with
one synchronous ``send`` from the connection's task, and delayed answers, the
CSMS's own CALLs and their timeouts share one timer heap
(:mod:`fleetsim.csms.timers`) instead of a sleeping task each.

With TLS configured (security profiles 2 and 3), each accepted socket goes
through a non-blocking TLS handshake first (:mod:`fleetsim.csms.tls`) and the
Link then runs over the TLS socket.

A connection failing, by the peer's fault or ours, ends that connection only.
"""

from __future__ import annotations

import errno
import logging
import random
import socket
import ssl
import time
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Final

import msgspec
import trio

from fleetsim.csms.central import CentralSystem, Refusal
from fleetsim.csms.collector import keep_collector_off_connections
from fleetsim.csms.config import CsmsConfig, DelayKind, MalformedKind
from fleetsim.csms.handshake import Refuse, Upgrade, decide, read_request, send_all
from fleetsim.csms.outbound import OutboundContext, check_rule, generate
from fleetsim.csms.service import SingleServer
from fleetsim.csms.timers import TimerHeap
from fleetsim.csms.tls import accept_tls, server_context
from fleetsim.engine import framing
from fleetsim.engine.limits import raise_open_files_limit
from fleetsim.engine.link import Link, LinkError
from fleetsim.metrics.recorder import MAX_ERROR_CODE_CHARS, MAX_ERROR_KINDS, OTHER_ERROR_CODES
from fleetsim.ocpp.actions import ACTION_OF_REQUEST
from fleetsim.ocpp.base import Payload
from fleetsim.ocpp.enums import RegistrationStatus
from fleetsim.ocpp.errors import Malformed
from fleetsim.ocpp.frames import (
    Call,
    CallError,
    CallResult,
    decode_confirmation,
    decode_frame,
    encode_call,
    encode_error,
    encode_frame,
    encode_result,
)
from fleetsim.ocpp.payloads import core

log = logging.getLogger(__name__)

# Messages of one read handled in one go before the other connections get a
# turn: a read of tiny messages (8,000 fit in 16 KiB) must not hold the loop.
MESSAGES_PER_STEP: Final = 64
# Answers held back by a configured delay, per connection: far above what one
# CALL in flight at a time (OCPP-J 1.6 §4.1.1) ever needs.
MAX_DELAYED_ANSWERS: Final = 1024
_ACCEPT_RETRY_S: Final = 0.1  # out of file descriptors: wait for some to close, as trio.serve_listeners does
_OUT_OF_RESOURCES: Final = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}


def _bump(counter: dict[str, int], key: str) -> None:
    if key not in counter:
        # Some keys are a peer's text (a CALLERROR's code): a bounded set of them.
        key = key[:MAX_ERROR_CODE_CHARS]
        if len(counter) >= MAX_ERROR_KINDS and key not in counter:
            key = OTHER_ERROR_CODES
    counter[key] = counter.get(key, 0) + 1


class CsmsStats(msgspec.Struct):
    """Live counters; ``msgspec.to_builtins`` makes them JSON.  Nothing here
    holds a credential or anything a station sent in its HTTP headers."""

    connections_open: int = 0
    connections_total: int = 0
    connections_dropped: int = 0  # by the drop_after_messages fault
    handshakes_refused: dict[str, int] = {}  # by HTTP status
    tls_handshakes_failed: dict[str, int] = {}  # by OpenSSL reason, or "timeout" / "connection lost"
    messages_received: int = 0  # WebSocket messages, of every kind
    calls_received: dict[str, int] = {}  # well-formed CALLs by action
    malformed_received: dict[str, int] = {}  # by OCPP-J error code
    answers_sent: int = 0  # CALLRESULTs made
    errors_sent: dict[str, int] = {}  # CALLERRORs made, by code
    malformed_sent: int = 0  # by the malformed_every fault
    answers_lost: int = 0  # delayed or queued (service_time_s) answers whose connection closed first
    csms_calls_sent: dict[str, int] = {}  # the CSMS's own CALLs, by action
    csms_calls_skipped: dict[str, int] = {}  # due, but nothing to send or the queue was full
    csms_call_results: dict[str, dict[str, int]] = {}  # action -> status, "CallError:<code>", "timeout", ...
    callerrors_received: dict[str, int] = {}  # CALLERRORs answering the CSMS's CALLs, by code
    unexpected_answers: int = 0  # CALLRESULT/CALLERROR matching no CALL in flight
    internal_errors: int = 0  # our bugs, logged with a traceback
    # Connections cut because the station let too much pile up unread
    # (backlog_full), stopped reading (send_stalled), or flooded delayed answers.
    connections_cut: dict[str, int] = {}


def added_stats(parts: Iterable[CsmsStats]) -> CsmsStats:
    """The counters of several CSMS processes serving one listening socket,
    added (nested counts too)."""
    total = CsmsStats()
    for part in parts:
        for field in part.__struct_fields__:
            setattr(total, field, _add(getattr(total, field), getattr(part, field)))
    return total


def _add(a: Any, b: Any) -> Any:
    if isinstance(a, dict):
        return {key: _add(a.get(key, 0 if not isinstance(value, dict) else {}), value)
                for key, value in b.items()} | {key: value for key, value in a.items() if key not in b}
    return a + b


class RunningCsms:
    """What ``await nursery.start(serve_csms, config)`` returns."""

    __slots__ = ("_cancel_scope", "_server", "central", "host", "port", "stats", "tls")

    def __init__(
        self, host: str, port: int, tls: bool, stats: CsmsStats, central: CentralSystem, cancel_scope: trio.CancelScope,
        server: _Server | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.tls = tls
        self.stats = stats
        self.central = central
        self._cancel_scope = cancel_scope
        self._server = server

    def request_remote_start(self, charge_point_id: str, connector_id: int, id_tag: str) -> bool:
        """A driver's app asks to start connector ``connector_id`` of
        ``charge_point_id`` with ``id_tag``: the CSMS sends it a
        RemoteStartTransaction (OCPP 1.6 §5.11).  False when it cannot: the
        station is not connected and accepted, or its call queue is full."""
        return self._server is not None and self._server.remote_start(charge_point_id, connector_id, id_tag)

    @property
    def service(self) -> SingleServer | None:
        """The one server of ``service_time_s`` (its queue's length, longest
        length, CALLs served); None when the setting is off."""
        return None if self._server is None else self._server.service

    @property
    def url(self) -> str:
        """Stations connect to ``<url>/<chargePointId>`` (OCPP-J 1.6 §3.1.1)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'wss' if self.tls else 'ws'}://{host}:{self.port}"

    def stop(self) -> None:
        self._cancel_scope.cancel()


class _PendingCall(msgspec.Struct, gc=False):
    unique_id: str
    action: str
    request: Payload


class _Connection:
    __slots__ = (
        "calls",
        "charge_point_id",
        "closed",
        "delayed_answers",
        "dropping",
        "link",
        "messages",
        "nursery",
        "outbox",
        "pending",
        "waiting_scope",
    )

    def __init__(self, charge_point_id: str, link: Link, nursery: trio.Nursery) -> None:
        self.charge_point_id = charge_point_id
        self.link = link
        self.nursery = nursery  # holds this connection's flusher, when the kernel buffer fills
        self.messages = 0
        self.calls = 0
        # OCPP-J 1.6 §4.1.1: one CALL of the CSMS in flight per connection; the
        # rules of later ones wait here and are generated when they go out.
        self.pending: _PendingCall | None = None
        self.outbox: deque[int | Payload] = deque()  # a traffic rule's index, or a request asked from outside
        self.closed = False
        self.dropping = False
        self.delayed_answers = 0  # answers waiting for the configured delay
        # Set while the receive loop waits for room in the service queue: a
        # link cut meanwhile (by a flusher) cancels the wait, so the connection
        # ends now rather than at its turn.
        self.waiting_scope: trio.CancelScope | None = None


async def serve_csms(
    config: CsmsConfig,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    reuse_port: bool = False,
    own_process: bool = False,
    task_status: trio.TaskStatus[RunningCsms] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until cancelled.  ``await nursery.start(serve_csms, config)``
    returns a :class:`RunningCsms` once the port is bound and listening.
    ``reuse_port``: share ``port`` with other processes listening on it
    (SO_REUSEPORT: the kernel spreads new connections over them).
    ``own_process``: the process is the CSMS's alone, which then keeps the
    collector off its connections (fleetsim.csms.collector); beside a fleet,
    the fleet manages the collector."""
    raise_open_files_limit(1 << 20)  # each station is a socket; as many as the system allows
    server = _Server(config)
    infos = await trio.socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = infos[0]
    with trio.socket.socket(family, kind, proto) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        await listener.bind(address)
        listener.listen(65535)  # the kernel clamps this to net.core.somaxconn
        bound_port = listener.getsockname()[1]
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server.timers.run)
            if own_process:
                nursery.start_soon(keep_collector_off_connections, server.stats)
            if server.service is not None:
                nursery.start_soon(server.service.run)
            tls = server.tls_context is not None
            task_status.started(RunningCsms(host, bound_port, tls, server.stats, server.central, nursery.cancel_scope,
                                            server))
            await server.accept_loop(listener, nursery)


class _Server:
    def __init__(self, config: CsmsConfig) -> None:
        self.config = config
        self.central = CentralSystem(config)
        self.stats = CsmsStats()
        self.timers = TimerHeap()
        # Unfinished frames of every connection together (framing.PartialBudget).
        self.partial_budget = framing.PartialBudget(config.max_partial_bytes)
        # Read once, at start: a missing or wrong certificate file fails here,
        # not at the first station.
        self.tls_context = server_context(config.tls) if config.tls is not None else None
        self._context = OutboundContext.from_config(config)
        self._delay_rng = random.Random(config.seed)
        self._traffic_rng = random.Random(config.seed + 1)
        self._delayed = config.delay.kind is not DelayKind.NONE
        self._call_sequence = 0
        self.connections: dict[str, _Connection] = {}  # by charge point id, for calls asked from outside
        # currentTime follows trio's clock, so a MockClock moves it too, and
        # runs ``config.speed`` times faster, as the accelerated stations' does.
        self._origin_s = trio.current_time()
        self._origin_epoch_s = config.clock_origin.timestamp() if config.clock_origin is not None else time.time()
        for rule in config.traffic:
            check_rule(rule, self._context, self.now(trio.current_time()))
        faults = config.faults
        self._stall: tuple[float, float] | None = None
        if faults.stall_at_s is not None and faults.stall_for_s > 0:
            start_s = trio.current_time() + faults.stall_at_s
            self._stall = (start_s, start_s + faults.stall_for_s)
            self.timers.pause_from_s, self.timers.pause_until_s = self._stall
        # service_time_s: every CALL through one FIFO server (fleetsim.csms.service).
        self.service = (SingleServer(config.service_time_s, self._serve_call, self._stall)
                        if config.service_time_s > 0 else None)

    def now(self, now_s: float) -> datetime:
        return datetime.fromtimestamp(self._origin_epoch_s + (now_s - self._origin_s) * self.config.speed, UTC)

    async def accept_loop(self, listener: trio.socket.SocketType, nursery: trio.Nursery) -> None:
        while True:
            try:
                accepted, _ = await listener.accept()
            except OSError as error:
                if error.errno in _OUT_OF_RESOURCES:
                    log.warning("accept failed (%s); retrying", error.strerror)
                    await trio.sleep(_ACCEPT_RETRY_S)
                continue  # ECONNABORTED and the like: that client gave up
            sock = socket.socket(fileno=accepted.detach())
            nursery.start_soon(self._serve_connection, sock)

    async def _wait_out_stall(self) -> None:
        if self._stall is not None:
            start_s, end_s = self._stall
            if start_s <= trio.current_time() < end_s:
                await trio.sleep_until(end_s)

    async def _serve_connection(self, sock: socket.socket) -> None:
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # One deadline for the whole opening handshake, TLS and HTTP: a
            # client that stalls in either holds a socket and nothing more.
            deadline_s = trio.current_time() + self.config.handshake_timeout_s
            if self.tls_context is not None:
                secured = await self._tls_handshake(sock, self.tls_context, deadline_s)
                if secured is None:
                    return
                sock = secured  # the TLS socket owns the descriptor now; the finally closes it
            opened = await self._handshake(sock, deadline_s)
            if opened is not None:
                await self._run_connection(*opened)
        except Exception:  # our bug: count it, keep serving everyone else
            self.stats.internal_errors += 1
            log.exception("CSMS connection failed")
        finally:
            sock.close()

    async def _tls_handshake(
        self, sock: socket.socket, context: ssl.SSLContext, deadline_s: float
    ) -> ssl.SSLSocket | None:
        """Security profiles 2 and 3 (security whitepaper §2).  A failure,
        a station without a valid certificate under profile 3 among them, ends
        this connection only and is counted by its reason."""
        outcome: ssl.SSLSocket | str = "timeout"
        with trio.move_on_at(deadline_s):
            outcome = await accept_tls(sock, context)
        if isinstance(outcome, str):
            _bump(self.stats.tls_handshakes_failed, outcome)
            log.debug("TLS handshake failed: %s", outcome)
            return None
        return outcome

    async def _handshake(self, sock: socket.socket, deadline_s: float) -> tuple[socket.socket, str, bytes] | None:
        parsed: tuple[framing.HttpHead, bytes] | str | None = None
        with trio.move_on_at(deadline_s):
            parsed = await read_request(sock)
        if parsed is None:
            return None  # timed out or went away
        await self._wait_out_stall()
        if isinstance(parsed, str):
            decision: Upgrade | Refuse = Refuse(400, parsed)  # not HTTP we can read
            leftover = b""
        else:
            head, leftover = parsed
            decision = decide(head, self.config)
            if (isinstance(decision, Upgrade) and decision.charge_point_id not in self.central.charge_points
                    and len(self.central.charge_points) >= self.config.max_charge_points):
                # State is kept per charge point id, and ids are the client's
                # to choose: a client inventing new ones gets no new state.
                decision = Refuse(503, "no room for another charge point")
        if not await send_all(sock, decision.response):
            return None
        if not isinstance(decision, Upgrade):
            _bump(self.stats.handshakes_refused, str(decision.status))
            log.debug("handshake refused: %d %s", decision.status, decision.reason)
            return None
        return sock, decision.charge_point_id, leftover

    async def _run_connection(self, sock: socket.socket, charge_point_id: str, leftover: bytes) -> None:
        link = Link(sock, leftover, self.config.max_message_bytes, client=False, budget=self.partial_budget)
        stats = self.stats
        stats.connections_open += 1
        stats.connections_total += 1
        try:
            async with trio.open_nursery() as nursery:
                connection = _Connection(charge_point_id, link, nursery)
                self.connections[charge_point_id] = connection
                try:
                    self._schedule_traffic(connection, trio.current_time())
                    await self._receive_loop(connection)
                finally:
                    connection.closed = True
                    if self.connections.get(charge_point_id) is connection:
                        del self.connections[charge_point_id]
                    nursery.cancel_scope.cancel()  # a flusher of a connection that is gone
        finally:
            stats.connections_open -= 1
            link.close()

    async def _receive_loop(self, connection: _Connection) -> None:
        link = connection.link
        on_message = self._on_message
        service = self.service
        while True:
            try:
                events = await link.receive()
            except LinkError:
                if link.failure is not None:  # a station that stopped reading: cut
                    _bump(self.stats.connections_cut, link.failure)
                return
            if self._stall is not None:
                await self._wait_out_stall()
            now_s = trio.current_time()
            for count, event in enumerate(events, start=1):
                if count % MESSAGES_PER_STEP == 0:
                    # One read can hold thousands of tiny messages: let the
                    # other connections run between slices of them.
                    await trio.lowlevel.checkpoint()
                    if link.closed:
                        return
                    now_s = trio.current_time()
                if type(event) is framing.Message:
                    try:
                        queued = on_message(connection, event.data, now_s)
                    except Exception:  # our bug: this connection only, with the close code that says so
                        self.stats.internal_errors += 1
                        log.exception("CSMS failed handling a message of %s", connection.charge_point_id)
                        link.close(framing.CLOSE_INTERNAL_ERROR, "internal error")
                        return
                    if connection.dropping:
                        self.stats.connections_dropped += 1
                        return  # no close frame: a dropped connection, as a network failure looks
                    if queued is not None:
                        assert service is not None
                        # Waits while the server's queue is full, reading
                        # nothing meanwhile: the backlog stays in the sockets.
                        with trio.CancelScope() as connection.waiting_scope:
                            await service.put(connection, queued, len(event.data), now_s)
                        connection.waiting_scope = None
                        if link.closed:
                            return
                        now_s = trio.current_time()
                else:
                    # RFC 6455 §5.5: pong pings, echo a close, close on a violation.
                    if link.answer(event):
                        connection.nursery.start_soon(self._flush, connection)
                    if link.closed:
                        return

    # ------------------------------------------------------------ messages

    def _on_message(self, connection: _Connection, data: bytes, now_s: float) -> Call | None:
        """Handle one message; with a service time, return a CALL for the
        server's queue instead of answering it."""
        self.stats.messages_received += 1
        connection.messages += 1
        frame = decode_frame(data, self.config.max_message_bytes)
        queued = None
        match frame:
            case Call() if self.service is not None:
                _bump(self.stats.calls_received, frame.action)
                queued = frame
            case Call():
                self._on_call(connection, frame, now_s)
            case CallResult() | CallError():
                self._on_answer(connection, frame, now_s)
            case Malformed():
                self._on_malformed(connection, frame, now_s)
        limit = self.config.faults.drop_after_messages
        if limit is not None and connection.messages >= limit:
            connection.dropping = True
        return queued

    def _serve_call(self, connection: _Connection, call: Call, now_s: float) -> None:
        """The server has finished ``call``'s service: answer it now."""
        if connection.closed:
            self.stats.answers_lost += 1
            return
        try:
            self._answer_call(connection, call, now_s)
        except Exception:  # our bug: this connection only; the server goes on with the others
            self.stats.internal_errors += 1
            log.exception("CSMS failed answering a CALL of %s", connection.charge_point_id)
            connection.link.close(framing.CLOSE_INTERNAL_ERROR, "internal error")
            if connection.waiting_scope is not None:
                connection.waiting_scope.cancel()

    def _on_call(self, connection: _Connection, call: Call, now_s: float) -> None:
        _bump(self.stats.calls_received, call.action)
        self._answer_call(connection, call, now_s)

    def _answer_call(self, connection: _Connection, call: Call, now_s: float) -> None:
        stats = self.stats
        connection.calls += 1
        every = self.config.faults.malformed_every
        if every is not None and connection.calls % every == 0:
            stats.malformed_sent += 1
            self._answer(connection, self._malformed_answer(call.unique_id), now_s)
            return
        answer = self.central.handle(connection.charge_point_id, call, self.now(now_s))
        if type(answer) is Refusal:
            _bump(stats.errors_sent, answer.code)
            self._answer(connection, encode_error(call.unique_id, answer.code, answer.description), now_s)
        else:
            stats.answers_sent += 1
            self._answer(connection, encode_result(call.unique_id, answer), now_s)

    def _on_malformed(self, connection: _Connection, malformed: Malformed, now_s: float) -> None:
        _bump(self.stats.malformed_received, malformed.code)
        uid = malformed.unique_id
        if uid is None:
            return  # nothing to correlate an answer with
        if malformed.message_type == 2:
            # OCPP-J 1.6 §4.2.3: a CALL that cannot be processed is answered
            # with a CALLERROR of the code that says why.
            _bump(self.stats.errors_sent, malformed.code)
            self._answer(connection, encode_error(uid, malformed.code, malformed.description), now_s)
        elif connection.pending is not None and connection.pending.unique_id == uid:
            self._finish_csms_call(connection, "malformed", now_s)

    def _malformed_answer(self, unique_id: str) -> bytes:
        if self.config.faults.malformed_kind is MalformedKind.JSON:
            return b"[3," + msgspec.json.encode(unique_id) + b',{"currentTime":'
        # The right id, a payload no confirmation schema allows (additionalProperties: false).
        return encode_frame(CallResult(unique_id, {"fleetsimMalformed": True}))

    def _answer(self, connection: _Connection, data: bytes, now_s: float) -> None:
        if self._delayed:
            delay_ms = self.config.delay.draw_ms(self._delay_rng)
            if delay_ms > 0:
                if connection.delayed_answers >= MAX_DELAYED_ANSWERS:
                    # OCPP-J 1.6 §4.1.1 allows a station one CALL in flight; one
                    # that floods us does not get a timer per CALL without end.
                    _bump(self.stats.connections_cut, "calls_flood")
                    connection.dropping = True
                    connection.link.close(framing.CLOSE_POLICY_VIOLATION, "too many CALLs in flight")
                    if connection.waiting_scope is not None:  # answered by the service_time_s server
                        connection.waiting_scope.cancel()
                    return
                connection.delayed_answers += 1
                self.timers.schedule(now_s + delay_ms / 1000.0, self._send_later, connection, data)
                return
        self._send(connection, data)

    def _send_later(self, connection: _Connection, data: bytes, due_s: float) -> None:
        connection.delayed_answers -= 1
        if connection.closed:
            self.stats.answers_lost += 1
        else:
            self._send(connection, data)

    def _send(self, connection: _Connection, data: bytes) -> None:
        if connection.link.send_text(data):
            connection.nursery.start_soon(self._flush, connection)

    async def _flush(self, connection: _Connection) -> None:
        await connection.link.flush(self.config.send_stall_s)
        if connection.link.closed and connection.waiting_scope is not None:
            connection.waiting_scope.cancel()  # cut while waiting for the service queue

    # ------------------------------------------------- the CSMS's own CALLs

    def _schedule_traffic(self, connection: _Connection, now_s: float) -> None:
        # Each rule is a Poisson process per station: exponential gaps.
        for index, rule in enumerate(self.config.traffic):
            due_s = now_s + self._traffic_rng.expovariate(rule.rate_per_s)
            self.timers.schedule(due_s, self._on_traffic_due, connection, index)

    def _on_traffic_due(self, connection: _Connection, index: int, due_s: float) -> None:
        if connection.closed:
            return
        rule = self.config.traffic[index]
        next_s = due_s + self._traffic_rng.expovariate(rule.rate_per_s)
        self.timers.schedule(next_s, self._on_traffic_due, connection, index)
        # OCPP 1.6 §4.2.1: the Central System talks to a charge point it has accepted.
        if self.central.state(connection.charge_point_id).registration is not RegistrationStatus.ACCEPTED:
            _bump(self.stats.csms_calls_skipped, rule.action)
        elif connection.pending is None:
            connection.outbox.append(index)
            self._send_next_call(connection, due_s)
        elif len(connection.outbox) < self.config.csms_call_queue:
            connection.outbox.append(index)
        else:
            _bump(self.stats.csms_calls_skipped, rule.action)

    def _send_next_call(self, connection: _Connection, now_s: float) -> None:
        state = self.central.state(connection.charge_point_id)
        while connection.outbox:
            item = connection.outbox.popleft()
            if isinstance(item, int):
                rule = self.config.traffic[item]
                payload = generate(rule, state, self._context, self._traffic_rng, self.now(now_s))
                if payload is None:
                    _bump(self.stats.csms_calls_skipped, rule.action)
                    continue
            else:
                payload = item
            self._call_sequence += 1
            unique_id = f"csms-{self._call_sequence}"
            action = ACTION_OF_REQUEST[type(payload)]
            connection.pending = _PendingCall(unique_id, action, payload)
            _bump(self.stats.csms_calls_sent, action)
            timeout_s = now_s + self.config.csms_call_timeout_s
            self.timers.schedule(timeout_s, self._on_call_timeout, connection, unique_id)
            self._send(connection, encode_call(unique_id, payload))
            return

    def remote_start(self, charge_point_id: str, connector_id: int, id_tag: str) -> bool:
        connection = self.connections.get(charge_point_id)
        # OCPP 1.6 §4.2.1: the Central System talks to a charge point it has accepted.
        if connection is None or connection.closed or (
            self.central.state(charge_point_id).registration is not RegistrationStatus.ACCEPTED
        ):
            return False
        if connection.pending is not None and len(connection.outbox) >= self.config.csms_call_queue:
            _bump(self.stats.csms_calls_skipped, "RemoteStartTransaction")
            return False
        connection.outbox.append(core.RemoteStartTransactionReq(connector_id=connector_id, id_tag=id_tag))
        if connection.pending is None:
            self._send_next_call(connection, trio.current_time())
        return True

    def _on_call_timeout(self, connection: _Connection, unique_id: str, due_s: float) -> None:
        pending = connection.pending
        if not connection.closed and pending is not None and pending.unique_id == unique_id:
            self._finish_csms_call(connection, "timeout", due_s)

    def _on_answer(self, connection: _Connection, frame: CallResult | CallError, now_s: float) -> None:
        pending = connection.pending
        if pending is None or frame.unique_id != pending.unique_id:
            self.stats.unexpected_answers += 1  # late (after its timeout) or never asked for
            return
        match frame:
            case CallResult():
                confirmation = decode_confirmation(pending.action, frame)
                if isinstance(confirmation, Malformed):
                    outcome = "malformed"
                else:
                    self.central.on_confirmation(connection.charge_point_id, pending.request, confirmation)
                    # Most confirmations carry a status; the others count as "ok".
                    outcome = str(getattr(confirmation, "status", "ok"))
            case CallError(code=code):
                _bump(self.stats.callerrors_received, code)
                outcome = f"CallError:{code}"
        self._finish_csms_call(connection, outcome, now_s)

    def _finish_csms_call(self, connection: _Connection, outcome: str, now_s: float) -> None:
        pending = connection.pending
        assert pending is not None
        _bump(self.stats.csms_call_results.setdefault(pending.action, {}), outcome)
        connection.pending = None
        if connection.outbox:
            self._send_next_call(connection, now_s)
