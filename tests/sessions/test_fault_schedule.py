"""The seeded fault schedule (fleetsim.sessions.faults): the same seed gives the
same faults; shares, rates and skews are as the plan asks (statistically, with
a fixed seed)."""

from __future__ import annotations

import itertools
import math
import statistics
from collections import Counter
from collections.abc import Iterator

import msgspec
import pytest

from fleetsim.ocpp.enums import ChargePointErrorCode
from fleetsim.sessions.faults import (
    ClockSkew,
    ConnectorFaults,
    Drops,
    FaultEvent,
    FaultKind,
    FaultPlan,
    FaultSchedule,
    Outage,
    PowerLoss,
    Reboots,
    StationFault,
    Storm,
)

HOUR_S = 3600.0


def fleet(stations: int, connectors: int = 2) -> list[tuple[str, int]]:
    return [(f"CP-{n:05d}", connectors) for n in range(stations)]


def until(events: Iterator[FaultEvent], end_s: float) -> list[FaultEvent]:
    return list(itertools.takewhile(lambda event: event.at_s < end_s, events))


EVERYTHING = FaultPlan(
    drops=Drops(per_station_per_hour=0.5),
    storms=(Storm(at_s=600.0, share=0.3),),
    outages=(Outage(at_s=900.0, for_s=120.0),),
    reboots=(Reboots(at_s=1200.0, share=0.1), Reboots(per_station_per_hour=0.2)),
    connector_faults=ConnectorFaults(per_connector_per_hour=0.25, error_code=ChargePointErrorCode.HIGH_TEMPERATURE),
    power_loss=(PowerLoss(at_s=1500.0, for_s=90.0, share=0.2),),
    clock_skew=ClockSkew(share=0.25, max_skew_s=300.0),
)


def test_the_same_seed_gives_the_same_faults_and_another_seed_others() -> None:
    first = until(FaultSchedule(EVERYTHING, 7, fleet(200)).events(), 2 * HOUR_S)
    again = until(FaultSchedule(EVERYTHING, 7, fleet(200)).events(), 2 * HOUR_S)
    other = until(FaultSchedule(EVERYTHING, 8, fleet(200)).events(), 2 * HOUR_S)
    assert first == again
    assert first != other
    assert [FaultSchedule(EVERYTHING, 7, fleet(200)).skew_s(i) for i in range(200)] == [
        FaultSchedule(EVERYTHING, 7, fleet(200)).skew_s(i) for i in range(200)]
    # In time order, every kind present.
    assert [e.at_s for e in first] == sorted(e.at_s for e in first)
    kinds = Counter(e.kind if isinstance(e, StationFault) else "outage" for e in first)
    assert set(kinds) == {*FaultKind, "outage"}


def test_fleet_wide_faults_hit_exactly_their_share_of_the_fleet() -> None:
    events = until(FaultSchedule(EVERYTHING, 3, fleet(1000)).events(), 1600.0)
    at_once = [e for e in events if isinstance(e, StationFault) and e.kind is not FaultKind.DROP
               and e.kind is not FaultKind.CONNECTOR and e.at_s in (600.0, 1200.0, 1500.0)]
    by_kind = Counter(e.kind for e in at_once)
    assert by_kind == {FaultKind.STORM: 300, FaultKind.REBOOT: 100, FaultKind.POWER_LOSS: 200}
    storm = [e.station for e in at_once if e.kind is FaultKind.STORM]
    assert len(set(storm)) == 300 and all(0 <= s < 1000 for s in storm)
    assert all(e.for_s == 90.0 for e in at_once if e.kind is FaultKind.POWER_LOSS)
    # A different selection for each fleet-wide fault, not the same stations every time.
    reboots = {e.station for e in at_once if e.kind is FaultKind.REBOOT}
    assert not reboots <= set(storm)
    assert [e for e in events if isinstance(e, Outage)] == [Outage(at_s=900.0, for_s=120.0)]


def test_drops_are_a_poisson_process_per_station_at_the_asked_rate() -> None:
    stations, rate, hours = 400, 2.0, 10.0
    plan = FaultPlan(drops=Drops(per_station_per_hour=rate))
    drops = until(FaultSchedule(plan, 11, fleet(stations)).events(), hours * HOUR_S)
    expected = stations * rate * hours  # 8,000
    assert abs(len(drops) - expected) < 4 * math.sqrt(expected)
    per_station = Counter(e.station for e in drops)
    counts = [per_station.get(s, 0) for s in range(stations)]
    # Poisson: the variance of the per-station count equals its mean (within 4
    # standard errors of a sample variance: sqrt((mean + 2 mean²) / n)).
    mean = statistics.fmean(counts)
    assert mean == pytest.approx(rate * hours, rel=0.05)
    assert statistics.variance(counts) == pytest.approx(mean, abs=4 * math.sqrt((mean + 2 * mean**2) / stations))
    # Exponential gaps: their standard deviation equals their mean.
    gaps = [b.at_s - a.at_s for a, b in itertools.pairwise(drops)]
    assert statistics.stdev(gaps) == pytest.approx(statistics.fmean(gaps), rel=0.05)


def test_connector_faults_hit_every_connector_at_the_asked_rate() -> None:
    # Stations of 1 and 3 connectors: the rate is per connector, not per station.
    stations = [(f"CP-{n}", 1 if n % 2 else 3) for n in range(300)]
    plan = FaultPlan(connector_faults=ConnectorFaults(per_connector_per_hour=1.0, recover_after_s=60.0))
    faults = until(FaultSchedule(plan, 5, stations).events(), 20 * HOUR_S)
    per_connector = Counter((e.station, e.connector_id) for e in faults)
    assert set(per_connector) == {(s, c) for s, (_, n) in enumerate(stations) for c in range(1, n + 1)}
    three = [per_connector[(s, c)] for s in range(0, 300, 2) for c in (1, 2, 3)]
    one = [per_connector[(s, 1)] for s in range(1, 300, 2)]
    assert statistics.fmean(three) == pytest.approx(20.0, rel=0.05)
    assert statistics.fmean(one) == pytest.approx(20.0, rel=0.1)
    assert {(e.error_code, e.for_s) for e in faults} == {(ChargePointErrorCode.GROUND_FAILURE, 60.0)}


def test_random_reboots_follow_their_rate() -> None:
    plan = FaultPlan(reboots=(Reboots(per_station_per_hour=0.5),))
    reboots = until(FaultSchedule(plan, 2, fleet(500)).events(), 8 * HOUR_S)
    assert {e.kind for e in reboots} == {FaultKind.REBOOT}
    assert abs(len(reboots) - 2000) < 4 * math.sqrt(2000)


def test_clock_skew_picks_its_share_and_draws_uniformly_within_the_bound() -> None:
    schedule = FaultSchedule(FaultPlan(clock_skew=ClockSkew(share=0.4, max_skew_s=120.0)), 9, fleet(5000))
    skews = [schedule.skew_s(i) for i in range(5000)]
    skewed = [s for s in skews if s != 0.0]
    assert len(skewed) == 2000
    assert all(-120.0 <= s <= 120.0 for s in skewed)
    assert statistics.fmean(skewed) == pytest.approx(0.0, abs=120.0 * 0.05)
    assert statistics.pstdev(skewed) == pytest.approx(120.0 / math.sqrt(3), rel=0.05)  # uniform
    assert schedule.empty  # a skew is no event during the run


def test_a_large_fleet_costs_no_list_of_its_faults() -> None:
    # 20,000 stations for a simulated day: the stream is lazy; its first faults come at once.
    plan = FaultPlan(drops=Drops(per_station_per_hour=1.0),
                     connector_faults=ConnectorFaults(per_connector_per_hour=1.0))
    events = FaultSchedule(plan, 1, fleet(20_000)).events()
    first = list(itertools.islice(events, 10))
    assert len(first) == 10 and first[-1].at_s < 1.0


def test_a_plan_with_bad_values_is_refused_naming_the_field() -> None:
    with pytest.raises(msgspec.ValidationError, match=r"storms\[0\]\.share"):
        msgspec.convert({"storms": [{"at_s": 10, "share": 1.5}]}, FaultPlan)
    with pytest.raises(msgspec.ValidationError, match=r"drops\.per_station_per_hour"):
        msgspec.convert({"drops": {"per_station_per_hour": -1}}, FaultPlan)
    with pytest.raises(msgspec.ValidationError, match="unknown field"):
        msgspec.convert({"outages": [{"at_s": 10, "for_s": 5, "fors": 3}]}, FaultPlan)
    plan = msgspec.convert({"connector_faults": {"per_connector_per_hour": 1, "error_code": "HighTemperature"}},
                           FaultPlan)
    assert plan.connector_faults is not None
    assert plan.connector_faults.error_code is ChargePointErrorCode.HIGH_TEMPERATURE
