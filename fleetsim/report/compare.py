"""Two runs side by side: per action, fleet-wide and per model, how p50, p99,
max, count and errors moved from a base run to a new one, and which moves are
regressions past the limits given (``--max-regression p99=10%``).

A limit is ``METRIC=ALLOWED``:

* a latency (``p50 p90 p99 p99.9 max``, ``service.p99``...): ``10%`` of the
  base value, or an absolute increase with its unit (``5ms``);
* a share (``errors.rate timeouts.rate late.rate``): an increase in
  percentage points (``0.1%``: from 0.2 % to 0.35 % is a regression);
* a count (``errors timeouts late``): an absolute increase (``0``), or ``%`` of
  the base count.

Only increases are regressions: every metric here is better lower.  Rows with
fewer than ``min_count`` calls on either side are shown but not judged (a p99
of three calls says little), except that an action the base run had at least
``min_count`` calls of and the new run has no answered call of (missing, or
every call timed out), while the base had answers, is a regression: no limit can be judged on it, and a
gate fails what the run cannot answer.

Pure: takes two decoded ``summary.json`` documents.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

import msgspec

from fleetsim.report.threshold_grammar import COUNT_FIELDS, FLEET, LATENCY_METRICS, LATENCY_UNITS_MS, RATE_METRICS
from fleetsim.report.thresholds import format_value

SHOWN: Final = ("p50", "p99", "max", "count", "errors")
COUNTED: Final = ("errors", "timeouts", "late")
_LIMIT = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(%|us|µs|ms|s)?\s*$")


class RegressionLimit(msgspec.Struct, frozen=True):
    text: str
    metric: str  # "p99", "service.p99", "errors.rate", "errors", ...
    allowed: float  # relative: a share of the base value; absolute: in the metric's unit (ms, share, calls)
    relative: bool


def parse_regression_limit(text: str) -> RegressionLimit:
    """``p99=10%`` → :class:`RegressionLimit`; ValueError saying why if not."""
    metric, sep, value = text.partition("=")
    metric = metric.strip()
    known = [*LATENCY_METRICS, *(f"service.{m}" for m in LATENCY_METRICS), *RATE_METRICS, *COUNTED]
    if not sep or metric not in known:
        raise ValueError(f"{text!r}: expected METRIC=LIMIT, as in p99=10% or errors.rate=0.1%; "
                         f"metrics: {', '.join(known)}")
    match = _LIMIT.match(value)
    if match is None:
        raise ValueError(f"{text!r}: {value.strip()!r} is not a limit like 10%, 5ms or 0")
    number, unit = float(match.group(1)), match.group(2) or ""
    if metric in RATE_METRICS:
        if unit not in ("%", ""):
            raise ValueError(f"{text!r}: a share's increase is in percentage points, as in 0.1%")
        return RegressionLimit(text, metric, number / 100 if unit == "%" else number, relative=False)
    if metric.removeprefix("service.") in LATENCY_METRICS:
        if unit == "%":
            return RegressionLimit(text, metric, number / 100, relative=True)
        if not unit:
            raise ValueError(f"{text!r}: a latency limit is a share of the base (10%) or has a unit (5ms)")
        return RegressionLimit(text, metric, number * LATENCY_UNITS_MS[unit], relative=False)
    if unit == "%":
        return RegressionLimit(text, metric, number / 100, relative=True)
    if unit:
        raise ValueError(f"{text!r}: {metric} is a number of calls: no unit, or a % of the base")
    return RegressionLimit(text, metric, number, relative=False)


class Change(msgspec.Struct, frozen=True):
    base: float | None
    new: float | None

    @property
    def relative(self) -> float | None:
        if self.base is None or self.new is None or self.base == 0:
            return None
        return self.new / self.base - 1


class Regression(msgspec.Struct, frozen=True):
    scope: str
    action: str
    limit: str
    base: float | None
    new: float | None
    unit: str
    reason: str = ""  # set when the new run cannot answer the limits at all

    def text(self) -> str:
        if self.reason:
            return f"{self.scope} {self.action}: {self.reason} (limits: {self.limit})"
        return (f"{self.scope} {self.action}: {self.limit.partition('=')[0]} {format_value(self.base, self.unit)} → "
                f"{format_value(self.new, self.unit)} (allowed: {self.limit})")


class Row(msgspec.Struct, frozen=True):
    scope: str  # FLEET or a model id
    action: str
    changes: dict[str, Change]  # metric -> base and new
    judged: bool  # False: missing on a side, or too few calls
    regressions: list[Regression]
    note: str = ""


class Comparison(msgspec.Struct, frozen=True):
    base_run: dict[str, Any]
    new_run: dict[str, Any]
    metrics: list[str]  # columns: SHOWN and those the limits name
    rows: list[Row]
    notes: list[str]
    limits: list[str]  # the limits judged, as given

    @property
    def regressions(self) -> list[Regression]:
        return [regression for row in self.rows for regression in row.regressions]

    @property
    def passed(self) -> bool:
        return not self.regressions


def unit_of(metric: str) -> str:
    if metric.removeprefix("service.") in LATENCY_METRICS:
        return "ms"
    return "share" if metric in RATE_METRICS else "calls"


def figure(exchange: Mapping[str, Any] | None, metric: str) -> float | None:
    """One figure of an exchange of summary.json (None when it has none)."""
    if exchange is None:
        return None
    latency = metric.removeprefix("service.")
    if latency in LATENCY_METRICS:
        block = exchange.get("service_ms" if metric.startswith("service.") else "corrected_ms")
        return None if block is None else float(block[latency])
    if metric in RATE_METRICS:
        count = exchange.get("count", 0)
        return exchange.get(COUNT_FIELDS[metric.partition(".")[0]], 0) / count if count else None
    return float(exchange.get(COUNT_FIELDS[metric], 0))


def _regressed(limit: RegressionLimit, change: Change) -> bool:
    if change.base is None or change.new is None:
        return False
    if limit.relative:
        return change.new > change.base * (1 + limit.allowed)
    # Rounding: summary.json's figures are µs-precise; a float sum must not
    # make an increase of exactly the allowance a regression.
    return change.new - change.base > limit.allowed + 1e-9


def compare(base: Mapping[str, Any], new: Mapping[str, Any], limits: Sequence[RegressionLimit] = (),
            *, min_count: int = 1) -> Comparison:
    metrics = list(SHOWN) + [limit.metric for limit in limits if limit.metric not in SHOWN]
    metrics = list(dict.fromkeys(metrics))
    rows: list[Row] = []
    notes: list[str] = []
    base_models, new_models = base.get("models") or {}, new.get("models") or {}
    scopes: list[tuple[str, Mapping[str, Any], Mapping[str, Any]]] = [(FLEET, base.get("fleet") or {},
                                                                       new.get("fleet") or {})]
    for model_id in sorted(base_models.keys() | new_models.keys()):
        if model_id not in new_models:
            notes.append(f"model {model_id} is only in the base run")
        elif model_id not in base_models:
            notes.append(f"model {model_id} is only in the new run")
        else:
            scopes.append((model_id, base_models[model_id], new_models[model_id]))
    for scope, base_section, new_section in scopes:
        base_exchanges = base_section.get("exchanges") or {}
        new_exchanges = new_section.get("exchanges") or {}
        for action in sorted(base_exchanges.keys() | new_exchanges.keys()):
            rows.append(_row(scope, action, base_exchanges.get(action), new_exchanges.get(action), metrics, limits,
                             min_count))
    return Comparison(base.get("run") or {}, new.get("run") or {}, metrics, rows, notes,
                      [limit.text for limit in limits])


def _row(scope: str, action: str, base: Mapping[str, Any] | None, new: Mapping[str, Any] | None,
         metrics: Sequence[str], limits: Sequence[RegressionLimit], min_count: int) -> Row:
    changes = {metric: Change(figure(base, metric), figure(new, metric)) for metric in metrics}
    unanswered = _unanswered(scope, action, base, new, limits, min_count)
    if unanswered is not None:
        return Row(scope, action, changes, True, [unanswered], "no answered call in the new run")
    note = ""
    if base is None:
        note = "only in the new run"
    elif new is None:
        note = "only in the base run"
    elif min(base.get("count", 0), new.get("count", 0)) < min_count:
        note = f"fewer than {min_count} calls: not judged"
    judged = not note
    regressions = []
    if judged:
        for limit in limits:
            change = Change(figure(base, limit.metric), figure(new, limit.metric))
            if _regressed(limit, change):
                regressions.append(Regression(scope, action, limit.text, change.base, change.new,
                                              unit_of(limit.metric)))
    return Row(scope, action, changes, judged, regressions, note)


def _unanswered(scope: str, action: str, base: Mapping[str, Any] | None, new: Mapping[str, Any] | None,
                limits: Sequence[RegressionLimit], min_count: int) -> Regression | None:
    """A regression when the base run could be judged and the new one has no
    answered call: its latencies are missing, not better."""
    base_count = (base or {}).get("count", 0)
    if (not limits or base is None or base_count < min_count or not base.get("answered", 0)
            or (new or {}).get("answered", 0) > 0):
        return None
    if new is None:
        reason = f"missing from the new run ({base_count} calls in the base)"
    else:
        reason = f"no call answered in the new run ({new.get('timeouts', 0)} timed out; {base_count} calls in the base)"
    return Regression(scope, action, ", ".join(limit.text for limit in limits), float(base_count),
                      float(new.get("answered", 0)) if new is not None else None, "calls", reason)


# ---------------------------------------------------------------- text


def _cell(change: Change, unit: str) -> str:
    if change.base is None and change.new is None:
        return "-"

    def short(value: float | None) -> str:
        if value is None:
            return "-"
        if unit == "ms":
            return f"{value:.3g}" if value < 1000 else f"{value:.0f}"
        return format_value(value, unit)

    text = f"{short(change.base)}→{short(change.new)}"
    relative = change.relative
    if relative is not None and unit != "share":
        text += f" {relative * 100:+.0f}%"
    return text


def _run_line(label: str, run: Mapping[str, Any]) -> str:
    fleet = run.get("fleet") or {}
    return (f"{label}: {run.get('id', '?')} ({sum(fleet.values())} stations, {run.get('duration_s') or 0:g} s, "
            f"{run.get('csms', '?')}, host {run.get('host', '?')})")


def comparison_table(comparison: Comparison) -> str:
    """The comparison for a terminal: run lines, one row per scope and action
    (latencies in ms), then the regressions."""
    headers = [f"{metric} ms" if unit_of(metric) == "ms" else metric for metric in comparison.metrics]
    width = 22
    lines = [_run_line("base", comparison.base_run), _run_line("new ", comparison.new_run)]
    if comparison.base_run.get("fleet") != comparison.new_run.get("fleet"):
        lines.append("note: the fleets differ, so counts are not like for like")
    lines.append("")
    header = f"{'model':<32} {'action':<30} " + " ".join(f"{h:>{width}}" for h in headers)
    lines += [header, "-" * len(header)]
    previous_scope = FLEET
    for row in comparison.rows:
        if row.scope != previous_scope:
            lines.append("")
            previous_scope = row.scope
        cells = " ".join(f"{_cell(row.changes[m], unit_of(m)):>{width}}" for m in comparison.metrics)
        mark = "  ✗ regression" if row.regressions else f"  ({row.note})" if row.note else ""
        lines.append(f"{row.scope[:32]:<32} {row.action[:30]:<30} {cells}{mark}")
    lines.extend(f"note: {note}" for note in comparison.notes)
    regressions = comparison.regressions
    lines.append("")
    if regressions:
        lines.append(f"{len(regressions)} regression{'s' if len(regressions) != 1 else ''}:")
        lines.extend(f"  ✗ {regression.text()}" for regression in regressions)
    elif comparison.limits:
        lines.append(f"no regression past the limits ({', '.join(comparison.limits)})")
    else:
        lines.append("no --max-regression given: differences shown, nothing judged")
    return "\n".join(lines)
