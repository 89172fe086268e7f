"""The SLOs a capacity search judges each step on (fleetsim.capacity.slo)."""

from __future__ import annotations

from typing import Any

import pytest

from fleetsim.capacity.slo import SloError, default_slos, failure_text, given_slos, judge, limits_ms
from fleetsim.report.threshold_grammar import ThresholdError


def exchange(count: int, p99_ms: float = 5.0) -> dict[str, Any]:
    return {"count": count, "answered": count, "errors": {}, "errors_total": 0, "timeouts": 0, "late": 0,
            "corrected_ms": {"p50": p99_ms / 2, "p99": p99_ms, "max": p99_ms} if count else None}


def step(models: dict[str, tuple[float, dict[str, int]]], connects: int = 10,
         p99_ms: float = 5.0) -> dict[str, Any]:
    """A step's figures: per model (declared timeout, calls per action)."""
    fleet: dict[str, Any] = {}
    for _, calls in models.values():
        for action, count in calls.items():
            fleet[action] = exchange(fleet.get(action, {}).get("count", 0) + count, p99_ms)
    return {
        "fleet": {"exchanges": fleet, "connection": {"connects": connects, "failures": {}}},
        "models": {model: {"declared_timeout_s": timeout_s,
                           "exchanges": {action: exchange(count, p99_ms) for action, count in calls.items()}}
                   for model, (timeout_s, calls) in models.items()},
        "run": {"fleet": {model: 1 for model in models}},
    }


def test_each_action_is_held_to_a_tenth_of_the_tightest_timeout_of_its_senders() -> None:
    figures = step({"slow": (60.0, {"Heartbeat": 5, "StartTransaction": 2}),
                    "fast": (10.0, {"Heartbeat": 5}),
                    "middle": (25.0, {"StartTransaction": 1, "MeterValues": 0})})
    slos = {slo.expression: slo for slo in default_slos(figures)}
    assert "Heartbeat.p99 < 1s" in slos and slos["Heartbeat.p99 < 1s"].model == "fast"
    assert "StartTransaction.p99 < 2500ms" in slos and slos["StartTransaction.p99 < 2500ms"].model == "middle"
    assert not any(expression.startswith("MeterValues") for expression in slos)  # not sent in this step
    assert {"timeouts == 0", "errors.rate < 0.1%", "connect.failures.rate < 0.1%"} <= slos.keys()
    assert limits_ms(list(slos.values())) == {"Heartbeat": 1000.0, "StartTransaction": 2500.0}


def test_the_limit_stays_the_tightest_seen_over_the_search() -> None:
    senders: dict[str, tuple[float, str]] = {}
    default_slos(step({"fast": (10.0, {"Heartbeat": 1})}), senders)
    later = default_slos(step({"slow": (60.0, {"Heartbeat": 1})}), senders)
    assert "Heartbeat.p99 < 1s" in {slo.expression for slo in later}


def test_a_step_that_opened_no_connection_has_no_connection_slo() -> None:
    expressions = {slo.expression for slo in default_slos(step({"m": (10.0, {"Heartbeat": 1})}, connects=0))}
    assert "connect.failures.rate < 0.1%" not in expressions
    assert "timeouts == 0" in expressions


def test_judged_latency_failure_reads_as_a_sentence() -> None:
    figures = step({"bionever": (10.0, {"StartTransaction": 4})}, p99_ms=1400.0)
    slos = default_slos(figures)
    verdicts = judge(slos, figures)
    failing = [v for v in verdicts if not v.passed]
    assert [v.expression for v in failing] == ["StartTransaction.p99 < 1s"]
    assert failure_text(failing[0], slos) == "StartTransaction p99 reached 1.4 s against the 1 s limit (bionever)"


@pytest.mark.parametrize(("expression", "message"), [
    ("outage.booted_after < 30s", "injects no CSMS outage"),
    ("errors.rate < 1% abort", "leave out 'abort'"),
    ("nosuch-model:Heartbeat.p99 < 1s", "not in this search's mix"),
])
def test_an_slo_a_search_cannot_answer_is_refused(expression: str, message: str) -> None:
    with pytest.raises(SloError, match=message):
        given_slos([expression], ["bionever-bss011k-v1000"])


def test_bad_grammar_is_the_threshold_grammars_error() -> None:
    with pytest.raises(ThresholdError):
        given_slos(["Heartbeat.p99 <"], ["m"])
