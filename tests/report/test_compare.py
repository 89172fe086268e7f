"""Two runs side by side: the differences per action, fleet-wide and per
model, and regressions past the limits given."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hand_made import SUMMARY, A, B

from fleetsim.report.compare import (
    FLEET,
    Change,
    compare,
    comparison_table,
    parse_regression_limit,
)


def _set(document: dict[str, Any], scope: str, action: str, field: str, value: Any, sub: str | None = None) -> None:
    section = document["fleet"] if scope == FLEET else document["models"][scope]
    target = section["exchanges"][action]
    if sub:
        target[field][sub] = value
    else:
        target[field] = value


@pytest.mark.parametrize(("text", "metric", "allowed", "relative"), [
    ("p99=10%", "p99", 0.10, True),
    ("p99.9=5ms", "p99.9", 5.0, False),
    ("service.p50=1s", "service.p50", 1000.0, False),
    ("errors.rate=0.1%", "errors.rate", 0.001, False),
    ("timeouts=0", "timeouts", 0.0, False),
    ("errors=50%", "errors", 0.5, True),
])
def test_regression_limits_parse(text: str, metric: str, allowed: float, relative: bool) -> None:
    limit = parse_regression_limit(text)
    assert (limit.metric, limit.allowed, limit.relative) == (metric, pytest.approx(allowed), relative)


@pytest.mark.parametrize(("text", "words"), [
    ("p99", "METRIC=LIMIT"), ("p100=10%", "metrics:"), ("p99=10", "unit"), ("errors.rate=1ms", "percentage points"),
    ("timeouts=1ms", "no unit"), ("p99=fast", "not a limit"),
])
def test_bad_regression_limits_are_refused(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_regression_limit(text)


def test_the_same_run_has_no_differences_and_no_regression() -> None:
    comparison = compare(SUMMARY, copy.deepcopy(SUMMARY), [parse_regression_limit("p99=0%")])
    assert comparison.passed
    # Every action of the fleet and of each model has a row, fleet first.
    assert [(row.scope, row.action) for row in comparison.rows][:4] == [
        (FLEET, "BootNotification"), (FLEET, "Heartbeat"), (FLEET, "MeterValues"), (FLEET, "StartTransaction")]
    assert {row.scope for row in comparison.rows} == {FLEET, A, B}
    assert len(comparison.rows) == 4 + 3 + 3
    boot = comparison.rows[0]
    assert boot.changes["p99"] == Change(125.0, 125.0)
    assert boot.changes["count"] == Change(200.0, 200.0)
    assert "no regression past the limits (p99=0%)" in comparison_table(comparison)


def _booted_a_thousand_times() -> dict[str, Any]:
    """SUMMARY with 1,000 boots in every scope: enough answers to judge a p99."""
    document = copy.deepcopy(SUMMARY)
    for section in (document["fleet"], *document["models"].values()):
        section["exchanges"]["BootNotification"].update(count=1000, answered=1000)
    return document


def test_a_p99_past_its_relative_limit_is_a_regression_of_that_row_only() -> None:
    base = _booted_a_thousand_times()
    new = copy.deepcopy(base)
    _set(new, FLEET, "BootNotification", "corrected_ms", 140.0, "p99")  # +12 %
    _set(new, A, "BootNotification", "corrected_ms", 131.0, "p99")  # 120 -> 131: +9.2 %
    comparison = compare(base, new, [parse_regression_limit("p99=10%")])
    assert not comparison.passed
    (regression,) = comparison.regressions
    assert (regression.scope, regression.action, regression.base, regression.new) == (
        FLEET, "BootNotification", 125.0, 140.0)
    assert comparison.rows[0].changes["p99"].relative == pytest.approx(0.12)
    table = comparison_table(comparison)
    assert "125→140 +12%" in table
    assert "1 regression:" in table and "all models BootNotification: p99 125 ms → 140 ms (allowed: p99=10%)" in table


def test_an_absolute_latency_limit() -> None:
    base = _booted_a_thousand_times()
    new = copy.deepcopy(base)
    _set(new, B, "BootNotification", "corrected_ms", 136.0, "p99")  # 130 -> 136
    assert compare(base, new, [parse_regression_limit("p99=6ms")]).passed
    assert not compare(base, new, [parse_regression_limit("p99=5ms")]).passed
    assert compare(SUMMARY, new, [parse_regression_limit("p99=5ms")]).passed  # 100 boots: too few for a p99


def test_an_error_rate_limit_is_in_percentage_points() -> None:
    new = copy.deepcopy(SUMMARY)
    _set(new, FLEET, "Heartbeat", "errors_total", 3)  # 0.2 % -> 0.3 % of 1,000
    assert compare(SUMMARY, new, [parse_regression_limit("errors.rate=0.1%")]).passed
    _set(new, FLEET, "Heartbeat", "errors_total", 4)  # 0.2 % -> 0.4 %
    comparison = compare(SUMMARY, new, [parse_regression_limit("errors.rate=0.1%")])
    assert [(r.scope, r.action, r.unit) for r in comparison.regressions] == [(FLEET, "Heartbeat", "share")]
    assert "errors.rate" in comparison.metrics  # a limit's metric gets its own column


def test_improvements_are_not_regressions() -> None:
    new = copy.deepcopy(SUMMARY)
    _set(new, FLEET, "BootNotification", "corrected_ms", 10.0, "p99")
    _set(new, FLEET, "StartTransaction", "timeouts", 0)
    assert compare(SUMMARY, new, [parse_regression_limit("p99=0%"), parse_regression_limit("timeouts=0")]).passed


def test_rows_missing_on_a_side_or_too_small_are_shown_but_not_judged() -> None:
    new = copy.deepcopy(SUMMARY)
    del new["fleet"]["exchanges"]["MeterValues"]
    del new["models"][B]
    new["fleet"]["exchanges"]["Authorize"] = copy.deepcopy(SUMMARY["fleet"]["exchanges"]["Heartbeat"])
    _set(new, FLEET, "Heartbeat", "corrected_ms", 99.0, "p99")
    comparison = compare(SUMMARY, new, [parse_regression_limit("p99=10%")], min_count=2000)
    assert comparison.passed  # Heartbeat has 1,000 calls < 2,000
    notes = {(row.scope, row.action): row.note for row in comparison.rows}
    assert notes[(FLEET, "MeterValues")] == "only in the base run"
    assert notes[(FLEET, "Authorize")] == "only in the new run"
    assert "not judged" in notes[(FLEET, "Heartbeat")]
    assert comparison.notes == [f"model {B} is only in the base run"]
    assert not compare(SUMMARY, new, [parse_regression_limit("p99=10%")], min_count=1).passed


def test_without_limits_nothing_is_judged() -> None:
    new = copy.deepcopy(SUMMARY)
    _set(new, FLEET, "BootNotification", "corrected_ms", 1e6, "p99")
    comparison = compare(SUMMARY, new)
    assert comparison.passed
    assert "nothing judged" in comparison_table(comparison)


def test_an_action_the_new_run_never_answered_is_a_regression_with_the_reason() -> None:
    timed_out = copy.deepcopy(SUMMARY)
    heartbeat = timed_out["fleet"]["exchanges"]["Heartbeat"]
    heartbeat.update(answered=0, timeouts=heartbeat["count"], corrected_ms=None, service_ms=None)
    comparison = compare(SUMMARY, timed_out, [parse_regression_limit("p99=10%")])
    assert [(r.scope, r.action) for r in comparison.regressions] == [(FLEET, "Heartbeat")]
    assert "no call answered in the new run (1000 timed out; 1000 calls in the base)" in comparison_table(comparison)

    missing = copy.deepcopy(SUMMARY)
    del missing["fleet"]["exchanges"]["Heartbeat"]
    comparison = compare(SUMMARY, missing, [parse_regression_limit("p99=10%")])
    assert [r.text() for r in comparison.regressions] == [
        f"{FLEET} Heartbeat: missing from the new run (1000 calls in the base) (limits: p99=10%)"]
    # Too few calls in the base to judge: shown, not judged.
    assert compare(SUMMARY, missing, [parse_regression_limit("p99=10%")], min_count=2000).passed
