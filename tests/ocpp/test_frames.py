"""OCPP-J 1.6 §4 frames: golden frames both ways, bad input as data, and the
encoder's choice of action."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleetsim.ocpp import frames
from fleetsim.ocpp.actions import ACTIONS, Action
from fleetsim.ocpp.errors import ErrorCode, Malformed
from fleetsim.ocpp.frames import (
    Call,
    CallError,
    CallResult,
    action_of,
    decode_confirmation,
    decode_frame,
    encode_call,
    encode_error,
    encode_result,
)
from fleetsim.ocpp.payloads.core import (
    BootNotificationConf,
    BootNotificationReq,
    HeartbeatConf,
    HeartbeatReq,
)
from fleetsim.ocpp.payloads.security import CertificateHashData, HashAlgorithm, SignCertificateReq

# --- golden frames -----------------------------------------------------------------
# Compact JSON, fields in our Structs' order (the schemas' order).  We write
# date-times with microseconds: the spec's "...32.486Z" reads as the same instant
# and comes back as "...32.486000Z".

SPEC_BOOT = (
    b'[2,"19223201","BootNotification",'
    b'{"chargePointVendor":"VendorX","chargePointModel":"SingleSocketCharger"}]'
)
SIX_SAMPLES = (
    b'[2,"19223202","MeterValues",{"connectorId":1,"transactionId":1234,"meterValue":[{'
    b'"timestamp":"2013-02-01T20:53:32Z","sampledValue":['
    b'{"value":"1234567","context":"Sample.Periodic","measurand":"Energy.Active.Import.Register","unit":"Wh"},'
    b'{"value":"11040","measurand":"Power.Active.Import","unit":"W"},'
    b'{"value":"16.1","measurand":"Current.Import","phase":"L1","unit":"A"},'
    b'{"value":"15.9","measurand":"Current.Import","phase":"L2","unit":"A"},'
    b'{"value":"16.0","measurand":"Current.Import","phase":"L3","unit":"A"},'
    b'{"value":"231.4","measurand":"Voltage","phase":"L1-N","location":"Outlet","unit":"V"}'
    b"]}]}]"
)


def golden(name: str, wire: bytes, answers: Action | None = None, emitted: bytes | None = None) -> Any:
    """A golden frame; ``answers`` types a CALLRESULT, ``emitted`` is what we
    write back where it differs from ``wire``."""
    return pytest.param(wire, answers, emitted, id=name)


GOLDEN = [
    golden("CALL BootNotification (OCPP-J 1.6 §4.1.3)", SPEC_BOOT),
    golden(
        "CALLRESULT BootNotification (OCPP-J 1.6 §4.2.2)",
        b'[3,"19223201",{"status":"Accepted","currentTime":"2013-02-01T20:53:32.486Z","interval":300}]',
        answers=Action.BOOT_NOTIFICATION,
        emitted=b'[3,"19223201",{"status":"Accepted","currentTime":"2013-02-01T20:53:32.486000Z","interval":300}]',
    ),
    golden(
        "CALLRESULT BootNotification, as we write it",
        b'[3,"19223201",{"status":"Accepted","currentTime":"2013-02-01T20:53:32.486000Z","interval":300}]',
        answers=Action.BOOT_NOTIFICATION,
    ),
    golden(
        "CALLERROR (OCPP-J 1.6 §4.2.3)",
        b'[4,"19223201","NotImplemented","Requested Action is not known by receiver",{}]',
    ),
    golden(
        "CALLERROR with details",
        b'[4,"7","FormationViolation","bad payload",{"field":"idTag","limit":20}]',
    ),
    golden("CALL MeterValues, six sampled values", SIX_SAMPLES),
    golden("CALL Heartbeat (empty payload)", b'[2,"1","Heartbeat",{}]'),
    golden(
        "CALLRESULT Heartbeat, the peer's offset kept",
        b'[3,"1",{"currentTime":"2024-03-31T01:59:59+02:00"}]',
        answers=Action.HEARTBEAT,
    ),
    golden("CALLRESULT empty", b'[3,"2",{}]', answers=Action.STATUS_NOTIFICATION),
    golden(
        "CALL SecurityEventNotification (white paper §5.15)",
        b'[2,"a1","SecurityEventNotification",'
        b'{"type":"StartupOfTheDevice","timestamp":"2020-03-31T12:00:00Z","techInfo":"cold boot"}]',
    ),
    golden(
        "CALL SignedUpdateFirmware (white paper §5.21)",
        b'[2,"a2","SignedUpdateFirmware",{"retries":3,"retryInterval":60,"requestId":7,"firmware":{'
        b'"location":"https://fw.example/cp-1.2.bin","retrieveDateTime":"2020-03-31T12:00:00Z",'
        b'"signingCertificate":"-----BEGIN CERTIFICATE-----","signature":"MEUCIQ=="}}]',
    ),
    golden(
        "CALLRESULT GetInstalledCertificateIds (white paper §5.8)",
        b'[3,"a3",{"certificateHashData":[{"hashAlgorithm":"SHA256","issuerNameHash":"a1",'
        b'"issuerKeyHash":"b2","serialNumber":"0c"}],"status":"Accepted"}]',
        answers=Action.GET_INSTALLED_CERTIFICATE_IDS,
    ),
]


@pytest.mark.parametrize(("wire", "answers", "emitted"), GOLDEN)
def test_golden_frame_round_trips(wire: bytes, answers: Action | None, emitted: bytes | None) -> None:
    frame = typed(wire, answers)
    match frame:
        case Call(unique_id=uid, payload=payload):
            again = encode_call(uid, payload)
        case CallResult(unique_id=uid, payload=payload):
            again = encode_result(uid, payload)
        case CallError(unique_id=uid, code=code, description=description, details=details):
            again = encode_error(uid, ErrorCode(code), description, details)
    assert again == (emitted or wire)
    assert typed(again, answers) == frame


def typed(wire: bytes, answers: Action | None) -> Call | CallResult | CallError:
    """Decode a frame, typing a CALLRESULT's payload as ``answers``' confirmation."""
    frame = decode_frame(wire)
    assert not isinstance(frame, Malformed), frame
    if isinstance(frame, CallResult):
        assert answers is not None
        payload = decode_confirmation(answers, frame)
        assert not isinstance(payload, Malformed), payload
        return CallResult(frame.unique_id, payload)
    return frame


def test_golden_frames_encode_from_structs() -> None:
    # The other direction: built in Python, written byte for byte.
    assert encode_call(
        "19223201", BootNotificationReq(charge_point_vendor="VendorX", charge_point_model="SingleSocketCharger")
    ) == SPEC_BOOT
    conf = BootNotificationConf(
        status="Accepted", current_time=datetime(2013, 2, 1, 20, 53, 32, 486000, tzinfo=UTC), interval=300
    )
    assert encode_result("19223201", conf) == (
        b'[3,"19223201",{"status":"Accepted","currentTime":"2013-02-01T20:53:32.486000Z","interval":300}]'
    )
    assert encode_error("19223201", ErrorCode.NOT_IMPLEMENTED, "Requested Action is not known by receiver") == (
        b'[4,"19223201","NotImplemented","Requested Action is not known by receiver",{}]'
    )
    assert encode_error("7", ErrorCode.GENERIC_ERROR) == b'[4,"7","GenericError","",{}]'


def test_call_payload_is_typed_by_its_action() -> None:
    frame = decode_frame(SPEC_BOOT)
    assert isinstance(frame, Call) and frame.action == Action.BOOT_NOTIFICATION
    assert frame.payload == BootNotificationReq(
        charge_point_vendor="VendorX", charge_point_model="SingleSocketCharger"
    )


def test_callerror_keeps_a_code_outside_the_ten() -> None:
    # A peer's misspelt code is still counted under what it sent.
    frame = decode_frame(b'[4,"1","OccurrenceConstraintViolation","",{}]')
    assert isinstance(frame, CallError) and frame.code == "OccurrenceConstraintViolation"
    assert frame.code not in set(ErrorCode)


def test_malformed_call_is_answered_with_a_callerror_that_reads_back() -> None:
    malformed = decode_frame(b'[2,"42","Authorize",{"idTag":"ABCDEFGHIJKLMNOPQRSTU"}]')
    assert isinstance(malformed, Malformed) and malformed.unique_id == "42"
    answer = decode_frame(encode_error(malformed.unique_id, malformed.code, malformed.description))
    assert isinstance(answer, CallError)
    assert (answer.unique_id, answer.code) == ("42", ErrorCode.TYPE_CONSTRAINT_VIOLATION)


# --- bad input is data -------------------------------------------------------------
# (bytes, code, unique id recovered, message type recovered, action recovered)

FORMATION, PROTOCOL, NOT_IMPLEMENTED = (
    ErrorCode.FORMATION_VIOLATION,
    ErrorCode.PROTOCOL_ERROR,
    ErrorCode.NOT_IMPLEMENTED,
)
BAD_FRAMES = [
    pytest.param(b'[2,"x","Heartbeat",{}', FORMATION, None, None, None, id="truncated JSON"),
    pytest.param(b"\xff\xfe[]", FORMATION, None, None, None, id="not UTF-8"),
    pytest.param(b'[2,"x","Heartbeat",{}] []', FORMATION, None, None, None, id="trailing data"),
    pytest.param(b"", FORMATION, None, None, None, id="empty"),
    pytest.param(b"{}", PROTOCOL, None, None, None, id="an object"),
    pytest.param(b'"hello"', PROTOCOL, None, None, None, id="a string"),
    pytest.param(b"[]", PROTOCOL, None, None, None, id="empty array"),
    pytest.param(b'[9,"x"]', PROTOCOL, "x", None, None, id="unknown message type"),
    pytest.param(b'["2","x","Heartbeat",{}]', PROTOCOL, "x", None, None, id="type as a string"),
    pytest.param(b'[2,"x"]', PROTOCOL, "x", 2, None, id="CALL without action"),
    pytest.param(b'[2,"x","Heartbeat"]', PROTOCOL, "x", 2, "Heartbeat", id="CALL without payload"),
    pytest.param(
        b'[2,"x","Heartbeat",{},{}]', PROTOCOL, "x", 2, "Heartbeat", id="CALL with a fifth element"
    ),
    pytest.param(b'[2,5,"Heartbeat",{}]', PROTOCOL, None, 2, "Heartbeat", id="id not a string"),
    pytest.param(
        b'[2,"' + b"u" * 37 + b'","Heartbeat",{}]',
        PROTOCOL, None, 2, "Heartbeat", id="id over 36 characters (OCPP-J 1.6 4.1.3)",
    ),
    pytest.param(b'[2,"x",7,{}]', PROTOCOL, "x", 2, None, id="action not a string"),
    pytest.param(b'[2,"x","Foo",{}]', NOT_IMPLEMENTED, "x", 2, "Foo", id="unknown action"),
    pytest.param(b'[2,"x","heartbeat",{}]', NOT_IMPLEMENTED, "x", 2, "heartbeat", id="action is case-sensitive"),
    pytest.param(b'[3,"x"]', PROTOCOL, "x", 3, None, id="CALLRESULT without payload"),
    pytest.param(b'[4,"x","GenericError",""]', PROTOCOL, "x", 4, None, id="CALLERROR without details"),
    pytest.param(b'[4,"x","GenericError","",[]]', FORMATION, "x", 4, None, id="details an array"),
    pytest.param(b'[4,"x","GenericError","","oops"]', FORMATION, "x", 4, None, id="details a string"),
    pytest.param(b'[4,"x",404,"",{}]', PROTOCOL, "x", 4, None, id="code not a string"),
    pytest.param(
        b'[2,"x","Authorize",{}]', PROTOCOL, "x", 2, "Authorize", id="payload missing idTag"
    ),
    pytest.param(
        b'[2,"x","Heartbeat",{"now":1}]', FORMATION, "x", 2, "Heartbeat", id="payload unknown field"
    ),
]


@pytest.mark.parametrize(("wire", "code", "unique_id", "message_type", "action"), BAD_FRAMES)
def test_bad_frame_is_malformed(
    wire: bytes, code: ErrorCode, unique_id: str | None, message_type: int | None, action: str | None
) -> None:
    result = decode_frame(wire)
    assert isinstance(result, Malformed), result
    assert (result.code, result.unique_id, result.message_type, result.action) == (
        code, unique_id, message_type, action
    ), result.description


def test_payload_of_the_wrong_json_type_is_malformed() -> None:
    result = decode_frame(b'[2,"x","Heartbeat",[]]')
    assert isinstance(result, Malformed) and result.unique_id == "x"


def test_confirmation_is_typed_by_the_call_it_answers() -> None:
    result = decode_frame(b'[3,"x",{"status":"Accepted"}]')
    assert isinstance(result, CallResult)
    malformed = decode_confirmation(Action.BOOT_NOTIFICATION, result)
    assert isinstance(malformed, Malformed)
    assert (malformed.code, malformed.unique_id, malformed.message_type, malformed.action) == (
        ErrorCode.PROTOCOL_ERROR, "x", 3, Action.BOOT_NOTIFICATION
    )
    ok = decode_confirmation(Action.SIGN_CERTIFICATE, result)
    assert not isinstance(ok, Malformed) and ok.status == "Accepted"


def test_oversized_frame_is_rejected_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    class Untouchable:
        def decode(self, data: Any) -> Any:
            raise AssertionError("decoded a frame over the limit")

    huge = b'[2,"x","DataTransfer",{"vendorId":"v","data":"' + b"a" * (10 * 1024 * 1024) + b'"}]'
    monkeypatch.setattr(frames, "_envelope", Untouchable())
    result = decode_frame(huge)
    assert isinstance(result, Malformed)
    assert result.code == ErrorCode.FORMATION_VIOLATION


def test_frame_size_limit_is_inclusive() -> None:
    frame = b'[2,"x","Heartbeat",{}]'
    assert isinstance(decode_frame(frame, max_frame_bytes=len(frame)), Call)
    too_big = decode_frame(frame, max_frame_bytes=len(frame) - 1)
    assert isinstance(too_big, Malformed) and too_big.code == ErrorCode.FORMATION_VIOLATION


# --- nothing makes decoding raise --------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)
frame_like = st.one_of(
    st.tuples(st.sampled_from([2, 3, 4, 5, "2"]), st.text(max_size=40), st.sampled_from(sorted(ACTIONS)), json_values),
    st.tuples(st.just(3), st.text(max_size=40), json_values),
    st.tuples(st.just(4), st.text(max_size=40), st.text(max_size=30), st.text(max_size=30), json_values),
).map(list)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_raise(data: bytes) -> None:
    assert isinstance(decode_frame(data), Call | CallResult | CallError | Malformed)


@settings(max_examples=300, deadline=None)
@given(st.one_of(json_values, frame_like))
def test_random_json_never_raises(value: Any) -> None:
    data = json.dumps(value).encode()
    result = decode_frame(data)
    assert isinstance(result, Call | CallResult | CallError | Malformed)
    if isinstance(result, CallResult):
        for action in (Action.HEARTBEAT, Action.GET_CONFIGURATION, Action.GET_INSTALLED_CERTIFICATE_IDS):
            assert not isinstance(decode_confirmation(action, result), Exception)


# --- the encoder's choice of action ------------------------------------------------


def test_encode_call_takes_the_action_from_the_payload_type() -> None:
    assert json.loads(encode_call("1", HeartbeatReq()))[2] == "Heartbeat"
    assert json.loads(encode_call("2", SignCertificateReq(csr="-----BEGIN CSR-----")))[2] == "SignCertificate"


def test_encode_call_refuses_a_confirmation() -> None:
    # Our bug, not the peer's: it raises.
    with pytest.raises((KeyError, TypeError)):
        encode_call("1", HeartbeatConf(current_time=datetime(2024, 1, 1, tzinfo=UTC)))


@pytest.mark.parametrize("name", sorted(ACTIONS))
def test_action_of_knows_both_payloads_of_every_action(name: str) -> None:
    spec = ACTIONS[name]
    for payload_type in (spec.request, spec.confirmation):
        assert action_of(_blank(payload_type)) == name


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(CertificateHashData(
            hash_algorithm=HashAlgorithm.SHA256, issuer_name_hash="a", issuer_key_hash="b", serial_number="c"
        ), id="a compound type, not a payload"),
        pytest.param({"currentTime": "2024-01-01T00:00:00Z"}, id="a dict"),
        pytest.param(None, id="None"),
    ],
)
def test_action_of_something_else_is_a_type_error(value: Any) -> None:
    with pytest.raises(TypeError):
        action_of(value)


def _blank(payload_type: type) -> Any:
    """An instance with placeholder values; action_of looks only at the type."""
    values = {f.name: None for f in msgspec.structs.fields(payload_type) if f.required}
    return payload_type(**values)


# --- JSON nested too deeply --------------------------------------------------------
# msgspec raises RecursionError past about a thousand levels: a 2 KB frame of
# nested arrays once took a whole fleet down.  Every place a peer's bytes are
# decoded answers it as bad input instead, keeping what can be read of the head.

DEEP = 10_000


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize(("wire", "message_type", "unique_id", "action"), [
    (nested(DEEP), None, None, None),
    (b'[2,"c1","Heartbeat",' + nested(DEEP) + b"]", 2, "c1", "Heartbeat"),
    (b'[2, "c2", "DataTransfer", {"vendorId": "x", "data": ' + nested(DEEP) + b"}]", 2, "c2", "DataTransfer"),
    (b'[3,"r1",' + nested(DEEP) + b"]", 3, "r1", None),
    (b'[4,"e1","GenericError","",{"a":' + nested(DEEP) + b"}]", 4, "e1", None),
    (b"[2," + nested(DEEP) + b"]", None, None, None),
])
def test_deeply_nested_json_is_a_formation_violation(
    wire: bytes, message_type: int | None, unique_id: str | None, action: str | None,
) -> None:
    malformed = decode_frame(wire)
    assert isinstance(malformed, Malformed)
    assert malformed.code == ErrorCode.FORMATION_VIOLATION
    assert (malformed.message_type, malformed.unique_id, malformed.action) == (message_type, unique_id, action)


def test_deeply_nested_confirmation_is_malformed_not_raised() -> None:
    result = CallResult("r1", msgspec.Raw(b'{"currentTime":' + nested(DEEP) + b"}"))
    malformed = decode_confirmation("Heartbeat", result)
    assert isinstance(malformed, Malformed)
    # The typed decoder stops at the first value of the wrong type; what it
    # reports is a payload error of the answer, whichever code fits.
    assert (malformed.unique_id, malformed.message_type, malformed.action) == ("r1", 3, "Heartbeat")
