"""Stages: load that changes during a run, k6-style.

A run with stages starts with no station connected; each stage moves the
number of running stations to its target at the run's ramp rate (stations
added are started as at the start of a run; stations removed stop their
transactions, deliver the StopTransactions, then close), and holds it until
the stage's time is up.  Which stations run is always a prefix of the
whole fleet's ramp order, so the mix stays fair at every size and the shards
of a split run (fleetsim.spec.shard) each run their own part of the prefix.

Each stage's **plateau** is measured on its own: the whole intervals of the
run's grid from the first tick at least one interval after the ramp into the
stage ended, to the stage's end.  The ramp is excluded (a CSMS taking on a
thousand connections is not the CSMS serving them), and so is the interval
after it, in which the last stations added boot and report their connectors
(a burst of 2 + connectors calls each); the summary says how much was.  Pure.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from typing import Final

import msgspec

from fleetsim.inputs import MAX_DURATION_S, MAX_STATIONS, number_text

# Stages of one run: a capacity search's steps and bisection fit many times over.
MAX_STAGES: Final = 1000
# A plateau must hold at least this many whole intervals, or its figures are
# one interval's noise (and a p99 of one interval is one slow call).
MIN_PLATEAU_INTERVALS: Final = 2


class StageError(ValueError):
    """A stage plan that cannot be run, in one sentence."""


class Stage(msgspec.Struct, frozen=True):
    """Move to ``stations`` running stations, then hold: ``duration_s`` of
    real time in all, the ramp included."""

    duration_s: float
    stations: int


class StageWindow(msgspec.Struct, frozen=True):
    """Where a stage falls in the run (real seconds since its start)."""

    index: int  # from 1, as users count them
    stations: int  # its target
    from_stations: int  # what ran before it
    start_s: float
    ramp_end_s: float  # when the ramp into it is done (start_s when there is none)
    plateau_start_s: float  # the first interval tick at least one interval after ramp_end_s
    end_s: float

    @property
    def plateau_s(self) -> float:
        return max(0.0, self.end_s - self.plateau_start_s)

    @property
    def excluded_s(self) -> float:
        """The stage's time left out of its plateau (the ramp into it, and up to the next tick)."""
        return self.plateau_start_s - self.start_s


def ramp_s(from_stations: int, to_stations: int, ramp_per_s: float) -> float:
    """How long moving from one count to the other takes at the run's ramp
    rate (0: at once)."""
    return abs(to_stations - from_stations) / ramp_per_s if ramp_per_s > 0 else 0.0


def plateau_start(ramp_end_s: float, interval_s: float) -> float:
    """The first interval tick at least one interval after ``ramp_end_s``:
    where a plateau after a ramp begins."""
    # Tick times are multiples of interval_s; a hair of float error must not skip one.
    return (math.ceil(ramp_end_s / interval_s - 1e-9) + 1) * interval_s


def stage_windows(stages: Sequence[Stage], ramp_per_s: float, interval_s: float,
                  start_stations: int = 0) -> list[StageWindow]:
    """Each stage's place in the run, one after the other from the start."""
    windows = []
    start_s = 0.0
    before = start_stations
    for index, stage in enumerate(stages, start=1):
        end_s = start_s + stage.duration_s
        ramp_end_s = start_s + ramp_s(before, stage.stations, ramp_per_s)
        plateau_start_s = plateau_start(ramp_end_s, interval_s)
        windows.append(StageWindow(index, stage.stations, before, start_s, ramp_end_s, plateau_start_s, end_s))
        start_s, before = end_s, stage.stations
    return windows


def check_stages(stages: Sequence[Stage], *, ramp_per_s: float, interval_s: float, fleet: int) -> None:
    """Raise :class:`StageError` for a plan that cannot be run or measured:
    a target below zero or above the fleet, a duration out of bounds, a
    plateau shorter than MIN_PLATEAU_INTERVALS intervals."""
    if not stages:
        raise StageError("a run with stages has at least one stage")
    if len(stages) > MAX_STAGES:
        raise StageError(f"{len(stages):,} stages: a run has at most {MAX_STAGES:,}")
    total_s = 0.0
    for index, stage in enumerate(stages, start=1):
        if stage.stations < 0:
            raise StageError(f"stage {index} asks for {stage.stations:,} stations: a stage's target is 0 or more")
        if stage.stations > min(fleet, MAX_STATIONS):
            raise StageError(f"stage {index} asks for {stage.stations:,} stations, but the fleet has {fleet:,}: "
                             "give --stations (or the groups) at least the largest target")
        if not (math.isfinite(stage.duration_s) and 0 < stage.duration_s <= MAX_DURATION_S):
            # number_text takes finite numbers only: nan and inf are said as Python writes them.
            said = number_text(stage.duration_s) if math.isfinite(stage.duration_s) else f"{stage.duration_s:g}"
            raise StageError(f"stage {index} lasts {said} s: a stage lasts more than 0 s "
                             f"and at most {MAX_DURATION_S / 86_400:.0f} days")
        total_s += stage.duration_s
    if total_s > MAX_DURATION_S:
        raise StageError(f"the stages last {total_s / 86_400:.1f} days together: a run lasts at most "
                         f"{MAX_DURATION_S / 86_400:.0f} days")
    for window in stage_windows(stages, ramp_per_s, interval_s):
        if window.plateau_s < MIN_PLATEAU_INTERVALS * interval_s - 1e-9:
            ramp = window.ramp_end_s - window.start_s
            raise StageError(
                f"stage {window.index} ({window.from_stations:,} → {window.stations:,} stations in "
                f"{number_text(window.end_s - window.start_s)} s) holds its target for "
                f"{number_text(round(window.plateau_s, 3))} s after a ramp of {number_text(round(ramp, 3))} s: "
                f"a plateau needs at least {MIN_PLATEAU_INTERVALS} intervals "
                f"({number_text(MIN_PLATEAU_INTERVALS * interval_s)} s); make the stage longer or the ramp faster")


def stages_duration_s(stages: Sequence[Stage]) -> float:
    return sum(stage.duration_s for stage in stages)


def target_at(windows: Sequence[StageWindow], elapsed_s: float) -> int:
    """The target in force ``elapsed_s`` into the run (the last stage's after the end)."""
    for window in windows:
        if elapsed_s < window.end_s:
            return window.stations
    return windows[-1].stations if windows else 0


def shard_target(positions: Sequence[int], target: int) -> int:
    """How many of a shard's stations (their whole-fleet ramp positions, in
    ascending order: fleetsim.spec.run.shard_positions) fall within the
    fleet's first ``target``."""
    return bisect.bisect_left(positions, target)
