"""Abort on fail, end to end: the embedded CSMS answers badly, a threshold
marked ``abort`` fails at an interval, and the run stops cleanly (results
written, exit 99, the threshold named) long before its duration."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import trio
from click.testing import CliRunner

from fleetsim.cli import main
from fleetsim.cli.gates import AbortWatch
from fleetsim.cli.run import EXIT_THRESHOLD_FAILED
from fleetsim.csms.config import CsmsConfig, Faults
from fleetsim.engine.run import RunSpec, run, shares
from fleetsim.metrics.recorder import Recorder
from fleetsim.profiles.builtin import load_builtin
from fleetsim.report.thresholds import parse_threshold
from fleetsim.sessions.simple import SimpleSessions

PROFILES = load_builtin()
MODEL = "bescore-bsc-s12bcc"
FAULTY = CsmsConfig(faults=Faults(malformed_every=2))  # every other answer of a connection is malformed


def _spec(duration_s: float) -> RunSpec:
    return RunSpec(fleet=shares([MODEL], 8), duration_s=duration_s, ramp_per_s=0, speed=60.0, interval_s=0.25,
                   reaction_delays=False, sessions=SimpleSessions(mean_idle_s=30.0, mean_connected_s=120.0),
                   embedded_csms=FAULTY, embedded_traffic=(), stop_grace_s=2.0)


async def test_a_failing_abort_threshold_stops_a_run_without_a_results_folder() -> None:
    recorder = Recorder()
    # A latency threshold: it can fail only if the run folds its intervals
    # into the totals, which it must do even with nothing to write them to.
    watch = AbortWatch([parse_threshold("BootNotification.max < 1us abort")], recorder)
    with trio.fail_after(30):
        outcome = await run(_spec(60.0), PROFILES, recorder, on_interval=watch)
    assert outcome.aborted is not None and "BootNotification.max < 1us abort" in outcome.aborted
    assert not outcome.interrupted
    assert (outcome.ended_at - outcome.started_at).total_seconds() < 20  # not the 60 s asked for
    assert watch.aborted is not None and watch.aborted.aborted_run


async def test_the_grace_period_holds_the_abort_back() -> None:
    recorder = Recorder()
    watch = AbortWatch([parse_threshold("errors.rate < 1% abort after 1.5s")], recorder)
    with trio.fail_after(30):
        outcome = await run(_spec(60.0), PROFILES, recorder, on_interval=watch)
    assert outcome.aborted is not None
    assert watch.aborted is not None and watch.aborted.detail.startswith("aborted the run at 2 s")  # 1.5 s, rounded
    assert (outcome.ended_at - outcome.started_at).total_seconds() >= 1.5
    errors = sum(sum(stats.errors.values()) for stats in recorder.models[MODEL].exchanges.values())
    assert errors > 0


def test_fleetsim_run_aborts_exits_99_and_says_which_threshold(tmp_path: Path) -> None:
    scenario = tmp_path / "faulty.toml"
    scenario.write_text(f"""
name = "faulty"
thresholds = ["errors.rate < 1% abort after 1s", "BootNotification.p(95) < 10s"]
[[groups]]
model = "{MODEL}"
stations = 8
[run]
duration_s = 60
speed = 60
mean_idle_s = 30
interval_s = 0.5
stop_grace_s = 2
percentiles = [50, 99.99]
[csms]
calls = []
faults = {{ malformed_every = 2 }}
""")
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["run", str(scenario), "--out", str(out), "-q"], prog_name="fleetsim",
                                catch_exceptions=False)
    assert result.exit_code == EXIT_THRESHOLD_FAILED, result.output
    aborted_lines = [line for line in result.output.splitlines() if "run aborted at" in line]
    assert len(aborted_lines) == 1 and "errors.rate < 1% abort after 1s" in aborted_lines[0]
    assert "FAILED: a threshold aborted the run after" in result.output
    summary = json.loads((out / "summary.json").read_text())
    run_section = summary["run"]
    assert run_section["aborted_by"] == "errors.rate < 1% abort after 1s"
    assert (run_section["completed"], run_section["interrupted"]) == (True, False)
    assert run_section["percentiles"] == [50.0, 90.0, 95.0, 99.0, 99.9, 99.99]  # p95: a threshold names it
    started, ended = (run_section[key] for key in ("started_at", "ended_at"))
    assert (datetime.fromisoformat(ended) - datetime.fromisoformat(started)).total_seconds() < 30
    assert [(t["expression"], t["passed"], t["abort"], t["aborted_run"]) for t in summary["thresholds"]] == [
        ("errors.rate < 1% abort after 1s", False, True, True), ("BootNotification.p(95) < 10s", True, False, False)]
    assert summary["thresholds"][0]["detail"].startswith("aborted the run at ")
    assert (out / "latency.hlog").is_file() and (out / "run.json").is_file()


def test_percentiles_on_the_command_line(tmp_path: Path) -> None:
    bad = CliRunner().invoke(main, ["run", "-n", "3", "--percentiles", "50,100", "--out", str(tmp_path / "bad")],
                             prog_name="fleetsim")
    assert bad.exit_code == 2 and "above 0 and below 100" in bad.output and not (tmp_path / "bad").exists()
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["run", "-n", "3", "-d", "2s", "--speed", "60", "--no-csms-calls", "-q",
                                       "--percentiles", "99.99,p50", "--threshold", "BootNotification.p(95) < 10s",
                                       "--out", str(out)], prog_name="fleetsim", catch_exceptions=False)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["run"]["percentiles"] == [50.0, 90.0, 95.0, 99.0, 99.9, 99.99]
    assert list(summary["fleet"]["exchanges"]["BootNotification"]["corrected_ms"]) == [
        "p50", "p90", "p95", "p99", "p99.9", "p99.99", "max"]
    (stored,) = summary["thresholds"]
    assert (stored["expression"], stored["passed"], stored["aborted_run"]) == ("BootNotification.p(95) < 10s", True,
                                                                              False)
    assert "aborted_by" not in summary["run"]
