"""The ``fleetsim`` command.  The CLI is the only place that prints for the user
and chooses exit codes:

    0   success
    2   usage error or unreadable input (click's own convention)
    3   the run itself broke, or its results could not be written (what it
        measured is still written if it can be)
    4   the run could not drive its fleet: not every station ever booted
    99  a threshold failed, or a regression went past its limit (as k6)
    130 the run was interrupted (Ctrl-C, SIGTERM); its results are complete
"""

from __future__ import annotations

import click

from fleetsim import __version__
from fleetsim.cli.csms import csms
from fleetsim.cli.merge import merge_command
from fleetsim.cli.profiles import profiles
from fleetsim.cli.report import compare_command, gate_command, report_command
from fleetsim.cli.run import run_command
from fleetsim.cli.scenario import scenario


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fleetsim")
def main() -> None:
    """Load simulator for OCPP 1.6-J charging-station fleets.

    Virtual stations are derived from OCA certificates of real certified
    hardware: their messages, supported CSMS calls, configuration keys and
    reaction times follow what the certificate says of the model.
    """


main.add_command(profiles)
main.add_command(run_command)
main.add_command(csms)
main.add_command(merge_command)
main.add_command(report_command)
main.add_command(gate_command)
main.add_command(compare_command)
main.add_command(scenario)
