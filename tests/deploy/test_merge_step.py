"""The merge-and-gate Job's command, run as its pod runs it (sh, the glob over
the shards' folders, `fleetsim merge` then `fleetsim gate`) on shard folders
as `fleetsim run --shard` writes them: its exit status is the verdict of the
whole test, judged by the thresholds of the scenario the shards ran."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from manifests import DEPLOY, documents
from under_test import UNDER_TEST

from fleetsim.cli.run import EXIT_THRESHOLD_FAILED
from fleetsim.engine.run import FleetShare, RunSpec
from fleetsim.metrics.intervals import Census, IntervalWriter
from fleetsim.metrics.recorder import Recorder
from fleetsim.metrics.results import summary_document, write_results
from fleetsim.profiles.builtin import load_builtin

ROOT = DEPLOY.parent.parent
START = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
MODEL = "bescore-bsc-s12bcc"
SCENARIO = 'thresholds = ["Heartbeat.p90 < 20ms"]\n\n[[groups]]\nmodel = "bescore-bsc-s12bcc"\nstations = 8\n'


def merge_script() -> str:
    (job,) = documents(DEPLOY / "merge-job.yaml")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    shell, flag, script = container["command"]
    assert (shell, flag) == ("sh", "-c")
    return script


def write_shard(out: Path, heartbeat_ms: float) -> None:
    """A finished shard's folder: 100 Heartbeats answered in ``heartbeat_ms``."""
    recorder = Recorder()
    exchange = recorder.model(MODEL, 10.0).exchange("Heartbeat")
    writer = IntervalWriter(out, recorder, START)
    for i in range(100):
        exchange.record_answer(i * 0.01, i * 0.01, i * 0.01 + heartbeat_ms / 1000)
    writer.tick(1.0, Census(connected=4, booted=4))
    writer.close(1.0, Census())
    spec = RunSpec(fleet=(FleetShare(MODEL, 4),), duration_s=1.0, seed=3)
    document = summary_document(recorder, spec, None, run_id=out.name, host="test")
    write_results(out, document, spec, load_builtin(), scenario_text=SCENARIO)


@pytest.mark.parametrize(("slow_ms", "verdict"), [(5.0, 0), (50.0, EXIT_THRESHOLD_FAILED)])
def test_the_merge_pods_exit_status_is_the_merged_runs_verdict(tmp_path: Path, slow_ms: float,
                                                                verdict: int) -> None:
    results = tmp_path / "results"
    write_shard(results / "run-1" / "shard-0", 5.0)
    write_shard(results / "run-1" / "shard-1", slow_ms)  # half the answers: p90 is this shard's
    write_shard(results / "run-2" / "shard-0", 50.0)  # another run's: not merged
    bin_dir = tmp_path / "bin"  # `fleetsim`, the image's console script
    bin_dir.mkdir()
    (bin_dir / "fleetsim").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m fleetsim "$@"\n')
    (bin_dir / "fleetsim").chmod(0o755)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "PYTHONPATH": str(UNDER_TEST), "RUN_ID": "run-1"}
    script = merge_script().replace("/results/", f"{results}/")  # the volume's mount, outside a pod
    done = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == verdict, done.stdout + done.stderr
    merged = results / "run-1" / "merged"
    assert "merged 2 runs (200 answers)" in done.stdout
    assert (merged / "scenario.toml").read_text() == SCENARIO
    assert ("✗" if verdict else "✓") + " Heartbeat.p90 < 20ms" in done.stdout
