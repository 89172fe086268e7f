"""The SLOs a capacity search judges each step on.

By default: no timeouts, errors below 0.1 %, failed connection attempts below
0.1 %, and for every action the step saw, its corrected p99 below a tenth of
the tightest declared response timeout among the models that sent it (a
station model's declared timeout is what its certificate says the CSMS's
answer may take at most; a tenth of it leaves the CSMS room for a bad
minute).  ``--slo`` expressions, in the threshold grammar
(fleetsim.report.thresholds), replace them.  Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import msgspec

from fleetsim.report.connection_figures import OUTAGE_METRICS
from fleetsim.report.threshold_grammar import EVERY_ACTION
from fleetsim.report.thresholds import Threshold, Verdict, evaluate, format_ms, parse_threshold

# A tenth of the tightest declared response timeout of the models sending an action.
DECLARED_SHARE: Final = 0.1
DEFAULT_RULES: Final = (
    ("timeouts == 0", "no call may time out"),
    ("errors.rate < 0.1%", "errors below 0.1 % of calls"),
    ("connect.failures.rate < 0.1%", "failed connection attempts below 0.1 %"),
)
class SloError(ValueError):
    """An SLO a capacity search cannot answer, in one sentence."""


class Slo(msgspec.Struct, frozen=True):
    threshold: Threshold
    source: str  # "default" or "given"
    why: str = ""
    action: str | None = None  # a default latency SLO's action
    model: str | None = None  # the model whose declared timeout set its limit

    @property
    def expression(self) -> str:
        return self.threshold.expression


def given_slos(expressions: Iterable[str], models: Iterable[str]) -> list[Slo]:
    """``--slo`` expressions, parsed (ThresholdError for bad grammar) and
    checked against what a capacity run can answer: ``models``, the mix's
    profile ids.  (An action no step sends is found at the first step.)"""
    slos = []
    models = set(models)
    for expression in expressions:
        threshold = parse_threshold(expression)
        if threshold.metric in OUTAGE_METRICS:
            raise SloError(f"{expression!r}: a capacity search injects no CSMS outage, so {threshold.metric} has "
                           "nothing to judge")
        if threshold.abort:
            raise SloError(f"{expression!r}: every SLO is judged at the end of each step, and a step that is "
                           "clearly lost is cut short anyway; leave out 'abort'")
        if threshold.model is not None and threshold.model not in models:
            raise SloError(f"{expression!r}: model {threshold.model!r} is not in this search's mix "
                           f"({', '.join(sorted(models))})")
        slos.append(Slo(threshold, "given"))
    return slos


def default_slos(step: Mapping[str, Any], senders: dict[str, tuple[float, str]] | None = None) -> list[Slo]:
    """The default SLOs for a step's figures (a stretch of summary.json's
    shape): the fixed rules, and a latency SLO per action it saw, against
    the tightest declared timeout of its senders (``senders``: those of
    earlier steps, per action (timeout_s, model), updated with this one's)."""
    senders = {} if senders is None else senders
    connection = (step.get("fleet") or {}).get("connection") or {}
    attempts = connection.get("connects", 0) + sum((connection.get("failures") or {}).values())
    slos = [Slo(parse_threshold(expression), "default", why) for expression, why in DEFAULT_RULES
            if attempts or not expression.startswith("connect.")]  # a step that only removed stations opened none
    models: Mapping[str, Any] = step.get("models") or {}
    def sent(model: Mapping[str, Any], action: str) -> bool:
        return bool(((model.get("exchanges") or {}).get(action) or {}).get("count"))

    actions = sorted({action for model in models.values() for action in (model.get("exchanges") or {})
                      if sent(model, action)})
    for action in actions:
        candidates = [(model.get("declared_timeout_s"), model_id) for model_id, model in models.items()
                      if sent(model, action) and model.get("declared_timeout_s")]
        if action in senders:
            candidates.append(senders[action])
        if not candidates:
            continue
        timeout_s, model_id = senders[action] = min(candidates)
        limit_ms = timeout_s * 1000 * DECLARED_SHARE
        expression = f"{action}.p99 < {_limit_text(limit_ms)}"
        slos.append(Slo(parse_threshold(expression), "default",
                        f"a tenth of the tightest declared response timeout of the models sending it "
                        f"({format_ms(timeout_s * 1000)}, {model_id})", action, model_id))
    return slos


def _limit_text(ms: float) -> str:
    """A limit as the threshold grammar reads it, exactly."""
    return f"{ms / 1000:g}s" if ms >= 1000 and (ms / 1000).is_integer() else f"{ms:g}ms"


def judge(slos: Sequence[Slo], step: Mapping[str, Any]) -> list[Verdict]:
    return evaluate([slo.threshold for slo in slos], step)


def limits_ms(slos: Sequence[Slo]) -> dict[str, float]:
    """Per action, the limit on its p99 (ms) an SLO sets, if one does."""
    limits: dict[str, float] = {}
    for slo in slos:
        threshold = slo.threshold
        if (threshold.metric == "p99" and threshold.action not in (None, EVERY_ACTION) and threshold.op in ("<", "<=")
                and threshold.limit is not None and threshold.model is None and threshold.view == "corrected"):
            limits[threshold.action] = min(limits.get(threshold.action, threshold.limit), threshold.limit)
    return limits


def failure_text(verdict: Verdict, slos: Sequence[Slo]) -> str:
    """The first failing SLO in words: "StartTransaction p99 reached 1.4 s
    against the 1 s limit (bionever-bss011k-v1000)"."""
    slo = next((s for s in slos if s.expression == verdict.expression), None)
    if slo is not None and slo.action is not None and verdict.observed is not None and verdict.limit is not None:
        return (f"{slo.action} p99 reached {format_ms(verdict.observed)} against the {format_ms(verdict.limit)} "
                f"limit ({slo.model})")
    return f"{verdict.expression} failed: {verdict.detail}"


def unanswered(verdicts: Sequence[Verdict], slos: Sequence[Slo]) -> list[Verdict]:
    """The verdicts of given SLOs that the step could not answer (no figure
    to judge: an action it never sent, a percentile with no answers)."""
    given = {slo.expression for slo in slos if slo.source == "given"}
    return [v for v in verdicts if v.expression in given and v.observed is None]
