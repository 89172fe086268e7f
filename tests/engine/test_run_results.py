"""A run writes its interval logs as it goes, and records what summary.json
reports of connections, boots and the simulator itself."""

from __future__ import annotations

import csv
import random
from datetime import UTC, datetime
from pathlib import Path

import trio
from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader

from fleetsim.csms.config import CsmsConfig, Faults
from fleetsim.csms.server import serve_csms
from fleetsim.engine.fleet import ConnectOptions, Fleet, Progress
from fleetsim.engine.link import Target
from fleetsim.engine.run import FleetShare, RunSpec, build_stations, run, shares
from fleetsim.metrics.recorder import Recorder
from fleetsim.metrics.results import summary_document
from fleetsim.profiles.builtin import load_builtin
from fleetsim.sessions.config import IdTags, Segment, SegmentSessions
from fleetsim.sessions.simple import SimpleSessions
from fleetsim.station.backoff import Backoff
from fleetsim.station.timebase import Timebase

PROFILES = load_builtin()


async def test_a_run_writes_its_intervals_as_it_goes_and_the_summary_holds_every_section(tmp_path: Path) -> None:
    spec = RunSpec(fleet=shares(["wenzhou-bsec-22k-a-2-ccs2-400s", "bescore-bsc-s12bcc"], 10), duration_s=2.5,
                   ramp_per_s=0, speed=60.0, reaction_delays=False, interval_s=0.5,
                   sessions=SimpleSessions(mean_idle_s=30.0, mean_connected_s=600.0))
    recorder = Recorder()
    seen_mid_run: list[int] = []

    def peek(progress: Progress, recorder: Recorder, elapsed_s: float) -> None:
        # Written and flushed while the run goes on (a killed run keeps them).
        seen_mid_run.append(sum(1 for line in (tmp_path / "latency.hlog").open() if line.startswith("Tag=")))

    with trio.fail_after(20):
        outcome = await run(spec, PROFILES, recorder, results_dir=tmp_path, on_progress=peek, progress_every_s=1.0)
    assert seen_mid_run and seen_mid_run[0] > 0

    reader = HistogramLogReader(str(tmp_path / "latency.hlog"), HdrHistogram(1, 3_600_000_000, 3))
    logged: dict[str, int] = {}
    while (histogram := reader.get_next_interval_histogram()) is not None:
        logged[histogram.get_tag()] = logged.get(histogram.get_tag(), 0) + histogram.get_total_count()
    reader.close()
    document = summary_document(recorder, spec, outcome, run_id="t", host="test")
    boot = document["models"]["bescore-bsc-s12bcc"]["exchanges"]["BootNotification"]
    assert logged["corrected.bescore-bsc-s12bcc.BootNotification"] == boot["answered"] == 5
    assert logged["simulator.loop_lag"] == document["simulator"]["loop_lag_ms"]["count"] > 100  # every 10 ms
    # Everything recorded is in the log: the last interval too.
    assert {tag: n for tag, n in logged.items() if tag.startswith("corrected.")} == {
        f"corrected.{m}.{a}": e["answered"] for m, model in document["models"].items()
        for a, e in model["exchanges"].items() if e["answered"]}

    with (tmp_path / "timeseries.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert 5 <= len(rows) <= 8  # 0.5 s intervals over 2.5 s and the clean stop
    assert max(int(row["booted"]) for row in rows) == 10
    assert sum(int(row["answered"]) for row in rows) == sum(
        e["answered"] for e in document["fleet"]["exchanges"].values())

    fleet = document["fleet"]
    assert fleet["connection"]["connects"] == 10 and fleet["connection"]["reconnects"] == 0
    assert fleet["connection"]["connect_ms"]["max"] > 0
    assert fleet["boot"]["answers"] == {"Accepted": 10}
    assert fleet["boot"]["boot_ms"]["max"] > 0  # connected → Accepted
    assert document["run"]["interval_s"] == 0.5
    assert set(document["simulator"]) == {"loop_lag_ms", "timer_lag_ms", "gc_pause_ms", "gc_collections", "station_errors",
                                         "warning"}


async def test_reconnects_and_disconnects_are_counted() -> None:
    recorder = Recorder()
    spec = RunSpec(fleet=shares(sorted(PROFILES), 5), duration_s=0, reaction_delays=False, sessions=None)
    async with trio.open_nursery() as nursery:
        csms = await nursery.start(serve_csms, CsmsConfig(heartbeat_interval_s=1,
                                                          faults=Faults(drop_after_messages=6)))
        stations = build_stations(spec, PROFILES, recorder, Timebase(trio.current_time(), datetime.now(UTC)))
        options = ConnectOptions(Target.parse(csms.url), reconnect=Backoff(base_s=0.05, cap_s=0.2))
        fleet = Fleet(stations, options, recorder, random.Random(1))
        nursery.start_soon(fleet.run, 0.0)
        with trio.fail_after(15):
            while fleet.progress.disconnects < 5 or fleet.progress.connected < 5:
                await trio.sleep(0.02)
        nursery.cancel_scope.cancel()
    connection = recorder.summary()["fleet"]["connection"]
    assert connection["reconnects"] >= 5
    assert connection["connects"] == 5 + connection["reconnects"]
    assert sum(connection["disconnects"].values()) >= 5


def test_the_summary_counts_every_group_of_a_model_and_names_the_scenario() -> None:
    spec = RunSpec(fleet=(FleetShare("bescore-bsc-s12bcc", 3, id_pattern="A-{n}"),
                          FleetShare("bescore-bsc-s12bcc", 2, id_pattern="B-{n}"),
                          FleetShare("bionever-bss011k-v1000", 1)),
                   duration_s=60, scenario="depot", sim_start=datetime(2026, 3, 3, 6, tzinfo=UTC))
    run_meta = summary_document(Recorder(), spec, None, run_id="r", host="h")["run"]
    assert run_meta["fleet"] == {"bescore-bsc-s12bcc": 5, "bionever-bss011k-v1000": 1}
    assert (run_meta["scenario"], run_meta["simulated_start"]) == ("depot", "2026-03-03T06:00:00+00:00")


async def test_app_started_sessions_reach_the_embedded_csms_and_start_transactions() -> None:
    # Every session asks the CSMS (the driver's app) to start it remotely.
    sessions = SegmentSessions(segment=Segment.DC_FAST, sessions_per_connector_per_day=48.0,
                               id_tags=IdTags(valid=20, remote_start_share=1.0))
    spec = RunSpec(fleet=(FleetShare("bescore-bsc-s12bcc", 10, sessions=sessions),), duration_s=6.0, speed=600.0,
                   ramp_per_s=0, reaction_delays=False, embedded_traffic=(),
                   sim_start=datetime(2026, 3, 6, 17, tzinfo=UTC))
    recorder = Recorder()
    with trio.fail_after(30):
        await run(spec, PROFILES, recorder)
    counters = recorder.counters()
    assert counters["session.remote_start_asked"] >= 3
    assert counters.get("session.remote_start_not_sent", 0) == 0
    assert counters["csms_call.RemoteStartTransaction.Accepted"] >= 3
    started = recorder.summary()["fleet"]["exchanges"]["StartTransaction"]["count"]
    assert started >= counters["csms_call.RemoteStartTransaction.Accepted"] - 2  # bar those still in reaction
