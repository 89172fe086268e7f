"""Results folders made in memory for the report tests: a recorder fed known
latencies, written by the metrics package's own writers (the interval log and
time series as a run writes them, summary.json as the CLI does), so the
reports read exactly what a run leaves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

from fleetsim.engine.run import FleetShare, RunOutcome, RunSpec
from fleetsim.metrics.intervals import Census, IntervalWriter
from fleetsim.metrics.recorder import Recorder
from fleetsim.metrics.results import summary_document, write_summary

START = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
FAST = "fast-model"  # declared response timeout 10 s
# A model id that needs escaping in HTML, with a dot (tags split at the first and last dot).
ODD = "odd<&>.model"  # declared 30 s
SECONDS = 12
STATIONS = {FAST: 4, ODD: 2}


def make_results(out: Path, *, with_errors: bool = True, lag_ms: float = 0.3) -> Path:
    """Twelve one-second intervals.  FAST: Heartbeat answered in 1..9 ms, one
    call a second slower each second; ODD: StatusNotification at 20 ms, and
    (with_errors) one CALLERROR and one timeout; the CSMS's calls answered."""
    recorder = Recorder()
    fast, odd = recorder.model(FAST, 10.0), recorder.model(ODD, 30.0)
    writer = IntervalWriter(out, recorder, START)
    sent = 0
    for second in range(SECONDS):
        for i in range(1, 10):
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
