"""Stages on paper: where each stage and its plateau fall in the run (a
plateau begins at the first interval tick at least one interval after the
ramp into it), the plans refused with the numbers that make them so, and a
stage's target split over shards adding up to exactly the fleet's first
stations."""

from __future__ import annotations

import pytest

from fleetsim.sessions.simple import SimpleSessions
from fleetsim.spec.run import FleetShare, RunSpec, shard_positions
from fleetsim.spec.shard import Shard
from fleetsim.spec.stages import (
    MAX_STAGES,
    Stage,
    StageError,
    StageWindow,
    check_stages,
    plateau_start,
    shard_target,
    stage_windows,
    stages_duration_s,
    target_at,
)


def test_a_ramp_up_and_down_places_each_stage_and_its_plateau() -> None:
    windows = stage_windows([Stage(10, 100), Stage(10, 300), Stage(6, 0)], ramp_per_s=100, interval_s=1.0)
    assert windows == [
        # 0 → 100 at 100/s: the ramp is done at 1 s, its plateau begins a whole interval later.
        StageWindow(1, 100, 0, 0.0, 1.0, 2.0, 10.0),
        StageWindow(2, 300, 100, 10.0, 12.0, 13.0, 20.0),
        # Down as up: 300 stations removed at 100/s take 3 s.
        StageWindow(3, 0, 300, 20.0, 23.0, 24.0, 26.0),
    ]
    assert [(w.plateau_s, w.excluded_s) for w in windows] == [(8.0, 2.0), (7.0, 3.0), (2.0, 4.0)]


def test_a_ramp_ending_between_ticks_waits_for_the_tick_after_the_next() -> None:
    # 0 → 150 at 100/s ends at 1.5 s: the next tick is 2 s, and one more interval after it, 3 s.
    (window,) = stage_windows([Stage(10, 150)], ramp_per_s=100, interval_s=1.0)
    assert (window.ramp_end_s, window.plateau_start_s, window.plateau_s) == (1.5, 3.0, 7.0)


def test_without_a_ramp_the_plateau_begins_one_interval_after_the_stage() -> None:
    windows = stage_windows([Stage(4, 50), Stage(2.5, 80), Stage(5, 10)], ramp_per_s=0, interval_s=1.0)
    assert [(w.start_s, w.ramp_end_s, w.plateau_start_s) for w in windows] == [
        (0.0, 0.0, 1.0),  # all at once at 0: the interval 0-1 holds their boots
        (4.0, 4.0, 5.0),
        (6.5, 6.5, 8.0),  # a stage starting between ticks: the next tick (7), then one interval
    ]


def test_a_fractional_interval_is_not_skipped_by_float_error() -> None:
    # 30 stations at 100/s: 0.3 s (0.3 / 0.1 is 2.9999999999999996 in floats), 70: 0.7 s (6.999999999999999).
    first, second = stage_windows([Stage(2, 30), Stage(2, 100)], ramp_per_s=100, interval_s=0.1)
    assert first.plateau_start_s == pytest.approx(0.4)
    assert second.plateau_start_s == pytest.approx(2.8)
    assert plateau_start(0.30000000000000004, 0.1) == pytest.approx(0.4)
    assert plateau_start(1.0, 1.0) == 2.0 and plateau_start(1.001, 1.0) == 3.0 and plateau_start(0.0, 0.5) == 0.5


def test_a_plan_can_start_from_stations_already_running() -> None:
    (window,) = stage_windows([Stage(10, 20)], ramp_per_s=10, interval_s=1.0, start_stations=50)
    assert (window.from_stations, window.ramp_end_s, window.plateau_start_s) == (50, 3.0, 4.0)


def test_the_target_in_force_and_the_length_of_the_plan() -> None:
    stages = [Stage(10, 100), Stage(5, 0), Stage(5, 40)]
    windows = stage_windows(stages, ramp_per_s=100, interval_s=1.0)
    assert [target_at(windows, t) for t in (0, 9.99, 10, 14.9, 15, 30)] == [100, 100, 0, 0, 40, 40]
    assert stages_duration_s(stages) == 20.0


def _refusal(stages: list[Stage], *, ramp_per_s: float = 100, interval_s: float = 1.0, fleet: int = 1000) -> str:
    with pytest.raises(StageError) as raised:
        check_stages(stages, ramp_per_s=ramp_per_s, interval_s=interval_s, fleet=fleet)
    return str(raised.value)


def test_an_empty_plan_is_refused() -> None:
    assert _refusal([]) == "a run with stages has at least one stage"


def test_a_target_above_the_fleet_names_the_stage_and_both_counts() -> None:
    message = _refusal([Stage(10, 100), Stage(10, 1500)], fleet=1200)
    assert message.startswith("stage 2 asks for 1,500 stations, but the fleet has 1,200")


def test_a_negative_target_and_a_bad_duration_name_the_stage() -> None:
    assert "stage 2 asks for -5 stations: a stage's target is 0 or more" in _refusal([Stage(10, 5), Stage(10, -5)])
    assert _refusal([Stage(10, 5), Stage(0, 5)]).startswith("stage 2 lasts 0 s: a stage lasts more than 0 s")
    assert _refusal([Stage(float("nan"), 5)]).startswith("stage 1 lasts nan s: a stage lasts more than 0 s")
    assert _refusal([Stage(float("inf"), 5)]).startswith("stage 1 lasts inf s: a stage lasts more than 0 s")
    assert "1,001 stages" in _refusal([Stage(10, 1)] * (MAX_STAGES + 1))


def test_a_plateau_shorter_than_two_intervals_is_refused_with_the_numbers() -> None:
    # 0 → 200 at 100/s: ramp 2 s, plateau from 3 s; the stage ends at 4.5 s: 1.5 s of plateau.
    message = _refusal([Stage(20, 100), Stage(4.5, 300)])
    assert message == ("stage 2 (100 → 300 stations in 4.5 s) holds its target for 1.5 s after a ramp of 2 s: "
                       "a plateau needs at least 2 intervals (2 s); make the stage longer or the ramp faster")
    # Intervals of 2 s: 4 s of plateau needed.
    assert "holds its target for 3 s after a ramp of 1 s: a plateau needs at least 2 intervals (4 s)" in _refusal(
        [Stage(7, 100)], interval_s=2.0)


def test_a_plateau_of_exactly_two_intervals_is_enough() -> None:
    # Ramp 1 s, plateau from 2 s to 4 s: two whole intervals.
    check_stages([Stage(4, 100)], ramp_per_s=100, interval_s=1.0, fleet=100)
    check_stages([Stage(0.4, 10), Stage(0.3, 10)], ramp_per_s=100, interval_s=0.1, fleet=10)
    assert "stage 1" in _refusal([Stage(3.99, 100)], fleet=100)


def _spec(count: int, index: int) -> RunSpec:
    fleet = (FleetShare("wenzhou-bsec-22k-a-2-ccs2-400s", 23), FleetShare("bescore-bsc-s12bcc", 11),
             FleetShare("bionever-bss011k-v1000", 7))
    return RunSpec(fleet=fleet, duration_s=60, sessions=SimpleSessions(), shard=Shard(index, count))


@pytest.mark.parametrize("count", [1, 2, 3, 5, 41, 50])
def test_the_shards_targets_add_up_to_the_fleets_first_stations(count: int) -> None:
    parts = [shard_positions(_spec(count, index)) for index in range(count)]
    assert sorted(p for part in parts for p in part) == list(range(41))
    for target in range(42):
        mine = [shard_target(part, target) for part in parts]
        assert sum(mine) == target, (target, mine)
        # Each shard runs a prefix of its own stations: together the fleet's first ``target``.
        assert sorted(p for part, n in zip(parts, mine, strict=True) for p in part[:n]) == list(range(target))
