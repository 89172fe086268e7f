"""Reading a scenario file: TOML, then the schema, then the rules that span
fields (a model that exists, a password given by reference, files that are
there).  Relative paths are resolved against the scenario's folder, so a
scenario runs the same from any working directory."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec

from fleetsim.csms.config import ResponseDelay, TrafficRule
from fleetsim.inputs import (
    MAX_CONNECTORS,
    MAX_ID_TAGS,
    MAX_NESTING,
    MAX_QUOTED_CHARS,
    MAX_SOURCE_ADDRESSES,
    MAX_SPEED,
    MAX_STATIONS,
    MIN_INTERVAL_S,
    MIN_SPEED,
    address_range,
    call_rate_problem,
    clip,
    delay_problem,
    nesting_problem,
    number_problem,
    quote,
    read_input_file,
    seconds_problem,
    span_problem,
)
from fleetsim.ocpp.enums import ConfigurationStatus
from fleetsim.profiles.builtin import ProfileError, decode_profile, load_builtin
from fleetsim.profiles.profile import StationProfile
from fleetsim.report.thresholds import Threshold, ThresholdError, parse_threshold
from fleetsim.scenario.errors import ScenarioError, from_validation
from fleetsim.scenario.scale import Resize, scale_groups
from fleetsim.scenario.schema import Group, Scenario, Target
from fleetsim.sessions.config import ReplaySessions
from fleetsim.sessions.replay import load as load_replay
from fleetsim.sessions.tags import check_id_tags
from fleetsim.spec.stages import Stage, StageError, check_stages
from fleetsim.station.build import FleetIdError, build_model, check_fleet_ids, uses_prefix
from fleetsim.station.build import group_ids as station_ids
from fleetsim.station.config import Configuration

_PASSWORD_ADVICE = (
    "a password never goes in a scenario file (it would be copied into the results and into version control); "
    'give password_env = "VARIABLE" or password_file = "path" instead'
)


class LoadedScenario(msgspec.Struct, frozen=True):
    path: Path
    text: str  # the file as read, copied into the results (it may change on disk during a run)
    scenario: Scenario  # with every relative path resolved
    profiles: dict[str, StationProfile]  # the built-in ones and the scenario's profile_files
    thresholds: tuple[Threshold, ...]
    traffic: tuple[TrafficRule, ...] | None  # [csms] calls and traffic; None: the default mix
    delay: ResponseDelay
    resize: Resize | None = None  # the groups were resized (--stations): from what, and who was left out


def load_scenario(path: str | Path) -> LoadedScenario:
    """The scenario at ``path``, checked; raises :class:`ScenarioError`."""
    path = Path(path)
    name = str(path)
    try:
        text = read_input_file(path).decode("utf-8")
    except OSError as error:
        raise ScenarioError(name, f"cannot read: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise ScenarioError(name, f"not UTF-8 text: {error.reason} at byte {error.start}") from None
    except ValueError as error:  # too big
        raise ScenarioError(name, f"{error}: a scenario is a few KB of TOML") from None
    raw = _parse_toml(name, text)
    if (problem := nesting_problem(raw)) is not None:
        raise ScenarioError(name, problem[1], field=problem[0] or None)
    if isinstance(raw.get("target"), dict) and "password" in raw["target"]:
        raise ScenarioError(name, _PASSWORD_ADVICE, field="target.password", line=_line_of(text, "password"))
    try:
        scenario = msgspec.convert(raw, Scenario)
    except msgspec.ValidationError as error:
        invalid = from_validation(name, error)
        raise ScenarioError(name, clip(invalid.message), field=invalid.field) from None
    scenario = _resolve_paths(scenario, path.resolve().parent)
    _check_run(name, scenario)
    _check_stages(name, scenario, raw, text)
    profiles = _profiles(name, scenario)
    _check_target(name, scenario)
    _check_groups(name, scenario, profiles)
    return LoadedScenario(path, text, scenario, profiles, _thresholds(name, scenario), *_csms(name, scenario))


def _parse_toml(name: str, text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        line = None
        if "(at line " in message:
            message, _, where = message.rpartition(" (at line ")
            line = int(where.split(",")[0])
        raise ScenarioError(name, f"TOML syntax error: {clip(message, MAX_QUOTED_CHARS * 2)}", line=line) from None
    except RecursionError:  # tomllib parses nested arrays and inline tables recursively
        raise ScenarioError(name, f"TOML nested deeper than Python parses: a scenario's tables and arrays go at "
                                  f"most {MAX_NESTING} deep") from None


def _check_run(name: str, scenario: Scenario) -> None:
    """What spans fields: the fleet's size, the simulated span, the addresses."""
    if scenario.stations > MAX_STATIONS:
        raise ScenarioError(name, f"{scenario.stations:,} stations in all: a run has at most {MAX_STATIONS:,} "
                                  "(split a bigger fleet over processes and merge their results)", field="groups")
    run = scenario.run
    if (problem := number_problem(run.speed, MIN_SPEED, MAX_SPEED)) is not None:
        raise ScenarioError(name, problem, field="run.speed")
    if (problem := seconds_problem(run.interval_s, minimum_s=MIN_INTERVAL_S)) is not None:
        raise ScenarioError(name, problem, field="run.interval_s")
    if (problem := span_problem(run.duration_s, run.speed, run.start)) is not None:
        raise ScenarioError(name, problem, field="run.duration_s")
    seen: set[str] = set()
    for index, text in enumerate(scenario.target.source_addresses):
        try:
            addresses = address_range(text)  # an address, or a range of them (127.0.0.2-127.0.0.9)
        except ValueError as error:
            raise ScenarioError(name, str(error), field=f"target.source_addresses[{index}]") from None
        if twice := seen.intersection(addresses):
            raise ScenarioError(name, f"{quote(min(twice))} is given twice: each address has its own ports",
                                field=f"target.source_addresses[{index}]")
        seen.update(addresses)
        if len(seen) > MAX_SOURCE_ADDRESSES:
            raise ScenarioError(name, f"more than {MAX_SOURCE_ADDRESSES:,} addresses",
                                field="target.source_addresses")


def _check_stages(name: str, scenario: Scenario, raw: dict[str, Any], text: str) -> None:
    """``[[run.stages]]``: targets of 0 or more, within the fleet, each with a
    plateau to measure; and no ``duration_s`` beside them."""
    run = scenario.run
    if not run.stages:
        return
    if "duration_s" in (raw.get("run") or {}):
        raise ScenarioError(name, "run.duration_s and [[run.stages]] are both given: a run with stages lasts as long "
                                  "as its stages together; remove duration_s", field="run.duration_s",
                            line=_line_of(text, "duration_s"))
    for index, stage in enumerate(run.stages):
        if stage.stations < 0:
            raise ScenarioError(name, f"{stage.stations:,} stations: a stage's target is 0 stations or more",
                                field=f"run.stages[{index}].stations")
    try:
        check_stages([Stage(stage.duration_s, stage.stations) for stage in run.stages], ramp_per_s=run.ramp_per_s,
                     interval_s=run.interval_s, fleet=scenario.stations)
    except StageError as error:
        raise ScenarioError(name, str(error), field="run.stages") from None


def _line_of(text: str, key: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip().startswith(key) and line.split("=")[0].strip() == key:
            return number
    return None


def _resolve_paths(scenario: Scenario, folder: Path) -> Scenario:
    def resolve(value: str | None) -> str | None:
        return None if value is None else str((folder / Path(value).expanduser()).resolve())

    target = scenario.target
    target = msgspec.structs.replace(
        target, password_file=resolve(target.password_file), ca_file=resolve(target.ca_file),
        client_cert=resolve(target.client_cert), client_key=resolve(target.client_key))
    def resolve_group(group: Group) -> Group:
        if not isinstance(group.sessions, ReplaySessions):
            return group
        return msgspec.structs.replace(group, sessions=msgspec.structs.replace(
            group.sessions, file=resolve(group.sessions.file)))

    groups = tuple(resolve_group(group) for group in scenario.groups)
    profile_files = tuple(str(resolve(file)) for file in scenario.profile_files)
    return msgspec.structs.replace(scenario, target=target, groups=groups, profile_files=profile_files)


def _need_file(name: str, field: str, value: str | None) -> None:
    if value is not None and not Path(value).is_file():
        raise ScenarioError(name, f"no such file: {value}", field=field)


def _profiles(name: str, scenario: Scenario) -> dict[str, StationProfile]:
    profiles = dict(load_builtin())
    for index, file in enumerate(scenario.profile_files):
        _need_file(name, f"profile_files[{index}]", file)
        try:
            profile = read_profile(file)
        except ValueError as error:
            raise ScenarioError(name, str(error), field=f"profile_files[{index}]") from None
        profiles[profile.id] = profile
    return profiles


def read_profile(path: str | Path) -> StationProfile:
    """A profile file a user gives (``--profile-file``, ``profile_files``,
    ``profiles show``): read no further than MAX_INPUT_FILE_BYTES, of at most
    MAX_CONNECTORS connectors; raises ValueError saying what is wrong with it,
    naming the file."""
    try:
        profile = decode_profile(read_input_file(path), str(path))
    except OSError as error:
        raise ValueError(f"{path}: cannot read: {error.strerror or error}") from None
    except ProfileError as error:  # names the file
        raise ValueError(clip(str(error))) from None
    except ValueError as error:  # too big
        raise ValueError(f"{path}: {error}") from None
    except RecursionError:
        raise ValueError(f"{path}: nested deeper than any station profile") from None
    if profile.connector_count > MAX_CONNECTORS:
        raise ValueError(f"{path}: {profile.connector_count:,} connectors, more than {MAX_CONNECTORS} a station has")
    return profile


def _check_target(name: str, scenario: Scenario) -> None:
    target = scenario.target
    for field in ("password_file", "ca_file", "client_cert", "client_key"):
        _need_file(name, f"target.{field}", getattr(target, field))
    if target.password_env is not None and target.password_file is not None:
        raise ScenarioError(name, "give the password by one reference: password_env or password_file, not both",
                            field="target.password_env")
    if target.csms is None:
        _check_embedded(name, scenario)
        return
    if scenario.csms is not None:
        raise ScenarioError(name, "[csms] sets up the embedded CSMS; with target.csms the CSMS under test decides "
                                  "its answers and calls", field="csms")
    if "@" in urlsplit(target.csms).netloc:  # before any message that would quote the URL
        raise ScenarioError(name, "the URL carries a user or password: each station authenticates as its charge "
                                  "point id, and " + _PASSWORD_ADVICE, field="target.csms")
    if urlsplit(target.csms).query or urlsplit(target.csms).fragment:  # a query may hold a token: not quoted
        raise ScenarioError(name, "the URL has a query or fragment: stations connect to <csms>/<chargePointId> "
                                  "(OCPP-J 1.6 §3.1.1), so give the URL up to its path only", field="target.csms")
    scheme = target.csms.partition("://")[0]
    if scheme not in ("ws", "wss"):
        raise ScenarioError(name, f"{quote(target.csms)} must start with ws:// or wss://", field="target.csms")
    _check_security_profile(name, target, tls=scheme == "wss")


def _check_embedded(name: str, scenario: Scenario) -> None:
    target = scenario.target
    given = [field for field in ("password_env", "password_file", "ca_file", "client_cert", "client_key")
             if getattr(target, field) is not None]
    if target.security_profile != 0 or given:
        field = f"target.{given[0]}" if given else "target.security_profile"
        raise ScenarioError(name, "the embedded CSMS (no target.csms) runs security profile 0; give target.csms "
                                  "to test security profiles 1-3", field=field)


def _check_security_profile(name: str, target: Target, *, tls: bool) -> None:
    """OCPP 1.6 security whitepaper §2: 1 is Basic auth over ws://, 2 Basic
    auth over TLS, 3 TLS with a client certificate."""
    profile = target.security_profile
    has_password = target.password_env is not None or target.password_file is not None
    if profile in (1, 2) and not has_password:
        raise ScenarioError(name, f"security profile {profile} authenticates with a Basic-auth password: "
                                  "give password_env or password_file", field="target.security_profile")
    if profile >= 2 and not tls:
        raise ScenarioError(name, f"security profile {profile} runs over TLS: the URL must start with wss://",
                            field="target.csms")
    if profile <= 1 and tls:
        raise ScenarioError(name, f"a wss:// URL is TLS, security profile 2 or 3, not {profile}",
                            field="target.security_profile")
    if profile == 3 and target.client_cert is None:
        raise ScenarioError(name, "security profile 3 needs client_cert (the station's certificate)",
                            field="target.client_cert")


def _check_groups(name: str, scenario: Scenario, profiles: dict[str, StationProfile]) -> None:
    if not scenario.groups:
        raise ScenarioError(name, "a scenario needs at least one [[groups]] of stations", field="groups")
    for index, group in enumerate(scenario.groups):
        where = f"groups[{index}]"
        profile = profiles.get(group.model)
        if profile is None:
            raise ScenarioError(name, f"unknown model {quote(group.model)}; `fleetsim profiles list` shows the "
                                      "built-in ones, profile_files adds others", field=f"{where}.model")
        _check_connectors(name, where, group, profile)
        _check_sessions(name, f"{where}.sessions", group)
        _check_configuration(name, f"{where}.configuration", group, profile)
    _check_ids(name, scenario)


def _check_ids(name: str, scenario: Scenario) -> None:
    """Every group's ids usable, each naming one station (as the engine makes them)."""
    try:
        check_fleet_ids([(g.id_pattern, g.model, g.stations) for g in scenario.groups], scenario.run.id_prefix)
    except FleetIdError as error:
        raise _id_error(name, scenario, error) from None


def resize_scenario(loaded: LoadedScenario, stations: int) -> LoadedScenario:
    """The scenario with its groups scaled to ``stations`` in all
    (fleetsim.scenario.scale), the ids checked again: a group grown past
    what its id_pattern tells apart is a ScenarioError, as at load.  (Only a
    fleet that grows can fail so, and then no group is left out: the
    ``groups[i]`` the error names is the file's.)"""
    scenario = loaded.scenario
    groups, resize = scale_groups(scenario.groups, stations)
    scenario = msgspec.structs.replace(scenario, groups=groups)
    try:
        _check_ids(str(loaded.path), scenario)
    except ScenarioError as error:
        raise ScenarioError(error.file, f"with --stations {stations}: {error.message}", field=error.field) from None
    return msgspec.structs.replace(loaded, scenario=scenario, resize=resize)


def _id_error(name: str, scenario: Scenario, error: FleetIdError) -> ScenarioError:
    where = f"groups[{error.share}]"
    if error.blame_prefix:
        return ScenarioError(name, str(error), field="run.id_prefix")
    if error.clash_with is not None and error.clash_with != error.share:
        return ScenarioError(name, f"charge point id {quote(error.cp_id)}: groups[{error.clash_with}] makes it too: "
                                   "give the groups different id_pattern", field=f"{where}.id_pattern")
    return ScenarioError(name, f"{error}{_id_hint(scenario.groups[error.share].id_pattern)}",
                         field=f"{where}.id_pattern")


def _id_hint(pattern: str | None) -> str:
    if pattern is None:
        return " (give an id_pattern, or a shorter run.id_prefix)"
    return " ({prefix} is run.id_prefix)" if uses_prefix(pattern) else ""


def _check_connectors(name: str, where: str, group: Group, profile: StationProfile) -> None:
    connectors = group.connectors or ()
    for connector_id in connectors:
        if connector_id > profile.connector_count:
            raise ScenarioError(name, f"{group.model} has {profile.connector_count} connector(s), "
                                      f"no connector {connector_id}", field=f"{where}.connectors")
    if len(set(connectors)) != len(connectors):
        raise ScenarioError(name, f"{list(connectors)} names a connector twice: its sessions would count twice",
                            field=f"{where}.connectors")


def _check_sessions(name: str, where: str, group: Group) -> None:
    """What the engine would refuse when the run starts: id tags that do not
    add up, a replay file it cannot read."""
    if group.sessions is None:
        return
    tags = group.sessions.id_tags
    for kind in ("valid", "blocked", "expired", "invalid"):
        if getattr(tags, kind) > MAX_ID_TAGS:
            raise ScenarioError(name, f"{getattr(tags, kind):,} tags: at most {MAX_ID_TAGS:,} of each kind (every one "
                                      "is given to the CSMS)", field=f"{where}.id_tags.{kind}")
    problems = check_id_tags(tags)
    if problems:
        raise ScenarioError(name, clip("; ".join(problems)), field=f"{where}.id_tags")
    if isinstance(group.sessions, ReplaySessions):
        _need_file(name, f"{where}.file", group.sessions.file)
        try:
            load_replay(group.sessions)
        except ValueError as error:  # the file's path and line, and what is wrong there
            raise ScenarioError(name, f"cannot replay {error}", field=f"{where}.file") from None


def _check_configuration(name: str, where: str, group: Group, profile: StationProfile) -> None:
    """Each key must be one the model has and the value one it takes, as a
    ChangeConfiguration would find."""
    configuration = Configuration(build_model(profile).configuration)
    for key, value in group.configuration_values():
        status, _ = configuration.change(key, value)
        if status == ConfigurationStatus.NOT_SUPPORTED:
            raise ScenarioError(name, f"{group.model} has no configuration key {key!r} "
                                      f"(`fleetsim profiles show {group.model}` lists them)", field=f"{where}.{key}")
        if status != ConfigurationStatus.ACCEPTED:
            spec = configuration.model.lookup(key)
            raise ScenarioError(name, f"{group.model} answers {status} to {key} = {value!r}{_rule(spec)}",
                                field=f"{where}.{key}")


def _rule(spec: Any) -> str:
    """What a configuration key takes, in words."""
    if spec is None:
        return ""
    if spec.readonly:
        return " (read-only)"
    if spec.choices is not None:
        return f" (one of {', '.join(spec.choices)})"
    if spec.min_value is not None or spec.max_value is not None:
        low = "" if spec.min_value is None else spec.min_value
        high = "" if spec.max_value is None else spec.max_value
        return f" ({low}..{high})"
    return ""


def group_ids(group: Group, id_prefix: str, *, name: str = "scenario", where: str = "groups") -> list[str]:
    """The group's charge point ids (fleetsim.station.build.group_ids, as the
    engine makes them), or a ScenarioError naming its id_pattern."""
    try:
        return station_ids(group.id_pattern, id_prefix, group.model, group.stations)
    except ValueError as error:
        raise ScenarioError(name, f"{error}{_id_hint(group.id_pattern)}", field=f"{where}.id_pattern") from None


def _thresholds(name: str, scenario: Scenario) -> tuple[Threshold, ...]:
    parsed = []
    for index, text in enumerate(scenario.thresholds):
        try:
            parsed.append(parse_threshold(text))
        except ThresholdError as error:
            raise ScenarioError(name, f"{quote(text)}: {error.message} (column {error.column + 1})",
                                field=f"thresholds[{index}]") from None
    return tuple(parsed)


def _csms(name: str, scenario: Scenario) -> tuple[tuple[TrafficRule, ...] | None, ResponseDelay]:
    settings = scenario.csms
    if settings is None:
        return None, ResponseDelay()
    try:
        delay = ResponseDelay.parse(settings.delay)
    except ValueError as error:
        raise ScenarioError(name, clip(str(error)), field="csms.delay") from None
    if (problem := delay_problem(delay.fixed_ms, delay.low_ms, delay.high_ms, delay.median_ms, delay.p99_ms)):
        raise ScenarioError(name, problem, field="csms.delay")
    for index, rule in enumerate(settings.traffic):
        if (problem := call_rate_problem(rule.per_station_per_hour, rule.per_station_per_s)) is not None:
            raise ScenarioError(name, problem, field=f"csms.traffic[{index}]")
    if settings.calls is None and not settings.traffic:
        return None, delay
    rules = list(settings.traffic)
    for index, text in enumerate(settings.calls or ()):
        try:
            rule = TrafficRule.parse(text)
        except ValueError as error:
            raise ScenarioError(name, clip(str(error)), field=f"csms.calls[{index}]") from None
        if (problem := call_rate_problem(rule.per_station_per_hour, rule.per_station_per_s)) is not None:
            raise ScenarioError(name, f"{quote(text)}: {problem}", field=f"csms.calls[{index}]")
        rules.append(rule)
    return tuple(rules), delay
