"""What the hostile side does on one connection, and how what it saw is judged:
a batch of OCPP messages (every CALL answered rightly), a frame sequence
(the outcome RFC 6455 allows), both directions."""

from __future__ import annotations

import json
from typing import Any, NamedTuple

import trio

from hostile_frames import FrameCase, Outcome, expected_outcomes, wire_bytes
from hostile_ocpp import OcppCase, dumps
from hostile_peer import TALLY, Closed, Request, Wire, accept_upgrade, open_hostile_cp

MAX_MESSAGE_BYTES = 4 << 20  # fleetsim's default, on both sides (ConnectOptions, CsmsConfig)
SENTINEL_UID = "sentinel"


class Answers(NamedTuple):
    by_uid: dict[str, list[str]]  # "result" or the CALLERROR's code, per unique id answered
    closed: Closed | None  # None: the connection was still open when the sentinel came back
    pongs: list[bytes]


async def collect(wire: Wire, last_uid: str) -> Answers:
    """Read until the answer to ``last_uid`` (everything before it was read:
    the peer answers in order) or the end of the connection; answer the
    peer's own CALLs on the way."""
    by_uid: dict[str, list[str]] = {}
    while (message := await wire.next_message()) is not None:
        if message[0] == 2:
            await wire.answer_call(message)
            continue
        uid = message[1]
        if uid == last_uid:
            return Answers(by_uid, None, wire.pongs)
        by_uid.setdefault(uid, []).append("result" if message[0] == 3 else str(message[2]))
    return Answers(by_uid, wire.closed, wire.pongs)


def judge_ocpp(cases: list[OcppCase], answers: Answers) -> list[str]:
    """Every CALL answered as OCPP-J prescribes, nothing else answered, the
    connection still open."""
    problems = []
    by_uid = {uid: list(kinds) for uid, kinds in answers.by_uid.items()}
    for case in cases:
        got = by_uid.pop(case.unique_id, [None]) if case.unique_id is not None else [None]
        if len(got) > 1 or not case.expect.judge(got[0]):
            wanted = " or ".join(
                [*(["a CALLRESULT"] if case.expect.result else []), *sorted(case.expect.codes),
                 *(["no answer"] if case.expect.ignore else [])])
            problems.append(f"{case.kind} ({case.data[:60]!r}...): answered {got}, wanted {wanted}")
    problems += [f"an answer to no CALL of ours: {uid[:60]!r} -> {kinds}" for uid, kinds in by_uid.items()]
    if answers.closed is not None:
        problems.append(f"the connection ended (close code {answers.closed.code}) before the last CALL was answered")
    return problems


def _uid_of(message: bytes) -> str | None:
    try:
        value = json.loads(message)
    except ValueError:
        return None
    ok = isinstance(value, list) and len(value) >= 2 and value[0] == 2 and isinstance(value[1], str)
    return value[1] if ok else None


def judge_frames(case: FrameCase, answers: Answers, *, expect_masked: bool) -> list[str]:
    """The peer did one of the things RFC 6455 allows with ``case``."""
    outcomes = expected_outcomes(case.frames, expect_masked=expect_masked, max_message_bytes=MAX_MESSAGE_BYTES)
    answered = sorted(answers.by_uid)
    if answers.closed is None:
        answered.append("last")
    for outcome in outcomes:
        if _matches(outcome, sorted(answered), answers):
            return []
    return [f"mutation {case.mutation!r}: answered {answered}, pongs {len(answers.pongs)}, closed "
            f"{answers.closed}; RFC 6455 allows only: " + "; ".join(_describe(o) for o in outcomes)]


def _matches(outcome: Outcome, answered: list[str], answers: Answers) -> bool:
    uids = sorted(uid for uid in map(_uid_of, outcome.messages) if uid is not None)
    if uids != answered:
        return False
    if outcome.close is None:
        if answers.closed is not None:
            return False
    elif answers.closed is None or answers.closed.code not in outcome.close:
        return False
    # RFC 6455 §5.5.3: pongs answer pings in order; a peer may skip all but the latest.
    pings = iter(outcome.pings)
    if not all(any(pong == ping for ping in pings) for pong in answers.pongs):
        return False
    return not outcome.pings or (bool(answers.pongs) and answers.pongs[-1] == outcome.pings[-1])


def _describe(outcome: Outcome) -> str:
    uids = [uid for uid in map(_uid_of, outcome.messages) if uid is not None]
    ending = "stays open" if outcome.close is None else f"closes with {sorted(outcome.close)}"
    return f"answers {uids}, {len(outcome.pings)} pongs, {ending}"


async def deliver(wire: Wire, case: FrameCase) -> None:
    pieces = wire_bytes(case)
    for piece in pieces:
        await wire.send(piece, frames=0)
        if len(pieces) > 1:
            await trio.sleep(0)  # let the peer read each piece on its own
    TALLY.frames_sent += len(case.frames)


# ---------------------------------------------------------------- against stations


async def boot_accepted(stream: trio.SocketStream, request: Request) -> Wire:
    """Upgrade, and accept the station's BootNotification."""
    wire = await accept_upgrade(stream, request)
    boot = await wire.next_message()
    assert boot is not None and boot[2] == "BootNotification", f"expected a BootNotification, got {boot!r}"
    await wire.answer_call(boot)
    return wire


def station_call(uid: str, filler: str = "") -> bytes:
    """A CALL every station answers with a CALLRESULT (OCPP 1.6 §5.8)."""
    return dumps([2, uid, "GetConfiguration", {"key": [filler or "HeartbeatInterval"]}])


def ocpp_to_station(cases: list[OcppCase]):  # type: ignore[no-untyped-def]
    async def script(stream: trio.SocketStream, request: Request, rig: Any) -> Answers:
        wire = await boot_accepted(stream, request)
        for case in cases:
            await wire.send_text(case.data)
        await wire.send_text(station_call(SENTINEL_UID))
        return await collect(wire, SENTINEL_UID)

    return script


def frames_to_station(case: FrameCase):  # type: ignore[no-untyped-def]
    async def script(stream: trio.SocketStream, request: Request, rig: Any) -> Answers:
        wire = await boot_accepted(stream, request)
        await deliver(wire, case)
        return await collect(wire, "last")

    return script


# ---------------------------------------------------------------- against the CSMS


def csms_call(uid: str, filler: str = "") -> bytes:
    """A CALL the CSMS answers with a CALLRESULT (OCPP 1.6 §4.6)."""
    return dumps([2, uid, "DataTransfer", {"vendorId": "fleetsim", "data": filler}])


async def booted_cp(port: int, name: str) -> Wire:
    wire = await open_hostile_cp(port, name)
    await wire.send_text(dumps([2, "boot", "BootNotification", {"chargePointVendor": "H", "chargePointModel": "X"}]))
    answer = await wire.next_message()
    assert answer is not None and answer[0] == 3, f"boot not answered: {answer!r}"
    return wire


def ocpp_to_csms(cases: list[OcppCase]):  # type: ignore[no-untyped-def]
    async def script(csms: Any, n: int) -> Answers:
        wire = await booted_cp(csms.port, f"HOSTILE-{n}")
        for case in cases:
            await wire.send_text(case.data)
        await wire.send_text(csms_call(SENTINEL_UID))
        return await collect(wire, SENTINEL_UID)

    return script


def frames_to_csms(case: FrameCase):  # type: ignore[no-untyped-def]
    async def script(csms: Any, n: int) -> Answers:
        wire = await booted_cp(csms.port, f"HOSTILE-{n}")
        await deliver(wire, case)
        return await collect(wire, "last")

    return script
