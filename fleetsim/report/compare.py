"""Two runs side by side: per action, fleet-wide and per model, how p50, p99,
max, count and errors moved from a base run to a new one, and which moves are
regressions past the limits given (``--max-regression p99=10%``).

A limit is ``METRIC=ALLOWED`` (a bare ``ALLOWED``, as ``10%``, is one each for
p50, p95 and p99):

* a latency (any percentile ``p95``, ``p99.99``, k6's ``p(95)``, and ``max``;
  ``service.p99``...): ``10%`` of the base value, or an absolute increase with
  its unit (``5ms``);
* a share (``errors.rate timeouts.rate late.rate``): an increase in
  percentage points (``0.1%``: from 0.2 % to 0.35 % is a regression);
* a count (``errors timeouts late``): an absolute increase (``0``), or ``%`` of
  the base count.

Only increases are regressions: every metric here is better lower.  Rows with
fewer than ``min_count`` calls on either side are shown but not judged.  A
latency figure is judged only when each run has enough answers for it
(:func:`fleetsim.metrics.percentiles.min_samples`: ten beyond the percentile
on average, and at least 20: a p50 20, a p95 200, a p99 or a max 1,000), and
with a noise model (fleetsim.report.noise) an
increase past its limit is a regression only when the whole noise band of the
change is past it too: the variation of both runs, from interval to interval,
does not explain it.  Counts and rates are judged on their figures (no
interval data per action holds them).  An action the new run has no answered
call of (missing, or every call timed out), while the base had answers, is a
regression, no limit being judgeable on it, when the base had enough of them:
with a noise model, as many as make it unlikely by chance (were both runs
alike, each call would fall into either with even odds, so none of n in the new
run has odds 2^-n: 7 calls at 99 %); without one, enough to judge a limit.

Pure: takes two decoded ``summary.json`` documents (and a noise model).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

import msgspec

from fleetsim.metrics.percentiles import canonical_metric, is_latency_key, min_samples
from fleetsim.report.noise import Band, Noise
from fleetsim.report.threshold_grammar import COUNT_FIELDS, FLEET, LATENCY_UNITS_MS, RATE_METRICS
from fleetsim.report.thresholds import format_value

SHOWN: Final = ("p50", "p99", "max", "count", "errors")
COUNTED: Final = ("errors", "timeouts", "late")
BARE_LIMIT_METRICS: Final = ("p50", "p95", "p99")  # what a bare "10%" limits
_LIMIT = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(%|us|µs|ms|s)?\s*$")


class RegressionLimit(msgspec.Struct, frozen=True):
    text: str
    metric: str  # "p99", "service.p99", "errors.rate", "errors", ...
    allowed: float  # relative: a share of the base value; absolute: in the metric's unit (ms, share, calls)
    relative: bool


def parse_regression_limit(text: str) -> RegressionLimit:
    """``p99=10%`` → :class:`RegressionLimit`; ValueError saying why if not."""
    metric, sep, value = text.partition("=")
    metric = _canonical(metric.strip())
    if not sep or not _known(metric):
        raise ValueError(f"{text!r}: expected METRIC=LIMIT, as in p99=10% or errors.rate=0.1%; metrics: pN for any "
                         f"percentile (p95, p99.99, p(95)), max, service.pN, service.max, "
                         f"{', '.join(RATE_METRICS + COUNTED)}")
    match = _LIMIT.match(value)
    if match is None:
        raise ValueError(f"{text!r}: {value.strip()!r} is not a limit like 10%, 5ms or 0")
    number, unit = float(match.group(1)), match.group(2) or ""
    if metric in RATE_METRICS:
        if unit not in ("%", ""):
            raise ValueError(f"{text!r}: a share's increase is in percentage points, as in 0.1%")
        return RegressionLimit(text, metric, number / 100 if unit == "%" else number, relative=False)
    if is_latency(metric):
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


def parse_regression_limits(text: str) -> list[RegressionLimit]:
    """One ``--max-regression``: ``METRIC=LIMIT``, or a bare latency limit
    (``10%``, ``5ms``) for each of p50, p95 and p99."""
    if "=" not in text and _LIMIT.match(text):
        return [parse_regression_limit(f"{metric}={text.strip()}") for metric in BARE_LIMIT_METRICS]
    return [parse_regression_limit(text)]


def _canonical(metric: str) -> str:
    """``p(95)`` → ``p95``, ``service.p(99.9)`` → ``service.p99.9``."""
    view = "service." if metric.startswith("service.") else ""
    return view + (canonical_metric(metric.removeprefix("service.")) or metric.removeprefix("service."))


def is_latency(metric: str) -> bool:
    """A latency figure, of the corrected view or the service view."""
    return is_latency_key(metric.removeprefix("service."))


def _known(metric: str) -> bool:
    return is_latency(metric) or metric in RATE_METRICS or metric in COUNTED


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
    band: Band | None = None  # the change's noise band, when known
    noise_unknown: str = ""  # why it is not, when a noise model was asked for

    def text(self) -> str:
        if self.reason:
            return f"{self.scope} {self.action}: {self.reason} (limits: {self.limit})"
        noise = ""
        if self.band is not None:
            noise = f"; noise band {band_text(self.band)}"
        elif self.noise_unknown:
            noise = f"; noise unknown: {self.noise_unknown}"
        return (f"{self.scope} {self.action}: {self.limit.partition('=')[0]} {format_value(self.base, self.unit)} → "
                f"{format_value(self.new, self.unit)} (allowed: {self.limit}{noise})")


class Row(msgspec.Struct, frozen=True):
    scope: str  # FLEET or a model id
    action: str
    changes: dict[str, Change]  # metric -> base and new
    judged: bool  # False: missing on a side, or too few calls
    regressions: list[Regression]
    note: str = ""
    bands: dict[str, Band] = {}  # limited latency metric -> the noise band of its change
    unjudged: dict[str, str] = {}  # limited metric -> why it was not judged in this row (too few answers)
    within_noise: list[str] = []  # limited metrics past their limit, but not with their whole noise band


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
    if is_latency(metric):
        return "ms"
    return "share" if metric in RATE_METRICS else "calls"


def figure(exchange: Mapping[str, Any] | None, metric: str) -> float | None:
    """One figure of an exchange of summary.json (None when it has none)."""
    if exchange is None:
        return None
    latency = metric.removeprefix("service.")
    if is_latency_key(latency):
        block = exchange.get("service_ms" if metric.startswith("service.") else "corrected_ms")
        return None if block is None or block.get(latency) is None else float(block[latency])
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


def _past(limit: RegressionLimit, band: Band) -> bool:
    """Whether the whole noise band of a change is past the limit."""
    return band.low > limit.allowed + (0.0 if limit.relative else 1e-9)


def compare(base: Mapping[str, Any], new: Mapping[str, Any], limits: Sequence[RegressionLimit] = (),
            *, min_count: int = 1, noise: Noise | None = None, noise_unknown: str = "") -> Comparison:
    """``noise``: the runs' noise model (without one, latency limits are
    judged on the figures alone; ``noise_unknown`` says why there is none)."""
    metrics = list(SHOWN) + [limit.metric for limit in limits if limit.metric not in SHOWN]
    metrics = list(dict.fromkeys(metrics))
    rows: list[Row] = []
    notes: list[str] = []
    if noise_unknown and any(is_latency(limit.metric) for limit in limits):
        notes.append(f"noise unknown ({noise_unknown}): latencies judged on their figures alone")
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
    judge = _Judge(limits, min_count, noise, noise_unknown)
    for scope, base_section, new_section in scopes:
        base_exchanges = base_section.get("exchanges") or {}
        new_exchanges = new_section.get("exchanges") or {}
        for action in sorted(base_exchanges.keys() | new_exchanges.keys()):
            rows.append(judge.row(scope, action, base_exchanges.get(action), new_exchanges.get(action), metrics))
    return Comparison(base.get("run") or {}, new.get("run") or {}, metrics, rows, notes,
                      [limit.text for limit in limits])


class _Judge:
    def __init__(self, limits: Sequence[RegressionLimit], min_count: int, noise: Noise | None,
                 noise_unknown: str) -> None:
        self.limits = limits
        self.min_count = min_count
        self.noise = noise
        self.noise_unknown = noise_unknown

    def row(self, scope: str, action: str, base: Mapping[str, Any] | None, new: Mapping[str, Any] | None,
            metrics: Sequence[str]) -> Row:
        changes = {metric: Change(figure(base, metric), figure(new, metric)) for metric in metrics}
        unanswered = _unanswered(scope, action, base, new, self.limits, self._unanswered_needs())
        if unanswered is not None:
            return Row(scope, action, changes, True, [unanswered], "no answered call in the new run")
        note = ""
        if base is None:
            note = "only in the new run"
        elif new is None:
            note = "only in the base run"
        elif min(base.get("count", 0), new.get("count", 0)) < self.min_count:
            note = f"fewer than {self.min_count} calls: not judged"
        if note or base is None or new is None:
            return Row(scope, action, changes, False, [], note)
        regressions: list[Regression] = []
        bands: dict[str, Band] = {}
        unjudged: dict[str, str] = {}
        within: list[str] = []
        for limit in self.limits:
            change = Change(figure(base, limit.metric), figure(new, limit.metric))
            if is_latency(limit.metric):
                why = _too_few(limit.metric, base, new, change)
                if why:
                    unjudged[limit.metric] = why
                    continue
                band = None
                if self.noise is not None:
                    band = self.noise.band(scope, action, limit.metric, relative=limit.relative)
                    if band is not None:
                        bands[limit.metric] = band
                if not _regressed(limit, change):
                    continue
                if band is not None and not _past(limit, band):
                    within.append(limit.metric)
                    continue
                unknown = "no interval data for it" if self.noise is not None else self.noise_unknown
                regressions.append(Regression(scope, action, limit.text, change.base, change.new, "ms", band=band,
                                              noise_unknown="" if band is not None else unknown))
            elif _regressed(limit, change):
                regressions.append(Regression(scope, action, limit.text, change.base, change.new,
                                              unit_of(limit.metric)))
        return Row(scope, action, changes, True, regressions, note, bands, unjudged, within)

    def _unanswered_needs(self) -> int:
        """Answers in the base that make none in the new run a regression."""
        if not self.limits:
            return 0
        if self.noise is None:
            return min(_needed(limit, self.min_count) for limit in self.limits)
        # Both runs alike, a call falls into either with even odds: none of n
        # in the new run has odds 2^-n, to be below 1 - confidence.
        return max(self.min_count, math.ceil(math.log2(1 / max(1e-9, 1 - self.noise.confidence))))


def _too_few(metric: str, base: Mapping[str, Any], new: Mapping[str, Any], change: Change) -> str:
    """Why a latency figure is not judged in a row, or ""."""
    key = metric.removeprefix("service.")
    needed = min_samples(key)
    answers = (int(base.get("answered", 0)), int(new.get("answered", 0)))
    if min(answers) < needed:
        return f"{metric} not judged: {answers[0]}/{answers[1]} answers, needs {needed}"
    if change.base is None or change.new is None:
        return f"{metric} not judged: not in summary.json and no latency.hlog read"
    return ""


def _needed(limit: RegressionLimit, min_count: int) -> int:
    """Calls a run needs before ``limit`` is judged on an action."""
    return max(min_count, min_samples(limit.metric.removeprefix("service.")) if is_latency(limit.metric) else 1)


def _unanswered(scope: str, action: str, base: Mapping[str, Any] | None, new: Mapping[str, Any] | None,
                limits: Sequence[RegressionLimit], needed: int) -> Regression | None:
    """A regression when the base run had ``needed`` answers and the new one
    has no answered call: its latencies are missing, not better."""
    base_count = (base or {}).get("count", 0)
    if (not limits or base is None or base.get("answered", 0) < max(1, needed)
            or (new or {}).get("answered", 0) > 0):
        return None
    if new is None:
        reason = f"missing from the new run ({base_count} calls in the base)"
    else:
        reason = f"no call answered in the new run ({new.get('timeouts', 0)} timed out; {base_count} calls in the base)"
    return Regression(scope, action, ", ".join(limit.text for limit in limits), float(base_count),
                      float(new.get("answered", 0)) if new is not None else None, "calls", reason)


# ---------------------------------------------------------------- text


def band_text(band: Band) -> str:
    if band.relative:
        return f"{band.low * 100:+.0f}%..{band.high * 100:+.0f}%"
    return f"{band.low:+.3g}..{band.high:+.3g} ms"


def _cell(change: Change, unit: str, band: Band | None = None) -> str:
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
    if band is not None:
        text += f" ({band_text(band)})"
    return text


def _run_line(label: str, run: Mapping[str, Any]) -> str:
    fleet = run.get("fleet") or {}
    return (f"{label}: {run.get('id', '?')} ({sum(fleet.values())} stations, {run.get('duration_s') or 0:g} s, "
            f"{run.get('csms', '?')}, host {run.get('host', '?')})")


def _mark(row: Row) -> str:
    if row.regressions:
        return "  ✗ regression"
    if row.note:
        return f"  ({row.note})"
    said = [f"{metric} past its limit, within the noise" for metric in row.within_noise]
    return f"  ({'; '.join(said + list(row.unjudged.values()))})" if said or row.unjudged else ""


def comparison_table(comparison: Comparison) -> str:
    """The comparison for a terminal: run lines, one row per scope and action
    (latencies in ms; a limited latency with the noise band of its change),
    then the regressions."""
    headers = [f"{metric} ms" if unit_of(metric) == "ms" else metric for metric in comparison.metrics]
    cells = [[_cell(row.changes[m], unit_of(m), row.bands.get(m)) for m in comparison.metrics]
             for row in comparison.rows]
    widths = [max([len(header), *(len(row[i]) for row in cells)]) for i, header in enumerate(headers)]
    lines = [_run_line("base", comparison.base_run), _run_line("new ", comparison.new_run)]
    if comparison.base_run.get("fleet") != comparison.new_run.get("fleet"):
        lines.append("note: the fleets differ, so counts are not like for like")
    if any(row.bands for row in comparison.rows):
        lines.append("a limited latency shows base→new, the change, and (in brackets) the change's noise band: what "
                     "the two runs' variation from interval to interval explains")
    lines.append("")
    header = f"{'model':<32} {'action':<30} " + " ".join(f"{h:>{w}}" for h, w in zip(headers, widths, strict=True))
    lines += [header, "-" * len(header)]
    previous_scope = FLEET
    for row, row_cells in zip(comparison.rows, cells, strict=True):
        if row.scope != previous_scope:
            lines.append("")
            previous_scope = row.scope
        text = " ".join(f"{cell:>{w}}" for cell, w in zip(row_cells, widths, strict=True))
        lines.append(f"{row.scope[:32]:<32} {row.action[:30]:<30} {text}{_mark(row)}")
    lines.extend(f"note: {note}" for note in comparison.notes)
    regressions = comparison.regressions
    lines.append("")
    if regressions:
        lines.append(f"{len(regressions)} regression{'s' if len(regressions) != 1 else ''}:")
        lines.extend(f"  ✗ {regression.text()}" for regression in regressions)
    elif comparison.limits:
        within = sum(len(row.within_noise) for row in comparison.rows)
        lines.append(f"no regression past the limits ({', '.join(comparison.limits)})"
                     + (f"; {within} change{'s' if within != 1 else ''} past a limit within the noise" if within
                        else ""))
    else:
        lines.append("no --max-regression given: differences shown, nothing judged")
    return "\n".join(lines)
