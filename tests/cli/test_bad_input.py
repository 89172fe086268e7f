"""Every bad input a user can type into ``fleetsim run`` (and ``fleetsim csms
serve``) gets one line naming the option and what was expected, exit 2, no
traceback, and nothing is built, run or written for it (fleetsim.inputs).

The run itself is replaced by one that records what it was given, so these
tests start no fleet."""

from __future__ import annotations

import importlib
import os
import resource
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
from cli_helpers import assert_one_line_usage_error, fleetsim
from cryptography.hazmat.primitives import serialization
from hypothesis import given
from hypothesis import strategies as st
from under_test import UNDER_TEST

from fleetsim.engine.limits import LimitProblem
from fleetsim.engine.run import FleetShare, RunSpec, shares
from fleetsim.inputs import MAX_CONNECTORS, MAX_STATIONS
from fleetsim.metrics.intervals import Census, IntervalWriter
from fleetsim.metrics.recorder import Recorder
from fleetsim.metrics.results import summary_document, write_summary
from fleetsim.profiles.builtin import encode_profile, load_builtin
from fleetsim.station.build import MAX_ID_LENGTH, MAX_ID_PREFIX_LENGTH

# The module: fleetsim.cli.csms, as an attribute, is the click group of that name.
CSMS_CLI = importlib.import_module("fleetsim.cli.csms")
BESCORE, BIONEVER = "bescore-bsc-s12bcc", "bionever-bss011k-v1000"
WSS = "wss://127.0.0.1:9/ocpp"
ROOT = Path(__file__).resolve().parents[2]


def run_args(tmp_path: Path, *args: str) -> list[str]:
    return ["run", "--duration", "1s", "-q", "--out", str(tmp_path / "out"), *args]


# ---------------------------------------------------------------- sizes: fail fast, before anything is built


def test_a_billion_stations_is_refused_by_the_option_at_once(tmp_path: Path, executed: list[Any]) -> None:
    line = assert_one_line_usage_error(fleetsim(*run_args(tmp_path, "--stations", "1000000000")),
                                       "--stations", f"{MAX_STATIONS:,}")
    assert "1000000000" in line
    assert executed == [] and not (tmp_path / "out").exists()


def _limited_memory() -> None:
    # The old behaviour: 2.7 GB of ids in 30 s.  1.5 GB of address space is
    # plenty for fleetsim's imports and fails such a run at once.
    resource.setrlimit(resource.RLIMIT_AS, (1536 * 1024 * 1024, 1536 * 1024 * 1024))


def test_a_billion_stations_fails_within_a_deadline_in_a_real_process(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "fleetsim", *run_args(tmp_path, "--stations", "1000000000")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, preexec_fn=_limited_memory,
                          env={**os.environ, "PYTHONPATH": str(UNDER_TEST)}, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "--stations" in done.stderr and "Traceback" not in done.stderr


def test_the_os_limits_are_checked_before_any_id_is_made(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                          executed: list[Any]) -> None:
    def no_ids(*_: Any) -> list[str]:
        raise AssertionError("charge point ids made before the OS limits were checked")

    monkeypatch.setattr("fleetsim.station.build.group_ids", no_ids)
    monkeypatch.setattr("fleetsim.cli.options.group_ids", no_ids, raising=False)  # where it was looked up before
    monkeypatch.setattr("fleetsim.engine.limits.check",
                        lambda *_, **__: [LimitProblem("too many open files", "raise the limit")])
    result = fleetsim(*run_args(tmp_path, "--stations", "900000"))
    assert result.exit_code == 2, result.output
    assert "too many open files" in result.stderr and executed == []


# ---------------------------------------------------------------- --profile shares


@pytest.mark.parametrize("share", ["0", "nan", "inf", "-inf", "-1", "1e-400"])
def test_a_share_that_is_not_a_finite_number_above_0_is_a_usage_error(tmp_path: Path, executed: list[Any],
                                                                      share: str) -> None:
    result = fleetsim(*run_args(tmp_path, "--stations", "10", "--profile", f"{BESCORE}={share}",
                                "--profile", f"{BIONEVER}=1"))
    assert_one_line_usage_error(result, "--profile", BESCORE, "finite number above 0")
    assert executed == []


@pytest.mark.parametrize("weights", [("1", "2"), ("1e308", "1e308"), ("3", "0.000001"), ("0.1", "0.2")])
def test_the_fleet_has_exactly_the_stations_asked_for(tmp_path: Path, executed: list[Any],
                                                      weights: tuple[str, str]) -> None:
    result = fleetsim(*run_args(tmp_path, "--stations", "10", "--profile", f"{BESCORE}={weights[0]}",
                                "--profile", f"{BIONEVER}={weights[1]}"))
    assert result.exit_code == 0, result.output
    (spec,) = executed
    assert sum(share.stations for share in spec.fleet) == 10
    assert all(share.stations > 0 for share in spec.fleet)


@given(stations=st.integers(1, 5000),
       weights=st.lists(st.floats(min_value=1e-300, max_value=1e308), min_size=1, max_size=8))
def test_shares_add_up_to_the_stations_for_any_weights(stations: int, weights: list[float]) -> None:
    fleet = shares([f"model-{i}" for i in range(len(weights))], stations, weights)
    assert sum(share.stations for share in fleet) == stations


def test_a_model_given_twice_is_a_usage_error(tmp_path: Path, executed: list[Any]) -> None:
    result = fleetsim(*run_args(tmp_path, "--profile", BESCORE, "--profile", f"{BESCORE}=2"))
    assert_one_line_usage_error(result, "--profile", BESCORE, "twice")


# ---------------------------------------------------------------- files the options name


@pytest.mark.parametrize("content", [b"hello", b"[" * 100_000, b"\xff\xfe\x00garbage", b"", b"{}" + b" " * 2_000_000],
                         ids=["not-json", "nested", "binary", "empty", "huge"])
def test_a_profile_file_that_is_no_profile_is_named(tmp_path: Path, executed: list[Any], content: bytes) -> None:
    file = tmp_path / "station.json"
    file.write_bytes(content)
    result = fleetsim(*run_args(tmp_path, "--profile-file", str(file)))
    assert_one_line_usage_error(result, "--profile-file", str(file))
    assert executed == []


def test_a_profile_file_that_never_ends_is_refused(tmp_path: Path, executed: list[Any]) -> None:
    assert_one_line_usage_error(fleetsim(*run_args(tmp_path, "--profile-file", "/dev/zero")),
                                "--profile-file", "/dev/zero", "not a regular file")


def _encrypted_key(key: Path, folder: Path) -> Path:
    private = serialization.load_pem_private_key(key.read_bytes(), password=None)
    encrypted = folder / "encrypted.key"
    encrypted.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                serialization.BestAvailableEncryption(b"secret-passphrase")))
    return encrypted


@pytest.mark.parametrize("option", ["--ca-file", "--client-cert", "--client-key"])
def test_a_tls_file_that_is_garbage_is_named_with_its_option(tmp_path: Path, executed: list[Any], pki: Any,
                                                             option: str) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    files = {"--ca-file": pki.ca_file, "--client-cert": pki.client_cert, "--client-key": pki.client_key}
    files[option] = garbage
    args = [part for name, path in files.items() for part in (name, str(path))]
    line = assert_one_line_usage_error(fleetsim(*run_args(tmp_path, "--csms", WSS, *args)), option, str(garbage))
    assert "expected" in line
    assert executed == []


def test_an_encrypted_client_key_is_refused_without_a_passphrase_prompt(tmp_path: Path, executed: list[Any],
                                                                        pki: Any) -> None:
    key = _encrypted_key(pki.client_key, tmp_path)
    result = fleetsim(*run_args(tmp_path, "--csms", WSS, "--ca-file", str(pki.ca_file), "--client-cert",
                                str(pki.client_cert), "--client-key", str(key)))
    assert_one_line_usage_error(result, "--client-key", str(key), "encrypted")


def test_good_tls_files_still_make_a_run(tmp_path: Path, executed: list[Any], pki: Any) -> None:
    result = fleetsim(*run_args(tmp_path, "--csms", WSS, "--ca-file", str(pki.ca_file), "--client-cert",
                                str(pki.client_cert), "--client-key", str(pki.client_key), "--stations", "2"))
    assert result.exit_code == 0, result.output
    assert len(executed) == 1


@pytest.mark.parametrize("where", ["under-a-file", "proc"])
def test_a_results_folder_that_cannot_be_made_is_refused_before_the_run(tmp_path: Path, executed: list[Any],
                                                                        where: str) -> None:
    if where == "proc" and not Path("/proc/self").is_dir():
        pytest.skip("no /proc here")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    out = str(blocker / "results") if where == "under-a-file" else "/proc/nope"
    result = fleetsim("run", "--stations", "2", "--duration", "1s", "-q", "--out", out)
    assert_one_line_usage_error(result, "--out", out)
    assert executed == []


# ---------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--speed", "1e308", "at most 100,000"),
        ("--speed", "inf", "finite"),
        ("--speed", "nan", "finite"),
        ("--speed", "0", "at least 0.001"),
        ("--duration", "99999999999999999999h", "at most 30 days"),
        ("--duration", "9" * 400 + "s", "finite"),
        ("--mean-idle", "9" * 400 + "s", "finite"),
        ("--mean-session", "99999999999h", "at most 30 days"),
        ("--interval", "1ms", "at least 0.1s"),
        ("--ramp", "9" * 400 + "/s", "finite"),
        ("--ramp", "2000000/s", "at most 1,000,000"),
        ("--seed", "9" * 30, "9007199254740991"),
        ("--seed", "9" * 5000, "--seed"),
        ("--source-address", "not-an-address", "not an IP address"),
        ("--source-address", "999.1.1.1", "not an IP address"),
        ("--csms-call", "RemoteStartTransaction=inf/h", "finite"),
        ("--csms-call", "RemoteStartTransaction=1000/s", "one call at a time"),
    ],
)
def test_a_number_out_of_its_bounds_is_a_usage_error(tmp_path: Path, executed: list[Any], option: str, value: str,
                                                     expected: str) -> None:
    line = assert_one_line_usage_error(fleetsim(*run_args(tmp_path, "--stations", "2", option, value)), option)
    assert expected in line
    assert executed == []


def test_a_speed_and_duration_simulating_more_than_a_thousand_years_are_refused(tmp_path: Path,
                                                                               executed: list[Any]) -> None:
    result = fleetsim(*run_args(tmp_path, "--duration", "29h", "--speed", "100000"))
    assert result.exit_code == 0  # 331 years: fine
    result = fleetsim("run", "--duration", "720h", "--speed", "100000", "--out", str(tmp_path / "never"))
    assert_one_line_usage_error(result, "--duration/--speed", "1,000")


def test_the_same_source_address_twice_is_a_usage_error(tmp_path: Path, executed: list[Any]) -> None:
    result = fleetsim(*run_args(tmp_path, "--source-address", "127.0.0.2", "--source-address", "127.0.0.2"))
    assert_one_line_usage_error(result, "--source-address", "127.0.0.2", "twice")


# ---------------------------------------------------------------- charge point ids


def test_a_long_id_prefix_says_the_limit_and_why(tmp_path: Path, executed: list[Any]) -> None:
    prefix = "A" * (MAX_ID_PREFIX_LENGTH + 1)
    line = assert_one_line_usage_error(fleetsim(*run_args(tmp_path, "--id-prefix", prefix)), "--id-prefix")
    assert f"more than {MAX_ID_PREFIX_LENGTH}" in line and f"at most {MAX_ID_LENGTH} characters" in line
    assert "CiString48" in line and "would name two stations" not in line
    assert executed == []


def test_an_id_prefix_of_the_longest_length_still_runs(tmp_path: Path, executed: list[Any]) -> None:
    result = fleetsim(*run_args(tmp_path, "--stations", "10", "--id-prefix", "A" * MAX_ID_PREFIX_LENGTH))
    assert result.exit_code == 0, result.output
    assert len(executed) == 1


def test_a_prefix_that_cuts_two_alike_models_to_one_id_says_how_long_it_may_be(tmp_path: Path,
                                                                             executed: list[Any]) -> None:
    twin = load_builtin()[BESCORE]
    twin_file = tmp_path / "twin.json"
    twin_file.write_bytes(encode_profile(type(twin)(**{**{f: getattr(twin, f) for f in twin.__struct_fields__},
                                                       "id": BESCORE + "-twin"})))
    prefix = "P" * 25  # leaves 48 - 6 - 26 = 16 characters of the model: both are "bescore-bsc-s12b"
    result = fleetsim(*run_args(tmp_path, "--stations", "4", "--profile-file", str(twin_file), "--id-prefix", prefix,
                                "--profile", BESCORE, "--profile", BESCORE + "-twin"))
    line = assert_one_line_usage_error(result, "--id-prefix", BESCORE, BESCORE + "-twin")
    longest = MAX_ID_LENGTH - len("-00002") - 2 - len(BESCORE)
    assert f"use a prefix of at most {longest} characters" in line
    assert executed == []
    result = fleetsim(*run_args(tmp_path, "--stations", "4", "--profile-file", str(twin_file),
                                "--id-prefix", "P" * longest, "--profile", BESCORE, "--profile", BESCORE + "-twin"))
    assert result.exit_code == 0, result.output


def test_a_huge_id_prefix_is_quoted_short(tmp_path: Path, executed: list[Any]) -> None:
    line = assert_one_line_usage_error(fleetsim(*run_args(tmp_path, "--id-prefix", "x" * 100_000)), "--id-prefix")
    assert "…" in line


@pytest.mark.parametrize("args", [["--bogus" + "x" * 100_000], ["run", "--bogus" + "x" * 100_000],
                                  ["x" * 100_000], ["run", "--threshold", "x" * 100_000]],
                         ids=["group-option", "run-option", "command", "threshold"])
def test_any_usage_error_quoting_huge_input_is_one_short_line(args: list[str], executed: list[Any]) -> None:
    assert "…" in assert_one_line_usage_error(fleetsim(*args))


# ---------------------------------------------------------------- fleetsim csms serve


def _no_server(*_: Any, **__: Any) -> None:
    raise AssertionError("the CSMS started serving with a bad option")



@pytest.mark.parametrize(
    ("args", "option", "expected"),
    [
        (["--status-interval", "nan"], "--status-interval", "finite"),
        (["--status-interval", "-1"], "--status-interval", "at least 0"),
        (["--seed", "9" * 30], "--seed", "9007199254740991"),
        (["--heartbeat-interval", "9" * 30], "--heartbeat-interval", "2592000"),
        (["--call", "RemoteStartTransaction=inf/h"], "--call", "finite"),
        (["--delay", "fixed:" + "9" * 20 + "s"], "--delay", "at most 30 days"),
        (["--stats-out", "/proc/nope/stats.json"], "--stats-out", "/proc/nope/stats.json"),
    ],
)
def test_a_bad_csms_serve_option_is_a_usage_error_before_it_listens(monkeypatch: pytest.MonkeyPatch, args: list[str],
                                                                    option: str, expected: str) -> None:
    monkeypatch.setattr(CSMS_CLI, "run_until_interrupted", _no_server)
    line = assert_one_line_usage_error(fleetsim("csms", "serve", "--port", "0", *args), option)
    assert expected in line


@pytest.mark.parametrize("text", ["a = " + "[" * 5000 + "]" * 5000, "heartbeat_interval_s = inf",
                                  "heartbeat_interval_s = " + "9" * 30],
                         ids=["nested", "inf", "huge"])
def test_a_csms_config_file_that_cannot_be_used_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                         text: str) -> None:
    monkeypatch.setattr(CSMS_CLI, "run_until_interrupted", _no_server)
    config = tmp_path / "csms.toml"
    config.write_text(text + "\n")
    assert_one_line_usage_error(fleetsim("csms", "serve", "--port", "0", "--config", str(config)),
                                "--config", str(config))


# ---------------------------------------------------------------- results folders read by gate, report, compare, merge


@pytest.mark.parametrize("command", [["gate", "-t", "errors.rate < 1%"], ["report"], ["compare"]],
                         ids=["gate", "report", "compare"])
@pytest.mark.parametrize("summary", ["nested", "never-ending"])
def test_a_summary_that_is_no_summary_is_one_line(tmp_path: Path, command: list[str], summary: str) -> None:
    folder = tmp_path / "results"
    folder.mkdir()
    if summary == "nested":
        (folder / "summary.json").write_text("[" * 100_000 + "]" * 100_000)
    else:
        (folder / "summary.json").symlink_to("/dev/zero")
    args = [command[0], str(folder), *([str(folder)] if command[0] == "compare" else []), *command[1:]]
    assert_one_line_usage_error(fleetsim(*args), str(folder / "summary.json"))


def _shard(folder: Path) -> Path:
    """A results folder as a short run leaves it (nothing recorded)."""
    recorder = Recorder()
    writer = IntervalWriter(folder, recorder, datetime(2025, 1, 1, tzinfo=UTC))
    writer.tick(1.0, Census())
    writer.close(1.0, Census())
    spec = RunSpec(fleet=(FleetShare(BESCORE, 1),), duration_s=1.0)
    write_summary(folder, summary_document(recorder, spec, None, run_id=folder.name, host="test"))
    return folder


def test_a_merge_into_a_folder_that_cannot_be_made_is_refused_first(tmp_path: Path) -> None:
    shard = _shard(tmp_path / "shard")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert fleetsim("merge", str(shard), "--out", str(tmp_path / "merged")).exit_code == 0  # the shard merges
    result = fleetsim("merge", str(shard), "--out", str(blocker / "merged"))
    assert_one_line_usage_error(result, "--out", str(blocker / "merged"))


# ---------------------------------------------------------------- profiles and scenario check


@pytest.mark.parametrize("command", [["profiles", "show"], ["profiles", "import"]], ids=["show", "import"])
def test_a_profile_or_certificate_that_never_ends_is_refused(command: list[str]) -> None:
    result = fleetsim(*command, "/dev/zero")
    assert result.exit_code == 2, result.output
    assert "/dev/zero" in result.stderr and "not a regular file" in result.stderr


def test_a_model_with_more_connectors_than_a_station_has_is_refused(tmp_path: Path, executed: list[Any]) -> None:
    bescore = load_builtin()[BESCORE]
    connector = bescore.hardware.connectors[0]
    hardware = msgspec.structs.replace(bescore.hardware, connectors=tuple(
        msgspec.structs.replace(connector, connector_id=n) for n in range(1, MAX_CONNECTORS + 2)))
    many = tmp_path / "many.json"
    many.write_bytes(encode_profile(msgspec.structs.replace(bescore, id="many", hardware=hardware)))
    result = fleetsim(*run_args(tmp_path, "--profile-file", str(many), "--profile", "many"))
    assert_one_line_usage_error(result, "--profile-file", str(many), f"more than {MAX_CONNECTORS}")
    assert executed == []


def test_scenario_check_names_an_id_tags_file_it_cannot_write(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = fleetsim("scenario", "check", str(ROOT / "scenarios" / "dc-hub-evening.toml"),
                      "--id-tags", str(blocker / "tags.csv"))
    assert_one_line_usage_error(result, "--id-tags", str(blocker / "tags.csv"))
