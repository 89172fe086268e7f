"""``fleetsim scenario check`` and the scenario side of ``fleetsim run
SCENARIO``: a scenario file turned into a RunSpec (with the command line's
explicit options winning), the embedded CSMS's settings, and the secrets and
TLS context, which are resolved here at run time and never stored."""

from __future__ import annotations

import csv
import ssl
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import msgspec

from fleetsim.cli.options import (
    Stations,
    TlsFile,
    check_charge_point_ids,
    check_run_stages,
    csms_traffic,
    fail,
    one_password,
    parse_ramp_per_s,
    password_from_env,
    source_addresses,
    ssl_context,
)
from fleetsim.csms.config import CsmsConfig
from fleetsim.engine.run import FleetShare, RunSpec
from fleetsim.inputs import clip, quote, span_problem
from fleetsim.ocpp.enums import AuthorizationStatus
from fleetsim.report.thresholds import Threshold
from fleetsim.scenario.errors import ScenarioError
from fleetsim.scenario.load import LoadedScenario, load_scenario, resize_scenario
from fleetsim.scenario.plan import GroupInput, Plan, plan_run
from fleetsim.scenario.scale import Resize
from fleetsim.scenario.schema import Group, StopMode, Timestamps
from fleetsim.sessions.config import IdTags
from fleetsim.sessions.simple import SimpleSessions
from fleetsim.sessions.tags import UNKNOWN, id_tag_verdicts, tag_kinds, tag_name
from fleetsim.spec.stages import Stage, stages_duration_s
from fleetsim.station.build import prefixed_pattern

EXIT_SCENARIO_ERROR = 2
# `fleetsim run` options a scenario's [[groups]] decide: given with a scenario,
# they are a usage error rather than silently ignored.  (--stations resizes
# the groups instead: resize_or_exit.)
FLEET_OPTIONS = ("profile_choices", "profile_file", "mean_idle", "mean_session", "csms_calls", "no_csms_calls")


def load_or_exit(path: Path) -> LoadedScenario:
    """The scenario, or its error on stderr and exit 2 (no traceback)."""
    try:
        return load_scenario(path)
    except ScenarioError as error:
        fail(str(error))


def resize_or_exit(loaded: LoadedScenario, stations: int | None) -> LoadedScenario:
    """``--stations N``: the scenario's groups scaled to N stations in all
    (None: as the file says); a group grown past its ids exits 2."""
    if stations is None:
        return loaded
    try:
        return resize_scenario(loaded, stations)
    except ScenarioError as error:
        fail(str(error))


def run_spec(loaded: LoadedScenario, overrides: dict[str, Any] | None = None) -> RunSpec:
    """The RunSpec of a scenario; ``overrides`` (RunSpec field names) win."""
    scenario, settings = loaded.scenario, loaded.scenario.run
    overrides = dict(overrides or {})
    csms_url = overrides.get("csms_url", scenario.target.csms)
    traffic = loaded.traffic if loaded.traffic is not None else csms_traffic(())  # the command line's default mix
    fields: dict[str, Any] = {
        "fleet": fleet_shares(scenario.groups, run_prefix="id_prefix" in overrides),
        "duration_s": settings.duration_s, "ramp_per_s": settings.ramp_per_s, "seed": settings.seed,
        "csms_url": csms_url, "id_prefix": settings.id_prefix, "speed": settings.speed,
        "reaction_delays": settings.reaction_delays,
        "sessions": SimpleSessions(mean_idle_s=settings.mean_idle_s, mean_connected_s=settings.mean_session_s),
        "stop_grace_s": settings.stop_grace_s, "end_transactions": settings.stop is StopMode.CLEAN,
        "source_addresses": source_addresses(scenario.target.source_addresses, "target.source_addresses"),
        "embedded_traffic": traffic if csms_url is None else (),
        "connect_timeout_s": settings.connect_timeout_s, "interval_s": settings.interval_s,
        "reconnect": settings.reconnect,
        "faults": scenario.faults, "wall_timestamps": settings.timestamps is Timestamps.WALL,
        "sim_start": settings.start, "scenario": scenario.name or loaded.path.stem,
        "percentiles": tuple(sorted(set(settings.percentiles))),
        "stages": tuple(Stage(stage.duration_s, stage.stations) for stage in settings.stages),
    }
    fields.update(overrides)
    if fields["stages"]:
        fields["duration_s"] = stages_duration_s(fields["stages"])
    embedded = fields["csms_url"] is None
    fields["embedded_csms"] = embedded_csms(loaded) if embedded else None
    # Unset stays None: the run defaults it, knowing which tags the sessions present.
    fields["unknown_id_tag"] = scenario.csms.unknown_id_tag if embedded and scenario.csms is not None else None
    return RunSpec(**fields)


def fleet_shares(groups: Sequence[Group], *, run_prefix: bool) -> tuple[FleetShare, ...]:
    """The groups as the run's fleet.  ``run_prefix``: an id prefix was given
    for this run (--id-prefix), and goes before the ids of the groups'
    patterns too (unless a pattern places {prefix} itself), so that two runs
    of one scenario with two prefixes never share a charge point id; the
    file's own run.id_prefix leaves its patterns as written."""
    def pattern(group: Group) -> str | None:
        return prefixed_pattern(group.id_pattern) if run_prefix and group.id_pattern else group.id_pattern

    return tuple(FleetShare(g.model, g.stations, sessions=g.sessions, id_pattern=pattern(g),
                            connectors=tuple(g.connectors) if g.connectors else None,
                            configuration=g.configuration_values())
                 for g in groups)


def embedded_csms(loaded: LoadedScenario) -> CsmsConfig | None:
    """The embedded CSMS's settings from the [csms] table; None without one.
    The run sets its traffic, seed and speed, gives it the verdicts of the
    sessions' id tags and its verdict for unknown tags (RunSpec.unknown_id_tag,
    fleetsim.engine.run)."""
    settings = loaded.scenario.csms
    if settings is None:
        return None
    return CsmsConfig(
        heartbeat_interval_s=settings.heartbeat_interval_s, boot_status=settings.boot_status,
        boot_retry_interval_s=settings.boot_retry_interval_s, require_boot=settings.require_boot,
        concurrent_tx=settings.concurrent_tx,
        data_transfer_status=settings.data_transfer_status, delay=loaded.delay,
        csms_call_timeout_s=settings.csms_call_timeout_s, faults=settings.faults)


def group_inputs(loaded: LoadedScenario) -> list[GroupInput]:
    return [GroupInput(group.label, group.connectors) for group in loaded.scenario.groups]


def scenario_plan(loaded: LoadedScenario, spec: RunSpec, assumed_start: datetime | None = None) -> Plan:
    """The plan; without [run] start the run's simulated time starts when it
    does (the real time, UTC, as the engine's clock): assumed to be now unless
    ``assumed_start`` says otherwise."""
    plan = plan_run(spec, loaded.profiles, group_inputs(loaded),
                    assumed_start=assumed_start if assumed_start is not None else datetime.now(UTC))
    if loaded.resize is None or not loaded.resize.left_out:
        return plan
    return msgspec.structs.replace(plan, warnings=plan.warnings + resize_warnings(loaded.resize))


def resize_warnings(resize: Resize) -> tuple[str, ...]:
    """Groups --stations left out: their share rounds to no station."""
    return tuple(f"--stations {resize.stations}: groups[{group.index}] ({group.label}, {group.stations} of the "
                 f"file's {resize.file_stations} stations) rounds to none and is left out of the run"
                 for group in resize.left_out)


def passwords_callback(loaded: LoadedScenario, password_env: str | None) -> Callable[[str], bytes | None] | None:
    """The Basic-auth password, read now from where the scenario (or
    --password-env) points; held only by the callback."""
    target = loaded.scenario.target
    variable = password_env or target.password_env
    if variable is not None:
        try:
            password = password_from_env(variable)
        except ValueError as error:
            raise ScenarioError(str(loaded.path), str(error),
                                field="--password-env" if password_env else "target.password_env") from None
    elif target.password_file is not None:
        try:
            password = Path(target.password_file).read_bytes().rstrip(b"\r\n")
        except OSError as error:
            raise ScenarioError(str(loaded.path), f"cannot read the password file: {error.strerror}",
                                field="target.password_file") from None
        if not password:
            raise ScenarioError(str(loaded.path), "the password file is empty", field="target.password_file")
    else:
        return None
    return one_password(password)


def tls_context(loaded: LoadedScenario, options: dict[str, Any]) -> ssl.SSLContext:
    """The TLS context from the files the options (first) or the scenario's
    [target] name; an unusable one is named by the option or field."""
    target = loaded.scenario.target

    def pick(option: str, field: str) -> TlsFile | None:
        given, value = options.get(option), getattr(target, field)
        if given is not None:
            return TlsFile(given, "--" + option.replace("_", "-"))
        return TlsFile(Path(value), f"{loaded.path}: target.{field}") if value is not None else None

    return ssl_context(pick("ca_file", "ca_file"), pick("client_cert", "client_cert"),
                       pick("client_key", "client_key"), bool(options.get("insecure")) or target.insecure)


def explicit_options(ctx: click.Context) -> dict[str, Any]:
    """The ``fleetsim run`` options given on the command line (or by
    environment), not left at their defaults."""
    given = (click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.ENVIRONMENT)
    return {name: value for name, value in ctx.params.items() if ctx.get_parameter_source(name) in given}


def spec_overrides(options: dict[str, Any]) -> dict[str, Any]:
    """``fleetsim run`` options as RunSpec fields.  The ramp is parsed by the
    caller (``ramp_per_s``)."""
    names = {"duration": "duration_s", "speed": "speed", "seed": "seed", "csms_url": "csms_url",
             "id_prefix": "id_prefix", "interval_s": "interval_s", "ramp_per_s": "ramp_per_s",
             "percentiles": "percentiles", "stages": "stages"}
    overrides = {field: options[name] for name, field in names.items() if name in options}
    if "stop_mode" in options:
        overrides["end_transactions"] = options["stop_mode"] == "clean"
    if options.get("no_reaction_delays"):
        overrides["reaction_delays"] = False
    if options.get("source_addresses"):
        overrides["source_addresses"] = source_addresses(tuple(options["source_addresses"]))
    if "reconnect" in options:
        overrides["reconnect"] = options["reconnect"]
    return overrides


def check_fleet_options(options: dict[str, Any]) -> None:
    for name in FLEET_OPTIONS:
        if name in options:
            flag = "--" + {"profile_choices": "profile", "csms_calls": "csms-call"}.get(name, name).replace("_", "-")
            raise click.UsageError(f"{flag} cannot be given with a scenario: its [[groups]] and [csms] table decide "
                                   "the fleet and its traffic; edit the scenario instead")


class ScenarioRun(msgspec.Struct, frozen=True):
    """What ``fleetsim run SCENARIO`` runs: the secrets live in ``passwords``
    and ``ssl_context`` only, never in ``spec``."""

    loaded: LoadedScenario
    spec: RunSpec
    ssl_context: ssl.SSLContext | None
    passwords: Callable[[str], bytes | None] | None
    thresholds: tuple[Threshold, ...]  # the scenario's, then the command line's
    workers: int | str | None = None  # --workers, or auto for a fleet one process cannot hold


def prepare_run(ctx: click.Context, path: Path) -> ScenarioRun:
    """The scenario at ``path`` with the options given explicitly to ``fleetsim
    run`` winning; a broken file or a usage error exits 2."""
    from fleetsim.cli.scale import fit_processes
    from fleetsim.engine.link import Target as LinkTarget

    options = explicit_options(ctx)
    check_fleet_options(options)
    loaded = load_or_exit(path)
    stages = options.get("stages") or loaded.scenario.run.stages
    stations = options.get("stations")
    if stages and stations is None:  # a staged run's fleet is its largest target
        stations = max(1, max(stage.stations for stage in stages))
        stations = None if stations == loaded.scenario.stations else stations
    loaded = resize_or_exit(loaded, stations)
    if "ramp" in options:
        options["ramp_per_s"] = parse_ramp_per_s(options["ramp"])
    spec = run_spec(loaded, spec_overrides(options))
    if spec.stages:
        check_run_stages(spec, duration_given="duration" in options)
    if "duration" in options or "speed" in options:  # the file's own were checked when it was loaded
        if (span := span_problem(spec.duration_s, spec.speed, spec.sim_start)) is not None:
            raise click.BadParameter(span, param_hint="--duration/--speed")
    if spec.csms_url is not None and loaded.scenario.csms is not None:
        click.echo("warning: --csms given: the scenario's [csms] table (embedded CSMS only) is not used", err=True)
    try:
        target = LinkTarget.parse(spec.csms_url) if spec.csms_url is not None else None
    except ValueError as error:
        raise click.BadParameter(clip(str(error)), param_hint="--csms") from error
    # The OS limits before anything is made for the fleet.
    workers, problems = fit_processes(spec.fleet_stations(), spec.source_addresses, spec.csms_url is None,
                                      options.get("shard"), options.get("workers"), quiet=bool(options.get("quiet")))
    for problem in problems:
        click.echo(f"error: {problem.what}\n  {problem.advice}", err=True)
    if problems:
        sys.exit(EXIT_SCENARIO_ERROR)
    check_charge_point_ids(spec.fleet, spec.id_prefix)  # the file's ids were checked; --id-prefix may change them
    echo_warnings(scenario_plan(loaded, spec))
    try:
        passwords = passwords_callback(loaded, options.get("password_env"))
    except ScenarioError as error:
        fail(str(error))
    context = tls_context(loaded, options) if target is not None and target.tls else None
    return ScenarioRun(loaded, spec, context, passwords, loaded.thresholds + tuple(options.get("thresholds", ())),
                       workers)


# ---------------------------------------------------------------- printing


def plan_text(loaded: LoadedScenario, spec: RunSpec, plan: Plan) -> list[str]:
    scenario = loaded.scenario
    lines = [f"scenario {scenario.name or loaded.path.stem}: {loaded.path}"]
    if scenario.description:
        lines.append(f"  {scenario.description.strip()}")
    target = spec.csms_url or "the embedded CSMS on loopback"
    lines.append(f"target: {target} (security profile {scenario.target.security_profile})")
    timestamps = "wall-clock" if spec.wall_timestamps else "simulated"
    start = plan.sim_start.isoformat(timespec="minutes") if plan.sim_start is not None else "the real start"
    ramp = f"{spec.ramp_per_s:g}/s ({plan.ramp_s:.1f}s)" if spec.ramp_per_s > 0 else "0: all stations at once"
    lines.append(f"run: {spec.duration_s:g}s at speed {spec.speed:g} ({spec.duration_s * spec.speed / 3600:.2f} h "
                 f"simulated from {start}; {timestamps} timestamps), seed {spec.seed}, ramp {ramp}")
    if spec.stages:
        targets = " → ".join(f"{stage.stations:,}" for stage in spec.stages)
        lines.append(f"stages: {targets} stations, {len(spec.stages)} stage{'s' if len(spec.stages) > 1 else ''} "
                     f"of {', '.join(f'{stage.duration_s:g}s' for stage in spec.stages[:8])}"
                     f"{', ...' if len(spec.stages) > 8 else ''}; the fleet starts empty, each plateau is measured "
                     "on its own (summary.json stages)")
    if plan.start_assumed:
        lines.append(f"  no [run] start: simulated time starts with the run, in UTC; this plan assumes it starts now "
                     f"({plan.sim_start:%H:%M} UTC), so arrivals and replayed sessions follow that time of day")
    resize = loaded.resize
    lines.append(f"stations: {plan.stations}" + ("" if resize is None else f" (--stations: the file's "
                 f"{resize.file_stations}, each group scaled in proportion)"))
    for model, count in plan.models.items():
        lines.append(f"  {count:>7} {model}")
    if resize is not None and resize.left_out:
        lines.append("  left out, rounding to none: " + "; ".join(
            f"groups[{group.index}] {group.label} ({group.stations} in the file)" for group in resize.left_out))
    lines.append("groups:")
    for group in plan.groups:
        peak = f" (peak at {group.peak_hour:02d}:00)" if group.peak_hour is not None else ""
        lines.append(f"  {group.label}: {group.stations} × {group.model}, connectors "
                     f"{', '.join(map(str, group.connectors))}; sessions {group.sessions}")
        lines.append(f"    sessions: {group.sessions_peak_per_h:,.1f} in the peak hour{peak}, "
                     f"{group.sessions_per_day:,.0f} a simulated day, {group.sessions_in_run:,.0f} in this run")
    lines += _rates_text(plan)
    lines += _tags_text(loaded, spec)
    lines.append("faults:" if plan.faults else "faults: none")
    lines += [f"  {line}" for line in plan.faults]
    if loaded.thresholds:
        lines.append("thresholds: " + "; ".join(scenario.thresholds))
    return lines


def _rates_text(plan: Plan) -> list[str]:
    rates = plan.rates
    rows = [("boot storm (during the ramp)", rates.boot_storm), ("heartbeats (at most)", rates.heartbeats),
            ("Authorize, Start/StopTransaction", rates.transactions),
            ("StatusNotification (sessions)", rates.status_notifications), ("MeterValues", rates.meter_values),
            ("CSMS-initiated calls", rates.csms_calls)]
    lines = [f"expected calls per second at speed {plan.speed:g}:"]
    lines += [f"  {name:<34} {value:>10,.1f}" for name, value in rows]
    lines.append(f"  {'peak':<34} {rates.peak:>10,.1f}")
    return lines


def _tags_text(loaded: LoadedScenario, spec: RunSpec) -> list[str]:
    tag_sets = [(g.label, g.sessions.id_tags) for g in loaded.scenario.groups if g.sessions is not None]
    if not tag_sets:
        return []
    where = "given to the embedded CSMS" if spec.csms_url is None else "to provision on the CSMS"
    lines = [f"id tags ({where}; `--id-tags FILE` writes them all):"]
    for label, tags in tag_sets:
        lines.append(f"  {label}: {_tag_ranges(tags)}")
    return lines


def _tag_ranges(tags: IdTags) -> str:
    parts = [f"{tag_name(tags, kind.letter, 1)}..{tag_name(tags, kind.letter, kind.count)} {kind.verdict}"
             for kind in tag_kinds(tags) if kind.count > 0]
    if tags.unknown_share > 0:
        parts.append(f"{tags.unknown_share:.0%} of sessions present unknown {tags.prefix}-{UNKNOWN}-* tags "
                     f"(should be {AuthorizationStatus.INVALID})")
    return "; ".join(parts) or "none"


def write_id_tags(loaded: LoadedScenario, file: Path) -> int:
    verdicts: dict[str, AuthorizationStatus] = {}
    for group in loaded.scenario.groups:
        if group.sessions is not None:
            verdicts.update(id_tag_verdicts(group.sessions.id_tags))
    with file.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["idTag", "status"])
        writer.writerows(sorted(verdicts.items()))
    return len(verdicts)


def echo_warnings(plan: Plan) -> None:
    for warning in plan.warnings:
        click.secho(f"warning: {warning}", fg="yellow", bold=True, err=True)


@click.group("scenario")
def scenario() -> None:
    """Scenario files: one load test described in TOML (scenarios/README.md)."""


@scenario.command("check")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--id-tags", "id_tags_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write every id tag the sessions present, with the verdict a CSMS should give it (CSV).")
@click.option("--stations", "-n", type=Stations(),
              help="Scale the groups to this many stations in all, in proportion (as `fleetsim run SCENARIO "
                   "--stations N`).")
def check_command(path: Path, id_tags_file: Path | None, stations: int | None) -> None:
    """Validate a scenario and print its plan: stations, sessions, expected
    messages per second, id tags, faults.  Exits 2 on a broken file."""
    loaded = resize_or_exit(load_or_exit(path), stations)
    spec = run_spec(loaded)
    plan = scenario_plan(loaded, spec)
    for line in plan_text(loaded, spec, plan):
        click.echo(line)
    echo_warnings(plan)
    if id_tags_file is not None:
        try:
            count = write_id_tags(loaded, id_tags_file)
        except OSError as error:
            raise click.BadParameter(f"cannot write {quote(str(id_tags_file))}: {error.strerror or error}",
                                     param_hint="--id-tags") from None
        click.echo(f"{count} id tags written to {id_tags_file}")
