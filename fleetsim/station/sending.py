"""The outgoing side of a station: which of its queued CALLs may go now, the
answers the CSMS gives them, and what happens to a CALL without a usable one
(a CALLERROR, an invalid confirmation, no answer within the model's declared
response timeout): a transaction message is tried again, anything else has
failed.  The queue itself is :class:`fleetsim.station.outgoing.OutgoingQueue`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from fleetsim.ocpp.enums import RegistrationStatus
from fleetsim.ocpp.errors import Malformed
from fleetsim.ocpp.frames import CallError, CallResult, decode_confirmation, encode_call, encode_error
from fleetsim.station.outgoing import Outgoing

if TYPE_CHECKING:
    from fleetsim.station.ports import SenderPort

# Enum members read on every CALL: as module constants (compiled, a static; an
# Enum class's attribute is looked up through EnumType's __getattr__ hook).
ACCEPTED: Final = RegistrationStatus.ACCEPTED
PENDING: Final = RegistrationStatus.PENDING


def pump(station: SenderPort, now_s: float) -> None:
    """Send the next queued CALL if one may go now (one in flight at a time,
    OCPP-J 1.6 §4.1.1)."""
    queue = station.queue
    if queue.in_flight is not None or not queue or not station.online or station.want_disconnect:
        return  # (the common case after an event: a CALL in flight, or nothing queued)
    accepted = station.registration == ACCEPTED
    while True:
        if not accepted:
            # §4.2.1: before Accepted, only the boot, and (while Pending) what the CSMS triggered.
            head = queue.peek()
            if head is None or not head.before_accept:
                return
            if head.action != "BootNotification" and station.registration != PENDING:
                return
        call = queue.take_next(now_s)
        if call is None:
            return
        payload = call.materialize()
        if payload is not None:
            break
        queue.answered(call.unique_id)  # a transaction message whose transaction was lost: the next one
    # Time a call spent queued while we were offline is not the CSMS's doing.
    call.due_s = max(call.due_s, station.online_since_s)
    station.outbox.append(encode_call(call.unique_id, payload))
    if accepted:
        reset_heartbeat(station, now_s)


def reset_heartbeat(station: SenderPort, now_s: float) -> None:
    # OCPP 1.6 §4.6: the heartbeat shows the CSMS the station is alive; any
    # message we send does that too, so the interval restarts with it.
    station.heartbeat_due_s = now_s + station.interval_s("HeartbeatInterval")


def check_call_timeout(station: SenderPort, now_s: float) -> None:
    """The CALL in flight has had no answer within the declared timeout."""
    call = station.queue.in_flight
    if call is None or now_s < call.sent_s + station.model.response_timeout_s:
        return
    station.queue.answered(call.unique_id)
    station.timed_out_id = call.unique_id
    station.stats.exchange(call.action).record_timeout()
    _retry_or_fail(station, call, now_s)


def _retry_or_fail(station: SenderPort, call: Outgoing, now_s: float) -> None:
    """OCPP 1.6 §4.10: a transaction message the CSMS failed to take is tried
    TransactionMessageAttempts times, the n-th retry after n × the retry
    interval.  Any other CALL, or one out of attempts, has failed."""
    if call.is_transaction:
        attempts = station.config.get_int("TransactionMessageAttempts", 3)
        if call.attempts < max(1, attempts):
            interval = station.config.get_int("TransactionMessageRetryInterval", 60)
            station.queue.retry(call, now_s + station.sim_s(interval * call.attempts))
            return
        station.stats.count(f"abandoned.{call.action}")
    if call.on_failure is not None:
        call.on_failure(now_s)


# ------------------------------------------------------------ answers to our calls


def on_result(station: SenderPort, result: CallResult, now_s: float, received_s: float | None = None) -> None:
    call = _answered(station, result.unique_id, "result", now_s if received_s is None else received_s)
    if call is None:
        return
    confirmation = decode_confirmation(call.action, result)
    if isinstance(confirmation, Malformed):
        _failed(station, call, f"invalid.{confirmation.code}", now_s)
    elif call.on_answer is not None:
        call.on_answer(confirmation, now_s)


def on_call_error(station: SenderPort, error: CallError, now_s: float, received_s: float | None = None) -> None:
    call = _answered(station, error.unique_id, "error", now_s if received_s is None else received_s)
    if call is not None:
        _failed(station, call, str(error.code), now_s)


def _answered(station: SenderPort, unique_id: str, kind: str, received_s: float) -> Outgoing | None:
    """The in-flight CALL an answer (received at ``received_s``) is for, its
    latency recorded; a CSMS answering something else is counted."""
    call = station.queue.answered(unique_id)
    if call is None:
        # After the declared timeout the station gave up on the call (as the
        # model does; counted in timeouts): its answer came too late, which
        # is not the CSMS answering something it was never asked.
        late = unique_id == station.timed_out_id
        station.stats.count("csms.answer_after_timeout" if late else f"csms.unexpected_{kind}")
        return None
    # (Never before it was sent: the kernel's clock and the loop's agree to
    # microseconds, not exactly.)
    station.stats.exchange(call.action).record_answer(call.due_s, call.sent_s, max(received_s, call.sent_s))
    return call


def _failed(station: SenderPort, call: Outgoing, code: str, now_s: float) -> None:
    station.stats.exchange(call.action).record_error(code)
    _retry_or_fail(station, call, now_s)


def on_malformed(station: SenderPort, malformed: Malformed, now_s: float, received_s: float | None = None) -> None:
    """A frame the CSMS got wrong: a CALL of it is answered with the CALLERROR
    the error calls for; an answer to ours fails that CALL."""
    station.stats.count(f"csms.malformed.{malformed.code}")
    if malformed.unique_id is None:
        return
    if malformed.message_type == 2:
        station.outbox.append(encode_error(malformed.unique_id, malformed.code, malformed.description[:255]))
    elif malformed.message_type == 3:
        call = _answered(station, malformed.unique_id, "result", now_s if received_s is None else received_s)
        if call is not None:
            _failed(station, call, f"invalid.{malformed.code}", now_s)
