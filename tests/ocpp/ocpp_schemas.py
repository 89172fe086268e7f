"""The official OCPP 1.6-J JSON schemas (as shipped by the ``ocpp`` package) and
what the tests need around them: a validator per schema, a walk over the places
of a payload, and the invalid variants of a valid payload.

Named ``ocpp_schemas`` rather than ``schemas``: ``tests/ocpp`` has no
``__init__.py`` (a package named ``ocpp`` would shadow the ``ocpp`` library), so
pytest puts this directory on ``sys.path`` and a bare ``schemas`` could collide
with another test directory's helper.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from fractions import Fraction
from functools import cached_property
from pathlib import Path
from typing import Any

import jsonschema
import ocpp
from hypothesis import strategies as st

from fleetsim.ocpp.base import ActionSpec, Payload
from fleetsim.ocpp.errors import ErrorCode

SCHEMA_DIR = Path(ocpp.__file__).parent / "v16" / "schemas"

# --- date-time, RFC 3339 §5.6 --------------------------------------------------------
# jsonschema checks "date-time" only when rfc3339-validator is installed; we check it
# ourselves so the test does not depend on an optional package.  RFC 3339 §5.6:
# "T" and "Z" may be lower case; the offset is mandatory; seconds may be 60 (a
# leap second); the fraction may have any number of digits.
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)


def parse_rfc3339(text: str) -> Fraction | None:
    """The instant ``text`` names, in seconds since 1970 (exact), or ``None`` if
    it is not an RFC 3339 date-time.  A leap second counts as the next second."""
    match = _RFC3339.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, zulu, sign, offset_hour, offset_minute = match.groups()[6:]
    if hour > 23 or minute > 59 or second > 60:
        return None
    try:
        midnight = datetime(year, month, day)
    except ValueError:
        return None
    offset = 0
    if not zulu:
        if int(offset_hour) > 23 or int(offset_minute) > 59:
            return None
        offset = (int(offset_hour) * 60 + int(offset_minute)) * 60 * (1 if sign == "+" else -1)
    days = (midnight - datetime(1970, 1, 1)).days
    seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset
    return seconds + (Fraction(fraction) if fraction else Fraction(0))


FORMAT_CHECKER = jsonschema.FormatChecker(formats=())


@FORMAT_CHECKER.checks("date-time")
def _is_date_time(instance: object) -> bool:
    return not isinstance(instance, str) or parse_rfc3339(instance) is not None


# --- the schemas ------------------------------------------------------------------


class Direction(StrEnum):
    REQUEST = "req"
    CONFIRMATION = "conf"


def load_schema(action: str, direction: Direction) -> dict[str, Any]:
    """``<Action>.json`` for a request, ``<Action>Response.json`` for a confirmation."""
    suffix = "Response" if direction is Direction.CONFIRMATION else ""
    return json.loads((SCHEMA_DIR / f"{action}{suffix}.json").read_text(encoding="utf-8"))


def make_validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    """A validator for the draft the schema declares: draft 4 for OCPP 1.6's own
    schemas, draft 6 for the security white paper's (they differ here only in
    whether 1.0 is an integer; draft 6 says it is)."""
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft4Validator)
    cls.check_schema(schema)
    return cls(schema, format_checker=FORMAT_CHECKER)


@dataclass(frozen=True)
class Case:
    """One direction of one action: its schema and our payload type."""

    action: str
    direction: Direction
    payload_type: type[Payload]
    schema: dict[str, Any] = field(repr=False, compare=False)

    def __str__(self) -> str:
        return f"{self.action}.{self.direction}"

    @cached_property
    def validator(self) -> jsonschema.protocols.Validator:
        return make_validator(self.schema)


def cases(actions: dict[str, ActionSpec]) -> list[Case]:
    """Both directions of every action, sorted by name."""
    result = []
    for name in sorted(actions):
        entry = actions[name]
        for direction, payload_type in (
            (Direction.REQUEST, entry.request),
            (Direction.CONFIRMATION, entry.confirmation),
        ):
            result.append(Case(name, direction, payload_type, load_schema(name, direction)))
    return result


def resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """Follow a local ``$ref`` (the only kind the OCPP schemas use)."""
    while "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/definitions/"), ref
        schema = root["definitions"][ref.removeprefix("#/definitions/")]
    return schema


# --- a generator's schema that puts every field in the payload ---------------------


def maximal(
    schema: dict[str, Any], root: dict[str, Any] | None = None, max_items: int = 2
) -> dict[str, Any]:
    """A stricter copy of ``schema`` (refs inlined) in which every property is
    required and every array has 1 to ``max_items`` items, so that one generated
    payload has every place the mutations below can break.  Whatever it accepts,
    ``schema`` accepts."""
    root = schema if root is None else root
    schema = resolve(schema, root)
    out = {k: v for k, v in schema.items() if k not in ("definitions", "$schema", "$id", "id")}
    if schema.get("type") == "object":
        properties = schema.get("properties", {})
        out["properties"] = {k: maximal(v, root, max_items) for k, v in properties.items()}
        out["required"] = sorted(properties)
    elif schema.get("type") == "array":
        out["items"] = maximal(schema["items"], root, max_items)
        out["minItems"] = max(1, schema.get("minItems", 0))
        out["maxItems"] = min(max_items, schema.get("maxItems", max_items))
    return out


# --- payloads a schema accepts -----------------------------------------------------
# hypothesis-jsonschema 0.23.1 (the latest) fails on any object schema with the
# installed Hypothesis (6.170: "'many' object has no attribute 'more'"), so this
# is a generator for the small part of JSON Schema the OCPP schemas use.  It
# refuses any keyword it does not know, so a new schema cannot be half-read.

_ANNOTATIONS = {"$schema", "$id", "id", "title", "description", "javaType", "definitions"}
_HANDLED = {
    "type", "properties", "required", "additionalProperties", "items", "additionalItems",
    "minItems", "maxItems", "enum", "maxLength", "format", "multipleOf", "$ref",
}
_SHORT_TEXT = 30


def from_schema(schema: dict[str, Any], root: dict[str, Any] | None = None) -> st.SearchStrategy[Any]:
    """Payloads ``schema`` accepts."""
    root = schema if root is None else root
    schema = resolve(schema, root)
    unknown = set(schema) - _ANNOTATIONS - _HANDLED
    if unknown:
        raise NotImplementedError(f"keywords {sorted(unknown)} in {schema}")
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    match schema.get("type"):
        case "object":
            if schema.get("additionalProperties") is not False:
                raise NotImplementedError(f"an open object: {schema}")
            properties = {k: from_schema(v, root) for k, v in schema.get("properties", {}).items()}
            required = set(schema.get("required", ()))
            return st.fixed_dictionaries(
                {k: v for k, v in properties.items() if k in required},
                optional={k: v for k, v in properties.items() if k not in required},
            )
        case "array":
            if not isinstance(schema["items"], dict):
                raise NotImplementedError(f"tuple items: {schema}")
            low = schema.get("minItems", 0)
            return st.lists(from_schema(schema["items"], root), min_size=low,
                            max_size=schema.get("maxItems", low + 3))
        case "string" if schema.get("format") == "date-time":
            return rfc3339_date_times()
        case "string" if schema.get("format") in (None, "uri"):  # "uri" is not checked
            return _text(schema.get("maxLength"))
        case "integer":
            return st.one_of(st.integers(-(2**31), 2**31 - 1), st.integers())
        case "number" if "multipleOf" in schema:
            step = schema["multipleOf"]
            validator = make_validator({"type": "number", "multipleOf": step})
            decimals = st.integers(-(10**6), 10**6).map(lambda k: round(k * step, 9))
            return st.one_of(decimals, st.integers(-(10**4), 10**4)).filter(validator.is_valid)
        case "number":
            return st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers())
        case "boolean":
            return st.booleans()
    raise NotImplementedError(f"no generator for {schema}")


def _text(max_length: int | None) -> st.SearchStrategy[str]:
    """Mostly short text of any characters; sometimes exactly at the limit, with
    characters of 1, 3 and 4 UTF-8 bytes (the limit counts characters)."""
    short = st.text(max_size=_SHORT_TEXT if max_length is None else min(max_length, _SHORT_TEXT))
    if max_length is None:
        return short
    return st.one_of(short, at_limit(max_length))


def at_limit(length: int) -> st.SearchStrategy[str]:
    """Strings of exactly ``length`` characters of 1, 3 and 4 UTF-8 bytes."""
    return st.text(alphabet="x€😀", min_size=1, max_size=8).map(lambda t: (t * length)[:length])


def rfc3339_date_times() -> st.SearchStrategy[str]:
    """RFC 3339 §5.6 date-times, in the spellings peers use (no leap seconds)."""
    offsets = st.one_of(
        st.sampled_from(["Z", "z", "+00:00", "-00:00"]),
        st.builds("{}{:02}:{:02}".format, st.sampled_from("+-"), st.integers(0, 23), st.integers(0, 59)),
    )
    fractions = st.one_of(st.just(""), st.from_regex(r"\.[0-9]{1,9}", fullmatch=True))
    return st.builds(
        "{}{}{:02}:{:02}:{:02}{}{}".format,
        st.dates().map(date.isoformat),
        st.sampled_from("Tt"),
        st.integers(0, 23),
        st.integers(0, 59),
        st.integers(0, 59),
        fractions,
        offsets,
    )


# --- places in a payload, and how to break them ----------------------------------

Path_ = tuple[str | int, ...]


def show(path: Path_) -> str:
    """``$.meterValue[0].sampledValue[1].value``"""
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


def shape(path: Path_) -> str:
    """A path with its indices erased: ``$.meterValue[].sampledValue[].value``."""
    return "$" + "".join("[]" if isinstance(p, int) else f".{p}" for p in path)


def places(
    value: Any, schema: dict[str, Any], root: dict[str, Any], path: Path_ = ()
) -> Iterator[tuple[Path_, dict[str, Any], Any]]:
    """Every place in a schema-valid ``value``: (path, resolved schema, value)."""
    schema = resolve(schema, root)
    yield path, schema, value
    if schema.get("type") == "object":
        for name, subschema in schema.get("properties", {}).items():
            if name in value:
                yield from places(value[name], subschema, root, (*path, name))
    elif schema.get("type") == "array":
        for index, item in enumerate(value):
            yield from places(item, schema["items"], root, (*path, index))


def schema_places(
    schema: dict[str, Any], root: dict[str, Any], path: str = "$"
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every place a schema describes, as a :func:`shape`: (shape, resolved schema)."""
    schema = resolve(schema, root)
    yield path, schema
    if schema.get("type") == "object":
        for name, subschema in schema.get("properties", {}).items():
            yield from schema_places(subschema, root, f"{path}.{name}")
    elif schema.get("type") == "array":
        yield from schema_places(schema["items"], root, f"{path}[]")


class Mutation(StrEnum):
    """Ways to break a valid payload, each with the CALLERROR code OCPP-J 1.6
    §4.2.3 gives it (as :mod:`fleetsim.ocpp.errors` maps them)."""

    MISSING_REQUIRED = "required field removed"
    WRONG_TYPE = "value of the wrong JSON type"
    TOO_LONG = "string over its maxLength"
    NOT_IN_ENUM = "enum field set to a non-member"
    UNKNOWN_FIELD = "unknown field added"
    TOO_FEW_ITEMS = "array emptied below its minItems"

    @property
    def code(self) -> ErrorCode:
        return _MUTATION_CODES[self]


_MUTATION_CODES = {
    Mutation.MISSING_REQUIRED: ErrorCode.PROTOCOL_ERROR,
    Mutation.WRONG_TYPE: ErrorCode.TYPE_CONSTRAINT_VIOLATION,
    Mutation.TOO_LONG: ErrorCode.TYPE_CONSTRAINT_VIOLATION,
    Mutation.NOT_IN_ENUM: ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    Mutation.UNKNOWN_FIELD: ErrorCode.FORMATION_VIOLATION,
    Mutation.TOO_FEW_ITEMS: ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION,
}

UNKNOWN_FIELD = "fleetsimNoSuchField"

# A value of another JSON type for each schema type.  An int where a string is
# due, a string where anything else is, and a fraction where an integer is.
_WRONG_TYPE_VALUES: dict[str, tuple[Any, ...]] = {
    "string": (12345,),
    "integer": ("12", 1.5),
    "number": ("1.5",),
    "boolean": ("true",),
    "object": ("x",),
    "array": ("x",),
}


@dataclass(frozen=True)
class Broken:
    """One invalid variant of a valid payload."""

    mutation: Mutation
    path: Path_
    payload: Any

    def __str__(self) -> str:
        return f"{self.mutation} at {show(self.path)}"


def _replace(payload: Any, path: Path_, new: Any) -> Any:
    out = copy.deepcopy(payload)
    target = out
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return out


def _remove(payload: Any, path: Path_) -> Any:
    out = copy.deepcopy(payload)
    target = out
    for step in path[:-1]:
        target = target[step]
    del target[path[-1]]
    return out


def targets(schema: dict[str, Any]) -> set[tuple[Mutation, str]]:
    """Every (mutation, place shape) the schema allows, read from the schema alone;
    the test checks that a maximal payload gets every one of them."""
    found: set[tuple[Mutation, str]] = set()
    for where, sub in schema_places(schema, schema):
        for mutation in _applicable(sub, is_root=where == "$"):
            found.add((mutation, where))
        if sub.get("type") == "object":
            for name in sub.get("required", ()):
                found.add((Mutation.MISSING_REQUIRED, f"{where}.{name}"))
    return found


def _applicable(schema: dict[str, Any], *, is_root: bool) -> Iterator[Mutation]:
    kind = schema.get("type")
    if not is_root and kind in _WRONG_TYPE_VALUES:
        yield Mutation.WRONG_TYPE
    if kind == "string" and "maxLength" in schema and "enum" not in schema:
        yield Mutation.TOO_LONG
    if "enum" in schema:
        yield Mutation.NOT_IN_ENUM
    if kind == "object" and schema.get("additionalProperties") is False:
        yield Mutation.UNKNOWN_FIELD
    if kind == "array" and schema.get("minItems", 0) > 0:
        yield Mutation.TOO_FEW_ITEMS


def break_payload(payload: Any, schema: dict[str, Any]) -> Iterator[Broken]:
    """Every single-fault variant of a schema-valid ``payload``."""
    for path, sub, _ in places(payload, schema, schema):
        if sub.get("type") == "object":
            for name in sub.get("required", ()):
                where = (*path, name)
                yield Broken(Mutation.MISSING_REQUIRED, where, _remove(payload, where))
        for mutation in _applicable(sub, is_root=not path):
            match mutation:
                case Mutation.WRONG_TYPE:
                    for wrong in _WRONG_TYPE_VALUES[sub["type"]]:
                        yield Broken(mutation, path, _replace(payload, path, wrong))
                case Mutation.TOO_LONG:
                    too_long = "x" * (sub["maxLength"] + 1)
                    yield Broken(mutation, path, _replace(payload, path, too_long))
                case Mutation.NOT_IN_ENUM:
                    yield Broken(mutation, path, _replace(payload, path, "NoSuchMember"))
                case Mutation.UNKNOWN_FIELD:
                    yield Broken(mutation, path, _replace(payload, (*path, UNKNOWN_FIELD), 1))
                case Mutation.TOO_FEW_ITEMS:
                    yield Broken(mutation, path, _replace(payload, path, []))


# --- semantic equality ------------------------------------------------------------


def canonical(value: Any, schema: dict[str, Any], root: dict[str, Any]) -> Any:
    """``value`` with its date-times as exact instants and its numbers as
    Fractions, so that two payloads meaning the same compare equal."""
    schema = resolve(schema, root)
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        return {k: canonical(v, properties.get(k, {}), root) for k, v in value.items()}
    if isinstance(value, list):
        return [canonical(v, schema.get("items", {}), root) for v in value]
    if isinstance(value, str) and schema.get("format") == "date-time":
        instant = parse_rfc3339(value)
        assert instant is not None, f"not a date-time: {value!r}"
        return ("instant", instant)
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        # A JSON number read as a double: compare at double precision.
        return Fraction(value)
    if isinstance(value, int) and schema.get("type") == "number":
        return Fraction(float(value))
    return value


def differences(sent: Any, received: Any, path: Path_ = ()) -> Iterator[str]:
    """Where two canonical payloads differ.  Instants may differ by less than a
    microsecond: our date-times have Python's resolution, and the wire may carry
    more digits than that."""
    if isinstance(sent, dict) and isinstance(received, dict):
        for key in sent.keys() | received.keys():
            if key not in received:
                yield f"{show((*path, key))}: dropped"
            elif key not in sent:
                yield f"{show((*path, key))}: added {received[key]!r}"
            else:
                yield from differences(sent[key], received[key], (*path, key))
    elif isinstance(sent, list) and isinstance(received, list) and len(sent) == len(received):
        for index, (a, b) in enumerate(zip(sent, received, strict=True)):
            yield from differences(a, b, (*path, index))
    elif isinstance(sent, tuple) and isinstance(received, tuple):  # two ("instant", t)
        if abs(sent[1] - received[1]) >= Fraction(1, 10**6):
            yield f"{show(path)}: instant {float(sent[1])} became {float(received[1])}"
    elif sent != received or (type(sent) is bool) != (type(received) is bool):
        yield f"{show(path)}: {sent!r} became {received!r}"
