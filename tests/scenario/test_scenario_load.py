"""Reading scenario files: every mistake is an error naming the file, the
field path and what was expected (the line, for TOML syntax); relative paths
resolve against the scenario's folder; secrets are only ever referenced."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from fleetsim.scenario.errors import ScenarioError
from fleetsim.scenario.load import load_scenario
from fleetsim.scenario.schema import Timestamps
from fleetsim.sessions.config import ReplaySessions, Segment, SegmentSessions

MINIMAL = '[[groups]]\nmodel = "bionever-bss011k-v1000"\nstations = 2\n'
HEADER = "arrival,departure,delivered_energy_kwh,station_id\n"
ROW = "2019-05-01 08:00:00-07:00,2019-05-01 10:00:00-07:00,6.5,A\n"


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(tmp_path: Path, text: str) -> ScenarioError:
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert caught.value.file == str(path)
    assert str(caught.value).startswith(str(path))
    return caught.value


def test_a_minimal_scenario_takes_the_defaults(tmp_path: Path) -> None:
    loaded = load_scenario(write(tmp_path, MINIMAL))
    scenario = loaded.scenario
    assert [(g.model, g.stations, g.sessions) for g in scenario.groups] == [("bionever-bss011k-v1000", 2, None)]
    assert scenario.target.csms is None and scenario.run.speed == 1.0
    assert scenario.run.timestamps is Timestamps.SIMULATED
    assert loaded.traffic is None and loaded.thresholds == ()


def test_sessions_and_faults_decode_into_the_session_and_fault_structs(tmp_path: Path) -> None:
    text = MINIMAL + ('[groups.sessions]\nmodel = "segment"\nsegment = "ac-public"\n'
                      "[groups.sessions.id_tags]\nvalid = 10\n"
                      "[run]\nstart = 2026-03-03T00:00:00+01:00\n"
                      "[[faults.storms]]\nat_s = 30\nshare = 0.5\n[faults.drops]\nper_station_per_hour = 2\n")
    scenario = load_scenario(write(tmp_path, text)).scenario
    sessions = scenario.groups[0].sessions
    assert isinstance(sessions, SegmentSessions) and sessions.segment is Segment.AC_PUBLIC
    assert sessions.id_tags.valid == 10
    assert [(s.at_s, s.share) for s in scenario.faults.storms] == [(30.0, 0.5)]
    assert scenario.faults.drops is not None and scenario.faults.drops.per_station_per_hour == 2.0
    assert scenario.run.start is not None and scenario.run.start.utcoffset().total_seconds() == 3600


@pytest.mark.parametrize(
    ("text", "field", "expected"),
    [
        (MINIMAL + "colour = 1\n", "groups[0].colour", "unknown field (fields here: model, stations"),
        (MINIMAL.replace("stations = 2", 'stations = "two"'), "groups[0].stations", "expected `int`, got `str`"),
        (MINIMAL + '[groups.sessions]\nmodel = "segment"\nsegment = "ac-moon"\n', "groups[0].sessions.segment",
         "expected one of: ac-public, ac-workplace"),
        (MINIMAL + '[groups.sessions]\nmodel = "markov"\n', "groups[0].sessions.model",
         "expected one of: segment, replay"),
        (MINIMAL + '[groups.sessions]\nmodel = "segment"\n', "groups[0].sessions.segment", "required field missing"),
        ('[run]\nspeed = 2\n', "groups", "required field missing"),
        (MINIMAL + '[run]\ntimestamps = "lunar"\n', "run.timestamps", "expected one of: simulated, wall"),
        (MINIMAL + "[run]\nstart = 2026-03-03T00:00:00\n", "run.start", "timezone"),
        (MINIMAL + "[run]\nspeed = 0\n", "run.speed", "> 0"),
        (MINIMAL + '[csms]\ncalls = ["Heartbeat=2/h"]\n', "csms.calls[0]", "not sent by a Central System"),
        (MINIMAL.replace("bionever-bss011k-v1000", "no-such-model"), "groups[0].model", "fleetsim profiles list"),
        (MINIMAL + "connectors = [2]\n", "groups[0].connectors", "has 1 connector(s), no connector 2"),
        ('thresholds = ["Heartbeat.p99 < soon"]\n' + MINIMAL, "thresholds[0]", "Heartbeat.p99 < soon"),
        (MINIMAL + '[target]\ncsms = "http://csms"\n', "target.csms", "must start with ws:// or wss://"),
        (MINIMAL + '[target]\ncsms = "ws://csms/ocpp"\nsecurity_profile = 1\n', "target.security_profile",
         "give password_env or password_file"),
        (MINIMAL + '[target]\ncsms = "ws://csms/ocpp"\nsecurity_profile = 2\npassword_env = "P"\n', "target.csms",
         "wss://"),
        (MINIMAL + '[target]\npassword_env = "P"\n', "target.password_env", "embedded CSMS"),
        (MINIMAL + '[target]\ncsms = "ws://csms/ocpp"\n[csms]\nheartbeat_interval_s = 60\n', "csms",
         "embedded CSMS"),
        (MINIMAL + 'id_pattern = "CP"\n', "groups[0].id_pattern", "use {n}"),
        (MINIMAL + 'id_pattern = "CP-{k}"\n', "groups[0].id_pattern", "not a pattern of n, model and prefix"),
        (MINIMAL + MINIMAL, "groups[1].id_pattern", "groups[0] makes it too"),
    ],
)
def test_a_broken_field_is_named_with_what_was_expected(tmp_path: Path, text: str, field: str, expected: str) -> None:
    error = error_of(tmp_path, text)
    assert error.field == field
    assert expected in error.message, error.message


def test_a_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    error = error_of(tmp_path, MINIMAL + "[run]\nspeed = = 3\n")
    assert error.line == 5
    assert "TOML syntax error" in error.message
    assert ", line 5: " in str(error)


def test_a_literal_password_is_refused_with_why_and_where(tmp_path: Path) -> None:
    error = error_of(tmp_path, MINIMAL + '[target]\ncsms = "ws://csms/ocpp"\npassword = "hunter2"\n')
    assert (error.field, error.line) == ("target.password", 6)
    assert "password_env" in error.message and "password_file" in error.message
    assert "hunter2" not in str(error)


def test_a_missing_data_file_is_named(tmp_path: Path) -> None:
    text = MINIMAL + '[groups.sessions]\nmodel = "replay"\nfile = "data/none.csv"\n'
    error = error_of(tmp_path, text)
    assert error.field == "groups[0].sessions.file"
    assert f"no such file: {tmp_path / 'data' / 'none.csv'}" in error.message


def test_an_unreadable_file_is_a_scenario_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "absent.toml")


def test_relative_paths_resolve_against_the_scenario_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "scenarios"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "s.csv").write_text(HEADER + ROW)
    (folder / "secret").write_text("pw\n")
    text = MINIMAL + ('[groups.sessions]\nmodel = "replay"\nfile = "data/s.csv"\n'
                      '[target]\ncsms = "ws://csms/ocpp"\nsecurity_profile = 1\npassword_file = "secret"\n')
    path = write(folder, text)
    monkeypatch.chdir(tmp_path)  # elsewhere: the paths still resolve
    scenario = load_scenario(Path("scenarios") / "s.toml").scenario
    sessions = scenario.groups[0].sessions
    assert isinstance(sessions, ReplaySessions)
    assert sessions.file == str(folder / "data" / "s.csv")
    assert scenario.target.password_file == str(path.parent / "secret")


def test_the_scenario_holds_no_secret(tmp_path: Path) -> None:
    """Only the reference is kept: the loaded scenario (which is copied into
    run.json's neighbourhood) never holds the password itself."""
    (tmp_path / "secret").write_text("s3cr3t-pw\n")
    text = MINIMAL + '[target]\ncsms = "ws://csms/ocpp"\nsecurity_profile = 1\npassword_file = "secret"\n'
    loaded = load_scenario(write(tmp_path, text))
    assert b"s3cr3t-pw" not in msgspec.json.encode(loaded.scenario)


def test_a_group_configuration_is_checked_against_the_model(tmp_path: Path) -> None:
    taeseong = '[[groups]]\nmodel = "taeseongcontech-tsct-2007cp"\nstations = 1\n'
    loaded = load_scenario(write(tmp_path, taeseong + "configuration = { MeterValueSampleInterval = 60, "
                                                      "StopTransactionOnInvalidId = true }\n"))
    assert loaded.scenario.groups[0].configuration_values() == (
        ("MeterValueSampleInterval", "60"), ("StopTransactionOnInvalidId", "true"))
    # ORS-5: this model takes at most 60 s.
    refused = error_of(tmp_path, taeseong + "configuration = { MeterValueSampleInterval = 300 }\n")
    assert refused.field == "groups[0].configuration.MeterValueSampleInterval"
    assert "Rejected" in str(refused) and "10..60" in str(refused)
    unknown = error_of(tmp_path, taeseong + "configuration = { NoSuchKey = 1 }\n")
    assert unknown.field == "groups[0].configuration.NoSuchKey" and "has no configuration key" in str(unknown)
