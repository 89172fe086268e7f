"""Shards: shard i of n is a deterministic part of the fleet, and the union of
the n shards is exactly the one-process fleet (ids, sessions, faults)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from fleetsim.engine.run import _fault_schedule, build_stations
from fleetsim.metrics.recorder import Recorder
from fleetsim.profiles.builtin import load_builtin
from fleetsim.sessions.config import ReplaySessions, Segment, SegmentSessions
from fleetsim.sessions.faults import ConnectorFaults, Drops, FaultPlan, Reboots, StationFault, Storm
from fleetsim.sessions.simple import SimpleSessions
from fleetsim.spec.run import FleetShare, RunSpec, shard_positions, shard_station_ids, station_ids
from fleetsim.spec.shard import Shard
from fleetsim.station.station import Station
from fleetsim.station.timebase import Timebase

PROFILES = load_builtin()
DATA = Path(__file__).resolve().parents[2] / "scenarios" / "data"
START = datetime(2026, 3, 3, 6, tzinfo=UTC)
SPEED = 600.0
REPLAYED = next(pid for pid in sorted(PROFILES) if pid not in ("bescore-bsc-s12bcc", "wenzhou-bsec-22k-a-2-ccs2-400s"))


def _spec(**changes: object) -> RunSpec:
    fleet = (
        FleetShare("wenzhou-bsec-22k-a-2-ccs2-400s", 23, id_pattern="AMS-{n:03d}",
                   sessions=SegmentSessions(segment=Segment.AC_PUBLIC, sessions_per_connector_per_day=8.0)),
        FleetShare("bescore-bsc-s12bcc", 11),
        FleetShare(REPLAYED, 7,
                   sessions=ReplaySessions(file=str(DATA / "acn_caltech_2019_sessions.csv"), shift="now")),
    )
    spec = RunSpec(fleet=fleet, duration_s=60, speed=SPEED, sessions=SimpleSessions(mean_idle_s=1800), sim_start=START,
                   faults=FaultPlan(drops=Drops(per_station_per_hour=2.0), storms=(Storm(at_s=3600, share=0.4),),
                                    reboots=(Reboots(at_s=7200, share=0.3),),
                                    connector_faults=ConnectorFaults(per_connector_per_hour=1.0)))
    return msgspec.structs.replace(spec, **changes)


def _shards(spec: RunSpec, count: int) -> list[RunSpec]:
    return [msgspec.structs.replace(spec, shard=Shard(i, count)) for i in range(count)]


@pytest.mark.parametrize(("text", "shard"), [("0/1", Shard(0, 1)), ("2/4", Shard(2, 4)), (" 3 / 10 ", Shard(3, 10))])
def test_a_shard_is_written_i_of_n(text: str, shard: Shard) -> None:
    assert Shard.parse(text) == shard
    assert Shard.parse(str(shard)) == shard


@pytest.mark.parametrize("text", ["4/4", "1", "-1/2", "a/b", "1/0", "0/99999999", ""])
def test_a_shard_that_cannot_be_is_refused_saying_how_to_write_one(text: str) -> None:
    with pytest.raises(ValueError, match=r"shard|I/N"):
        Shard.parse(text)


@pytest.mark.parametrize("count", [1, 2, 3, 5, 41, 60])
def test_the_shards_together_are_the_fleet_each_station_once_in_ramp_order(count: int) -> None:
    whole = station_ids(_spec())
    seen: list[tuple[str, str]] = []
    for spec in _shards(_spec(), count):
        mine = shard_station_ids(spec)
        positions = shard_positions(spec)
        # Each station stands where the whole fleet's order has it, and the
        # shard keeps the whole fleet's order.
        assert [whole[p] for p in positions] == mine
        assert positions == sorted(positions)
        assert spec.stations() == len(mine)
        assert sum(spec.stations_per_model().values()) == len(mine)
        seen += mine
    assert sorted(seen) == sorted(whole) and len(set(seen)) == len(whole)


def test_each_shard_is_a_fair_sample_of_the_mix() -> None:
    for spec in _shards(_spec(), 4):
        per_model = spec.stations_per_model()
        for share in spec.fleet:
            assert abs(per_model[share.profile_id] - share.stations / 4) < 1


def _timeline(stations: list[Station], until_s: float) -> dict[str, list[tuple[float, int, bool, bool]]]:
    """Every station's own life, offline, to ``until_s``: when each connector
    was plugged and charging (its sessions, drawn or replayed)."""
    lives = {}
    for station in stations:
        events = []
        station._settle(0.0)
        while station.wake_at_s <= until_s:
            now_s = station.wake_at_s
            station.on_timer(now_s)
            events += [(round(now_s, 9), c.connector_id, c.plugged, c.transaction is not None)
                       for c in station.connectors]
        lives[station.charge_point_id] = events
    return lives


def _build(spec: RunSpec) -> list[Station]:
    return build_stations(spec, PROFILES, Recorder(), Timebase(0.0, START, SPEED, sim_origin=START))


def test_the_shards_stations_live_the_same_lives_as_in_one_process() -> None:
    until_s = 12 * 3600 / SPEED  # half a simulated day
    whole = _timeline(_build(_spec()), until_s)
    assert sum(len(events) for events in whole.values()) > 500  # sessions happen: the comparison means something
    split: dict[str, list[tuple[float, int, bool, bool]]] = {}
    for spec in _shards(_spec(), 3):
        split.update(_timeline(_build(spec), until_s))
    assert split == whole


def test_replayed_sessions_are_laid_out_on_the_whole_group_not_on_each_shard() -> None:
    def replayed(stations: list[Station]) -> dict[str, int]:
        return {s.charge_point_id: s.stats.counters.get("replay.unfit.no_connector", 0) for s in stations
                if s.model.model_id == REPLAYED}
    whole = _build(_spec())
    split = [station for spec in _shards(_spec(), 7) for station in _build(spec)]
    assert replayed(split) == replayed(whole)


def _station_faults(spec: RunSpec, horizon: int) -> list[tuple[float, str, str, int]]:
    """The first ``horizon`` station faults of the whole fleet that fall to
    this shard's stations: (time, kind, charge point id, connector)."""
    stations = _build(spec)
    schedule, positions = _fault_schedule(spec, stations, PROFILES)
    runner_at = {p: i for i, p in enumerate(positions)} if positions is not None else None
    faults = []
    for event in itertools.islice(schedule.events(), horizon):
        if isinstance(event, StationFault):
            index = event.station if runner_at is None else runner_at.get(event.station)
            if index is not None:
                faults.append((event.at_s, str(event.kind), stations[index].charge_point_id, event.connector_id))
    return faults


def test_the_shards_faults_are_the_fleets_faults() -> None:
    whole = _station_faults(_spec(), 400)
    assert {kind for _, kind, _, _ in whole} >= {"drop", "storm", "reboot", "connector"}
    split = sorted(fault for spec in _shards(_spec(), 3) for fault in _station_faults(spec, 400))
    assert split == sorted(whole)


def test_clock_skews_fall_on_the_same_stations_in_shards() -> None:
    from fleetsim.sessions.faults import ClockSkew

    spec = _spec(faults=FaultPlan(clock_skew=ClockSkew(share=0.5, max_skew_s=120)))

    def skews(stations: list[Station]) -> dict[str, float]:
        return {s.charge_point_id: s.timebase.skew_s for s in stations}

    whole = skews(_build_skewed(spec))
    assert sum(1 for skew in whole.values() if skew) == round(0.5 * spec.fleet_stations())
    split: dict[str, float] = {}
    for shard in _shards(spec, 4):
        split.update(skews(_build_skewed(shard)))
    assert split == whole


def _build_skewed(spec: RunSpec) -> list[Station]:
    from fleetsim.engine.faults import apply_clock_skew

    stations = _build(spec)
    schedule, positions = _fault_schedule(spec, stations, PROFILES)
    apply_clock_skew(stations, schedule, positions)
    return stations


def test_a_shard_takes_its_own_source_addresses_when_there_are_enough() -> None:
    addresses = tuple(f"127.0.0.{n}" for n in range(2, 8))
    assert Shard(1, 3).source_addresses(addresses) == ("127.0.0.3", "127.0.0.6")
    assert sorted(a for i in range(3) for a in Shard(i, 3).source_addresses(addresses)) == sorted(addresses)
    assert Shard(1, 8).source_addresses(addresses) == addresses  # fewer than shards: shared
    assert Shard(0, 4).ramp_per_s(200.0) == 50.0
