"""The capacity search driving a fleet (fleetsim.capacity.drive), against a
simulated CSMS: a steering that closes intervals whose latencies and counts
depend on the station count, as a CSMS of known capacity would give them."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import trio

from fleetsim.capacity.drive import LOST_TIMEOUTS, Settings, search_capacity
from fleetsim.capacity.search import SearchPlan
from fleetsim.capacity.slo import given_slos
from fleetsim.engine.steering import ClosedInterval
from fleetsim.metrics import hlog
from fleetsim.metrics.histogram import new_histogram
from fleetsim.metrics.intervals import RunEvent
from fleetsim.metrics.tally import ExchangeTally, ModelTally, Tally

MODEL = "bionever-bss011k-v1000"
TIMEOUT_S = 10.0  # declared: the default latency SLO is a tenth of it, 1 s


class SimulatedCsms:
    """Closes one-second intervals; each station makes one Heartbeat a
    second, answered in ``latency_ms(stations, seconds into the step)``
    (None: every call times out)."""

    def __init__(self, latency_ms: Callable[[int, float], float | None]) -> None:
        self.latency_ms = latency_ms
        self.now_s = 0.0
        self.stations = 0
        self.step_start_s = 0.0
        self.answered = self.timeouts = self.connects = 0
        self.events: list[RunEvent] = []
        self.targets: list[int] = []

    @property
    def elapsed_s(self) -> float:
        return self.now_s

    def retarget(self, stations: int) -> int:
        self.connects += max(0, stations - self.stations)
        self.stations, self.step_start_s = stations, self.now_s
        self.targets.append(stations)
        return stations

    def note(self, event: RunEvent) -> None:
        self.events.append(event)

    async def interval(self) -> ClosedInterval:
        await trio.lowlevel.checkpoint()
        start_s, self.now_s = self.now_s, self.now_s + 1.0
        latency = self.latency_ms(self.stations, start_s - self.step_start_s)
        lines: tuple[str, ...] = ()
        if latency is None:
            self.timeouts += self.stations
        elif self.stations:
            histogram = new_histogram()
            histogram.record_value(round(latency * 1000), self.stations)
            lines = (hlog.interval_line(f"corrected.{MODEL}.Heartbeat", start_s, 1.0, histogram),)
            self.answered += self.stations
        tally = Tally({MODEL: ModelTally(TIMEOUT_S, {}, {"connect.ok": self.connects},
                                         {"Heartbeat": ExchangeTally(self.answered, {}, self.timeouts, 0)})})
        return ClosedInterval(self.now_s, lines, tally, self.answered, self.answered)


def settings(plan: SearchPlan, slos: tuple = ()) -> Settings:
    return Settings(plan=plan, plateau_s=5.0, interval_s=1.0, ramp_per_s=1e6, slos=slos)


def mix(stations: int) -> dict[str, int]:
    return {MODEL: stations}


def search(csms: SimulatedCsms, plan: SearchPlan, slos: tuple = ()):  # type: ignore[no-untyped-def]
    async def main():  # type: ignore[no-untyped-def]
        with trio.fail_after(5):
            return await search_capacity(csms, settings(plan, slos), mix)
    return trio.run(main)


def knee_at(capacity: int) -> Callable[[int, float], float | None]:
    """5 ms up to ``capacity`` stations, 2 s past it (a queue that grew)."""
    return lambda stations, _: 5.0 if stations <= capacity else 2000.0


def test_the_search_finds_the_knee_of_a_csms_of_known_capacity() -> None:
    csms = SimulatedCsms(knee_at(437))
    outcome = search(csms, SearchPlan(start=100, step=100, maximum=1000, resolution=0.02))
    assert outcome.error is None
    assert outcome.search.passed is not None and outcome.search.failed is not None
    assert outcome.search.passed <= 437 < outcome.search.failed
    assert (outcome.search.failed - outcome.search.passed) <= 0.02 * outcome.search.failed
    failed = [step for step in outcome.steps if not step.passed]
    assert all(step.stations > 437 for step in failed)
    assert all(step.stations <= 437 for step in outcome.steps if step.passed)
    # The failing SLO is the latency one, not the error or timeout rules.
    verdict = next(v for v in failed[0].verdicts if not v.passed)
    assert verdict.expression == "Heartbeat.p99 < 1s"
    # Each step's plateau is five whole intervals, and the targets were set in order.
    assert [step.plateau_s for step in outcome.steps] == [5.0] * len(outcome.steps)
    assert csms.targets == [step.stations for step in outcome.steps]


def test_each_step_is_noted_with_its_plateau() -> None:
    csms = SimulatedCsms(knee_at(250))
    outcome = search(csms, SearchPlan(start=100, step=100, maximum=300, resolution=0.2))
    stages = [e for e in csms.events if e.kind == "stage"]
    plateaus = [e for e in csms.events if e.kind == "plateau"]
    assert len(stages) == len(plateaus) == len(outcome.steps)
    for step, stage, plateau in zip(outcome.steps, stages, plateaus, strict=True):
        assert stage.elapsed_s == step.start_s and stage.stations == step.stations
        assert plateau.elapsed_s == step.plateau_start_s and plateau.span_s == pytest.approx(5.0)
        assert plateau.elapsed_s >= stage.elapsed_s + 1.0  # the interval after the ramp is excluded


def test_the_ramp_and_its_aftermath_are_not_judged() -> None:
    # Every step starts with one slow interval (the boot burst), then runs fast.
    csms = SimulatedCsms(lambda stations, into_s: 3000.0 if into_s < 1.0 else 5.0)
    outcome = search(csms, SearchPlan(start=100, step=100, maximum=300))
    assert [step.passed for step in outcome.steps] == [True, True, True]
    assert all(step.figures["fleet"]["exchanges"]["Heartbeat"]["corrected_ms"]["max"] < 10
               for step in outcome.steps)


def test_a_step_with_timeouts_piling_up_is_cut_short() -> None:
    csms = SimulatedCsms(lambda stations, _: None if stations > 150 else 5.0)
    outcome = search(csms, SearchPlan(start=100, step=100, maximum=300, resolution=0.2))
    lost = next(step for step in outcome.steps if step.stations == 200)
    assert not lost.passed
    assert lost.cut_short is not None and "timed out" in lost.cut_short
    # Cut after the first interval: 200 timeouts are past LOST_TIMEOUTS at once.
    assert LOST_TIMEOUTS <= 200
    assert lost.end_s - lost.start_s > 5.0  # it was planned longer than it ran
    after = outcome.steps[outcome.steps.index(lost) + 1]
    assert after.start_s <= lost.start_s + 2.0


def test_a_failed_step_lets_the_backlog_drain_before_the_next_plateau() -> None:
    csms = SimulatedCsms(knee_at(150))
    outcome = search(csms, SearchPlan(start=100, step=100, maximum=300, resolution=0.2))
    failed = next(i for i, step in enumerate(outcome.steps) if not step.passed)
    after = outcome.steps[failed + 1]
    assert after.plateau_start_s - after.start_s >= 2.5 + 1.0  # half a plateau, and the interval after the ramp
    first = outcome.steps[0]
    assert first.plateau_start_s - first.start_s <= 2.0  # the ramp's tick, and one interval


def test_the_offered_load_is_the_passing_rate_per_station_scaled() -> None:
    csms = SimulatedCsms(knee_at(150))
    outcome = search(csms, SearchPlan(start=100, step=100, maximum=300, resolution=0.2))
    assert outcome.steps[0].offered_calls_per_s == pytest.approx(100.0)
    assert outcome.steps[1].offered_calls_per_s == pytest.approx(200.0)


def test_a_given_slo_the_first_step_cannot_answer_stops_the_search() -> None:
    csms = SimulatedCsms(knee_at(1000))
    slos = tuple(given_slos(["StartTransaction.p99 < 1s"], [MODEL]))
    outcome = search(csms, SearchPlan(start=100, step=100, maximum=300), slos)
    assert len(outcome.steps) == 1
    assert outcome.error is not None and "StartTransaction.p99 < 1s" in outcome.error
    assert "cannot be judged" in outcome.error


def test_given_slos_replace_the_defaults() -> None:
    csms = SimulatedCsms(knee_at(1000))  # 5 ms throughout: only a tight given SLO fails
    slos = tuple(given_slos(["Heartbeat.p99 < 4ms"], [MODEL]))
    outcome = search(csms, SearchPlan(start=100, step=100, maximum=300), slos)
    assert [step.passed for step in outcome.steps] == [False] * len(outcome.steps)
    assert {v.expression for step in outcome.steps for v in step.verdicts} == {"Heartbeat.p99 < 4ms"}


def test_connections_are_counted_over_the_whole_step_from_its_start() -> None:
    csms = SimulatedCsms(knee_at(1000))
    outcome = search(csms, SearchPlan(start=100, step=100, maximum=300))
    # Each step's stations connected in its ramp, before its plateau: all of them are its connects.
    assert [step.figures["fleet"]["connection"]["connects"] for step in outcome.steps] == [100, 100, 100]
    assert all("connect.failures.rate < 0.1%" in {v.expression for v in step.verdicts} for step in outcome.steps)
