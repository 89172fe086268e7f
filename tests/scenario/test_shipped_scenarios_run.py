"""Every shipped scenario runs against the embedded CSMS: each one for a few
seconds (``--duration``, as a user would shorten it), the whole fleet and
its sessions, through ``fleetsim run`` itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fleetsim.cli import main

SCENARIOS = sorted((Path(__file__).parents[2] / "scenarios").glob("*.toml"))
# Long enough for a ramp of 200 stations a second to start 800 of them and
# for them to boot; the exchanges are judged, not the run's thresholds (they
# are written for the full length).
SECONDS = 4


def test_the_six_scenarios_are_shipped() -> None:
    assert {path.stem for path in SCENARIOS} >= {"quickstart", "ac-public-day", "dc-hub-evening",
                                                 "reconnect-storm", "caltech-replay", "soak"}


@pytest.mark.parametrize("path", SCENARIOS, ids=[path.stem for path in SCENARIOS])
def test_a_shipped_scenario_runs_against_the_embedded_csms(path: Path, tmp_path: Path) -> None:
    out = tmp_path / "results"
    result = CliRunner().invoke(main, ["run", str(path), "-q", "--duration", f"{SECONDS}s", "--out", str(out)],
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
