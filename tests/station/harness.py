"""A station paired with the embedded CSMS's pure logic over a virtual network:
no sockets, no real time.  Every frame the station emits is checked against
the official OCPP 1.6 JSON schema of its action."""

from __future__ import annotations

import heapq
import json
import random
from collections.abc import Callable
from pathlib import Path

import jsonschema
import msgspec
import ocpp

from fleetsim.csms.central import CentralSystem, Refusal
from fleetsim.csms.config import CsmsConfig
from fleetsim.metrics.recorder import Recorder
from fleetsim.ocpp.base import Payload
from fleetsim.ocpp.errors import Malformed
from fleetsim.ocpp.frames import (
    Call,
    CallError,
    CallResult,
    action_of,
    decode_confirmation,
    decode_frame,
    encode_call,
    encode_error,
    encode_result,
)
from fleetsim.station.model import StationModel
from fleetsim.station.station import Station
from fleetsim.station.timebase import Timebase, fixed_timebase


class Silence:
    """An answer override that makes the CSMS never answer the CALL."""


SILENT = Silence()
SCHEMAS = Path(ocpp.__file__).parent / "v16" / "schemas"
_validators: dict[str, jsonschema.Draft4Validator] = {}


def validator(name: str) -> jsonschema.Draft4Validator:
    if name not in _validators:
        schema = json.loads((SCHEMAS / f"{name}.json").read_text())
        _validators[name] = jsonschema.Draft4Validator(schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)
    return _validators[name]


class Bench:
    """Runs one station against a :class:`CentralSystem` in virtual time."""

    def __init__(self, model: StationModel, *, csms: CsmsConfig | None = None, latency_s: float = 0.001,
                 seed: int = 1, reaction_delays: bool = False, charge_point_id: str = "CP-1",
                 timebase: Timebase | None = None) -> None:
        self.recorder = Recorder()
        self.timebase = timebase or fixed_timebase()
        self.station = Station(charge_point_id, model, self.recorder.model(model.model_id, model.response_timeout_s),
                               random.Random(seed), self.timebase, reaction_delays=reaction_delays)
        self.central = CentralSystem(csms or CsmsConfig())
        self.latency_s = latency_s
        self.now_s = 0.0
        self.sent: list[tuple[float, Call]] = []  # CALLs the station sent
        self.replies: dict[str, Payload | CallError] = {}  # the station's answers to our CALLs
        self.reply_at: dict[str, float] = {}  # when the station emitted each of those answers
        self.received: list[tuple[float, bytes]] = []  # every frame delivered to the station, and when
        self.frames: list[tuple[float, bytes]] = []  # every frame the station emitted, as sent, and when
        self.answer_override: Callable[[Call], Payload | Refusal | Silence | None] | None = None
        self.connected = False
        self._deliveries: list[tuple[float, int, bytes]] = []
        self._seq = 0
        self._csms_ids = 0
        self._pending_csms: dict[str, str] = {}

    # ------------------------------------------------------------ driving

    def connect(self) -> None:
        self.connected = True
        self.station.on_connected(self.now_s)
        self._drain()

    def disconnect(self) -> None:
        self.connected = False
        self._deliveries.clear()
        self.station.on_disconnected(self.now_s)
        self._drain()

    def act(self, action: Callable[[float], None]) -> None:
        """Do something to the station now (plug in, badge, unplug ...)."""
        action(self.now_s)
        self._drain()

    def send_call(self, payload: Payload) -> str:
        """The CSMS sends a CALL; returns its unique id (see ``replies``)."""
        self._csms_ids += 1
        uid = f"csms-{self._csms_ids}"
        self._pending_csms[uid] = action_of(payload)
        self._deliver(encode_call(uid, payload))
        return uid

    def send_raw(self, data: bytes) -> None:
        self._deliver(data)

    def run_for(self, seconds: float) -> None:
        self.run_until(self.now_s + seconds)

    def run_until(self, end_s: float) -> None:
        while True:
            next_delivery = self._deliveries[0][0] if self._deliveries else float("inf")
            next_s = min(self.station.wake_at_s, next_delivery)
            if next_s > end_s:
                break
            self.now_s = max(self.now_s, next_s)
            if next_delivery <= self.now_s:
                _, _, data = heapq.heappop(self._deliveries)
                if self.connected:
                    self.received.append((self.now_s, data))
                    self.station.on_message(data, self.now_s)
            else:
                self.station.on_timer(self.now_s)
            self._drain()
        self.now_s = max(self.now_s, end_s)

    # ------------------------------------------------------------ the virtual CSMS

    def _deliver(self, data: bytes, delay_s: float | None = None) -> None:
        self._seq += 1
        heapq.heappush(self._deliveries, (self.now_s + (self.latency_s if delay_s is None else delay_s), self._seq, data))

    def _drain(self) -> None:
        outbox = self.station.outbox
        while outbox:
            data = outbox.pop(0)
            assert self.connected, "a disconnected station must not emit frames"
            self.frames.append((self.now_s, data))
            frame = decode_frame(data)
            match frame:
                case Call() as call:
                    self._check_schema(data, call.action, request=True)
                    self.sent.append((self.now_s, call))
                    self._answer(call)
                case CallResult(unique_id=uid):
                    action = self._pending_csms.pop(uid)
                    self._check_schema(data, action, request=False)
                    confirmation = decode_confirmation(action, frame)
                    assert not isinstance(confirmation, Malformed), confirmation
                    self.replies[uid] = confirmation
                    self.reply_at[uid] = self.now_s
                case CallError(unique_id=uid):
                    self._pending_csms.pop(uid, None)
                    self.replies[uid] = frame
                    self.reply_at[uid] = self.now_s
                case _:
                    raise AssertionError(f"station emitted an invalid frame: {data!r}")

    def _answer(self, call: Call) -> None:
        answer = self.answer_override(call) if self.answer_override else None
        if answer is None:
            answer = self.central.handle(self.station.charge_point_id, call, self.timebase.wall(self.now_s))
        if isinstance(answer, Refusal):
            self._deliver(encode_error(call.unique_id, answer.code, answer.description))
        elif not isinstance(answer, Silence):
            self._deliver(encode_result(call.unique_id, answer))

    def _check_schema(self, data: bytes, action: str, *, request: bool) -> None:
        frame = json.loads(data)
        payload = frame[3] if request else frame[2]
        validator(action if request else f"{action}Response").validate(payload)

    # ------------------------------------------------------------ inspection

    def sent_actions(self, since_s: float = 0.0) -> list[str]:
        return [call.action for at, call in self.sent if at >= since_s]

    def sent_payloads(self, action: str) -> list[Payload]:
        return [call.payload for _, call in self.sent if call.action == action]

    def statuses(self, connector_id: int) -> list[str]:
        return [str(p.status) for p in self.sent_payloads("StatusNotification") if p.connector_id == connector_id]

    def reply(self, uid: str) -> Payload | CallError:
        return self.replies[uid]


def json_of(payload: Payload) -> dict:
    return msgspec.to_builtins(payload)
