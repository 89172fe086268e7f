"""What the CSMS tests share: the official OCPP 1.6-J schemas, a sample request
for every charge-point-initiated action, and a minimal station speaking
through our own :mod:`fleetsim.engine.link`.

Named ``csms_helpers`` (not ``helpers``): test directories have no
``__init__.py``, so pytest puts each on ``sys.path`` and bare names collide.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import cache
from typing import Any

import jsonschema
import msgspec
import ocpp
import trio

from fleetsim.csms.config import CsmsConfig
from fleetsim.csms.server import RunningCsms, serve_csms
from fleetsim.engine import framing
from fleetsim.engine.link import Link, Target, connect
from fleetsim.ocpp.actions import ACTIONS
from fleetsim.ocpp.base import Payload
from fleetsim.ocpp.datatypes import MeterValue, SampledValue
from fleetsim.ocpp.enums import (
    ChargePointErrorCode,
    ChargePointStatus,
    DiagnosticsStatus,
    FirmwareStatus,
)
from fleetsim.ocpp.errors import Malformed
from fleetsim.ocpp.frames import Call, CallError, CallResult, Frame, decode_frame, encode_call, encode_result
from fleetsim.ocpp.payloads import core, firmware, security

SCHEMA_DIR = os.path.dirname(ocpp.__file__) + "/v16/schemas"
NOW = datetime(2025, 3, 14, 15, 9, 26, tzinfo=UTC)


@cache
def validator(name: str) -> jsonschema.Draft4Validator:
    """Draft 4, the version the OCPP 1.6 schemas declare."""
    with open(f"{SCHEMA_DIR}/{name}.json") as file:
        return jsonschema.Draft4Validator(json.load(file))


def schema_errors(name: str, payload: Payload | dict[str, Any]) -> list[str]:
    """Why ``payload`` breaks schema ``name`` (``Heartbeat``, ``HeartbeatResponse``)."""
    instance = json.loads(msgspec.json.encode(payload))
    return [error.message for error in validator(name).iter_errors(instance)]


def sample_requests() -> dict[str, Payload]:
    """One valid request of every action a charge point initiates."""
    meter = [MeterValue(timestamp=NOW, sampled_value=[SampledValue(value="1234")])]
    return {
        "Authorize": core.AuthorizeReq(id_tag="TAG1"),
        "BootNotification": core.BootNotificationReq(charge_point_vendor="Acme", charge_point_model="X1"),
        "DataTransfer": core.DataTransferReq(vendor_id="com.acme", message_id="m", data="d"),
        "Heartbeat": core.HeartbeatReq(),
        "MeterValues": core.MeterValuesReq(connector_id=1, transaction_id=1, meter_value=meter),
        "StartTransaction": core.StartTransactionReq(connector_id=1, id_tag="TAG1", meter_start=0, timestamp=NOW),
        "StatusNotification": core.StatusNotificationReq(
            connector_id=1, error_code=ChargePointErrorCode.NO_ERROR, status=ChargePointStatus.AVAILABLE
        ),
        "StopTransaction": core.StopTransactionReq(id_tag="TAG1", meter_stop=10, timestamp=NOW, transaction_id=1),
        "DiagnosticsStatusNotification": firmware.DiagnosticsStatusNotificationReq(status=DiagnosticsStatus.IDLE),
        "FirmwareStatusNotification": firmware.FirmwareStatusNotificationReq(status=FirmwareStatus.IDLE),
        "SecurityEventNotification": security.SecurityEventNotificationReq(type="StartupOfTheDevice", timestamp=NOW),
        "SignCertificate": security.SignCertificateReq(csr="-----BEGIN CERTIFICATE REQUEST-----"),
        "LogStatusNotification": security.LogStatusNotificationReq(status=security.UploadLogStatus.IDLE),
        "SignedFirmwareStatusNotification": security.SignedFirmwareStatusNotificationReq(
            status=security.SignedFirmwareStatus.IDLE
        ),
    }


def minimal_confirmation(action: str) -> Payload:
    """A valid confirmation a station might give to a CSMS-initiated CALL."""
    special: dict[str, dict[str, Any]] = {
        "UnlockConnector": {"status": "Unlocked"},
        "GetLocalListVersion": {"listVersion": 1},
    }
    confirmation = ACTIONS[action].confirmation
    has_status = "status" in confirmation.__struct_encode_fields__
    fields = special.get(action) or ({"status": "Accepted"} if has_status else {})
    return msgspec.convert(fields, confirmation)


@asynccontextmanager
async def running_csms(config: CsmsConfig | None = None) -> AsyncIterator[RunningCsms]:
    """The CSMS on 127.0.0.1, an ephemeral port, for the body of the block."""
    async with trio.open_nursery() as nursery:
        csms = await nursery.start(serve_csms, config or CsmsConfig())
        yield csms
        nursery.cancel_scope.cancel()


async def wait_until(condition: Callable[[], bool]) -> None:
    """Poll ``condition``; the caller owns the deadline (``trio.fail_after``)."""
    while not condition():
        await trio.sleep(0.001)


async def open_link(csms: RunningCsms, charge_point_id: str = "CP1", authorization: str | None = None) -> Link:
    return await connect(
        Target.parse(csms.url + "/ocpp"),
        charge_point_id,
        authorization=authorization,
        ssl_context=None,
        local_address=None,
        max_message_bytes=1 << 20,
    )


class Station:
    """A station reduced to what the tests need: send a CALL or raw bytes, read
    frames; CSMS-initiated CALLs are kept in ``csms_calls`` and, when
    ``auto_answer``, answered with :func:`minimal_confirmation`."""

    def __init__(self, link: Link, *, auto_answer: bool = True) -> None:
        self.link = link
        self.auto_answer = auto_answer
        self.csms_calls: list[Call] = []
        self.closes: list[framing.Close] = []
        self._frames: list[Frame | Malformed] = []
        self._next_id = 0

    @classmethod
    async def open(cls, csms: RunningCsms, charge_point_id: str = "CP1", *, auto_answer: bool = True) -> Station:
        return cls(await open_link(csms, charge_point_id), auto_answer=auto_answer)

    async def call(self, payload: Payload) -> CallResult | CallError | Malformed:
        """Send a CALL and wait for the frame answering it."""
        self._next_id += 1
        unique_id = f"cp-{self._next_id}"
        self.send(encode_call(unique_id, payload))
        return await self.wait_answer(unique_id)

    async def call_boot(self) -> None:
        answer = await self.call(core.BootNotificationReq(charge_point_vendor="Acme", charge_point_model="X1"))
        assert isinstance(answer, CallResult)

    def send(self, data: bytes) -> None:
        assert not self.link.send_text(data), "tests send small frames"

    async def wait_answer(self, unique_id: str) -> CallResult | CallError | Malformed:
        while True:
            frame = await self.next_frame()
            if not isinstance(frame, Call) and frame.unique_id == unique_id:
                return frame

    async def next_frame(self) -> Frame | Malformed:
        """The next frame from the CSMS (CSMS CALLs included)."""
        while not self._frames:
            for event in await self.link.receive():
                if isinstance(event, framing.Message):
                    self._on_frame(decode_frame(event.data))
                else:
                    if isinstance(event, framing.Close):
                        self.closes.append(event)
                    self.link.answer(event)
        return self._frames.pop(0)

    def _on_frame(self, frame: Frame | Malformed) -> None:
        if isinstance(frame, Call):
            self.csms_calls.append(frame)
            if self.auto_answer:
                self.send(encode_result(frame.unique_id, minimal_confirmation(frame.action)))
        self._frames.append(frame)

    async def serve_forever(self) -> None:
        """Answer the CSMS until cancelled (or the connection ends)."""
        while True:
            await self.next_frame()
