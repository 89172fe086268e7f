"""A capacity search driving a running fleet: each step moves the fleet to
its station count (at the ramp's rate), measures a plateau of whole
intervals after the ramp, judges it on the SLOs, and tells the search.

It drives through a *steering* (fleetsim.engine.run.Steering, or the
coordinator's of a split run): ``retarget(n)``, ``elapsed_s``, ``note(event)``
and ``await interval()`` (the next closed interval: its latency.hlog lines and
the run's counts so far).  It imports neither trio nor a clock: the steering
is its only contact with time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final, NamedTuple, Protocol

import msgspec

from fleetsim.capacity.search import BISECT, Search, SearchPlan
from fleetsim.capacity.slo import Slo, SloError, default_slos, failure_text, judge, limits_ms, unanswered
from fleetsim.metrics.intervals import RunEvent
from fleetsim.metrics.percentiles import DEFAULT_PERCENTILES
from fleetsim.metrics.stages import Stretch, difference
from fleetsim.metrics.tally import Tally
from fleetsim.report.thresholds import Verdict, format_value
from fleetsim.spec.stages import plateau_start

# A step is clearly lost, and cut short, once this many calls timed out in it
# (and at least LOST_TIMEOUT_SHARE of its calls): the SLO "no timeouts" has
# failed already, and every further second only piles up more.
LOST_TIMEOUTS: Final = 20
LOST_TIMEOUT_SHARE: Final = 0.01
# ... or once this share of its connection attempts failed (at least LOST_CONNECT_FAILURES).
LOST_CONNECT_SHARE: Final = 0.1
LOST_CONNECT_FAILURES: Final = 20


class ClosedLike(Protocol):
    end_s: float
    lines: tuple[str, ...]
    tally: Tally
    messages_out: int
    messages_in: int


class SteeringLike(Protocol):
    @property
    def elapsed_s(self) -> float: ...

    def retarget(self, stations: int) -> int: ...

    def note(self, event: RunEvent) -> None: ...

    async def interval(self) -> ClosedLike: ...


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    plan: SearchPlan
    plateau_s: float
    interval_s: float
    ramp_per_s: float
    slos: tuple[Slo, ...] = ()  # given; empty: the defaults, made for each step from what it saw
    percentiles: tuple[float, ...] = DEFAULT_PERCENTILES
    planned_calls_per_station_s: float = 0.0  # the plan's estimate, until a passing step measures it


class Step(msgspec.Struct, kw_only=True):
    index: int
    phase: str
    stations: int
    start_s: float
    plateau_start_s: float
    end_s: float
    plateau_s: float = 0.0
    figures: dict[str, Any] = {}
    verdicts: list[Verdict] = []
    slos: list[Slo] = []
    passed: bool = False
    cut_short: str | None = None  # why it was abandoned before its plateau's end
    offered_calls_per_s: float = 0.0


class Outcome(msgspec.Struct, kw_only=True):
    steps: list[Step]
    search: Search | None = None  # None: the run ended before the search did (interrupted)
    error: str | None = None  # an SLO the run could not answer: the search stopped


async def search_capacity(steering: SteeringLike, settings: Settings, mix: Callable[[int], dict[str, int]],
                          on_step: Callable[[Step], None] | None = None) -> Outcome:
    """Run the search to its end (or to an unanswerable SLO).  ``mix(n)``:
    the stations per model among the fleet's first ``n``."""
    search = Search(settings.plan)
    steps: list[Step] = []
    running = 0
    per_station: float | None = None  # calls per station per second, measured at a passing step
    # Per action, the tightest declared timeout of the models seen sending it
    # so far, and that model: every step is judged against the same limit.
    senders: dict[str, tuple[float, str]] = {}
    before = _At(Tally(), (0, 0))  # the run's counts when the step began (the run starts with none)
    while (target := search.next()) is not None:
        start_s = steering.elapsed_s
        steering.retarget(target)
        ramp_s = abs(target - running) / settings.ramp_per_s if settings.ramp_per_s > 0 else 0.0
        # After a failed step the CSMS has a backlog to work off: the next
        # plateau starts once half a plateau has passed, so it measures the
        # new load, not the old one's queue.
        settle_s = settings.plateau_s / 2 if steps and not steps[-1].passed else 0.0
        begin_s = plateau_start(start_s + ramp_s + settle_s, settings.interval_s)
        step = Step(index=len(steps) + 1, phase=search.phase, stations=target, start_s=round(start_s, 3),
                    plateau_start_s=round(begin_s, 3), end_s=round(begin_s + settings.plateau_s, 3))
        _note_step(steering, step, running)
        running = target
        before = await _measure(steering, step, settings, mix(target), senders, before)
        rate = per_station if per_station is not None else settings.planned_calls_per_station_s
        step.offered_calls_per_s = round(rate * target, 3)
        if step.figures:
            given_unanswered = [] if step.cut_short else _unanswered(step)
            if given_unanswered and not steps:
                verdict = given_unanswered[0]
                steps.append(step)
                return Outcome(steps=steps, search=search, error=(
                    f"--slo {verdict.expression!r} cannot be judged: the first step ({target:,} stations) gave no "
                    f"figure for it ({verdict.detail}); give a longer --plateau, or an SLO on what the stations send"))
            unjudged = {v.expression for v in given_unanswered}
            step.passed = step.cut_short is None and all(v.passed or v.expression in unjudged for v in step.verdicts)
        if step.passed and step.stations and per_station is None:
            per_station = step.figures["calls_per_s"] / step.stations
            step.offered_calls_per_s = step.figures["calls_per_s"]
        steps.append(step)
        search.record(target, step.passed)
        if on_step is not None:
            on_step(step)
    return Outcome(steps=steps, search=search)


def _note_step(steering: SteeringLike, step: Step, running: int) -> None:
    label = f"{'bisect' if step.phase == BISECT else 'step'} {step.index}: {running:,} → {step.stations:,} stations"
    steering.note(RunEvent(elapsed_s=step.start_s, kind="stage", label=label, span_s=step.end_s - step.start_s,
                           stations=step.stations, at_s=step.start_s))
    steering.note(RunEvent(elapsed_s=step.plateau_start_s, kind="plateau", label=f"step {step.index} plateau",
                           span_s=step.end_s - step.plateau_start_s, stations=step.stations, at_s=step.plateau_start_s))


class _At(NamedTuple):
    """The run's counts and messages at a moment (an interval's close)."""

    tally: Tally
    messages: tuple[int, int]


async def _measure(steering: SteeringLike, step: Step, settings: Settings, fleet: dict[str, int],
                   senders: dict[str, tuple[float, str]], before: _At) -> _At:
    """Read intervals until the plateau is whole (or the step is clearly
    lost), then judge it; the counts where it ended (the next step's start).
    ``before``: the counts where the step began."""
    plateau = Stretch(step.plateau_start_s, step.end_s, settings.interval_s)
    whole = Stretch(step.start_s, step.end_s, settings.interval_s)  # the step, its ramp included
    whole.begin(*before)
    while True:
        closed = await steering.interval()
        now = _At(closed.tally, (closed.messages_out, closed.messages_in))
        whole.tick(closed.end_s, closed.lines, *now)
        if plateau.tick(closed.end_s, closed.lines, *now):
            break
        lost = _lost(difference(closed.tally, before.tally))
        if lost is not None:
            step.cut_short = lost
            plateau.close(*now)
            break
    whole.close(*now)
    if plateau.first is None or not plateau.intervals:
        plateau = whole  # cut short before its plateau began: judged on the step so far
    # Connections are judged over the whole step: they are opened in its ramp.
    plateau.merge.set_tally(0, _with_counters(difference(now.tally, plateau.first or before.tally),
                                              difference(now.tally, before.tally)))
    step.plateau_s = round(plateau.measured_s, 3)
    step.figures = plateau.summary(settings.percentiles)
    step.figures["run"] = {"fleet": fleet}  # what rates of the fleet's stations are taken of
    step.slos = list(settings.slos) or default_slos(step.figures, senders)
    step.verdicts = judge(step.slos, step.figures)
    return now


def _with_counters(plateau: Tally, whole: Tally) -> Tally:
    """The plateau's exchanges with the whole step's counters."""
    return Tally({model_id: msgspec.structs.replace(model, counters=whole.models[model_id].counters
                                                    if model_id in whole.models else {})
                  for model_id, model in plateau.models.items()}, plateau.simulator_counters)


def _lost(counts: Tally) -> str | None:
    answered = timeouts = failures = connects = 0
    for model in counts.models.values():
        for exchange in model.exchanges.values():
            answered += exchange.answered
            timeouts += exchange.timeouts
        for name, n in model.counters.items():
            if name.startswith("connect.failed."):
                failures += n
            elif name == "connect.ok":
                connects += n
    if timeouts >= LOST_TIMEOUTS and timeouts >= LOST_TIMEOUT_SHARE * (answered + timeouts):
        return f"{timeouts:,} calls timed out"
    if failures >= LOST_CONNECT_FAILURES and failures >= LOST_CONNECT_SHARE * (failures + connects):
        return f"{failures:,} connection attempts failed"
    return None


def _unanswered(step: Step) -> list[Verdict]:
    """Given SLOs the step gave no figure for because it never made the
    calls they judge (not because the calls went unanswered)."""
    seen = {action for action, exchange in (step.figures.get("fleet") or {}).get("exchanges", {}).items()
            if exchange.get("count")}
    out = []
    for verdict in unanswered(step.verdicts, step.slos):
        slo = next(s for s in step.slos if s.expression == verdict.expression)
        if slo.threshold.action is None or slo.threshold.action not in seen:
            out.append(verdict)
    return out


def first_failure(step: Step) -> tuple[Verdict, str] | None:
    """The step's first failing SLO and the sentence that says so."""
    if step.cut_short is not None and step.passed is False:
        failing = [v for v in step.verdicts if not v.passed]
        if failing:
            return failing[0], failure_text(failing[0], step.slos) + f" (cut short: {step.cut_short})"
    for verdict in step.verdicts:
        if not verdict.passed:
            return verdict, failure_text(verdict, step.slos)
    return None


def step_record(step: Step) -> dict[str, Any]:
    """A step as capacity.json lists it (results/README.md)."""
    figures = step.figures
    fleet = figures.get("fleet") or {}
    exchanges = fleet.get("exchanges") or {}
    answered = sum(e.get("answered", 0) for e in exchanges.values())
    count = sum(e.get("count", 0) for e in exchanges.values())
    errors = sum(e.get("errors_total", 0) for e in exchanges.values())
    timeouts = sum(e.get("timeouts", 0) for e in exchanges.values())
    connection = fleet.get("connection") or {}
    connects = connection.get("connects", 0)
    failures = sum((connection.get("failures") or {}).values())
    limits = limits_ms(step.slos)
    actions = {}
    for action, exchange in sorted(exchanges.items()):
        block = exchange.get("corrected_ms") or {}
        actions[action] = {"count": exchange.get("count", 0), "p50_ms": block.get("p50"), "p99_ms": block.get("p99"),
                           "max_ms": block.get("max"), "limit_ms": limits.get(action)}
    messages = figures.get("messages_per_s") or {}
    return {
        "index": step.index, "phase": step.phase, "stations": step.stations, "start_s": step.start_s,
        "plateau_start_s": step.plateau_start_s, "end_s": step.end_s, "plateau_s": step.plateau_s,
        "offered_calls_per_s": step.offered_calls_per_s,
        "achieved_calls_per_s": figures.get("calls_per_s", 0.0),
        "messages_per_s": round(messages.get("out", 0.0) + messages.get("in", 0.0), 3),
        "answered": answered, "errors": errors, "timeouts": timeouts, "connects": connects,
        "connect_failures": failures,
        "error_rate": errors / count if count else 0.0,
        "connect_failure_rate": failures / (connects + failures) if connects + failures else 0.0,
        "actions": actions,
        "verdicts": [{"slo": v.expression, "passed": v.passed,
                      "observed": None if v.observed is None else format_value(v.observed, v.unit),
                      "text": v.detail} for v in step.verdicts],
        "passed": step.passed,
        "cut_short": step.cut_short is not None,
        "cut_short_why": step.cut_short,
    }


def slo_records(steps: Sequence[Step], given: Sequence[Slo]) -> list[dict[str, Any]]:
    """Every SLO the search judged, once, with where it came from."""
    seen: dict[str, dict[str, Any]] = {}
    for slo in list(given) + [slo for step in steps for slo in step.slos]:
        seen.setdefault(slo.expression, {"expression": slo.expression, "source": slo.source, "why": slo.why})
    return list(seen.values())


__all__ = ["Outcome", "Settings", "SloError", "Step", "first_failure", "search_capacity", "slo_records", "step_record"]
