"""``python -m fleetsim``: the same as the ``fleetsim`` command."""

import sys


def entry() -> None:
    """Import the command and run it: a Ctrl-C while the imports take their
    fraction of a second is one line and exit 130 too (fleetsim.cli)."""
    try:
        from fleetsim.cli import main
    except KeyboardInterrupt:
        sys.stderr.write(("\n" if sys.stderr.isatty() else "") + "error: interrupted (Ctrl-C)\n")
        sys.exit(130)
    main()


if __name__ == "__main__":
    entry()
