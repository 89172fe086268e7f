"""Merging carries the scenario the shards ran into the merged folder, so
`fleetsim gate MERGED` judges the whole test by that scenario's thresholds;
shards whose copies differ are not one test, and the merge says so."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from fleetsim.cli import main
from fleetsim.cli.run import EXIT_THRESHOLD_FAILED
from fleetsim.engine.run import FleetShare, RunSpec
from fleetsim.metrics.intervals import Census, IntervalWriter
from fleetsim.metrics.merge import MergeError, merge_results
from fleetsim.metrics.recorder import Recorder
from fleetsim.metrics.results import summary_document, write_results
from fleetsim.profiles.builtin import load_builtin

START = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
MODEL = "bescore-bsc-s12bcc"
SCENARIO = """name = "sharded"
thresholds = ["Heartbeat.p90 < 20ms", "timeouts == 0"]

[[groups]]
model = "bescore-bsc-s12bcc"
stations = 8
"""


def shard(out: Path, heartbeat_ms: float, scenario_text: str | None = SCENARIO, *, finished: bool = True) -> Path:
    """A shard's folder as `fleetsim run --shard` leaves it: 100 Heartbeats
    answered in ``heartbeat_ms`` over two seconds; the summary and the
    scenario copy only when it ``finished`` (a killed run writes neither)."""
    recorder = Recorder()
    exchange = recorder.model(MODEL, 10.0).exchange("Heartbeat")
    writer = IntervalWriter(out, recorder, START)
    for second in range(2):
        for i in range(50):
            sent_s = second + i * 0.01
            exchange.record_answer(sent_s, sent_s, sent_s + heartbeat_ms / 1000)
        writer.tick(second + 1.0, Census(connected=4, booted=4))
    writer.close(2.0, Census())
    if finished:
        spec = RunSpec(fleet=(FleetShare(MODEL, 4),), duration_s=2.0, seed=3)
        document = summary_document(recorder, spec, None, run_id=out.name, host="test")
        write_results(out, document, spec, load_builtin(), scenario_text=scenario_text)
    return out


def test_the_shards_scenario_is_carried_into_the_merged_folder(tmp_path: Path) -> None:
    shards = [shard(tmp_path / "shard-0", 5.0), shard(tmp_path / "shard-1", 5.0)]
    merge_results(shards, tmp_path / "merged")
    assert (tmp_path / "merged" / "scenario.toml").read_text() == SCENARIO


def test_a_killed_shard_takes_the_scenario_of_the_others(tmp_path: Path) -> None:
    shards = [shard(tmp_path / "shard-0", 5.0, finished=False), shard(tmp_path / "shard-1", 5.0)]
    merge_results(shards, tmp_path / "merged")
    assert (tmp_path / "merged" / "scenario.toml").read_text() == SCENARIO


def test_runs_without_a_scenario_merge_without_one(tmp_path: Path) -> None:
    shards = [shard(tmp_path / "a", 5.0, None), shard(tmp_path / "b", 5.0, None)]
    merge_results(shards, tmp_path / "merged")
    assert not (tmp_path / "merged" / "scenario.toml").exists()


def test_shards_of_different_scenarios_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    other = SCENARIO.replace("stations = 8", "stations = 9")
    shards = [shard(tmp_path / "shard-0", 5.0), shard(tmp_path / "shard-1", 5.0, other)]
    with pytest.raises(MergeError) as raised:
        merge_results(shards, tmp_path / "merged")
    message = str(raised.value)
    assert "shard-0/scenario.toml and " in message and "shard-1/scenario.toml differ" in message
    assert "from line 6 ('stations = 8' vs 'stations = 9')" in message
    assert not (tmp_path / "merged").exists()


def test_a_finished_shard_without_the_scenario_is_refused(tmp_path: Path) -> None:
    shards = [shard(tmp_path / "shard-0", 5.0), shard(tmp_path / "shard-1", 5.0, None)]
    with pytest.raises(MergeError, match=r"shard-1 ran without a scenario file, .*shard-0 with one"):
        merge_results(shards, tmp_path / "merged")


def test_fleetsim_merge_says_the_scenarios_differ_in_one_line_and_exits_2(tmp_path: Path) -> None:
    shard(tmp_path / "shard-0", 5.0)
    shard(tmp_path / "shard-1", 5.0, SCENARIO.replace("20ms", "30ms"))
    result = CliRunner().invoke(main, ["merge", str(tmp_path / "shard-0"), str(tmp_path / "shard-1"),
                                       "--out", str(tmp_path / "merged")])
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if "differ" in line]
    assert len(errors) == 1 and "from line 2" in errors[0], result.output


def test_merge_then_gate_judges_the_whole_test_by_its_scenario(tmp_path: Path) -> None:
    # Shard 0 alone passes `Heartbeat.p90 < 20ms`; with shard 1's slower half
    # added the fleet's p90 is 50 ms: the verdict is the merged run's.
    fast, slow = shard(tmp_path / "shard-0", 5.0), shard(tmp_path / "shard-1", 50.0)
    runner = CliRunner()
    assert runner.invoke(main, ["gate", str(fast)]).exit_code == 0
    merged = tmp_path / "merged"
    result = runner.invoke(main, ["merge", str(fast), str(slow), "--out", str(merged)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["gate", str(merged)])
    assert result.exit_code == EXIT_THRESHOLD_FAILED, result.output
    assert "✗ Heartbeat.p90 < 20ms" in result.output and "✓ timeouts == 0" in result.output
    stored = json.loads((merged / "summary.json").read_text())["thresholds"]
    assert [record["passed"] for record in stored] == [False, True]
