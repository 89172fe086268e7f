"""The figures of ``summary.json`` (layout: results/README.md), computed from a
recorder's cumulative histograms and counters.

Figures over several models always come from added histograms; counts judged
against a declared limit (timeouts, late answers, slow reactions) are judged
per model, against that model's own declaration, then summed.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any, Final

import msgspec

from fleetsim.metrics.histogram import Histogram, new_histogram, us

if TYPE_CHECKING:
    from fleetsim.metrics.recorder import ExchangeStats, ModelStats, Recorder

PERCENTILES: Final = (50.0, 90.0, 99.0, 99.9)
# The keys of every latency figure in summary.json ({"p50", ..., "max"}).
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


def percentiles_ms(histogram: Histogram) -> dict[str, float] | None:
    if histogram.total_count == 0:
        return None
    values = histogram.values_at_percentiles(PERCENTILES)
    figures = {f"p{p:g}": values[p] / 1000 for p in PERCENTILES}
    figures["max"] = histogram.get_max_value() / 1000
    return figures


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _corrected_over_declared(stats: ExchangeStats) -> int:
    return stats.corrected.count_above(stats.declared_timeout_us) + stats.timeouts


def exchange_summary(stats: ExchangeStats, *, corrected_over_declared: int | None = None) -> dict[str, Any]:
    """One action of one model (or of the fleet, given its per-model sum of
    ``corrected_over_declared``)."""
    count = stats.answered + stats.timeouts
    over = stats.late + stats.timeouts
    if corrected_over_declared is None:
        corrected_over_declared = _corrected_over_declared(stats)
    return {
        "count": count,
        "answered": stats.answered,
        "errors": dict(sorted(stats.errors.items())),
        "errors_total": sum(stats.errors.values()),
        "timeouts": stats.timeouts,
        "late": stats.late,
        "declared_timeout_ms": stats.declared_timeout_us / 1000,
        "over_declared": over,
        "over_declared_share": _share(over, count),
        "corrected_over_declared_share": _share(corrected_over_declared, count),
        "corrected_ms": percentiles_ms(stats.corrected),
        "service_ms": percentiles_ms(stats.service),
    }


def _by_prefix(counters: Counter[str], prefix: str) -> dict[str, int]:
    return {name[len(prefix):]: n for name, n in sorted(counters.items()) if name.startswith(prefix)}


def _csms_calls(counters: Counter[str]) -> dict[str, dict[str, int]]:
    calls: dict[str, dict[str, int]] = {}
    for name, n in sorted(counters.items()):
        if name.startswith("csms_call."):
            _, action, answer = name.split(".", 2)
            calls.setdefault(action, {})[answer] = n
    return calls


def _sections(counters: Counter[str], reactions: dict[str, Histogram],
              reaction_figures: dict[str, Any]) -> dict[str, Any]:
    """The sections models and the fleet share, from counters and histograms."""
    empty = new_histogram()
    return {
        "connection": {
            "connects": counters["connect.ok"],
            # Stations that connected, and were Accepted, at least once: a run
            # that could not drive its whole fleet shows it here.
            "stations_connected": counters["stations.connected"],
            "stations_booted": counters["stations.booted"],
            "reconnects": counters["connect.reconnect"],
            "failures": _by_prefix(counters, "connect.failed."),
            "disconnects": _by_prefix(counters, "disconnect."),
            "connect_ms": percentiles_ms(reactions.get(CONNECT, empty)),
        },
        "boot": {"answers": _by_prefix(counters, "boot."), "boot_ms": percentiles_ms(reactions.get(BOOT, empty))},
        "csms_calls": _csms_calls(counters),
        "reactions": reaction_figures,
        "counters": dict(sorted(counters.items())),
    }


def _reaction_over_declared(model: ModelStats, name: str) -> int:
    declared_s = model.declared_reaction_max_s.get(name)
    return 0 if declared_s is None else model.reactions[name].count_above(us(declared_s))


def model_summary(model: ModelStats) -> dict[str, Any]:
    reactions = {
        name: {
            "count": histogram.total_count,
            "declared_max_ms": (None if (declared_s := model.declared_reaction_max_s.get(name)) is None
                                else declared_s * 1000),
            "over_declared": _reaction_over_declared(model, name),
            "ms": percentiles_ms(histogram),
        }
        for name, histogram in sorted(model.reactions.items()) if name not in (CONNECT, BOOT)
    }
    return {
        "declared_timeout_s": model.declared_timeout_s,
        "exchanges": {action: exchange_summary(stats) for action, stats in sorted(model.exchanges.items())},
        **_sections(model.counters, model.reactions, reactions),
    }


def fleet_summary(recorder: Recorder) -> dict[str, Any]:
    models = list(recorder.models.values())
    exchanges = {
        action: exchange_summary(stats, corrected_over_declared=sum(
            _corrected_over_declared(m.exchanges[action]) for m in models if action in m.exchanges))
        for action, stats in sorted(recorder.fleet_exchanges().items())
    }
    merged: dict[str, Histogram] = {}
    for model in models:
        for name, histogram in model.reactions.items():
            merged.setdefault(name, new_histogram()).add(histogram)
    reactions = {
        name: {
            "count": histogram.total_count,
            "declared_max_ms": None,
            "over_declared": sum(_reaction_over_declared(m, name) for m in models if name in m.reactions),
            "ms": percentiles_ms(histogram),
        }
        for name, histogram in sorted(merged.items()) if name not in (CONNECT, BOOT)
    }
    return {"exchanges": exchanges, **_sections(recorder.counters(), merged, reactions)}


def _simulator_figures(histogram: Histogram) -> dict[str, Any] | None:
    figures = percentiles_ms(histogram)
    return None if figures is None else {"count": histogram.total_count, **figures}


def simulator_summary(recorder: Recorder) -> dict[str, Any]:
    section: dict[str, Any] = {f"{name}_ms": _simulator_figures(h) for name, h in recorder.simulator.items()}
    section["gc_collections"] = _by_prefix(recorder.simulator_counters, "gc.collections.")
    # Exceptions a station raised (a bug of ours, found by what the CSMS sent):
    # each disconnected that station only, and makes the run fail.
    section["station_errors"] = recorder.simulator_counters["station_errors"]
    section["warning"] = lag_warning(recorder)
    return section


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
        text.append(f"the simulator's own lag could distort the latency figures: {'; '.join(problems)}. Latencies "
                    f"include up to that much of the simulator's own delay; fleetsim promises max(1 ms, 1 %) "
                    f"({threshold_ms:.1f} ms here).")
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


def recorder_summary(recorder: Recorder) -> dict[str, Any]:
    return {
        "models": {model_id: model_summary(model) for model_id, model in sorted(recorder.models.items())},
        "fleet": fleet_summary(recorder),
        "simulator": simulator_summary(recorder),
        "faults": faults_summary(recorder),
    }
