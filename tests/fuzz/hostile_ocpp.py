"""OCPP-J 1.6 as a hostile peer writes it: valid CALLs built from the official
JSON schemas (the ``ocpp`` package's, not fleetsim's Structs), mutations of
them and of the envelope, and for each the answer OCPP-J 1.6 prescribes.

§4.2.3, the CALLERROR codes, quoted where they decide a case:
  NotImplemented               Requested Action is not known by receiver
  NotSupported                 Requested Action is recognized but not supported by the receiver
  ProtocolError                Payload for Action is incomplete
  FormationViolation           Payload for Action is syntactically incorrect or not conform the PDU structure
  PropertyConstraintViolation  Payload is syntactically correct but at least one field contains an invalid value
  OccurenceConstraintViolation ... at least one of the fields violates occurence constraints
  TypeConstraintViolation      ... at least one of the fields violates data type constraints (e.g. "somestring": 12)
§4.1.3: a message type id not in the list is ignored; the unique id is at most
36 characters.  A CALLRESULT or CALLERROR is never answered.
"""

from __future__ import annotations

import copy
import json
import os
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, NamedTuple

import jsonschema
import ocpp
from hypothesis import strategies as st

from fleetsim.ocpp.actions import ACTIONS, Initiator

SCHEMA_DIR = os.path.join(os.path.dirname(ocpp.__file__), "v16", "schemas")

NOT_IMPLEMENTED, NOT_SUPPORTED = "NotImplemented", "NotSupported"
PROTOCOL, FORMATION = "ProtocolError", "FormationViolation"
PROPERTY, OCCURENCE, TYPE = "PropertyConstraintViolation", "OccurenceConstraintViolation", "TypeConstraintViolation"
GENERIC = "GenericError"
ALL_CODES = frozenset({NOT_IMPLEMENTED, NOT_SUPPORTED, "InternalError", PROTOCOL, "SecurityError", FORMATION,
                       PROPERTY, OCCURENCE, TYPE, GENERIC})


class Expect(NamedTuple):
    """The right answers to one message: a CALLRESULT (``result``), a CALLERROR
    with one of ``codes``, or none at all (``ignore``)."""

    result: bool = False
    codes: frozenset[str] = frozenset()
    ignore: bool = False

    def judge(self, answer: str | None) -> bool:
        """``answer``: "result", a CALLERROR's code, or None for no answer."""
        if answer is None:
            return self.ignore
        return self.result if answer == "result" else answer in self.codes


IGNORED = Expect(ignore=True)


def error(*codes: str) -> Expect:
    return Expect(codes=frozenset(codes))


class OcppCase(NamedTuple):
    kind: str
    data: bytes
    unique_id: str | None  # what an answer would carry; None: nothing to answer with
    expect: Expect

    def __repr__(self) -> str:  # a 200 KB frame is shown by its start and its size
        data = self.data if len(self.data) <= 120 else self.data[:100] + f"...<{len(self.data):,} bytes>".encode()
        return f"OcppCase({self.kind!r}, {data!r})"


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


# ---------------------------------------------------------------- schemas


@cache
def schema(name: str) -> dict[str, Any]:
    """The schema of ``name`` (``Heartbeat``, ``HeartbeatResponse``), refs inlined."""
    with open(os.path.join(SCHEMA_DIR, f"{name}.json")) as file:
        root = json.load(file)
    return _inline(root, root)


def _inline(node: Any, root: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = root
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            return _inline(target, root)
        return {key: _inline(value, root) if key != "enum" else value for key, value in node.items()}
    if isinstance(node, list):
        return [_inline(item, root) for item in node]
    return node


@cache
def validator(name: str) -> jsonschema.protocols.Validator:
    document = schema(name)
    return jsonschema.validators.validator_for(document)(document, format_checker=jsonschema.FormatChecker())


def actions_from(initiator: Initiator) -> list[str]:
    """The actions ``initiator`` sends (DataTransfer goes both ways)."""
    return sorted(a for a, spec in ACTIONS.items() if spec.initiator in (initiator, Initiator.EITHER))


# ---------------------------------------------------------------- valid payloads

_NOW = datetime(2026, 1, 1, tzinfo=UTC)
_date_times = st.integers(0, 400 * 86400).map(
    lambda s: (_NOW + timedelta(seconds=s)).isoformat().replace("+00:00", "Z"))
_WORD = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."


def values(node: dict[str, Any], name: str = "") -> st.SearchStrategy[Any]:
    """Values the schema ``node`` allows, kept to what the prose of OCPP 1.6
    allows too (small non-negative integers, connector ids a station has)."""
    if "enum" in node:
        return st.sampled_from(node["enum"])
    kind = node.get("type")
    if kind == "object":
        return _objects(node)
    if kind == "array":
        return st.lists(values(node["items"], name), min_size=max(1, node.get("minItems", 0)), max_size=3)
    if kind == "string":
        if node.get("format") == "date-time":
            return _date_times
        if node.get("format") == "uri":
            return st.just("ftp://example.com/fleetsim")
        return st.text(_WORD, min_size=1, max_size=min(node.get("maxLength", 20), 20))
    if kind == "integer":
        return st.integers(0, 2) if name.lower().endswith("connectorid") else st.integers(0, 100_000)
    if kind == "number":
        return st.integers(0, 500).map(float)
    if kind == "boolean":
        return st.booleans()
    raise AssertionError(f"schema node without a type: {node}")


@st.composite
def _objects(draw: st.DrawFn, node: dict[str, Any]) -> dict[str, Any]:
    required = set(node.get("required", ()))
    result = {}
    for key, sub in node.get("properties", {}).items():
        if key in required or draw(st.booleans()):
            result[key] = draw(values(sub, key))
    return result


def valid_payloads(action: str) -> st.SearchStrategy[dict[str, Any]]:
    return values(schema(action)).filter(lambda payload: validator(action).is_valid(payload))


# ---------------------------------------------------------------- payload mutations


Path = tuple[Any, ...]


def _paths(node: dict[str, Any], value: Any, path: Path = ()) -> list[tuple[Path, dict[str, Any]]]:
    """(path, schema node) of every value in ``value``."""
    found = [(path, node)]
    if isinstance(value, dict):
        for key, sub in value.items():
            found += _paths(node["properties"][key], sub, (*path, key))
    elif isinstance(value, list):
        for index, sub in enumerate(value):
            found += _paths(node["items"], sub, (*path, index))
    return found


def _set(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    value = copy.deepcopy(value)
    target = value
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = new
    return value


_WRONG_TYPES = {  # a value of another JSON type for each (null left out: some read it as absent)
    "string": (7, True, [], {}),
    "integer": ("7", 7.5, True, [], {}),
    "number": ("7", True, [], {}),
    "boolean": ("true", 1, [], {}),
    "object": ([], "x", 7),
    "array": ({}, "x", 7),
}
_BAD_DATE_TIMES = ("yesterday", "2026-13-01T00:00:00Z", "2026-01-01", "2026-01-01T00:00:00", "2026-01-01T25:00:00Z")


@st.composite
def mutated_payloads(draw: st.DrawFn, action: str) -> tuple[str, dict[str, Any] | Any, Expect]:
    """A payload of ``action`` broken in one place, and the CALLERROR it earns."""
    root = schema(action)
    payload = draw(valid_payloads(action))
    paths = _paths(root, payload)
    options: list[str] = ["extra field", "not an object"]
    objects = [(p, n) for p, n in paths if n.get("type") == "object"]
    if any(n.get("required") for p, n in objects if _get(payload, p)):
        options.append("missing field")
    leaves = [(p, n) for p, n in paths if p]
    if leaves:
        options.append("wrong type")
    if any("enum" in n for _, n in leaves):
        options.append("bad enum")
    if any("maxLength" in n for _, n in leaves):
        options.append("too long")
    if any(n.get("format") == "date-time" for _, n in leaves):
        options.append("bad date-time")
    kind = draw(st.sampled_from(options))
    match kind:
        case "extra field":  # additionalProperties: false, the PDU's structure
            path, _ = draw(st.sampled_from(objects))
            inner = dict(_get(payload, path))
            inner["fleetsimUnknown"] = draw(st.sampled_from((1, "x", None, [1])))
            return kind, _set(payload, path, inner), error(FORMATION)
        case "not an object":
            return kind, draw(st.sampled_from(([], "x", 1, True, None))), error(TYPE, FORMATION)
        case "missing field":  # "incomplete", and the field's minOccurs of 1
            path, node = draw(st.sampled_from([(p, n) for p, n in objects if n.get("required") and _get(payload, p)]))
            inner = dict(_get(payload, path))
            del inner[draw(st.sampled_from(sorted(node["required"])))]
            return kind, _set(payload, path, inner), error(PROTOCOL, OCCURENCE)
        case "wrong type":
            path, node = draw(st.sampled_from(leaves))
            kind_of = "string" if "enum" in node else node["type"]
            return kind, _set(payload, path, draw(st.sampled_from(_WRONG_TYPES[kind_of]))), error(TYPE)
        case "bad enum":
            path, node = draw(st.sampled_from([(p, n) for p, n in leaves if "enum" in n]))
            bad = draw(st.sampled_from(("fleetsimUnknown", node["enum"][0].lower(), node["enum"][0] + " ", "")))
            return kind, _set(payload, path, bad), error(PROPERTY)
        case "too long":  # CiString25Type is a data type; its length a property: either reading holds
            path, node = draw(st.sampled_from([(p, n) for p, n in leaves if "maxLength" in n]))
            extra = draw(st.integers(1, 200))
            return kind, _set(payload, path, "x" * (node["maxLength"] + extra)), error(TYPE, PROPERTY)
        case "bad date-time":  # RFC 3339 §5.6, which dateTime is
            path, _ = draw(st.sampled_from([(p, n) for p, n in leaves if n.get("format") == "date-time"]))
            return kind, _set(payload, path, draw(st.sampled_from(_BAD_DATE_TIMES))), error(TYPE, PROPERTY)
    raise AssertionError(kind)


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        value = value[part]
    return value


# ---------------------------------------------------------------- whole messages

DATA_TRANSFER = ("DataTransfer", {"vendorId": "x"})  # a CALL valid both ways

# Valid CALLs whose effect ends the connection on purpose (a reboot): left out
# of the valid ones, kept among the mutated ones.
REBOOTING = frozenset({"Reset", "UpdateFirmware", "SignedUpdateFirmware"})


def nested(depth: int, inner: bytes = b"") -> bytes:
    return b"[" * depth + inner + b"]" * depth


@st.composite
def ocpp_cases(draw: st.DrawFn, *, to: Initiator, index: int) -> OcppCase:
    """One message for a receiver of type ``to`` (a charge point or a central
    system), from a peer of the other type; ``index`` keeps unique ids unique."""
    ours = actions_from(Initiator.CENTRAL_SYSTEM if to is Initiator.CHARGE_POINT else Initiator.CHARGE_POINT)
    theirs = [a for a in actions_from(to) if ACTIONS[a].initiator is not Initiator.EITHER]
    uid = f"h{index}"
    kind = draw(st.sampled_from(_KINDS))
    # The receiver knows the action but may lack its feature profile (§4.2.3).
    lacking = {NOT_SUPPORTED, NOT_IMPLEMENTED}
    match kind:
        case "valid":
            action = draw(st.sampled_from([a for a in ours if a not in REBOOTING]))
            payload = draw(valid_payloads(action))
            return OcppCase(f"valid {action}", dumps([2, uid, action, payload]), uid, Expect(True, frozenset(lacking)))
        case "mutated payload":
            action = draw(st.sampled_from(ours))
            how, payload, expect = draw(mutated_payloads(action))
            # A model without the feature may refuse the action before reading its payload.
            expect = expect._replace(codes=expect.codes | lacking)
            return OcppCase(f"{how}: {action}", dumps([2, uid, action, payload]), uid, expect)
        case "unknown action":
            action = draw(st.sampled_from(("Hello", "heartbeat", "", "BootNotification ", "x" * 5000, "Ünïcode")))
            return OcppCase(kind, dumps([2, uid, action, {}]), uid, error(NOT_IMPLEMENTED))
        case "action of the other side":
            action = draw(st.sampled_from(theirs))
            payload = draw(valid_payloads(action))
            return OcppCase(kind, dumps([2, uid, action, payload]), uid, error(NOT_SUPPORTED, NOT_IMPLEMENTED))
        case "envelope":
            how, items = draw(st.sampled_from((
                ("no payload", [2, uid, "Heartbeat"]), ("extra element", [2, uid, ours[0], {}, {}]),
                ("action not a string", [2, uid, 5, {}]), ("action null", [2, uid, None, {}]),
            )))
            return OcppCase(how, dumps(items), uid, error(FORMATION, PROTOCOL))
        case "message type":  # §4.1.3: a message type id not in the list is ignored
            number = draw(st.sampled_from((0, 1, 5, 6, -2, 99, 2**70)))
            return OcppCase(f"message type {number}", dumps([number, uid, *DATA_TRANSFER]), None, IGNORED)
        case "message type not a number":  # not an integer: refused, or ignored as unknown
            value = draw(st.sampled_from(("2", 2.5, True, None, [2])))
            expect = Expect(codes=frozenset({FORMATION, PROTOCOL}), ignore=True)
            return OcppCase(f"message type {value!r}", dumps([value, uid, *DATA_TRANSFER]), uid, expect)
        case "unique id":
            tail = draw(st.sampled_from((37, 100, 10_000, 100_000)))
            long_uid = uid + "u" * tail
            # §4.1.3 caps ids at 36 characters: refused (echoing the id) or ignored.
            expect = Expect(codes=frozenset({FORMATION, PROTOCOL, TYPE, OCCURENCE, PROPERTY}), ignore=True)
            return OcppCase(f"unique id of {len(long_uid)} characters", dumps([2, long_uid, *DATA_TRANSFER]), long_uid,
                            expect)
        case "unique id not a string":
            value = draw(st.sampled_from((5, None, [], {}, True)))
            return OcppCase(kind, dumps([2, value, ours[0], {}]), None, IGNORED)
        case "stray result":  # nothing asked: a CALLRESULT is never answered
            payload = draw(st.sampled_from(({}, {"status": "Accepted"}, [], "x", None)))
            return OcppCase(kind, dumps([3, f"{uid}-stray", payload]), None, IGNORED)
        case "stray error":
            code = draw(st.sampled_from(("NoSuchCode", 42, "", "x" * 3000, None, "GenericError")))
            details = draw(st.sampled_from(({}, [], "x", None)))
            return OcppCase(kind, dumps([4, f"{uid}-stray", code, "why", details]), None, IGNORED)
        case "not JSON":
            data = draw(st.sampled_from((b"", b"[", b"[2,", b"{}", b"[]", b'"x"', b"2", b"null", b"\x00\x01", b"[2]",
                                         b'[2,"x"', b"[1e999999]")))
            return OcppCase(kind, data, None, IGNORED)
        case "nested JSON":
            depth = draw(st.sampled_from((1_000, 10_000, 100_000)))
            return OcppCase(f"nested JSON, depth {depth}", nested(depth), None, IGNORED)
        case "nested payload":
            depth = draw(st.sampled_from((1_000, 10_000, 100_000)))
            action = draw(st.sampled_from(ours))
            data = b'[2,"' + uid.encode() + b'","' + action.encode() + b'",' + nested(depth) + b"]"
            # An array where an object belongs: the data type, or the PDU's structure.
            return OcppCase(f"nested payload, depth {depth}", data, uid, error(TYPE, FORMATION, *lacking))
        case "nested field":
            depth = draw(st.sampled_from((1_000, 10_000, 100_000)))
            data = b'[2,"' + uid.encode() + b'","DataTransfer",{"vendorId":"x","data":' + nested(depth) + b"}]"
            return OcppCase(f"nested field, depth {depth}", data, uid, error(TYPE, FORMATION))
        case "nested result":
            depth = draw(st.sampled_from((1_000, 10_000, 100_000)))
            return OcppCase(kind, b'[3,"' + uid.encode() + b'-stray",' + nested(depth) + b"]", None, IGNORED)
        case "nested error details":
            depth = draw(st.sampled_from((1_000, 10_000)))
            return OcppCase(kind, b'[4,"' + uid.encode() + b'-stray","GenericError","",' + nested(depth) + b"]",
                            None, IGNORED)
    raise AssertionError(kind)


_KINDS = ("valid", "valid", "mutated payload", "mutated payload", "mutated payload", "unknown action",
          "action of the other side", "envelope", "message type", "message type not a number", "unique id",
          "unique id not a string", "stray result", "stray error", "not JSON", "nested JSON", "nested payload",
          "nested field", "nested result", "nested error details")


def ocpp_batches(to: Initiator, *, max_size: int = 12) -> st.SearchStrategy[list[OcppCase]]:
    return st.integers(1, max_size).flatmap(
        lambda n: st.tuples(*(ocpp_cases(to=to, index=i) for i in range(n))).map(list))


# ---------------------------------------------------------------- answering the peer's CALLs

_NOW_TEXT = "2026-01-01T00:00:00Z"
CONFIRMATIONS: dict[str, dict[str, Any]] = {  # what a lenient CSMS answers a station
    "Authorize": {"idTagInfo": {"status": "Accepted"}},
    "BootNotification": {"status": "Accepted", "currentTime": _NOW_TEXT, "interval": 300},
    "DataTransfer": {"status": "Accepted"},
    "Heartbeat": {"currentTime": _NOW_TEXT},
    "StartTransaction": {"idTagInfo": {"status": "Accepted"}, "transactionId": 1},
    "SignCertificate": {"status": "Accepted"},
}


def confirmation(action: str) -> dict[str, Any]:
    return CONFIRMATIONS.get(action, {})
