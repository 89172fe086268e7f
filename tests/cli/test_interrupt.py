"""Ctrl-C or SIGTERM ends a run early but cleanly: transactions stopped,
results written, exit 130.  Printing never costs a result: a reader that goes
away (``fleetsim run | head``) or a full disk only cuts the printing; results
that cannot be written are exit 3 with the reason."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fleetsim.cli.run import EXIT_INTERRUPTED

FLEETSIM = [sys.executable, "-m", "fleetsim", "run"]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}
SHORT = ["--stations", "3", "--profile", "bionever-bss011k-v1000", "--duration", "2s", "--speed", "20"]
RESULTS = ("summary.json", "run.json", "profiles/bionever-bss011k-v1000.json", "latency.hlog")


def test_ctrl_c_ends_the_run_cleanly_writes_everything_and_exits_130(tmp_path: Path) -> None:
    out = tmp_path / "run"
    command = [*FLEETSIM, "--stations", "10", "--duration", "10m", "--speed", "60", "--mean-idle", "1m",
               "--out", str(out), "-q"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        time.sleep(6)  # boots, and sessions at 60x
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == EXIT_INTERRUPTED == 130, stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["run"]["interrupted"] is True
    exchanges = summary["fleet"]["exchanges"]
    assert exchanges["BootNotification"]["answered"] >= 10
    # Every transaction that started was stopped, and its StopTransaction delivered.
    assert exchanges["StartTransaction"]["answered"] == exchanges["StopTransaction"]["answered"] > 0
    assert stdout.startswith("INTERRUPTED after ") and stdout.endswith("(exit 130)\n")


def test_sigterm_is_an_interruption_too(tmp_path: Path) -> None:
    out = tmp_path / "run"
    process = subprocess.Popen([*FLEETSIM, *SHORT, "--duration", "10m", "--out", str(out), "-q"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        time.sleep(3)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    for name in RESULTS:
        assert (out / name).is_file(), name
    assert json.loads((out / "summary.json").read_text())["run"]["interrupted"] is True


@pytest.mark.parametrize("stderr_too", [False, True], ids=["stdout", "stdout and stderr"])
def test_a_reader_that_goes_away_costs_no_result(tmp_path: Path, stderr_too: bool) -> None:
    """``fleetsim run | head -c 20``: the pipe is closed before the run prints
    anything; the run goes on, writes everything and exits with its verdict."""
    out, errors = tmp_path / "run", tmp_path / "stderr.txt"
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone at once
    with errors.open("w") as error_file:
        process = subprocess.run([*FLEETSIM, *SHORT, "--out", str(out)], stdout=write_end,
                                 stderr=write_end if stderr_too else error_file, env=ENV, timeout=60)
    os.close(write_end)
    assert process.returncode == 0, errors.read_text()
    for name in RESULTS:
        assert (out / name).is_file(), name
    if not stderr_too:
        text = errors.read_text()
        assert "fleetsim 0.1.0: 3 stations" in text
        assert "Traceback" not in text and "BrokenPipe" not in text and "Exception ignored" not in text


def test_a_full_disk_under_stdout_costs_no_result_and_is_said(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with open("/dev/full", "w") as full:  # every write: ENOSPC
        process = subprocess.run([*FLEETSIM, *SHORT, "--out", str(out)], stdout=full, stderr=subprocess.PIPE,
                                 text=True, env=ENV, timeout=60)
    assert process.returncode == 0, process.stderr
    assert (out / "summary.json").is_file()
    assert (f"warning: the end of the run could not be printed (standard output: No space left on device); "
            f"the results are in {out}/") in process.stderr
    assert "Traceback" not in process.stderr


def test_results_that_cannot_be_written_are_a_usage_error_before_the_run(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    started = time.monotonic()
    process = subprocess.run([*FLEETSIM, *SHORT, "--duration", "10m", "--out", str(blocker / "run")],
                             capture_output=True, text=True, env=ENV, timeout=60)
    assert process.returncode == 2  # what the user typed: checked before anything runs
    assert "--out" in process.stderr and "Not a directory" in process.stderr
    assert "Traceback" not in process.stderr
    assert time.monotonic() - started < 30  # said before a ten-minute run, not after
