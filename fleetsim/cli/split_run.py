"""``fleetsim run --workers N``: the coordinator's side of a run split over
worker processes (fleetsim.engine.workers): the plan, one live view, the
workers' folders merged into the run's, then the verdict as for any run."""

from __future__ import annotations

import socket
import sys
import textwrap
from functools import partial
from pathlib import Path
from typing import Any

import click
import trio

from fleetsim.cli.gates import AbortWatch, judge_run, with_named_percentiles
from fleetsim.cli.screen import LiveScreen, Output, terminal_width
from fleetsim.engine.run import embedded_config
from fleetsim.engine.workers import Workers, csms_processes, describe, shard_folders
from fleetsim.metrics.merge import MergeError, merge_results
from fleetsim.metrics.results import write_results
from fleetsim.metrics.tally import LiveMerge
from fleetsim.report.thresholds import Threshold, evaluate

EXIT_USAGE = 2


def run_workers(spec: Any, profiles: dict[str, Any], tls: Any, passwords: Any, out: Path | None, view: Any,
                thresholds: tuple[Threshold, ...], junit_file: Path | None, scenario_text: str | None,
                output: Output, count: int) -> int:
    """Run ``spec`` in ``count`` worker processes; the exit code, as ``fleetsim run``'s."""
    from fleetsim.cli import run as single

    try:
        run_id, out_dir = single.results_folder(out)
    except OSError as error:
        return single._cannot_write(out or Path("results"), error)
    stations = spec.fleet_stations()
    spec = with_named_percentiles(spec, thresholds)  # a threshold's percentile is one every worker lists
    csms_config = embedded_config(spec) if spec.csms_url is None else None
    csms = csms_processes(stations) if csms_config is not None else 0
    if not view.quiet:
        single.echo_plan(spec)
        click.echo(textwrap.fill(f"split: {describe(count, csms, stations)}; each worker's results in "
                                 f"{out_dir}/shards/", terminal_width(sys.stderr) - 1, subsequent_indent="  "),
                   err=True)
    live = LiveMerge()  # the whole fleet's figures as the run goes: what 'abort' thresholds judge
    watch = AbortWatch(thresholds, live.recorder, spec.percentiles, say=lambda line: click.secho(
        f"\n{line}", fg="red", bold=True, err=True))
    workers = Workers(spec, profiles, count, out_dir, run_id=run_id, ssl_context=tls, passwords=passwords,
                      scenario_text=scenario_text, csms_config=csms_config, live=live if watch else None)
    workers.start()  # forks: before any thread (the metrics endpoint's) or event loop of this process
    try:
        endpoint = single._open_endpoint(view, run_id)
    except click.BadParameter as error:
        workers.kill()
        click.echo(f"error: {error.format_message()}", err=True)
        return EXIT_USAGE
    screen = LiveScreen(duration_s=spec.duration_s, fleet=stations, show=not view.quiet, endpoint=endpoint)
    try:
        screen.start()
        trio.run(partial(workers.watch, screen.publish, on_interval=watch or None))
    except BaseException:
        workers.kill()
        raise
    finally:
        workers.finish()
        if endpoint is not None:
            endpoint.close()
    failed = False
    for exit_ in workers.exits:
        trouble = exit_.death() or (f"worker {exit_.index}: its run failed: {exit_.done.broke}"
                                    if exit_.done is not None and exit_.done.broke else None)
        if trouble is not None:
            failed = True
            click.secho(f"error: {trouble}; what it measured is in {exit_.folder}/ and in the merged results",
                        fg="red", err=True)
    try:
        document = merge_results(shard_folders(out_dir, count), out_dir)
    except MergeError as error:
        click.echo(f"error: the workers' results could not be merged: {error}", err=True)
        return single.EXIT_RUN_BROKE
    except OSError as error:
        return single._cannot_write(out_dir, error)
    document["run"].update(id=run_id, workers=count, host=socket.gethostname(), processes=workers.usage())
    if watch.aborted is not None:  # stopped by a threshold: not interrupted, as one process's run says
        document["run"].update(aborted_by=watch.aborted.expression, interrupted=workers.interrupted)
    if csms_config is not None:
        document["run"].update(csms="embedded", csms_processes=csms)
    outcome = workers.outcome()
    try:  # as one process's folder: run.json and the scenario beside the merged figures
        write_results(out_dir, document, spec, profiles, scenario_text=scenario_text)
    except OSError as error:
        return single._cannot_write(out_dir, error)
    if outcome is None or failed:
        click.echo(f"what it measured is in {out_dir}/", err=True)
        return single.EXIT_RUN_BROKE
    # The threshold that aborted the run keeps the verdict that stopped it.
    verdicts = [watch.aborted if watch.aborted is not None and verdict.expression == watch.aborted.expression
                else verdict for verdict in evaluate(thresholds, document)] if thresholds else []
    code, headline, why = single._verdict(document, outcome, thresholds, verdicts, view.quiet)
    single._show_end(view, code, headline, why, document)
    if thresholds or junit_file:
        judge_run(thresholds, document, junit_file, out_dir, watch.aborted, echo=not view.quiet)
    if not view.quiet:
        single._print_simulator(document)
        click.echo(f"\nresults in {out_dir}/ (each worker's in {out_dir}/shards/)\n"
                   f"  every figure: summary.json; `fleetsim report {out_dir}` writes report.html")
    single._print_trouble(output, out_dir)
    return code


