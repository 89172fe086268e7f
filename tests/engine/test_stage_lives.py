"""A station removed from the load and added back is a new life of the same
station: it boots again, it counts once among the fleet's stations ever
connected and booted, and no connection of its earlier life survives."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_stations_added_back_boot_again_and_count_once(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "fleetsim", "run", "--profile", "bionever-bss011k-v1000", "--ramp", "100/s",
         "--stage", "4s:20", "--stage", "4s:10", "--stage", "4s:20", "--no-csms-calls", "--out", str(out)],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads((out / "summary.json").read_text())
    counters = summary["fleet"]["counters"]
    assert counters["stage.removed"] == 10
    assert "stage.undelivered_transaction_messages" not in counters
    connection = summary["fleet"]["connection"]
    assert connection["stations_connected"] == 20 and connection["stations_booted"] == 20
    assert connection["connects"] == 30  # 20, then the 10 added back: a new life each, not a reconnect
    assert connection["reconnects"] == 0
    assert summary["fleet"]["boot"]["answers"]["Accepted"] == 30
    # During the last plateau exactly 20 stations were connected, never more.
    rows = [line.split(",") for line in (out / "timeseries.csv").read_text().splitlines()[1:]]
    last = summary["stages"][2]
    during = [int(row[3]) for row in rows if last["plateau_start_s"] < float(row[0]) <= last["end_s"]]
    assert during and set(during) == {20}
    assert max(int(row[3]) for row in rows) == 20
