"""Building blocks shared by every OCPP 1.6 payload: the Struct base, the spec's
primitive types, and the description of one action.

Payloads are msgspec Structs with ``rename="camel"`` (so ``id_tag`` is ``idTag``
on the wire), ``omit_defaults=True`` (an absent optional field is omitted, never
sent as ``null``: the 1.6 schemas do not allow null) and
``forbid_unknown_fields=True`` (the 1.6 schemas say ``additionalProperties:
false``; an unknown field is a FormationViolation).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

import msgspec


class _PayloadMeta(msgspec.StructMeta):
    """msgspec applies ``kw_only`` only to the fields a class defines itself;
    this makes every payload keyword-only, so optional fields may precede
    required ones in spec order and no payload is built positionally."""

    def __new__(mcls, name, bases, namespace, **options):  # type: ignore[no-untyped-def]
        options.setdefault("kw_only", True)
        return super().__new__(mcls, name, bases, namespace, **options)


class Payload(
    msgspec.Struct,
    metaclass=_PayloadMeta,
    rename="camel",
    omit_defaults=True,
    forbid_unknown_fields=True,
    kw_only=True,
    frozen=True,
    gc=False,
):
    """Base of every request (``.req``) and confirmation (``.conf``) payload.

    Untracked by the garbage collector (``gc=False``): a payload is built from
    data or decoded from JSON, neither of which can refer back to it, so it is
    never part of a reference cycle, and a fleet holds many (the meter values
    a transaction keeps for its StopTransaction) that a collection would
    otherwise walk."""


# OCPP 1.6 §7: CiStringNType is a case-insensitive string of at most N characters.
CiString20 = Annotated[str, msgspec.Meta(max_length=20)]
CiString25 = Annotated[str, msgspec.Meta(max_length=25)]
CiString50 = Annotated[str, msgspec.Meta(max_length=50)]
CiString255 = Annotated[str, msgspec.Meta(max_length=255)]
CiString500 = Annotated[str, msgspec.Meta(max_length=500)]
IdToken = CiString20

# OCPP 1.6 §3.1.4 / JSON schema "format": "date-time": RFC 3339 with an offset.
# Decoding insists on the offset; we always emit UTC ("...Z").
DateTime = Annotated[datetime, msgspec.Meta(tz=True)]


class FeatureProfile(StrEnum):
    """OCPP 1.6 §3.2 feature profiles, spelled as in SupportedFeatureProfiles,
    plus the security whitepaper, which is not a value of that key."""

    CORE = "Core"
    FIRMWARE_MANAGEMENT = "FirmwareManagement"
    LOCAL_AUTH_LIST_MANAGEMENT = "LocalAuthListManagement"
    RESERVATION = "Reservation"
    SMART_CHARGING = "SmartCharging"
    REMOTE_TRIGGER = "RemoteTrigger"
    SECURITY = "Security"


class Initiator(StrEnum):
    """Who sends the ``.req`` of an action."""

    CHARGE_POINT = "ChargePoint"
    CENTRAL_SYSTEM = "CentralSystem"
    EITHER = "Either"  # DataTransfer (OCPP 1.6 §4.3 and §5.6)


class ActionSpec(msgspec.Struct, frozen=True):
    """One OCPP action: its name on the wire, its two payload types, who
    initiates it and the feature profile it belongs to."""

    action: str
    request: type[Payload]
    confirmation: type[Payload]
    initiator: Initiator
    profile: FeatureProfile


def spec(
    action: str,
    request: type[Payload],
    confirmation: type[Payload],
    initiator: Initiator,
    profile: FeatureProfile,
) -> ActionSpec:
    """Shorthand used by the payload modules' ``SPECS`` tables."""
    return ActionSpec(action, request, confirmation, initiator, profile)

