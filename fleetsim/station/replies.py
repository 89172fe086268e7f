"""What a station answers a CSMS call with: a confirmation payload, or a
CALLERROR (:class:`CallFailure`)."""

from __future__ import annotations

import msgspec

from fleetsim.ocpp.base import Payload
from fleetsim.ocpp.errors import ErrorCode


class CallFailure(msgspec.Struct, frozen=True):
    """A CALLERROR a CSMS call is answered with."""

    code: ErrorCode
    description: str = ""


Reply = Payload | CallFailure
