"""``fleetsim merge``: results of several shards of one test as one run."""

from __future__ import annotations

from pathlib import Path

import click

from fleetsim.cli.options import check_results_folder
from fleetsim.cli.profiles import InputProblem
from fleetsim.metrics.merge import MergeError, merge_results


@click.command("merge")
@click.argument("dirs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder of the merged results (created).")
def merge_command(dirs: tuple[Path, ...], out: Path) -> None:
    """Merge run folders DIRS (e.g. shards of one test on several machines) into one.

    Histograms are added from each folder's latency.hlog and counters from its
    summary.json; percentiles are computed from the sums, never averaged.
    Intervals are aligned by wall-clock time. Writes summary.json, latency.hlog,
    timeseries.csv and timeseries_p99.csv (see results/README.md). A torn
    last line of a killed run is dropped and named; a folder that cannot be
    read exits with 2.
    """
    if out.resolve() in {d.resolve() for d in dirs}:
        raise click.BadParameter("the output folder must not be one of the inputs", param_hint="--out")
    check_results_folder(out)  # one that cannot be written is a usage error before anything is read
    try:
        document = merge_results(list(dirs), out)
    except MergeError as error:
        raise InputProblem(str(error)) from error
    for line in document["run"]["dropped"]:
        click.secho(f"note: {line}", fg="yellow", err=True)
    answered = sum(e["answered"] for e in document["fleet"]["exchanges"].values())
    click.echo(f"merged {len(dirs)} runs ({answered} answers) into {out}/")
