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

Grammar: ``[MODEL:][ACTION.][service.|corrected.]METRIC OP VALUE`` for the calls
the stations send, ``[MODEL:]CONNECTION_METRIC OP VALUE`` for their connections
and ``OUTAGE_METRIC OP VALUE`` for the recovery from CSMS outages.

* METRIC: ``p50 p90 p99 p99.9 max`` (latency, ms in summary.json), ``count
  errors timeouts late`` (calls), ``errors.rate timeouts.rate late.rate``
  (shares of ``count``).
* ACTION: a call the stations send (``Heartbeat``), ``*`` for every action the
  run saw (each judged on its own), or nothing for the sum over actions (counts
  and rates only: percentiles of different actions cannot be added from
  summary.json).
* OP: ``< <= > >= == !=``.  VALUE: a latency with its unit (``800us``,
  ``20ms``, ``2s``) or ``declared``; a share as ``0.1%`` or ``0.001``; a count
  as a plain number.
* CONNECTION_METRIC, from the ``connection`` and ``boot`` sections: ``connect.p50
  .. connect.max`` (setup time), ``boot.p50 .. boot.max`` (connection open to
  BootNotification Accepted), ``connects reconnects disconnects
  connect.failures`` (counts; failures and disconnects summed over reasons),
  ``connect.failures.rate`` (share of attempts: ``connects`` plus failures).
* OUTAGE_METRIC, fleet-wide from ``faults.outages``: ``outage.booted_after``
  (until every station was connected and booted again) and
  ``outage.delivered_after`` (until every queued transaction message was
  delivered), real time, judged for every outage: the worst decides.  An
  outage the fleet had not recovered from by the end of the run fails.

What the run cannot answer fails, with the reason: an action it never saw, a
model that was not in it, a percentile with no answers to read it from, an
outage metric in a run without an outage.  A
gate that passes because there was nothing to judge would hide a broken run.

Pure: a threshold is parsed from text and judged against a decoded
``summary.json`` (results/README.md).
"""

from __future__ import annotations

import difflib
import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final, Literal

import msgspec

from fleetsim.metrics.summary import FIGURE_KEYS
from fleetsim.ocpp.actions import ACTIONS, Initiator
from fleetsim.report import connection_figures as figures

__all__ = [
    "LATENCY_METRICS", "METRICS", "NOT_PER_ACTION", "Threshold", "ThresholdError", "Verdict", "evaluate", "format_ms",
    "format_value", "parse_threshold", "verdict_lines",
]

LATENCY_METRICS: Final = FIGURE_KEYS
COUNT_METRICS: Final = ("count", "errors", "timeouts", "late")
RATE_METRICS: Final = ("errors.rate", "timeouts.rate", "late.rate")
METRICS: Final = LATENCY_METRICS + COUNT_METRICS + RATE_METRICS
VIEWS: Final = ("corrected", "service")
# Figures of the stations' connections (summary.json: connection, boot) and of
# the fleet's recovery from CSMS outages (faults.outages): not per action.
NOT_PER_ACTION: Final = figures.CONNECTION_METRICS + figures.OUTAGE_METRICS
_FAMILIES: Final = frozenset(metric.partition(".")[0] for metric in NOT_PER_ACTION)
# The calls a station sends, and so the ones summary.json has latencies for.
STATION_ACTIONS: Final = frozenset(
    name for name, spec in ACTIONS.items() if spec.initiator in (Initiator.CHARGE_POINT, Initiator.EITHER)
)
EVERY_ACTION: Final = "*"

OPERATORS: Final[dict[str, Callable[[float, float], bool]]] = {
    "<=": operator.le, ">=": operator.ge, "==": operator.eq, "!=": operator.ne, "<": operator.lt, ">": operator.gt,
}
_OPERATOR = re.compile(r"<=|>=|==|!=|<|>")
_NUMBER = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-zA-Zµ%]*)\s*$")
LATENCY_UNITS_MS: Final = {"us": 0.001, "µs": 0.001, "ms": 1.0, "s": 1000.0}
# summary.json field counted by each count metric (rates divide it by "count").
COUNT_FIELDS: Final = {"count": "count", "errors": "errors_total", "timeouts": "timeouts", "late": "late"}
FLEET: Final = "all models"  # the scope of fleet-wide figures, in every report

Unit = Literal["ms", "share", "calls", "connections"]


def _unit(metric: str) -> Unit:
    if metric in LATENCY_METRICS or metric in figures.SETUP_LATENCIES or metric in figures.OUTAGE_METRICS:
        return "ms"
    if metric in RATE_METRICS or metric in figures.CONNECTION_RATES:
        return "share"
    return "connections" if metric in figures.CONNECTION_COUNTS else "calls"


class ThresholdError(ValueError):
    """An expression that is not a threshold; says where (0-based column)."""

    def __init__(self, expression: str, column: int, message: str) -> None:
        super().__init__(message)
        self.expression = expression
        self.column = column
        self.message = message

    def __str__(self) -> str:
        return (f"{self.message} (column {self.column + 1})\n"
                f"  {self.expression}\n  {' ' * self.column}^")


class Threshold(msgspec.Struct, frozen=True):
    expression: str
    metric: str  # one of METRICS or NOT_PER_ACTION
    op: str  # one of OPERATORS
    limit: float | None  # ms, share (0..1) or calls; None when judged against the declared timeout
    model: str | None = None  # None: the fleet (all models)
    action: str | None = None  # None: summed over actions; "*": every action on its own
    view: str = "corrected"  # latency metrics: "corrected" or "service"

    @property
    def unit(self) -> Unit:
        return _unit(self.metric)

    @property
    def declared(self) -> bool:
        return self.limit is None


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


# ---------------------------------------------------------------- parsing


def parse_threshold(expression: str) -> Threshold:
    """``'BootNotification.p99 < 2s'`` → :class:`Threshold`; :class:`ThresholdError` if not."""
    found = _OPERATOR.search(expression)
    if found is None:
        raise ThresholdError(expression, len(expression.rstrip()),
                             "expected an operator (< <= > >= == !=) and a limit, as in 'BootNotification.p99 < 2s'")
    if _OPERATOR.search(expression, found.end()) is not None:
        second = _OPERATOR.search(expression, found.end())
        assert second is not None
        raise ThresholdError(expression, second.start(), "only one comparison per threshold")
    model, action, view, metric = _parse_left(expression, found.start())
    limit = _parse_limit(expression, found.end(), metric)
    if metric in LATENCY_METRICS and action is None:
        raise ThresholdError(expression, _first_char(expression, 0),
                             f"{metric} needs an action ('Heartbeat.{metric}', or '*.{metric}' for every action): "
                             "percentiles of different actions cannot be combined from summary.json")
    return Threshold(expression=expression, metric=metric, op=found.group(), limit=limit, model=model, action=action,
                     view=view)


def _first_char(text: str, start: int) -> int:
    while start < len(text) and text[start].isspace():
        start += 1
    return start


def _parse_left(expression: str, end: int) -> tuple[str | None, str | None, str, str]:
    """``[MODEL:][ACTION.][VIEW.]METRIC`` in ``expression[:end]``."""
    start = _first_char(expression, 0)
    left = expression[start:end].rstrip()
    if not left:
        raise ThresholdError(expression, start, "expected a metric before the operator, as in 'Heartbeat.p99'")
    model = None
    if ":" in left:
        model, _, rest = left.partition(":")
        if not model.strip() or model != model.strip():
            raise ThresholdError(expression, start, "expected a model id before ':' (no spaces)")
        start += len(model) + 1
        left = rest
    if not left or any(c.isspace() for c in left):
        column = start + next((i for i, c in enumerate(left) if c.isspace()), len(left))
        raise ThresholdError(expression, column, "expected ACTION.METRIC with no spaces, as in 'Heartbeat.p99'")
    if left.partition(".")[0] in _FAMILIES:
        return model, None, "corrected", _not_per_action(expression, left, start, model)
    segments, position = [], start
    for segment in left.split("."):
        segments.append((segment, position))
        position += len(segment) + 1
    action = None
    first, first_at = segments[0]
    if first not in VIEWS and not any(metric.split(".")[0] == first for metric in METRICS):
        _check_action(expression, first, first_at)
        action = first
        segments = segments[1:]
    view, view_at = "corrected", -1
    if segments and segments[0][0] in VIEWS:
        view, view_at = segments[0]
        segments = segments[1:]
    if not segments:
        raise ThresholdError(expression, position - 1,
                             f"expected a metric after {left!r}, one of: {', '.join(METRICS)}")
    metric = ".".join(segment for segment, _ in segments)
    if metric in NOT_PER_ACTION:
        raise ThresholdError(expression, segments[0][1] if action is None else first_at,
                             f"{metric} is not per action: write '{metric}' alone (or 'MODEL:{metric}')")
    if metric not in METRICS:
        raise ThresholdError(expression, segments[0][1],
                             f"unknown metric {metric!r}{_suggest(metric, METRICS)}; metrics: {', '.join(METRICS)}")
    if view_at >= 0 and metric not in LATENCY_METRICS:
        raise ThresholdError(expression, view_at, f"{view!r} applies to latencies ({', '.join(LATENCY_METRICS)}), "
                                                  f"not to {metric}")
    return model, action, view, metric


def _not_per_action(expression: str, left: str, start: int, model: str | None) -> str:
    """A connection or outage metric, ``left`` (at column ``start``)."""
    if left not in NOT_PER_ACTION:
        dot = left.find(".")
        raise ThresholdError(expression, start + dot + 1 if dot >= 0 else start,
                             f"unknown metric {left!r}{_suggest(left, NOT_PER_ACTION)}; connection and outage "
                             f"metrics: {', '.join(NOT_PER_ACTION)}")
    if model is not None and left in figures.OUTAGE_METRICS:
        raise ThresholdError(expression, _first_char(expression, 0),
                             f"{left} is fleet-wide (summary.json's faults.outages): no 'MODEL:'")
    return left


def _check_action(expression: str, action: str, column: int) -> None:
    if action == EVERY_ACTION:
        return
    if action in ACTIONS and action not in STATION_ACTIONS:
        raise ThresholdError(expression, column, f"{action} is sent by the CSMS: thresholds judge the calls the "
                                                 "stations send (their answers are in csms_calls)")
    if action not in STATION_ACTIONS:
        choices = sorted(STATION_ACTIONS) + list(METRICS) + sorted(_FAMILIES)
        raise ThresholdError(expression, column, f"unknown action or metric {action!r}{_suggest(action, choices)}")


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _parse_limit(expression: str, start: int, metric: str) -> float | None:
    text = expression[start:]
    column = _first_char(expression, start)
    unit_of_metric = _unit(metric)
    if text.strip() == "declared":
        if metric not in LATENCY_METRICS:
            needs = "a latency (2s, 500ms)" if unit_of_metric == "ms" else "a number"
            raise ThresholdError(expression, column, f"'declared' (the model's response timeout) applies to the "
                                                     f"latency of calls; {metric} needs {needs}")
        return None
    match = _NUMBER.match(text)
    if match is None:
        raise ThresholdError(expression, column, "expected a limit: a latency (2s, 500ms, 800us), 'declared', "
                                                 "a share (0.1%) or a count")
    value, unit = float(match.group(1)), match.group(2)
    unit_at = start + match.start(2)
    if unit_of_metric == "ms":
        if unit not in LATENCY_UNITS_MS:
            got = f", not {unit!r}" if unit else ""
            raise ThresholdError(expression, unit_at if unit else len(expression.rstrip()),
                                 f"a latency needs a unit: us, ms or s (as in 500ms){got}")
        return value * LATENCY_UNITS_MS[unit]
    if unit_of_metric == "share":
        if unit == "%":
            return value / 100
        if unit:
            raise ThresholdError(expression, unit_at, f"a share is written 0.1% or 0.001, not with {unit!r}")
        if value > 1:
            raise ThresholdError(expression, column,
                                 f"a share without % is a fraction from 0 to 1; did you mean {value:g}%?")
        return value
    if unit:
        noun = "calls" if unit_of_metric == "calls" else "connections or attempts"
        raise ThresholdError(expression, unit_at, f"{metric} is a number of {noun}: no unit")
    return value


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
        return Verdict(threshold.expression, False, None, threshold.limit, threshold.unit, cases)
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
    return Verdict(threshold.expression, not failing, worst.observed, worst.limit, threshold.unit, detail)


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
    if threshold.metric in NOT_PER_ACTION:
        return figures.describe(threshold.metric, scope)
    action = {None: "all actions", EVERY_ACTION: "every action"}.get(threshold.action, threshold.action)
    view = ""
    if threshold.metric in LATENCY_METRICS:
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
            return (f"model {threshold.model!r} was not in this run{_suggest(threshold.model, models)} "
                    f"(models: {', '.join(sorted(models)) or 'none'})")
        scopes = [(threshold.model, models[threshold.model])]
    elif threshold.metric in figures.CONNECTION_METRICS:
        scopes = [(FLEET, summary.get("fleet") or {})]
    elif threshold.declared:
        # The fleet's percentiles mix models of different timeouts: judge each
        # model's own figure against its own declaration.
        scopes = sorted(models.items())
    else:
        scopes = [(FLEET, summary.get("fleet") or {})]
    if threshold.metric in figures.CONNECTION_METRICS:
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
    if metric in LATENCY_METRICS:
        figures = exchange.get(f"{threshold.view}_ms")
        if figures is None:
            return _Case(label, None, limit, f"no answers to read a {metric} from ({exchange.get('count', 0)} calls, "
                                             f"{exchange.get('timeouts', 0)} timed out)")
        return _Case(label, float(figures[metric]), limit)
    if metric in COUNT_METRICS:
        return _Case(label, float(exchange.get(COUNT_FIELDS[metric], 0)), limit)
    count = exchange.get("count", 0)
    numerator = exchange.get(COUNT_FIELDS[metric.partition(".")[0]], 0)
    if not count:
        return _Case(label, None, limit, "no calls to take a share of")
    return _Case(label, numerator / count, limit)


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
