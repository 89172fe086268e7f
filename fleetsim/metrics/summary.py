"""The figures of ``summary.json`` (layout: results/README.md), computed from a
recorder's cumulative histograms and counters.

Figures over several models always come from added histograms; counts judged
against a declared limit (timeouts, late answers, slow reactions) are judged
per model, against that model's own declaration, then summed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, Final

import msgspec

from fleetsim.metrics.histogram import Histogram, new_histogram, us
from fleetsim.metrics.lazy import Lazy, Later, force
from fleetsim.metrics.percentiles import DEFAULT_PERCENTILES, REQUIRED_PERCENTILES, Percentiles, reported

if TYPE_CHECKING:
    from fleetsim.metrics.recorder import ExchangeStats, ModelStats, Recorder

PERCENTILES: Final = REQUIRED_PERCENTILES
# The keys every latency block of summary.json has ({"p50", ..., "max"}); a run
# may add more (fleetsim.metrics.percentiles).
FIGURE_KEYS: Final = (*(f"p{p:g}" for p in PERCENTILES), "max")
# Reaction-time histograms that are setup times, reported in their own sections.
CONNECT: Final = "connect"
BOOT: Final = "boot"

# The simulator's lag distorts a latency by up to the lag itself.  It is worth a
# loud warning once it could move a reported figure by more than the accuracy
# fleetsim promises (and its fidelity tests prove): max(1 ms, 1 % of the
# figure), taken for the fleet's median corrected latency.
# - Event-loop lag delays the reading of every answer: its p99 is held against
#   that threshold, plus the probe's resolution (it wakes from sleeps, and
#   epoll waits in whole milliseconds, so an idle loop already shows 1 ms).
# - A GC pause delays only the answers that arrive during it: pauses move a
#   percentile p only once they cover more than 1 - p of the time.  Pauses
#   above the threshold are summed, and warned about once they cover more than
#   0.1 % of the run (they could then reach p99.9, the highest percentile
#   reported besides the max).
# - Timer lag does not enter latencies (a call's intended time is when its
#   timer fired): it delays the offered load.  Warned about once its p99 is
#   beyond TIMER_LAG_LIMIT_MS, when the load no longer follows the plan.
LAG_FLOOR_MS: Final = 1.0
LAG_SHARE_OF_MEDIAN: Final = 0.01
PROBE_RESOLUTION_MS: Final = 1.0
GC_PAUSE_SHARE_LIMIT: Final = 0.001
TIMER_LAG_LIMIT_MS: Final = 50.0
LOOP_PROBE_PERIOD_S: Final = 0.010  # fleetsim.engine.watch: the loop-lag probe sleeps this long


def _block(histogram: Histogram, percentiles: Sequence[float]) -> Percentiles | None:
    return Percentiles(histogram, percentiles) if histogram.total_count else None


def percentiles_ms(histogram: Histogram, percentiles: Sequence[float] = DEFAULT_PERCENTILES) -> dict[str, float] | None:
    """A latency block of summary.json: ``percentiles`` (those schema 1
    requires are always added) and ``max``, in ms; None when empty."""
    return force(_block(histogram, reported(percentiles)))


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _corrected_over_declared(stats: ExchangeStats) -> int:
    return stats.corrected.count_above(stats.declared_timeout_us) + stats.timeouts


class _FleetExchange:
    """One action over every model that sent it: counts summed at once,
    histograms added when first read (never percentiles averaged)."""

    def __init__(self, parts: Sequence[ExchangeStats]) -> None:
        self._parts = parts
        self.answered = sum(part.answered for part in parts)
        self.errors: Counter[str] = Counter()
        for part in parts:
            self.errors.update(part.errors)
        self.timeouts = sum(part.timeouts for part in parts)
        self.late = sum(part.late for part in parts)
        self.declared_timeout_us = min(part.declared_timeout_us for part in parts)

    @cached_property
    def corrected(self) -> Histogram:
        return _added(part.corrected for part in self._parts)

    @cached_property
    def service(self) -> Histogram:
        return _added(part.service for part in self._parts)

    def corrected_over_declared(self) -> int:
        """Judged per model, against each model's own declaration, then summed."""
        return sum(_corrected_over_declared(part) for part in self._parts)


def _added(histograms: Iterable[Histogram]) -> Histogram:
    total = new_histogram()
    for histogram in histograms:
        total.add(histogram)
    return total


def _exchange(stats: ExchangeStats | _FleetExchange, percentiles: Sequence[float],
              corrected_over_declared: Callable[[], int]) -> Lazy:
    count = stats.answered + stats.timeouts
    over = stats.late + stats.timeouts
    return Lazy({
        "count": count,
        "answered": stats.answered,
        "errors": dict(sorted(stats.errors.items())),
        "errors_total": sum(stats.errors.values()),
        "timeouts": stats.timeouts,
        "late": stats.late,
        "declared_timeout_ms": stats.declared_timeout_us / 1000,
        "over_declared": over,
        "over_declared_share": _share(over, count),
        "corrected_over_declared_share": Later(lambda: _share(corrected_over_declared(), count)),
        "corrected_ms": Later(lambda: _block(stats.corrected, percentiles)),
        "service_ms": Later(lambda: _block(stats.service, percentiles)),
    })


def exchange_summary(stats: ExchangeStats, *, corrected_over_declared: int | None = None,
                     percentiles: Sequence[float] = DEFAULT_PERCENTILES) -> dict[str, Any]:
    """One action of one model (or of the fleet, given its per-model sum of
    ``corrected_over_declared``)."""
    def over() -> int:
        return _corrected_over_declared(stats) if corrected_over_declared is None else corrected_over_declared

    return force(_exchange(stats, reported(percentiles), over))


def _by_prefix(counters: Counter[str], prefix: str) -> dict[str, int]:
    return {name[len(prefix):]: n for name, n in sorted(counters.items()) if name.startswith(prefix)}


def _csms_calls(counters: Counter[str]) -> dict[str, dict[str, int]]:
    calls: dict[str, dict[str, int]] = {}
    for name, n in sorted(counters.items()):
        if name.startswith("csms_call."):
            _, action, answer = name.split(".", 2)
            calls.setdefault(action, {})[answer] = n
    return calls


def _sections(counters: Callable[[], Counter[str]], reaction: Callable[[str], Histogram | None],
              reactions: Callable[[], Lazy], percentiles: Sequence[float]) -> dict[str, Any]:
    """The sections models and the fleet share, from counters and histograms
    (``reaction(name)``: the named setup or reaction histogram, if any)."""
    def block(name: str) -> Percentiles | None:
        histogram = reaction(name)
        return None if histogram is None else _block(histogram, percentiles)

    return {
        "connection": Later(lambda: Lazy({
            "connects": counters()["connect.ok"],
            # Stations that connected, and were Accepted, at least once: a run
            # that could not drive its whole fleet shows it here.
            "stations_connected": counters()["stations.connected"],
            "stations_booted": counters()["stations.booted"],
            "reconnects": counters()["connect.reconnect"],
            "failures": _by_prefix(counters(), "connect.failed."),
            "disconnects": _by_prefix(counters(), "disconnect."),
            "connect_ms": Later(lambda: block(CONNECT)),
        })),
        "boot": Later(lambda: Lazy({
            "answers": _by_prefix(counters(), "boot."),
            "boot_ms": Later(lambda: block(BOOT)),
        })),
        "csms_calls": Later(lambda: _csms_calls(counters())),
        "reactions": Later(reactions),
        "counters": Later(lambda: dict(sorted(counters().items()))),
    }


def _reaction_over_declared(model: ModelStats, name: str) -> int:
    declared_s = model.declared_reaction_max_s.get(name)
    return 0 if declared_s is None else model.reactions[name].count_above(us(declared_s))


def _reaction(histogram: Callable[[], Histogram], declared_max_ms: float | None, over_declared: Callable[[], int],
              percentiles: Sequence[float]) -> Lazy:
    return Lazy({
        "count": Later(lambda: histogram().total_count),
        "declared_max_ms": declared_max_ms,
        "over_declared": Later(over_declared),
        "ms": Later(lambda: _block(histogram(), percentiles)),
    })


def _model_sections(model: ModelStats, percentiles: Sequence[float]) -> Lazy:
    def reactions() -> Lazy:
        return Lazy({
            name: Later(lambda name=name: _reaction(
                lambda: model.reactions[name],
                None if (declared_s := model.declared_reaction_max_s.get(name)) is None else declared_s * 1000,
                lambda: _reaction_over_declared(model, name), percentiles))
            for name in sorted(model.reactions) if name not in (CONNECT, BOOT)
        })

    return Lazy({
        "declared_timeout_s": model.declared_timeout_s,
        "exchanges": Later(lambda: Lazy({
            action: Later(lambda stats=stats: _exchange(stats, percentiles, lambda: _corrected_over_declared(stats)))
            for action, stats in sorted(model.exchanges.items())
        })),
        **_sections(lambda: model.counters, model.reactions.get, reactions, percentiles),
    })


def model_summary(model: ModelStats, percentiles: Sequence[float] = DEFAULT_PERCENTILES) -> dict[str, Any]:
    return force(_model_sections(model, reported(percentiles)))


def _fleet_sections(recorder: Recorder, percentiles: Sequence[float]) -> Lazy:
    models = list(recorder.models.values())
    actions = sorted({action for model in models for action in model.exchanges})
    names = sorted({name for model in models for name in model.reactions})
    merged: dict[str, Histogram] = {}
    counted: list[Counter[str]] = []

    def reaction(name: str) -> Histogram | None:
        if name not in names:
            return None
        if name not in merged:
            merged[name] = _added(m.reactions[name] for m in models if name in m.reactions)
        return merged[name]

    def counters() -> Counter[str]:
        if not counted:
            counted.append(recorder.counters())
        return counted[0]

    def exchange(action: str) -> Lazy:
        fleet = _FleetExchange([m.exchanges[action] for m in models if action in m.exchanges])
        return _exchange(fleet, percentiles, fleet.corrected_over_declared)

    def reactions() -> Lazy:
        return Lazy({
            name: Later(lambda name=name: _reaction(
                lambda: _present(reaction(name)), None,
                lambda: sum(_reaction_over_declared(m, name) for m in models if name in m.reactions), percentiles))
            for name in names if name not in (CONNECT, BOOT)
        })

    return Lazy({
        "exchanges": Later(lambda: Lazy({action: Later(lambda action=action: exchange(action)) for action in actions})),
        **_sections(counters, reaction, reactions, percentiles),
    })


def _present(histogram: Histogram | None) -> Histogram:
    return new_histogram() if histogram is None else histogram


def fleet_summary(recorder: Recorder, percentiles: Sequence[float] = DEFAULT_PERCENTILES) -> dict[str, Any]:
    return force(_fleet_sections(recorder, reported(percentiles)))


def _simulator_figures(histogram: Histogram, percentiles: Sequence[float]) -> Lazy | None:
    block = _block(histogram, percentiles)
    return None if block is None else Lazy({"count": histogram.total_count, **block})


def _simulator_section(recorder: Recorder, percentiles: Sequence[float]) -> Lazy:
    return Lazy({
        **{f"{name}_ms": Later(lambda h=h: _simulator_figures(h, percentiles))
           for name, h in recorder.simulator.items()},
        "gc_collections": _by_prefix(recorder.simulator_counters, "gc.collections."),
        # Exceptions a station raised (a bug of ours, found by what the CSMS
        # sent): each disconnected that station only, and makes the run fail.
        "station_errors": recorder.simulator_counters["station_errors"],
        "warning": Later(lambda: lag_warning(recorder)),
    })


def simulator_summary(recorder: Recorder, percentiles: Sequence[float] = DEFAULT_PERCENTILES) -> dict[str, Any]:
    return force(_simulator_section(recorder, reported(percentiles)))


def fleet_median_ms(recorder: Recorder) -> float | None:
    """The median corrected latency over every action of every model."""
    everything = new_histogram()
    for model in recorder.models.values():
        for stats in model.exchanges.values():
            everything.add(stats.corrected)
    return everything.get_value_at_percentile(50.0) / 1000 if everything.total_count else None


def lag_threshold_ms(recorder: Recorder) -> float:
    """max(1 ms, 1 % of the fleet's median corrected latency)."""
    return lag_threshold_for(fleet_median_ms(recorder))


def lag_threshold_for(median_ms: float | None) -> float:
    """The accuracy promised around a median latency: max(1 ms, 1 %)."""
    return max(LAG_FLOOR_MS, LAG_SHARE_OF_MEDIAN * (median_ms or 0.0))


def lag_warning(recorder: Recorder) -> str | None:
    """Why the simulator's own lag could distort the figures, or None (also
    when nothing was measured: a run whose stations never got an answer has
    its real problem to report, not this one)."""
    if fleet_median_ms(recorder) is None:
        return None
    threshold_ms = lag_threshold_ms(recorder)
    problems = []
    loop_lag = recorder.simulator["loop_lag"]
    p99_ms = loop_lag.get_value_at_percentile(99.0) / 1000 if loop_lag.total_count else 0.0
    if p99_ms > threshold_ms + PROBE_RESOLUTION_MS:
        problems.append(f"event-loop lag p99 {p99_ms:.1f} ms (over {threshold_ms + PROBE_RESOLUTION_MS:.1f} ms)")
    gc_pause = recorder.simulator["gc_pause"]
    share = gc_pause_share(recorder, threshold_ms)
    if share > GC_PAUSE_SHARE_LIMIT:
        problems.append(f"GC pauses over {threshold_ms:.1f} ms covered {share:.2%} of the run "
                        f"(GC pause max {gc_pause.get_max_value() / 1000:.1f} ms)")
    timer_lag = recorder.simulator["timer_lag"]
    timer_p99_ms = timer_lag.get_value_at_percentile(99.0) / 1000 if timer_lag.total_count else 0.0
    late_load = timer_p99_ms > TIMER_LAG_LIMIT_MS
    if not problems and not late_load:
        return None
    text = []
    if problems:
        text.append(f"the simulator's own lag could distort the latency figures: {'; '.join(problems)}. An answer "
                    f"on ws:// is timed from its arrival (the kernel's stamp), but on wss://, and for a CALL that "
                    f"waited behind another, latencies include up to that much of the simulator's own delay; "
                    f"fleetsim promises max(1 ms, 1 %) ({threshold_ms:.1f} ms here).")
    if late_load:
        text.append(f"the stations sent later than planned (timer lag p99 {timer_p99_ms:.1f} ms, over "
                    f"{TIMER_LAG_LIMIT_MS:.0f} ms): the offered load trails the scenario.")
    text.append("Run fewer stations per process (more processes or machines, then `fleetsim merge`), "
                "or a lighter load.")
    return " ".join(text)


def gc_pause_share(recorder: Recorder, threshold_ms: float) -> float:
    """The share of the run spent in GC pauses longer than ``threshold_ms``
    (the run's length from the loop-lag probe: corrected for coordinated
    omission, it holds one sample per period of the run, late or not)."""
    loop_lag = recorder.simulator["loop_lag"]
    if loop_lag.total_count == 0:
        return 0.0
    watched_us = loop_lag.total_count * LOOP_PROBE_PERIOD_S * 1e6
    paused_us = sum(item.value_iterated_to * item.count_at_value_iterated_to
                    for item in recorder.simulator["gc_pause"].get_recorded_iterator()
                    if item.value_iterated_to > threshold_ms * 1000)
    return paused_us / watched_us


def faults_summary(recorder: Recorder) -> dict[str, Any]:
    """What was injected (``fault.*`` counters) and how the fleet recovered
    from each CSMS outage."""
    return {
        "injected": _by_prefix(recorder.counters(), "fault."),
        "outages": [msgspec.to_builtins(outage) for outage in recorder.outages],
    }


def live_summary(recorder: Recorder, percentiles: Sequence[float] = DEFAULT_PERCENTILES) -> Lazy:
    """What summary.json would say now (``models``, ``fleet``, ``simulator``,
    ``faults``, up to the last fold), each figure made when first read; any
    percentile can be read from its latency blocks."""
    listed = reported(percentiles)
    return Lazy({
        "models": Later(lambda: Lazy({model_id: Later(lambda model=model: _model_sections(model, listed))
                                      for model_id, model in sorted(recorder.models.items())})),
        "fleet": Later(lambda: _fleet_sections(recorder, listed)),
        "simulator": Later(lambda: _simulator_section(recorder, listed)),
        "faults": Later(lambda: faults_summary(recorder)),
    })


def recorder_summary(recorder: Recorder, percentiles: Sequence[float] = DEFAULT_PERCENTILES) -> dict[str, Any]:
    """``models``, ``fleet``, ``simulator`` and ``faults`` of summary.json,
    with ``percentiles`` (and those schema 1 requires) in every latency block."""
    return force(live_summary(recorder, percentiles))
