"""The station's wall clock: ``Station.wall`` (compiled in a compiled build)
gives the very datetime ``Timebase.wall`` does, for every kind of timebase a
run makes (accelerated, real wall-clock timestamps, a simulated origin of its
own, a skewed clock) and after the timebase is replaced (a clock-skew fault)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import msgspec
from core_steps import AC_3PHASE, model
from hypothesis import given
from hypothesis import strategies as st

from fleetsim.metrics.recorder import Recorder
from fleetsim.station.station import Station
from fleetsim.station.timebase import Timebase

MODEL = model(AC_3PHASE)
ORIGIN = datetime(2026, 3, 29, 0, 59, 58, 999_999, tzinfo=UTC)  # a second before a DST change, 1 µs short

timebases = st.builds(
    Timebase,
    origin_s=st.floats(min_value=0.0, max_value=1e6),
    origin_wall=st.just(ORIGIN),
    speed=st.sampled_from([1.0, 2.0, 60.0, 900.0, 3600.0]),
    wall_timestamps=st.booleans(),
    sim_origin=st.one_of(st.none(), st.just(datetime(2026, 6, 1, 6, 30, tzinfo=timezone(timedelta(hours=2))))),
    skew_s=st.floats(min_value=-86_400.0, max_value=86_400.0),
)


def _station(timebase: Timebase) -> Station:
    recorder = Recorder()
    return Station("CP-1", MODEL, recorder.model(MODEL.model_id, 30.0), random.Random(1), timebase)


@given(timebase=timebases, after_s=st.floats(min_value=0.0, max_value=1e6))
def test_the_station_dates_as_its_timebase_does(timebase: Timebase, after_s: float) -> None:
    station = _station(timebase)
    now_s = timebase.origin_s + after_s
    assert station.wall(now_s) == timebase.wall(now_s)
    assert station.wall(now_s).utcoffset() == timebase.wall(now_s).utcoffset()


def test_a_replaced_timebase_is_read_at_once() -> None:
    timebase = Timebase(100.0, ORIGIN, 60.0)
    station = _station(timebase)
    assert station.wall(101.0) == ORIGIN + timedelta(seconds=60)
    station.timebase = msgspec.structs.replace(timebase, skew_s=-30.0)  # as a clock-skew fault does
    assert station.wall(101.0) == ORIGIN + timedelta(seconds=30)
