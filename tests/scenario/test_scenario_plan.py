"""The plan of a scenario: every shipped scenario loads and plans; the same
seed gives the same plan; the expected rates follow the models' intervals and
the speed; the speed warning appears past one process's capacity and not
below it.  The scenario package stays pure."""

from __future__ import annotations

import sys
from pathlib import Path

import msgspec
import pytest

from fleetsim.cli.scenario import run_spec, scenario_plan
from fleetsim.scenario.load import load_scenario
from fleetsim.scenario.plan import PROCESS_CALLS_PER_S, speed_warnings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_architecture import PACKAGE, _violations

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
SHIPPED = sorted(SCENARIOS.glob("*.toml"))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(text)
    return path


def test_the_shipped_scenarios_are_there() -> None:
    assert {p.stem for p in SHIPPED} >= {"quickstart", "ac-public-day", "dc-hub-evening", "reconnect-storm",
                                         "caltech-replay", "soak"}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_scenario_loads_and_plans_within_one_process(path: Path) -> None:
    loaded = load_scenario(path)
    plan = scenario_plan(loaded, run_spec(loaded))
    assert plan.stations == loaded.scenario.stations > 0
    assert plan.warnings == ()  # shipped scenarios fit in one process on the reference machine
    assert 0 < plan.rates.peak <= PROCESS_CALLS_PER_S


def test_the_same_seed_gives_the_same_plan_and_spec() -> None:
    first, second = load_scenario(SCENARIOS / "ac-public-day.toml"), load_scenario(SCENARIOS / "ac-public-day.toml")
    assert run_spec(first) == run_spec(second)
    assert scenario_plan(first, run_spec(first)) == scenario_plan(second, run_spec(second))
    assert run_spec(first, {"seed": 5}) == msgspec.structs.replace(run_spec(first), seed=5)


def test_a_segment_day_follows_its_hourly_profile() -> None:
    loaded = load_scenario(SCENARIOS / "ac-public-day.toml")
    plan = scenario_plan(loaded, run_spec(loaded))
    for group, config in zip(plan.groups, loaded.scenario.groups, strict=True):
        bays = config.stations * len(group.connectors)
        assert group.sessions_per_day == pytest.approx(bays * 1.0)  # ElaadNL public: about one a connector a day
        assert group.sessions_in_run == pytest.approx(group.sessions_per_day)  # the run is exactly that day
        assert group.peak_hour == 18  # the evening peak of ElaadNL's public chargers


def test_rates_scale_with_speed_and_follow_the_sample_interval(tmp_path: Path) -> None:
    text = ('[[groups]]\nmodel = "bionever-bss011k-v1000"\nstations = 100\n'
            '[csms]\ncalls = []\nheartbeat_interval_s = 60\n')
    loaded = load_scenario(write(tmp_path, text))
    slow = scenario_plan(loaded, run_spec(loaded, {"speed": 1.0})).rates
    fast = scenario_plan(loaded, run_spec(loaded, {"speed": 10.0})).rates
    assert slow.heartbeats == pytest.approx(100 / 60)
    assert fast.heartbeats == pytest.approx(10 * slow.heartbeats)
    assert fast.meter_values == pytest.approx(10 * slow.meter_values)
    # Simple sessions, 600 s idle + 5 s badge + 1800 s plugged in: 1800/2405 of
    # the connectors in a transaction, sampling every 10 s, clock-aligned every 30 s.
    assert slow.meter_values == pytest.approx(100 * 1800 / 2405 / 10 + 100 / 30)
    assert slow.csms_calls == 0
    assert slow.boot_storm == pytest.approx(100 * 3)  # ramp 100/s: BootNotification + 2 StatusNotifications


def test_the_speed_warning_appears_past_the_process_capacity_only(tmp_path: Path) -> None:
    text = '[[groups]]\nmodel = "bionever-bss011k-v1000"\nstations = 2000\n'
    loaded = load_scenario(write(tmp_path, text))
    calm = scenario_plan(loaded, run_spec(loaded, {"speed": 1.0}))
    assert calm.rates.peak < PROCESS_CALLS_PER_S and calm.warnings == ()
    rushed = scenario_plan(loaded, run_spec(loaded, {"speed": 200.0}))
    assert rushed.rates.peak > PROCESS_CALLS_PER_S
    assert len(rushed.warnings) == 1 and "speed 200" in rushed.warnings[0]
    assert speed_warnings(rushed.rates, 200.0) == rushed.warnings


def test_faults_are_listed_with_their_real_and_simulated_times() -> None:
    loaded = load_scenario(SCENARIOS / "reconnect-storm.toml")
    plan = scenario_plan(loaded, run_spec(loaded))
    assert plan.faults == ("reconnect storm: 100% of the fleet (2000 stations) drops at once 45s into the run "
                           "(simulated 0:07:30)",)
    late = scenario_plan(loaded, run_spec(loaded, {"duration_s": 30.0}))
    assert late.faults[0].endswith("never happens")


@pytest.mark.parametrize("path", sorted((PACKAGE / "scenario").glob("*.py")), ids=lambda p: p.name)
def test_the_scenario_package_reads_no_clock_and_imports_no_io(path: Path) -> None:
    assert _violations(path) == []
