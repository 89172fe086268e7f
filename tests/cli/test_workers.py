"""``fleetsim run --workers N`` and ``--shard I/N``: a fleet split over
processes gives the results of one process: counts added, percentiles from
the added histograms, the same verdicts; a worker that dies is named and its
data kept; Ctrl-C stops every worker and leaves complete results."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from fleetsim.cli.run import EXIT_INTERRUPTED, EXIT_RUN_BROKE
from fleetsim.metrics.histogram import Histogram, new_histogram
from fleetsim.metrics.hlog import read_hlog, split_tag

FLEETSIM = [sys.executable, "-m", "fleetsim"]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}
SMALL = ["--stations", "60", "--speed", "30", "--mean-idle", "2m", "--ramp", "0/s"]


def _fleetsim(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FLEETSIM, *args], capture_output=True, text=True, timeout=timeout, env=ENV)


def _summary(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "summary.json").read_text())


def _added(folders: list[Path], view: str = "corrected") -> dict[str, Histogram]:
    """Per action, one histogram of every sample the folders' logs hold."""
    added: dict[str, Histogram] = {}
    for folder in folders:
        for interval in read_hlog(folder / "latency.hlog"):
            tag = split_tag(interval.tag or "")
            if tag.view == view:
                added.setdefault(tag.name, new_histogram()).add(interval.histogram)
    return added


def test_two_workers_run_the_whole_fleet_and_merge_it_exactly(tmp_path: Path) -> None:
    out = tmp_path / "run"
    done = _fleetsim("run", "--workers", "2", *SMALL, "--duration", "6s", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "split: 2 worker processes" in done.stderr
    merged = _summary(out)
    shards = [_summary(out / "shards" / str(i)) for i in range(2)]
    assert merged["run"]["workers"] == 2 and merged["run"]["csms"] == "embedded"
    assert [shard["run"]["shard"] for shard in shards] == ["0/2", "1/2"]
    # The shards are the fleet: 60 stations, 12 of each model, split evenly.
    assert sum(merged["run"]["fleet"].values()) == 60
    assert all(sum(shard["run"]["fleet"].values()) == 30 for shard in shards)
    assert merged["run"]["stations_started"] == 60
    exchanges = merged["fleet"]["exchanges"]
    assert exchanges["BootNotification"]["answered"] >= 60
    for action, exchange in exchanges.items():
        assert exchange["count"] == sum(s["fleet"]["exchanges"].get(action, {}).get("count", 0) for s in shards)
    # Percentiles of the merged run are those of one histogram of every sample.
    every = _added([out / "shards" / "0", out / "shards" / "1"])
    for action, histogram in every.items():
        assert exchanges[action]["corrected_ms"]["p99"] == pytest.approx(
            histogram.get_value_at_percentile(99.0) / 1000, abs=1e-3), action
    assert "PASSED: 60 of 60 stations booted" in done.stdout


def test_a_worker_that_dies_is_named_and_its_shards_data_kept(tmp_path: Path) -> None:
    out = tmp_path / "run"
    process = subprocess.Popen([*FLEETSIM, "run", "--workers", "2", *SMALL, "--duration", "30s", "--out", str(out)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        deadline = time.monotonic() + 30
        while not (out / "shards" / "1" / "latency.hlog").is_file() or \
                (out / "shards" / "1" / "latency.hlog").stat().st_size < 2000:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        worker = _worker_pid(out / "shards" / "1")
        os.kill(worker, signal.SIGKILL)
        _stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == EXIT_RUN_BROKE, stderr
    assert f"worker 1 (shard 1/2, pid {worker}) died: killed by SIGKILL" in stderr
    merged = _summary(out)
    assert merged["run"]["completed"] is False
    # What the dead worker measured is in the merged run.
    killed = _added([out / "shards" / "1"])
    assert killed and merged["fleet"]["exchanges"]["BootNotification"]["count"] >= \
        killed["BootNotification"].total_count


def _worker_pid(folder: Path) -> int:
    """The process writing ``folder`` (its latency.hlog open for writing)."""
    target = str((folder / "latency.hlog").resolve())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) == target for fd in (entry / "fd").iterdir()):
                return int(entry.name)
        except OSError:
            continue
    raise AssertionError(f"nobody writes {target}")


def test_ctrl_c_stops_every_worker_and_leaves_complete_results(tmp_path: Path) -> None:
    out = tmp_path / "run"
    process = subprocess.Popen([*FLEETSIM, "run", "--workers", "2", *SMALL, "--duration", "10m", "--out", str(out),
                                "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        time.sleep(8)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == EXIT_INTERRUPTED, stderr
    assert stdout.startswith("INTERRUPTED after ")
    merged = _summary(out)
    assert merged["run"]["interrupted"] is True and merged["run"]["completed"] is True
    exchanges = merged["fleet"]["exchanges"]
    # Each worker stopped its transactions and delivered the StopTransactions before its CSMS went.
    assert exchanges["StartTransaction"]["answered"] == exchanges["StopTransaction"]["answered"] > 0
    for shard in range(2):
        assert _summary(out / "shards" / str(shard))["run"]["interrupted"] is True


@pytest.mark.parametrize(("args", "message"), [
    (["--workers", "2", "--shard", "0/2"], "--shard and --workers"),
    (["--shard", "0/2", "--threshold", "errors.rate < 1%"], "fleetsim gate"),
    (["--workers", "0"], "1 to 64"),
    (["--shard", "2/2"], "the index runs from 0 to 1"),
    (["--start-at", "2026-12-06T12:00:00"], "has no offset"),
    (["--start-at", "2099-01-01T00:00:00Z"], "more than a day ahead"),
])
def test_a_split_that_cannot_be_is_a_usage_error(tmp_path: Path, args: list[str], message: str) -> None:
    done = _fleetsim("run", *args, "--stations", "4", "--duration", "2s", "--out", str(tmp_path / "run"))
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert not (tmp_path / "run" / "summary.json").exists()


def test_shards_merged_and_gated_give_the_verdicts_of_one_process(tmp_path: Path) -> None:
    csms = subprocess.Popen([*FLEETSIM, "csms", "serve", "--port", "0", "--status-interval", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        line = csms.stdout.readline() if csms.stdout else ""
        url = line.split(" listening on ")[1].split()[0]
        common = ["--csms", url, "--stations", "40", "--duration", "5s", "--speed", "30", "--mean-idle", "2m",
                  "--ramp", "0/s", "-q"]
        start_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 4))
        shards = [subprocess.Popen([*FLEETSIM, "run", *common, "--id-prefix", "SPLIT", "--shard", f"{i}/2",
                                    "--start-at", start_at, "--out", str(tmp_path / f"shard-{i}")],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
                  for i in range(2)]
        for shard in shards:
            _, stderr = shard.communicate(timeout=90)
            assert shard.returncode == 0, stderr
        whole = _fleetsim("run", *common, "--id-prefix", "WHOLE", "--out", str(tmp_path / "whole"))
        assert whole.returncode == 0, whole.stderr
    finally:
        csms.send_signal(signal.SIGINT)
        csms.communicate(timeout=30)
    starts = [_summary(tmp_path / f"shard-{i}")["run"]["started_at"] for i in range(2)]
    assert starts[0][:19] == starts[1][:19] == start_at[:19]  # they ramped together, at the time given
    merge = _fleetsim("merge", str(tmp_path / "shard-0"), str(tmp_path / "shard-1"), "--out", str(tmp_path / "merged"))
    assert merge.returncode == 0, merge.stderr
    assert _summary(tmp_path / "merged")["run"]["fleet"] == _summary(tmp_path / "whole")["run"]["fleet"]
    thresholds = ["errors.rate < 1%", "BootNotification.p99 < 10s", "stations.booted == 40",
                  "Heartbeat.p50 < 1us"]
    verdicts = {}
    for name in ("merged", "whole"):
        gate = _fleetsim("gate", str(tmp_path / name), *(arg for t in thresholds for arg in ("--threshold", t)))
        assert gate.returncode in (0, 99), gate.stderr
        verdicts[name] = (gate.returncode, [v["passed"] for v in _summary(tmp_path / name)["thresholds"]])
    assert verdicts["merged"] == verdicts["whole"] == (99, [True, True, True, False])


def _open_files(limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))


def test_a_fleet_one_process_cannot_hold_is_split_by_itself(tmp_path: Path) -> None:
    out = tmp_path / "run"
    done = subprocess.run([*FLEETSIM, "run", "--stations", "1500", "--duration", "3s", "--ramp", "0/s",
                           "--no-csms-calls", "--out", str(out)], capture_output=True, text=True, timeout=120,
                          env=ENV, preexec_fn=lambda: _open_files(1000))
    assert done.returncode == 0, done.stderr
    assert "1,500 stations are more than one process holds" in done.stderr
    assert "(--workers auto)" in done.stderr
    summary = _summary(out)
    assert summary["run"]["workers"] == 2 and summary["run"]["csms_processes"] == 2
    assert summary["fleet"]["connection"]["stations_booted"] == 1500


def test_source_addresses_may_be_given_as_a_range() -> None:
    from fleetsim.cli.options import source_addresses

    assert source_addresses(("127.0.0.2-127.0.0.4", "127.0.0.9")) == ("127.0.0.2", "127.0.0.3", "127.0.0.4",
                                                                      "127.0.0.9")
    assert source_addresses(("::1",)) == ("::1",)


@pytest.mark.parametrize(("given", "message"), [
    (("127.0.0.4-127.0.0.2",), "lower address first"),
    (("127.0.0.2-::1",), "both of one family"),
    (("127.0.0.2-127.0.9.0",), "at most 1,024"),
    (("127.0.0.2-127.0.0.3", "127.0.0.3"), "given twice"),
    (("127.0.0.2-nowhere",), "not an IP address"),
])
def test_a_range_that_is_none_is_refused_saying_why(given: tuple[str, ...], message: str) -> None:
    import click

    from fleetsim.cli.options import source_addresses

    with pytest.raises(click.BadParameter, match=message):
        source_addresses(given)


def test_an_abort_threshold_judges_the_whole_fleet_not_each_worker(tmp_path: Path) -> None:
    # 20 stations a worker: no worker alone reaches 30, the fleet of 40 does.
    out = tmp_path / "run"
    started = time.monotonic()
    done = _fleetsim("run", "--workers", "2", "--stations", "40", "--ramp", "0/s", "--duration", "2m",
                     "--no-csms-calls", "--threshold", "stations.booted < 30 abort", "--junit",
                     str(tmp_path / "junit.xml"), "--out", str(out))
    assert done.returncode == 99, done.stderr
    assert time.monotonic() - started < 60  # stopped long before its two minutes
    assert "threshold failed, run aborted at" in done.stderr
    assert "FAILED: a threshold aborted the run" in done.stdout
    run = _summary(out)["run"]
    assert run["aborted_by"] == "stations.booted < 30 abort" and run["interrupted"] is False
    assert [s["run"]["interrupted"] for s in (_summary(out / "shards" / str(i)) for i in range(2))] == [True, True]
    assert 'failures="1"' in (tmp_path / "junit.xml").read_text()
