"""``fleetsim scenario check`` and ``fleetsim run SCENARIO`` through click's
CliRunner: a broken scenario exits 2 with the file and field and no
traceback; the quickstart scenario runs what ``fleetsim run`` runs; explicit
options win over the file; the scenario's thresholds are judged with the
command line's (a failing one exits 99 and is in the JUnit file)."""

from __future__ import annotations

import json
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import msgspec
import pytest
from cli_helpers import fleetsim, write

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
MINIMAL = '[[groups]]\nmodel = "bionever-bss011k-v1000"\nstations = 2\n'


class _Captured(Exception):
    pass


def captured_spec(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *args: str) -> Any:
    """The RunSpec ``fleetsim run ARGS`` hands the engine (the run itself is
    replaced by one that keeps the spec and stops)."""
    seen = []

    async def keep_spec(spec: Any, *_: Any, **__: Any) -> None:
        seen.append(spec)
        raise _Captured

    monkeypatch.setattr("fleetsim.cli.run.run", keep_spec)
    # A folder each call: the stopped run leaves a summary.json, and an --out holding one is refused.
    result = fleetsim("run", *args, "-q", "--out", tempfile.mkdtemp(dir=tmp_path))
    assert result.exit_code == 3 and len(seen) == 1, result.output
    return seen[0]


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.toml")), ids=lambda p: p.stem)
def test_check_prints_the_plan_of_every_shipped_scenario(path: Path) -> None:
    result = fleetsim("scenario", "check", str(path))
    assert result.exit_code == 0, result.output
    assert f"scenario {path.stem}: {path}" in result.stdout
    assert "expected calls per second" in result.stdout and "stations:" in result.stdout
    assert "warning" not in result.stderr


def test_check_lists_id_tags_and_writes_them(tmp_path: Path) -> None:
    out = tmp_path / "tags.csv"
    result = fleetsim("scenario", "check", str(SCENARIOS / "ac-public-day.toml"), "--id-tags", str(out))
    assert result.exit_code == 0, result.output
    assert "NLPUB-V-00001..NLPUB-V-05000 Accepted" in result.stdout
    rows = out.read_text().splitlines()
    assert rows[0] == "idTag,status" and "NLPUB-B-00050,Blocked" in rows and len(rows) == 1 + 5000 + 50


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (MINIMAL + "colour = 1\n", "groups[0].colour: unknown field"),
        (MINIMAL.replace("stations = 2", 'stations = "two"'), "groups[0].stations: expected `int`, got `str`"),
        (MINIMAL + '[run]\nstop = "halt"\n', "run.stop: invalid enum value 'halt'; expected one of: clean, close"),
        ("[run]\nspeed = 2\n", "groups: required field missing"),
        (MINIMAL + "[run\n", ", line 4: TOML syntax error"),
        (MINIMAL + '[target]\ncsms = "ws://h/o"\npassword = "x"\n', ", line 6: target.password: a password never"),
        (MINIMAL + '[groups.sessions]\nmodel = "replay"\nfile = "gone.csv"\n', "groups[0].sessions.file: no such file"),
        (MINIMAL + '[groups.sessions]\nmodel = "replay"\nfile = "s.toml"\n',
         "groups[0].sessions.file: cannot replay"),  # not a sessions CSV at all
        (MINIMAL + '[groups.sessions]\nmodel = "segment"\nsegment = "ac-public"\n[groups.sessions.id_tags]\n'
                   "blocked_share = 0.1\n", "groups[0].sessions.id_tags: id_tags.blocked_share is above 0"),
        (MINIMAL + "id_pattern = \"{model.x}\"\n", "groups[0].id_pattern: '{model.x}' is not a pattern"),
        (MINIMAL + '[target]\ncsms = "ws://cp:s3cr3t@h/o"\n', "target.csms: the URL carries a user or password"),
        (MINIMAL + '[target]\ncsms = "ws://h/o?token=s3cr3t"\n', "target.csms: the URL has a query or fragment"),
        (MINIMAL + "[run]\ninterval_s = 0\n", "run.interval_s: expected `float` > 0"),
    ],
)
def test_a_broken_scenario_exits_2_naming_file_and_field(tmp_path: Path, text: str, where: str) -> None:
    path = write(tmp_path, text)
    for args in (("scenario", "check", str(path)), ("run", str(path), "--out", str(tmp_path / "never"))):
        result = fleetsim(*args)
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith(f"error: {path}")
        assert where in result.stderr
        assert "Traceback" not in result.output
        assert not (tmp_path / "never").exists()


def test_the_quickstart_scenario_runs_what_fleetsim_run_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    default = captured_spec(monkeypatch, tmp_path)
    scenario = captured_spec(monkeypatch, tmp_path, str(SCENARIOS / "quickstart.toml"))
    assert (scenario.scenario, default.scenario) == ("quickstart", None)  # the results name it
    assert msgspec.structs.replace(scenario, scenario=None) == default


def test_explicit_options_override_the_scenario(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = SCENARIOS / "dc-hub-evening.toml"
    spec = captured_spec(monkeypatch, tmp_path, str(path), "--duration", "5s", "--speed", "3", "--seed", "9",
                         "--ramp", "7/s", "--csms", "ws://127.0.0.1:9/ocpp")
    assert (spec.duration_s, spec.speed, spec.seed, spec.ramp_per_s) == (5.0, 3.0, 9, 7.0)
    assert spec.csms_url == "ws://127.0.0.1:9/ocpp"
    assert spec.embedded_csms is None and spec.embedded_traffic == ()
    kept = captured_spec(monkeypatch, tmp_path, str(path))
    assert (kept.duration_s, kept.speed, kept.seed, kept.csms_url) == (300.0, 60.0, 7, None)
    assert kept.sim_start.isoformat() == "2026-03-06T16:00:00+01:00"
    assert kept.embedded_csms.heartbeat_interval_s == 300


def test_fleet_options_with_a_scenario_are_a_usage_error(tmp_path: Path) -> None:
    result = fleetsim("run", str(SCENARIOS / "quickstart.toml"), "--profile", "bionever-bss011k-v1000",
                      "--out", str(tmp_path / "never"))
    assert result.exit_code == 2
    assert "--profile cannot be given with a scenario" in result.stderr


def test_run_warns_before_a_run_too_fast_for_one_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = write(tmp_path, '[[groups]]\nmodel = "bionever-bss011k-v1000"\nstations = 2000\n')
    monkeypatch.setattr("fleetsim.cli.run.run", _never_run)
    fast = fleetsim("run", str(path), "--speed", "200", "--out", str(tmp_path / "a"))
    assert "warning: expected peak of" in fast.stderr and "speed 200" in fast.stderr
    calm = fleetsim("run", str(path), "--speed", "1", "--out", str(tmp_path / "b"))
    assert "warning: expected peak" not in calm.stderr
    checked = fleetsim("scenario", "check", str(path))
    assert checked.exit_code == 0 and "warning" not in checked.stderr


async def _never_run(*_: Any, **__: Any) -> None:
    raise _Captured


def test_the_scenarios_thresholds_are_judged_with_the_command_lines(tmp_path: Path) -> None:
    text = ('thresholds = ["BootNotification.count == 2", "Heartbeat.count > 1000000"]\n' + MINIMAL +
            "[run]\nduration_s = 2\nspeed = 60\nstop_grace_s = 1\n[csms]\ncalls = []\n")
    path = write(tmp_path, text)
    junit = tmp_path / "junit.xml"
    out = tmp_path / "out"
    result = fleetsim("run", str(path), "-q", "--out", str(out), "--junit", str(junit),
                      "--threshold", "errors.rate < 1%")
    assert result.exit_code == 99, result.output
    cases = {case.get("name"): case.find("failure") is None for case in ET.parse(junit).getroot().iter("testcase")}
    assert cases == {"BootNotification.count == 2": True, "Heartbeat.count > 1000000": False,
                     "errors.rate < 1%": True}
    assert (out / "scenario.toml").read_text() == text  # the scenario travels with its results
    assert json.loads((out / "run.json").read_text())["duration_s"] == 2.0


def test_a_scenario_run_takes_a_ramp_of_0_as_all_at_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    spec = captured_spec(monkeypatch, tmp_path, str(SCENARIOS / "dc-hub-evening.toml"), "--ramp", "0/s")
    assert spec.ramp_per_s == 0.0
    path = write(tmp_path, MINIMAL + "[run]\nramp_per_s = 0\n")
    checked = fleetsim("scenario", "check", str(path))
    assert checked.exit_code == 0, checked.output
    assert "ramp 0: all stations at once" in checked.stdout


@pytest.mark.parametrize("interval", ["0", "0s", "0ms"])
def test_an_interval_of_0_is_a_usage_error_with_or_without_a_scenario(tmp_path: Path, interval: str) -> None:
    for scenario in ((str(SCENARIOS / "quickstart.toml"),), ()):
        result = fleetsim("run", *scenario, "--interval", interval, "--out", str(tmp_path / "never"))
        assert result.exit_code == 2, result.output
        assert "--interval" in result.stderr and "must be longer than 0" in result.stderr
        assert not (tmp_path / "never").exists()


@pytest.mark.parametrize("given", ["scenario", "--csms with a scenario", "--csms"])
def test_a_password_in_the_csms_url_is_refused_and_never_echoed(tmp_path: Path, given: str) -> None:
    url = "ws://cp:s3cr3t@127.0.0.1:9/ocpp"
    args = {
        "scenario": (str(write(tmp_path, MINIMAL + f'[target]\ncsms = "{url}"\n')),),
        "--csms with a scenario": (str(SCENARIOS / "quickstart.toml"), "--csms", url),
        "--csms": ("--csms", url),
    }[given]
    result = fleetsim("run", *args, "--out", str(tmp_path / "never"))
    assert result.exit_code == 2, result.output
    assert "--password-env" in result.stderr or "password_env" in result.stderr
    assert "s3cr3t" not in result.output and "Traceback" not in result.output
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize("scenario", [(), (str(SCENARIOS / "quickstart.toml"),)], ids=["plain", "scenario"])
def test_an_id_prefix_that_cannot_go_in_a_url_is_a_usage_error(tmp_path: Path, scenario: tuple[str, ...]) -> None:
    result = fleetsim("run", *scenario, "--id-prefix", "my fleet", "--out", str(tmp_path / "never"))
    assert result.exit_code == 2, result.output
    assert "--id-prefix" in result.stderr and "cannot go in the URL path" in result.stderr
    assert not (tmp_path / "never").exists()


def test_an_unset_password_variable_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("FLEETSIM_NO_SUCH_PASSWORD", raising=False)
    scenario = write(tmp_path, MINIMAL + '[target]\ncsms = "ws://127.0.0.1:9/o"\nsecurity_profile = 1\n'
                                         'password_env = "FLEETSIM_NO_SUCH_PASSWORD"\n')
    for args in ((str(scenario),), ("--csms", "ws://127.0.0.1:9/o", "--password-env", "FLEETSIM_NO_SUCH_PASSWORD")):
        result = fleetsim("run", *args, "--out", str(tmp_path / "never"))
        assert result.exit_code == 2, result.output
        assert "environment variable FLEETSIM_NO_SUCH_PASSWORD is empty or unset" in result.stderr


def test_an_explicit_unknown_id_tag_reaches_the_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    sessions = '[groups.sessions]\nmodel = "segment"\nsegment = "ac-public"\n'
    explicit = write(tmp_path, MINIMAL + sessions + '[csms]\nunknown_id_tag = "Accepted"\n')
    assert captured_spec(monkeypatch, tmp_path, str(explicit)).unknown_id_tag == "Accepted"
    unset = write(tmp_path, MINIMAL + sessions + "[csms]\nheartbeat_interval_s = 60\n")
    assert captured_spec(monkeypatch, tmp_path, str(unset)).unknown_id_tag is None  # the run decides: Invalid


def test_check_says_which_time_of_day_it_assumes_without_a_start(tmp_path: Path) -> None:
    without = fleetsim("scenario", "check", str(write(tmp_path, MINIMAL)))
    assert without.exit_code == 0, without.output
    assert "no [run] start: simulated time starts with the run" in without.stdout and " UTC)" in without.stdout
    with_start = fleetsim("scenario", "check", str(SCENARIOS / "ac-public-day.toml"))
    assert "simulated from 2026-03-03T00:00+01:00" in with_start.stdout and "no [run] start" not in with_start.stdout


def test_the_results_keep_the_scenario_as_read_written_after_the_summary(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    text = MINIMAL + "[run]\nduration_s = 5\n"
    path = write(tmp_path, text)
    out = tmp_path / "out"

    async def edit_during_the_run(*_: Any, **__: Any) -> None:
        path.write_text(MINIMAL + "[run]\nduration_s = 99\n")  # someone edits the file while it runs
        raise _Captured

    from fleetsim.metrics import results

    seen_before_summary = []
    write_summary = results.write_summary

    def watching_write_summary(out_dir: Path, document: dict[str, Any]) -> None:
        seen_before_summary.append((out_dir / "scenario.toml").exists())
        write_summary(out_dir, document)

    monkeypatch.setattr("fleetsim.cli.run.run", edit_during_the_run)
    monkeypatch.setattr(results, "write_summary", watching_write_summary)
    result = fleetsim("run", str(path), "-q", "--out", str(out))
    assert result.exit_code == 3, result.output  # the run broke: what was measured is still written
    assert seen_before_summary == [False]
    assert (out / "summary.json").exists()
    assert (out / "scenario.toml").read_text() == text
