"""``fleetsim run`` through click's CliRunner: a short run against the embedded
CSMS writes its results and prints its summary; a usage error exits with 2,
says what is wrong and writes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from fleetsim.cli import main
from fleetsim.engine.run import shares
from fleetsim.metrics.results import SCHEMA_VERSION
from fleetsim.profiles.builtin import decode_profile, load_builtin

PROFILES = load_builtin()
MODELS = ("bescore-bsc-s12bcc", "bionever-bss011k-v1000")  # one with every feature profile, one Core only
STATIONS = 3


def fleetsim_run(*args: str, catch_exceptions: bool = True) -> Result:
    return CliRunner().invoke(main, ["run", *args], prog_name="fleetsim", catch_exceptions=catch_exceptions)


@pytest.fixture(scope="module")
def short_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Result, Path]:
    out = tmp_path_factory.mktemp("run") / "results"
    result = fleetsim_run(
        "--stations", str(STATIONS), *(f"--profile={model_id}" for model_id in MODELS), "--duration", "2s",
        "--speed", "60", "--mean-idle", "1m", "--no-reaction-delays", "--seed", "3", "--out", str(out), "--details",
        catch_exceptions=False,
    )
    return result, out


def test_a_short_run_exits_0_and_leads_with_the_verdict_and_the_latency_table(
        short_run: tuple[Result, Path]) -> None:
    result, out = short_run
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1].startswith(f"PASSED: {STATIONS} of {STATIONS} stations booted, ")
    assert lines[1].endswith(" (exit 0)")
    assert lines[3].split() == ["action", "(all", "models)", "calls", "errors", "t/o", "p50", "p99", "max"]
    rows = {cells[0]: cells[1:4] for cells in (line.split() for line in lines[4:lines.index("", 4)])}
    assert rows["BootNotification"] == [str(STATIONS), "0", "0"]
    # --details: then each model's rows, under its name.
    for share in shares(MODELS, STATIONS):
        at = lines.index(next(line for line in lines if line.startswith(f"  {share.profile_id} (declared")))
        boot = next(line.split() for line in lines[at:] if line.split()[:1] == ["BootNotification"])
        assert boot[1:4] == [str(share.stations), "0", "0"]
    assert "CSMS calls to bescore-bsc-s12bcc" in result.stdout
    assert lines[-2:] == [f"results in {out}/",
                          f"  every figure: summary.json; `fleetsim report {out}` writes report.html"]


def test_the_end_screen_fits_80_columns(short_run: tuple[Result, Path]) -> None:
    result, out = short_run
    assert max(len(line) for line in result.stdout.splitlines() if str(out) not in line) < 80


def test_summary_json_is_versioned_with_exchanges_per_model(short_run: tuple[Result, Path]) -> None:
    _, out = short_run
    summary = json.loads((out / "summary.json").read_text())
    assert summary["schema_version"] == SCHEMA_VERSION
    fleet = {share.profile_id: share.stations for share in shares(MODELS, STATIONS)}
    run = summary["run"]
    assert (run["completed"], run["interrupted"], run["csms"], run["fleet"]) == (True, False, "embedded", fleet)
    assert (run["duration_s"], run["speed"], run["seed"]) == (2.0, 60.0, 3)
    assert set(summary["models"]) == set(MODELS)
    for model_id, stations in fleet.items():
        boot = summary["models"][model_id]["exchanges"]["BootNotification"]
        assert boot["answered"] == stations
        assert (boot["errors"], boot["timeouts"]) == ({}, 0)
        assert boot["corrected_ms"]["max"] >= boot["corrected_ms"]["p50"] > 0
        assert boot["declared_timeout_ms"] == PROFILES[model_id].performance.response.declared_max_s * 1000
    assert summary["fleet"]["exchanges"]["BootNotification"]["answered"] == STATIONS


def test_the_profiles_used_are_written_beside_the_results(short_run: tuple[Result, Path]) -> None:
    _, out = short_run
    written = {path.name: path for path in (out / "profiles").iterdir()}
    assert set(written) == {f"{model_id}.json" for model_id in MODELS}
    for model_id in MODELS:
        assert decode_profile(written[f"{model_id}.json"].read_bytes()) == PROFILES[model_id]
    assert json.loads((out / "run.json").read_text())["duration_s"] == 2.0


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:9000", "must start with ws:// or wss://"),
        ("ws://", "has no host"),
        ("ws://127.0.0.1:http", "has a bad port"),
    ],
)
def test_a_bad_csms_url_is_a_usage_error(tmp_path: Path, url: str, reason: str) -> None:
    result = fleetsim_run("--csms", url, "--stations", "1", "--duration", "1s", "--out", str(tmp_path / "never"))
    assert result.exit_code == 2
    assert "Invalid value for --csms" in result.stderr
    assert reason in result.stderr and url in result.stderr
    assert not (tmp_path / "never").exists()


def test_an_unknown_profile_is_a_usage_error(tmp_path: Path) -> None:
    result = fleetsim_run("--profile", "no-such-model", "--stations", "1", "--out", str(tmp_path / "never"))
    assert result.exit_code == 2
    assert "unknown profile 'no-such-model'" in result.stderr
    assert "fleetsim profiles list" in result.stderr
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize("duration", ["2x", "s", "-5s", "1.5.2m"])
def test_a_duration_that_is_none_is_a_usage_error(tmp_path: Path, duration: str) -> None:
    result = fleetsim_run("--duration", duration, "--stations", "1", "--out", str(tmp_path / "never"))
    assert result.exit_code == 2
    assert f"{duration!r} is not a duration" in result.stderr
    assert not (tmp_path / "never").exists()
