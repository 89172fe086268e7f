"""Thresholds: pass/fail criteria on a run's ``summary.json``, in k6's syntax.

    BootNotification.p99 < 2s               an action, fleet-wide (corrected latency)
    MeterValues.service.p50 <= 20ms         the service time instead
    StartTransaction.p99.9 < declared       each model against its own declared response timeout
    bescore-bsc-s12bcc:Heartbeat.p99 < 500ms   one model
    *.p99 < 1s                              every action the run saw
    errors.rate < 0.1%                      over every action
    timeouts == 0
    connect.p99 < 2s                        connection setup (TCP + TLS + WebSocket handshake)
    boot.p99 < 5s                           connection open to BootNotification Accepted
    connect.failures == 0                   failed connection attempts
    stations.booted.rate > 95%              the share of the fleet ever Accepted (allows a partial fleet)
    outage.booted_after < 30s               the slowest recovery over the run's CSMS outages
    BootNotification.p(95) < 2s             any percentile: p95, p99.99, k6's p(95)
    errors.rate < 1% abort after 30s        judged live too: stops the run once it fails

Grammar: ``[MODEL:][ACTION.][service.|corrected.]METRIC OP VALUE [abort [after
DURATION]]`` for the calls the stations send, ``[MODEL:]CONNECTION_METRIC OP
VALUE`` for their connections and ``OUTAGE_METRIC OP VALUE`` for the recovery
from CSMS outages (each with the same ``abort`` suffix).

* METRIC: ``pN`` for any percentile N above 0 and below 100 (``p95``,
  ``p99.99``, k6's ``p(95)``) and ``max`` (latency, ms in summary.json),
  ``count errors timeouts late`` (calls), ``errors.rate timeouts.rate
  late.rate`` (shares of ``count``).
* ACTION: a call the stations send (``Heartbeat``), ``*`` for every action the
  run saw (each judged on its own), or nothing for the sum over actions (counts
  and rates only: percentiles of different actions cannot be added from
  summary.json).
* OP: ``< <= > >= == !=``.  VALUE: a latency with its unit (``800us``,
  ``20ms``, ``2s``) or ``declared``; a share as ``0.1%`` or ``0.001``; a count
  as a plain number.
* CONNECTION_METRIC, from the ``connection`` and ``boot`` sections: ``connect.pN``,
  ``connect.max`` (setup time), ``boot.pN``, ``boot.max`` (connection open to
  BootNotification Accepted), ``connects reconnects disconnects
  connect.failures`` (counts; failures and disconnects summed over reasons),
  ``connect.failures.rate`` (share of attempts: ``connects`` plus failures).
* OUTAGE_METRIC, fleet-wide from ``faults.outages``: ``outage.booted_after``
  (until every station was connected and booted again) and
  ``outage.delivered_after`` (until every queued transaction message was
  delivered), real time, judged for every outage: the worst decides.  An
  outage the fleet had not recovered from by the end of the run fails.

* ``abort``: the threshold is also judged at every interval of the run, on its
  figures so far, and the first failure stops the run (k6's ``abortOnFail``);
  ``after DURATION`` (``30s``, ``5m``) judges it live only once the run is that
  old (k6's ``delayAbortEval``).  Live, only a figure observed past its limit
  aborts: a figure the run cannot give yet (no calls so far) waits.

What the run cannot answer fails, with the reason: an action it never saw, a
model that was not in it, a percentile with no answers to read it from (or one
summary.json does not list, when no ``latency.hlog`` was read), an outage
metric in a run without an outage.  A gate that passes because there was
nothing to judge would hide a broken run.

Pure: a threshold is parsed from text (fleetsim.report.threshold_grammar)
and judged against a decoded ``summary.json`` (results/README.md), or, live,
against what summary.json would say so far (:func:`judge_live`, for ``abort``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import msgspec

from fleetsim.report import connection_figures as figures
from fleetsim.report.threshold_grammar import (
    COUNT_FIELDS,
    COUNT_METRICS,
    EVERY_ACTION,
    FLEET,
    LATENCY_METRICS,
    METRICS,
    NOT_PER_ACTION,
    OPERATORS,
    Threshold,
    ThresholdError,
    is_connection_metric,
    is_latency,
    is_per_action,
    is_setup_latency,
    parse_threshold,
    suggest,
)

__all__ = [
    "FLEET", "LATENCY_METRICS", "METRICS", "NOT_PER_ACTION", "Threshold", "ThresholdError", "Verdict", "evaluate",
    "figure_steps", "format_ms", "format_value", "judge_live", "parse_threshold", "verdict_lines", "verdict_records",
]


class Verdict(msgspec.Struct, frozen=True):
    """A threshold judged.  ``observed`` and ``limit`` are in ``unit`` (ms, a
    share 0..1, calls or connections); for ``*``, ``declared`` or outages they
    are those of the worst case judged, which ``detail`` names."""

    expression: str
    passed: bool
    observed: float | None
    limit: float | None
    unit: str
    detail: str
    abort: bool = False  # the threshold could abort the run
    aborted_run: bool = False  # it did: judged live, it failed and stopped the run


# ---------------------------------------------------------------- evaluation


class _Case(msgspec.Struct, frozen=True):
    """One figure judged: which (model, action), what was observed, the limit."""

    label: str
    observed: float | None
    limit: float
    why_missing: str = ""
    note: str = ""  # what the figure is made of


def evaluate(thresholds: Sequence[Threshold], summary: Mapping[str, Any]) -> list[Verdict]:
    """Judge each threshold against a decoded ``summary.json``."""
    return [_judge(threshold, summary) for threshold in thresholds]


def _judge(threshold: Threshold, summary: Mapping[str, Any]) -> Verdict:
    cases = _cases(threshold, summary)
    if isinstance(cases, str):
        return Verdict(threshold.expression, False, None, threshold.limit, threshold.unit, cases, threshold.abort)
    return _verdict(threshold, cases)


def judge_live(threshold: Threshold, summary: Mapping[str, Any]) -> Verdict | None:
    """The threshold judged on a run's figures so far (a live summary,
    fleetsim.metrics.summary.live_summary): its failing verdict when a figure
    is past its limit, else None.  A figure the run cannot give yet (no calls
    so far, an outage not recovered from yet) is no failure yet: the run goes
    on, and the judgement at its end says what it could not answer."""
    cases = _cases(threshold, summary)
    if isinstance(cases, str):
        return None
    compare = OPERATORS[threshold.op]
    observed = [case for case in cases if case.observed is not None]
    if all(compare(case.observed, case.limit) for case in observed):
        return None
    return msgspec.structs.replace(_verdict(threshold, observed), aborted_run=True)


def figure_steps(threshold: Threshold, summary: Mapping[str, Any]) -> Iterator[None]:
    """Read, one at a time, the latency figures :func:`judge_live` will read
    from a live summary (each made when first read: an added histogram and a
    percentile cost up to a millisecond), so that a caller can let other work
    run in between.  Reading nothing, or too much, changes no verdict."""
    metric = threshold.metric
    if is_setup_latency(metric):
        scope = (summary.get("models") or {}).get(threshold.model) if threshold.model else summary.get("fleet")
        section = (scope or {}).get("connection" if metric.startswith("connect.") else "boot") or {}
        block = section.get("connect_ms" if metric.startswith("connect.") else "boot_ms")
        if block is not None:
            block.get(metric.partition(".")[2])
        yield
        return
    if not is_latency(metric) or threshold.action is None:
        return
    models = summary.get("models") or {}
    if threshold.model is not None:
        sections = [models.get(threshold.model) or {}]
    elif threshold.declared:
        sections = [models[model_id] for model_id in models]
    else:
        sections = [summary.get("fleet") or {}]
    for section in sections:
        exchanges = section.get("exchanges") or {}
        actions = list(exchanges) if threshold.action == EVERY_ACTION else [threshold.action]
        for action in actions:
            block = (exchanges.get(action) or {}).get(f"{threshold.view}_ms")
            if block is not None:
                block.get(metric)
            yield


def _verdict(threshold: Threshold, cases: Sequence[_Case]) -> Verdict:
    compare = OPERATORS[threshold.op]
    judged = [(case, case.observed is not None and compare(case.observed, case.limit)) for case in cases]
    failing = [case for case, passed in judged if not passed]
    worst = _worst(failing or cases, threshold.op)
    what = f"{_describe_metric(threshold)}"
    if len(cases) == 1:
        case = cases[0]
        if case.observed is None:
            detail = f"{what}: {case.why_missing}"
        else:
            detail = (f"{what}: {format_value(case.observed, threshold.unit)} "
                      f"{'' if not failing else 'not '}{threshold.op} {format_value(case.limit, threshold.unit)}"
                      f"{f' ({case.note})' if case.note else ''}")
    else:
        judged_over = _noun(threshold)
        if failing:
            listed = "; ".join(_case_text(case, threshold) for case in failing[:5])
            more = f"; and {len(failing) - 5} more" if len(failing) > 5 else ""
            detail = f"{what}: {len(failing)} of {len(cases)} {judged_over} fail: {listed}{more}"
        else:
            detail = f"{what}: all {len(cases)} {judged_over} pass; closest: {_case_text(worst, threshold)}"
    return Verdict(threshold.expression, not failing, worst.observed, worst.limit, threshold.unit, detail,
                   threshold.abort)


def _noun(threshold: Threshold) -> str:
    if threshold.metric in figures.OUTAGE_METRICS:
        return "outages"
    per_model = threshold.declared and threshold.model is None
    if threshold.action == EVERY_ACTION:
        return "model/action pairs" if per_model else "actions"
    return "models"


def _case_text(case: _Case, threshold: Threshold) -> str:
    if case.observed is None:
        return f"{case.label} ({case.why_missing})"
    note = f" ({case.note})" if case.note else ""
    return (f"{case.label} {format_value(case.observed, threshold.unit)} vs "
            f"{format_value(case.limit, threshold.unit)}{note}")


def _worst(cases: Sequence[_Case], op: str) -> _Case:
    """The case furthest past (or closest to) its limit."""
    missing = [case for case in cases if case.observed is None]
    if missing:
        return missing[0]

    def ratio(case: _Case) -> float:
        assert case.observed is not None
        if case.limit == 0:
            return case.observed
        return case.observed / case.limit

    return min(cases, key=ratio) if op in (">", ">=") else max(cases, key=ratio)


def _describe_metric(threshold: Threshold) -> str:
    scope = threshold.model or FLEET
    if not is_per_action(threshold.metric):
        return figures.describe(threshold.metric, scope)
    action = {None: "all actions", EVERY_ACTION: "every action"}.get(threshold.action, threshold.action)
    view = ""
    if is_latency(threshold.metric):
        view = " service time" if threshold.view == "service" else " corrected latency"
    declared = ", each model against its own declared timeout" if threshold.declared else ""
    return f"{threshold.metric}{view} of {action} ({scope}{declared})"


def _cases(threshold: Threshold, summary: Mapping[str, Any]) -> list[_Case] | str:
    """Every figure the threshold judges, or why the run cannot answer it."""
    if threshold.metric in figures.OUTAGE_METRICS:
        outages = figures.outage_figures(threshold.metric, summary)
        return outages if isinstance(outages, str) else [_case(outage, threshold) for outage in outages]
    models: Mapping[str, Any] = summary.get("models") or {}
    if threshold.model is not None:
        if threshold.model not in models:
            return (f"model {threshold.model!r} was not in this run{suggest(threshold.model, models)} "
                    f"(models: {', '.join(sorted(models)) or 'none'})")
        scopes = [(threshold.model, models[threshold.model])]
    elif is_connection_metric(threshold.metric):
        scopes = [(FLEET, summary.get("fleet") or {})]
    elif threshold.declared:
        # The fleet's percentiles mix models of different timeouts: judge each
        # model's own figure against its own declaration.
        scopes = sorted(models.items())
    else:
        scopes = [(FLEET, summary.get("fleet") or {})]
    if is_connection_metric(threshold.metric):
        stations = figures.fleet_stations(summary, threshold.model)
        return [_case(figures.connection_figure(threshold.metric, scope, section, stations), threshold)
                for scope, section in scopes]
    cases: list[_Case] = []
    seen: set[str] = set()
    for scope, section in scopes:
        exchanges: Mapping[str, Any] = section.get("exchanges") or {}
        seen.update(exchanges)
        if threshold.action is None:
            if exchanges:
                cases.append(_summed_case(threshold, scope, exchanges))
            continue
        actions = sorted(exchanges) if threshold.action == EVERY_ACTION else [threshold.action]
        for action in actions:
            if action in exchanges:
                label = action if len(scopes) == 1 else f"{scope} {action}"
                cases.append(_action_case(threshold, label, exchanges[action], section))
    if cases:
        return cases
    if not seen:
        return f"the run recorded no calls{'' if threshold.model is None else f' from {threshold.model}'}"
    where = f" from {threshold.model}" if threshold.model else ""
    return (f"the run never saw {threshold.action}{where}, so it cannot be judged "
            f"(actions seen: {', '.join(sorted(seen))})")


def _case(figure: figures.Figure, threshold: Threshold) -> _Case:
    assert threshold.limit is not None  # 'declared' is refused by the parser but for call latencies
    return _Case(figure.label, figure.observed, threshold.limit, figure.why_missing, figure.note)


def _action_case(threshold: Threshold, label: str, exchange: Mapping[str, Any], section: Mapping[str, Any]) -> _Case:
    limit = threshold.limit
    if limit is None:
        declared_ms = exchange.get("declared_timeout_ms")
        if declared_ms is None and section.get("declared_timeout_s") is not None:
            declared_ms = section["declared_timeout_s"] * 1000
        if declared_ms is None:
            return _Case(label, None, math.nan, "the model's declared response timeout is unknown (a merged shard "
                                                "that left no profile of it)")
        limit = float(declared_ms)
    metric = threshold.metric
    if is_latency(metric):
        block = exchange.get(f"{threshold.view}_ms")
        if block is None:
            return _Case(label, None, limit, f"no answers to read a {metric} from ({exchange.get('count', 0)} calls, "
                                             f"{exchange.get('timeouts', 0)} timed out)")
        if block.get(metric) is None:
            return _Case(label, None, limit, not_listed(metric, block))
        return _Case(label, float(block[metric]), limit)
    if metric in COUNT_METRICS:
        return _Case(label, float(exchange.get(COUNT_FIELDS[metric], 0)), limit)
    count = exchange.get("count", 0)
    numerator = exchange.get(COUNT_FIELDS[metric.partition(".")[0]], 0)
    if not count:
        return _Case(label, None, limit, "no calls to take a share of")
    return _Case(label, numerator / count, limit)


def not_listed(key: str, block: Mapping[str, Any]) -> str:
    """Why a percentile is missing from a latency block of summary.json."""
    return (f"summary.json lists no {key} ({', '.join(block)}) and no latency.hlog was read to take it from "
            "(`fleetsim gate` reads the run folder's; `--percentiles` lists more in later runs)")


def _summed_case(threshold: Threshold, scope: str, exchanges: Mapping[str, Any]) -> _Case:
    assert threshold.limit is not None  # a summed latency is refused by the parser
    field = COUNT_FIELDS[threshold.metric.partition(".")[0]]
    total = sum(exchange.get(field, 0) for exchange in exchanges.values())
    if threshold.metric in COUNT_METRICS:
        return _Case(scope, float(total), threshold.limit)
    count = sum(exchange.get("count", 0) for exchange in exchanges.values())
    if not count:
        return _Case(scope, None, threshold.limit, "no calls to take a share of")
    return _Case(scope, total / count, threshold.limit)


# ---------------------------------------------------------------- formatting


def format_ms(ms: float) -> str:
    """A latency for people: 850 µs, 12.3 ms, 2.5 s."""
    if ms < 1:
        return f"{ms * 1000:.0f} µs"
    if ms < 1000:
        return f"{ms:.3g} ms" if ms < 100 else f"{ms:.0f} ms"
    return f"{ms / 1000:.3g} s"


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "ms":
        return format_ms(value)
    if unit == "share":
        return f"{value * 100:.3g}%"
    return f"{value:g}"


def verdict_lines(verdicts: Sequence[Verdict]) -> list[str]:
    """One line per verdict for a terminal, then the count that failed."""
    width = max((len(verdict.expression) for verdict in verdicts), default=0)
    lines = []
    for verdict in verdicts:
        mark = "✓" if verdict.passed else "✗"
        lines.append(f"{mark} {verdict.expression:<{width}}  {verdict.detail}")
    failed = sum(not verdict.passed for verdict in verdicts)
    lines.append(f"thresholds: {len(verdicts) - failed} passed, {failed} failed")
    return lines


def verdict_records(verdicts: Sequence[Verdict]) -> list[dict[str, Any]]:
    """The verdicts as summary.json's ``thresholds`` (results/README.md)."""
    return [{
        "expression": verdict.expression,
        "passed": verdict.passed,
        "observed": None if verdict.observed is None else format_value(verdict.observed, verdict.unit),
        "detail": verdict.detail,
        "abort": verdict.abort,
        "aborted_run": verdict.aborted_run,
    } for verdict in verdicts]
