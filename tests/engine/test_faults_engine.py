"""Faults injected into a running fleet, on real sockets against the embedded
CSMS on 127.0.0.1: a CSMS outage loses no transaction message, a storm of the
whole fleet reconnects, and the summary says how long recovery took."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import trio

from fleetsim.csms.central import CentralSystem
from fleetsim.csms.config import CsmsConfig
from fleetsim.csms.server import serve_csms
from fleetsim.engine.faults import inject_faults
from fleetsim.engine.fleet import ConnectOptions, Fleet
from fleetsim.engine.link import Target
from fleetsim.engine.run import RunSpec, build_stations, run, shares
from fleetsim.metrics.recorder import Recorder
from fleetsim.metrics.results import summary_document
from fleetsim.ocpp.enums import ChargePointErrorCode, ChargePointStatus, Reason, RegistrationStatus
from fleetsim.ocpp.frames import Call
from fleetsim.ocpp.payloads.core import (
    BootNotificationReq,
    MeterValuesReq,
    StartTransactionReq,
    StatusNotificationReq,
    StopTransactionReq,
)
from fleetsim.profiles.builtin import load_builtin
from fleetsim.sessions.faults import (
    ClockSkew,
    ConnectorFaults,
    Drops,
    FaultPlan,
    FaultSchedule,
    Outage,
    PowerLoss,
    Storm,
)
from fleetsim.sessions.simple import SimpleSessions
from fleetsim.station.backoff import Backoff
from fleetsim.station.timebase import Timebase

PROFILES = load_builtin()
MODELS = ["wenzhou-bsec-22k-a-2-ccs2-400s", "bescore-bsc-s12bcc"]  # 2 connectors each, AC and DC
REGISTER = "Energy.Active.Import.Register"
# Sessions that start within seconds and last the whole test.
LONG_SESSIONS = SimpleSessions(mean_idle_s=20.0, mean_connected_s=10 * 3600.0)
SIM_START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def received(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """Every CALL the embedded CSMS handled, in the order it handled them:
    (charge point id, payload)."""
    seen: list[tuple[str, Any]] = []
    handle = CentralSystem.handle

    def recording(self: CentralSystem, charge_point_id: str, call: Call, now: datetime) -> Any:
        seen.append((charge_point_id, call.payload))
        return handle(self, charge_point_id, call, now)

    monkeypatch.setattr(CentralSystem, "handle", recording)
    return seen


def register_wh(request: MeterValuesReq) -> float:
    (value,) = [v for v in request.meter_value[0].sampled_value if (v.measurand or REGISTER) == REGISTER]
    return float(value.value)


def check_transactions_in_order(received: list[tuple[str, Any]]) -> dict[int, list[MeterValuesReq]]:
    """Per transaction, as the CSMS received it: meter values that never go
    back, in time order, and the StopTransaction after all of them.  Returns
    the MeterValues of each transaction."""
    started: dict[int, str] = {}
    meter_values: dict[int, list[MeterValuesReq]] = defaultdict(list)
    stopped: dict[int, StopTransactionReq] = {}
    for charge_point_id, payload in received:
        match payload:
            case StartTransactionReq():
                started[len(started) + 1] = charge_point_id  # the embedded CSMS numbers them from 1
            case MeterValuesReq(transaction_id=int(tid)):
                assert tid not in stopped, f"MeterValues of transaction {tid} after its StopTransaction"
                meter_values[tid].append(payload)
            case StopTransactionReq(transaction_id=tid):
                stopped[tid] = payload
    assert set(stopped) == set(started), "every transaction ends at the CSMS"
    for tid, values in meter_values.items():
        registers = [register_wh(v) for v in values]
        stamps = [v.meter_value[0].timestamp for v in values]
        assert registers == sorted(registers), f"transaction {tid}: meter values out of order"
        assert stamps == sorted(stamps), f"transaction {tid}: timestamps out of order"
        assert stopped[tid].meter_stop >= registers[-1]
    return meter_values


async def test_an_outage_loses_no_transaction_message_and_the_summary_says_how_long_recovery_took(
        received: list[tuple[str, Any]]) -> None:
    # 60× time: the outage is 240 simulated seconds from 120 s, so 4 s of the
    # engine's clock from 2 s; meter values every 60 simulated seconds.
    outage = Outage(at_s=120.0, for_s=240.0)
    # Back-off capped at 4 s: everyone is back within 4 s of the end, so within the run.
    spec = RunSpec(fleet=shares(MODELS, 6), duration_s=13.0, ramp_per_s=0, speed=60.0, reaction_delays=False,
                   sessions=LONG_SESSIONS, faults=FaultPlan(outages=(outage,)), sim_start=SIM_START,
                   reconnect=Backoff(base_s=1.0, cap_s=4.0))
    recorder = Recorder()
    with trio.fail_after(40):
        outcome = await run(spec, PROFILES, recorder)
    document = summary_document(recorder, spec, outcome, run_id="t", host="test")

    meter_values = check_transactions_in_order(received)
    # Stations kept charging through the outage: meter values sampled during it
    # reached the CSMS afterwards.
    outage_from = SIM_START + timedelta(seconds=outage.at_s + 30)
    outage_to = outage_from + timedelta(seconds=outage.for_s - 60)
    during = [v for values in meter_values.values() for v in values
              if outage_from <= v.meter_value[0].timestamp <= outage_to]
    assert len(during) >= 6

    counters = recorder.counters()
    assert not {name: n for name, n in counters.items() if name.startswith("abandoned.")}
    assert counters["end.undelivered_transaction_messages"] == 0
    assert counters["fault.outage"] == 6  # every station was connected, and cut
    fleet = document["fleet"]
    assert fleet["connection"]["disconnects"]["outage"] == 6
    assert fleet["connection"]["failures"]["outage"] >= 6  # attempts during the outage, none got through
    assert set(fleet["connection"]["failures"]) == {"outage"}

    (recovery,) = document["faults"]["outages"]
    assert (recovery["at_s"], recovery["for_s"], recovery["stations"]) == (120.0, 240.0, 6)
    assert recovery["queued_transaction_messages"] >= len(during)
    assert recovery["not_booted"] == recovery["undelivered"] == 0
    # Waits of at most 4 s: within 4 s of the end (and a poll) everyone is back.
    assert 0 <= recovery["booted_after_net_s"] <= recovery["booted_after_s"] <= 4.5
    assert 0 <= recovery["delivered_after_s"] <= 8.0
    assert document["faults"]["injected"] == {"outage": 6}


async def test_a_storm_of_the_whole_fleet_reconnects_spread_out_and_loses_nothing(
        received: list[tuple[str, Any]]) -> None:
    recorder = Recorder()
    stations_n = 20
    async with trio.open_nursery() as nursery:
        csms = await nursery.start(serve_csms, CsmsConfig(heartbeat_interval_s=3600))
        speed = 60.0
        spec = RunSpec(fleet=shares(MODELS, stations_n), duration_s=0, speed=speed, reaction_delays=False,
                       sessions=LONG_SESSIONS)
        timebase = Timebase(trio.current_time(), datetime(2026, 1, 1, tzinfo=UTC), speed)
        stations = build_stations(spec, PROFILES, recorder, timebase)
        options = ConnectOptions(Target.parse(csms.url), reconnect=Backoff(base_s=0.5, cap_s=2.0))
        fleet = Fleet(stations, options, recorder, random.Random(1))
        # Everyone connected and charging by 1.9 s; the storm at 2 s (120 simulated seconds).
        schedule = FaultSchedule(FaultPlan(storms=(Storm(at_s=120.0),)), 1,
                                 [(s.charge_point_id, len(s.connectors)) for s in stations])
        nursery.start_soon(fleet.run, 0.0)
        nursery.start_soon(inject_faults, fleet, schedule, timebase, recorder)
        connects: list[float] = []
        with trio.fail_after(20):
            await trio.sleep_until(timebase.origin_s + 1.9)
            assert fleet.progress.connected == stations_n
            charging_before = fleet.census()[1]
            assert charging_before > 0
            while recorder.counters()["connect.reconnect"] < stations_n:
                await trio.sleep(0.01)
                reconnected = recorder.counters()["connect.reconnect"]
                if reconnected > len(connects):
                    connects.extend([trio.current_time()] * (reconnected - len(connects)))
            while not all(r.link is not None and r.station.registration == RegistrationStatus.ACCEPTED
                          and not r.station.queue.pending_transaction_messages() for r in fleet.runners):
                await trio.sleep(0.02)
        for runner in fleet.runners:
            runner.station.end_sessions(Reason.OTHER, trio.current_time())
            fleet.after(runner)
        with trio.fail_after(10):
            while any(r.station.queue.pending_transaction_messages() for r in fleet.runners):
                await trio.sleep(0.02)
        nursery.cancel_scope.cancel()

    counters = recorder.counters()
    assert counters["fault.storm"] == stations_n
    assert counters["disconnect.storm"] == stations_n
    # The random wait before reconnecting spreads them over [0, 0.5 s): not all at once.
    assert connects[-1] - connects[0] > 0.1
    assert not {name: n for name, n in counters.items() if name.startswith(("abandoned.", "lost.Start", "lost.Stop"))}
    check_transactions_in_order(received)


async def test_station_faults_in_a_run_reach_the_csms_as_the_spec_says(received: list[tuple[str, Any]]) -> None:
    # 6 simulated minutes at 60×: drops, connector faults, a power loss of half
    # the fleet (AQ-7.2 models: StopTransaction PowerLoss after the next boot),
    # and wrong clocks.
    faults = FaultPlan(drops=Drops(per_station_per_hour=30.0),
                       connector_faults=ConnectorFaults(per_connector_per_hour=20.0, recover_after_s=60.0,
                                                        error_code=ChargePointErrorCode.HIGH_TEMPERATURE),
                       power_loss=(PowerLoss(at_s=120.0, for_s=60.0, share=0.5),),
                       clock_skew=ClockSkew(share=0.5, max_skew_s=3600.0))
    spec = RunSpec(fleet=shares(MODELS, 6), duration_s=6.0, ramp_per_s=0, speed=60.0, reaction_delays=False,
                   sessions=SimpleSessions(mean_idle_s=10.0, mean_connected_s=3600.0), faults=faults,
                   sim_start=SIM_START, seed=3)
    recorder = Recorder()
    with trio.fail_after(30):
        outcome = await run(spec, PROFILES, recorder)
    injected = summary_document(recorder, spec, outcome, run_id="t", host="test")["faults"]["injected"]
    assert injected["power_loss"] == 3 and injected["clock_skew"] == 3
    assert injected["drop"] > 0 and injected["connector"] > 0
    check_transactions_in_order(received)

    by_station: dict[str, list[Any]] = defaultdict(list)
    for charge_point_id, payload in received:
        by_station[charge_point_id].append(payload)
    power_lost = [cp for cp, payloads in by_station.items()
                  if any(isinstance(p, StopTransactionReq) and p.reason == Reason.POWER_LOSS for p in payloads)]
    assert 1 <= len(power_lost) <= 3
    for charge_point_id in power_lost:
        payloads = by_station[charge_point_id]
        stop = next(i for i, p in enumerate(payloads)
                    if isinstance(p, StopTransactionReq) and p.reason == Reason.POWER_LOSS)
        # AQ-7.2: reported once back online, after the boot.
        assert any(isinstance(p, BootNotificationReq) for p in payloads[1:stop])
    faulted = [p for payloads in by_station.values() for p in payloads
               if isinstance(p, StatusNotificationReq) and p.status == ChargePointStatus.FAULTED]
    assert faulted and {p.error_code for p in faulted} == {ChargePointErrorCode.HIGH_TEMPERATURE}
    # Wrong clocks: some boots carry timestamps far from the simulated time.
    stamps = [p.timestamp for payloads in by_station.values() for p in payloads if isinstance(p, StatusNotificationReq)]
    assert max(abs((stamp - SIM_START).total_seconds()) for stamp in stamps) > 600


async def test_an_outage_the_run_ends_in_is_reported_unrecovered(autojump_clock: trio.abc.Clock) -> None:
    # Stations that never connected: the injector cuts nothing and counts nothing.
    recorder = Recorder()
    spec = RunSpec(fleet=shares(["bionever-bss011k-v1000"], 3), duration_s=0, reaction_delays=False, sessions=None)
    timebase = Timebase(trio.current_time(), datetime(2026, 1, 1, tzinfo=UTC))
    fleet = Fleet(build_stations(spec, PROFILES, recorder, timebase), ConnectOptions(Target.parse("ws://127.0.0.1:9/")),
                  recorder, random.Random(1))
    plan = FaultPlan(outages=(Outage(at_s=10, for_s=60),), storms=(Storm(at_s=5),))
    schedule = FaultSchedule(plan, 1, [(r.station.charge_point_id, 1) for r in fleet.runners])
    with trio.move_on_after(30):  # the run ends 20 s into the outage
        await inject_faults(fleet, schedule, timebase, recorder)
    (outage,) = recorder.outages
    assert (outage.at_s, outage.stations, outage.not_booted, outage.booted_after_s) == (10, 3, 3, None)
    assert not any(name.startswith("fault.") for name in recorder.counters())


async def test_a_fault_on_a_station_the_ramp_has_not_reached_leaves_the_fleet_running(
        received: list[tuple[str, Any]]) -> None:
    # Connector faults from the start, in a ramp of one station a second: the
    # stations not started yet are hit too, and each fault's recovery is a
    # timer of a station with no start time.  The fleet's timer lag was
    # counted from infinity, and the OverflowError ended the whole fleet.
    # Now every station starts and boots, in its turn.
    faults = FaultPlan(connector_faults=ConnectorFaults(per_connector_per_hour=120.0, recover_after_s=30.0))
    spec = RunSpec(fleet=shares(MODELS, 4), duration_s=5.0, ramp_per_s=1.0, speed=60.0, reaction_delays=False,
                   sessions=None, faults=faults, sim_start=SIM_START, seed=3)
    recorder = Recorder()
    with trio.fail_after(30):
        outcome = await run(spec, PROFILES, recorder)
    document = summary_document(recorder, spec, outcome, run_id="t", host="test")
    assert document["faults"]["injected"]["connector"] > 0
    assert recorder.simulator_counters["station_errors"] == 0
    booted = {cp for cp, payload in received if isinstance(payload, BootNotificationReq)}
    assert len(booted) == 4
