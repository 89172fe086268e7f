"""Ctrl-C ends a run early but cleanly: transactions stopped, results written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def test_ctrl_c_ends_the_run_cleanly_and_writes_everything(tmp_path: Path) -> None:
    out = tmp_path / "run"
    command = [sys.executable, "-m", "fleetsim", "run", "--stations", "10", "--duration", "10m", "--speed", "60",
               "--mean-idle", "1m", "--out", str(out), "-q"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        time.sleep(6)  # boots, and sessions at 60x
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["run"]["interrupted"] is True
    exchanges = summary["fleet"]["exchanges"]
    assert exchanges["BootNotification"]["answered"] >= 10
    # Every transaction that started was stopped, and its StopTransaction delivered.
    assert exchanges["StartTransaction"]["answered"] == exchanges["StopTransaction"]["answered"] > 0
    assert "stopped early" in stdout
