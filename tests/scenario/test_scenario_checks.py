"""What a scenario is checked for at load, so that `scenario check` says it
and `run` never starts (or crashes) on it: replay files that cannot be read,
charge point ids that cannot go in a URL or Basic auth, id tags that do not
add up, numbers out of range, connectors named twice, a password in the URL.
And what the plan makes of a run: a ramp of 0, the replayed sessions placed
from the same simulated start as the engine, the peak on the clock's hour."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import trio

from fleetsim.cli.scenario import run_spec, scenario_plan
from fleetsim.engine.link import Target as LinkTarget
from fleetsim.engine.run import FleetShare, RunSpec, _start_csms, build_stations, share_ids
from fleetsim.metrics.recorder import Recorder
from fleetsim.ocpp.enums import AuthorizationStatus
from fleetsim.scenario.errors import ScenarioError
from fleetsim.scenario.load import group_ids, load_scenario
from fleetsim.station.build import MAX_ID_LENGTH
from fleetsim.station.build import group_ids as station_ids
from fleetsim.station.timebase import Timebase

MINIMAL = '[[groups]]\nmodel = "bionever-bss011k-v1000"\nstations = 2\n'
TWIN = '[[groups]]\nmodel = "bescore-bsc-s12bcc"\nstations = 2\n'  # two connectors
HEADER = "arrival,departure,delivered_energy_kwh,station_id\n"
# Local times of the file (-07:00): arrivals at 01:00, 08:00, 08:30, 09:00.
ROWS = ("2019-05-01 01:00:00-07:00,2019-05-01 02:00:00-07:00,1.0,A\n"
        "2019-05-01 08:00:00-07:00,2019-05-01 08:20:00-07:00,2.0,B\n"
        "2019-05-01 08:30:00-07:00,2019-05-01 08:50:00-07:00,2.0,C\n"
        "2019-05-01 09:00:00-07:00,2019-05-01 10:00:00-07:00,3.0,A\n")
REPLAY = '[groups.sessions]\nmodel = "replay"\nfile = "s.csv"\n'


def write(tmp_path: Path, text: str, csv: str | None = None) -> Path:
    if csv is not None:
        (tmp_path / "s.csv").write_text(csv)
    path = tmp_path / "s.toml"
    path.write_text(text)
    return path


def error_of(tmp_path: Path, text: str, csv: str | None = None) -> ScenarioError:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(write(tmp_path, text, csv))
    return caught.value


# ---------------------------------------------------------------- replay files


@pytest.mark.parametrize(
    ("csv", "expected"),
    [
        (HEADER + "yesterday,2019-05-01 02:00:00-07:00,1.0,A\n", "s.csv: line 2: "),
        (HEADER + ROWS + "2019-05-01 01:00:00-07:00,2019-05-01 02:00:00-07:00,lots,A\n", "s.csv: line 6: "),
        (HEADER, "s.csv: no sessions in the file"),
        ("arrival,departure,station_id\n" + "2019-05-01 01:00:00-07:00,2019-05-01 02:00:00-07:00,A\n",
         "line 1: missing column(s) delivered_energy_kwh"),
    ],
)
def test_a_replay_file_that_cannot_be_read_is_a_scenario_error(tmp_path: Path, csv: str, expected: str) -> None:
    error = error_of(tmp_path, MINIMAL + REPLAY, csv)
    assert error.field == "groups[0].sessions.file"
    assert expected in error.message, error.message


# ---------------------------------------------------------------- charge point ids


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("{model.x}-{n}", "not a pattern of n, model and prefix"),  # AttributeError
        ("{model[x]}-{n}", "not a pattern of n, model and prefix"),  # TypeError
        ("{n[0]}", "not a pattern of n, model and prefix"),  # TypeError
        ("AMS {n}", "cannot go in the URL path"),
        ("AMS/{n}", "cannot go in the URL path"),
        ("AMS?{n}", "cannot go in the URL path"),
        ("AMS#{n}", "cannot go in the URL path"),
        ("AMS:{n}", "cannot go in the URL path"),
        ("AMS%20{n}", "cannot go in the URL path"),
        ("AMSé{n}", "cannot go in the URL path"),
        ("X" * MAX_ID_LENGTH + "{n}", f"more than {MAX_ID_LENGTH}"),  # cutting would make both ids the same
    ],
)
def test_an_id_pattern_that_makes_unusable_ids_is_named(tmp_path: Path, pattern: str, expected: str) -> None:
    error = error_of(tmp_path, MINIMAL + f"id_pattern = {pattern!r}\n")
    assert error.field == "groups[0].id_pattern"
    assert expected in error.message, error.message


def test_a_bad_id_prefix_is_named_on_the_groups_id_pattern(tmp_path: Path) -> None:
    error = error_of(tmp_path, MINIMAL + '[run]\nid_prefix = "my fleet"\n')
    assert error.field == "groups[0].id_pattern"
    assert "'my fleet-bionever-bss011k-v1000-00001'" in error.message and "id_prefix" in error.message


def test_ids_of_48_characters_and_every_allowed_character_pass() -> None:
    pattern = "A-z0._~!$&'()*+,;=@" + "x" * (MAX_ID_LENGTH - 21) + "{n:02d}"
    ids = station_ids(pattern, "FS", "m", 3)
    assert [len(cp_id) for cp_id in ids] == [MAX_ID_LENGTH] * 3 and len(set(ids)) == 3


def test_the_default_ids_shorten_a_long_model_and_keep_n() -> None:
    ids = station_ids(None, "FS", "a-very-long-model-identifier-from-an-imported-certificate", 3)
    assert all(len(cp_id) == MAX_ID_LENGTH for cp_id in ids)
    assert [cp_id[-6:] for cp_id in ids] == ["-00001", "-00002", "-00003"]


def test_the_scenario_the_plan_and_the_engine_make_the_same_ids(tmp_path: Path) -> None:
    loaded = load_scenario(write(tmp_path, TWIN + 'id_pattern = "HUB-{n:03d}"\n' + MINIMAL))
    spec = run_spec(loaded)
    for group, share in zip(loaded.scenario.groups, spec.fleet, strict=True):
        assert group_ids(group, spec.id_prefix) == share_ids(spec, share)
    assert share_ids(spec, spec.fleet[0]) == ["HUB-001", "HUB-002"]


# ---------------------------------------------------------------- sessions and id tags


@pytest.mark.parametrize(
    ("tags", "field", "expected"),
    [
        ("blocked_share = 0.1\n", "groups[0].sessions.id_tags",
         "blocked_share is above 0 but id_tags.blocked is 0"),
        ('prefix = "A-VERY-LONG-PREFIX"\n', "groups[0].sessions.id_tags", "too long"),
        ("unknown_share = 0.6\ninvalid = 5\ninvalid_share = 0.6\n", "groups[0].sessions.id_tags", "add up to more than 1"),
        ("valid = -1\n", "groups[0].sessions.id_tags.valid", ">= 0"),
        ("unknown_share = 1.5\n", "groups[0].sessions.id_tags.unknown_share", "<= 1"),
        ("remote_start_share = -0.1\n", "groups[0].sessions.id_tags.remote_start_share", ">= 0"),
    ],
)
def test_id_tags_are_checked_at_load(tmp_path: Path, tags: str, field: str, expected: str) -> None:
    text = MINIMAL + '[groups.sessions]\nmodel = "segment"\nsegment = "ac-public"\n[groups.sessions.id_tags]\n' + tags
    error = error_of(tmp_path, text)
    assert error.field == field
    assert expected in error.message, error.message


def test_negative_sessions_per_day_are_refused(tmp_path: Path) -> None:
    text = MINIMAL + ('[groups.sessions]\nmodel = "segment"\nsegment = "ac-public"\n'
                      "sessions_per_connector_per_day = -2\n")
    error = error_of(tmp_path, text)
    assert error.field == "groups[0].sessions.sessions_per_connector_per_day" and ">= 0" in error.message


# ---------------------------------------------------------------- [run] numbers, connectors, the URL


@pytest.mark.parametrize(
    ("run", "field", "expected"),
    [
        ("interval_s = 0", "run.interval_s", "> 0"),
        ("duration_s = 0", "run.duration_s", "> 0"),
        ("speed = -1", "run.speed", "> 0"),
        ("ramp_per_s = -5", "run.ramp_per_s", ">= 0"),
        ("stop_grace_s = -1", "run.stop_grace_s", ">= 0"),
        ("connect_timeout_s = 0", "run.connect_timeout_s", "> 0"),
    ],
)
def test_run_numbers_out_of_range_are_named(tmp_path: Path, run: str, field: str, expected: str) -> None:
    error = error_of(tmp_path, MINIMAL + f"[run]\n{run}\n")
    assert error.field == field
    assert expected in error.message, error.message


@pytest.mark.parametrize(
    ("connectors", "expected"),
    [("[]", "length >= 1"), ("[1, 1]", "names a connector twice"), ("[2, 1, 2]", "names a connector twice")],
)
def test_connectors_name_at_least_one_connector_each_once(tmp_path: Path, connectors: str, expected: str) -> None:
    error = error_of(tmp_path, TWIN + f"connectors = {connectors}\n")
    assert error.field == "groups[0].connectors"
    assert expected in error.message, error.message
    assert load_scenario(write(tmp_path, TWIN + "connectors = [2, 1]\n")).scenario.groups[0].connectors == (2, 1)


@pytest.mark.parametrize("url", ["wss://cp:s3cr3t@csms.example/ocpp", "ws://cp@csms.example/ocpp",
                                 "http://cp:s3cr3t@csms.example/ocpp"])
def test_a_user_or_password_in_the_url_is_refused_without_echoing_it(tmp_path: Path, url: str) -> None:
    text = MINIMAL + f'[target]\ncsms = "{url}"\nsecurity_profile = 2\npassword_env = "P"\n'
    error = error_of(tmp_path, text)
    assert error.field == "target.csms"
    assert "password_env" in error.message and "s3cr3t" not in str(error) and "cp@" not in str(error)
    with pytest.raises(ValueError, match="--password-env") as caught:
        LinkTarget.parse(url)
    assert "s3cr3t" not in str(caught.value) and "cp@" not in str(caught.value)


# ---------------------------------------------------------------- the plan


def test_a_ramp_of_0_starts_everything_at_once(tmp_path: Path) -> None:
    loaded = load_scenario(write(tmp_path, TWIN.replace("stations = 2", "stations = 40") + "[run]\nramp_per_s = 0\n"))
    spec = run_spec(loaded)
    assert spec.ramp_per_s == 0
    plan = scenario_plan(loaded, spec)
    assert plan.ramp_s == 0
    # The whole fleet's BootNotifications and first StatusNotifications (connector 0, 1 and 2) in the first second.
    assert plan.rates.boot_storm == pytest.approx(40 * (2 + 2))
    fast = scenario_plan(loaded, run_spec(loaded, {"ramp_per_s": 1000.0}))
    assert (fast.ramp_s, fast.rates.boot_storm) == (pytest.approx(0.04), plan.rates.boot_storm)


def test_the_replay_peak_is_the_hour_on_the_simulated_clock(tmp_path: Path) -> None:
    text = MINIMAL.replace("stations = 2", "stations = 3") + REPLAY + "[run]\nstart = 2019-05-01T06:00:00-07:00\n"
    loaded = load_scenario(write(tmp_path, text, HEADER + ROWS))
    group = scenario_plan(loaded, run_spec(loaded)).groups[0]
    assert group.peak_hour == 8  # two arrivals between 08:00 and 09:00 local; not 2, two hours into the run
    assert "1 before_start" in group.sessions  # 01:00 is before the run's 06:00


def test_the_peak_hour_follows_the_clock_when_the_start_is_not_on_the_hour(tmp_path: Path) -> None:
    text = (MINIMAL.replace("stations = 2", "stations = 3") + REPLAY
            + "[run]\nstart = 2019-05-01T07:45:00-07:00\n")
    loaded = load_scenario(write(tmp_path, text, HEADER + ROWS))
    assert scenario_plan(loaded, run_spec(loaded)).groups[0].peak_hour == 8  # 08:00 and 08:30, not 07:45-08:45


@pytest.mark.parametrize("hour", [0, 6, 9])
def test_without_a_start_the_plan_and_the_engine_place_replay_alike(tmp_path: Path, hour: int) -> None:
    """No [run] start: the engine's simulated time starts at the real start of
    the run; the plan, told when that is, finds the same sessions too early."""
    loaded = load_scenario(write(tmp_path, MINIMAL.replace("stations = 2", "stations = 3") + REPLAY, HEADER + ROWS))
    spec = run_spec(loaded)
    assert spec.sim_start is None
    started = datetime(2026, 3, 3, hour, 0, tzinfo=UTC)
    plan = scenario_plan(loaded, spec, assumed_start=started)
    assert plan.start_assumed and plan.sim_start == started
    recorder = Recorder()
    build_stations(spec, loaded.profiles, recorder, Timebase(0.0, started, spec.speed))
    counters = recorder.model("bionever-bss011k-v1000", 10.0).counters
    early = counters["replay.unfit.before_start"]
    assert early == {0: 0, 6: 1, 9: 3}[hour]
    assert (f"{early} before_start" in plan.groups[0].sessions) == (early > 0)


# ---------------------------------------------------------------- the embedded CSMS's unknown tags


async def _unknown_verdict(spec: RunSpec) -> AuthorizationStatus:
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            csms, _ = await _start_csms(nursery, spec)
            assert csms is not None
            verdict = csms.central.config.unknown_id_tag
            nursery.cancel_scope.cancel()
    return verdict


SEGMENT = '[groups.sessions]\nmodel = "segment"\nsegment = "ac-public"\n'


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        (MINIMAL, AuthorizationStatus.ACCEPTED),  # no tags of its own: every tag is welcome
        (MINIMAL + SEGMENT, AuthorizationStatus.INVALID),  # tags of its own: an unknown one is Invalid (§7.2)
        (MINIMAL + SEGMENT + '[csms]\nunknown_id_tag = "Accepted"\n', AuthorizationStatus.ACCEPTED),
        (MINIMAL + '[csms]\nunknown_id_tag = "Blocked"\n', AuthorizationStatus.BLOCKED),
    ],
)
async def test_an_explicit_unknown_id_tag_wins(tmp_path: Path, text: str, verdict: AuthorizationStatus) -> None:
    spec = run_spec(load_scenario(write(tmp_path, text)))
    assert await _unknown_verdict(spec) == verdict


async def test_a_run_spec_without_a_scenario_keeps_its_csms_default() -> None:
    spec = RunSpec(fleet=(FleetShare("bionever-bss011k-v1000", 1),), duration_s=1.0)
    assert spec.unknown_id_tag is None
    assert await _unknown_verdict(spec) == AuthorizationStatus.ACCEPTED
