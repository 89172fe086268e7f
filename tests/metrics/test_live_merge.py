"""The live view of a run split over workers: each interval's figures come
from the workers' histograms added (never averaged percentiles), and the
counts from their snapshots added."""

from __future__ import annotations

import random

from fleetsim.metrics import hlog
from fleetsim.metrics.histogram import new_histogram
from fleetsim.metrics.live import CallCounts, LastInterval, LiveSnapshot, combine_snapshots, merged_interval


def _lines(seed: int, scale: int) -> tuple[list[str], dict[str, list[int]]]:
    rng = random.Random(seed)
    values: dict[str, list[int]] = {}
    lines = []
    for tag in ("corrected.model-a.Heartbeat", "corrected.model-b.Heartbeat", "service.model-a.Heartbeat",
                "corrected.model-a.BootNotification", "simulator.loop_lag"):
        histogram = new_histogram()
        drawn = [rng.randint(1, scale) for _ in range(rng.randint(50, 300))]
        for value in drawn:
            histogram.record_value(value)
        values[tag] = drawn
        lines.append(hlog.interval_line(tag, 0.0, 1.0, histogram))
    return lines, values


def test_an_intervals_percentiles_are_those_of_every_workers_samples_together() -> None:
    (lines_a, values_a), (lines_b, values_b) = _lines(1, 2_000), _lines(2, 90_000)  # one fast, one slow worker
    interval = merged_interval(5.0, 1.0, lines_a + lines_b)
    heartbeat = next(a for a in interval.actions if a.action == "Heartbeat")
    every = new_histogram()
    for values in (values_a, values_b):
        for tag in ("corrected.model-a.Heartbeat", "corrected.model-b.Heartbeat"):  # not the service view
            for value in values[tag]:
                every.record_value(value)
    assert heartbeat.count == every.total_count
    assert heartbeat.p99_ms == every.get_value_at_percentile(99.0) / 1000
    assert heartbeat.p50_ms == every.get_value_at_percentile(50.0) / 1000
    # An average of the workers' p99s would be far from it: the test tells them apart.
    (lag,) = interval.simulator
    assert lag.series == "loop_lag" and lag.count == len(values_a["simulator.loop_lag"]) + len(
        values_b["simulator.loop_lag"])
    assert [a.action for a in interval.actions] == ["BootNotification", "Heartbeat"]


def _snapshot(elapsed_s: float, started: int, out: int, errors: int, declared: float) -> LiveSnapshot:
    return LiveSnapshot(elapsed_s=elapsed_s, duration_s=60.0, fleet=10, started=started, connected=started,
                        booted=started - 1, charging=1, messages_out=out, messages_in=out - 2, out_per_s=0.0,
                        in_per_s=0.0, errors=errors, timeouts=0, declared_ms=(("Heartbeat", declared),),
                        connections=(("model-a", (("connect.ok", started),)),),
                        calls=(CallCounts("model-a", "Heartbeat", out, 0, (("InternalError", errors),)),))


def test_the_workers_snapshots_add_up_to_the_fleets() -> None:
    parts = [_snapshot(9.0, 5, 100, 1, 10_000.0), _snapshot(9.1, 4, 60, 2, 5_000.0)]
    shown = LastInterval(9.0, 1.0)
    previous = combine_snapshots([_snapshot(8.0, 5, 80, 0, 10_000.0), _snapshot(8.0, 4, 40, 0, 5_000.0)],
                                 elapsed_s=8.0, duration_s=60.0, fleet=20, last_interval=shown)
    fleet = combine_snapshots(parts, elapsed_s=10.0, duration_s=60.0, fleet=20, last_interval=shown,
                              previous=previous)
    assert (fleet.started, fleet.booted, fleet.messages_out, fleet.errors) == (9, 7, 160, 3)
    assert fleet.out_per_s == (160 - 120) / 2.0
    assert fleet.declared_ms == (("Heartbeat", 5_000.0),)  # the tighter of the models' limits
    assert fleet.connections == (("model-a", (("connect.ok", 9),)),)
    assert fleet.calls == (CallCounts("model-a", "Heartbeat", 160, 0, (("InternalError", 3),)),)
    assert fleet.last_interval is shown
