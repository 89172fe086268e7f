"""``fleetsim gate RESULTS`` without --threshold judges the thresholds of the
scenario the run used (the copy its results folder holds); --threshold given,
those only; neither, a usage error (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from fleetsim.cli import main
from fleetsim.cli.run import EXIT_THRESHOLD_FAILED
from fleetsim.engine.run import FleetShare, RunSpec
from fleetsim.metrics.recorder import Recorder
from fleetsim.metrics.results import summary_document, write_results
from fleetsim.profiles.builtin import load_builtin

MODEL = "bescore-bsc-s12bcc"
SCENARIO = """name = "gated"
thresholds = [{thresholds}]

[[groups]]
model = "{model}"
stations = 4
"""


def fleetsim(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), prog_name="fleetsim", catch_exceptions=False)


def scenario(*thresholds: str) -> str:
    return SCENARIO.format(thresholds=", ".join(json.dumps(t) for t in thresholds), model=MODEL)


def run_folder(out: Path, scenario_text: str | None, *, heartbeat_ms: float = 5.0) -> Path:
    """A finished run's folder as `fleetsim run` writes it: 100 Heartbeats
    answered in ``heartbeat_ms``, no timeouts, the scenario copied beside."""
    recorder = Recorder()
    exchange = recorder.model(MODEL, 10.0).exchange("Heartbeat")
    for i in range(100):
        exchange.record_answer(i * 0.01, i * 0.01, i * 0.01 + heartbeat_ms / 1000)
    spec = RunSpec(fleet=(FleetShare(MODEL, 4),), duration_s=1.0, seed=3)
    document = summary_document(recorder, spec, None, run_id=out.name, host="test")
    write_results(out, document, spec, load_builtin(), scenario_text=scenario_text)
    return out


def test_without_threshold_the_scenarios_thresholds_pass_with_0(tmp_path: Path) -> None:
    run = run_folder(tmp_path / "run", scenario("Heartbeat.p99 < 20ms", "timeouts == 0"))
    result = fleetsim("gate", str(run))
    assert result.exit_code == 0, result.output
    assert "judging the thresholds of the scenario the run used (scenario.toml)" in result.output
    assert "✓ Heartbeat.p99 < 20ms" in result.output and "✓ timeouts == 0" in result.output
    stored = json.loads((run / "summary.json").read_text())["thresholds"]
    assert [(record["expression"], record["passed"]) for record in stored] == [
        ("Heartbeat.p99 < 20ms", True), ("timeouts == 0", True)]


def test_without_threshold_a_failing_scenario_threshold_exits_99(tmp_path: Path) -> None:
    run = run_folder(tmp_path / "run", scenario("Heartbeat.p99 < 20ms"), heartbeat_ms=50.0)
    result = fleetsim("gate", str(run / "summary.json"))  # the file names its folder too
    assert result.exit_code == EXIT_THRESHOLD_FAILED, result.output
    assert "✗ Heartbeat.p99 < 20ms" in result.output


def test_given_thresholds_are_judged_alone(tmp_path: Path) -> None:
    run = run_folder(tmp_path / "run", scenario("Heartbeat.p99 < 1ms"))  # would fail
    result = fleetsim("gate", str(run), "-t", "Heartbeat.p99 < 20ms")
    assert result.exit_code == 0, result.output
    assert "Heartbeat.p99 < 1ms" not in result.output
    assert "scenario the run used" not in result.output


@pytest.mark.parametrize("scenario_text", [None, scenario()], ids=["no scenario copy", "no thresholds in it"])
def test_nothing_to_judge_is_a_usage_error(tmp_path: Path, scenario_text: str | None) -> None:
    run = run_folder(tmp_path / "run", scenario_text)
    result = fleetsim("gate", str(run))
    assert result.exit_code == 2
    assert "Missing option '--threshold'" in result.output
    assert "has no scenario with thresholds (scenario.toml)" in result.output


@pytest.mark.parametrize(("text", "words"), [
    ('thresholds = ["Heartbeat.p100 < 2s"]\n', "thresholds[0]: 'Heartbeat.p100 < 2s': 'p100' is not a percentile"),
    ('thresholds = [3]\n', "cannot read its thresholds: Expected `str`, got `int`"),
    ('thresholds = ["timeouts == 0"\n', "cannot read its thresholds:"),
    ("\udcff", "cannot read its thresholds:"),
], ids=["bad expression", "not a string", "not TOML", "not UTF-8"])
def test_a_copy_that_cannot_be_judged_is_a_one_line_usage_error(tmp_path: Path, text: str, words: str) -> None:
    run = run_folder(tmp_path / "run", None)
    (run / "scenario.toml").write_bytes(text.encode("utf-8", "surrogateescape"))
    result = fleetsim("gate", str(run))
    assert result.exit_code == 2
    error = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(error) == 1 and words in error[0], result.output
    assert "Traceback" not in result.output
