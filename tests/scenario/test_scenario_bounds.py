"""A scenario file gets the same bounds as the command line (fleetsim.inputs):
whatever it holds, ``fleetsim scenario check`` and ``fleetsim run`` answer
with one line naming the file (and the field) and exit 2, fast, with no
traceback, and nothing is built or run for it."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from under_test import UNDER_TEST

from fleetsim.cli import main
from fleetsim.inputs import MAX_MESSAGE_CHARS, MAX_STATIONS
from fleetsim.profiles.builtin import encode_profile, load_builtin
from fleetsim.scenario.errors import ScenarioError
from fleetsim.scenario.load import load_scenario

MODEL = "bionever-bss011k-v1000"
MINIMAL = f'[[groups]]\nmodel = "{MODEL}"\nstations = 2\n'
SEGMENT = '[groups.sessions]\nmodel = "segment"\nsegment = "ac-public"\n'


def fleetsim(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), prog_name="fleetsim")


@pytest.fixture(autouse=True)
def executed(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The RunSpec of every run started (none, for a bad scenario): no test
    here starts a fleet."""
    seen: list[Any] = []
    monkeypatch.setattr("fleetsim.cli.run._execute", lambda spec, *_, **__: seen.append(spec))
    return seen


def assert_named(path: Path, expected: str, field: str | None = None) -> None:
    """Both commands: exit 2, one bounded line naming the file (and field),
    and no run (``executed`` stays empty: the run exits before it)."""
    for args in (("scenario", "check", str(path)), ("run", str(path), "-q", "--out", str(path.parent / "never"))):
        result = fleetsim(*args)
        assert result.exit_code == 2, result.output
        assert isinstance(result.exception, SystemExit), result.exception
        (line,) = [line for line in result.stderr.splitlines() if line.lower().startswith("error")]
        assert len(line) <= MAX_MESSAGE_CHARS + 20, len(line)
        assert str(path) in line and expected in line, line
        if field is not None:
            assert f": {field}: " in line, line
        assert not (path.parent / "never").exists()


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "s.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


# ---------------------------------------------------------------- the file itself


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("a = " + "[" * 5000 + "]" * 5000 + "\n" + MINIMAL, "nested"),
        ("a = " + "{x=" * 3000 + "1" + "}" * 3000 + "\n" + MINIMAL, "nested"),
        ("a = " + "[" * 50 + "]" * 50 + "\n" + MINIMAL, "nested more than 16"),
        ("# " + "x" * (2 * 1024 * 1024) + "\n" + MINIMAL, "1024 KiB"),
    ],
    ids=["nested-arrays", "nested-tables", "nested-a-little", "huge"],
)
def test_a_file_that_is_no_scenario_is_one_line(tmp_path: Path, content: str | bytes, expected: str) -> None:
    assert_named(write(tmp_path, content), expected)


def test_a_file_that_never_ends_is_refused_without_reading_it() -> None:
    with pytest.raises(ScenarioError, match="not a regular file"):
        load_scenario("/dev/zero")


# ---------------------------------------------------------------- counts, before anything is built


def _limited_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (1536 * 1024 * 1024, 1536 * 1024 * 1024))


@pytest.mark.parametrize("stations", ["100000000000000000000000000000", str(MAX_STATIONS + 1), "999999999"])
def test_a_huge_group_fails_within_a_deadline(tmp_path: Path, stations: str) -> None:
    path = write(tmp_path, MINIMAL.replace("stations = 2", f"stations = {stations}"))
    done = subprocess.run([sys.executable, "-m", "fleetsim", "scenario", "check", str(path)], capture_output=True,
                          text=True, timeout=30, preexec_fn=_limited_memory, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(UNDER_TEST)})
    assert done.returncode == 2, done.stderr
    assert "groups[0].stations" in done.stderr and "Traceback" not in done.stderr


def test_groups_adding_up_past_the_largest_fleet_are_refused(tmp_path: Path) -> None:
    half = MINIMAL.replace("stations = 2", f"stations = {MAX_STATIONS // 2 + 1}")
    assert_named(write(tmp_path, half + half.replace("[[groups]]", '[[groups]]\nid_pattern = "B-{n}"')),
                 f"at most {MAX_STATIONS:,}", "groups")


def test_an_id_pattern_that_would_make_a_100_mb_id_is_refused_in_one_short_line(tmp_path: Path) -> None:
    assert_named(write(tmp_path, MINIMAL + 'id_pattern = "{n:0>100000000}"\n'), "a width of 100000000",
                 "groups[0].id_pattern")


@pytest.mark.parametrize("pattern", ["{n!r:>99999999}", "{n.real}"])
def test_an_id_pattern_is_bounded_before_it_is_formatted(tmp_path: Path, pattern: str) -> None:
    assert_named(write(tmp_path, MINIMAL + f"id_pattern = {pattern!r}\n"), "groups[0].id_pattern")


def test_a_long_run_id_prefix_names_the_prefix_and_the_limit(tmp_path: Path) -> None:
    assert_named(write(tmp_path, MINIMAL + '[run]\nid_prefix = "' + "A" * 60 + '"\n'), "CiString48",
                 "run.id_prefix")


def test_a_prefix_that_cuts_two_models_to_one_id_is_blamed_on_the_prefix(tmp_path: Path) -> None:
    bescore = load_builtin()["bescore-bsc-s12bcc"]
    twin = tmp_path / "twin.json"
    twin.write_bytes(encode_profile(type(bescore)(**{**{f: getattr(bescore, f) for f in bescore.__struct_fields__},
                                                     "id": "bescore-bsc-s12bcc-twin"})))
    text = (f'profile_files = ["{twin}"]\n' + MINIMAL.replace(MODEL, "bescore-bsc-s12bcc")
            + MINIMAL.replace(MODEL, "bescore-bsc-s12bcc-twin") + '[run]\nid_prefix = "' + "P" * 25 + '"\n')
    assert_named(write(tmp_path, text), "use a prefix of at most 22 characters", "run.id_prefix")


def test_a_huge_id_tag_count_is_refused(tmp_path: Path) -> None:
    text = MINIMAL + SEGMENT + '[groups.sessions.id_tags]\nprefix = "T"\nvalid = 100000000000\n'
    assert_named(write(tmp_path, text), "at most 1,000,000", "groups[0].sessions.id_tags.valid")


# ---------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    ("table", "field", "expected"),
    [
        ("[run]\nspeed = nan\n", "run.speed", "finite"),
        ("[run]\nspeed = 1e308\n", "run.speed", "<= 100000"),
        ("[run]\nspeed = 0.0001\n", "run.speed", "at least 0.001"),
        ("[run]\nduration_s = inf\n", "run.duration_s", "finite"),
        ("[run]\nduration_s = 99999999999\n", "run.duration_s", "<= 2592000"),
        ("[run]\nduration_s = 2000000\nspeed = 100000\n", "run.duration_s", "more than 1,000"),
        ("[run]\nduration_s = 2000000\nspeed = 1000\nstart = 9990-01-01T00:00:00Z\n", "run.duration_s", "9999"),
        ("[run]\ninterval_s = 0.001\n", "run.interval_s", "at least 0.1s"),
        ("[run]\nramp_per_s = inf\n", "run.ramp_per_s", "finite"),
        ("[run]\nseed = 99999999999999999999\n", "run.seed", "2**53-1"),
        ("[run]\nmean_idle_s = 1e300\n", "run.mean_idle_s", "<= 2592000"),
        ("[faults]\nstorms = [{ at_s = inf, share = 1.0 }]\n", "faults.storms[0].at_s", "finite"),
        ('[target]\nsource_addresses = ["nope"]\n', "target.source_addresses[0]", "not an IP address"),
        ('[target]\nsource_addresses = ["::1", "::1"]\n', "target.source_addresses[1]", "twice"),
        ('[csms]\ncalls = ["RemoteStartTransaction=inf/h"]\n', "csms.calls[0]", "finite"),
        ('[csms]\ndelay = "fixed:99999999999999999s"\n', "csms.delay", "at most 30 days"),
        ("[csms]\nheartbeat_interval_s = 99999999999\n", "csms.heartbeat_interval_s", "<= 2592000"),
        ('[run]\nstop = "' + "x" * 100_000 + '"\n', "run.stop", "expected one of: clean, close"),
    ],
)
def test_a_number_out_of_its_bounds_is_named(tmp_path: Path, table: str, field: str, expected: str) -> None:
    assert_named(write(tmp_path, MINIMAL + table), expected, field)


def test_a_scenario_within_every_bound_still_runs(tmp_path: Path, executed: list[Any]) -> None:
    text = MINIMAL + '[run]\nspeed = 0.001\nduration_s = 2592000\ninterval_s = 0.1\nseed = 9007199254740991\n'
    result = fleetsim("run", str(write(tmp_path, text)), "-q", "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    (spec,) = executed
    assert (spec.speed, spec.duration_s, spec.seed) == (0.001, 2592000.0, 2**53 - 1)


def test_options_overriding_a_scenario_are_bounded_too(tmp_path: Path, executed: list[Any]) -> None:
    path = write(tmp_path, MINIMAL)
    result = fleetsim("run", str(path), "--duration", "720h", "--speed", "100000", "--out", str(tmp_path / "never"))
    assert result.exit_code == 2 and "--duration/--speed" in result.stderr, result.output
    result = fleetsim("run", str(path), "--source-address", "nope", "--out", str(tmp_path / "never"))
    assert result.exit_code == 2 and "--source-address" in result.stderr, result.output
    assert executed == [] and not (tmp_path / "never").exists()


def test_a_garbage_tls_file_of_a_scenario_names_the_field_and_the_file(tmp_path: Path, executed: list[Any],
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    garbage = tmp_path / "ca.pem"
    garbage.write_text("garbage\n")
    monkeypatch.setenv("CP_PASSWORD", "sixteen-characters")
    text = MINIMAL + ('[target]\ncsms = "wss://127.0.0.1:9/ocpp"\nsecurity_profile = 2\npassword_env = "CP_PASSWORD"\n'
                      'ca_file = "ca.pem"\n')
    path = write(tmp_path, text)
    result = fleetsim("run", str(path), "-q", "--out", str(tmp_path / "never"))
    assert result.exit_code == 2, result.output
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert "target.ca_file" in line and str(garbage) in line and "PEM" in line
    assert executed == []
