"""Recorded runs for the metrics tests, without a network: a seeded stream of
exchanges fed straight into recorders."""

from __future__ import annotations

import random
from dataclasses import dataclass

from fleetsim.metrics.recorder import Recorder

MODELS = {"ac-model": 10.0, "dc.model-2": 30.0}  # declared response timeouts (s); a dot in an id, on purpose
ACTIONS = ("Heartbeat", "MeterValues", "StatusNotification")
REACTION = "RemoteStartTransaction→StartTransaction"


@dataclass(frozen=True)
class Event:
    at_s: float  # when it happened (seconds since the run's start)
    model_id: str
    kind: str  # answer, error, timeout, reaction, count, lag
    action: str = ""
    due_s: float = 0.0
    sent_s: float = 0.0


def events(n: int, seed: int = 7, duration_s: float = 10.0) -> list[Event]:
    """``n`` events spread over ``duration_s``, in time order: answers with
    queueing (due before sent), a few errors, timeouts, late answers,
    reactions, counters and simulator lag."""
    rng = random.Random(seed)
    found = []
    for _ in range(n):
        at_s = rng.uniform(0.0, duration_s)
        model_id = rng.choice(sorted(MODELS))
        action = rng.choice(ACTIONS)
        roll = rng.random()
        if roll < 0.80:
            service_s = rng.lognormvariate(-5, 1.2) if roll > 0.01 else MODELS[model_id] + 1  # 1 %: late
            sent_s = at_s - service_s
            due_s = sent_s - (rng.expovariate(20) if rng.random() < 0.3 else 0.0)
            found.append(Event(at_s, model_id, "answer", action, due_s, sent_s))
        elif roll < 0.85:
            found.append(Event(at_s, model_id, "error", action, at_s - 0.01, at_s - 0.005))
        elif roll < 0.87:
            found.append(Event(at_s, model_id, "timeout", action))
        elif roll < 0.92:
            found.append(Event(at_s, model_id, "reaction", REACTION, due_s=rng.uniform(0.1, 12.0)))
        elif roll < 0.96:
            name = rng.choice(("connect.ok", "boot.Accepted", "csms_call.Reset.Accepted"))
            found.append(Event(at_s, model_id, "count", name))
        else:
            found.append(Event(at_s, model_id, "lag", rng.choice(("loop_lag", "timer_lag", "gc_pause")),
                               due_s=rng.expovariate(1000)))
    return sorted(found, key=lambda e: e.at_s)


def new_recorder() -> Recorder:
    recorder = Recorder()
    for model_id, timeout_s in MODELS.items():
        recorder.model(model_id, timeout_s).declared_reaction_max_s[REACTION] = 5.0
    return recorder


def feed(recorder: Recorder, event: Event) -> None:
    model = recorder.model(event.model_id, MODELS[event.model_id])
    match event.kind:
        case "answer":
            model.exchange(event.action).record_answer(event.due_s, event.sent_s, event.at_s)
        case "error":
            stats = model.exchange(event.action)
            stats.record_answer(event.due_s, event.sent_s, event.at_s)
            stats.record_error("InternalError")
        case "timeout":
            model.exchange(event.action).record_timeout()
        case "reaction":
            model.record_reaction(event.action, event.due_s)
        case "count":
            model.count(event.action)
        case "lag":
            recorder.simulator_histogram(event.action).record_value(round(event.due_s * 1e6))
            if event.action == "gc_pause":
                recorder.simulator_counters["gc.collections.0"] += 1
