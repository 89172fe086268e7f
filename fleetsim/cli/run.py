"""``fleetsim run``: drive a fleet of certified stations against a CSMS."""

from __future__ import annotations

import socket
import ssl
import sys
from datetime import UTC, datetime
from pathlib import Path

import click
import trio

from fleetsim import __version__
from fleetsim.cli.gates import AbortWatch, PercentilesType, ThresholdType, judge_run, with_named_percentiles
from fleetsim.cli.options import (
    Duration,
    check_charge_point_ids,
    csms_traffic,
    one_password,
    parse_ramp_per_s,
    password_from_env,
    ssl_context,
)
from fleetsim.engine import limits
from fleetsim.engine.run import FleetShare, RunOutcome, RunSpec, run, shares
from fleetsim.metrics.percentiles import DEFAULT_PERCENTILES
from fleetsim.metrics.recorder import Recorder
from fleetsim.metrics.results import summary_document, write_results
from fleetsim.profiles.builtin import load_builtin, load_profile_file
from fleetsim.profiles.profile import StationProfile
from fleetsim.report.terminal import csms_calls_table, progress_line, simulator_lines, summary_table

EXIT_RUN_BROKE = 3
EXIT_THRESHOLD_FAILED = 99  # as k6: a threshold failed (fleetsim.report.thresholds)
# The quickstart (no --csms): a minute of a few hundred stations against the
# embedded CSMS, at 20x so that it holds sessions, meter values and heartbeats.
QUICKSTART_SPEED = 20.0


def _profiles(profile_files: tuple[Path, ...]) -> dict[str, StationProfile]:
    profiles = load_builtin()
    for path in profile_files:
        profile = load_profile_file(path)
        profiles[profile.id] = profile
    return profiles


def _fleet(choices: tuple[str, ...], stations: int, profiles: dict[str, StationProfile]) -> tuple[FleetShare, ...]:
    """``--profile ID[=share]``, repeatable; none means every built-in model."""
    if not choices:
        return shares(sorted(profiles), stations)
    ids, weights = [], []
    for choice in choices:
        profile_id, _, weight = choice.partition("=")
        if profile_id not in profiles:
            raise click.BadParameter(f"unknown profile {profile_id!r}; `fleetsim profiles list` shows them",
                                     param_hint="--profile")
        try:
            weights.append(float(weight) if weight else 1.0)
        except ValueError as error:
            raise click.BadParameter(f"share of {profile_id} must be a number", param_hint="--profile") from error
        ids.append(profile_id)
    return shares(ids, stations, weights)


@click.command("run")
@click.argument("scenario_path", required=False, metavar="[SCENARIO]",
                type=click.Path(dir_okay=False, path_type=Path))
@click.option("--csms", "csms_url", metavar="URL",
              help="CSMS WebSocket URL (ws:// or wss://); stations connect to URL/<chargePointId>. "
                   "Default: an embedded CSMS on loopback.")
@click.option("--stations", "-n", type=click.IntRange(1), default=250, show_default=True, help="Stations in the fleet.")
@click.option("--profile", "-p", "profile_choices", multiple=True, metavar="ID[=SHARE]",
              help="Station model and its share of the fleet (repeatable). Default: all built-in models, equal shares.")
@click.option("--profile-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), multiple=True,
              help="Extra profile file (from `fleetsim profiles import`), usable with --profile.")
@click.option("--duration", "-d", type=Duration(), default="60s", show_default=True, help="Run length: 90s, 10m, 2h.")
@click.option("--ramp", default="100/s", show_default=True,
              help="Stations started per second (e.g. 200/s); 0/s starts them all at once.")
@click.option("--speed", type=click.FloatRange(min=0.001),
              help="Time acceleration of OCPP intervals and sessions (60 = an hour a minute). "
                   "Default: 20 against the embedded CSMS (the quickstart), 1 (real time) against --csms.")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of every random choice of the run.")
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
@click.option("--interval", "interval_s", type=Duration(), default="1s", show_default=True,
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
@click.option("--quiet", "-q", is_flag=True, help="No live progress line.")
def run_command(scenario_path, csms_url, stations, profile_choices, profile_file, duration, ramp, speed, seed, out,
                id_prefix, mean_idle, mean_session, no_reaction_delays, stop_mode, password_env, ca_file, client_cert,
                client_key, insecure, source_addresses, csms_calls, no_csms_calls, interval_s, quiet, thresholds,
                junit_file, percentiles) -> None:  # type: ignore[no-untyped-def]
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

    if scenario_path is not None:
        from fleetsim.cli.scenario import prepare_run

        prepared = prepare_run(click.get_current_context(), scenario_path)
        _execute(prepared.spec, prepared.loaded.profiles, prepared.ssl_context, prepared.passwords, out, quiet,
                 prepared.thresholds, junit_file, scenario_text=prepared.loaded.text)
        return

    ramp_per_s = parse_ramp_per_s(ramp)
    if speed is None:
        speed = 1.0 if csms_url else QUICKSTART_SPEED
    profiles = _profiles(profile_file)
    fleet = _fleet(profile_choices, stations, profiles)
    spec = RunSpec(
        fleet=fleet, duration_s=duration, ramp_per_s=ramp_per_s, seed=seed, csms_url=csms_url,
        id_prefix=id_prefix, speed=speed, reaction_delays=not no_reaction_delays,
        sessions=SimpleSessions(mean_idle_s=mean_idle, mean_connected_s=mean_session),
        end_transactions=stop_mode == "clean", source_addresses=tuple(source_addresses),
        embedded_traffic=() if no_csms_calls else csms_traffic(csms_calls), interval_s=interval_s,
        percentiles=percentiles or DEFAULT_PERCENTILES,
    )
    check_charge_point_ids(fleet, id_prefix)
    tls = _tls(csms_url, ca_file, client_cert, client_key, insecure)
    problems = limits.check(stations, len(source_addresses), embedded_csms=csms_url is None)
    for problem in problems:
        click.echo(f"error: {problem.what}\n  {problem.advice}", err=True)
    if problems:
        sys.exit(2)
    passwords = None
    if password_env:
        try:
            passwords = one_password(password_from_env(password_env))
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--password-env") from error
    _execute(spec, profiles, tls, passwords, out, quiet, thresholds, junit_file)


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
    return ssl_context(ca_file, client_cert, client_key, insecure) if target.tls else None


def _execute(spec, profiles, tls, passwords, out, quiet, thresholds, junit_file,  # type: ignore[no-untyped-def]
             scenario_text: str | None = None) -> None:
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out_dir = out or Path("results") / run_id
    recorder = Recorder()
    spec = with_named_percentiles(spec, thresholds)
    watch = AbortWatch(thresholds, recorder, spec.percentiles, say=lambda line: click.secho(
        f"\n{line}", fg="red", bold=True, err=True))
    show = None if quiet else _show_progress
    stations = sum(share.stations for share in spec.fleet)
    mix = ", ".join(f"{s.stations} {s.profile_id}" for s in spec.fleet)
    click.echo(f"fleetsim {__version__}: {stations} stations ({mix}) "
               f"for {spec.duration_s:g}s against {spec.csms_url or 'the embedded CSMS'}", err=True)
    try:
        outcome = trio.run(lambda: run(spec, profiles, recorder, ssl_context=tls, passwords=passwords,
                                       on_progress=show, handle_signals=True, results_dir=out_dir,
                                       on_interval=watch or None))
    except Exception as error:  # the run itself broke: still write what was measured
        click.echo(f"\nerror: the run failed: {error!r}", err=True)
        write_results(out_dir, recorder, spec, profiles, None, run_id=run_id, host=socket.gethostname(),
                      scenario_text=scenario_text)
        sys.exit(EXIT_RUN_BROKE)
    if not quiet and sys.stderr.isatty():
        click.echo("", err=True)
    write_results(out_dir, recorder, spec, profiles, outcome, run_id=run_id, host=socket.gethostname(),
                  scenario_text=scenario_text)
    click.echo(summary_table(recorder))
    calls = csms_calls_table(recorder)
    if calls:
        click.echo("\n" + calls)
    _print_simulator(recorder)
    _print_footer(outcome, out_dir)
    if thresholds or junit_file:  # CI gates, judged on the figures of summary.json (as `fleetsim gate` would)
        document = summary_document(recorder, spec, outcome, run_id=run_id, host=socket.gethostname())
        if not judge_run(thresholds, document, junit_file, out_dir, watch.aborted):
            sys.exit(EXIT_THRESHOLD_FAILED)


def _print_simulator(recorder: Recorder) -> None:
    line, warning = simulator_lines(recorder)
    click.echo("\n" + line)
    if warning is not None:
        # Loud, and on stderr too, so it is seen even when stdout goes to a file.
        click.secho(warning, fg="red", bold=True)
        if not sys.stdout.isatty():
            click.secho(warning, fg="red", bold=True, err=True)


def _show_progress(progress, recorder, elapsed_s) -> None:  # type: ignore[no-untyped-def]
    if sys.stderr.isatty():
        click.echo("\r\033[K" + progress_line(progress, recorder, elapsed_s), nl=False, err=True)
    elif round(elapsed_s) % 10 == 0:  # a log, not a terminal: a line every ten seconds
        click.echo(progress_line(progress, recorder, elapsed_s), err=True)


def _print_footer(outcome: RunOutcome, out_dir: Path) -> None:
    seconds = (outcome.ended_at - outcome.started_at).total_seconds()
    note = " (stopped early)" if outcome.interrupted else " (aborted by a threshold)" if outcome.aborted else ""
    click.echo(f"\n{outcome.stations} stations, {outcome.progress.messages_out} messages sent, "
               f"{outcome.progress.messages_in} received in {seconds:.1f}s{note}; results in {out_dir}/")
