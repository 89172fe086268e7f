"""The collector stays out of a run: a station's steady traffic makes no
reference cycles (so the old generation, never collected during a run, holds
no garbage), payloads are not tracked at all, and the run's thresholds keep
the young generations small."""

from __future__ import annotations

import gc
import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fleetsim.engine.fleet import GC_RUN_THRESHOLDS, managed_gc
from fleetsim.engine.run import FleetShare, RunSpec, build_stations
from fleetsim.metrics.recorder import Recorder
from fleetsim.ocpp.datatypes import SampledValue
from fleetsim.ocpp.payloads.core import MeterValuesReq
from fleetsim.profiles.builtin import load_builtin
from fleetsim.sessions.simple import SimpleSessions
from fleetsim.station.station import Station
from fleetsim.station.timebase import Timebase

PROFILES = load_builtin()
ANSWERS = {
    "BootNotification": {"status": "Accepted", "currentTime": "2026-01-01T00:00:00Z", "interval": 60},
    "Heartbeat": {"currentTime": "2026-01-01T00:00:00Z"},
    "StartTransaction": {"transactionId": 7, "idTagInfo": {"status": "Accepted"}},
    "Authorize": {"idTagInfo": {"status": "Accepted"}},
    "StopTransaction": {"idTagInfo": {"status": "Accepted"}},
}


def charging_station(profile_id: str) -> Station:
    """One station of the model, sampling every second, with sessions of a
    few seconds: boots, transactions start and stop, meter values flow."""
    sessions = SimpleSessions(mean_idle_s=2.0, mean_connected_s=8.0, badge_delay_s=1.0)
    minimum = PROFILES[profile_id].limits.meter_value_sample_interval_min_s or 1
    share = FleetShare(profile_id, 1, configuration=(("MeterValueSampleInterval", str(max(1, minimum))),))
    spec = RunSpec(fleet=(share,), duration_s=0, reaction_delays=False, sessions=sessions)
    (station,) = build_stations(spec, PROFILES, Recorder(), Timebase(0.0, datetime(2026, 1, 1, tzinfo=UTC), 1.0))
    return station


def answer_everything(station: Station, now_s: float) -> None:
    """The CSMS: every CALL the station sends is answered at once."""
    while station.outbox:
        frame = json.loads(station.outbox.pop(0))
        if frame[0] == 2:
            answer = json.dumps([3, frame[1], ANSWERS.get(frame[2], {})]).encode()
            station.on_message(answer, now_s)


def live(station: Station, until_s: float) -> float:
    now_s = 0.0
    while now_s < until_s:
        now_s = max(now_s + 1e-3, min(station.wake_at_s, until_s))
        station.on_timer(now_s)
        answer_everything(station, now_s + 1e-4)
    return now_s


@pytest.mark.parametrize("profile_id", sorted(PROFILES))
def test_a_stations_traffic_makes_no_reference_cycles(profile_id: str) -> None:
    station = charging_station(profile_id)
    station.on_connected(0.0)
    answer_everything(station, 0.0)
    live(station, 30.0)  # booted, charging
    gc.collect()
    gc.disable()
    try:
        before = station.stats.exchange("MeterValues").answered
        live(station, 600.0)  # ten minutes of sessions: plug in, authorize, start, meter, stop, unplug
        assert station.stats.exchange("MeterValues").answered - before >= 10
        assert station.stats.exchange("StopTransaction").answered > 5
        assert gc.collect() == 0  # nothing that only the collector could have freed
    finally:
        gc.enable()


def test_payloads_are_not_tracked_and_the_run_never_collects_the_old_generation() -> None:
    value = SampledValue(value="1")
    request = MeterValuesReq(connector_id=1, meter_value=[])
    assert not gc.is_tracked(value)
    assert not gc.is_tracked(request)
    before = gc.get_threshold()
    with managed_gc(True):
        assert gc.get_threshold() == GC_RUN_THRESHOLDS
        assert GC_RUN_THRESHOLDS[0] <= 1000  # young collections stay small
        assert GC_RUN_THRESHOLDS[2] >= 1_000_000  # and a full one never comes
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_with_the_embedded_csms_in_the_process_no_collection_walks_a_pile_of_young_objects() -> None:
    # The CSMS's waits for each connection's next message are new objects
    # after every message, live when a collection comes, while the
    # collector's count hardly moves: young generations collected only by
    # that count grew to thousands of live objects a walk.  Counted here, at
    # the start of every collection after the ramp, is what it walks.
    import trio

    from fleetsim.engine.run import run, shares

    walked: list[int] = []
    ramped = []

    def count(phase: str, info: dict) -> None:
        if phase == "start" and ramped:
            walked.append(sum(len(gc.get_objects(generation)) for generation in range(info["generation"] + 1)))

    spec = RunSpec(fleet=shares(sorted(PROFILES), 400), duration_s=8.0, speed=20.0, ramp_per_s=800.0,
                   reaction_delays=False)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run, spec, PROFILES, Recorder())
            await trio.sleep(2.0)  # the ramp is over (0.5 s) and the fleet frozen
            ramped.append(True)
            await trio.sleep(5.0)
            ramped.clear()  # (what the run's end collects is no traffic's)

    gc.callbacks.append(count)
    try:
        trio.run(main)
    finally:
        gc.callbacks.remove(count)
    # On a clock (fifty in the 5 s), each walk a few hundred milliseconds'
    # worth.  Without it, at this scale: 6 collections of 3,700-6,200 objects.
    assert len(walked) >= 20
    assert max(walked) < 3_000, (len(walked), sorted(walked)[-5:])


@pytest.mark.slow
def test_19000_stations_pause_under_5_ms_for_a_minute_of_traffic() -> None:
    # After the ramp, no collection the run's own watcher times pauses the
    # fleet over 5 ms.  The CSMS and the fleet each run in a process of their
    # own: what is measured is the fleet's collector only, and the test
    # process's heap and open-files limit are left as they were.
    csms = subprocess.Popen([sys.executable, "-m", "fleetsim", "csms", "serve", "--port", "0", "--heartbeat-interval", "30"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        port = _listening_port(csms)
        fleet = subprocess.run([sys.executable, str(Path(__file__).with_name("gc_fleet.py")), str(port), "19000", "60"],
                               capture_output=True, text=True, timeout=300, check=False)
    finally:
        csms.terminate()
        csms.wait(10)
    assert fleet.returncode == 0, fleet.stderr[-2000:]
    result = json.loads(fleet.stdout.strip().splitlines()[-1])
    if result.get("skipped"):
        pytest.skip(result["skipped"])
    assert result["answered"] > 60 * 19_000 / 30  # a minute of heartbeats at least
    # (Measured here: no collection at all in that minute.  Payloads are not
    # tracked, and what the traffic allocates it frees, so the young
    # generation's count does not reach its threshold.)
    assert result["longest_ms"] <= 5.0, f"longest GC pause {result['longest_ms']:.2f} ms over {result['collections']} collections"


def _listening_port(process: subprocess.Popen[str]) -> int:
    assert process.stdout is not None
    listening = re.search(r"listening on ws://127\.0\.0\.1:(\d+)", process.stdout.readline())
    assert listening is not None, "the CSMS said no port"
    return int(listening.group(1))
