"""How a station answers CSMS-initiated calls: the answer goes out after the
model's reaction delay (:func:`answer`); the Core profile is handled here,
the other feature profiles in :mod:`fleetsim.station.features`.  Dispatch is
a table keyed by the request's type.

What a model that did not certify a feature profile answers: an action of an
OCPP 1.6 profile it lacks is *recognized but not supported* (NotSupported,
OCPP-J §4.2.3), since any 1.6 implementation knows the action names; an
action of the security whitepaper on a model without the security extension
is *not known* (NotImplemented).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fleetsim.ocpp.actions import ACTIONS
from fleetsim.ocpp.base import FeatureProfile, Initiator
from fleetsim.ocpp.enums import (
    AvailabilityStatus,
    AvailabilityType,
    ChargePointStatus,
    ClearCacheStatus,
    ConfigurationStatus,
    DataTransferStatus,
    MessageTrigger,
    Reason,
    RegistrationStatus,
    RemoteStartStopStatus,
    ResetStatus,
    ResetType,
    TriggerMessageStatus,
    UnlockStatus,
)
from fleetsim.ocpp.errors import ErrorCode
from fleetsim.ocpp.frames import Call, encode_error, encode_result
from fleetsim.ocpp.payloads.core import (
    ChangeAvailabilityConf,
    ChangeAvailabilityReq,
    ChangeConfigurationConf,
    ChangeConfigurationReq,
    ClearCacheConf,
    ClearCacheReq,
    DataTransferConf,
    DataTransferReq,
    GetConfigurationConf,
    GetConfigurationReq,
    RemoteStartTransactionConf,
    RemoteStartTransactionReq,
    RemoteStopTransactionConf,
    RemoteStopTransactionReq,
    ResetConf,
    ResetReq,
    UnlockConnectorConf,
    UnlockConnectorReq,
)
from fleetsim.ocpp.payloads.remote_trigger import TriggerMessageConf, TriggerMessageReq
from fleetsim.station import authorization, charging, features, lifecycle, metering, sending, status
from fleetsim.station.connector import Connector
from fleetsim.station.replies import CallFailure, Reply

INF = float("inf")
# A station's own timers (delayed answers, effects of CSMS calls, its sessions'
# next events): a few dozen at most in any certified behaviour.  Past this a
# new CSMS call is answered InternalError rather than scheduled.
MAX_PENDING_TIMERS = 512

if TYPE_CHECKING:
    from collections.abc import Callable

    from fleetsim.station.ports import CsmsCallPort

    Handler = Callable[[CsmsCallPort, Any, float], Reply]


def answer(station: CsmsCallPort, call: Call, now_s: float) -> None:
    """Handle a CSMS call, and send its answer after the model's reaction delay."""
    if station.pending_timers() >= MAX_PENDING_TIMERS:
        # OCPP-J 1.6 §4.1.1 gives a CSMS one CALL in flight; one that calls
        # faster than the station reacts would grow its timers without end.
        station.stats.count(f"csms_call.{call.action}.{ErrorCode.INTERNAL_ERROR}")
        station.outbox.append(encode_error(call.unique_id, ErrorCode.INTERNAL_ERROR,
                                           "station busy: too many CSMS calls in progress"))
        return
    # The answer's reaction delay is drawn first, so that handlers schedule
    # the call's effects no earlier than the answer (see Station.effect_at).
    delay = station.reaction(station.model.response_delay)
    station.reply_at_s = now_s + delay
    reply = handle(station, call, now_s)
    if reply is None:
        # §4.2.1: a station not (yet) accepted sends nothing, answers included.
        station.stats.count(f"csms_call.{call.action}.unanswered")
        return
    if isinstance(reply, CallFailure):
        station.stats.count(f"csms_call.{call.action}.{reply.code}")
        frame = encode_error(call.unique_id, reply.code, reply.description)
    else:
        # The answer's status (Accepted, Rejected, NotSupported ...) where it has one.
        station.stats.count(f"csms_call.{call.action}.{getattr(reply, 'status', 'answered')}")
        frame = encode_result(call.unique_id, reply)
    if delay <= 0:
        station.outbox.append(frame)
    else:
        station.at(now_s + delay, lambda _now: _send_if_online(station, frame))


def _send_if_online(station: CsmsCallPort, frame: bytes) -> None:
    if station.online:
        station.outbox.append(frame)


def handle(station: CsmsCallPort, call: Call, now_s: float) -> Reply | None:
    """The answer to a CSMS call, or None for no answer at all."""
    spec = ACTIONS[call.action]
    if spec.initiator == Initiator.CHARGE_POINT:
        return CallFailure(ErrorCode.NOT_SUPPORTED, f"{call.action} is sent by a charge point, not to one")
    if not station.model.supports(spec.profile):
        if spec.profile == FeatureProfile.SECURITY:
            return CallFailure(ErrorCode.NOT_IMPLEMENTED, f"{call.action} is not implemented")
        return CallFailure(ErrorCode.NOT_SUPPORTED, f"feature profile {spec.profile} is not supported")
    if station.registration not in (RegistrationStatus.ACCEPTED, RegistrationStatus.PENDING):
        # §4.2.1: Rejected (or not booted yet), the station sends nothing.
        return None
    handler = HANDLERS.get(type(call.payload))
    if handler is None:
        return CallFailure(ErrorCode.NOT_IMPLEMENTED, f"{call.action} is not implemented")
    return handler(station, call.payload, now_s)


# ---------------------------------------------------------------- Core (§5)


def change_availability(station: CsmsCallPort, request: ChangeAvailabilityReq, now_s: float) -> Reply:
    """OCPP 1.6 §5.2: connector 0 means the whole station; a connector with a
    transaction changes when the transaction ends (Scheduled)."""
    if request.connector_id == 0:
        targets = list(station.connectors)
    else:
        connector = station.connector(request.connector_id)
        if connector is None:
            return ChangeAvailabilityConf(status=AvailabilityStatus.REJECTED)
        targets = [connector]
    inoperative = request.type == AvailabilityType.INOPERATIVE
    scheduled = False
    for connector in targets:
        if inoperative and connector.transaction is not None:
            connector.inoperative_scheduled = True
            scheduled = True
        else:
            connector.inoperative_scheduled = None
            status.set_availability(station, connector, inoperative, now_s)
    status.report_station(station, now_s)  # connector 0 follows the whole station (§5.2)
    return ChangeAvailabilityConf(status=AvailabilityStatus.SCHEDULED if scheduled else AvailabilityStatus.ACCEPTED)


def change_configuration(station: CsmsCallPort, request: ChangeConfigurationReq, now_s: float) -> Reply:
    verdict, key = station.config.change(request.key, request.value)
    if verdict == ConfigurationStatus.ACCEPTED:
        match key:
            case "HeartbeatInterval":
                sending.reset_heartbeat(station, now_s)
            case "WebSocketPingInterval":
                station.ping_due_s = INF
                station.schedule_ping(now_s)
            case "ClockAlignedDataInterval":
                metering.schedule_aligned(station, now_s)
            case "MeterValueSampleInterval":
                for connector in station.connectors:
                    if connector.transaction is not None:
                        interval = int(request.value)
                        connector.sample_due_s = now_s + station.sim_s(interval) if interval > 0 else INF
            case _:
                features.on_configuration_changed(station, key, now_s)
    return ChangeConfigurationConf(status=verdict)


def clear_cache(station: CsmsCallPort, request: ClearCacheReq, now_s: float) -> Reply:
    if not station.config.has("AuthorizationCacheEnabled"):
        return ClearCacheConf(status=ClearCacheStatus.REJECTED)
    station.auth_cache.clear()
    return ClearCacheConf(status=ClearCacheStatus.ACCEPTED)


def data_transfer(station: CsmsCallPort, request: DataTransferReq, now_s: float) -> Reply:
    # A simulated station knows no vendor extensions (OCPP 1.6 §5.6).
    return DataTransferConf(status=DataTransferStatus.UNKNOWN_VENDOR_ID)


def get_configuration(station: CsmsCallPort, request: GetConfigurationReq, now_s: float) -> Reply:
    names = request.key
    limit = station.config.model.max_keys
    if names and len(names) > limit:
        return CallFailure(ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION, f"at most {limit} keys per request")
    known, unknown = station.config.report(names)
    return GetConfigurationConf(configuration_key=known or None, unknown_key=unknown or None)


def remote_start(station: CsmsCallPort, request: RemoteStartTransactionReq, now_s: float) -> Reply:
    """OCPP 1.6 §5.11.  The StartTransaction follows after the model's measured
    RemoteStart authorization time."""
    connector = _connector_for_remote_start(station, request.connector_id, request.id_tag)
    if connector is None:
        return RemoteStartTransactionConf(status=RemoteStartStopStatus.REJECTED)
    # §5.11: a model without Smart Charging ignores the charging profile.
    if request.charging_profile is not None and station.model.supports(FeatureProfile.SMART_CHARGING):
        if not features.accept_remote_start_profile(station, connector, request.charging_profile, now_s):
            return RemoteStartTransactionConf(status=RemoteStartStopStatus.REJECTED)
    connector.authorized_id_tag = request.id_tag  # claim the connector now
    received_s = now_s
    delay = station.reaction(station.model.remote_start_delay)

    def start(now: float) -> None:
        if connector.authorized_id_tag != request.id_tag or connector.transaction is not None:
            return  # the claim was dropped: a fault, ChangeAvailability, ConnectionTimeOut
        connector.authorized_id_tag = None
        if not charging.usable(station, connector, now):
            station.stats.count("remote_start.connector_unavailable")
            return
        if station.config.get_bool("AuthorizeRemoteTxRequests", False):
            authorization.authorize(station, request.id_tag, now,
                                    lambda t, ok: _remote_authorized(station, connector, request.id_tag, ok, received_s, t))
        else:
            _remote_authorized(station, connector, request.id_tag, True, received_s, now)

    station.at(station.effect_at(now_s, delay), start)
    return RemoteStartTransactionConf(status=RemoteStartStopStatus.ACCEPTED)


def _connector_for_remote_start(station: CsmsCallPort, connector_id: int | None, id_tag: str) -> Connector | None:
    if connector_id is not None:
        connector = station.connector(connector_id)
        if connector is None or not _free_for(station, connector, id_tag):
            return None
        return connector
    return next((c for c in station.connectors if _free_for(station, c, id_tag)), None)


_IDLE_FOR_REMOTE_START = (ChargePointStatus.AVAILABLE, ChargePointStatus.PREPARING, ChargePointStatus.RESERVED)


def _free_for(station: CsmsCallPort, connector: Connector, id_tag: str) -> bool:
    # A reserved connector is free for its reservation's idTag only (§5.13).
    return (connector.transaction is None and not connector.inoperative and connector.authorized_id_tag is None
            and connector.status in _IDLE_FOR_REMOTE_START
            and not features.reserved_for_other(station, connector, id_tag))


def _remote_authorized(station: CsmsCallPort, connector: Connector, id_tag: str, accepted: bool, received_s: float,
                       now_s: float) -> None:
    if not accepted:
        station.stats.count("remote_start.authorization_refused")
        return
    if not charging.usable(station, connector, now_s):
        # §5.11: Accepted promised an attempt; a connector that went Faulted or
        # Unavailable since (§7.7: inoperative) starts no transaction.
        station.stats.count("remote_start.connector_unavailable")
        return
    if connector.plugged:
        charging.start_transaction(station, connector, id_tag, now_s, remote=True)
        station.stats.record_reaction("RemoteStartTransaction→StartTransaction", now_s - received_s)
    else:
        charging.authorized(station, connector, id_tag, True, now_s)


def remote_stop(station: CsmsCallPort, request: RemoteStopTransactionReq, now_s: float) -> Reply:
    connector = next((c for c in station.connectors if c.transaction is not None
                      and c.transaction.transaction_id == request.transaction_id and not c.transaction.stopping), None)
    if connector is None:
        return RemoteStopTransactionConf(status=RemoteStartStopStatus.REJECTED)
    transaction = connector.transaction
    received_s = now_s

    def stop(now: float) -> None:
        if connector.transaction is transaction:
            charging.stop_transaction(station, connector, Reason.REMOTE, now)
            station.stats.record_reaction("RemoteStopTransaction→StopTransaction", now - received_s)

    station.at(station.effect_at(now_s, station.reaction(station.model.remote_stop_delay)), stop)
    return RemoteStopTransactionConf(status=RemoteStartStopStatus.ACCEPTED)


def reset(station: CsmsCallPort, request: ResetReq, now_s: float) -> Reply:
    reason = Reason.HARD_RESET if request.type == ResetType.HARD else Reason.SOFT_RESET
    lifecycle.reboot(station, reason, now_s)
    return ResetConf(status=ResetStatus.ACCEPTED)


def unlock_connector(station: CsmsCallPort, request: UnlockConnectorReq, now_s: float) -> Reply:
    connector = station.connector(request.connector_id)
    if connector is None or station.model.fixed_cable:
        # A tethered cable has no lock to release (certificate HFS-2).
        return UnlockConnectorConf(status=UnlockStatus.NOT_SUPPORTED)
    if connector.transaction is not None:
        charging.stop_transaction(station, connector, Reason.UNLOCK_COMMAND, now_s)
    return UnlockConnectorConf(status=UnlockStatus.UNLOCKED)


# ---------------------------------------------------------------- Remote Trigger (§5.17)

_CORE_TRIGGERS = {
    MessageTrigger.BOOT_NOTIFICATION, MessageTrigger.HEARTBEAT, MessageTrigger.METER_VALUES,
    MessageTrigger.STATUS_NOTIFICATION,
}


def trigger_message(station: CsmsCallPort, request: TriggerMessageReq, now_s: float) -> Reply:
    requested = request.requested_message
    if request.connector_id is not None and request.connector_id != 0 and station.connector(request.connector_id) is None:
        return TriggerMessageConf(status=TriggerMessageStatus.REJECTED)
    if requested not in _CORE_TRIGGERS and not features.can_trigger(station, requested):
        return TriggerMessageConf(status=TriggerMessageStatus.NOT_IMPLEMENTED)
    if station.queue.full():
        # §5.17 Rejected: "requested notification will not be sent", as a
        # station whose queue is full of earlier ones would answer.
        return TriggerMessageConf(status=TriggerMessageStatus.REJECTED)
    received_s = now_s

    def send(now: float) -> None:
        lifecycle.trigger(station, requested, request.connector_id, now)
        station.stats.record_reaction("TriggerMessage→message", now - received_s)

    station.at(station.effect_at(now_s, station.reaction(station.model.triggered_delay)), send)
    return TriggerMessageConf(status=TriggerMessageStatus.ACCEPTED)


HANDLERS: dict[type, Handler] = {
    ChangeAvailabilityReq: change_availability,
    ChangeConfigurationReq: change_configuration,
    ClearCacheReq: clear_cache,
    DataTransferReq: data_transfer,
    GetConfigurationReq: get_configuration,
    RemoteStartTransactionReq: remote_start,
    RemoteStopTransactionReq: remote_stop,
    ResetReq: reset,
    UnlockConnectorReq: unlock_connector,
    TriggerMessageReq: trigger_message,
    **features.HANDLERS,
}
