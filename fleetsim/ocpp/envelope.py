"""The OCPP-J 1.6 frames (§4) as msgspec Structs, which
:mod:`fleetsim.ocpp.frames` encodes and decodes.  A module of their own: the
compiled build compiles frames, and mypyc would drop a Struct's class options
(tests/test_build.py).
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

# OCPP-J 1.6 §4.1.3: the unique id is at most 36 characters.
UniqueId = Annotated[str, msgspec.Meta(max_length=36)]


class Call(msgspec.Struct, array_like=True, tag=2, frozen=True, gc=False):
    unique_id: str
    action: str
    payload: Any


class CallResult(msgspec.Struct, array_like=True, tag=3, frozen=True, gc=False):
    """A CALLRESULT.  Decoded frames carry ``msgspec.Raw`` as payload until
    :func:`decode_confirmation` types it with the action of the CALL it answers."""

    unique_id: str
    payload: Any


class CallError(msgspec.Struct, array_like=True, tag=4, frozen=True, gc=False):
    """A CALLERROR.  ``code`` is kept as the peer sent it (an :class:`ErrorCode`
    when it is one of the ten), so a peer's misspelt code is still counted."""

    unique_id: str
    code: str
    description: str = ""
    details: Any = msgspec.field(default_factory=dict)


Frame = Call | CallResult | CallError


# Wire forms for decoding.  forbid_unknown_fields rejects surplus elements.
class _CallIn(msgspec.Struct, array_like=True, tag=2, forbid_unknown_fields=True, gc=False):
    unique_id: UniqueId
    action: str
    payload: msgspec.Raw


class _CallResultIn(msgspec.Struct, array_like=True, tag=3, forbid_unknown_fields=True, gc=False):
    unique_id: UniqueId
    payload: msgspec.Raw


class _CallErrorIn(msgspec.Struct, array_like=True, tag=4, forbid_unknown_fields=True, gc=False):
    unique_id: UniqueId
    code: str
    description: str
    details: msgspec.Raw
