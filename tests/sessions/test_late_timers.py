"""Sessions follow the plan however late the event loop runs their timers.

Under acceleration a timer late by a few milliseconds is minutes of simulated
time (at 3600x, 17 ms is a minute).  A departure scheduled from when its
arrival's timer actually ran came that much late, past the next arrival the
plan had put a minute after it, and that driver found the connector busy and
left.  Every event is now due where the plan puts it; these tests feed the
station late ``now_s`` values as a lagging loop would."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from unittest import mock

import msgspec
import pytest
from session_bench import AC_3PHASE, Bench, model, run_late

from fleetsim.sessions.config import ReplaySessions, Segment, SegmentSessions
from fleetsim.sessions.generate import SegmentPlan, StationSessions
from fleetsim.sessions.replay import ConnectorSlot, ReplayedSession, StationReplay
from fleetsim.sessions.simple import SimpleSessions, drive
from fleetsim.station.station import Station
from fleetsim.station.timebase import fixed_timebase

SPEED = 3600.0
GAP_S = 7200.0  # simulated: an arrival every 2 h (2 s of engine time)
SLACK_S = 60.0  # simulated: each EV leaves a minute before the next arrives (17 ms of engine time)


def _bench(speed: float) -> Bench:
    """A booted station whose simulated time runs ``speed`` times faster."""
    bench = Bench(model(AC_3PHASE))
    timebase = fixed_timebase(datetime(2026, 1, 5, 7, 0, tzinfo=UTC))  # a Monday morning
    bench.timebase = timebase = msgspec.structs.replace(timebase, speed=speed)
    station = bench.station
    bench.station = Station(station.charge_point_id, station.model, station.stats, random.Random(1), timebase,
                            reaction_delays=False)
    bench.connect()
    bench.run_for(30 / speed + 0.05)
    assert bench.station.registration == "Accepted"
    return bench


def _replay(bench: Bench, sessions: int) -> None:
    """``sessions`` back to back on connector 1, as check_replay fits them."""
    plan = tuple(ReplayedSession(line, 0, (line - 2) * GAP_S + 60.0, GAP_S - SLACK_S, 5.0)
                 for line in range(2, sessions + 2))
    slots = [ConnectorSlot(bench.station.charge_point_id, 1, 22.0)]
    StationReplay(bench.station, plan, slots, ReplaySessions(file="recorded.csv"), 1, None).start(bench.now_s)


@pytest.mark.parametrize("lag_ms", [(20.0, 20.0), (0.0, 500.0)],
                         ids=["a-minute-and-more-late", "up-to-a-quarter-of-the-gap"])
def test_no_replayed_session_that_fits_is_lost_to_late_timers(lag_ms: tuple[float, float]) -> None:
    bench = _bench(SPEED)
    _replay(bench, 12)
    rng = random.Random(3)
    run_late(bench, bench.now_s + 13 * GAP_S / SPEED, lambda: rng.uniform(*lag_ms) / 1000)
    counters = bench.station.stats.counters
    assert counters["session.lost_busy"] == 0
    assert counters["session.arrived"] == counters["session.departed"] == 12


def _plug_ins(bench: Bench, start: object, end_s: float, lag_s: float) -> list[tuple[int, float]]:
    """When each EV was plugged in (connector, engine seconds), timers late by up to ``lag_s``."""
    seen: list[tuple[int, float]] = []
    plug_in = Station.plug_in

    def recording(station: Station, connector_id: int, ev: object, now_s: float) -> None:
        seen.append((connector_id, now_s))
        plug_in(station, connector_id, ev, now_s)  # type: ignore[arg-type]

    rng = random.Random(5)
    with mock.patch.object(Station, "plug_in", recording):
        start(bench)  # type: ignore[operator]
        run_late(bench, end_s, lambda: rng.uniform(0.0, lag_s))
    return seen


def _simple(bench: Bench) -> None:
    drive(bench.station, SimpleSessions(mean_idle_s=900.0, mean_connected_s=1800.0), random.Random(2), bench.now_s)


def _generated(bench: Bench) -> None:
    config = SegmentSessions(segment=Segment.DC_FAST, sessions_per_connector_per_day=16.0)  # short stays
    StationSessions(bench.station, SegmentPlan.of(config), 4, None).start(bench.now_s)


@pytest.mark.parametrize("start", [_simple, _generated], ids=["simple", "generated"])
def test_lag_never_accumulates_into_the_session_cycle(start: object) -> None:
    """Each arrival is late by at most the loop's lag, not by the sum of the
    lags of every event before it (a lagging run had fewer sessions)."""
    lag_s = 30.0  # at speed 1: half a day of sessions, each timer up to 30 s late
    on_time = _plug_ins(_bench(1.0), start, 43_200.0, 0.0)
    late = _plug_ins(_bench(1.0), start, 43_200.0, lag_s)
    assert len(on_time) >= 8
    assert [connector for connector, _ in late] == [connector for connector, _ in on_time]
    for (_, planned_s), (_, played_s) in zip(on_time, late, strict=True):
        assert 0.0 <= played_s - planned_s <= lag_s
