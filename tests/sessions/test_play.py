"""Sessions played on a real station against the embedded CSMS's logic, in
virtual time: the OCPP story of a session, physical consistency of energy,
power and SoC, tags the CSMS refuses, remote starts, and seeds."""

from __future__ import annotations

from itertools import pairwise

from session_bench import AC_3PHASE, DC_2CCS, booted, calls

from fleetsim.csms.config import CsmsConfig
from fleetsim.ocpp.enums import AuthorizationStatus
from fleetsim.ocpp.payloads.core import RemoteStartTransactionReq
from fleetsim.sessions.config import IdTags, Segment, SegmentSessions
from fleetsim.sessions.generate import SegmentPlan, StationSessions
from fleetsim.sessions.play import PlannedSession, play
from fleetsim.sessions.tags import id_tag_verdicts
from fleetsim.station.power import Ev, taper

DAY_S = 86_400.0
DEFAULT_TAGS = IdTags()


def _csms(tags: IdTags) -> CsmsConfig:
    return CsmsConfig(id_tags=id_tag_verdicts(tags), unknown_id_tag=AuthorizationStatus.INVALID)


def day_of_sessions(seed: int, tags: IdTags = DEFAULT_TAGS, model_id: str = AC_3PHASE, per_day: float = 3.0):  # type: ignore[no-untyped-def]
    config = SegmentSessions(segment=Segment.AC_PUBLIC, sessions_per_connector_per_day=per_day, id_tags=tags)
    bench = booted(model_id, csms=_csms(tags))
    StationSessions(bench.station, SegmentPlan.of(config), seed, None).start(bench.now_s)
    bench.run_for(DAY_S)
    return bench


def transactions(bench) -> list[tuple[float, int, str, int]]:  # type: ignore[no-untyped-def]
    return [(round(at, 6), p.connector_id, p.id_tag, p.meter_start) for at, p in calls(bench, "StartTransaction")]


def test_a_day_of_sessions_tells_the_ocpp_story() -> None:
    bench = day_of_sessions(seed=1)
    counters = bench.station.stats.counters
    starts, stops = calls(bench, "StartTransaction"), calls(bench, "StopTransaction")
    assert len(starts) >= 4 and len(stops) >= len(starts) - 2  # some may still be plugged at midnight
    assert counters["session.arrived"] == len(starts)
    assert {str(p.reason) for _, p in stops} == {"EVDisconnected"}
    statuses = bench.statuses(1) + bench.statuses(2)
    for status in ("Preparing", "Charging", "SuspendedEV", "Available"):
        assert status in statuses
    # OCPP 1.6 §4.9: the EV unplugged ends the transaction (EVDisconnected) and
    # frees the connector at once; Finishing is for a transaction stopped while
    # the cable is still in.
    assert "Finishing" not in statuses
    # The meter register only grows, connector by connector.
    for connector_id in (1, 2):
        readings = sorted([(at, p.meter_start) for at, p in starts if p.connector_id == connector_id]
                          + [(at, p.meter_stop) for at, p in stops
                             if any(s.connector_id == connector_id and s.id_tag == p.id_tag for _, s in starts)])
        assert all(a[1] <= b[1] for a, b in pairwise(readings))


def test_same_seed_same_sessions_other_seed_other_sessions() -> None:
    first, again, other = day_of_sessions(seed=1), day_of_sessions(seed=1), day_of_sessions(seed=2)
    assert transactions(first) == transactions(again)
    assert transactions(first) != transactions(other)


def test_dc_energy_power_and_soc_stay_consistent() -> None:
    bench = booted(DC_2CCS)
    station = bench.station
    ev = Ev(battery_kwh=58.0, soc_start=0.5, max_dc_kw=100.0, energy_wanted_kwh=25.0)  # ends at 93 %: tapers
    bench.act(lambda now: play(station, 1, PlannedSession(3 * 3600.0, ev, "TAG-V-00001"), now, None))
    connector = station.connectors[0]
    trace = []  # (t, register Wh, power W, SoC, delivered Wh)
    for _ in range(3 * 3600 // 5):
        bench.run_for(5.0)
        connector.advance(bench.now_s)
        trace.append((bench.now_s, connector.register_wh, connector.power_w, connector.soc, connector.delivered_wh))
    assert max(p for _, _, p, _, _ in trace) > 0
    integral_wh = 0.0
    for (t0, r0, p0, _, _), (t1, r1, p1, soc1, d1) in pairwise(trace):
        assert r1 >= r0  # the register only grows
        assert r1 - r0 <= max(p0, p1) * (t1 - t0) / 3600 + 1e-6  # never more than the power allows
        integral_wh += (p0 + p1) / 2 * (t1 - t0) / 3600
        assert abs(soc1 - (ev.soc_start + d1 / 58_000.0)) < 1e-9  # SoC = start + energy / battery
    assert abs(integral_wh - trace[-1][4]) < 0.01 * trace[-1][4]  # energy = the integral of power
    for _, _, power, soc, _ in trace:
        assert power <= 100_000.0 * taper(soc) + 1e-6  # flat to 80 %, then falling to 0 at 100 %
    tapering = [p for _, _, p, soc, _ in trace if 0.82 < soc < 0.92]
    assert tapering and max(tapering) < 100_000.0 and tapering == sorted(tapering, reverse=True)
    assert abs(trace[-1][4] - 25_000.0) < 1.0  # it got what it wanted
    assert "SuspendedEV" in bench.statuses(1)
    stop = calls(bench, "StopTransaction")[-1][1]
    start = calls(bench, "StartTransaction")[-1][1]
    assert stop.reason == "EVDisconnected" and abs(stop.meter_stop - start.meter_start - 25_000) <= 1


def test_blocked_and_unknown_tags_are_presented_and_refused() -> None:
    tags = IdTags(valid=5, blocked=3, blocked_share=0.5, unknown_share=0.5)
    bench = day_of_sessions(seed=4, tags=tags)
    presented = [p.id_tag for _, p in calls(bench, "Authorize")]
    assert any("-B-" in tag for tag in presented) and any("-U-" in tag for tag in presented)
    assert bench.station.stats.counters["session.authorization_refused"] == len(presented)
    assert calls(bench, "StartTransaction") == []  # the model starts nothing on a refused tag


def test_remote_start_through_the_csms_and_its_absence() -> None:
    bench = booted(AC_3PHASE)
    asked: list[tuple[str, int, str]] = []

    def app(charge_point_id: str, connector_id: int, id_tag: str) -> bool:
        asked.append((charge_point_id, connector_id, id_tag))
        bench.send_call(RemoteStartTransactionReq(connector_id=connector_id, id_tag=id_tag))
        return True

    ev = Ev(battery_kwh=58.0, soc_start=0.3, max_ac_kw=11.0, energy_wanted_kwh=5.0)
    session = PlannedSession(2 * 3600.0, ev, "TAG-V-00002", remote=True)
    bench.act(lambda now: play(bench.station, 1, session, now, app))
    bench.run_for(3 * 3600)
    assert asked == [(bench.station.charge_point_id, 1, "TAG-V-00002")]
    assert [p.id_tag for _, p in calls(bench, "StartTransaction")] == ["TAG-V-00002"]
    assert bench.station.stats.counters["session.remote_start_missing"] == 0
    # Against a CSMS nothing can ask: no transaction, counted, the EV leaves at its departure.
    lone = PlannedSession(2 * 3600.0, Ev(energy_wanted_kwh=5.0), "TAG-V-00003", remote=True)
    bench.act(lambda now: play(bench.station, 2, lone, now, None))
    bench.run_for(3 * 3600)
    assert bench.station.stats.counters["session.remote_start_missing"] == 1
    assert len(calls(bench, "StartTransaction")) == 1 and not bench.station.connectors[1].plugged


def test_a_busy_station_loses_arrivals() -> None:
    bench = day_of_sessions(seed=3, per_day=12.0)
    assert bench.station.stats.counters["session.lost_busy"] > 0
