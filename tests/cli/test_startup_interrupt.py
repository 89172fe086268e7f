"""Ctrl-C before a run takes its own signals (while fleetsim's modules are
imported, profiles load, stations are built, before trio runs) prints one line
and exits 130, as shells expect of SIGINT (128 + 2): never a traceback, nor
click's "Aborted!" with exit 1.

Each case runs fleetsim in a process of its own that sends itself a real
SIGINT at that point of the start-up (the hook below), so the signal lands
where it should every time rather than after a guessed sleep."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from under_test import UNDER_TEST

# Sends SIGINT when the start-up reaches PHASE, then carries on as if nothing
# happened: Python raises KeyboardInterrupt at the next instruction.
HOOK = """
import os, runpy, signal, sys

phase = sys.argv[1]
sys.argv = ["fleetsim", *sys.argv[2:]]


def interrupt_then(real):
    def interrupted(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        return real(*args, **kwargs)
    return interrupted


if phase == "import":
    import builtins
    real_import = builtins.__import__

    def hooked(name, *args, **kwargs):
        if name == "trio":
            builtins.__import__ = real_import
            os.kill(os.getpid(), signal.SIGINT)
        return real_import(name, *args, **kwargs)

    builtins.__import__ = hooked
else:
    import trio
    import fleetsim.cli.run
    import fleetsim.engine.run
    if phase == "profiles":
        fleetsim.cli.run.load_builtin = interrupt_then(fleetsim.cli.run.load_builtin)
    elif phase == "trio":
        trio.run = interrupt_then(trio.run)
    elif phase == "stations":
        fleetsim.engine.run.StationMaker.fleet = interrupt_then(fleetsim.engine.run.StationMaker.fleet)
runpy.run_module("fleetsim", run_name="__main__")
"""


@pytest.mark.parametrize("phase", ["import", "profiles", "trio", "stations"])
def test_ctrl_c_during_start_up_is_one_line_and_exit_130(tmp_path: Path, phase: str) -> None:
    command = [sys.executable, "-c", HOOK, phase, "run", "--stations", "4", "--duration", "5s", "-q",
               "--out", str(tmp_path / "run")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(UNDER_TEST)})
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr and "Aborted" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error")]
    assert errors == ["error: interrupted (Ctrl-C)"], done.stderr
    assert not (tmp_path / "run" / "summary.json").exists()  # no run happened to summarise
