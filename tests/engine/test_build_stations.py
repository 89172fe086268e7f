"""How the engine builds a fleet's stations from a RunSpec: ids, and which
connectors the sessions use."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fleetsim.engine.run import FleetShare, RunSpec, build_stations
from fleetsim.metrics.recorder import Recorder
from fleetsim.profiles.builtin import load_builtin
from fleetsim.sessions.config import Segment, SegmentSessions
from fleetsim.sessions.simple import SimpleSessions
from fleetsim.station.station import Station
from fleetsim.station.timebase import Timebase

PROFILES = load_builtin()
TWO_CONNECTORS = "wenzhou-bsec-22k-a-2-ccs2-400s"


def _live_a_day(stations: list[Station], speed: float) -> dict[tuple[str, int], int]:
    """Run the stations' timers (offline: the sessions go on) through a
    simulated day; how many times each connector was plugged in."""
    plugs: dict[tuple[str, int], int] = {}
    was_plugged = {(s.charge_point_id, c.connector_id): False for s in stations for c in s.connectors}
    end_s = 24 * 3600 / speed
    for station in stations:
        now_s = 0.0
        station._settle(now_s)
        while station.wake_at_s <= end_s:
            now_s = station.wake_at_s
            station.on_timer(now_s)
            for connector in station.connectors:
                key = (station.charge_point_id, connector.connector_id)
                if connector.plugged and not was_plugged[key]:
                    plugs[key] = plugs.get(key, 0) + 1
                was_plugged[key] = connector.plugged
    return plugs


def _build(share: FleetShare, sessions: SimpleSessions | None = SimpleSessions(mean_idle_s=1800)) -> list[Station]:
    spec = RunSpec(fleet=(share,), duration_s=60, speed=60.0, sessions=sessions, sim_start=None)
    timebase = Timebase(0.0, datetime(2026, 3, 3, 8, tzinfo=UTC), 60.0)
    return build_stations(spec, PROFILES, Recorder(), timebase)


@pytest.mark.parametrize("sessions", [None, SegmentSessions(segment=Segment.AC_PUBLIC,
                                                            sessions_per_connector_per_day=6.0)])
def test_sessions_use_only_the_connectors_a_group_names(sessions: SegmentSessions | None) -> None:
    everywhere = _live_a_day(_build(FleetShare(TWO_CONNECTORS, 10, sessions=sessions)), 60.0)
    assert {connector_id for _, connector_id in everywhere} == {1, 2}
    only_first = _live_a_day(_build(FleetShare(TWO_CONNECTORS, 10, sessions=sessions, connectors=(1,))), 60.0)
    assert only_first and {connector_id for _, connector_id in only_first} == {1}


def test_a_group_id_pattern_names_its_stations() -> None:
    stations = _build(FleetShare(TWO_CONNECTORS, 3, id_pattern="AMS-{n:03d}"), sessions=None)
    assert [s.charge_point_id for s in stations] == ["AMS-001", "AMS-002", "AMS-003"]
    default = _build(FleetShare(TWO_CONNECTORS, 1), sessions=None)
    assert default[0].charge_point_id == f"FS-{TWO_CONNECTORS}-00001"


def test_a_group_configuration_is_what_its_stations_start_with() -> None:
    share = FleetShare(TWO_CONNECTORS, 2, configuration=(("MeterValueSampleInterval", "300"),))
    configured, plain = _build(share, sessions=None), _build(FleetShare(TWO_CONNECTORS, 1), sessions=None)
    assert [s.config.get_int("MeterValueSampleInterval", 0) for s in configured] == [300, 300]
    assert plain[0].config.get_int("MeterValueSampleInterval", 0) == 60
