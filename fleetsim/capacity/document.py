"""capacity.json (results/README.md) and the sentence a capacity search
ends with.  Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from fleetsim.capacity.drive import Outcome, Settings, first_failure, slo_records, step_record
from fleetsim.report.usl import fit_usl

CAPACITY_FILE: Final = "capacity.json"
CAPACITY_HTML: Final = "capacity.html"
CAPACITY_SCHEMA_VERSION: Final = 1
EMBEDDED_NOTE: Final = ("the target was fleetsim's embedded CSMS, on this machine beside the fleet: what was measured "
                        "is that CSMS's own capacity here (a demonstration); give --csms to measure yours")


def capacity_document(outcome: Outcome, settings: Settings, *, run_id: str, csms: str, embedded: bool,
                      started_at: str, ended_at: str, mix: Mapping[str, int],
                      interrupted: bool = False) -> dict[str, Any]:
    """Everything the search found (``mix``: the fleet's stations per model)."""
    steps = [step_record(step) for step in outcome.steps]
    passing = [record for record in steps if record["passed"]]
    failing = [(record, step) for record, step in zip(steps, outcome.steps, strict=True) if not step.passed]
    knee = max(passing, key=lambda record: record["stations"], default=None)
    first_failed = min(failing, key=lambda pair: pair[0]["stations"], default=None)
    failure = None
    if first_failed is not None and (found := first_failure(first_failed[1])) is not None:
        verdict, text = found
        failure = {"stations": first_failed[0]["stations"], "slo": verdict.expression, "text": text}
    points = [(float(r["stations"]), float(r["achieved_calls_per_s"])) for r in steps
              if not r["cut_short"] and r["stations"] > 0]
    try:
        usl = fit_usl(points)
    except ValueError:
        usl = None
    total = sum(mix.values()) or 1
    plan = settings.plan
    document: dict[str, Any] = {
        "schema_version": CAPACITY_SCHEMA_VERSION,
        "run_id": run_id, "csms": csms, "embedded_csms": embedded, "started_at": started_at, "ended_at": ended_at,
        "mix": {model: round(count / total, 4) for model, count in sorted(mix.items())},
        "search": {"start": plan.start, "step": plan.step, "factor": plan.factor, "plateau_s": settings.plateau_s,
                   "maximum": plan.maximum, "resolution": plan.resolution, "ramp_per_s": settings.ramp_per_s,
                   "interval_s": settings.interval_s},
        "slos": slo_records(outcome.steps, settings.slos),
        "steps": steps,
        "knee": None if knee is None else {"stations": knee["stations"], "calls_per_s": knee["achieved_calls_per_s"],
                                           "messages_per_s": knee["messages_per_s"]},
        "first_failure": failure,
        "usl": usl.to_builtins() if usl is not None else None,
        "completed": outcome.error is None and not interrupted,
        "error": outcome.error,
        "note": EMBEDDED_NOTE if embedded else None,
    }
    document["sentence"] = sentence(document)
    return document


def sentence(document: Mapping[str, Any]) -> str:
    """The search's finding in one sentence."""
    csms = document["csms"]
    knee, failure = document["knee"], document["first_failure"]
    if document.get("error"):
        return f"{csms}: the search stopped: {document['error']}"
    ended = "" if document.get("completed", True) else " (the search was interrupted)"
    if knee is not None:
        met = (f"{csms}: {knee['stations']:,} stations of this mix ({knee['messages_per_s']:,.0f} OCPP messages/s, "
               f"{knee['calls_per_s']:,.0f} calls answered/s) met every SLO")
        if failure is not None:
            return f"{met}; at {failure['stations']:,} {failure['text']}{ended}."
        maximum = document["search"]["maximum"]
        if knee["stations"] >= maximum:
            return f"{met}, up to the search's maximum of {maximum:,}: the capacity is beyond it{ended}."
        return f"{met}{ended}."
    if failure is not None:
        return (f"{csms}: no step met every SLO; at {failure['stations']:,} stations {failure['text']}: the capacity "
                f"is below that (start lower){ended}.")
    return f"{csms}: no step was measured{ended}."
