"""The virtual station: a pure state machine.

The engine feeds it events (connected, disconnected, a WebSocket message, a
timer) with the current engine time; it appends the frames to send to
``outbox`` and sets ``wake_at_s``, the engine time at which it next wants
``on_timer``.  It never sleeps, never reads a clock and never touches a socket,
so a day of a station's life runs in milliseconds in a test.

Drivers (the session plans, tests) act on it as the people at the charger do:
:meth:`plug_in`, :meth:`present_id_tag`, :meth:`unplug`.

This module holds the station's state and its entry points; what it does
lives in modules of functions, each typed against the narrow interface it
needs (:mod:`fleetsim.station.ports`), which this class provides:

* :mod:`.sending`: the outgoing side (what may go, answers, timeouts, retries);
* :mod:`.handlers`: the CSMS's calls and their answers, the feature profiles
  in :mod:`.features`;
* :mod:`.charging`: transactions and the people at the charger;
* :mod:`.lifecycle`: boot, reset, down time, triggered messages;
* :mod:`.metering`, :mod:`.status`, :mod:`.authorization`: meter values,
  StatusNotifications, idTags.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final

from fleetsim.metrics.recorder import ModelStats
from fleetsim.ocpp.datatypes import IdTagInfo
from fleetsim.ocpp.enums import ChargePointStatus, Reason, RegistrationStatus
from fleetsim.ocpp.errors import Malformed
from fleetsim.ocpp.frames import Call, CallError, CallResult, decode_frame
from fleetsim.ocpp.payloads.core import HeartbeatReq
from fleetsim.station import charging, handlers, lifecycle, metering, sending, status
from fleetsim.station.config import Configuration
from fleetsim.station.connector import Connector
from fleetsim.station.model import StationModel
from fleetsim.station.outgoing import Outgoing, OutgoingQueue
from fleetsim.station.power import Ev
from fleetsim.station.timebase import Timebase

INF = float("inf")
ACCEPTED: Final = RegistrationStatus.ACCEPTED  # (read on every heartbeat: see sending.ACCEPTED)


class Station:
    __slots__ = (
        "_heartbeat_step_s",
        "_ping_step_s",
        "_steps_at",
        "_timer_seq",
        "_timers",
        "aligned_due_s",
        "aligned_held",
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
        # Clock-aligned values the station sleeps through, its queue full
        # (metering.aligned_wake_s): (engine seconds between them, MeterValues
        # each would have made), counted as dropped when it next fires.
        self.aligned_held: tuple[float, int] | None = None
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
        # HeartbeatInterval and WebSocketPingInterval in engine seconds, as
        # read at configuration version _steps_at (interval_s).
        self._heartbeat_step_s = INF
        self._ping_step_s = INF
        self._steps_at = -1
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
            sending.reset_heartbeat(self, now_s)  # one may have fallen due while offline
        self._settle(now_s)

    def on_disconnected(self, now_s: float) -> None:
        self.online = False
        self.ping_due_s, self.want_ping = INF, False
        for lost in self.queue.on_disconnect():
            self.stats.count(f"lost.{lost.action}")
        self.boot_due_s = INF
        self._settle(now_s)

    def on_message(self, data: bytes, now_s: float, received_s: float | None = None) -> None:
        """A WebSocket message, handled at ``now_s``; ``received_s``: when it
        reached the host (the kernel's stamp, earlier where the loop was busy),
        from which an answer's latency counts (default: ``now_s``)."""
        match decode_frame(data):
            case Call() as call:
                handlers.answer(self, call, now_s)
            case CallResult() as result:
                sending.on_result(self, result, now_s, received_s)
            case CallError() as error:
                sending.on_call_error(self, error, now_s, received_s)
            case Malformed() as malformed:
                sending.on_malformed(self, malformed, now_s, received_s)
        self._settle(now_s)

    def on_timer(self, now_s: float) -> None:
        timers = self._timers
        while timers and timers[0][0] <= now_s:
            _, _, action = heapq.heappop(timers)
            action(now_s)
        if self.boot_due_s <= now_s and self.online:
            self.boot_due_s = INF
            lifecycle.send_boot(self, now_s)
        if self.heartbeat_due_s <= now_s:
            self.heartbeat_due_s = INF
            if self.registration == ACCEPTED and self.online:
                self.enqueue(Outgoing("Heartbeat", HeartbeatReq(), now_s))
        if self.ping_due_s <= now_s:
            # One ping asked for at a time: the next falls due an interval
            # after the engine sent this one (on_ping_sent), however long a
            # busy link had it wait.
            self.want_ping = True
            self.ping_due_s = INF
        metering.on_timer(self, now_s)
        sending.check_call_timeout(self, now_s)
        self._settle(now_s)

    def on_sent(self, since_s: float, now_s: float) -> None:
        """The engine wrote what the station queued after ``since_s`` to its
        socket at ``now_s`` (it holds a pass's frames to send them together):
        a CALL taken after ``since_s`` left now, and is timed from now."""
        call = self.queue.in_flight
        if call is not None and call.sent_s > since_s:
            call.sent_s = now_s

    def on_ping_sent(self, now_s: float) -> None:
        """The engine sent the ping the station asked for (or had no
        connection to send it on): the next falls due WebSocketPingInterval
        from now."""
        self.want_ping = False
        self.schedule_ping(now_s)
        if self.ping_due_s < self.wake_at_s:
            self.wake_at_s = self.ping_due_s

    def schedule_ping(self, now_s: float) -> None:
        # 0: no ping (§9.1)
        self.ping_due_s = now_s + self.interval_s("WebSocketPingInterval") if self.online else INF

    def interval_s(self, name: str) -> float:
        """A configured interval (whole seconds; 0 or less: none) in engine
        seconds, INF for none.  Read from the configuration again only once
        it changed: HeartbeatInterval counts from every CALL sent, and
        WebSocketPingInterval from every ping."""
        config = self.config
        if self._steps_at != config.version:
            self._steps_at = config.version
            self._heartbeat_step_s = self._step_s("HeartbeatInterval")
            self._ping_step_s = self._step_s("WebSocketPingInterval")
        if name == "HeartbeatInterval":
            return self._heartbeat_step_s
        if name == "WebSocketPingInterval":
            return self._ping_step_s
        return self._step_s(name)

    def _step_s(self, name: str) -> float:
        seconds = self.config.get_int(name, 0)
        return self.sim_s(seconds) if seconds > 0 else INF

    # ------------------------------------------------------------ timers

    def at(self, when_s: float, action: Callable[[float], None]) -> None:
        """Run ``action(now_s)`` at engine time ``when_s``."""
        self._timer_seq += 1
        heapq.heappush(self._timers, (when_s, self._timer_seq, action))

    def sim_s(self, seconds: float) -> float:
        """Engine seconds for a simulated duration (an OCPP interval):
        Timebase.engine_seconds, computed here (that method is plain
        Python, and this runs several times a call)."""
        return seconds / self.timebase.speed

    def wall(self, now_s: float) -> datetime:
        """The timestamp OCPP messages carry at engine time ``now_s``:
        Timebase.wall, computed here (that method is plain Python, and
        every MeterValues, StatusNotification and clock-aligned wake-up
        asks for it).  The same arithmetic: tests/station/test_timebase.py."""
        timebase = self.timebase
        if timebase.wall_timestamps:
            return timebase.origin_wall + timedelta(seconds=now_s - timebase.origin_s + timebase.skew_s)
        start = timebase.sim_origin
        return ((start if start is not None else timebase.origin_wall)
                + timedelta(seconds=(now_s - timebase.origin_s) * timebase.speed + timebase.skew_s))

    def reaction(self, sampler: Callable[[random.Random], float]) -> float:
        return sampler(self.rng) if self.reaction_delays else 0.0

    def effect_at(self, now_s: float, delay_s: float) -> float:
        """When an effect of the CSMS call being handled may happen: after its
        own reaction delay, and never before the call's answer (§5.17, §5.11)."""
        return max(now_s + delay_s, self.reply_at_s + 1e-6)

    def pending_timers(self) -> int:
        return len(self._timers)

    # ------------------------------------------------------------ after every event

    def _settle(self, now_s: float) -> None:
        """After every event: send what may go, and compute the next wake-up."""
        wake = self.boot_due_s
        if self.ping_due_s < wake:
            wake = self.ping_due_s
        transacting = False
        for connector in self.connectors:
            if connector.power_w > 0:
                metering.schedule_physics(self, connector, now_s)
            if connector.transaction is not None:
                transacting = True
            # (What sending does next moves neither.)
            if connector.sample_due_s < wake:
                wake = connector.sample_due_s
            if connector.physics_due_s < wake:
                wake = connector.physics_due_s
        sending.pump(self, now_s)
        if self.heartbeat_due_s < wake:
            wake = self.heartbeat_due_s  # (sending restarts it)
        if self.aligned_due_s < wake:
            aligned_s = metering.aligned_wake_s(self, now_s, transacting)
            if aligned_s < wake:
                wake = aligned_s
        if self._timers:
            wake = min(wake, self._timers[0][0])
        in_flight = self.queue.in_flight
        if in_flight is not None:
            wake = min(wake, in_flight.sent_s + self.model.response_timeout_s)
        elif len(self.queue) and self.queue.retry_at_s > now_s:
            wake = min(wake, self.queue.retry_at_s)
        self.wake_at_s = wake

    # ------------------------------------------------------------ the people at the charger

    def plug_in(self, connector_id: int, ev: Ev, now_s: float) -> None:
        charging.plug_in(self, connector_id, ev, now_s)
        self._settle(now_s)

    def present_id_tag(self, connector_id: int, id_tag: str, now_s: float) -> None:
        """An RFID card at the reader: starts a transaction, or stops the one it started."""
        charging.present_id_tag(self, connector_id, id_tag, now_s)
        self._settle(now_s)

    def unplug(self, connector_id: int, now_s: float) -> None:
        charging.unplug(self, connector_id, now_s)
        self._settle(now_s)

    def end_sessions(self, reason: Reason, now_s: float) -> None:
        """The run is ending: stop every transaction and start no new one."""
        charging.end_sessions(self, reason, now_s)
        self._settle(now_s)

    def usable(self, connector: Connector, now_s: float) -> bool:
        """Whether ``connector`` can start a transaction (see :func:`charging.usable`)."""
        return charging.usable(self, connector, now_s)

    # ------------------------------------------------------------ what the modules call back
    # (each within an event: the station settles after the event, not after these)

    def connector(self, connector_id: int) -> Connector | None:
        if 1 <= connector_id <= len(self.connectors):
            return self.connectors[connector_id - 1]
        return None

    def enqueue(self, call: Outgoing) -> None:
        self.queue.push(call)

    def set_status(self, connector: Connector, new_status: ChargePointStatus, now_s: float) -> None:
        status.set_status(self, connector, new_status, now_s)

    def update_power(self, connector: Connector, now_s: float) -> None:
        charging.update_power(self, connector, now_s)

    def stop_transaction(self, connector: Connector, reason: Reason, now_s: float, *,
                         id_tag: str | None = None) -> None:
        charging.stop_transaction(self, connector, reason, now_s, id_tag=id_tag)

    def accepted_online(self) -> bool:
        """Connected, and its BootNotification Accepted: what a CSMS may call (§4.2.1)."""
        return lifecycle.accepted_online(self)

    def trigger(self, action: str, connector_id: int | None, now_s: float) -> None:
        """Send a message because the CSMS asked for it (TriggerMessage, §4.2.1)."""
        lifecycle.trigger(self, action, connector_id, now_s)

    def reboot(self, reason: Reason, now_s: float) -> None:
        """Reset (OCPP 1.6 §5.14): stop transactions, go down, come back, boot."""
        lifecycle.reboot(self, reason, now_s)

    def go_down(self, now_s: float, until_s: float) -> None:
        """Off until ``until_s``; it boots again when it is back (§4.2)."""
        lifecycle.go_down(self, now_s, until_s)
