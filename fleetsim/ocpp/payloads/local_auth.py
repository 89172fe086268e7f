"""Payloads of the Local Auth List Management profile (OCPP 1.6 §5; fields in §6)."""

from __future__ import annotations

from fleetsim.ocpp.base import ActionSpec, FeatureProfile, Initiator, Payload, spec
from fleetsim.ocpp.datatypes import AuthorizationData
from fleetsim.ocpp.enums import UpdateStatus, UpdateType


class GetLocalListVersionReq(Payload):
    """OCPP 1.6 §6.27: no fields."""


class GetLocalListVersionConf(Payload):
    """OCPP 1.6 §6.28.  0 means the list is empty, -1 that there is no local
    list support."""

    list_version: int


class SendLocalListReq(Payload):
    """OCPP 1.6 §6.41.  Each entry of a Full update should carry an idTagInfo
    (spec §7.1); the schema does not require it, so neither do we."""

    list_version: int
    local_authorization_list: list[AuthorizationData] | None = None
    update_type: UpdateType


class SendLocalListConf(Payload):
    """OCPP 1.6 §6.42."""

    status: UpdateStatus


SPECS: tuple[ActionSpec, ...] = (
    spec(
        "GetLocalListVersion",
        GetLocalListVersionReq,
        GetLocalListVersionConf,
        Initiator.CENTRAL_SYSTEM,
        FeatureProfile.LOCAL_AUTH_LIST_MANAGEMENT,
    ),
    spec(
        "SendLocalList",
        SendLocalListReq,
        SendLocalListConf,
        Initiator.CENTRAL_SYSTEM,
        FeatureProfile.LOCAL_AUTH_LIST_MANAGEMENT,
    ),
)
