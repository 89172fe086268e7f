"""``python -m fleetsim``: the same as the ``fleetsim`` command."""

from fleetsim.cli import main

main()
