"""The recorder: interval histograms on the hot path, folded into totals; the
figures of summary.json (results/README.md)."""

from __future__ import annotations

import pytest

from fleetsim.metrics.recorder import ExchangeStats, Recorder
from fleetsim.metrics.summary import exchange_summary, lag_warning, recorder_summary


def test_an_answer_goes_into_the_interval_only_until_folded() -> None:
    stats = ExchangeStats(declared_timeout_s=10.0)
    stats.record_answer(due_s=1.0, sent_s=3.0, answered_s=3.5)
    assert (stats.corrected_interval.total_count, stats.corrected.total_count) == (1, 0)
    interval = stats.corrected_interval
    stats.fold()
    assert stats.corrected_interval is interval and interval.total_count == 0  # zeroed in place
    assert stats.corrected.get_max_value() == pytest.approx(2_500_000, rel=1e-3)  # from due
    assert stats.service.get_max_value() == pytest.approx(500_000, rel=1e-3)  # from sent


def test_folding_adds_interval_after_interval() -> None:
    stats = ExchangeStats(10.0)
    for second in range(5):
        stats.record_answer(second, second, second + 0.001 * (second + 1))
        stats.fold()
    assert stats.corrected.total_count == 5
    assert stats.corrected.get_min_value() == pytest.approx(1000, rel=1e-3)
    assert stats.corrected.get_max_value() == pytest.approx(5000, rel=1e-3)


def test_an_exchange_is_judged_against_its_models_declared_timeout() -> None:
    stats = ExchangeStats(declared_timeout_s=2.0)
    stats.record_answer(0.0, 0.0, 0.5)  # in time
    stats.record_answer(0.0, 0.0, 2.5)  # late: service time above the declared 2 s
    stats.record_answer(0.0, 1.9, 3.0)  # service 1.1 s, but 3 s from due: late only in the corrected view
    stats.record_error("InternalError")  # the third answer was a CALLERROR
    stats.record_timeout()
    stats.fold()
    figures = exchange_summary(stats)
    assert figures["count"] == 4 and figures["answered"] == 3
    assert figures["errors"] == {"InternalError": 1} and figures["errors_total"] == 1
    assert (figures["timeouts"], figures["late"], figures["over_declared"]) == (1, 1, 2)
    assert figures["over_declared_share"] == pytest.approx(2 / 4)
    assert figures["corrected_over_declared_share"] == pytest.approx(3 / 4)
    assert figures["declared_timeout_ms"] == 2000.0
    assert set(figures["corrected_ms"]) == {"p50", "p90", "p95", "p99", "p99.9", "max"}  # p95 by default
    assert figures["corrected_ms"]["max"] == pytest.approx(3000, rel=1e-3)
    assert figures["service_ms"]["max"] == pytest.approx(2500, rel=1e-3)


def test_an_action_never_answered_has_no_percentiles_and_no_share() -> None:
    figures = exchange_summary(ExchangeStats(5.0))
    assert figures["corrected_ms"] is None and figures["service_ms"] is None
    assert figures["over_declared_share"] is None


def _two_models() -> Recorder:
    recorder = Recorder()
    fast = recorder.model("fast", 1.0)
    slow = recorder.model("slow", 10.0)
    fast.exchange("Heartbeat").record_answer(0, 0, 2.0)  # over fast's 1 s (and late)
    slow.exchange("Heartbeat").record_answer(0, 0, 2.0)  # within slow's 10 s
    fast.declared_reaction_max_s["TriggerMessage→message"] = 1.0
    fast.record_reaction("TriggerMessage→message", 3.0)
    slow.record_reaction("TriggerMessage→message", 3.0)  # slow declares no maximum
    for model in (fast, slow):
        model.record_reaction("connect", 0.002)
        model.record_reaction("boot", 0.010)
        model.count("connect.ok")
        model.count("csms_call.Reset.Accepted")
    fast.count("connect.failed.refused")
    fast.count("connect.reconnect")
    slow.count("disconnect.reset")
    slow.count("boot.Pending")
    recorder.fold()
    return recorder


def test_fleet_figures_add_histograms_and_judge_each_model_by_its_own_declaration() -> None:
    summary = recorder_summary(_two_models())
    heartbeat = summary["fleet"]["exchanges"]["Heartbeat"]
    assert heartbeat["count"] == 2 and heartbeat["late"] == 1
    assert heartbeat["declared_timeout_ms"] == 1000.0  # the smallest
    assert heartbeat["corrected_over_declared_share"] == pytest.approx(0.5)  # fast's only, not both
    reaction = summary["fleet"]["reactions"]["TriggerMessage→message"]
    assert (reaction["count"], reaction["over_declared"], reaction["declared_max_ms"]) == (2, 1, None)
    fast = summary["models"]["fast"]["reactions"]["TriggerMessage→message"]
    assert (fast["declared_max_ms"], fast["over_declared"]) == (1000.0, 1)
    assert summary["models"]["slow"]["reactions"]["TriggerMessage→message"]["declared_max_ms"] is None


def test_connection_boot_and_csms_call_sections() -> None:
    summary = recorder_summary(_two_models())
    fleet = summary["fleet"]
    assert fleet["connection"]["connects"] == 2 and fleet["connection"]["reconnects"] == 1
    assert fleet["connection"]["failures"] == {"refused": 1}
    assert fleet["connection"]["disconnects"] == {"reset": 1}
    assert fleet["connection"]["connect_ms"]["max"] == pytest.approx(2.0, rel=1e-3)
    assert fleet["boot"]["answers"] == {"Pending": 1}
    assert fleet["boot"]["boot_ms"]["p50"] == pytest.approx(10.0, rel=1e-3)
    assert fleet["csms_calls"] == {"Reset": {"Accepted": 2}}
    assert "connect" not in fleet["reactions"] and "boot" not in fleet["reactions"]
    assert summary["models"]["fast"]["counters"]["connect.failed.refused"] == 1


# ---------------------------------------------------------------- the simulator's own lag


def _lagging(loop_lag_us: int, gc_pause_us: int, median_latency_s: float, probes: int = 100) -> Recorder:
    """A run of ``probes`` loop-lag probes (10 ms each), one GC pause."""
    recorder = Recorder()
    stats = recorder.model("m", 30.0).exchange("Heartbeat")
    for _ in range(100):
        stats.record_answer(0.0, 0.0, median_latency_s)
        recorder.simulator_histogram("timer_lag").record_value(100)
    recorder.simulator_histogram("loop_lag").record_value(loop_lag_us, probes)
    recorder.simulator_histogram("gc_pause").record_value(gc_pause_us)
    recorder.fold()
    return recorder


def test_a_simulator_that_keeps_up_raises_no_warning() -> None:
    recorder = _lagging(loop_lag_us=900, gc_pause_us=5_000, median_latency_s=0.005, probes=10_000)
    assert lag_warning(recorder) is None
    section = recorder_summary(recorder)["simulator"]
    assert section["warning"] is None
    assert section["loop_lag_ms"]["count"] == 10_000 and section["loop_lag_ms"]["p99"] == pytest.approx(0.9, rel=1e-3)
    assert section["gc_pause_ms"]["max"] == pytest.approx(5.0, rel=1e-3)


def test_loop_lag_beyond_the_accuracy_promised_is_called_out() -> None:
    # Threshold max(1 ms, 1 % of the median) plus the probe's 1 ms resolution.
    warning = lag_warning(_lagging(loop_lag_us=2_500, gc_pause_us=100, median_latency_s=0.005))
    assert warning is not None and "event-loop lag p99 2.5 ms" in warning
    # Against a CSMS taking 500 ms, 2.5 ms is half a percent: no distortion worth a warning.
    assert lag_warning(_lagging(loop_lag_us=2_500, gc_pause_us=100, median_latency_s=0.5)) is None


def test_a_long_gc_pause_is_called_out() -> None:
    warning = lag_warning(_lagging(loop_lag_us=100, gc_pause_us=25_000, median_latency_s=0.005))
    assert warning is not None and "GC pause max 25.0 ms" in warning


def test_a_rare_gc_pause_that_cannot_reach_p99_9_is_not_called_out() -> None:
    # 25 ms of pauses in a 1,000 s run (100,000 probes of 10 ms): 0.0025 % of the
    # answers at most, far below the 0.1 % that could move p99.9.
    recorder = _lagging(loop_lag_us=100, gc_pause_us=25_000, median_latency_s=0.005, probes=100_000)
    assert lag_warning(recorder) is None
    # The same pause a hundred times in that run covers 0.25 %: called out.
    recorder.simulator_histogram("gc_pause").record_value(25_000, 99)
    recorder.fold()
    warning = lag_warning(recorder)
    assert warning is not None and "covered 0.25% of the run" in warning


def test_timer_lag_is_called_out_as_late_load_not_as_distorted_latency() -> None:
    recorder = _lagging(loop_lag_us=100, gc_pause_us=100, median_latency_s=0.005)
    recorder.simulator_histogram("timer_lag").record_value(20_000, 10)  # 20 ms late: under the 50 ms limit
    recorder.fold()
    assert lag_warning(recorder) is None
    recorder.simulator_histogram("timer_lag").record_value(80_000, 50)
    recorder.fold()
    warning = lag_warning(recorder)
    assert warning is not None and "offered load trails" in warning and "distort" not in warning


def test_a_run_that_measured_nothing_gets_no_lag_warning() -> None:
    # A fleet that never connected has its real failure to report; a lag
    # warning about figures that do not exist would only hide it.
    recorder = Recorder()
    recorder.simulator_histogram("loop_lag").record_value(9_000, 100)
    recorder.simulator_histogram("timer_lag").record_value(900_000, 100)
    recorder.fold()
    assert lag_warning(recorder) is None
