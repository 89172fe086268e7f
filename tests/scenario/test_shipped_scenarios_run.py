"""Every shipped scenario runs against the embedded CSMS: each one for a few
seconds (``--duration``, as a user would shorten it), the whole fleet and
its sessions, through ``fleetsim run`` itself."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from fleetsim.cli import main

SCENARIOS = sorted((Path(__file__).parents[2] / "scenarios").glob("*.toml"))
# Long enough for a ramp of 200 stations a second to start 800 of them and
# for them to boot; the exchanges are judged, not the run's thresholds (they
# are written for the full length).
SECONDS = 4


def test_the_seven_scenarios_are_shipped() -> None:
    assert {path.stem for path in SCENARIOS} >= {"quickstart", "ac-public-day", "dc-hub-evening",
                                                 "reconnect-storm", "caltech-replay", "soak", "capacity-step"}


def shortened(path: Path) -> list[str]:
    """How a user shortens the scenario: ``--duration``; for one with stages
    (no --duration beside them), its stages' targets, each held a moment
    (all at once, half-second intervals: a plateau of two)."""
    stages = tomllib.loads(path.read_text()).get("run", {}).get("stages", [])
    if not stages:
        return ["--duration", f"{SECONDS}s"]
    return ["--ramp", "0/s", "--interval", "0.5s",
            *[arg for stage in stages for arg in ("--stage", f"1.5s:{stage['stations']}")]]


@pytest.mark.parametrize("path", SCENARIOS, ids=[path.stem for path in SCENARIOS])
def test_a_shipped_scenario_runs_against_the_embedded_csms(path: Path, tmp_path: Path) -> None:
    out = tmp_path / "results"
    result = CliRunner().invoke(main, ["run", str(path), "-q", *shortened(path), "--out", str(out)],
                                prog_name="fleetsim")
    # 99: a threshold meant for the full run; 4: a fleet whose ramp is longer than
    # the shortened run (not every station booted; none failed to connect: below).
    assert result.exit_code in (0, 4, 99), result.output
    summary = json.loads((out / "summary.json").read_text())
    fleet = summary["fleet"]
    assert fleet["boot"]["answers"].get("Accepted", 0) > 0
    assert fleet["connection"]["failures"] == {}
    for action, figures in fleet["exchanges"].items():
        assert figures["errors_total"] == 0 and figures["timeouts"] == 0, action
    assert (out / "scenario.toml").read_text() == path.read_text()


def test_a_staged_scenario_measures_each_of_its_stages(tmp_path: Path) -> None:
    path = Path(__file__).parents[2] / "scenarios" / "capacity-step.toml"
    out = tmp_path / "results"
    result = CliRunner().invoke(main, ["run", str(path), "-q", *shortened(path), "--out", str(out)],
                                prog_name="fleetsim")
    assert result.exit_code in (0, 99), result.output
    stages = json.loads((out / "summary.json").read_text())["stages"]
    assert [stage["stations"] for stage in stages] == [100, 250, 500, 250, 100]
    for stage in stages:
        assert stage["measured_s"] == 1.0 and stage["calls_per_s"] > 0, stage["index"]
