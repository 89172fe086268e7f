"""OCPP-J 1.6 error codes and the mapping from decoding failures to them.

A peer that breaks the protocol is data, not an exception: decoding returns a
:class:`Malformed` event carrying the wire code, ready to be answered as a
CALLERROR (when the frame was a CALL whose unique id could be read) and to be
counted by the recorder.  Exceptions are kept for *our* bugs.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec


class ErrorCode(StrEnum):
    """OCPP-J 1.6 §4.2.3 CallError codes, spelled as in 1.6 (sic: Occurence)."""

    NOT_IMPLEMENTED = "NotImplemented"
    NOT_SUPPORTED = "NotSupported"
    INTERNAL_ERROR = "InternalError"
    PROTOCOL_ERROR = "ProtocolError"
    SECURITY_ERROR = "SecurityError"
    FORMATION_VIOLATION = "FormationViolation"
    PROPERTY_CONSTRAINT_VIOLATION = "PropertyConstraintViolation"
    OCCURENCE_CONSTRAINT_VIOLATION = "OccurenceConstraintViolation"
    TYPE_CONSTRAINT_VIOLATION = "TypeConstraintViolation"
    GENERIC_ERROR = "GenericError"


class Malformed(msgspec.Struct, frozen=True, gc=False):
    """A frame the peer got wrong.

    ``unique_id`` is set when it could be read (then a CALL can be answered with
    a CALLERROR); ``message_type`` is 2, 3 or 4 when the envelope was readable,
    else ``None``; ``action`` is set for a CALL whose action was readable.
    """

    code: ErrorCode
    description: str
    unique_id: str | None = None
    message_type: int | None = None
    action: str | None = None


class FrameTooLarge(Exception):
    """Raised by encoders when *we* would emit a frame above the agreed limit."""


# msgspec's ValidationError messages start with stable phrases; each maps to the
# OCPP-J 1.6 §4.2.3 definition whose wording fits it:
#   ProtocolError                "Payload for Action is incomplete"
#   OccurenceConstraintViolation "... violates occurence constraints" (array sizes)
#   TypeConstraintViolation      "... violates data type constraints" (wrong JSON
#                                 type, CiStringNType over its length, bad dateTime)
#   PropertyConstraintViolation  "... contains an invalid value" (enums, ranges)
#   FormationViolation           "... syntactically incorrect or not conform the PDU
#                                 structure" (unknown fields, not JSON)
_VALIDATION_PREFIXES: tuple[tuple[str, ErrorCode], ...] = (
    ("Object missing required field", ErrorCode.PROTOCOL_ERROR),
    ("Object contains unknown field", ErrorCode.FORMATION_VIOLATION),
    ("Invalid enum value", ErrorCode.PROPERTY_CONSTRAINT_VIOLATION),
    ("Invalid value", ErrorCode.PROPERTY_CONSTRAINT_VIOLATION),
    ("Expected `array` of length", ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION),
    ("Expected `str` of length", ErrorCode.TYPE_CONSTRAINT_VIOLATION),
    ("Invalid RFC3339", ErrorCode.TYPE_CONSTRAINT_VIOLATION),
    ("Expected `datetime`", ErrorCode.TYPE_CONSTRAINT_VIOLATION),
)


def code_for_payload_error(error: msgspec.ValidationError | msgspec.DecodeError) -> ErrorCode:
    """The CALLERROR code for a payload that failed to decode into its Struct."""
    if not isinstance(error, msgspec.ValidationError):
        return ErrorCode.FORMATION_VIOLATION
    message = str(error)
    for prefix, code in _VALIDATION_PREFIXES:
        if message.startswith(prefix):
            return code
    if message.startswith("Expected `"):
        # "Expected `int`, got `str`" is a wrong type; "Expected `int` >= 0" and
        # "Expected `float` that's a multiple of 0.1" are values out of range.
        if ", got `" in message:
            return ErrorCode.TYPE_CONSTRAINT_VIOLATION
        return ErrorCode.PROPERTY_CONSTRAINT_VIOLATION
    return ErrorCode.FORMATION_VIOLATION
