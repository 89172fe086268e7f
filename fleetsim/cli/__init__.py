"""The ``fleetsim`` command.  The CLI is the only place that prints for the user
and chooses exit codes:

    0   success
    2   usage error or unreadable input (click's own convention)
    3   the run itself broke, or its results could not be written (what it
        measured is still written if it can be)
    4   the run could not drive its fleet: not every station ever booted
    99  a threshold failed, or a regression went past its limit (as k6)
    130 interrupted: a run by Ctrl-C or SIGTERM (its results complete), or any command by
        Ctrl-C before a run took its own signals (128 + SIGINT, the shells' convention)
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from fleetsim import __version__, build
from fleetsim.cli.capacity import capacity_command
from fleetsim.cli.csms import csms
from fleetsim.cli.merge import merge_command
from fleetsim.cli.profiles import profiles
from fleetsim.cli.report import compare_command, gate_command, report_command
from fleetsim.cli.run import run_command
from fleetsim.cli.scenario import scenario
from fleetsim.inputs import clip

EXIT_INTERRUPTED = 130


def is_interrupt(error: BaseException) -> bool:
    """A KeyboardInterrupt, or a group of nothing else (as trio's nurseries raise it)."""
    if isinstance(error, KeyboardInterrupt):
        return True
    return isinstance(error, BaseExceptionGroup) and error.split(KeyboardInterrupt)[1] is None


@contextmanager
def interrupts_exit() -> Iterator[None]:
    """Ctrl-C before a run takes its own signals (while profiles load,
    stations are built, before trio runs): one line and exit 130, neither
    click's "Aborted!" with exit 1 nor a traceback."""
    try:
        yield
    except BaseException as error:
        if not is_interrupt(error):
            raise
        # On a terminal, after the "^C" it echoed (and any progress line).
        click.echo(("\n" if sys.stderr.isatty() else "") + "error: interrupted (Ctrl-C)", err=True)
        raise click.exceptions.Exit(EXIT_INTERRUPTED) from None


@contextmanager
def one_bounded_line() -> Iterator[None]:
    """Every usage error's message on one line of bounded length
    (fleetsim.inputs.clip), whatever input it quotes."""
    try:
        yield
    except click.ClickException as error:
        error.message = clip(error.message)
        raise


class _Main(click.Group):
    """The root command: interrupts and usage errors as above, for every
    subcommand and their arguments."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        with interrupts_exit(), one_bounded_line():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: click.Context) -> Any:
        with interrupts_exit(), one_bounded_line():
            return super().invoke(ctx)


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fleetsim", message="%(prog)s %(version)s, " + f"{build.kind()} build")
def main() -> None:
    """Load simulator for OCPP 1.6-J charging-station fleets.

    Virtual stations are derived from OCA certificates of real certified
    hardware: their messages, supported CSMS calls, configuration keys and
    reaction times follow what the certificate says of the model.
    """


main.add_command(profiles)
main.add_command(run_command)
main.add_command(capacity_command)
main.add_command(csms)
main.add_command(merge_command)
main.add_command(report_command)
main.add_command(gate_command)
main.add_command(compare_command)
main.add_command(scenario)
