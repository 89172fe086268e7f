"""``fleetsim run``: drive a fleet of certified stations against a CSMS."""

from __future__ import annotations

import socket
import ssl
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import msgspec
import trio

from fleetsim import __version__
from fleetsim.cli.gates import AbortWatch, PercentilesType, ThresholdType, judge_run, with_named_percentiles
from fleetsim.cli.options import (
    Duration,
    Number,
    StageType,
    Stations,
    TlsFile,
    check_charge_point_ids,
    check_results_folder,
    check_run_stages,
    csms_traffic,
    one_password,
    parse_ramp_per_s,
    password_from_env,
    ssl_context,
)
from fleetsim.cli.options import source_addresses as check_addresses
from fleetsim.cli.scale import (
    ShardType,
    StartAtType,
    WorkersType,
    check_split,
    fit_processes,
    resolve_workers,
    shard_thresholds,
)
from fleetsim.cli.screen import LiveScreen, Output, terminal_width, tolerant_output
from fleetsim.engine.run import FleetShare, RunOutcome, RunSpec, run, shares
from fleetsim.inputs import (
    MAX_DURATION_S,
    MAX_INTEGER,
    MAX_SPEED,
    MAX_STATIONS,
    MIN_INTERVAL_S,
    MIN_SPEED,
    quote,
    span_problem,
)
from fleetsim.metrics.percentiles import DEFAULT_PERCENTILES
from fleetsim.metrics.recorder import Recorder
from fleetsim.metrics.results import new_run_folder, summary_document, write_results
from fleetsim.profiles.builtin import load_builtin
from fleetsim.profiles.profile import StationProfile
from fleetsim.report import terminal
from fleetsim.report.connection_figures import STATIONS_BOOTED
from fleetsim.report.thresholds import Threshold, Verdict, evaluate
from fleetsim.spec.shard import Shard
from fleetsim.spec.stages import stages_duration_s
from fleetsim.station.backoff import Backoff, Jitter

EXIT_RUN_BROKE = 3  # the run broke, or its results could not be written
EXIT_FLEET_SHORT = 4  # the run could not drive its fleet: not every station was ever Accepted
EXIT_THRESHOLD_FAILED = 99  # as k6: a threshold failed (fleetsim.report.thresholds)
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM, the results complete (128 + SIGINT, as shells report Ctrl-C)
# The quickstart (no --csms): a minute of a few hundred stations against the
# embedded CSMS, at 20x so that it holds sessions, meter values and heartbeats.
QUICKSTART_SPEED = 20.0


def _profiles(profile_files: tuple[Path, ...]) -> dict[str, StationProfile]:
    from fleetsim.scenario.load import read_profile

    profiles = dict(load_builtin())  # a copy: load_builtin's dict is shared
    for path in profile_files:
        try:
            profile = read_profile(path)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--profile-file") from None
        profiles[profile.id] = profile
    return profiles


def _fleet(choices: tuple[str, ...], stations: int, profiles: dict[str, StationProfile]) -> tuple[FleetShare, ...]:
    """``--profile ID[=share]``, repeatable; none means every built-in model.
    Exactly ``stations`` stations, split by the shares (finite, above 0)."""
    if not choices:
        return shares(sorted(profiles), stations)
    ids, weights = [], []
    for choice in choices:
        profile_id, _, weight = choice.partition("=")
        if profile_id not in profiles:
            raise click.BadParameter(f"unknown profile {quote(profile_id)}; `fleetsim profiles list` shows them",
                                     param_hint="--profile")
        if profile_id in ids:
            raise click.BadParameter(f"{quote(profile_id)} is given twice: give each model once, with its share",
                                     param_hint="--profile")
        try:
            weights.append(float(weight) if weight else 1.0)
        except ValueError as error:
            raise click.BadParameter(f"share of {profile_id} must be a number, not {quote(weight)}",
                                     param_hint="--profile") from error
        ids.append(profile_id)
    try:
        return shares(ids, stations, weights)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--profile") from None


@click.command("run")
@click.argument("scenario_path", required=False, metavar="[SCENARIO]",
                type=click.Path(dir_okay=False, path_type=Path))
@click.option("--csms", "csms_url", metavar="URL",
              help="CSMS WebSocket URL (ws:// or wss://); stations connect to URL/<chargePointId>. "
                   "Default: an embedded CSMS on loopback.")
@click.option("--stations", "-n", type=Stations(), default=250, show_default=True,
              help=f"Stations in the fleet (at most {MAX_STATIONS:,}); with SCENARIO, its groups scaled to this many.")
@click.option("--profile", "-p", "profile_choices", multiple=True, metavar="ID[=SHARE]",
              help="Station model and its share of the fleet (repeatable). Default: all built-in models, equal shares.")
@click.option("--profile-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), multiple=True,
              help="Extra profile file (from `fleetsim profiles import`), usable with --profile.")
@click.option("--duration", "-d", type=Duration(), default="60s", show_default=True,
              help=f"Run length: 90s, 10m, 2h (at most {MAX_DURATION_S / 86_400:g} days).")
@click.option("--ramp", default="100/s", show_default=True,
              help="Stations started per second (e.g. 200/s); 0/s starts them all at once.")
@click.option("--stage", "stages", multiple=True, type=StageType(), metavar="DURATION:STATIONS",
              help="A stage of load that changes (repeatable, in order; k6's stages): move to STATIONS running "
                   "stations at the --ramp rate, then hold until DURATION is up, e.g. --stage 1m:500 --stage "
                   "2m:1000 --stage 1m:0. The fleet starts empty; the run lasts the stages' sum (no --duration); "
                   "each stage's plateau is measured on its own (summary.json stages). Default --stations: the "
                   "largest target.")
@click.option("--speed", type=Number(MIN_SPEED, MAX_SPEED),
              help=f"Time acceleration of OCPP intervals and sessions (60 = an hour a minute; {MIN_SPEED:g} to "
                   f"{MAX_SPEED:,.0f}). "
                   "Default: 20 against the embedded CSMS (the quickstart), 1 (real time) against --csms.")
@click.option("--seed", type=click.IntRange(-MAX_INTEGER, MAX_INTEGER), default=1, show_default=True,
              help="Seed of every random choice of the run.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Results folder. Default: results/<run-id>/.")
@click.option("--id-prefix", default="FS", show_default=True, help="Charge point ids are PREFIX-<model>-<n>.")
@click.option("--mean-idle", type=Duration(), default="10m", show_default=True,
              help="Mean idle time of a connector between sessions (simulated).")
@click.option("--mean-session", type=Duration(), default="30m", show_default=True,
              help="Mean time an EV stays plugged in (simulated).")
@click.option("--no-reaction-delays", is_flag=True,
              help="Answer CSMS calls at once instead of after the certified models' measured reaction times.")
@click.option("--stop", "stop_mode", type=click.Choice(["clean", "close"]), default="clean", show_default=True,
              help="At the end: stop transactions and deliver their StopTransactions, or just close.")
@click.option("--password-env", metavar="VAR",
              help="Security profile 1/2: environment variable holding the Basic-auth password (AuthorizationKey) "
                   "of every station. Never given on the command line, never written anywhere.")
@click.option("--ca-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Security profile 2/3: CA bundle the CSMS certificate is verified against.")
@click.option("--client-cert", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Security profile 3: client certificate (PEM, may include the key).")
@click.option("--client-key", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Security profile 3: client key (PEM).")
@click.option("--insecure", is_flag=True, help="Do not verify the CSMS certificate (tests only).")
@click.option("--source-address", "source_addresses", multiple=True, metavar="IP",
              help="Local source address (repeatable), to open more connections than one address has ports.")
@click.option("--csms-call", "csms_calls", multiple=True, metavar="ACTION=RATE",
              help="Embedded CSMS only: send this CSMS-initiated call to every station at RATE per hour "
                   "(e.g. RemoteStartTransaction=6/h, or /s). Default: every CSMS-initiated action at a low rate.")
@click.option("--no-csms-calls", is_flag=True, help="Embedded CSMS only: send no CSMS-initiated calls.")
@click.option("--reconnect-backoff", "reconnect", metavar="BASE CAP JITTER",
              type=(Duration(), Duration(), click.Choice([j.value for j in Jitter])),
              callback=lambda _ctx, param, value: _backoff(param, value),
              help="How stations wait before connecting again: the n-th wait in a row is at most min(CAP, "
                   "BASE x 2^n), all of it (none), half plus a random half (equal) or random below it (full), "
                   "e.g. '1s 4s none'. Default: 1s 60s full.")
@click.option("--interval", "interval_s", type=Duration(minimum_s=MIN_INTERVAL_S), default="1s", show_default=True,
              help="Interval of the HdrHistogram log (latency.hlog) and the time series (timeseries*.csv).")
@click.option("--threshold", "thresholds", multiple=True, type=ThresholdType(), metavar="EXPR",
              help="Pass/fail criterion judged on summary.json after the run (repeatable), e.g. "
                   "'BootNotification.p(95) < 2s', 'errors.rate < 0.1%', 'StartTransaction.p99.9 < declared'. "
                   "Any failure exits with 99. With 'abort' ('errors.rate < 1% abort', 'timeouts == 0 abort after "
                   "30s') it is judged at every interval too, and its first failure stops the run.")
@click.option("--percentiles", type=PercentilesType(), metavar="LIST",
              help="Percentiles of summary.json's latency figures, e.g. 50,90,95,99,99.9,99.99 (p50, p90, p99 "
                   "and p99.9 are always in; default 50,90,95,99,99.9).")
@click.option("--junit", "junit_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the thresholds' verdicts as JUnit XML (one test case per threshold).")
@click.option("--quiet", "-q", is_flag=True, help="Print only the verdict line.")
@click.option("--details", is_flag=True,
              help="At the end, also the latency per model and how each model answered the CSMS's calls.")
@click.option("--metrics-port", type=click.IntRange(0, 65535), metavar="PORT",
              help="Serve live metrics for Prometheus at http://ADDRESS:PORT/metrics while the run goes "
                   "(0: any free port, printed at the start).")
@click.option("--metrics-address", default="127.0.0.1", show_default=True, metavar="ADDRESS",
              help="Address the live metrics are served on (0.0.0.0: every interface, e.g. in a pod).")
@click.option("--workers", type=WorkersType(), metavar="N|auto",
              help="Run the fleet in N worker processes (auto: as many as the fleet needs and the cores allow), "
                   "each a shard of it; without --csms the embedded CSMS runs in processes of its own. One live "
                   "view, one results folder from the workers' histograms added (their own folders in shards/).")
@click.option("--shard", type=ShardType(), metavar="I/N",
              help="Run shard I (from 0) of N of the fleet: its stations, ids, sessions and faults, so that N "
                   "such runs (on as many machines) are the whole fleet. Thresholds are judged on the merged "
                   "run (fleetsim merge, then fleetsim gate), not here.")
@click.option("--start-at", type=StartAtType(), metavar="TIME",
              help="Build the stations, then start at this wall-clock time (ISO 8601 with offset, e.g. "
                   "2026-12-06T12:00:00Z), so that shards on several machines ramp together.")
def run_command(scenario_path, csms_url, stations, profile_choices, profile_file, duration, ramp, stages, speed, seed,
                out,
                id_prefix, mean_idle, mean_session, no_reaction_delays, stop_mode, password_env, ca_file, client_cert,
                client_key, insecure, source_addresses, csms_calls, no_csms_calls, reconnect, interval_s, quiet,
                thresholds, junit_file, details, metrics_port, metrics_address,
                percentiles, workers, shard, start_at) -> None:  # type: ignore[no-untyped-def]
    """Run a fleet of virtual stations derived from certified hardware.

    Without --csms, an embedded CSMS is started on loopback, so the first run
    needs nothing else. Results go to results/<run-id>/: latency.hlog and the
    time series as the run goes, summary.json and the profiles used at the end
    (see results/README.md); a summary per action and model is printed at the end.

    With SCENARIO (a scenario file, see scenarios/README.md) the file gives
    everything; options given explicitly override it (--duration, --speed,
    --seed, --csms, --ramp, --interval, --stop, ...) and --threshold adds to its
    thresholds.
    """
    from fleetsim.sessions.simple import SimpleSessions

    view = View(quiet=quiet, details=details, metrics_port=metrics_port, metrics_address=metrics_address)
    check_split(shard, workers, thresholds, junit_file)
    if scenario_path is not None:
        from fleetsim.cli.scenario import prepare_run

        prepared = prepare_run(click.get_current_context(), scenario_path)
        spec = msgspec.structs.replace(prepared.spec, shard=shard or Shard(), start_at=start_at)
        check_results_folder(out, fresh=True)
        _execute(spec, prepared.loaded.profiles, prepared.ssl_context, prepared.passwords, out, view,
                 shard_thresholds(spec, prepared.thresholds, view.quiet), junit_file,
                 scenario_text=prepared.loaded.text, workers=prepared.workers)
        return

    ramp_per_s = parse_ramp_per_s(ramp)
    context = click.get_current_context()
    if stages:
        if context.get_parameter_source("stations") is click.core.ParameterSource.DEFAULT:
            stations = max(1, max(stage.stations for stage in stages))
        duration = stages_duration_s(stages)
    if speed is None:
        speed = 1.0 if csms_url else QUICKSTART_SPEED
    if (span := span_problem(duration, speed, None)) is not None:
        raise click.BadParameter(span, param_hint="--duration/--speed")
    source_addresses = check_addresses(source_addresses)
    # The OS limits and the bounds first: nothing is built for a fleet that cannot run.
    workers, problems = fit_processes(stations, tuple(source_addresses), csms_url is None, shard, workers,
                                      quiet=quiet)
    for problem in problems:
        click.echo(f"error: {problem.what}\n  {problem.advice}", err=True)
    if problems:
        sys.exit(2)
    profiles = _profiles(profile_file)
    fleet = _fleet(profile_choices, stations, profiles)
    spec = RunSpec(
        fleet=fleet, duration_s=duration, ramp_per_s=ramp_per_s, seed=seed, csms_url=csms_url,
        id_prefix=id_prefix, speed=speed, reaction_delays=not no_reaction_delays,
        sessions=SimpleSessions(mean_idle_s=mean_idle, mean_connected_s=mean_session),
        end_transactions=stop_mode == "clean", source_addresses=tuple(source_addresses),
        embedded_traffic=() if no_csms_calls else csms_traffic(csms_calls), interval_s=interval_s,
        reconnect=reconnect or Backoff(),
        percentiles=percentiles or DEFAULT_PERCENTILES, shard=shard or Shard(), start_at=start_at,
        stages=tuple(stages),
    )
    if stages:
        check_run_stages(spec, duration_given=context.get_parameter_source("duration") in (
            click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.ENVIRONMENT))
    check_charge_point_ids(fleet, id_prefix)
    tls = _tls(csms_url, ca_file, client_cert, client_key, insecure)
    passwords = None
    if password_env:
        try:
            passwords = one_password(password_from_env(password_env))
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--password-env") from error
    check_results_folder(out, fresh=True)
    _execute(spec, profiles, tls, passwords, out, view, thresholds, junit_file, workers=workers)


def _backoff(param: click.Parameter, value: tuple[float, float, str] | None) -> Backoff | None:
    """``--reconnect-backoff BASE CAP JITTER`` as the policy (None: not given)."""
    if value is None:
        return None
    try:
        return Backoff(base_s=value[0], cap_s=value[1], jitter=Jitter(value[2]))
    except ValueError as error:
        raise click.BadParameter(str(error), param=param) from error


def _tls(csms_url: str | None, ca_file: Path | None, client_cert: Path | None, client_key: Path | None,
         insecure: bool) -> ssl.SSLContext | None:
    """The TLS context of a wss:// --csms (None for ws:// and the embedded
    CSMS); a URL that cannot be used is a usage error."""
    if csms_url is None:
        return None
    from fleetsim.engine.link import Target

    try:
        target = Target.parse(csms_url)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--csms") from error
    if not target.tls:
        return None
    return ssl_context(*(TlsFile(path, option) if path is not None else None for path, option in (
        (ca_file, "--ca-file"), (client_cert, "--client-cert"), (client_key, "--client-key"))), insecure)


class View(msgspec.Struct, frozen=True, kw_only=True):
    """How a run shows itself: on the terminal and on the live metrics endpoint."""

    quiet: bool = False
    details: bool = False
    metrics_port: int | None = None
    metrics_address: str = "127.0.0.1"


def _execute(spec, profiles, tls, passwords, out, view, thresholds, junit_file,  # type: ignore[no-untyped-def]
             scenario_text: str | None = None, workers: int | str | None = None) -> None:
    """Run, write the results, show the verdict, exit with its code.  What is
    printed can fail (a closed pipe, a full disk) without losing a result."""
    count = resolve_workers(spec, workers)
    with tolerant_output() as output:
        if count > 1:
            from fleetsim.cli.split_run import run_workers

            code = run_workers(spec, profiles, tls, passwords, out, view, thresholds, junit_file, scenario_text,
                               output, count)
        else:
            code = _run_and_report(spec, profiles, tls, passwords, out, view, thresholds, junit_file, scenario_text,
                                   output)
    sys.exit(code)


def _run_and_report(spec, profiles, tls, passwords, out, view, thresholds, junit_file,  # type: ignore[no-untyped-def]
                    scenario_text, output) -> int:
    try:  # before anything runs: a run whose results cannot be written is not worth starting
        run_id, out_dir = results_folder(out)
    except OSError as error:
        return _cannot_write(out or Path("results"), error)
    try:
        endpoint = _open_endpoint(view, run_id)
    except click.BadParameter:
        if out is None:
            out_dir.rmdir()  # a usage error leaves no folder behind
        raise
    recorder = Recorder()
    spec = with_named_percentiles(spec, thresholds)  # a threshold's percentile is one summary.json lists
    watch = AbortWatch(thresholds, recorder, spec.percentiles, say=lambda line: click.secho(
        f"\n{line}", fg="red", bold=True, err=True))
    outcome = _measure(spec, profiles, tls, passwords, out_dir, view, endpoint, recorder, watch)
    document = summary_document(recorder, spec, outcome, run_id=run_id, host=socket.gethostname())
    if watch.aborted is not None:
        document["run"]["aborted_by"] = watch.aborted.expression
    try:
        write_results(out_dir, document, spec, profiles, scenario_text=scenario_text)
    except OSError as error:
        return _cannot_write(out_dir, error)
    if outcome is None:
        click.echo(f"what it measured is in {out_dir}/", err=True)
        return EXIT_RUN_BROKE
    # The threshold that aborted the run keeps the verdict that stopped it.
    verdicts = [watch.aborted if watch.aborted is not None and verdict.expression == watch.aborted.expression
                else verdict for verdict in evaluate(thresholds, document)] if thresholds else []
    code, headline, why = _verdict(document, outcome, thresholds, verdicts, view.quiet)
    _show_end(view, code, headline, why, document)
    if thresholds or junit_file:  # printed as `fleetsim gate` does, stored in summary.json, and the JUnit file
        judge_run(thresholds, document, junit_file, out_dir, watch.aborted, echo=not view.quiet)
    if not view.quiet:
        _print_simulator(document)
        click.echo(f"\nresults in {out_dir}/\n"
                   f"  every figure: summary.json; `fleetsim report {out_dir}` writes report.html")
    _print_trouble(output, out_dir)
    return code


def results_folder(out: Path | None) -> tuple[str, Path]:
    """The run's id and its results folder: ``out``, or a new folder of its
    own under results/ (whoever else starts in the same second).  OSError
    when it cannot be made."""
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    if out is None:
        out_dir = new_run_folder(Path("results"), run_id)
        return out_dir.name, out_dir
    out.mkdir(parents=True, exist_ok=True)
    return run_id, out


def echo_plan(spec: RunSpec) -> None:
    """The run's first line: its fleet (a shard's part of it), length and target."""
    shard = "" if spec.shard.whole else f" (shard {spec.shard} of a fleet of {spec.fleet_stations():,})"
    mix = ", ".join(f"{n} {profile_id}" for profile_id, n in spec.stations_per_model().items() if n)
    click.echo(textwrap.fill(f"fleetsim {__version__}: {spec.stations()} stations ({mix}){shard} for "
                             f"{spec.duration_s:g}s against {spec.csms_url or 'the embedded CSMS'}",
                             terminal_width(sys.stderr) - 1, subsequent_indent="  ", break_on_hyphens=False),
               err=True)


def _measure(spec, profiles, tls, passwords, out_dir, view, endpoint,  # type: ignore[no-untyped-def]
             recorder, watch) -> RunOutcome | None:
    """The run itself, shown live; None if it broke (what it measured is in ``recorder``)."""
    stations = spec.stations()  # a shard's, with --shard
    if not view.quiet:
        echo_plan(spec)
        if endpoint is not None:
            click.echo(f"live metrics: {endpoint.url}", err=True)
    screen = LiveScreen(duration_s=spec.duration_s, fleet=stations, show=not view.quiet, endpoint=endpoint)
    try:
        screen.start()
        return trio.run(lambda: run(spec, profiles, recorder, ssl_context=tls, passwords=passwords,
                                    on_progress=screen, handle_signals=True, results_dir=out_dir,
                                    on_interval=watch or None))
    except Exception as error:  # the run itself broke: the caller still writes what was measured
        click.echo(f"error: the run failed: {error!r}", err=True)
        return None
    finally:
        if endpoint is not None:
            endpoint.close()


def _cannot_write(out_dir: Path, error: OSError) -> int:
    click.echo(f"error: cannot write the results to {out_dir}/: {error.strerror or error}", err=True)
    return EXIT_RUN_BROKE


def _open_endpoint(view: View, run_id: str) -> Any:
    """The live metrics endpoint, if asked for; one that cannot listen is a usage error."""
    if view.metrics_port is None:
        return None
    from fleetsim.engine.live import MetricsEndpoint

    try:
        return MetricsEndpoint(view.metrics_address, view.metrics_port, run_id)
    except OSError as error:
        raise click.BadParameter(f"cannot serve on {view.metrics_address}:{view.metrics_port}: "
                                 f"{error.strerror or error}", param_hint="--metrics-port") from error


def _verdict(document: dict[str, Any], outcome: RunOutcome, thresholds: tuple[Threshold, ...],
             verdicts: list[Verdict], quiet: bool) -> tuple[int, str, list[str]]:
    """The exit code, the verdict line and why, in the order of the README's
    table: interrupted, then a fleet not driven, then thresholds.  The line
    holds the main cause when it stands alone (``quiet``)."""
    fleet, booted = terminal.fleet_size(document), terminal.stations_booted(document)
    seconds = (outcome.ended_at - outcome.started_at).total_seconds()
    failed = [verdict for verdict in verdicts if not verdict.passed]
    shortfall = terminal.fleet_shortfall(document)
    # A threshold on stations.booted says how much of the fleet is enough: it judges instead.
    allowed = any(threshold.metric in STATIONS_BOOTED for threshold in thresholds)
    threshold_note = [f"{len(failed)} of {len(verdicts)} thresholds failed"] if failed else []
    station_errors = int(document.get("simulator", {}).get("station_errors") or 0)
    if station_errors:
        # A bug of ours, found by what the CSMS sent: each disconnected one
        # station (the run went on), and no figure of such a run is trusted.
        return (EXIT_RUN_BROKE, f"FAILED: fleetsim itself failed: {station_errors:,} station errors (each "
                "disconnected its station; the log has the first of each kind)", shortfall + threshold_note)
    if outcome.interrupted:
        return (EXIT_INTERRUPTED, f"INTERRUPTED after {seconds:.1f} s of {document['run']['duration_s']:g} s: "
                f"{booted:,} of {fleet:,} stations booted; the results are complete up to then", threshold_note)
    if outcome.aborted is not None:
        # It stopped on purpose, its ramp maybe unfinished: the threshold is the verdict, not the shortfall.
        return (EXIT_THRESHOLD_FAILED, f"FAILED: a threshold aborted the run after {seconds:.1f} s: "
                f"{document['run'].get('aborted_by', outcome.aborted)}", shortfall + threshold_note)
    if shortfall and not allowed:
        cause = f" ({terminal.shortfall_in_brief(document)})" if quiet else ""
        return (EXIT_FLEET_SHORT, f"FAILED: could not drive its fleet: {booted:,} of {fleet:,} stations "
                f"booted{cause}", shortfall + threshold_note)
    if failed:
        names = ", ".join(verdict.expression for verdict in failed[:3]) + (", ..." if len(failed) > 3 else "")
        fleet_note = f"; {booted:,} of {fleet:,} stations booted" if shortfall else ""
        return (EXIT_THRESHOLD_FAILED, f"FAILED: {len(failed)} of {len(verdicts)} thresholds failed: {names}"
                f"{fleet_note}", shortfall)
    passed = f"; {len(verdicts)} thresholds passed" if verdicts else ""
    return (0, f"PASSED: {booted:,} of {fleet:,} stations booted, {outcome.progress.messages_out:,} messages sent "
            f"in {seconds:.1f} s{passed}", shortfall)


def _show_end(view: View, code: int, headline: str, why: list[str], document: dict[str, Any]) -> None:
    """The verdict first, then the latency table (and, with --details, the
    per-model rows and the CSMS calls)."""
    colour = "green" if code == 0 else "yellow" if code == EXIT_INTERRUPTED else "red"
    line = f"{headline} (exit {code})"
    width = terminal_width(sys.stdout) if sys.stdout.isatty() else terminal.WIDTH
    if view.quiet:
        click.secho(line, fg=colour, bold=True)
        return
    click.echo("")
    click.secho(textwrap.fill(line, width - 1, subsequent_indent="  "), fg=colour, bold=True)
    for reason in why:
        click.echo(textwrap.fill(reason, width - 1, initial_indent="  ", subsequent_indent="    "))
    if not sys.stdout.isatty() and sys.stderr.isatty():  # stdout goes to a file or a pipe: the verdict is seen too
        click.secho(line, fg=colour, bold=True, err=True)
    click.echo("\n" + terminal.latency_table(document, details=view.details, width=width))
    if stages := terminal.stages_table(document, width):
        click.echo("\n" + stages)
    calls = terminal.csms_calls_table(document, width) if view.details else ""
    if calls:
        click.echo("\n" + calls)


def _print_simulator(document: dict[str, Any]) -> None:
    line, warning = terminal.simulator_lines(document)
    click.echo("\n" + line)
    if warning is not None:
        # Loud, and on the terminal too when stdout goes to a file or a pipe
        # (as the verdict: not twice into one file).
        click.secho(warning, fg="red", bold=True)
        if not sys.stdout.isatty() and sys.stderr.isatty():
            click.secho(warning, fg="red", bold=True, err=True)


def _print_trouble(output: Output, out_dir: Path) -> None:
    """Say so when printing failed for another reason than a reader gone."""
    trouble = output.trouble()
    if trouble is not None and output.stderr.lost is None:
        click.echo(f"warning: the end of the run could not be printed ({trouble}); the results are in {out_dir}/",
                   err=True)
