"""capacity.json and the finding's sentence (fleetsim.capacity.document)."""

from __future__ import annotations

import msgspec
from test_slo import step as figures_of

from fleetsim.capacity.document import EMBEDDED_NOTE, capacity_document, sentence
from fleetsim.capacity.drive import Outcome, Settings, Step
from fleetsim.capacity.search import Search, SearchPlan
from fleetsim.capacity.slo import default_slos, judge

PLAN = SearchPlan(start=100, step=100, maximum=1000)
SETTINGS = Settings(plan=PLAN, plateau_s=10.0, interval_s=1.0, ramp_per_s=100.0)


def measured(index: int, stations: int, p99_ms: float, phase: str = "step") -> Step:
    figures = figures_of({"bionever-bss011k-v1000": (10.0, {"StartTransaction": stations})}, p99_ms=p99_ms)
    figures.update(calls_per_s=stations * 0.9, messages_per_s={"out": stations, "in": stations}, measured_s=10.0)
    slos = default_slos(figures)
    verdicts = judge(slos, figures)
    return Step(index=index, phase=phase, stations=stations, start_s=index * 12.0, plateau_start_s=index * 12.0 + 2,
                end_s=index * 12.0 + 12, plateau_s=10.0, figures=figures, verdicts=verdicts, slos=slos,
                passed=all(v.passed for v in verdicts), offered_calls_per_s=stations * 0.9)


def document(steps: list[Step], **kwargs):  # type: ignore[no-untyped-def]
    options = {"run_id": "r", "csms": "ws://127.0.0.1:9/ocpp", "embedded": False, "started_at": "a",
               "ended_at": "b", "mix": {"bionever-bss011k-v1000": 3, "bescore-bsc-s12bcc": 1}} | kwargs
    return capacity_document(Outcome(steps=steps, search=Search(PLAN)), SETTINGS, **options)


def test_the_knee_is_the_largest_passing_step_and_the_failure_the_smallest_failing() -> None:
    steps = [measured(1, 100, 5), measured(2, 200, 8), measured(3, 300, 1400), measured(4, 250, 1100, "bisect"),
             measured(5, 225, 9, "bisect")]
    doc = document(steps)
    assert doc["knee"] == {"stations": 225, "calls_per_s": 202.5, "messages_per_s": 450.0}
    assert doc["first_failure"]["stations"] == 250
    assert doc["first_failure"]["slo"] == "StartTransaction.p99 < 1s"
    assert doc["sentence"] == ("ws://127.0.0.1:9/ocpp: 225 stations of this mix (450 OCPP messages/s, 202 calls "
                               "answered/s) met every SLO; at 250 StartTransaction p99 reached 1.1 s against the "
                               "1 s limit (bionever-bss011k-v1000).")
    assert [s["phase"] for s in doc["steps"]] == ["step", "step", "step", "bisect", "bisect"]
    assert doc["steps"][2]["actions"]["StartTransaction"]["limit_ms"] == 1000.0
    assert doc["mix"] == {"bescore-bsc-s12bcc": 0.25, "bionever-bss011k-v1000": 0.75}
    assert doc["usl"] is not None and doc["usl"]["points"] == 5
    msgspec.json.encode(doc)  # it is JSON


def test_no_passing_step_says_the_capacity_is_below_the_first() -> None:
    doc = document([measured(1, 100, 2000)])
    assert doc["knee"] is None
    assert "no step met every SLO; at 100 stations" in doc["sentence"]


def test_every_step_passing_says_the_capacity_is_beyond_the_maximum() -> None:
    doc = document([measured(1, 100, 5), measured(2, 1000, 5)])
    assert doc["first_failure"] is None
    assert "up to the search's maximum of 1,000: the capacity is beyond it" in doc["sentence"]


def test_the_embedded_csms_is_said_to_be_a_demonstration() -> None:
    doc = document([measured(1, 100, 5)], embedded=True)
    assert doc["note"] == EMBEDDED_NOTE


def test_an_interrupted_search_says_so() -> None:
    doc = document([measured(1, 100, 5)], interrupted=True)
    assert doc["completed"] is False and doc["sentence"].endswith("(the search was interrupted).")


def test_a_search_stopped_by_an_slo_says_why() -> None:
    outcome = Outcome(steps=[], search=Search(PLAN), error="--slo 'X' cannot be judged")
    doc = capacity_document(outcome, SETTINGS, run_id="r", csms="ws://x", embedded=False, started_at="a",
                            ended_at="b", mix={"m": 1})
    assert sentence(doc) == "ws://x: the search stopped: --slo 'X' cannot be judged"
