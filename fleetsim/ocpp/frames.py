"""OCPP-J 1.6 frames (§4): CALL ``[2, id, action, payload]``, CALLRESULT
``[3, id, payload]`` and CALLERROR ``[4, id, code, description, details]``.

Frames are array-like msgspec Structs tagged by their message type id
(:mod:`fleetsim.ocpp.envelope`), so one decoder reads the envelope straight
from bytes.  The payload stays a
``msgspec.Raw`` slice until its type is known: a CALL's from its action, a
CALLRESULT's from the CALL it answers (which only the sender knows).  No
intermediate dicts anywhere.

Decoding never raises on bad input: it returns :class:`Malformed`.
"""

from __future__ import annotations

import re
from typing import Any, Final

import msgspec

from fleetsim.ocpp.actions import (
    ACTION_OF_CONFIRMATION,
    ACTION_OF_REQUEST,
    CONFIRMATION_DECODERS,
    REQUEST_DECODERS,
    Action,
)
from fleetsim.ocpp.base import Payload
from fleetsim.ocpp.envelope import Call, CallError, CallResult, Frame, _CallErrorIn, _CallIn, _CallResultIn
from fleetsim.ocpp.errors import ErrorCode, Malformed, code_for_payload_error

__all__ = [
    "DEFAULT_MAX_FRAME_BYTES", "Call", "CallError", "CallResult", "Frame", "action_of", "decode_confirmation",
    "decode_frame", "encode_call", "encode_error", "encode_frame", "encode_result",
]

DEFAULT_MAX_FRAME_BYTES: Final = 4 * 1024 * 1024
"""Frames above this are rejected before decoding.  Large enough for a
SendLocalList of 10,000 entries or a 2 MB certificate chain (limits certified
stations declare), small enough that a hostile peer cannot make us parse
arbitrary amounts of JSON."""


# What a peer's input can raise in a decoder.  msgspec raises RecursionError
# for JSON nested deeper than it recurses (about 1,000 levels): a 2 KB frame
# of ``[[[[...]]]]`` is bad input like any other, never a crash of the caller.
_BAD_INPUT = (msgspec.ValidationError, msgspec.DecodeError, RecursionError)

# The start of a CALL, read without parsing the rest, so that a frame whose
# body cannot be decoded at all (nested too deep) can still be answered.
_CALL_HEAD = re.compile(rb'\A\s*\[\s*2\s*,\s*"([^"\\]{1,36})"\s*,\s*"([A-Za-z0-9]{1,64})"')
_OTHER_HEAD = re.compile(rb'\A\s*\[\s*([34])\s*,\s*"([^"\\]{1,36})"')

_envelope = msgspec.json.Decoder(_CallIn | _CallResultIn | _CallErrorIn)
_any = msgspec.json.Decoder()
_details = msgspec.json.Decoder(dict[str, Any])
_encoder = msgspec.json.Encoder()


def decode_frame(data: bytes | str, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> Frame | Malformed:
    """Decode one frame.  A CALL comes back with its payload typed by its action;
    a CALLRESULT with a ``msgspec.Raw`` payload (see :func:`decode_confirmation`)."""
    if len(data) > max_frame_bytes:
        return Malformed(
            ErrorCode.FORMATION_VIOLATION,
            f"frame of {len(data)} bytes exceeds the limit of {max_frame_bytes} bytes",
        )
    try:
        wire = _envelope.decode(data)
    except RecursionError:
        return _too_deep(data)
    except (msgspec.ValidationError, msgspec.DecodeError) as error:
        return _malformed_envelope(data, error)
    # type() checks rather than match/case: this is every frame's hot path.
    kind = type(wire)
    if kind is _CallIn:
        uid, action = wire.unique_id, wire.action
        decoder = REQUEST_DECODERS.get(action)
        if decoder is None:
            return Malformed(ErrorCode.NOT_IMPLEMENTED, f"unknown action {action!r}", uid, 2, action)
        try:
            payload = decoder.decode(wire.payload)
        except RecursionError:
            return Malformed(ErrorCode.FORMATION_VIOLATION, _TOO_DEEP, uid, 2, action)
        except (msgspec.ValidationError, msgspec.DecodeError) as error:
            return Malformed(code_for_payload_error(error), str(error), uid, 2, action)
        return Call(uid, action, payload)
    if kind is _CallResultIn:
        return CallResult(wire.unique_id, wire.payload)
    if kind is _CallErrorIn:
        try:
            details = _details.decode(wire.details)
        except _BAD_INPUT as error:
            return Malformed(ErrorCode.FORMATION_VIOLATION, f"CALLERROR details: {error}", wire.unique_id, 4)
        return CallError(wire.unique_id, wire.code, wire.description, details)
    raise AssertionError(f"unreachable: {wire!r}")


def decode_confirmation(action: str, result: CallResult) -> Payload | Malformed:
    """Type a CALLRESULT's payload as the confirmation of ``action``."""
    try:
        return CONFIRMATION_DECODERS[action].decode(result.payload)
    except RecursionError:
        return Malformed(ErrorCode.FORMATION_VIOLATION, _TOO_DEEP, result.unique_id, 3, action)
    except (msgspec.ValidationError, msgspec.DecodeError) as error:
        return Malformed(code_for_payload_error(error), str(error), result.unique_id, 3, action)


_TOO_DEEP: Final = "JSON nested too deeply to decode"


def _too_deep(data: bytes | str) -> Malformed:
    """A frame nested too deeply to decode: answerable as a FormationViolation
    (OCPP-J 1.6 §4.2.3) when its head names a CALL, else just counted."""
    head = data[:256].encode() if isinstance(data, str) else data[:256]
    if (match := _CALL_HEAD.match(head)) is not None:
        uid, action = match.group(1).decode("utf-8", "replace"), match.group(2).decode()
        return Malformed(ErrorCode.FORMATION_VIOLATION, _TOO_DEEP, uid, 2, action)
    if (match := _OTHER_HEAD.match(head)) is not None:
        uid = match.group(2).decode("utf-8", "replace")
        return Malformed(ErrorCode.FORMATION_VIOLATION, _TOO_DEEP, uid, int(match.group(1)))
    return Malformed(ErrorCode.FORMATION_VIOLATION, _TOO_DEEP)


def _malformed_envelope(data: bytes | str, error: Exception) -> Malformed:
    """Explain an envelope that did not decode, recovering the unique id and
    message type where the JSON is readable, so a CALL can still be answered."""
    if isinstance(error, msgspec.DecodeError) and not isinstance(error, msgspec.ValidationError):
        return Malformed(ErrorCode.FORMATION_VIOLATION, f"not a JSON frame: {error}")
    try:
        value = _any.decode(data)
    except (msgspec.DecodeError, RecursionError):  # pragma: no cover - the typed decode read it
        return Malformed(ErrorCode.FORMATION_VIOLATION, f"not a JSON frame: {error}")
    message_type = unique_id = action = None
    if isinstance(value, list) and value:
        if type(value[0]) is int and value[0] in (2, 3, 4):
            message_type = value[0]
        if len(value) > 1 and isinstance(value[1], str) and len(value[1]) <= 36:
            unique_id = value[1]
        if message_type == 2 and len(value) > 2 and isinstance(value[2], str):
            action = value[2]
    return Malformed(
        ErrorCode.PROTOCOL_ERROR,
        f"not an OCPP-J frame: {error}",
        unique_id,
        message_type,
        action,
    )


def encode_call(unique_id: str, payload: Payload) -> bytes:
    """``[2, id, action, payload]``; the action follows from the payload's type."""
    return _encoder.encode(Call(unique_id, ACTION_OF_REQUEST[type(payload)], payload))


def encode_result(unique_id: str, payload: Payload) -> bytes:
    return _encoder.encode(CallResult(unique_id, payload))


def encode_error(
    unique_id: str, code: ErrorCode, description: str = "", details: dict[str, Any] | None = None
) -> bytes:
    return _encoder.encode(CallError(unique_id, code, description, details or {}))


def encode_frame(frame: Frame) -> bytes:
    return _encoder.encode(frame)


def action_of(payload: Payload) -> Action:
    """The action a request or confirmation payload belongs to."""
    kind = type(payload)
    action = ACTION_OF_REQUEST.get(kind) or ACTION_OF_CONFIRMATION.get(kind)
    if action is None:
        raise TypeError(f"{kind.__name__} is not an OCPP payload")
    return action
