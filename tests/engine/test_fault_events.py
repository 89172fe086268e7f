"""The fault injector says when each fault happened, in real seconds since
the start of the run, so that the report can mark it on every chart over time
(events.csv, results/README.md)."""

from __future__ import annotations

import csv
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trio

from fleetsim.engine.faults import inject_faults
from fleetsim.engine.fleet import ConnectOptions, Fleet
from fleetsim.engine.link import Target
from fleetsim.engine.run import RunSpec, build_stations, run, shares
from fleetsim.metrics.intervals import EVENTS_FILE, RunEvent
from fleetsim.metrics.recorder import Recorder
from fleetsim.ocpp.enums import ChargePointErrorCode
from fleetsim.profiles.builtin import load_builtin
from fleetsim.sessions.faults import ConnectorFaults, FaultPlan, FaultSchedule, Outage, PowerLoss, Reboots, Storm
from fleetsim.station.timebase import Timebase

PROFILES = load_builtin()
MODEL = "bionever-bss011k-v1000"


async def test_each_fault_is_noted_at_its_real_time_with_its_span(autojump_clock: trio.abc.Clock) -> None:
    # At 10x: simulated seconds shrink tenfold on the engine's clock.  The
    # stations never connect (nothing listens on port 9): nothing to cut.
    recorder = Recorder()
    spec = RunSpec(fleet=shares([MODEL], 4), duration_s=0, reaction_delays=False, sessions=None)
    timebase = Timebase(trio.current_time(), datetime(2026, 1, 1, tzinfo=UTC), 10.0)
    fleet = Fleet(build_stations(spec, PROFILES, recorder, timebase), ConnectOptions(Target.parse("ws://127.0.0.1:9/")),
                  recorder, random.Random(1))
    plan = FaultPlan(storms=(Storm(at_s=50),), outages=(Outage(at_s=100, for_s=60),),
                     reboots=(Reboots(at_s=150, share=0.5),), power_loss=(PowerLoss(at_s=200, for_s=30, share=0.25),),
                     connector_faults=ConnectorFaults(per_connector_per_hour=20.0, recover_after_s=600.0,
                                                      error_code=ChargePointErrorCode.HIGH_TEMPERATURE))
    schedule = FaultSchedule(plan, 1, [(r.station.charge_point_id, 2) for r in fleet.runners])
    noted: list[RunEvent] = []
    with trio.move_on_after(30):
        await inject_faults(fleet, schedule, timebase, recorder, noted.append)
    connector = [e for e in noted if e.kind == "connector"]
    assert connector  # random: 8 connectors at 20 an hour, over 300 simulated seconds
    for event in connector:
        assert (event.label, event.span_s, event.stations) == ("HighTemperature", 60.0, 1)
        assert event.elapsed_s == pytest.approx(event.at_s / 10)
    assert [(e.kind, round(e.elapsed_s, 6), e.span_s, e.stations, e.at_s) for e in noted if e.kind != "connector"] == [
        *[("storm", 5.0, 0.0, 0, 50.0)] * 4,  # not connected: not hit
        ("outage", 10.0, 6.0, 0, 100.0),
        *[("reboot", 15.0, 0.0, 1, 150.0)] * 2,
        ("power_loss", 20.0, 3.0, 1, 200.0),
    ]


async def test_a_run_writes_its_faults_to_events_csv(tmp_path: Path) -> None:
    # A storm of the whole connected fleet 1 s into the run (60 s simulated at 60x).
    spec = RunSpec(fleet=shares([MODEL], 4), duration_s=2.0, ramp_per_s=0, speed=60.0, reaction_delays=False,
                   sessions=None, faults=FaultPlan(storms=(Storm(at_s=60),)))
    with trio.fail_after(30):
        await run(spec, PROFILES, Recorder(), results_dir=tmp_path)
    with (tmp_path / EVENTS_FILE).open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert [(row["kind"], row["stations"], row["at_s"], row["span_s"]) for row in rows] == [
        ("storm", "4", "60.000", "0.000")]
    assert float(rows[0]["elapsed_s"]) == pytest.approx(1.0, abs=0.25)
