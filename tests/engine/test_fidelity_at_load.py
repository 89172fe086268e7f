"""The fidelity proof at load: a fleet kept at 80 % of its maximum rate still
reports the latency its CSMS gave it within max(1 %, 1 ms), percentile by
percentile.

test_fidelity.py proves this on a lightly loaded loop.  Here the loop is busy
most of the time, so answers wait to be read and timers fire in batches: what
must hold is that an answer is timed from its arrival (the kernel's stamp) and
a CALL from its send, whatever the loop was doing in between.

The CSMS is benchmarks/responder.py in a process of its own: a bare loop, so
at this rate it still has room on the second core, and the instrument: it
times each answer from the kernel's arrival stamp of its CALL to the send of
the answer, and writes those times down.  That is the truth the fleet's
service-time figures are held to; between the two there is only loopback and
the few microseconds from taking a CALL to its send().  (The corrected view
adds a CALL's wait behind the one in flight, which the truth has no part of:
test_fidelity.py judges it.)

The maximum rate is measured first, on this machine, as the calls per second
the same fleet answers when offered far more than it can send.
"""

from __future__ import annotations

import math
import os
import random
import select
import signal
import statistics
import subprocess
import sys
import time
from array import array
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trio

from fleetsim.engine.fleet import ConnectOptions, Fleet
from fleetsim.engine.limits import raise_open_files_limit
from fleetsim.engine.link import Target
from fleetsim.engine.run import RunSpec, build_stations, shares
from fleetsim.metrics.histogram import Histogram, new_histogram
from fleetsim.metrics.recorder import Recorder
from fleetsim.profiles.builtin import load_builtin
from fleetsim.station.timebase import Timebase

pytestmark = pytest.mark.slow

RESPONDER = Path(__file__).resolve().parents[2] / "benchmarks" / "responder.py"
PROFILES = load_builtin()
STATIONS = 2000
SHARE = 0.8  # of the maximum rate
OVERLOAD_SPEED = 25.0  # heartbeats every 40 ms a station: 50,000 offered a second, far past what one core sends
WINDOW_S = 4.0
SEED = 11
PERCENTILES = (50.0, 90.0, 99.0)


def tolerance_ms(figure_ms: float) -> float:
    return max(0.01 * figure_ms, 1.0)


class Responder:
    """benchmarks/responder.py on a free port, writing its answers' own times."""

    def __init__(self, delay: str, truth: Path) -> None:
        self.truth = truth
        log = truth.with_suffix(".log")
        with log.open("wb") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, str(RESPONDER), "--port", "0", "--delay", delay, "--seed", str(SEED),
                 "--heartbeat-interval", "1", "--truth", str(truth)],
                stdout=subprocess.PIPE, stderr=stderr, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert self.process.stdout is not None
        line = self.process.stdout.readline() if select.select([self.process.stdout], [], [], 20)[0] else ""
        if not line.startswith("listening on "):
            self.process.kill()
            raise AssertionError(f"responder.py did not start: {line!r} {log.read_text()[-2000:]}")
        self.url = "ws://" + line.strip().rsplit(" ", 1)[-1] + "/ocpp"

    def stop(self) -> list[tuple[float, float]]:
        """Stop it; (send wall-clock time, seconds it took) of every Heartbeat it answered."""
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(20) == 0
        pairs = array("d")
        pairs.frombytes(self.truth.read_bytes())
        return list(zip(pairs[0::2], pairs[1::2], strict=True))


def _fleet(url: str, recorder: Recorder, speed: float) -> Fleet:
    spec = RunSpec(fleet=shares(sorted(PROFILES), STATIONS), duration_s=0, speed=speed, reaction_delays=False,
                   sessions=None)
    built = build_stations(spec, PROFILES, recorder, Timebase(trio.current_time(), datetime.now(UTC), speed))
    for station in built:
        station.config.set("ClockAlignedDataInterval", "0")  # heartbeats (and the models' pings) only
    return Fleet(built, ConnectOptions(Target.parse(url)), recorder, random.Random(SEED))


def _heartbeats(recorder: Recorder) -> int:
    return sum(m.exchanges["Heartbeat"].answered for m in recorder.models.values() if "Heartbeat" in m.exchanges)


async def _booted(fleet: Fleet, recorder: Recorder) -> None:
    with trio.fail_after(30):
        while recorder.counters()["boot.Accepted"] < STATIONS:
            await trio.sleep(0.05)
    await trio.sleep(1.0)  # the status notifications after boot; heartbeats settle into their rate


async def _maximum_rate(url: str) -> float:
    """Heartbeats answered per second with far more offered than the fleet sends."""
    recorder = Recorder()
    async with trio.open_nursery() as nursery:
        fleet = _fleet(url, recorder, OVERLOAD_SPEED)
        nursery.start_soon(fleet.run, 0.0)
        await _booted(fleet, recorder)
        before, start = _heartbeats(recorder), time.perf_counter()
        await trio.sleep(2.0)
        rate = (_heartbeats(recorder) - before) / (time.perf_counter() - start)
        nursery.cancel_scope.cancel()
    return rate


def _quiet(fleet: Fleet) -> bool:
    return all(r.station.queue.in_flight is None and not len(r.station.queue) for r in fleet.runners)


async def _pause_heartbeats(fleet: Fleet) -> None:
    for runner in fleet.runners:
        runner.station.config.set("HeartbeatInterval", "0")
        runner.station.heartbeat_due_s = math.inf
    with trio.fail_after(10):
        while not _quiet(fleet):
            await trio.sleep(0.001)


def _resume_heartbeats(fleet: Fleet, interval_s: float) -> None:
    """Heartbeats again, the stations' phases spread over the interval."""
    now_s = trio.current_time()
    for index, runner in enumerate(fleet.runners):
        station = runner.station
        station.config.set("HeartbeatInterval", "1")
        station.heartbeat_due_s = now_s + (index + 0.5) * interval_s / STATIONS
        station.on_timer(now_s)
        fleet.after(runner)


class Loaded:
    def __init__(self, service: Histogram, start_at: float, end_at: float, rate: float, cpu_share: float) -> None:
        self.service, self.start_at, self.end_at = service, start_at, end_at
        self.rate, self.cpu_share = rate, cpu_share


async def _measure(url: str, speed: float) -> Loaded:
    recorder = Recorder()
    async with trio.open_nursery() as nursery:
        fleet = _fleet(url, recorder, speed)
        nursery.start_soon(fleet.run, 0.0)
        await _booted(fleet, recorder)
        await _pause_heartbeats(fleet)
        recorder.fold()  # the window starts empty, between exchanges
        start_at, cpu0, wall0 = time.time(), time.process_time(), time.perf_counter()
        _resume_heartbeats(fleet, 1.0 / speed)
        await trio.sleep(WINDOW_S)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        await _pause_heartbeats(fleet)
        end_at = time.time()
        service = new_histogram()
        for model in recorder.models.values():
            if "Heartbeat" in model.exchanges:
                service.add(model.exchanges["Heartbeat"].service_interval)
        nursery.cancel_scope.cancel()
    return Loaded(service, start_at, end_at, service.get_total_count() / wall, cpu / wall)


@pytest.fixture(scope="module")
def maximum_rate(tmp_path_factory: pytest.TempPathFactory) -> float:
    raise_open_files_limit(STATIONS + 256)
    responder = Responder("none", tmp_path_factory.mktemp("calibration") / "truth.bin")
    try:
        return trio.run(_maximum_rate, responder.url)
    finally:
        responder.stop()


@pytest.mark.parametrize("delay", ["fixed:40ms", "uniform:5ms:95ms", "lognormal:median=20ms,p99=150ms"])
def test_at_80_percent_of_the_maximum_rate_the_percentiles_are_the_csmss(
        delay: str, maximum_rate: float, tmp_path: Path) -> None:
    raise_open_files_limit(STATIONS + 256)
    responder = Responder(delay, tmp_path / "truth.bin")
    try:
        loaded = trio.run(_measure, responder.url, SHARE * maximum_rate / STATIONS)
    finally:
        answers = responder.stop()
    window = [took_s for sent_at, took_s in answers if loaded.start_at <= sent_at <= loaded.end_at]
    # The load was what it says: 80 % of the maximum, less what slow answers
    # held back. A station's next heartbeat falls due an interval after it sent
    # the last, and goes when that one's answer came if that was later (one
    # CALL in flight): so every max(interval, answer time), on average. The
    # faster the fleet, the shorter the interval at 80 %, and the more of the
    # CSMS's slower answers outlast it.
    # Each heartbeat leaves up to the fleet's gathering (2 ms) after it falls
    # due, and the next falls due an interval after that: at this rate about
    # 4 % fewer than offered (measured: 0.96-0.97 of it).  A shared machine
    # that slows the fleet's passes since its maximum was measured widens
    # that; a fleet that sends much less is not sending what it should.  (No
    # floor against the maximum: slow answers hold the load down, to about
    # half the maximum for uniform delays at the compiled fleet's rate.)
    interval_s = STATIONS / (SHARE * maximum_rate)
    offered = STATIONS / statistics.fmean(max(interval_s, took_s) for took_s in window)
    figures = {"rate": loaded.rate, "offered": offered, "maximum": maximum_rate, "cpu_share": loaded.cpu_share}
    assert 0.85 * offered <= loaded.rate <= 1.05 * offered, figures
    assert offered >= 0.7 * SHARE * maximum_rate, figures  # still most of the maximum
    assert loaded.cpu_share > 0.5, figures  # most of a core busy
    truth = new_histogram()
    for took_s in window:
        truth.record_value(round(took_s * 1e6))
    # Every heartbeat the CSMS answered in the window was recorded, and no other.
    assert truth.get_total_count() == loaded.service.get_total_count() > 0
    for percentile in PERCENTILES:
        true_ms = truth.get_value_at_percentile(percentile) / 1000
        reported_ms = loaded.service.get_value_at_percentile(percentile) / 1000
        assert reported_ms == pytest.approx(true_ms, abs=tolerance_ms(true_ms)), (percentile, reported_ms, true_ms)
