"""Payloads of the Remote Trigger profile (OCPP 1.6 §5.17; fields in §6)."""

from __future__ import annotations

from fleetsim.ocpp.base import ActionSpec, FeatureProfile, Initiator, Payload, spec
from fleetsim.ocpp.enums import MessageTrigger, TriggerMessageStatus


class TriggerMessageReq(Payload):
    """OCPP 1.6 §6.51.  ``connector_id`` is set only when the request concerns
    one connector."""

    requested_message: MessageTrigger
    connector_id: int | None = None


class TriggerMessageConf(Payload):
    """OCPP 1.6 §6.52."""

    status: TriggerMessageStatus


SPECS: tuple[ActionSpec, ...] = (
    spec(
        "TriggerMessage",
        TriggerMessageReq,
        TriggerMessageConf,
        Initiator.CENTRAL_SYSTEM,
        FeatureProfile.REMOTE_TRIGGER,
    ),
)
