"""The mapping from msgspec's decoding failures to OCPP-J 1.6 §4.2.3 error codes,
fed real msgspec errors (their messages are what the mapping reads)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

import msgspec
import pytest

from fleetsim.ocpp.errors import ErrorCode, code_for_payload_error


class Colour(StrEnum):
    RED = "Red"


class Thing(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    id_tag: str
    colour: Colour = Colour.RED


Aware = Annotated[datetime, msgspec.Meta(tz=True)]

PROTOCOL = ErrorCode.PROTOCOL_ERROR  # "Payload for Action is incomplete"
FORMATION = ErrorCode.FORMATION_VIOLATION  # "... not conform the PDU structure"
TYPE = ErrorCode.TYPE_CONSTRAINT_VIOLATION  # "... violates data type constraints"
PROPERTY = ErrorCode.PROPERTY_CONSTRAINT_VIOLATION  # "... contains an invalid value"
OCCURENCE = ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION  # "... violates occurence constraints"

CASES = [
    # (type, JSON, code): OCPP-J 1.6 §4.2.3's wording for each code is above
    pytest.param(Thing, b"{}", PROTOCOL, id="missing required field: incomplete"),
    pytest.param(Thing, b'{"idTag":"a","x":1}', FORMATION, id="unknown field: not the PDU structure"),
    pytest.param(Thing, b'{"idTag":"a","colour":"Blue"}', PROPERTY, id="enum non-member"),
    pytest.param(Literal["a", "b"], b'"c"', PROPERTY, id="literal non-member"),
    pytest.param(Thing, b'{"idTag":5}', TYPE, id="int for str"),
    pytest.param(int, b'"5"', TYPE, id="str for int"),
    pytest.param(int, b"1.5", TYPE, id="float for int"),
    pytest.param(Thing, b"[]", TYPE, id="array for object"),
    pytest.param(
        Annotated[str, msgspec.Meta(max_length=20)], b'"' + b"x" * 21 + b'"',
        TYPE, id="CiString20 over its length",
    ),
    pytest.param(Aware, b'"yesterday"', TYPE, id="not a date-time"),
    pytest.param(Aware, b'"2013-02-01T20:53:32"', TYPE, id="date-time without offset"),
    pytest.param(Aware, b"1359751412", TYPE, id="epoch seconds for a date-time"),
    pytest.param(Annotated[list[int], msgspec.Meta(min_length=1)], b"[]", OCCURENCE, id="array under minItems"),
    pytest.param(Annotated[list[int], msgspec.Meta(max_length=1)], b"[1,2]", OCCURENCE, id="array over maxItems"),
    pytest.param(Annotated[int, msgspec.Meta(ge=0)], b"-1", PROPERTY, id="int out of range"),
    pytest.param(Annotated[float, msgspec.Meta(multiple_of=0.5)], b"0.3", PROPERTY, id="float not a multiple"),
    pytest.param(Thing, b'{"idTag":"a"', FORMATION, id="truncated JSON"),
    pytest.param(Thing, b"\xff", FORMATION, id="not JSON"),
]


@pytest.mark.parametrize(("target", "data", "code"), CASES)
def test_decoding_error_maps_to_its_code(target: Any, data: bytes, code: ErrorCode) -> None:
    with pytest.raises((msgspec.ValidationError, msgspec.DecodeError)) as caught:
        msgspec.json.decode(data, type=target)
    assert code_for_payload_error(caught.value) == code, str(caught.value)


def test_a_validation_error_of_unknown_wording_is_a_formation_violation() -> None:
    assert code_for_payload_error(msgspec.ValidationError("something new")) == ErrorCode.FORMATION_VIOLATION


def test_error_codes_are_spelt_as_in_ocpp_j_1_6() -> None:
    # OCPP-J 1.6 §4.2.3, including its "Occurence".
    assert {c.value for c in ErrorCode} == {
        "NotImplemented", "NotSupported", "InternalError", "ProtocolError", "SecurityError",
        "FormationViolation", "PropertyConstraintViolation", "OccurenceConstraintViolation",
        "TypeConstraintViolation", "GenericError",
    }
