"""RFC 6455 conformance: the frame-level cases of the Autobahn test suite
(:mod:`autobahn_cases`), played on real sockets against both of fleetsim's
WebSocket ends, checked on the wire (:mod:`autobahn_peer`):

- a station: ``link.connect`` to a raw-socket server that sends the case's
  frames, the link driven as ``fleetsim.engine.fleet`` drives it (messages to
  the station, everything else to ``link.answer``);
- the embedded CSMS (``serve_csms``), with a raw-socket client that masks.
"""

from __future__ import annotations

import pytest
import trio
from autobahn_cases import PINGS_TOGETHER, Case, all_cases
from autobahn_peer import Outcome, Peer, accept_upgrade, listen, open_upgrade

from fleetsim.csms.config import CsmsConfig
from fleetsim.csms.server import serve_csms
from fleetsim.engine import framing
from fleetsim.engine.link import Link, LinkError, Target, connect

DEADLINE_S = 10
MAX_MESSAGE_BYTES = 1 << 20  # both ends alike, so the size-cap rows hold for both
CASES = all_cases(MAX_MESSAGE_BYTES)


def rows(cases: list[Case]) -> list[pytest.ParameterSet]:
    return [pytest.param(case, id=case.id) for case in cases]


def test_the_table_holds_every_frame_level_case_of_the_suite() -> None:
    ids = {case.id for case in CASES}
    suite = (
        [f"1.{g}.{n}" for g in (1, 2) for n in range(1, 9)]
        + [f"2.{n}" for n in range(1, 12)] + [f"3.{n}" for n in range(1, 8)]
        + [f"4.{g}.{n}" for g in (1, 2) for n in range(1, 6)] + [f"5.{n}" for n in range(1, 21)]
        + ["6.1.1", "6.1.2", "6.1.3", "6.2.1", "6.2.2", "6.2.3", "6.2.4", "6.3.1", "6.3.2"]
        + [f"6.4.{n}" for n in range(1, 5)] + ["6.5.1", "6.12.8", "6.21.8", "6.22.34", "6.23.7"]
        + [f"7.1.{n}" for n in range(1, 7)] + [f"7.3.{n}" for n in range(1, 7)] + ["7.5.1"]
        + [f"7.7.{n}" for n in range(1, 14)] + [f"7.9.{n}" for n in range(1, 10)] + ["7.13.1", "7.13.2"]
    )
    assert set(suite) <= ids, sorted(set(suite) - ids)
    assert "6.22.35" not in ids and "6.24.1" not in ids  # no more than the suite's UTF-8 sequences


def test_the_non_strict_choices_are_few_and_explained() -> None:
    # Autobahn's "non-strict": allowed by the RFC, not the suite's preference.
    assert {case.id: bool(case.note) for case in CASES if case.note} == {
        "2.10": True, "2.11": True, "6.4.3": True, "6.4.4": True}


def check(outcome: Outcome, case: Case) -> None:
    if case.note == PINGS_TOGETHER:
        # The pongs sent are the pings' payloads in order, ending with the last.
        assert outcome.pongs and outcome.pongs[-1] == case.pongs[-1]
        assert list(outcome.pongs) == [p for p in case.pongs if p in outcome.pongs]
        outcome = outcome._replace(pongs=case.pongs)
    assert outcome == Outcome(case.pongs, case.close, case.failed)


# ------------------------------------------------------------ the station's link


async def drive(link: Link, delivered: list[framing.Message]) -> None:
    """What ``Fleet._serve_link`` does with a link: messages to the station,
    control events and violations to ``link.answer``."""
    try:
        while not link.closed:
            for event in await link.receive():
                if type(event) is framing.Message:
                    delivered.append(event)
                else:
                    link.answer(event)
    except LinkError:
        pass


async def play_against_link(case: Case) -> tuple[Outcome, list[framing.Message]]:
    delivered: list[framing.Message] = []
    listener = listen()
    target = Target.parse(f"ws://127.0.0.1:{listener.getsockname()[1]}/ocpp")

    async def station() -> None:
        link = await connect(target, "CP1", authorization=None, ssl_context=None, local_address=None,
                             max_message_bytes=MAX_MESSAGE_BYTES)
        await drive(link, delivered)
        link.close()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(station)
        peer = Peer(await accept_upgrade(listener), masks=False)
        listener.close()
        await peer.play(case.steps)
        outcome = await peer.read_to_end()
    return outcome, delivered


@pytest.mark.parametrize("case", rows(CASES))
async def test_station_link(case: Case) -> None:
    with trio.fail_after(DEADLINE_S):
        outcome, delivered = await play_against_link(case)
    check(outcome, case)
    assert [(message.data, message.binary) for message in delivered] == list(case.messages)


# ---------------------------------------------------------------- the embedded CSMS


async def play_against_csms(case: Case) -> tuple[Outcome, int]:
    async with trio.open_nursery() as nursery:
        csms = await nursery.start(serve_csms, CsmsConfig(max_message_bytes=MAX_MESSAGE_BYTES))
        peer = Peer(await open_upgrade(csms.port, "/ocpp/CP1"), masks=True)
        await peer.play(case.steps)
        outcome = await peer.read_to_end()
        received = csms.stats.messages_received
        nursery.cancel_scope.cancel()
    return outcome, received


@pytest.mark.parametrize("case", rows(CASES))
async def test_embedded_csms(case: Case) -> None:
    with trio.fail_after(DEADLINE_S):
        outcome, received = await play_against_csms(case)
    check(outcome, case)
    assert received == len(case.messages)  # the CSMS counts the messages it handled
