"""Hypothesis strategies for our payload Structs, read from their msgspec types.

``hypothesis.strategies.from_type`` does build msgspec Structs, but it ignores
``msgspec.Meta`` (it would hand a CiString20 field a 300-character string), so
it builds values our own decoder rejects.  This walks ``msgspec.inspect``
instead and honours every constraint msgspec checks: what it generates is
exactly the set of values our types accept.
"""

from __future__ import annotations

from datetime import UTC, timedelta, timezone
from functools import cache
from typing import Any

import msgspec
import msgspec.inspect as mi
from hypothesis import strategies as st
from ocpp_schemas import at_limit

# Offsets a date-time can carry on the wire: whole minutes within a day.
_OFFSETS = st.one_of(
    st.just(UTC),
    st.integers(-(23 * 60 + 59), 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m))),
)
_MAX_LIST = 3
_MAX_TEXT = 40


@cache
def for_type(payload_type: type) -> st.SearchStrategy[Any]:
    return _strategy(mi.type_info(payload_type))


def _strategy(info: mi.Type) -> st.SearchStrategy[Any]:
    match info:
        case mi.StructType(cls=cls, fields=fields):
            return st.builds(cls, **{f.name: st.deferred(lambda f=f: _strategy(f.type)) for f in fields})
        case mi.UnionType(types=types):
            return st.one_of([_strategy(t) for t in types])
        case mi.NoneType():
            return st.none()
        case mi.BoolType():
            return st.booleans()
        case mi.EnumType(cls=cls):
            return st.sampled_from(list(cls))
        case mi.LiteralType(values=values):
            return st.sampled_from(values)
        case mi.StrType(min_length=lo, max_length=hi, pattern=None):
            # Mostly short text, sometimes exactly at the limit.
            text = st.text(min_size=lo or 0, max_size=min(hi, _MAX_TEXT) if hi is not None else _MAX_TEXT)
            if hi is None or hi <= _MAX_TEXT:
                return text
            return st.one_of(text, at_limit(hi))
        case mi.IntType(gt=None, ge=None, lt=None, le=None, multiple_of=None):
            return st.one_of(st.integers(-(2**31), 2**31 - 1), st.integers())
        case mi.FloatType(gt=None, ge=None, lt=None, le=None, multiple_of=None):
            return st.floats(allow_nan=False, allow_infinity=False)
        case mi.DateTimeType(tz=True):
            return st.builds(
                lambda naive, tz: naive.replace(tzinfo=tz),
                st.datetimes(),
                _OFFSETS,
            )
        case mi.ListType(item_type=item, min_length=lo, max_length=hi):
            size = max(lo or 0, _MAX_LIST if hi is None else min(hi, _MAX_LIST))
            return st.lists(_strategy(item), min_size=lo or 0, max_size=size)
    raise NotImplementedError(
        f"no strategy for {info!r}: teach tests/ocpp/payload_strategies.py this type"
    )


def accepted_by_our_decoder(payload: msgspec.Struct) -> bool:
    """Whether our own decoder reads back what our encoder wrote (a guard
    against a strategy that is looser than the type)."""
    try:
        msgspec.json.decode(msgspec.json.encode(payload), type=type(payload))
    except msgspec.ValidationError:
        return False
    return True

