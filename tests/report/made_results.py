"""Results folders made in memory for the report tests: a recorder fed known
latencies, written by the metrics package's own writers (the interval log and
time series as a run writes them, summary.json as the CLI does), so the
reports read exactly what a run leaves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

from fleetsim.engine.run import FleetShare, RunOutcome, RunSpec
from fleetsim.metrics.intervals import Census, IntervalWriter, RunEvent
from fleetsim.metrics.recorder import ModelStats, Recorder
from fleetsim.metrics.summary import CONNECT
from fleetsim.metrics.results import summary_document, write_summary

START = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
FAST = "fast-model"  # declared response timeout 10 s
# A model id that needs escaping in HTML, with a dot (tags split at the first and last dot).
ODD = "odd<&>.model"  # declared 30 s
SECONDS = 12
STATIONS = {FAST: 4, ODD: 2}


STORM_S = 5  # with storm=True: every station cut here, reconnected in the next second
OUTAGE_S, OUTAGE_FOR_S = 8, 2  # and the CSMS unreachable then: attempts fail
HEARTBEAT_GAP_S = range(4, 8)  # with gap=True: no Heartbeat answered in these seconds


def _connect(model: ModelStats, setup_s: float, *, again: bool = False) -> None:
    """A connection opened, as the engine records it."""
    model.record_reaction(CONNECT, setup_s)
    model.count("connect.ok")
    model.count("connect.reconnect" if again else "stations.connected")


def make_results(out: Path, *, with_errors: bool = True, lag_ms: float = 0.3, storm: bool = False,
                 gap: bool = False) -> Path:
    """Twelve one-second intervals.  FAST: Heartbeat answered in 1..9 ms, one
    call a second slower each second; ODD: StatusNotification at 20 ms, and
    (with_errors) one CALLERROR and one timeout; the CSMS's calls answered.
    The six stations connect in the first second (setup 2 ms).  With
    ``storm``: a storm cuts them all at STORM_S (they reconnect in 40 ms), and
    an outage from OUTAGE_S fails 3 attempts a second."""
    recorder = Recorder()
    fast, odd = recorder.model(FAST, 10.0), recorder.model(ODD, 30.0)
    writer = IntervalWriter(out, recorder, START)
    sent = 0
    for second in range(SECONDS):
        if second == 0:
            for model, n in ((fast, STATIONS[FAST]), (odd, STATIONS[ODD])):
                for _ in range(n):
                    _connect(model, 0.002)
                    model.count("boot.Accepted")
                    model.count("stations.booted")
        if storm and second == STORM_S:
            writer.event(RunEvent(elapsed_s=STORM_S + 0.001, kind="storm", stations=STATIONS[FAST], at_s=50.0))
            writer.event(RunEvent(elapsed_s=STORM_S + 0.001, kind="storm", stations=STATIONS[ODD], at_s=50.0))
            for model, n in ((fast, STATIONS[FAST]), (odd, STATIONS[ODD])):
                for _ in range(n):
                    _connect(model, 0.040, again=True)
        if storm and second == OUTAGE_S:
            writer.event(RunEvent(elapsed_s=OUTAGE_S + 0.002, kind="outage", span_s=OUTAGE_FOR_S, stations=6,
                                  at_s=80.0))
        if storm and OUTAGE_S <= second < OUTAGE_S + OUTAGE_FOR_S:
            fast.count("connect.failed.outage", 3)
        for i in range(1, 10):
            if gap and second in HEARTBEAT_GAP_S:
                break
            due = second + i / 100
            fast.exchange("Heartbeat").record_answer(due, due, due + i / 1000 + second / 1000)
            sent += 1
        odd.exchange("StatusNotification").record_answer(second, second, second + 0.020)
        recorder.simulator_histogram("loop_lag").record_value(round(lag_ms * 1000))
        sent += 1
        writer.tick(second + 1.0, Census(connected=6, booted=6, charging=second % 3, messages_out=sent * 2,
                                         messages_in=sent * 2))
    if with_errors:
        odd.exchange("StatusNotification").record_answer(11.5, 11.5, 11.6)
        odd.exchange("StatusNotification").record_error("InternalError")
        odd.exchange("StatusNotification").record_timeout()
    fast.count("csms_call.Reset.Accepted", 2)
    odd.count("csms_call.Reset.NotSupported")
    odd.count("csms_call.GetLog.NotImplemented")
    writer.close(float(SECONDS), Census(connected=6, booted=6, messages_out=sent * 2, messages_in=sent * 2))
    spec = RunSpec(fleet=tuple(FleetShare(model_id, n) for model_id, n in STATIONS.items()), duration_s=SECONDS,
                   seed=7, speed=1.0, interval_s=1.0)
    outcome = RunOutcome(started_at=START, ended_at=START + timedelta(seconds=SECONDS), csms_url="ws://127.0.0.1:1/ocpp",
                         embedded_csms=False, stations=sum(STATIONS.values()),
                         progress=SimpleNamespace(messages_out=sent * 2, messages_in=sent * 2, connect_failures=0,
                                                  started=sum(STATIONS.values())))
    write_summary(out, summary_document(recorder, spec, outcome, run_id="made", host="test"))
    return out


REFUSING_CSMS = "ws://127.0.0.1:9/ocpp"


def make_refused_results(out: Path, *, seconds: int = 5) -> Path:
    """A run against a port nothing listens on: every attempt of every
    station refused (FAST 3 a second, ODD 2), nothing connected, no call."""
    recorder = Recorder()
    fast, odd = recorder.model(FAST, 10.0), recorder.model(ODD, 30.0)
    writer = IntervalWriter(out, recorder, START)
    for second in range(seconds):
        fast.count("connect.failed.refused", 3)
        odd.count("connect.failed.refused", 2)
        writer.tick(second + 1.0, Census())
    writer.close(float(seconds), Census())
    failures = 5 * seconds
    spec = RunSpec(fleet=tuple(FleetShare(model_id, n) for model_id, n in STATIONS.items()), duration_s=seconds,
                   seed=7, speed=1.0, interval_s=1.0)
    outcome = RunOutcome(started_at=START, ended_at=START + timedelta(seconds=seconds), csms_url=REFUSING_CSMS,
                         embedded_csms=False, stations=sum(STATIONS.values()),
                         progress=SimpleNamespace(messages_out=0, messages_in=0, connect_failures=failures,
                                                  started=sum(STATIONS.values())))
    write_summary(out, summary_document(recorder, spec, outcome, run_id="refused", host="test"))
    return out
