"""``fleetsim report``, ``gate`` and ``compare``: a finished run's results
folder turned into an HTML report, judged against thresholds, or set beside
another run.  Exit codes: 0 pass, 99 a threshold failed or a regression went
past its limit, 2 a usage error or a results folder that cannot be read."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from fleetsim.cli.gates import ThresholdType, compare_folders, gate_folder, scenario_thresholds
from fleetsim.cli.run import EXIT_THRESHOLD_FAILED
from fleetsim.metrics.results import SCENARIO_FILE
from fleetsim.report.compare import comparison_table, parse_regression_limits
from fleetsim.report.folder import ResultsError, read_folder, read_summary
from fleetsim.report.html import REPORT_FILE, render

_RESULTS = click.Path(exists=True, path_type=Path)


def _summary(path: Path, param: str) -> dict[str, Any]:
    try:
        return read_summary(path)
    except ResultsError as error:
        raise click.BadParameter(str(error), param_hint=param) from error


def _warn_incomplete(document: dict[str, Any], path: Path) -> None:
    run = document["run"]
    if not run.get("completed", True):
        click.secho(f"note: the run in {path} broke before its end; judging what it measured", fg="yellow", err=True)
    elif run.get("interrupted"):
        click.secho(f"note: the run in {path} was stopped early; judging what it measured", fg="yellow", err=True)
    elif run.get("aborted_by"):
        click.secho(f"note: the run in {path} was aborted by the threshold {run['aborted_by']!r}; judging what it "
                    "measured", fg="yellow", err=True)


@click.command("gate")
@click.argument("results_dir", type=_RESULTS)
@click.option("--threshold", "-t", "thresholds", multiple=True, type=ThresholdType(), metavar="EXPR",
              help="Pass/fail criterion (repeatable): 'BootNotification.p99 < 2s', 'errors.rate < 0.1%', "
                   "'timeouts == 0', 'StartTransaction.p99.9 < declared', 'MODEL:Heartbeat.p99 < 500ms'. "
                   "Given: these only. Default: the thresholds of the scenario the run used (the copy in its "
                   "folder, scenario.toml).")
@click.option("--junit", "junit_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the verdicts as JUnit XML (one test case per threshold).")
@click.pass_context
def gate_command(ctx: click.Context, results_dir: Path, thresholds,  # type: ignore[no-untyped-def]
                 junit_file: Path | None) -> None:
    """Judge a finished run (its summary.json) against thresholds.

    Without --threshold, the run's own: those of the scenario it used, copied
    into its folder (a merged folder carries its shards' copy). Exits with 0
    when every threshold passes, 99 when one fails, 2 when the results cannot
    be read or there is nothing to judge. A threshold the run cannot answer
    (an action it never saw, a model not in it) fails. A percentile
    summary.json does not list is read from the folder's latency.hlog. The
    verdicts are stored in summary.json (`thresholds`).
    """
    document = _summary(results_dir, "RESULTS_DIR")
    if not thresholds:
        thresholds = scenario_thresholds(results_dir)
        if not thresholds:
            param = next(p for p in ctx.command.params if p.name == "thresholds")
            raise click.MissingParameter(ctx=ctx, param=param, message=(
                f"{results_dir} has no scenario with thresholds ({SCENARIO_FILE}): say what to judge"))
        click.echo(f"judging the thresholds of the scenario the run used ({SCENARIO_FILE})")
    _warn_incomplete(document, results_dir)
    if not gate_folder(results_dir, thresholds, document, junit_file):
        sys.exit(EXIT_THRESHOLD_FAILED)


def _limits(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]):  # type: ignore[no-untyped-def]
    try:
        return [limit for value in values for limit in parse_regression_limits(value)]
    except ValueError as error:
        raise click.BadParameter(str(error)) from error


@click.command("compare")
@click.argument("base_dir", type=_RESULTS)
@click.argument("new_dir", type=_RESULTS)
@click.option("--max-regression", "limits", multiple=True, callback=_limits, metavar="METRIC=LIMIT",
              help="Fail (exit 99) when a metric of an action, fleet-wide or of a model, got worse than this "
                   "(repeatable): p99=10% (of the base), p(95)=5ms, errors.rate=0.1% (percentage points), "
                   "timeouts=0; a bare 10% limits p50, p95 and p99.")
@click.option("--min-count", type=click.IntRange(0), default=1, show_default=True,
              help="Judge only actions with at least this many calls in both runs.")
@click.option("--confidence", type=click.FloatRange(0, 99.9), default=99.0, show_default=True, metavar="PERCENT",
              help="A latency past its limit is a regression only when the change's noise band at this confidence "
                   "(a bootstrap over both runs' interval histograms in latency.hlog) is past it too; 0: judge the "
                   "figures alone.")
def compare_command(base_dir: Path, new_dir: Path, limits, min_count: int,  # type: ignore[no-untyped-def]
                    confidence: float) -> None:
    """Set a new run beside a base run: per action, fleet-wide and per model,
    how p50, p99, max (ms), count and errors moved, with the noise band of each
    limited latency."""
    if 0 < confidence < 50:
        raise click.BadParameter("0 (no noise band), or from 50 to 99.9", param_hint="--confidence")
    base = _summary(base_dir, "BASE_DIR")
    new = _summary(new_dir, "NEW_DIR")
    comparison = compare_folders(base_dir, new_dir, base, new, limits, min_count=min_count,
                                 confidence=confidence / 100)
    click.echo(comparison_table(comparison))
    if not comparison.passed:
        sys.exit(EXIT_THRESHOLD_FAILED)


@click.command("report")
@click.argument("results_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help=f"The HTML file to write. Default: RESULTS_DIR/{REPORT_FILE}.")
def report_command(results_dir: Path, output: Path | None) -> None:
    """Write a self-contained HTML report of a run (opens offline: inline
    charts, no CDN): latency per action over time and by percentile against
    each model's declared timeout, stations and throughput over time, errors,
    CSMS calls and how each model answered, the simulator's own lag."""
    try:
        folder = read_folder(results_dir)
    except ResultsError as error:
        raise click.BadParameter(str(error), param_hint="RESULTS_DIR") from error
    for problem in folder.problems:
        click.secho(f"note: {problem}", fg="yellow", err=True)
    text = render(folder)
    target = output or results_dir / REPORT_FILE
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as error:
        click.echo(f"error: cannot write the report: {error}", err=True)
        sys.exit(2)
    click.echo(f"report: {target} ({text.count('<svg')} charts, {len(text.encode()) // 1024} KiB)")
