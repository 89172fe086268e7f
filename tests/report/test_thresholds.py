"""Thresholds in k6's syntax: what parses to what, what is refused and where,
and how each is judged against a summary.json made by hand."""

from __future__ import annotations

from typing import Any

import pytest
from hand_made import SUMMARY

from fleetsim.report.thresholds import (
    Threshold,
    ThresholdError,
    evaluate,
    format_ms,
    format_value,
    parse_threshold,
    verdict_lines,
)

GOOD = [
    # expression, (model, action, view, metric, op, limit)
    ("BootNotification.p99 < 2s", (None, "BootNotification", "corrected", "p99", "<", 2000.0)),
    ("StartTransaction.p99.9 < declared", (None, "StartTransaction", "corrected", "p99.9", "<", None)),
    ("errors.rate < 0.1%", (None, None, "corrected", "errors.rate", "<", 0.001)),
    ("errors.rate<0.001", (None, None, "corrected", "errors.rate", "<", 0.001)),
    ("timeouts == 0", (None, None, "corrected", "timeouts", "==", 0.0)),
    ("MeterValues.service.p50 <= 20ms", (None, "MeterValues", "service", "p50", "<=", 20.0)),
    ("MeterValues.corrected.max >= 800us", (None, "MeterValues", "corrected", "max", ">=", 0.8)),
    ("bescore-bsc-s12bcc:Heartbeat.p99 < 500ms", ("bescore-bsc-s12bcc", "Heartbeat", "corrected", "p99", "<", 500.0)),
    ("vendor.model-2:late.rate != 5%", ("vendor.model-2", None, "corrected", "late.rate", "!=", 0.05)),
    ("*.p90 > 1.5ms", (None, "*", "corrected", "p90", ">", 1.5)),
    ("  Heartbeat.count   >=  10  ", (None, "Heartbeat", "corrected", "count", ">=", 10.0)),
    ("DataTransfer.timeouts.rate < 1%", (None, "DataTransfer", "corrected", "timeouts.rate", "<", 0.01)),
    ("Authorize.late <= 3", (None, "Authorize", "corrected", "late", "<=", 3.0)),
    ("Heartbeat.errors == 0", (None, "Heartbeat", "corrected", "errors", "==", 0.0)),
    ("Heartbeat.p50 < 0.5s", (None, "Heartbeat", "corrected", "p50", "<", 500.0)),
]


@pytest.mark.parametrize(("expression", "parsed"), GOOD, ids=[e for e, _ in GOOD])
def test_good_expressions_parse(expression: str, parsed: tuple[Any, ...]) -> None:
    threshold = parse_threshold(expression)
    assert (threshold.model, threshold.action, threshold.view, threshold.metric, threshold.op,
            threshold.limit) == parsed
    assert threshold.expression == expression


BAD = [
    # expression, column (0-based) of the caret, words the message must hold
    ("BootNotification.p95 < 2s", 17, ("unknown metric 'p95'", "did you mean 'p99'")),
    ("Hearbeat.p99 < 1s", 0, ("unknown action", "did you mean 'Heartbeat'")),
    ("RemoteStartTransaction.p99 < 1s", 0, ("sent by the CSMS",)),
    ("p99 < 2s", 0, ("needs an action", "'*.p99'")),
    ("BootNotification.p99 < 2", 24, ("needs a unit",)),
    ("BootNotification.p99 < 2 parsecs", 25, ("needs a unit", "'parsecs'")),
    ("BootNotification.p99", 20, ("expected an operator",)),
    ("errors.rate < 5", 14, ("fraction", "5%")),
    ("errors.rate < 1s", 15, ("share",)),
    ("timeouts == 0ms", 13, ("number of calls",)),
    ("count < declared", 8, ("'declared'",)),
    ("1 < x < 2", 6, ("only one comparison",)),
    ("Heartbeat.service.count < 1", 10, ("'service' applies to latencies",)),
    ("Heartbeat.service < 1s", 17, ("expected a metric",)),
    ("Heartbeat. p99 < 1s", 10, ("no spaces",)),
    (":Heartbeat.p99 < 1s", 0, ("model id",)),
    ("< 1s", 0, ("expected a metric",)),
    ("Heartbeat.p99 < -1s", 16, ("expected a limit",)),
    ("Heartbeat.p99 < declared!", 16, ("expected a limit",)),
]


@pytest.mark.parametrize(("expression", "column", "words"), BAD, ids=[e for e, _, _ in BAD])
def test_bad_expressions_say_what_and_where(expression: str, column: int, words: tuple[str, ...]) -> None:
    with pytest.raises(ThresholdError) as raised:
        parse_threshold(expression)
    error = raised.value
    assert error.column == column, str(error)
    for word in words:
        assert word in error.message
    # The text shows the expression with a caret under the column.
    lines = str(error).splitlines()
    assert lines[1].strip() == expression.strip()
    assert lines[2].index("^") - 2 == column
    assert f"(column {column + 1})" in lines[0]


# ---------------------------------------------------------------- evaluation on a hand-made summary.json

JUDGED = [
    # expression, passed, observed, limit, words in the detail
    ("BootNotification.p99 < 2s", True, 125.0, 2000.0, ("125 ms < 2 s", "all models")),
    ("BootNotification.p99 < 100ms", False, 125.0, 100.0, ("125 ms not < 100 ms",)),
    ("model.b:BootNotification.max <= 250ms", True, 250.0, 250.0, ("model.b",)),
    # At the limit: each operator as written.
    ("model.b:BootNotification.max < 250ms", False, 250.0, 250.0, ("250 ms not < 250 ms",)),
    ("BootNotification.p99 > 125ms", False, 125.0, 125.0, ()),
    ("BootNotification.p99 >= 125ms", True, 125.0, 125.0, ()),
    ("BootNotification.p99 == 125ms", True, 125.0, 125.0, ()),
    ("BootNotification.p99 != 125ms", False, 125.0, 125.0, ()),
    ("BootNotification.p99 != 0.125s", False, 125.0, 125.0, ()),
    ("StartTransaction.service.p99 < 31ms", True, 30.0, 31.0, ("service time",)),
    ("StartTransaction.p99 < 31ms", False, 9000.0, 31.0, ("corrected latency",)),
    # declared: each model against its own timeout; A's 12 s p99.9 breaks its 10 s, B's 60 s holds.
    ("StartTransaction.p99.9 < declared", False, 12_000.0, 10_000.0, ("1 of 2 models fail", "model-a")),
    ("StartTransaction.p99 < declared", True, 9_000.0, 10_000.0, ("all 2 models pass", "closest: model-a")),
    ("model.b:StartTransaction.p99.9 < declared", True, 12_000.0, 60_000.0, ()),
    # errors.rate over every action: 2 errors in 1,304 calls.
    ("errors.rate < 0.1%", False, 2 / 1304, 0.001, ("0.153%",)),
    ("errors.rate < 0.2%", True, 2 / 1304, 0.002, ()),
    ("Heartbeat.errors.rate <= 0.2%", True, 0.002, 0.002, ()),
    ("timeouts == 0", False, 5.0, 0.0, ("5 not == 0",)),
    ("model-a:timeouts <= 1", True, 1.0, 1.0, ()),
    ("StartTransaction.late.rate < 2%", True, 0.01, 0.02, ()),
    ("count >= 1304", True, 1304.0, 1304.0, ()),
    # every action: MeterValues has no answers at all, so no p99 to judge: fails, named.
    ("*.p99 < 10s", False, None, 10_000.0, ("MeterValues", "no answers")),
    ("model-a:*.p99 < 10s", True, 9000.0, 10_000.0, ("all 3 actions pass", "StartTransaction")),
    ("model-a:*.max < 150ms", False, 13_000.0, 150.0, ("2 of 3 actions fail", "StartTransaction", "BootNotification")),
    # What the run cannot answer fails, saying why.
    ("Authorize.p99 < 1s", False, None, 1000.0, ("never saw Authorize", "actions seen: BootNotification")),
    ("Authorize.count == 0", False, None, 0.0, ("never saw Authorize",)),
    ("model-a:MeterValues.p99 < 1s", False, None, 1000.0, ("never saw MeterValues from model-a",)),
    ("model-c:Heartbeat.p99 < 1s", False, None, 1000.0, ("model 'model-c' was not in this run", "model-a, model.b")),
    ("model-a:Heartbeat.p99 < 1s", True, 12.0, 1000.0, ()),
    ("MeterValues.p50 < 1s", False, None, 1000.0, ("no answers", "4 timed out")),
]


@pytest.mark.parametrize(("expression", "passed", "observed", "limit", "words"), JUDGED, ids=[j[0] for j in JUDGED])
def test_thresholds_are_judged_against_the_summary(expression: str, passed: bool, observed: float | None,
                                                   limit: float | None, words: tuple[str, ...]) -> None:
    (verdict,) = evaluate([parse_threshold(expression)], SUMMARY)
    assert verdict.expression == expression
    assert verdict.passed is passed, verdict.detail
    assert verdict.observed == pytest.approx(observed) if observed is not None else verdict.observed is None
    assert verdict.limit == pytest.approx(limit)
    for word in words:
        assert word in verdict.detail, verdict.detail


def test_a_run_with_no_calls_fails_every_threshold() -> None:
    empty = {"schema_version": 1, "run": {}, "models": {}, "fleet": {"exchanges": {}}}
    verdicts = evaluate([parse_threshold("timeouts == 0"), parse_threshold("errors.rate < 1%")], empty)
    assert [v.passed for v in verdicts] == [False, False]
    assert all("no calls" in v.detail for v in verdicts)


def test_verdicts_keep_their_order_and_print_one_line_each() -> None:
    thresholds = [parse_threshold(e) for e in ("timeouts == 0", "BootNotification.p99 < 2s")]
    verdicts = evaluate(thresholds, SUMMARY)
    assert [v.expression for v in verdicts] == ["timeouts == 0", "BootNotification.p99 < 2s"]
    lines = verdict_lines(verdicts)
    assert lines[0].startswith("✗ timeouts == 0") and lines[1].startswith("✓ BootNotification.p99 < 2s")
    assert lines[-1] == "thresholds: 1 passed, 1 failed"


def test_a_threshold_is_a_value() -> None:
    assert parse_threshold("timeouts == 0") == Threshold("timeouts == 0", "timeouts", "==", 0.0)


@pytest.mark.parametrize(("value", "unit", "text"), [
    (0.2254, "ms", "225 µs"), (12.34, "ms", "12.3 ms"), (250.0, "ms", "250 ms"), (2500.0, "ms", "2.5 s"),
    (0.00153, "share", "0.153%"), (0.0, "share", "0%"), (3.0, "calls", "3"), (None, "ms", "n/a"),
])
def test_values_read_as_people_write_them(value: float | None, unit: str, text: str) -> None:
    assert format_value(value, unit) == text
    if unit == "ms" and value is not None:
        assert format_ms(value) == text
