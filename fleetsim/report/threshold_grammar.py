"""The grammar of thresholds (fleetsim.report.thresholds, which judges them):
text to :class:`Threshold`, or a :class:`ThresholdError` saying what is wrong
and in which column.

Pure: text only.
"""

from __future__ import annotations

import difflib
import operator
import re
from collections.abc import Callable, Iterable
from typing import Final, Literal

import msgspec

from fleetsim.metrics.percentiles import canonical_metric, is_latency_key
from fleetsim.metrics.summary import BOOT, CONNECT, FIGURE_KEYS
from fleetsim.ocpp.actions import ACTIONS, Initiator
from fleetsim.report import connection_figures as figures

__all__ = [
    "COUNT_FIELDS", "COUNT_METRICS", "EVERY_ACTION", "FLEET", "LATENCY_METRICS", "LATENCY_UNITS_MS", "METRICS",
    "NOT_PER_ACTION", "OPERATORS", "RATE_METRICS", "Threshold", "ThresholdError", "is_connection_metric", "is_latency",
    "is_per_action", "is_setup_latency", "parse_threshold", "suggest", "unit_of",
]

LATENCY_METRICS: Final = FIGURE_KEYS  # those every summary.json has; any other percentile is one too
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
_ABORT = re.compile(r"\s+abort\b")
_AFTER = re.compile(r"\s+after\s+(\S+)\s*$")
_DURATION = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)(ms|s|m|h)$")
_SEGMENT = re.compile(r"p\([^)]*\)|[^.]+")
_PERCENTILE_LIKE = re.compile(r"^p[\d(.]")
DURATION_UNITS_S: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
LATENCY_UNITS_MS: Final = {"us": 0.001, "µs": 0.001, "ms": 1.0, "s": 1000.0}
# summary.json field counted by each count metric (rates divide it by "count").
COUNT_FIELDS: Final = {"count": "count", "errors": "errors_total", "timeouts": "timeouts", "late": "late"}
FLEET: Final = "all models"  # the scope of fleet-wide figures, in every report

Unit = Literal["ms", "share", "calls", "connections"]


def is_latency(metric: str) -> bool:
    """A figure of a call's latency block: any percentile (canonical ``p95``) or ``max``."""
    return is_latency_key(metric)


def is_setup_latency(metric: str) -> bool:
    """``connect.p95``, ``boot.max``, ...: a figure of a setup-time block."""
    stage, _, key = metric.partition(".")
    return stage in (CONNECT, BOOT) and is_latency_key(key)


def is_connection_metric(metric: str) -> bool:
    return metric in figures.CONNECTION_METRICS or is_setup_latency(metric)


def is_per_action(metric: str) -> bool:
    return not is_connection_metric(metric) and metric not in figures.OUTAGE_METRICS


def unit_of(metric: str) -> Unit:
    if is_latency(metric) or is_setup_latency(metric) or metric in figures.OUTAGE_METRICS:
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
    metric: str  # one of METRICS or NOT_PER_ACTION, or any percentile (canonical: p95, connect.p99.99)
    op: str  # one of OPERATORS
    limit: float | None  # ms, share (0..1) or calls; None when judged against the declared timeout
    model: str | None = None  # None: the fleet (all models)
    action: str | None = None  # None: summed over actions; "*": every action on its own
    view: str = "corrected"  # latency metrics: "corrected" or "service"
    abort: bool = False  # judged live at every interval too; the first failure stops the run
    abort_after_s: float = 0.0  # not judged live before the run is this old (seconds)

    @property
    def unit(self) -> Unit:
        return unit_of(self.metric)

    @property
    def declared(self) -> bool:
        return self.limit is None


# ---------------------------------------------------------------- parsing


def parse_threshold(expression: str) -> Threshold:
    """``'BootNotification.p99 < 2s'`` → :class:`Threshold`; :class:`ThresholdError` if not."""
    body, abort, after_s = _split_abort(expression)
    try:
        threshold = _parse_comparison(body)
    except ThresholdError as error:  # the same column, shown under the whole expression
        raise ThresholdError(expression, error.column, error.message) from None
    return msgspec.structs.replace(threshold, expression=expression, abort=abort, abort_after_s=after_s)


def _split_abort(expression: str) -> tuple[str, bool, float]:
    """The comparison, and its ``abort [after DURATION]`` suffix if any."""
    found = None
    for found in _ABORT.finditer(expression):  # noqa: B007 - the last one
        pass
    if found is None:
        return expression, False, 0.0
    rest = expression[found.end():]
    if not rest.strip():
        return expression[:found.start()], True, 0.0
    after = _AFTER.match(rest)
    if after is None:
        raise ThresholdError(expression, _first_char(expression, found.end()),
                             "after 'abort': nothing, or a grace period as in 'abort after 30s'")
    duration = _DURATION.match(after.group(1))
    if duration is None:
        raise ThresholdError(expression, found.end() + after.start(1),
                             "a grace period is a duration with its unit: 30s, 5m, 1h")
    return expression[:found.start()], True, float(duration.group(1)) * DURATION_UNITS_S[duration.group(2)]


def _parse_comparison(expression: str) -> Threshold:
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
    if is_latency(metric) and action is None:
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
    segments = [(match.group(), start + match.start()) for match in _SEGMENT.finditer(left)]
    if ".".join(segment for segment, _ in segments) != left:
        column = start + (left.find("..") + 1 if ".." in left else 0 if left.startswith(".") else len(left))
        raise ThresholdError(expression, column, "expected ACTION.METRIC, as in 'Heartbeat.p99'")
    action = None
    first, first_at = segments[0]
    if first not in VIEWS and not _PERCENTILE_LIKE.match(first) and not any(
            metric.split(".")[0] == first for metric in METRICS):
        _check_action(expression, first, first_at)
        action = first
        segments = segments[1:]
    view, view_at = "corrected", -1
    if segments and segments[0][0] in VIEWS:
        view, view_at = segments[0]
        segments = segments[1:]
    if not segments:
        raise ThresholdError(expression, start + len(left),
                             f"expected a metric after {left!r}, one of: {_METRIC_LIST}")
    metric = _metric(expression, ".".join(segment for segment, _ in segments), segments[0][1])
    if metric in NOT_PER_ACTION:
        raise ThresholdError(expression, segments[0][1] if action is None else first_at,
                             f"{metric} is not per action: write '{metric}' alone (or 'MODEL:{metric}')")
    if metric not in METRICS and not is_latency(metric):
        raise ThresholdError(expression, segments[0][1],
                             f"unknown metric {metric!r}{suggest(metric, METRICS)}; metrics: {_METRIC_LIST}")
    if view_at >= 0 and not is_latency(metric):
        raise ThresholdError(expression, view_at, f"{view!r} applies to latencies (percentiles and max), "
                                                  f"not to {metric}")
    return model, action, view, metric


_METRIC_LIST: Final = ("pN for any percentile (p95, p99.99, p(95)), max, " + ", ".join(COUNT_METRICS + RATE_METRICS))


def _metric(expression: str, text: str, column: int) -> str:
    """A percentile in its canonical spelling (``p(95)`` → ``p95``); other metrics as written."""
    if not _PERCENTILE_LIKE.match(text):
        return text
    canonical = canonical_metric(text)
    if canonical is None:
        raise ThresholdError(expression, column, f"{text!r} is not a percentile: pN with N above 0 and below 100, "
                                                 "as in p95, p99.99 or p(95) ('max' for the largest value)")
    return canonical


def _not_per_action(expression: str, left: str, start: int, model: str | None) -> str:
    """A connection or outage metric, ``left`` (at column ``start``)."""
    stage, dot, key = left.partition(".")
    if stage in (CONNECT, BOOT) and _PERCENTILE_LIKE.match(key):
        left = f"{stage}.{_metric(expression, key, start + len(stage) + 1)}"
    if left not in NOT_PER_ACTION and not is_setup_latency(left):
        raise ThresholdError(expression, start + len(stage) + 1 if dot else start,
                             f"unknown metric {left!r}{suggest(left, NOT_PER_ACTION)}; connection and outage "
                             f"metrics: connect.pN, connect.max, boot.pN, boot.max (pN: any percentile), "
                             f"{', '.join(m for m in NOT_PER_ACTION if not is_setup_latency(m))}")
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
        raise ThresholdError(expression, column, f"unknown action or metric {action!r}{suggest(action, choices)}")


def suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _parse_limit(expression: str, start: int, metric: str) -> float | None:
    text = expression[start:]
    column = _first_char(expression, start)
    unit_of_metric = unit_of(metric)
    if text.strip() == "declared":
        if not is_latency(metric):
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
