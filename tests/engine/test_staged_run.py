"""A staged run on loopback against the embedded CSMS, in process: 40
stations, then 20 (the other 20 removed: their transactions stopped and the
StopTransactions delivered before they close), 40 again (the 20 added back
boot as new stations), then none.  Each plateau holds its target, and its
figures in summary.json's ``stages`` are what its intervals of latency.hlog
add up to, without the ramps around it."""

from __future__ import annotations

import csv
import math
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
import trio

from fleetsim.csms.central import CentralSystem
from fleetsim.csms.config import CsmsConfig
from fleetsim.csms.server import serve_csms
from fleetsim.engine.run import RunOutcome, run, shares
from fleetsim.metrics import hlog
from fleetsim.metrics.histogram import Histogram, new_histogram
from fleetsim.metrics.recorder import Recorder
from fleetsim.metrics.results import summary_document
from fleetsim.profiles.builtin import load_builtin
from fleetsim.sessions.simple import SimpleSessions
from fleetsim.spec.run import RunSpec, station_ids
from fleetsim.spec.stages import Stage

PROFILES = load_builtin()
INTERVAL_S = 0.5
# All at once (no ramp): every removal's StopTransactions go out at the very
# tick that closes the plateau before, the hardest case for keeping them out of it.
STAGES = (Stage(3, 40), Stage(3, 20), Stage(3, 40), Stage(2, 0))
# Sessions start a moment after each boot (plug in, badge) and outlast the
# run: a StopTransaction only comes from a station being removed.  Heartbeats every
# second are the plateaus' steady load.
SESSIONS = SimpleSessions(mean_idle_s=0.3, mean_connected_s=1e6, badge_delay_s=0.1)


class Staged(msgspec.Struct):
    spec: RunSpec
    outcome: RunOutcome
    document: dict[str, Any]
    folder: Path
    csms_calls: dict[str, int]
    boots: dict[str, int]  # BootNotifications the CSMS took, per charge point
    open_transactions: int  # at the CSMS, after the run
    calls: list[tuple[str, str]]  # (charge point, action) in the order the CSMS took them


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Staged:
    folder = tmp_path_factory.mktemp("staged")
    calls: list[tuple[str, str]] = []
    handle = CentralSystem.handle

    def logged(self: CentralSystem, charge_point_id: str, call: Any, now: datetime) -> Any:
        calls.append((charge_point_id, call.action))
        return handle(self, charge_point_id, call, now)

    async def main() -> Staged:
        with trio.fail_after(40):
            async with trio.open_nursery() as nursery:
                csms = await nursery.start(serve_csms, CsmsConfig(heartbeat_interval_s=1))
                # end_transactions off: a transaction still open at the CSMS after
                # the run is one the removal did not stop and deliver.
                spec = RunSpec(fleet=shares(["wenzhou-bsec-22k-a-2-ccs2-400s", "bescore-bsc-s12bcc"], 40),
                               duration_s=sum(stage.duration_s for stage in STAGES), ramp_per_s=0, speed=1.0,
                               reaction_delays=False, interval_s=INTERVAL_S, sessions=SESSIONS, csms_url=csms.url,
                               end_transactions=False, stages=STAGES)
                recorder = Recorder()
                outcome = await run(spec, PROFILES, recorder, results_dir=folder)
                document = summary_document(recorder, spec, outcome, run_id="t", host="test")
                central = csms.central
                nursery.cancel_scope.cancel()
        return Staged(spec, outcome, document, folder, dict(csms.stats.calls_received),
                      {cp: state.boots for cp, state in central.charge_points.items()},
                      sum(len(state.transactions) for state in central.charge_points.values()), calls)

    CentralSystem.handle = logged  # type: ignore[method-assign]
    try:
        return trio.run(main)
    finally:
        CentralSystem.handle = handle  # type: ignore[method-assign]


def _rows(folder: Path) -> list[dict[str, str]]:
    with (folder / "timeseries.csv").open() as file:
        return list(csv.DictReader(file))


def test_each_plateau_holds_its_target(staged: Staged) -> None:
    rows = _rows(staged.folder)
    for stage in staged.document["stages"]:
        # The intervals that end inside the plateau (their ends are late by the loop's lag).
        # The whole intervals that end inside the plateau (their ends are late by the loop's lag; the
        # run's last, short interval is its close).
        inside = [row for row in rows if float(row["interval_s"]) > INTERVAL_S / 2
                  and stage["plateau_start_s"] + INTERVAL_S / 2 < float(row["elapsed_s"]) < stage["end_s"] + 0.25]
        assert len(inside) == stage["plateau_s"] / INTERVAL_S, stage
        assert {(int(row["connected"]), int(row["booted"])) for row in inside} == {
            (stage["stations"], stage["stations"])}, stage["index"]


def test_the_summary_and_events_place_every_stage(staged: Staged) -> None:
    places = [(s["index"], s["from_stations"], s["stations"], s["start_s"], s["plateau_start_s"], s["end_s"])
              for s in staged.document["stages"]]
    assert places == [(1, 0, 40, 0.0, 0.5, 3.0), (2, 40, 20, 3.0, 3.5, 6.0), (3, 20, 40, 6.0, 6.5, 9.0),
                      (4, 40, 0, 9.0, 9.5, 11.0)]
    assert staged.document["run"]["stages"] == [{"duration_s": s.duration_s, "stations": s.stations} for s in STAGES]
    with (staged.folder / "events.csv").open() as file:
        events = [(row["kind"], row["label"], float(row["elapsed_s"]), float(row["span_s"]), int(row["stations"]))
                  for row in csv.DictReader(file)]
    assert events == [
        ("stage", "stage 1: 0 → 40 stations", 0.0, 3.0, 40), ("plateau", "stage 1 plateau", 0.5, 2.5, 40),
        ("stage", "stage 2: 40 → 20 stations", 3.0, 3.0, 20), ("plateau", "stage 2 plateau", 3.5, 2.5, 20),
        ("stage", "stage 3: 20 → 40 stations", 6.0, 3.0, 40), ("plateau", "stage 3 plateau", 6.5, 2.5, 40),
        ("stage", "stage 4: 40 → 0 stations", 9.0, 2.0, 0), ("plateau", "stage 4 plateau", 9.5, 1.5, 0)]


def test_removed_stations_deliver_their_stop_transactions_before_they_close(staged: Staged) -> None:
    starts = staged.csms_calls["StartTransaction"]
    assert starts >= 40  # the stations charged before they were removed
    # Every transaction started was stopped, though the run itself stopped none (end_transactions off).
    assert staged.csms_calls["StopTransaction"] == starts
    assert staged.open_transactions == 0
    fleet = staged.document["fleet"]
    assert fleet["counters"]["stage.removed"] == 20 + 40
    assert "stage.undelivered_transaction_messages" not in fleet["counters"]
    # Each removed station stopped every transaction it started before it boots again as a new one.
    removed = {cp for cp, _ in station_ids(staged.spec)[20:40]}
    first_boot_again = {}
    for n, (cp, action) in enumerate(staged.calls):
        if cp in removed and action == "BootNotification" and cp not in first_boot_again:
            first_boot_again[cp] = None  # its first boot
        elif cp in removed and action == "BootNotification" and first_boot_again[cp] is None:
            first_boot_again[cp] = n
    charged = 0
    for cp in removed:
        before = [action for c, action in staged.calls[:first_boot_again[cp]] if c == cp]
        assert before.count("StartTransaction") == before.count("StopTransaction"), cp
        transactions = [action for action in before if action.endswith("Transaction")]
        if transactions:  # whether a driver arrived before its removal is the sessions' draw and the loop's timing
            charged += 1
            assert transactions[-1] == "StopTransaction", (cp, before)
    assert charged >= len(removed) // 2  # most of them were charging when removed


def test_a_station_added_back_boots_again_as_a_new_station(staged: Staged) -> None:
    order = [cp for cp, _ in station_ids(staged.spec)]
    assert {cp: staged.boots[cp] for cp in order[20:40]} == dict.fromkeys(order[20:40], 2)
    assert {cp: staged.boots[cp] for cp in order[:20]} == dict.fromkeys(order[:20], 1)
    assert staged.csms_calls["BootNotification"] == 60
    # Powered on anew: it reports its connectors again and charges anew (a
    # session of its own, started after the new boot), rather than picking up the old one.
    for cp in order[20:40]:
        after = [action for c, action in staged.calls if c == cp]
        second = [i for i, action in enumerate(after) if action == "BootNotification"][1]
        again = after[second:]
        assert "StatusNotification" in again and "StartTransaction" in again, (cp, again)


def _plateau_histograms(folder: Path, stage: dict[str, Any]) -> dict[str, Histogram]:
    """Per action, the corrected latency of the plateau's intervals of
    latency.hlog, every model's added."""
    start = hlog.read_start_s(folder / "latency.hlog")
    assert start is not None
    end_s = stage["plateau_start_s"] + stage["measured_s"]
    added: dict[str, Histogram] = {}
    for logged in hlog.read_hlog(folder / "latency.hlog"):
        at_s = logged.start_epoch_s - start
        if logged.tag and logged.tag.startswith("corrected.") and (
                stage["plateau_start_s"] - INTERVAL_S / 2 <= at_s and at_s + logged.length_s <= end_s + INTERVAL_S / 2):
            added.setdefault(logged.tag.rsplit(".", 1)[1], new_histogram()).add(logged.histogram)
    return added


def test_a_plateaus_figures_are_its_intervals_of_the_log_added(staged: Staged) -> None:
    stages = staged.document["stages"]
    assert stages == staged.outcome.stages
    for stage in stages[:3]:  # the last holds no station: nothing to count
        assert stage["measured_s"] == stage["plateau_s"]  # stages of whole intervals here
        exchanges = stage["fleet"]["exchanges"]
        logged = _plateau_histograms(staged.folder, stage)
        assert logged, stage["index"]
        # The percentiles are those of the plateau's intervals added, exactly.
        for action, histogram in logged.items():
            figures = exchanges[action]["corrected_ms"]
            assert figures["p50"] == round(histogram.get_value_at_percentile(50) / 1000, 3), (stage["index"], action)
            assert figures["p99"] == round(histogram.get_value_at_percentile(99) / 1000, 3), (stage["index"], action)
            assert figures["max"] == round(histogram.get_max_value() / 1000, 3), (stage["index"], action)
        assert {action for action, e in exchanges.items() if e["corrected_ms"]} == set(logged)
        # The counts are the run's counts at the plateau's first and last ticks, which are
        # taken once a tick has folded its histograms: equal to the histograms' but for a
        # call answered while a tick folds (then in the count of one side, the histogram of the other).
        for action, histogram in logged.items():
            assert abs(exchanges[action]["count"] - histogram.total_count) <= 2, (stage["index"], action)
        answered = sum(e["answered"] for e in exchanges.values())
        assert stage["calls_per_s"] == round(answered / stage["measured_s"], 3)
        assert math.isclose(stage["messages_per_s"]["out"], stage["messages_per_s"]["in"], rel_tol=0.2)


def test_a_plateau_holds_nothing_of_the_ramps_around_it(staged: Staged) -> None:
    for stage in staged.document["stages"][:3]:
        exchanges = stage["fleet"]["exchanges"]
        # Its own ramp's boots are before it (a whole interval before) ...
        assert exchanges.get("BootNotification", {}).get("answered", 0) == 0, stage["index"]
        assert exchanges.get("BootNotification", {}).get("count", 0) == 0, stage["index"]
        # ... and the next stage's removals after it: no session ends but by a removal.
        # (The removals begin once the tick closing the plateau has taken its counts.)
        stops = exchanges.get("StopTransaction", {})
        assert (stops.get("answered", 0), stops.get("corrected_ms")) == (0, None), stage["index"]
        assert stage["fleet"]["counters"].get("stage.removed", 0) == 0
