"""The virtual station: a pure state machine.

The engine feeds it events (connected, disconnected, a WebSocket message, a
timer) with the current engine time; it appends the frames to send to
``outbox`` and sets ``wake_at_s``, the engine time at which it next wants
``on_timer``.  It never sleeps, never reads a clock and never touches a socket,
so a day of a station's life runs in milliseconds in a test.

Drivers (the session plans, tests) act on it as the people at the charger do:
:meth:`plug_in`, :meth:`present_id_tag`, :meth:`unplug`.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from typing import Any

from fleetsim.metrics.recorder import ModelStats
from fleetsim.metrics.summary import BOOT
from fleetsim.ocpp.datatypes import IdTagInfo
from fleetsim.ocpp.enums import AuthorizationStatus, ChargePointStatus, Reason, RegistrationStatus
from fleetsim.ocpp.errors import ErrorCode, Malformed
from fleetsim.ocpp.frames import (
    Call,
    CallError,
    CallResult,
    decode_confirmation,
    decode_frame,
    encode_call,
    encode_error,
    encode_result,
)
from fleetsim.ocpp.payloads.core import (
    BootNotificationConf,
    BootNotificationReq,
    HeartbeatReq,
    StartTransactionConf,
    StartTransactionReq,
    StopTransactionConf,
    StopTransactionReq,
)
from fleetsim.station import authorization, features, metering, status
from fleetsim.station.config import Configuration
from fleetsim.station.connector import Connector, Transaction
from fleetsim.station.handlers import apply_scheduled_availability, handle, trigger_feature_message
from fleetsim.station.model import StationModel
from fleetsim.station.outgoing import Outgoing, OutgoingQueue
from fleetsim.station.power import Ev
from fleetsim.station.replies import CallFailure
from fleetsim.station.timebase import Timebase

INF = float("inf")
DEFAULT_BOOT_RETRY_S = 60.0  # BootNotification.conf interval 0 on Pending/Rejected
REBOOT_S = 10.0  # how long a station is down for a reset or reboot (simulated seconds)
# Engine seconds a station that goes down stays down at least, whatever the time
# acceleration: its link is closed before it may connect again.
MIN_DOWN_S = 0.005
# Engine seconds from the Reset.conf to going down: the reset's StopTransactions
# go out first (§5.14), one CSMS round trip each, at network speed, not simulated.
RESET_SHUTDOWN_S = 1.0
# A station's own timers (delayed answers, effects of CSMS calls, its sessions'
# next events): a few dozen at most in any certified behaviour.  Past this a
# new CSMS call is answered InternalError rather than scheduled.
MAX_PENDING_TIMERS = 512


class Station:
    __slots__ = (
        "_timer_seq",
        "_timers",
        "aligned_due_s",
        "auth_cache",
        "boot_due_s",
        "charge_point_id",
        "closing",
        "config",
        "connectors",
        "ever_booted",
        "features",
        "heartbeat_due_s",
        "local_list",
        "local_list_version",
        "model",
        "offline_until_s",
        "online",
        "online_since_s",
        "outbox",
        "ping_due_s",
        "queue",
        "reaction_delays",
        "registration",
        "reply_at_s",
        "reported_station_status",
        "rng",
        "serial_number",
        "stats",
        "timebase",
        "timed_out_id",
        "wake_at_s",
        "want_disconnect",
        "want_ping",
    )

    def __init__(
        self,
        charge_point_id: str,
        model: StationModel,
        stats: ModelStats,
        rng: random.Random,
        timebase: Timebase,
        *,
        reaction_delays: bool = True,
    ) -> None:
        self.charge_point_id = charge_point_id
        self.model = model
        self.stats = stats
        self.rng = rng
        self.timebase = timebase
        self.config = Configuration(model.configuration)
        self.connectors = [Connector(i + 1, rating, 0.0, timebase.speed) for i, rating in enumerate(model.ratings)]
        self.serial_number = charge_point_id[-25:]
        self.online = False
        self.online_since_s = -INF
        self.registration: RegistrationStatus | None = None  # None: not booted since power-on
        self.ever_booted = False  # Accepted at least once in this run (counted once: stations.booted)
        self.boot_due_s = INF
        self.heartbeat_due_s = INF
        self.aligned_due_s = INF
        self.queue = OutgoingQueue(stats)
        self.outbox: list[bytes] = []
        self.wake_at_s = INF
        self.want_disconnect = False
        self.offline_until_s = -INF
        self._timers: list[tuple[float, int, Callable[[float], None]]] = []
        self._timer_seq = 0
        self.local_list: dict[str, IdTagInfo] = {}
        self.local_list_version = 0
        self.auth_cache: dict[str, IdTagInfo] = {}
        self.features: dict[str, Any] = {}  # per-feature state (charging profiles, firmware ...)
        self.reaction_delays = reaction_delays
        self.closing = False  # the run is ending: no new sessions
        self.reported_station_status: ChargePointStatus | None = None  # connector 0
        self.reply_at_s = -INF  # when the answer to the CSMS call being handled goes out
        self.ping_due_s = INF  # WebSocketPingInterval (§9.1): the engine sends the ping
        self.want_ping = False
        self.timed_out_id: str | None = None  # the last CALL of ours given up on (its answer may still come)

    # ------------------------------------------------------------ engine side

    def on_connected(self, now_s: float) -> None:
        self.online = True
        self.online_since_s = now_s
        self.want_disconnect = False
        self.schedule_ping(now_s)
        if self.registration != RegistrationStatus.ACCEPTED:
            self.boot_due_s = now_s
        else:
            status.report_changed(self, now_s)
            self.reset_heartbeat(now_s)  # one may have fallen due while offline
        self._settle(now_s)

    def on_disconnected(self, now_s: float) -> None:
        self.online = False
        self.ping_due_s, self.want_ping = INF, False
        for lost in self.queue.on_disconnect():
            self.stats.count(f"lost.{lost.action}")
        self.boot_due_s = INF
        self._settle(now_s)

    def on_message(self, data: bytes, now_s: float) -> None:
        match decode_frame(data):
            case Call() as call:
                self._on_call(call, now_s)
            case CallResult() as result:
                self._on_result(result, now_s)
            case CallError() as error:
                self._on_call_error(error, now_s)
            case Malformed() as malformed:
                self._on_malformed(malformed, now_s)
        self._settle(now_s)

    def on_timer(self, now_s: float) -> None:
        timers = self._timers
        while timers and timers[0][0] <= now_s:
            _, _, action = heapq.heappop(timers)
            action(now_s)
        if self.boot_due_s <= now_s and self.online:
            self.boot_due_s = INF
            self._send_boot(now_s)
        if self.heartbeat_due_s <= now_s:
            self.heartbeat_due_s = INF
            if self.registration == RegistrationStatus.ACCEPTED and self.online:
                self.enqueue(Outgoing("Heartbeat", HeartbeatReq(), now_s))
        if self.ping_due_s <= now_s:
            self.want_ping = True
            self.schedule_ping(now_s)
        metering.on_timer(self, now_s)
        self._check_call_timeout(now_s)
        self._settle(now_s)

    def schedule_ping(self, now_s: float) -> None:
        interval = self.config.get_int("WebSocketPingInterval", 0)  # 0: no ping (§9.1)
        self.ping_due_s = now_s + self.sim_s(interval) if interval > 0 and self.online else INF

    # ------------------------------------------------------------ timers

    def at(self, when_s: float, action: Callable[[float], None]) -> None:
        """Run ``action(now_s)`` at engine time ``when_s``."""
        self._timer_seq += 1
        heapq.heappush(self._timers, (when_s, self._timer_seq, action))

    def sim_s(self, seconds: float) -> float:
        """Engine seconds for a simulated duration (an OCPP interval)."""
        return self.timebase.engine_seconds(seconds)

    def reaction(self, sampler: Callable[[random.Random], float]) -> float:
        return sampler(self.rng) if self.reaction_delays else 0.0

    # ------------------------------------------------------------ outgoing

    def enqueue(self, call: Outgoing) -> None:
        self.queue.push(call)

    def _settle(self, now_s: float) -> None:
        """After every event: send what may go, and compute the next wake-up."""
        for connector in self.connectors:
            if connector.power_w > 0:
                metering.schedule_physics(self, connector, now_s)
        self._pump(now_s)
        wake = min(self.boot_due_s, self.heartbeat_due_s, self.aligned_due_s, self.ping_due_s, metering.next_due(self))
        if self._timers:
            wake = min(wake, self._timers[0][0])
        in_flight = self.queue.in_flight
        if in_flight is not None:
            wake = min(wake, in_flight.sent_s + self.model.response_timeout_s)
        elif len(self.queue) and self.queue.retry_at_s > now_s:
            wake = min(wake, self.queue.retry_at_s)
        self.wake_at_s = wake

    def _pump(self, now_s: float) -> None:
        if not self.online or self.want_disconnect:
            return
        accepted = self.registration == RegistrationStatus.ACCEPTED
        if not accepted:
            # §4.2.1: before Accepted, only the boot, and (while Pending) what the CSMS triggered.
            head = self.queue.peek()
            if head is None or not head.before_accept:
                return
            if head.action != "BootNotification" and self.registration != RegistrationStatus.PENDING:
                return
        call = self.queue.take_next(now_s)
        if call is None:
            return
        payload = call.materialize()
        if payload is None:  # a transaction message whose transaction was lost
            self.queue.answered(call.unique_id)
            self._pump(now_s)
            return
        # Time a call spent queued while we were offline is not the CSMS's doing.
        call.due_s = max(call.due_s, self.online_since_s)
        self.outbox.append(encode_call(call.unique_id, payload))
        if accepted:
            self.reset_heartbeat(now_s)

    def reset_heartbeat(self, now_s: float) -> None:
        # OCPP 1.6 §4.6: the heartbeat shows the CSMS the station is alive; any
        # message we send does that too, so the interval restarts with it.
        interval = self.config.get_int("HeartbeatInterval", 0)
        self.heartbeat_due_s = now_s + self.sim_s(interval) if interval > 0 else INF

    def _check_call_timeout(self, now_s: float) -> None:
        call = self.queue.in_flight
        if call is None or now_s < call.sent_s + self.model.response_timeout_s:
            return
        self.queue.answered(call.unique_id)
        self.timed_out_id = call.unique_id
        self.stats.exchange(call.action).record_timeout()
        self._retry_or_fail(call, now_s)

    def _retry_or_fail(self, call: Outgoing, now_s: float) -> None:
        """OCPP 1.6 §4.10: a transaction message the CSMS failed to take is tried
        TransactionMessageAttempts times, the n-th retry after n × the retry
        interval.  Any other CALL, or one out of attempts, has failed."""
        if call.is_transaction:
            attempts = self.config.get_int("TransactionMessageAttempts", 3)
            if call.attempts < max(1, attempts):
                interval = self.config.get_int("TransactionMessageRetryInterval", 60)
                self.queue.retry(call, now_s + self.sim_s(interval * call.attempts))
                return
            self.stats.count(f"abandoned.{call.action}")
        if call.on_failure is not None:
            call.on_failure(now_s)

    # ------------------------------------------------------------ answers to our calls

    def _on_result(self, result: CallResult, now_s: float) -> None:
        call = self._answered(result.unique_id, "result", now_s)
        if call is None:
            return
        confirmation = decode_confirmation(call.action, result)
        if isinstance(confirmation, Malformed):
            self._failed(call, f"invalid.{confirmation.code}", now_s)
        elif call.on_answer is not None:
            call.on_answer(confirmation, now_s)

    def _on_call_error(self, error: CallError, now_s: float) -> None:
        call = self._answered(error.unique_id, "error", now_s)
        if call is not None:
            self._failed(call, str(error.code), now_s)

    def _answered(self, unique_id: str, kind: str, now_s: float) -> Outgoing | None:
        """The in-flight CALL an answer is for, its latency recorded; a CSMS
        answering something else is counted."""
        call = self.queue.answered(unique_id)
        if call is None:
            # After the declared timeout the station gave up on the call (as the
            # model does; counted in timeouts): its answer came too late, which
            # is not the CSMS answering something it was never asked.
            late = unique_id == self.timed_out_id
            self.stats.count("csms.answer_after_timeout" if late else f"csms.unexpected_{kind}")
            return None
        self.stats.exchange(call.action).record_answer(call.due_s, call.sent_s, now_s)
        return call

    def _failed(self, call: Outgoing, code: str, now_s: float) -> None:
        self.stats.exchange(call.action).record_error(code)
        self._retry_or_fail(call, now_s)

    def _on_malformed(self, malformed: Malformed, now_s: float) -> None:
        self.stats.count(f"csms.malformed.{malformed.code}")
        if malformed.unique_id is None:
            return
        if malformed.message_type == 2:
            self.outbox.append(encode_error(malformed.unique_id, malformed.code, malformed.description[:255]))
        elif malformed.message_type == 3:
            call = self._answered(malformed.unique_id, "result", now_s)
            if call is not None:
                self._failed(call, f"invalid.{malformed.code}", now_s)

    # ------------------------------------------------------------ CSMS calls

    def _on_call(self, call: Call, now_s: float) -> None:
        if len(self._timers) >= MAX_PENDING_TIMERS:
            # OCPP-J 1.6 §4.1.1 gives a CSMS one CALL in flight; one that calls
            # faster than the station reacts would grow its timers without end.
            self.stats.count(f"csms_call.{call.action}.{ErrorCode.INTERNAL_ERROR}")
            self.outbox.append(encode_error(call.unique_id, ErrorCode.INTERNAL_ERROR,
                                            "station busy: too many CSMS calls in progress"))
            return
        # The answer's reaction delay is drawn first, so that handlers schedule
        # the call's effects no earlier than the answer (see effect_at).
        delay = self.reaction(self.model.response_delay)
        self.reply_at_s = now_s + delay
        reply = handle(self, call, now_s)
        if reply is None:
            # §4.2.1: a station not (yet) accepted sends nothing, answers included.
            self.stats.count(f"csms_call.{call.action}.unanswered")
            return
        if isinstance(reply, CallFailure):
            self.stats.count(f"csms_call.{call.action}.{reply.code}")
            frame = encode_error(call.unique_id, reply.code, reply.description)
        else:
            # The answer's status (Accepted, Rejected, NotSupported ...) where it has one.
            self.stats.count(f"csms_call.{call.action}.{getattr(reply, 'status', 'answered')}")
            frame = encode_result(call.unique_id, reply)
        if delay <= 0:
            self.outbox.append(frame)
        else:
            self.at(now_s + delay, lambda _now, frame=frame: self._send_now(frame))

    def _send_now(self, frame: bytes) -> None:
        if self.online:
            self.outbox.append(frame)

    def effect_at(self, now_s: float, delay_s: float) -> float:
        """When an effect of the CSMS call being handled may happen: after its
        own reaction delay, and never before the call's answer (§5.17, §5.11)."""
        return max(now_s + delay_s, self.reply_at_s + 1e-6)

    # ------------------------------------------------------------ boot and heartbeat

    def _send_boot(self, now_s: float) -> None:
        model = self.model
        request = BootNotificationReq(
            charge_point_vendor=model.vendor[:20],
            charge_point_model=model.model[:20],
            charge_point_serial_number=self.serial_number,
            firmware_version=model.firmware_version[:50] if model.firmware_version else None,
        )
        self.queue.discard("BootNotification")
        self.queue.push_front(Outgoing("BootNotification", request, now_s, on_answer=self._on_boot_answer,
                                       on_failure=self._on_boot_failed, before_accept=True))

    def _on_boot_failed(self, now_s: float) -> None:
        # No usable answer (a CALLERROR, a timeout, an invalid conf): try again later.
        self.boot_due_s = now_s + self.sim_s(DEFAULT_BOOT_RETRY_S)

    def _on_boot_answer(self, conf: BootNotificationConf, now_s: float) -> None:
        self.registration = conf.status
        self.stats.count(f"boot.{conf.status}")
        if conf.status == RegistrationStatus.ACCEPTED:
            self.stats.record_reaction(BOOT, now_s - self.online_since_s)  # connected → accepted
            if not self.ever_booted:
                self.ever_booted = True
                self.stats.count("stations.booted")
            if conf.interval > 0:
                self.config.set("HeartbeatInterval", str(conf.interval))
            self.reset_heartbeat(now_s)
            metering.on_boot(self, now_s)
            status.report_all(self, now_s)
            features.on_boot_accepted(self, now_s)
        else:
            retry_s = conf.interval if conf.interval > 0 else DEFAULT_BOOT_RETRY_S
            self.boot_due_s = now_s + self.sim_s(retry_s)

    def accepted_online(self) -> bool:
        """Connected, and its BootNotification Accepted: what a CSMS may call (§4.2.1)."""
        return self.online and self.registration == RegistrationStatus.ACCEPTED

    def trigger(self, action: str, connector_id: int | None, now_s: float) -> None:
        """Send a message because the CSMS asked for it (TriggerMessage); it is
        allowed even before the boot was accepted (OCPP 1.6 §4.2.1)."""
        match action:
            case "BootNotification":
                self._send_boot(now_s)
            case "Heartbeat":
                self.queue.push_front(Outgoing("Heartbeat", HeartbeatReq(), now_s, before_accept=True))
            case "StatusNotification":
                status.trigger(self, connector_id, now_s)
            case "MeterValues":
                metering.trigger(self, connector_id, now_s)
            case _:
                trigger_feature_message(self, action, connector_id, now_s)

    # ------------------------------------------------------------ status notifications

    def connector(self, connector_id: int) -> Connector | None:
        if 1 <= connector_id <= len(self.connectors):
            return self.connectors[connector_id - 1]
        return None

    def set_status(self, connector: Connector, new_status: ChargePointStatus, now_s: float) -> None:
        status.set_status(self, connector, new_status, now_s)

    # ------------------------------------------------------------ the people at the charger

    def end_sessions(self, reason: Reason, now_s: float) -> None:
        """The run is ending: stop every transaction and start no new one."""
        self.closing = True
        for connector in self.connectors:
            connector.authorized_id_tag = None
            self.stop_transaction(connector, reason, now_s)
        self._settle(now_s)

    def plug_in(self, connector_id: int, ev: Ev, now_s: float) -> None:
        connector = self.connectors[connector_id - 1]
        if connector.plugged or self.closing or not self.usable(connector, now_s):
            self.stats.count("session.plug_in_refused")
            return
        connector.advance(now_s)
        transaction = connector.transaction
        if transaction is not None and not transaction.stopping:
            # The EV is back to a transaction kept through its unplugging (C-06.1).
            connector.plugged, connector.ev = True, ev
            self.update_power(connector, now_s)
            self._settle(now_s)
            return
        connector.plugged, connector.ev, connector.soc, connector.delivered_wh = True, ev, ev.soc_start, 0.0
        tag = connector.authorized_id_tag
        if tag is not None:
            connector.authorized_id_tag = None
            self.start_transaction(connector, tag, now_s, remote=False)
        else:
            self.set_status(connector, ChargePointStatus.PREPARING, now_s)
        self._settle(now_s)

    def present_id_tag(self, connector_id: int, id_tag: str, now_s: float) -> None:
        """An RFID card at the reader: starts a transaction, or stops the one it started."""
        connector = self.connectors[connector_id - 1]
        if self.closing or not self.usable(connector, now_s):
            return  # an Unavailable or Faulted connector takes no sessions (§4.9)
        transaction = connector.transaction
        if transaction is not None:
            if transaction.id_tag == id_tag and not transaction.stopping:
                self.stop_transaction(connector, Reason.LOCAL, now_s, id_tag=id_tag)
            self._settle(now_s)
            return
        authorization.authorize(self, id_tag, now_s, lambda now, ok: self.authorized(connector, id_tag, ok, now))
        self._settle(now_s)

    def authorized(self, connector: Connector, id_tag: str, accepted: bool, now_s: float) -> None:
        """The verdict on a tag presented at (or remotely started on) ``connector``."""
        if not accepted:
            self.stats.count("session.authorization_refused")
            return
        if not self.usable(connector, now_s):  # went Faulted or Unavailable while the tag was checked
            self.stats.count("session.connector_unavailable")
            return
        if features.reserved_for_other(self, connector, id_tag):  # OCPP 1.6 §5.13
            self.stats.count("session.reserved_for_other")
            return
        if connector.plugged:
            self.start_transaction(connector, id_tag, now_s, remote=False)
        else:
            connector.authorized_id_tag = id_tag
            self.set_status(connector, ChargePointStatus.PREPARING, now_s)
            timeout_s = self.config.get_int("ConnectionTimeOut", 60)
            self.at(now_s + self.sim_s(timeout_s), lambda now, c=connector, t=id_tag: self._connection_timeout(c, t, now))

    def _connection_timeout(self, connector: Connector, id_tag: str, now_s: float) -> None:
        # OCPP 1.6 §9.1.9 ConnectionTimeOut: authorized but never plugged in.
        if connector.authorized_id_tag == id_tag and not connector.plugged:
            connector.authorized_id_tag = None
            self.set_status(connector, status.idle_status(connector), now_s)

    def usable(self, connector: Connector, now_s: float) -> bool:
        """Whether ``connector`` can start a transaction: neither Unavailable nor
        Faulted (the inoperative statuses, OCPP 1.6 §7.7), the station not down
        (rebooting, without power)."""
        return (not connector.inoperative and connector.status is not ChargePointStatus.FAULTED
                and now_s >= self.offline_until_s)

    def unplug(self, connector_id: int, now_s: float) -> None:
        connector = self.connectors[connector_id - 1]
        if not connector.plugged:
            return
        connector.advance(now_s)
        connector.plugged, connector.ev = False, None
        transaction = connector.transaction
        if transaction is not None and not transaction.stopping:
            if self.config.get_bool("StopTransactionOnEVSideDisconnect", True):
                self.stop_transaction(connector, Reason.EV_DISCONNECTED, now_s)
            else:
                # C-06.1: the transaction stays, suspended, until the EV returns.
                connector.advance(now_s)
                self.set_status(connector, ChargePointStatus.SUSPENDED_EV, now_s)
        elif connector.status is not ChargePointStatus.FAULTED:  # a fault outlasts the plug (§4.9)
            connector.advance(now_s)
            self.set_status(connector, status.idle_status(connector), now_s)
        self._settle(now_s)

    # ------------------------------------------------------------ transactions

    def start_transaction(self, connector: Connector, id_tag: str, now_s: float, *, remote: bool,
                          reservation_id: int | None = None) -> Transaction | None:
        if self.closing:
            return None
        connector.advance(now_s)
        if reservation_id is None:
            reservation_id = features.use_reservation(self, connector, id_tag, now_s)
        transaction = Transaction(id_tag, connector.meter_wh(), self.timebase.wall(now_s), now_s, reservation_id, remote)
        connector.transaction = transaction
        features.on_transaction_started(self, connector, now_s)
        request = StartTransactionReq(
            connector_id=connector.connector_id,
            id_tag=id_tag,
            meter_start=transaction.meter_start_wh,
            reservation_id=reservation_id,
            timestamp=transaction.started_at,
        )
        # StartTransaction first, then the Charging status: the transaction is
        # what the CSMS waits for (the order is free, OCTT TC_003).
        self.enqueue(Outgoing(
            "StartTransaction", request, now_s, is_transaction=True,
            on_answer=lambda conf, now: self._on_start_answer(connector, transaction, conf, now),
            on_failure=lambda now: self.stats.count("transaction.never_started"),
        ))
        self.update_power(connector, now_s)
        metering.on_transaction_started(self, connector, now_s)
        return transaction

    def _on_start_answer(self, connector: Connector, transaction: Transaction, conf: StartTransactionConf | None,
                         now_s: float) -> None:
        transaction.transaction_id = conf.transaction_id
        authorization.remember(self, transaction.id_tag, conf.id_tag_info)  # §4.8
        verdict = conf.id_tag_info.status
        if verdict == AuthorizationStatus.ACCEPTED or connector.transaction is not transaction:
            return
        # OCPP 1.6 §5.16 / §9.1.22 StopTransactionOnInvalidId.
        self.stats.count(f"transaction.rejected.{verdict}")
        if self.config.get_bool("StopTransactionOnInvalidId", True):
            self.stop_transaction(connector, Reason.DE_AUTHORIZED, now_s)
        else:
            transaction.invalid = True
            connector.advance(now_s)
            self.set_status(connector, connector.charging_status(), now_s)

    def stop_transaction(self, connector: Connector, reason: Reason, now_s: float, *, id_tag: str | None = None) -> None:
        transaction = connector.transaction
        if transaction is None or transaction.stopping:
            return
        connector.advance(now_s)
        transaction.stopping = True
        meter_stop = connector.meter_wh()
        stamp = self.timebase.wall(now_s)
        transaction_data = metering.stop_transaction_data(self, connector, transaction, now_s)
        reason_field = None if reason == Reason.LOCAL else reason  # Local is the default (§7.32)

        def build() -> StopTransactionReq | None:
            if transaction.transaction_id is None:
                return None  # its StartTransaction was never accepted: nothing to stop
            return StopTransactionReq(
                id_tag=id_tag, meter_stop=meter_stop, timestamp=stamp, transaction_id=transaction.transaction_id,
                reason=reason_field, transaction_data=transaction_data,
            )

        self.enqueue(Outgoing("StopTransaction", None, now_s, build=build, is_transaction=True,
                              on_answer=lambda conf, now: self._on_stop_answer(transaction, conf)))
        connector.transaction = None
        features.on_transaction_stopped(self, connector, now_s)
        connector.advance(now_s)
        metering.on_transaction_stopped(self, connector)
        if connector.status is not ChargePointStatus.FAULTED:  # a fault outlasts its transaction (§4.9)
            after = ChargePointStatus.FINISHING if connector.plugged else status.idle_status(connector)
            self.set_status(connector, after, now_s)
        if connector.inoperative_scheduled is not None:
            apply_scheduled_availability(self, connector, now_s)

    def _on_stop_answer(self, transaction: Transaction, conf: StopTransactionConf) -> None:
        if conf.id_tag_info is not None:
            self.stats.count(f"stop.{conf.id_tag_info.status}")
            authorization.remember(self, transaction.id_tag, conf.id_tag_info)  # §4.10

    def update_power(self, connector: Connector, now_s: float) -> None:
        """Something changed what may flow (a limit, a suspension): integrate up
        to now, then report Charging / SuspendedEV / SuspendedEVSE."""
        connector.advance(now_s)
        if connector.transaction is not None and not connector.transaction.stopping and connector.plugged:
            self.set_status(connector, connector.charging_status(), now_s)
            connector.advance(now_s)  # the power depends on the status (none while SuspendedEVSE)

    # ------------------------------------------------------------ reboot

    def reboot(self, reason: Reason, now_s: float) -> None:
        """Reset (OCPP 1.6 §5.14): stop transactions, go down, come back, boot."""
        features.on_reboot(self, reason, now_s)
        for connector in self.connectors:
            self.stop_transaction(connector, reason, now_s)
        # Down a moment after the Reset.conf went out (§5.14: answer, then reset).
        self.at(self.effect_at(now_s, RESET_SHUTDOWN_S), self._go_down)

    def _go_down(self, now_s: float) -> None:
        self.go_down(now_s, now_s + self.sim_s(REBOOT_S))  # a reboot lasts simulated time
        self.stats.count("reboot")

    def go_down(self, now_s: float, until_s: float) -> None:
        """Off until ``until_s`` (never less than the engine needs to close the
        link); registration None: it boots again when it is back (§4.2)."""
        self.want_disconnect = True
        self.registration = None
        self.offline_until_s = max(self.offline_until_s, until_s, now_s + MIN_DOWN_S)
        self.heartbeat_due_s = INF
