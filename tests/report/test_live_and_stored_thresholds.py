"""Thresholds judged live on a run's figures so far (abort), and verdicts
stored in summary.json by `fleetsim gate`, with percentiles summary.json does
not list read from latency.hlog."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader
from made_results import FAST, make_results

from fleetsim.cli import main
from fleetsim.cli.gates import AbortWatch
from fleetsim.metrics.lazy import force
from fleetsim.metrics.recorder import Recorder
from fleetsim.metrics.summary import live_summary, recorder_summary
from fleetsim.report.thresholds import evaluate, figure_steps, judge_live, parse_threshold

RECORD_KEYS = ["expression", "passed", "observed", "detail", "abort", "aborted_run"]


def _recorder(errors: int = 0, answers: int = 200) -> Recorder:
    recorder = Recorder()
    model = recorder.model("m", 10.0)
    for n in range(answers):
        model.exchange("Heartbeat").record_answer(0.0, 0.0, 0.001 * (1 + n % 50))
        model.exchange("MeterValues").record_answer(0.0, 0.0, 0.002)
    for _ in range(errors):
        model.exchange("MeterValues").record_error("InternalError")
    model.exchange("StatusNotification").record_timeout()  # an action with no answer so far
    recorder.fold()
    return recorder


def test_a_failure_on_the_figures_so_far_is_a_live_verdict() -> None:
    live = live_summary(_recorder(errors=20))
    verdict = judge_live(parse_threshold("errors.rate < 1% abort"), live)
    assert verdict is not None and not verdict.passed and verdict.aborted_run and verdict.abort
    assert verdict.observed == pytest.approx(20 / 401)
    assert judge_live(parse_threshold("errors.rate < 10% abort"), live) is None


def test_what_the_run_cannot_answer_yet_does_not_abort_it() -> None:
    empty = live_summary(Recorder())
    for expression in ("errors.rate < 1%", "Heartbeat.p99 < 1ms", "connect.p99 < 1s", "outage.booted_after < 1s"):
        assert judge_live(parse_threshold(expression), empty) is None
        (final,) = evaluate([parse_threshold(expression)], force(empty))
        assert not final.passed  # ...while the run's end says it could not answer
    # StatusNotification has no answer yet, Heartbeat is past its limit: that decides.
    verdict = judge_live(parse_threshold("*.p99 < 10ms"), live_summary(_recorder()))
    assert verdict is not None and "Heartbeat" in verdict.detail and "StatusNotification" not in verdict.detail


def test_a_live_threshold_reads_any_percentile_from_the_histograms() -> None:
    recorder = _recorder()
    verdict = judge_live(parse_threshold("Heartbeat.p99.99 < 40ms"), live_summary(recorder))
    assert verdict is not None
    assert verdict.observed == recorder.models["m"].exchanges["Heartbeat"].corrected.get_value_at_percentile(
        99.99) / 1000


def test_live_and_final_verdicts_agree_on_the_same_figures() -> None:
    recorder = _recorder(errors=3)
    thresholds = [parse_threshold(e) for e in ("errors.rate < 1%", "Heartbeat.p99 < 40ms", "m:*.p50 < 1.5ms",
                                                "MeterValues.count >= 200", "timeouts == 0", "*.max < declared")]
    assert evaluate(thresholds, live_summary(recorder)) == evaluate(thresholds, recorder_summary(recorder))


def test_figures_are_read_a_step_at_a_time() -> None:
    live = live_summary(_recorder())
    steps = list(figure_steps(parse_threshold("*.p99 < 1s"), live))
    assert len(steps) == 3  # one per action of the fleet
    made = live["fleet"]["exchanges"]._items
    assert all(type(value).__name__ != "Later" for value in made.values())  # made by the steps, not by judging
    assert list(figure_steps(parse_threshold("errors.rate < 1%"), live)) == []  # counts cost nothing


async def test_the_watch_waits_out_the_grace_period_then_aborts_once() -> None:
    recorder = _recorder(errors=20)
    said: list[str] = []
    watch = AbortWatch([parse_threshold("timeouts == 0"), parse_threshold("errors.rate < 1% abort after 2s")],
                       recorder, say=said.append)
    assert watch  # it has a threshold to watch
    assert await watch(1.0) is None  # before its grace period
    reason = await watch(2.0)
    assert reason is not None and "errors.rate < 1% abort after 2s" in reason
    assert await watch(3.0) is None  # once is enough
    assert watch.aborted is not None and watch.aborted.detail.startswith("aborted the run at 2 s: errors.rate")
    assert said == [reason]
    assert not AbortWatch([parse_threshold("timeouts == 0")], recorder)  # nothing to watch: no callback


# ---------------------------------------------------------------- fleetsim gate


def _gate(folder: Path, *expressions: str) -> tuple[int, str]:
    args = ["gate", str(folder)]
    for expression in expressions:
        args += ["-t", expression]
    result = CliRunner().invoke(main, args, prog_name="fleetsim", catch_exceptions=False)
    return result.exit_code, result.output


def _logged_heartbeats(folder: Path) -> HdrHistogram:
    """FAST's Heartbeat histogram, decoded by the hdrh library's own reader."""
    total = HdrHistogram(1, 3_600_000_000, 3)
    reader = HistogramLogReader(str(folder / "latency.hlog"), HdrHistogram(1, 3_600_000_000, 3))
    while (histogram := reader.get_next_interval_histogram()) is not None:
        if histogram.get_tag() == f"corrected.{FAST}.Heartbeat":
            total.add(histogram)
    reader.close()
    return total


def test_gate_reads_a_percentile_summary_json_does_not_list_from_latency_hlog(tmp_path: Path) -> None:
    folder = make_results(tmp_path / "run")
    assert "p99.99" not in json.loads((folder / "summary.json").read_text())["fleet"]["exchanges"]["Heartbeat"][
        "corrected_ms"]
    code, output = _gate(folder, "Heartbeat.p99.99 < 1s", "Heartbeat.p(95) < 1ms")
    assert code == 99, output
    stored = json.loads((folder / "summary.json").read_text())["thresholds"]
    assert [list(record) for record in stored] == [RECORD_KEYS, RECORD_KEYS]
    logged = _logged_heartbeats(folder)
    assert stored[0] | {"detail": ""} == {
        "expression": "Heartbeat.p99.99 < 1s", "passed": True, "detail": "", "abort": False, "aborted_run": False,
        "observed": f"{logged.get_value_at_percentile(99.99) / 1000:.3g} ms"}
    p95 = f"{logged.get_value_at_percentile(95) / 1000:.3g} ms"
    assert (stored[1]["passed"], stored[1]["observed"]) == (False, p95)
    # Without the log, the run cannot answer it: it fails, saying why.
    (folder / "latency.hlog").unlink()
    code, output = _gate(folder, "Heartbeat.p99.99 < 1s")
    assert code == 99 and "has no latency.hlog" in output and "lists no p99.99" in output


def test_gate_replaces_its_verdicts_and_keeps_the_one_that_aborted_the_run(tmp_path: Path) -> None:
    folder = make_results(tmp_path / "run")
    summary = json.loads((folder / "summary.json").read_text())
    summary["thresholds"] = [
        {"expression": "errors.rate < 1% abort", "passed": False, "observed": "9%", "detail": "aborted the run at 3 s",
         "abort": True, "aborted_run": True},
        {"expression": "timeouts == 0", "passed": True, "observed": "0", "detail": "old", "abort": False,
         "aborted_run": False},
    ]
    (folder / "summary.json").write_text(json.dumps(summary))
    code, _ = _gate(folder, "timeouts == 0", "errors.rate < 1% abort", "Heartbeat.count >= 1")
    assert code == 99  # one timeout (made_results)
    stored = json.loads((folder / "summary.json").read_text())["thresholds"]
    assert [(r["expression"], r["passed"], r["aborted_run"]) for r in stored] == [
        ("errors.rate < 1% abort", False, True), ("timeouts == 0", False, False), ("Heartbeat.count >= 1", True, False)]
    assert stored[0]["detail"] == "aborted the run at 3 s"
