"""Hypothesis over the frame grammar (RFC 6455) and the OCPP-J grammar, sent by
a hostile peer on real sockets: to a fleet's station by a hostile CSMS, and to
the embedded CSMS by a hostile charge point.  Each example is a fresh process
state (its own ``trio.run``) with the loop watch and the probe.

Asserted for every example: nothing escapes, nothing hangs, no task step of
the code under test blocks the loop over 50 ms, the probe keeps being
answered; then what the peer did: every CALL answered with a CALLRESULT or
the CALLERROR OCPP-J 1.6 §4.2.3 prescribes (or ignored where §4.1.3 says
so), every frame sequence met with an outcome RFC 6455 allows.  After all
examples, the probe's p99 over all of them is under 20 ms.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from fleetsim.ocpp.actions import Initiator
from hostile_frames import frame_cases
from hostile_harness import Outcome, against_csms, against_fleet, check_answered
from hostile_ocpp import ocpp_batches
from hostile_peer import PROBE_P99_LIMIT_S, TALLY, p99
from hostile_scripts import (
    MAX_MESSAGE_BYTES,
    csms_call,
    frames_to_csms,
    frames_to_station,
    judge_frames,
    judge_ocpp,
    ocpp_to_csms,
    ocpp_to_station,
    station_call,
)


def bounded(examples: int):  # type: ignore[no-untyped-def]
    """Fixed, replayable examples in bounded time (CI), no database on disk."""
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


class Probes:
    """The probe's latencies over every example of one test."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.latencies_s: list[float] = []
        self.examples = 0
        self.window_s = 0.0

    def add(self, outcome: Outcome) -> None:
        self.examples += 1
        self.latencies_s += outcome.probe.latencies_s
        self.window_s += outcome.window_s
        outcome.check()

    def check(self) -> None:
        check_answered(len(self.latencies_s), self.window_s)
        worst = p99(self.latencies_s)
        TALLY.by_test[self.name] = (f"{self.examples} examples, probe p99 {worst * 1000:.2f} ms over "
                                    f"{len(self.latencies_s)} answers")
        assert worst < PROBE_P99_LIMIT_S, f"the probe's p99 was {worst * 1000:.1f} ms"


def run_ocpp_against_stations(examples: int) -> None:
    probes = Probes("OCPP grammar -> station")

    @bounded(examples)
    @given(ocpp_batches(Initiator.CHARGE_POINT))
    def example(cases):  # type: ignore[no-untyped-def]
        outcome = against_fleet(ocpp_to_station(cases))
        probes.add(outcome)
        assert judge_ocpp(cases, outcome.results[0]) == []

    example()
    probes.check()


def run_ocpp_against_csms(examples: int) -> None:
    probes = Probes("OCPP grammar -> CSMS")

    @bounded(examples)
    @given(ocpp_batches(Initiator.CENTRAL_SYSTEM))
    def example(cases):  # type: ignore[no-untyped-def]
        outcome = against_csms(ocpp_to_csms(cases))
        probes.add(outcome)
        assert judge_ocpp(cases, outcome.results[0]) == []

    example()
    probes.check()


def run_frames_against_stations(examples: int) -> None:
    probes = Probes("frame grammar -> station")

    @bounded(examples)
    @given(frame_cases(masked=False, max_message_bytes=MAX_MESSAGE_BYTES, call=station_call))
    def example(case):  # type: ignore[no-untyped-def]
        outcome = against_fleet(frames_to_station(case))
        probes.add(outcome)
        assert judge_frames(case, outcome.results[0], expect_masked=False) == []

    example()
    probes.check()


def run_frames_against_csms(examples: int) -> None:
    probes = Probes("frame grammar -> CSMS")

    @bounded(examples)
    @given(frame_cases(masked=True, max_message_bytes=MAX_MESSAGE_BYTES, call=csms_call))
    def example(case):  # type: ignore[no-untyped-def]
        outcome = against_csms(frames_to_csms(case))
        probes.add(outcome)
        assert judge_frames(case, outcome.results[0], expect_masked=True) == []

    example()
    probes.check()


def test_ocpp_grammar_against_stations() -> None:
    run_ocpp_against_stations(40)


def test_ocpp_grammar_against_the_csms() -> None:
    run_ocpp_against_csms(40)


def test_frame_grammar_against_stations() -> None:
    run_frames_against_stations(60)


def test_frame_grammar_against_the_csms() -> None:
    run_frames_against_csms(60)


@pytest.mark.slow
@pytest.mark.parametrize("run", [run_ocpp_against_stations, run_ocpp_against_csms, run_frames_against_stations,
                                 run_frames_against_csms], ids=["ocpp->station", "ocpp->csms", "frames->station",
                                                                "frames->csms"])
def test_grammar_longer(run) -> None:  # type: ignore[no-untyped-def]
    run(1000)
