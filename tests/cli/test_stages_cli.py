"""Stages from the command line (``--stage DURATION:STATIONS``) and from a
scenario (``[[run.stages]]``): what a run is handed, and each mistake a
clear one-line error (exit 2) that names the option or the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cli_helpers import assert_one_line_usage_error, fleetsim
from click.testing import Result

from fleetsim.spec.stages import Stage

MINIMAL = '[[groups]]\nmodel = "bionever-bss011k-v1000"\nstations = 100\n'


def staged_run(tmp_path: Path, *args: str) -> Result:
    return fleetsim("run", "-q", "--out", str(tmp_path / "out"), *args)


def test_stages_make_the_run_and_the_largest_target_is_the_fleet(tmp_path: Path, executed: list[Any]) -> None:
    result = staged_run(tmp_path, "--stage", "1m:40", "--stage", "30s:250", "--stage", "90s:0")
    assert result.exit_code == 0, result.output
    (spec,) = executed
    assert spec.stages == (Stage(60.0, 40), Stage(30.0, 250), Stage(90.0, 0))
    assert spec.fleet_stations() == 250 and spec.duration_s == 180.0


def test_stations_given_beside_stages_may_not_exceed_the_largest_target(tmp_path: Path,
                                                                      executed: list[Any]) -> None:
    result = staged_run(tmp_path, "--stations", "40", "--stage", "1m:40")
    assert result.exit_code == 0, result.output
    assert executed[0].fleet_stations() == 40
    # Stations no stage ever starts would fail the run as a fleet not driven: refused before it.
    line = assert_one_line_usage_error(staged_run(tmp_path, "--stations", "300", "--stage", "1m:40"), "--stations")
    assert "the stages run at most 40" in line
    assert len(executed) == 1


@pytest.mark.parametrize(
    ("stage", "said"),
    [
        ("1m", "'1m' is not DURATION:STATIONS (e.g. 2m:500"),
        ("1m:lots", "'1m:lots' is not DURATION:STATIONS"),
        ("2m:-5", "'2m:-5': a stage's target is 0 stations or more"),
        ("0s:50", "--stage"),
        ("1m:99999999", "'1m:99999999' is not DURATION:STATIONS"),
    ],
)
def test_a_stage_that_does_not_parse_is_a_usage_error(tmp_path: Path, executed: list[Any], stage: str,
                                                      said: str) -> None:
    line = assert_one_line_usage_error(staged_run(tmp_path, "--stage", "1m:10", "--stage", stage), "--stage")
    assert said in line
    assert executed == []


def test_a_bad_duration_of_a_stage_says_so(tmp_path: Path, executed: list[Any]) -> None:
    line = assert_one_line_usage_error(staged_run(tmp_path, "--stage", "soon:50"), "--stage")
    assert "soon" in line


def test_duration_beside_stages_is_a_usage_error(tmp_path: Path, executed: list[Any]) -> None:
    result = staged_run(tmp_path, "--duration", "5m", "--stage", "1m:10")
    assert_one_line_usage_error(result, "--duration cannot be given with stages")
    assert executed == []


def test_a_plateau_too_short_is_a_usage_error_with_the_numbers(tmp_path: Path, executed: list[Any]) -> None:
    # 0 → 500 at 100/s: 5 s of ramp, a plateau from 6 s, the stage over at 7 s.
    result = staged_run(tmp_path, "--ramp", "100/s", "--stage", "7s:500")
    assert_one_line_usage_error(result, "--stage", "stage 1 (0 → 500 stations in 7 s)",
                                "holds its target for 1 s after a ramp of 5 s",
                                "a plateau needs at least 2 intervals (2 s)")
    assert executed == []


def test_a_target_above_the_stations_given_is_a_usage_error(tmp_path: Path, executed: list[Any]) -> None:
    result = staged_run(tmp_path, "--stations", "50", "--stage", "1m:80")
    assert_one_line_usage_error(result, "--stage", "stage 1 asks for 80 stations, but the fleet has 50")
    assert executed == []


# ---------------------------------------------------------------- [[run.stages]]


def _scenario(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(text)
    return path


def test_a_scenarios_stages_make_the_run(tmp_path: Path, executed: list[Any]) -> None:
    path = _scenario(tmp_path, MINIMAL + "[run]\nramp_per_s = 50\n[[run.stages]]\nduration_s = 20\nstations = 60\n"
                                         "[[run.stages]]\nduration_s = 10\nstations = 0\n")
    result = fleetsim("scenario", "check", str(path))
    assert result.exit_code == 0, result.output
    result = staged_run(tmp_path, str(path))
    assert result.exit_code == 0, result.output
    (spec,) = executed
    assert spec.stages == (Stage(20.0, 60), Stage(10.0, 0)) and spec.duration_s == 30.0
    assert spec.ramp_per_s == 50.0


@pytest.mark.parametrize(
    ("run", "where"),
    [
        ("[run]\nduration_s = 60\n[[run.stages]]\nduration_s = 20\nstations = 10\n",
         "run.duration_s: run.duration_s and [[run.stages]] are both given"),
        ("[[run.stages]]\nduration_s = 20\nstations = 10\n[[run.stages]]\nduration_s = 20\nstations = -5\n",
         "run.stages[1].stations: -5 stations: a stage's target is 0 stations or more"),
        ("[[run.stages]]\nduration_s = 20\nstations = 150\n",
         "run.stages: stage 1 asks for 150 stations, but the fleet has 100"),
        ("[run]\nramp_per_s = 20\n[[run.stages]]\nduration_s = 6\nstations = 100\n",
         "run.stages: stage 1 (0 → 100 stations in 6 s) holds its target for 0 s after a ramp of 5 s: "
         "a plateau needs at least 2 intervals (2 s)"),
        ("[[run.stages]]\nduration_s = 0\nstations = 10\n", "run.stages[0].duration_s"),
        ("[[run.stages]]\nstations = 10\n", "run.stages[0].duration_s: required field missing"),
        ("[[run.stages]]\nduration_s = 10\nstations = 10\nspeed = 2\n", "run.stages[0].speed: unknown field"),
    ],
)
def test_a_broken_stage_in_a_scenario_is_one_line_naming_the_field(tmp_path: Path, executed: list[Any], run: str,
                                                                   where: str) -> None:
    path = _scenario(tmp_path, MINIMAL + run)
    for args in (("scenario", "check", str(path)), ("run", str(path), "--out", str(tmp_path / "never"))):
        result = fleetsim(*args)
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith(f"error: {path}"), result.stderr
        assert where in lines[0], lines[0]
    assert executed == []
    assert not (tmp_path / "never").exists()


def test_stage_on_the_command_line_replaces_the_scenarios(tmp_path: Path, executed: list[Any]) -> None:
    path = _scenario(tmp_path, MINIMAL + "[[run.stages]]\nduration_s = 20\nstations = 60\n")
    result = staged_run(tmp_path, str(path), "--stage", "30s:100")
    assert result.exit_code == 0, result.output
    assert executed[0].stages == (Stage(30.0, 100),) and executed[0].duration_s == 30.0


def test_duration_beside_a_scenarios_stages_is_a_usage_error(tmp_path: Path, executed: list[Any]) -> None:
    path = _scenario(tmp_path, MINIMAL + "[[run.stages]]\nduration_s = 20\nstations = 60\n")
    assert_one_line_usage_error(staged_run(tmp_path, str(path), "--duration", "4s"),
                                "--duration cannot be given with stages")
    assert executed == []
