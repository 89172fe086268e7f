"""``fleetsim capacity``: how many stations of a mix a CSMS serves within its
SLOs, found by stepping the fleet up and bisecting (fleetsim.capacity)."""

from __future__ import annotations

import math
import socket
import sys
import textwrap
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any, Final

import click
import msgspec
import trio

from fleetsim.capacity.document import CAPACITY_FILE, CAPACITY_HTML, capacity_document
from fleetsim.capacity.drive import Outcome, Settings, Step, first_failure, search_capacity
from fleetsim.capacity.search import BISECT, SearchError, SearchPlan
from fleetsim.capacity.slo import SloError, given_slos
from fleetsim.cli.options import (
    Duration,
    Number,
    Stations,
    check_results_folder,
    csms_traffic,
    parse_ramp_per_s,
)
from fleetsim.cli.run import QUICKSTART_SPEED, _fleet, _profiles, _tls, results_folder
from fleetsim.cli.scale import WorkersType, fit_processes, resolve_workers
from fleetsim.cli.screen import terminal_width, tolerant_output
from fleetsim.engine.run import RunOutcome, RunSpec, run
from fleetsim.engine.steering import Steering
from fleetsim.inputs import MAX_DURATION_S, MAX_SPEED, MIN_INTERVAL_S, MIN_SPEED, clip
from fleetsim.metrics.recorder import Recorder
from fleetsim.metrics.results import summary_document, write_results
from fleetsim.report.capacity_html import render as render_capacity
from fleetsim.report.threshold_grammar import ThresholdError
from fleetsim.report.thresholds import format_ms
from fleetsim.scenario.plan import plan_run
from fleetsim.sessions.simple import SimpleSessions
from fleetsim.spec.run import station_ids

EXIT_NO_CAPACITY: Final = 1  # no step met every SLO (or the search found none below --min-stations)
EXIT_USAGE: Final = 2  # bad input, or an SLO the run could not answer
EXIT_RUN_BROKE: Final = 3
EXIT_BELOW_MINIMUM: Final = 99  # as a failed threshold: the knee is below --min-stations
EXIT_INTERRUPTED: Final = 130
# Steps a search may take beyond its steps up: bisection to 0.1 % of a
# million stations takes 20.
BISECTION_STEPS: Final = 25


@click.command("capacity")
@click.argument("scenario_path", required=False, metavar="[SCENARIO]",
                type=click.Path(dir_okay=False, path_type=Path))
@click.option("--csms", "csms_url", metavar="URL",
              help="CSMS WebSocket URL (ws:// or wss://). Default: the embedded CSMS, as a demonstration (its own "
                   "capacity on this machine is then what is measured).")
@click.option("--start", type=Stations(), default=100, show_default=True, help="Stations of the first step.")
@click.option("--step", "step", type=Stations(), help="Stations added per step (instead of --factor).")
@click.option("--factor", type=Number(1.01, 100), help="Stations multiplied per step. Default: 2 (when no --step).")
@click.option("--max", "maximum", type=Stations(), default=10_000, show_default=True,
              help="The largest step: the fleet built for the search has this many stations.")
@click.option("--plateau", "plateau_s", type=Duration(), default="30s", show_default=True,
              help="How long each step holds its count after the ramp into it; the plateau is what is judged.")
@click.option("--resolution", default="5%", show_default=True,
              help="Bisect until the last passing and first failing counts are this close (a share of the failing).")
@click.option("--slo", "slos", multiple=True, metavar="EXPR",
              help="An SLO each step must meet (repeatable; the threshold grammar of `fleetsim run --threshold`). "
                   "Given, they replace the defaults: timeouts == 0, errors.rate < 0.1%, connect.failures.rate < "
                   "0.1%, and each action's p99 below a tenth of the tightest declared response timeout of the "
                   "models sending it.")
@click.option("--min-stations", type=Stations(),
              help="Exit with 99 when the search finds the capacity below this many stations (a CI gate).")
@click.option("--ramp", default="100/s", show_default=True, help="Stations added or removed per second.")
@click.option("--profile", "-p", "profile_choices", multiple=True, metavar="ID[=SHARE]",
              help="Station model and its share of the mix (repeatable). Default: the built-in models, equal shares.")
@click.option("--profile-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), multiple=True,
              help="Extra profile file (from `fleetsim profiles import`), usable with --profile.")
@click.option("--speed", type=Number(MIN_SPEED, MAX_SPEED),
              help="Time acceleration of OCPP intervals and sessions. Default: 20 against the embedded CSMS, 1 "
                   "against --csms.")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of every random choice.")
@click.option("--interval", "interval_s", type=Duration(minimum_s=MIN_INTERVAL_S), default="1s", show_default=True,
              help="Interval of latency.hlog and the time series; a plateau holds at least two.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Results folder. Default: results/<run-id>/.")
@click.option("--workers", type=WorkersType(), metavar="N|auto",
              help="Run the fleet in N worker processes (auto: as many as --max needs and the cores allow), the "
                   "search steering them all; without --csms the embedded CSMS runs in processes of its own.")
@click.option("--quiet", "-q", is_flag=True, help="Print only the finding.")
def capacity_command(scenario_path, csms_url, start, step, factor, maximum, plateau_s, resolution, slos,
                     min_stations, ramp, profile_choices, profile_file, speed, seed, interval_s, out,
                     workers, quiet) -> None:  # type: ignore[no-untyped-def]
    """Find how many stations of a mix a CSMS serves within its SLOs.

    Steps the fleet up (--start, then --step or --factor, up to --max), holds
    each step for --plateau after the ramp into it, and judges that plateau
    against the SLOs. At the first failing step it bisects between the last
    passing and the first failing count, to --resolution. A step that is
    clearly lost (timeouts piling up) is cut short. The fleet is one run: its
    results folder holds summary.json, latency.hlog and the time series as for
    `fleetsim run`, and capacity.json and capacity.html with every step, the
    knee, the first SLO that broke, and a Universal Scalability Law fit.

    With SCENARIO, its groups give the mix (scaled to --max) and its target
    and settings; its stages and duration are the search's to decide.
    """
    try:
        plan = SearchPlan(start=start, step=step, factor=factor if step is not None or factor else 2.0,
                          maximum=maximum, resolution=_share(resolution))
        if step is not None and factor is not None:
            raise SearchError("give --step or --factor, not both")
        plan.check()
    except SearchError as error:
        raise click.UsageError(str(error)) from None
    ramp_per_s = parse_ramp_per_s(ramp)
    if plateau_s < 2 * interval_s:
        raise click.BadParameter(f"a plateau of {plateau_s:g} s holds fewer than two intervals of {interval_s:g} s: "
                                 "its figures would be one interval's noise", param_hint="--plateau")
    check_results_folder(out, fresh=True)
    spec, profiles, tls, passwords, scenario_text = _spec(scenario_path, csms_url, profile_choices, profile_file,
                                                          maximum, ramp_per_s, speed, seed, interval_s, plan,
                                                          plateau_s)
    workers, problems = fit_processes(spec.fleet_stations(), spec.source_addresses, spec.csms_url is None, None,
                                      workers, quiet=quiet)
    for problem in problems:
        click.echo(f"error: {problem.what}\n  {problem.advice}", err=True)
    if problems:
        sys.exit(EXIT_USAGE)
    try:
        given = given_slos(slos, spec.stations_per_model())
    except (SloError, ThresholdError) as error:
        raise click.BadParameter(str(error), param_hint="--slo") from None
    planned = plan_run(spec, profiles).rates.steady / max(1, spec.fleet_stations())
    settings = Settings(plan=plan, plateau_s=plateau_s, interval_s=interval_s, ramp_per_s=ramp_per_s,
                        slos=tuple(given), percentiles=spec.percentiles, planned_calls_per_station_s=planned)
    with tolerant_output():
        code = _search(spec, profiles, tls, passwords, settings, out, quiet, min_stations, scenario_text,
                       resolve_workers(spec, workers))
    sys.exit(code)


def _share(text: str) -> float:
    try:
        value = float(text.strip().removesuffix("%")) / (100 if text.strip().endswith("%") else 1)
    except ValueError:
        raise click.BadParameter(f"{clip(text, 40)!r} is not a share (5% or 0.05)", param_hint="--resolution") from None
    if not math.isfinite(value):
        raise click.BadParameter(f"{clip(text, 40)!r} is not a share (5% or 0.05)", param_hint="--resolution")
    return value


def _spec(scenario_path: Path | None, csms_url: str | None, profile_choices: tuple[str, ...],
          profile_file: tuple[Path, ...], maximum: int, ramp_per_s: float, speed: float | None, seed: int,
          interval_s: float, plan: SearchPlan,
          plateau_s: float) -> tuple[RunSpec, dict[str, Any], Any, Any, str | None]:
    """The fleet the search draws on: ``maximum`` stations of the mix."""
    duration_s = _longest_s(plan, plateau_s, ramp_per_s, interval_s)
    if scenario_path is not None:
        from fleetsim.cli.scenario import load_or_exit, passwords_callback, resize_or_exit, run_spec, tls_context
        from fleetsim.engine.link import Target as LinkTarget
        from fleetsim.scenario.errors import ScenarioError

        if profile_choices or profile_file:
            raise click.UsageError("--profile cannot be given with a scenario: its [[groups]] give the mix")
        loaded = resize_or_exit(load_or_exit(scenario_path), maximum)
        overrides: dict[str, Any] = {"duration_s": duration_s, "ramp_per_s": ramp_per_s, "seed": seed,
                                     "interval_s": interval_s, "stages": ()}
        if csms_url is not None:
            overrides["csms_url"] = csms_url
        if speed is not None:
            overrides["speed"] = speed
        spec = run_spec(loaded, overrides)
        try:
            passwords = passwords_callback(loaded, None)
        except ScenarioError as error:
            raise click.UsageError(str(error)) from None
        target = LinkTarget.parse(spec.csms_url) if spec.csms_url is not None else None
        tls = tls_context(loaded, {}) if target is not None and target.tls else None
        return spec, loaded.profiles, tls, passwords, loaded.text
    profiles = _profiles(profile_file)
    fleet = _fleet(profile_choices, maximum, profiles)
    spec = RunSpec(fleet=fleet, duration_s=duration_s, ramp_per_s=ramp_per_s, seed=seed, csms_url=csms_url,
                   speed=speed if speed is not None else (1.0 if csms_url else QUICKSTART_SPEED),
                   sessions=SimpleSessions(), embedded_traffic=csms_traffic(()), interval_s=interval_s)
    return spec, profiles, _tls(csms_url, None, None, None, False), None, None


def _longest_s(plan: SearchPlan, plateau_s: float, ramp_per_s: float, interval_s: float) -> float:
    """A bound on the search's length: every step up and the bisection, each
    with its ramp, a settling half plateau and its plateau."""
    ramp_s = plan.maximum / ramp_per_s if ramp_per_s > 0 else 0.0
    steps = len(plan.steps()) + BISECTION_STEPS
    return min(MAX_DURATION_S, steps * (ramp_s + 1.5 * plateau_s + 3 * interval_s))


def _search(spec: RunSpec, profiles: dict[str, Any], tls: Any, passwords: Any, settings: Settings, out: Path | None,
            quiet: bool, min_stations: int | None, scenario_text: str | None, workers: int) -> int:
    try:
        run_id, out_dir = results_folder(out)
    except OSError as error:
        click.echo(f"error: cannot write {out or 'results'}: {error.strerror or error}", err=True)
        return EXIT_RUN_BROKE
    order = [profile_id for _, profile_id in station_ids(spec)]

    def mix(stations: int) -> dict[str, int]:
        return dict(Counter(order[:stations]))

    if not quiet:
        _echo(f"fleetsim capacity: {_mix_text(spec)} against {spec.csms_url or 'the embedded CSMS'}; steps "
              f"{_steps_text(settings.plan)}, each held {settings.plateau_s:g}s after its ramp; bisect to "
              f"{settings.plan.resolution:.1%}")
    found: list[Outcome] = []
    judged: list[Step] = []  # as they end: an interrupted search keeps them

    def on_step(step: Step) -> None:
        judged.append(step)
        if not quiet:
            _show_step(step)

    async def steer(steering: Steering) -> None:
        found.append(await search_capacity(steering, settings, mix, on_step))

    if workers > 1:
        measured = _split(spec, profiles, tls, passwords, out_dir, run_id, workers, steer, scenario_text, quiet)
    else:
        measured = _single(spec, profiles, tls, passwords, out_dir, run_id, steer, scenario_text)
    if measured is None:
        return EXIT_RUN_BROKE
    outcome = measured
    result = found[0] if found else Outcome(steps=judged)  # interrupted: the steps judged so far
    target = outcome.csms_url if not outcome.embedded_csms else f"the embedded CSMS ({outcome.csms_url})"
    capacity = capacity_document(result, settings, run_id=run_id, csms=target,
                                 embedded=outcome.embedded_csms, started_at=outcome.started_at.isoformat(),
                                 ended_at=outcome.ended_at.isoformat(), mix=spec.stations_per_model(),
                                 interrupted=outcome.interrupted or not found)
    try:
        (out_dir / CAPACITY_FILE).write_bytes(msgspec.json.format(msgspec.json.encode(capacity), indent=2) + b"\n")
        _write_html(out_dir, capacity)
    except OSError as error:
        click.echo(f"error: cannot write {out_dir}: {error.strerror or error}", err=True)
        return EXIT_RUN_BROKE
    _echo(capacity["sentence"])
    if capacity["usl"] is not None and not quiet:
        _echo(f"USL fit: {capacity['usl']['note']}")
    if capacity["note"] and not quiet:
        _echo(f"note: {capacity['note']}")
    if not quiet:
        click.echo(f"\nresults in {out_dir}/: capacity.json, capacity.html (every step), summary.json (the whole "
                   "run)", err=True)
    if result.error is not None:
        return EXIT_USAGE
    if outcome.interrupted or not found:
        return EXIT_INTERRUPTED
    knee = capacity["knee"]
    if knee is None:
        return EXIT_NO_CAPACITY
    if min_stations is not None and knee["stations"] < min_stations:
        _echo(f"FAILED: the capacity found ({knee['stations']:,}) is below --min-stations {min_stations:,}")
        return EXIT_BELOW_MINIMUM
    return 0


def _single(spec: RunSpec, profiles: dict[str, Any], tls: Any, passwords: Any, out_dir: Path, run_id: str,
            steer: Any, scenario_text: str | None) -> RunOutcome | None:
    """The search's run in this process; its results written (None: it broke)."""
    recorder = Recorder()
    outcome: RunOutcome | None = None
    try:
        outcome = trio.run(lambda: run(spec, profiles, recorder, ssl_context=tls, passwords=passwords,
                                       handle_signals=True, results_dir=out_dir, steer=steer))
    except Exception as error:  # the run broke: what it measured is still written
        click.echo(f"error: the run failed: {error!r}", err=True)
    document = summary_document(recorder, spec, outcome, run_id=run_id, host=socket.gethostname())
    try:
        write_results(out_dir, document, spec, profiles, scenario_text=scenario_text)
    except OSError as error:
        click.echo(f"error: cannot write {out_dir}: {error.strerror or error}", err=True)
        return None
    return outcome


def _split(spec: RunSpec, profiles: dict[str, Any], tls: Any, passwords: Any, out_dir: Path, run_id: str,
           count: int, steer: Any, scenario_text: str | None, quiet: bool) -> RunOutcome | None:
    """The search's run over worker processes it steers; their results
    merged into ``out_dir`` (None: a worker or the merge broke)."""
    from fleetsim.engine.run import embedded_config
    from fleetsim.engine.workers import Workers, csms_processes, describe, shard_folders
    from fleetsim.metrics.merge import MergeError, merge_results

    csms_config = embedded_config(spec) if spec.csms_url is None else None
    csms = csms_processes(spec.fleet_stations()) if csms_config is not None else 0
    if not quiet:
        _echo(f"split: {describe(count, csms, spec.fleet_stations())}; each worker's results in {out_dir}/shards/")
    workers = Workers(spec, profiles, count, out_dir, run_id=run_id, ssl_context=tls, passwords=passwords,
                      scenario_text=scenario_text, csms_config=csms_config, steered=True)
    workers.start()  # forks: before any event loop of this process
    try:
        trio.run(partial(workers.watch, lambda _: None, steer=steer))
    except BaseException:
        workers.kill()
        raise
    finally:
        workers.finish()
    broken = [exit_.death() or f"worker {exit_.index}: its run failed: {exit_.done.broke}" for exit_ in workers.exits
              if exit_.death() or (exit_.done is not None and exit_.done.broke)]
    for trouble in broken:
        click.echo(f"error: {trouble}", err=True)
    try:
        document = merge_results(shard_folders(out_dir, count), out_dir)
        document["run"].update(id=run_id, workers=count, host=socket.gethostname(), processes=workers.usage())
        if csms_config is not None:
            document["run"].update(csms="embedded", csms_processes=csms)
        write_results(out_dir, document, spec, profiles, scenario_text=scenario_text)
    except MergeError as error:
        click.echo(f"error: the workers' results could not be merged: {error}", err=True)
        return None
    except OSError as error:
        click.echo(f"error: cannot write {out_dir}: {error.strerror or error}", err=True)
        return None
    outcome = workers.outcome()
    return None if broken or outcome is None else outcome


def _write_html(out_dir: Path, capacity: dict[str, Any]) -> None:
    (out_dir / CAPACITY_HTML).write_text(render_capacity(capacity), encoding="utf-8")


def _show_step(step: Step) -> None:
    """One line per step, as it ends."""
    figures = step.figures
    worst = _worst_p99(figures)
    mark = "✓" if step.passed else "✗"
    phase = "bisect" if step.phase == BISECT else "step"
    line = (f"{mark} {phase} {step.index:>2}  {step.stations:>7,} stations  "
            f"{figures.get('calls_per_s', 0.0):>9,.1f} calls/s  p99 {worst}")
    if not step.passed:
        failed = first_failure(step)
        line += f"  — {failed[1]}" if failed is not None else f"  — cut short: {step.cut_short}"
    _echo(line)


def _worst_p99(figures: dict[str, Any]) -> str:
    exchanges = (figures.get("fleet") or {}).get("exchanges") or {}
    p99s = [((e.get("corrected_ms") or {}).get("p99"), action) for action, e in exchanges.items()]
    p99s = [(p, a) for p, a in p99s if p is not None]
    if not p99s:
        return "-"
    value, action = max(p99s)
    return f"{format_ms(value)} {action}"


def _mix_text(spec: RunSpec) -> str:
    models = spec.stations_per_model()
    total = sum(models.values()) or 1
    return "the mix " + ", ".join(f"{n / total:.0%} {model}" for model, n in models.items())


def _steps_text(plan: SearchPlan) -> str:
    by = f"+{plan.step:,}" if plan.step is not None else f"×{plan.factor:g}"
    return f"{plan.start:,} {by} up to {plan.maximum:,}"


def _echo(text: str) -> None:
    click.echo(textwrap.fill(text, max(40, terminal_width(sys.stderr) - 1), subsequent_indent="  ",
                             break_on_hyphens=False), err=True)


__all__ = ["capacity_command"]
