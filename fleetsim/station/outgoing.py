"""The station's outgoing CALLs: one in flight, the rest queued (OCPP-J 1.6 §4.1.1).

Every queued CALL remembers when it was *due*: latency is measured from there,
so time a call spends queued behind a slow answer counts against the CSMS
(coordinated omission).  Transaction messages (Start/StopTransaction and the
MeterValues of a transaction) survive disconnects and are retried per
TransactionMessageAttempts / TransactionMessageRetryInterval (OCPP 1.6 §4.10 and
errata 4.0 §3.20); everything else is dropped when the connection goes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from fleetsim.ocpp.base import Payload

# A transaction message is built when it is sent, not when it is queued: a
# StopTransaction queued offline learns the transactionId of its
# StartTransaction only once that one has been answered.
Builder = Callable[[], Payload | None]


class Outgoing:
    """One CALL of ours, queued or in flight.

    ``on_answer(confirmation, now_s)`` gets the typed confirmation;
    ``on_failure(now_s)`` runs when the CALL ends without one (a CALLERROR, no
    answer in time, an invalid answer) and will not be tried again.
    ``before_accept`` marks what OCPP allows before the boot was accepted: the
    BootNotification itself and messages the CSMS triggered (§4.2.1)."""

    __slots__ = (
        "action",
        "attempts",
        "before_accept",
        "build",
        "due_s",
        "is_transaction",
        "on_answer",
        "on_failure",
        "payload",
        "sent_s",
        "unique_id",
    )

    def __init__(
        self,
        action: str,
        payload: Payload | None,
        due_s: float,
        *,
        build: Builder | None = None,
        is_transaction: bool = False,
        on_answer: Callable[[Any, float], None] | None = None,
        on_failure: Callable[[float], None] | None = None,
        before_accept: bool = False,
    ) -> None:
        self.action = action
        self.payload = payload
        self.build = build
        self.due_s = due_s
        self.is_transaction = is_transaction
        self.attempts = 0
        self.on_answer = on_answer
        self.on_failure = on_failure
        self.before_accept = before_accept
        self.unique_id = ""
        self.sent_s = 0.0

    def materialize(self) -> Payload | None:
        """The payload to send; None when a builder finds there is nothing to
        send any more (a StopTransaction whose StartTransaction was abandoned)."""
        if self.payload is None and self.build is not None:
            self.payload = self.build()
        return self.payload


# Bounds of a station's queue.  Transaction messages are kept across an outage
# (a week of 1-minute MeterValues fits); anything else is a status or an answer
# to a trigger, of which a real station keeps a handful: a CSMS that triggers
# faster than it answers must not grow the queue without end.
MAX_QUEUED_TRANSACTION_MESSAGES = 10_000
MAX_QUEUED_OTHER_CALLS = 100


class Dropped(Protocol):
    def count(self, name: str, n: int = 1) -> None: ...


class OutgoingQueue:
    """FIFO of CALLs waiting for the one in flight to be answered, bounded:
    past :data:`MAX_QUEUED_OTHER_CALLS` a new non-transaction CALL is dropped;
    past :data:`MAX_QUEUED_TRANSACTION_MESSAGES` the oldest queued MeterValues of
    a transaction goes first (its Start and Stop are what billing needs), as a
    station short of storage does.  Each drop is counted (``queue.dropped.<action>``)."""

    __slots__ = ("_next_id", "_others", "_queue", "_stats", "in_flight", "retry_at_s")

    def __init__(self, stats: Dropped | None = None) -> None:
        self._queue: deque[Outgoing] = deque()
        self._others = 0  # queued calls that are not transaction messages
        self._stats = stats
        self.in_flight: Outgoing | None = None
        self._next_id = 0
        self.retry_at_s = float("-inf")  # a retried transaction message waits until then

    def __len__(self) -> int:
        return len(self._queue)

    def peek(self) -> Outgoing | None:
        return self._queue[0] if self._queue else None

    def full(self) -> bool:
        """No room for another non-transaction CALL (a triggered message)."""
        return self._others >= MAX_QUEUED_OTHER_CALLS

    def refuse(self, action: str, n: int = 1) -> None:
        """Count ``n`` non-transaction CALLs of ``action`` dropped for want of
        room before they were made (the caller checked :meth:`full`)."""
        self._dropped(action, n)

    def push(self, call: Outgoing) -> bool:
        """Queue ``call`` last; False when it was dropped for want of room."""
        if not self._make_room(call):
            return False
        self._queue.append(call)
        return True

    def push_front(self, call: Outgoing) -> bool:
        """Queue ``call`` first; False when it was dropped for want of room."""
        if not self._make_room(call):
            return False
        self._queue.appendleft(call)
        return True

    def _make_room(self, call: Outgoing) -> bool:
        if not call.is_transaction:
            if self._others >= MAX_QUEUED_OTHER_CALLS:
                self._dropped(call.action)
                return False
            self._others += 1
            return True
        if len(self._queue) - self._others < MAX_QUEUED_TRANSACTION_MESSAGES:
            return True
        for index, queued in enumerate(self._queue):
            if queued.is_transaction and queued.action == "MeterValues":
                del self._queue[index]  # rare (a queue this full), so a linear search is fine
                self._dropped(queued.action)
                return True
        self._dropped(call.action)
        return False

    def _dropped(self, action: str, n: int = 1) -> None:
        if self._stats is not None:
            self._stats.count(f"queue.dropped.{action}", n)

    def discard(self, action: str) -> None:
        """Drop the queued (not in-flight) CALLs of one action."""
        self._queue = deque(call for call in self._queue if call.action != action)
        self._others = sum(1 for call in self._queue if not call.is_transaction)

    def pending_transaction_messages(self) -> int:
        count = sum(1 for call in self._queue if call.is_transaction)
        if self.in_flight is not None and self.in_flight.is_transaction:
            count += 1
        return count

    def last_transaction_message(self) -> Outgoing | None:
        """The transaction message that goes out last of those pending now:
        they leave in order, so all of them are gone once it is."""
        for call in reversed(self._queue):
            if call.is_transaction:
                return call
        in_flight = self.in_flight
        return in_flight if in_flight is not None and in_flight.is_transaction else None

    def holds(self, call: Outgoing) -> bool:
        """Whether ``call`` is still queued or in flight."""
        return call is self.in_flight or any(queued is call for queued in self._queue)

    def take_next(self, now_s: float) -> Outgoing | None:
        """The next CALL to send, now marked in flight, or None."""
        if self.in_flight is not None or not self._queue or now_s < self.retry_at_s:
            return None
        call = self._queue.popleft()
        if not call.is_transaction:
            self._others -= 1
        self._next_id += 1
        call.unique_id = str(self._next_id)
        call.sent_s = now_s
        call.attempts += 1
        self.in_flight = call
        self.retry_at_s = float("-inf")
        return call

    def answered(self, unique_id: str) -> Outgoing | None:
        """The in-flight CALL this answer is for, now no longer in flight."""
        call = self.in_flight
        if call is None or call.unique_id != unique_id:
            return None
        self.in_flight = None
        return call

    def retry(self, call: Outgoing, at_s: float) -> None:
        """Put a transaction message back at the head, to be sent at ``at_s``:
        the retry's intended send time, from which its latency counts (the
        failed attempt was judged already, as a timeout or a CALLERROR)."""
        call.due_s = at_s
        self._queue.appendleft(call)
        self.retry_at_s = at_s

    def on_disconnect(self) -> list[Outgoing]:
        """Keep transaction messages (the one in flight goes back to the head);
        return the others, which are lost with the connection."""
        lost = []
        call, self.in_flight = self.in_flight, None
        if call is not None:
            if call.is_transaction:
                call.attempts -= 1  # a lost connection is not the CSMS refusing it
                self._queue.appendleft(call)
            else:
                lost.append(call)
        kept: deque[Outgoing] = deque()
        for queued in self._queue:
            (kept if queued.is_transaction else lost).append(queued)
        self._queue = kept
        self._others = 0
        self.retry_at_s = float("-inf")
        return lost
