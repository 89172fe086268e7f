"""Thresholds in k6's syntax: what parses to what, what is refused and where,
and how each is judged against a summary.json made by hand."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hand_made import SUMMARY

from fleetsim.cli import main
from fleetsim.report.thresholds import (
    Threshold,
    ThresholdError,
    evaluate,
    format_ms,
    format_value,
    parse_threshold,
    verdict_lines,
)
from fleetsim.scenario.load import load_scenario

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
    # Any percentile, as k6 writes it too; kept in its canonical spelling.
    ("BootNotification.p(95) < 2s", (None, "BootNotification", "corrected", "p95", "<", 2000.0)),
    ("BootNotification.p95 < 2s", (None, "BootNotification", "corrected", "p95", "<", 2000.0)),
    ("Heartbeat.p99.99 < 1s", (None, "Heartbeat", "corrected", "p99.99", "<", 1000.0)),
    ("m:Heartbeat.service.p(99.9) <= 5ms", ("m", "Heartbeat", "service", "p99.9", "<=", 5.0)),
    ("*.p99.999 < declared", (None, "*", "corrected", "p99.999", "<", None)),
    ("StartTransaction.p(50) > 1ms abort", (None, "StartTransaction", "corrected", "p50", ">", 1.0)),
]

ABORTS = [
    # expression, abort, grace period (s)
    ("errors.rate < 1% abort", True, 0.0),
    ("timeouts == 0 abort after 30s", True, 30.0),
    ("BootNotification.p(99.9) < 2s  abort  after  2m ", True, 120.0),
    ("connect.failures.rate < 5% abort after 1.5h", True, 5400.0),
    ("outage.booted_after < 30s abort after 500ms", True, 0.5),
    ("errors.rate < 1%", False, 0.0),
]


@pytest.mark.parametrize(("expression", "abort", "after_s"), ABORTS, ids=[e for e, _, _ in ABORTS])
def test_abort_and_its_grace_period_parse(expression: str, abort: bool, after_s: float) -> None:
    threshold = parse_threshold(expression)
    assert (threshold.abort, threshold.abort_after_s) == (abort, after_s)
    assert threshold.expression == expression  # as written, suffix and all
    assert threshold.limit == parse_threshold(expression.split(" abort")[0]).limit


@pytest.mark.parametrize(("expression", "parsed"), GOOD, ids=[e for e, _ in GOOD])
def test_good_expressions_parse(expression: str, parsed: tuple[Any, ...]) -> None:
    threshold = parse_threshold(expression)
    assert (threshold.model, threshold.action, threshold.view, threshold.metric, threshold.op,
            threshold.limit) == parsed
    assert threshold.expression == expression


BAD = [
    # expression, column (0-based) of the caret, words the message must hold
    ("BootNotification.p100 < 2s", 17, ("'p100' is not a percentile", "'max'")),
    ("BootNotification.p(0) < 2s", 17, ("'p(0)' is not a percentile",)),
    ("BootNotification.p99..9 < 2s", 21, ("expected ACTION.METRIC",)),
    ("BootNotification.pmax < 2s", 17, ("unknown metric 'pmax'", "did you mean 'max'")),
    ("errors.rate < 1% abort later", 23, ("grace period", "abort after 30s")),
    ("timeouts == 0 abort after 30", 26, ("duration with its unit",)),
    ("timeouts == 0 abort after", 20, ("grace period",)),
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
    # A percentile summary.json does not list cannot be judged from it alone.
    ("BootNotification.p(95) < 2s", False, None, 2000.0, ("lists no p95", "p50, p90, p99, p99.9, max", "latency.hlog")),
    ("errors.rate < 0.2% abort after 30s", True, 2 / 1304, 0.002, ()),
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


# ---------------------------------------------------------------- connections, boot and outage recovery

SETUP_GOOD = [
    ("connect.p99 < 2s", (None, "connect.p99", "<", 2000.0, "ms")),
    ("boot.p99.9 <= 500ms", (None, "boot.p99.9", "<=", 500.0, "ms")),
    ("model-a:connect.max < 800us", ("model-a", "connect.max", "<", 0.8, "ms")),
    ("vendor.model-2:boot.p50 < 1s", ("vendor.model-2", "boot.p50", "<", 1000.0, "ms")),
    ("connect.failures == 0", (None, "connect.failures", "==", 0.0, "connections")),
    ("connect.failures.rate < 0.5%", (None, "connect.failures.rate", "<", 0.005, "share")),
    ("reconnects >= 2000", (None, "reconnects", ">=", 2000.0, "connections")),
    ("model-a:disconnects <= 3", ("model-a", "disconnects", "<=", 3.0, "connections")),
    ("connects > 0", (None, "connects", ">", 0.0, "connections")),
    ("outage.booted_after < 30s", (None, "outage.booted_after", "<", 30_000.0, "ms")),
    ("outage.delivered_after <= 1.5s", (None, "outage.delivered_after", "<=", 1500.0, "ms")),
]


@pytest.mark.parametrize(("expression", "parsed"), SETUP_GOOD, ids=[e for e, _ in SETUP_GOOD])
def test_connection_and_outage_metrics_parse(expression: str, parsed: tuple[Any, ...]) -> None:
    threshold = parse_threshold(expression)
    assert (threshold.model, threshold.metric, threshold.op, threshold.limit, threshold.unit) == parsed
    assert threshold.action is None


SETUP_BAD = [
    ("connect.pp99 < 2s", 8, ("unknown metric 'connect.pp99'", "did you mean 'connect.p99'")),
    ("boot.p(100) < 2s", 5, ("'p(100)' is not a percentile",)),
    ("outage.booted < 30s", 7, ("unknown metric 'outage.booted'", "did you mean 'outage.booted_after'")),
    ("conect.p99 < 2s", 0, ("unknown action or metric 'conect'", "did you mean 'connect'")),
    ("Heartbeat.connect.p99 < 2s", 0, ("connect.p99 is not per action",)),
    ("*.reconnects == 0", 0, ("reconnects is not per action",)),
    ("model-a:outage.booted_after < 30s", 0, ("fleet-wide",)),
    ("connect.p99 < 2", 15, ("needs a unit",)),
    ("connect.p99 < declared", 14, ("latency of calls", "needs a latency")),
    ("reconnects < declared", 13, ("latency of calls", "needs a number")),
    ("connect.failures == 0ms", 21, ("number of connections",)),
    ("connect.failures.rate < 5", 24, ("fraction", "5%")),
    ("outage.delivered_after < 3", 26, ("needs a unit",)),
]


@pytest.mark.parametrize(("expression", "column", "words"), SETUP_BAD, ids=[e for e, _, _ in SETUP_BAD])
def test_bad_connection_and_outage_metrics_say_what_and_where(expression: str, column: int,
                                                              words: tuple[str, ...]) -> None:
    with pytest.raises(ThresholdError) as raised:
        parse_threshold(expression)
    assert raised.value.column == column, str(raised.value)
    for word in words:
        assert word in raised.value.message, raised.value.message


def _percentiles(*values: float) -> dict[str, float]:
    return dict(zip(("p50", "p90", "p99", "p99.9", "max"), values, strict=True))


def _connected(summary: dict[str, Any]) -> dict[str, Any]:
    """SUMMARY with connection and boot sections (model.b never connected)
    and two CSMS outages, the second not fully recovered from."""
    summary = copy.deepcopy(summary)
    summary["fleet"] |= {
        "connection": {"connects": 4000, "reconnects": 2000, "failures": {"timeout": 3, "refused": 1},
                       "disconnects": {"storm": 2000, "reset": 5}, "connect_ms": _percentiles(2, 5, 40, 900, 1500)},
        "boot": {"answers": {"Accepted": 2000}, "boot_ms": _percentiles(3, 8, 120, 400, 700)},
    }
    summary["models"]["model-a"] |= {
        "connection": {"connects": 4000, "reconnects": 2000, "failures": {"timeout": 3, "refused": 1},
                       "disconnects": {"storm": 2000, "reset": 5}, "connect_ms": _percentiles(2, 5, 40, 900, 1500)},
        "boot": {"answers": {"Accepted": 2000}, "boot_ms": _percentiles(3, 8, 120, 400, 700)},
    }
    summary["models"]["model.b"] |= {
        "connection": {"connects": 0, "reconnects": 0, "failures": {"refused": 7}, "disconnects": {},
                       "connect_ms": None},
        "boot": {"answers": {}, "boot_ms": None},
    }
    summary["faults"] = {"injected": {"outage": 4000}, "outages": [
        {"at_s": 300.0, "for_s": 60.0, "stations": 2000, "queued_transaction_messages": 40, "booted_after_s": 12.5,
         "delivered_after_s": 14.0, "not_booted": 0, "undelivered": 0},
        {"at_s": 900.0, "for_s": 120.0, "stations": 2000, "queued_transaction_messages": 80, "booted_after_s": 20.0,
         "delivered_after_s": None, "not_booted": 0, "undelivered": 6},
    ]}
    return summary


CONNECTED = _connected(SUMMARY)

SETUP_JUDGED = [
    # expression, passed, observed, limit, words in the detail
    ("connect.p99 < 2s", True, 40.0, 2000.0, ("p99 of connection setup", "all models", "40 ms < 2 s")),
    ("connect.p99.9 < 500ms", False, 900.0, 500.0, ("900 ms not < 500 ms",)),
    ("connect.max <= 1.5s", True, 1500.0, 1500.0, ()),
    ("boot.p99 < 100ms", False, 120.0, 100.0, ("BootNotification Accepted", "120 ms not < 100 ms")),
    ("model-a:boot.p50 < 5ms", True, 3.0, 5.0, ("model-a",)),
    ("connect.failures == 0", False, 4.0, 0.0, ("failed connection attempts", "4 not == 0", "refused 1, timeout 3")),
    ("connect.failures <= 4", True, 4.0, 4.0, ()),
    # 4 failures of 4,004 attempts.
    ("connect.failures.rate < 0.1%", True, 4 / 4004, 0.001, ("4 of 4004 attempts",)),
    ("connect.failures.rate < 0.05%", False, 4 / 4004, 0.0005, ("0.0999%",)),
    ("reconnects >= 2000", True, 2000.0, 2000.0, ()),
    ("reconnects > 2000", False, 2000.0, 2000.0, ()),
    ("disconnects == 2005", True, 2005.0, 2005.0, ()),
    ("connects == 4000", True, 4000.0, 4000.0, ()),
    # A model that never connected: counts are judged, times cannot be.
    ("model.b:connects == 0", True, 0.0, 0.0, ()),
    ("model.b:connect.failures.rate < 100%", False, 1.0, 1.0, ("7 of 7 attempts: refused 7",)),
    ("model.b:connect.p99 < 2s", False, None, 2000.0, ("no connection was opened", "7 failed attempts: refused 7")),
    ("model.b:boot.p99 < 2s", False, None, 2000.0, ("no station was accepted", "answers: none")),
    ("model-c:connect.p99 < 2s", False, None, 2000.0, ("model 'model-c' was not in this run",)),
    # Outages: every one judged, the slowest decides.
    ("outage.booted_after < 30s", True, 20_000.0, 30_000.0, ("all 2 outages pass", "outage 2 (at 900 s for 120 s")),
    ("outage.booted_after < 15s", False, 20_000.0, 15_000.0, ("1 of 2 outages fail", "outage 2", "20 s vs 15 s")),
    ("outage.booted_after > 15s", False, 12_500.0, 15_000.0, ("1 of 2 outages fail", "outage 1")),
    # Not delivered by the end of the run: fails, saying how many stations still wait.
    ("outage.delivered_after < 3600s", False, None, 3_600_000.0, ("outage 2", "6 stations still had transaction")),
]


@pytest.mark.parametrize(("expression", "passed", "observed", "limit", "words"), SETUP_JUDGED,
                         ids=[j[0] for j in SETUP_JUDGED])
def test_connection_and_outage_thresholds_are_judged(expression: str, passed: bool, observed: float | None,
                                                     limit: float, words: tuple[str, ...]) -> None:
    (verdict,) = evaluate([parse_threshold(expression)], CONNECTED)
    assert verdict.passed is passed, verdict.detail
    assert verdict.observed == pytest.approx(observed) if observed is not None else verdict.observed is None
    assert verdict.limit == pytest.approx(limit)
    for word in words:
        assert word in verdict.detail, verdict.detail


def test_one_outage_not_recovered_from_fails_with_the_stations_left() -> None:
    summary = copy.deepcopy(CONNECTED)
    summary["faults"]["outages"] = [summary["faults"]["outages"][0] | {"booted_after_s": None, "not_booted": 17}]
    (verdict,) = evaluate([parse_threshold("outage.booted_after < 3600s")], summary)
    assert not verdict.passed and verdict.observed is None
    assert "17 of 2000 stations were not connected and booted again by the end of the run" in verdict.detail


@pytest.mark.parametrize(("faults", "words"), [
    (None, "no CSMS outage"),  # a summary.json from before faults were recorded
    ({"injected": {"storm": 2000}, "outages": []}, "[[faults.outages]]"),
])
def test_an_outage_metric_without_an_outage_fails_with_the_reason(faults: dict[str, Any] | None, words: str) -> None:
    summary = copy.deepcopy(SUMMARY)
    if faults is not None:
        summary["faults"] = faults
    verdicts = evaluate([parse_threshold("outage.booted_after < 30s"),
                         parse_threshold("outage.delivered_after < 30s")], summary)
    assert [v.passed for v in verdicts] == [False, False]
    assert all(words in v.detail and v.observed is None for v in verdicts)


def test_a_summary_without_connection_figures_fails_them_with_the_reason() -> None:
    (verdict,) = evaluate([parse_threshold("connect.failures == 0")], SUMMARY)  # hand-made: exchanges only
    assert not verdict.passed and "no connection figures" in verdict.detail


def test_fleetsim_gate_judges_connections_and_outages(tmp_path: Path) -> None:
    (tmp_path / "summary.json").write_text(json.dumps(CONNECTED))
    junit = tmp_path / "junit.xml"
    result = CliRunner().invoke(main, ["gate", str(tmp_path), "-t", "connect.p99 < 2s", "-t", "reconnects >= 2000",
                                       "-t", "outage.delivered_after < 60s", "--junit", str(junit)],
                                prog_name="fleetsim", catch_exceptions=False)
    assert result.exit_code == 99, result.output
    assert "✓ connect.p99 < 2s" in result.output and "✓ reconnects >= 2000" in result.output
    assert "✗ outage.delivered_after < 60s" in result.output
    assert "thresholds: 2 passed, 1 failed" in result.output
    assert 'failures="1"' in junit.read_text()
    bad = CliRunner().invoke(main, ["gate", str(tmp_path), "-t", "connect.pp99 < 2s"], prog_name="fleetsim")
    assert bad.exit_code == 2 and "did you mean 'connect.p99'" in bad.output


def test_the_reconnect_storm_gates_what_the_storm_stresses() -> None:
    loaded = load_scenario(Path(__file__).parents[2] / "scenarios" / "reconnect-storm.toml")
    metrics = {threshold.metric for threshold in loaded.thresholds}
    assert {"connect.p99", "connect.failures", "reconnects"} <= metrics
    assert any(t.action == "StatusNotification" for t in loaded.thresholds)


def test_connections_an_injected_outage_refused_are_no_connect_failures() -> None:
    summary = copy.deepcopy(CONNECTED)
    summary["fleet"]["connection"]["failures"] = {"outage": 2000}
    (verdict,) = evaluate([parse_threshold("connect.failures == 0")], summary)
    assert verdict.passed and verdict.observed == 0.0, verdict.detail
    summary["fleet"]["connection"]["failures"] = {"outage": 2000, "refused": 2}
    (verdict,) = evaluate([parse_threshold("connect.failures == 0")], summary)
    assert not verdict.passed and verdict.observed == 2.0


def test_a_declared_threshold_on_a_model_whose_timeout_is_unknown_fails_saying_so() -> None:
    summary = copy.deepcopy(SUMMARY)
    for section in summary["models"].values():
        section["declared_timeout_s"] = None
        for exchange in section["exchanges"].values():
            exchange["declared_timeout_ms"] = None
    (verdict,) = evaluate([parse_threshold("model-a:Heartbeat.p99 < declared")], summary)
    assert not verdict.passed and "declared response timeout is unknown" in verdict.detail
