"""``fleetsim capacity`` end to end: against a CSMS of known capacity (the
embedded CSMS with a fixed service time per message on one server, so it
answers 1/service-time messages a second and no more), the search finds the
knee within 15 % of the prediction, and bad input is refused clearly."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

FLEETSIM = [sys.executable, "-m", "fleetsim"]
SERVICE_TIME_MS = 5  # the CSMS answers 200 messages a second at most
CAPACITY_PER_S = 1000 / SERVICE_TIME_MS


@pytest.fixture
def known_csms() -> Iterator[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    csms = subprocess.Popen([*FLEETSIM, "csms", "serve", "--port", "0", "--status-interval", "0",
                             "--service-time", f"{SERVICE_TIME_MS}ms", "--heartbeat-interval", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        assert csms.stdout is not None
        listening = re.search(rb"listening on (ws://127\.0\.0\.1:\d+)", csms.stdout.readline())
        assert listening, "the CSMS did not start"
        yield listening[1].decode() + "/ocpp"
    finally:
        csms.send_signal(signal.SIGINT)
        csms.communicate(timeout=30)


def capacity(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FLEETSIM, "capacity", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "COLUMNS": "200"})


def test_the_knee_of_a_csms_of_known_capacity_is_found_within_15_percent(known_csms: str, tmp_path: Path) -> None:
    out = tmp_path / "search"
    result = capacity("--csms", known_csms, "--start", "50", "--factor", "2", "--max", "800", "--plateau", "4s",
                      "--ramp", "400/s", "--resolution", "5%", "--out", str(out), timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads((out / "capacity.json").read_text())
    knee = document["knee"]
    # Every station heartbeats once a second, plus its sessions: the CSMS's
    # 200 calls a second are reached a little below 200 stations.
    per_station = document["steps"][0]["achieved_calls_per_s"] / document["steps"][0]["stations"]
    predicted_stations = CAPACITY_PER_S / per_station
    assert abs(knee["stations"] - predicted_stations) <= 0.15 * predicted_stations, document["sentence"]
    assert abs(knee["calls_per_s"] - CAPACITY_PER_S) <= 0.15 * CAPACITY_PER_S, document["sentence"]
    # What broke first is latency, the queue growing: a p99 SLO, named in the sentence.
    failure = document["first_failure"]
    assert failure is not None and re.fullmatch(r"\w+\.p99 < \d+(ms|s)", failure["slo"]), failure
    action = failure["slo"].split(".")[0]
    assert f"at {failure['stations']:,} {action} p99 reached" in document["sentence"]
    assert document["sentence"] in " ".join(result.stderr.split())
    steps = document["steps"]
    assert [s["phase"] for s in steps[:3]] == ["step", "step", "step"] and "bisect" in [s["phase"] for s in steps]
    assert all(s["passed"] == (s["stations"] <= knee["stations"]) for s in steps)
    assert (out / "capacity.html").stat().st_size > 10_000
    assert (out / "summary.json").exists() and (out / "latency.hlog").exists()
    events = (out / "events.csv").read_text().splitlines()
    assert sum(",stage," in line for line in events) == len(steps)


def test_an_slo_the_search_cannot_answer_stops_it_with_exit_2(known_csms: str, tmp_path: Path) -> None:
    result = capacity("--csms", known_csms, "--start", "10", "--step", "10", "--max", "20", "--plateau", "2s",
                      "--slo", "SignCertificate.p99 < 1s", "--out", str(tmp_path / "x"), timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--slo 'SignCertificate.p99 < 1s' cannot be judged" in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["--step", "10", "--factor", "2"], "give --step or --factor, not both"),
    (["--plateau", "1s", "--interval", "1s"], "fewer than two intervals"),
    (["--start", "500", "--max", "100"], "at least the start"),
    (["--slo", "outage.booted_after < 30s"], "injects no CSMS outage"),
    (["--slo", "nosuch:Heartbeat.p99 < 1s"], "not in this search's mix"),
    (["--slo", "Heartbeat.p99 <"], "--slo"),
    (["--resolution", "lots"], "is not a share"),
    (["--resolution", "80%"], "resolution is 0.1% to 50%"),
])
def test_bad_input_is_one_clear_error(args: list[str], message: str, tmp_path: Path) -> None:
    result = capacity(*args, "--out", str(tmp_path / "x"))
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr


def test_a_search_over_worker_processes_steers_them_all_and_counts_exactly(known_csms: str, tmp_path: Path) -> None:
    out = tmp_path / "split"
    # Stations added at 50 a second boot at about the rate the CSMS serves (each sends 3-4 calls).
    result = capacity("--csms", known_csms, "--workers", "2", "--start", "100", "--step", "100", "--max", "300",
                      "--plateau", "3s", "--ramp", "50/s", "--resolution", "10%", "--out", str(out), timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads((out / "capacity.json").read_text())
    # The CSMS answers 200 calls a second at most: a plateau's rate above it
    # would be counts of intervals its figures left out (every one is needed).
    for step in document["steps"]:
        assert step["achieved_calls_per_s"] <= CAPACITY_PER_S * 1.03, step
        assert step["plateau_s"] == 3.0
    assert document["knee"] is not None and 150 <= document["knee"]["stations"] < 300
    assert document["first_failure"]["stations"] <= 300
    # Both workers ran their part of every step, and noted it: the merged events add them to the target.
    for shard in (0, 1):
        events = (out / "shards" / str(shard) / "events.csv").read_text()
        assert events.count(",stage,") == len(document["steps"])
    merged = [line.split(",") for line in (out / "events.csv").read_text().splitlines()[1:]]
    targets = [int(row[5]) for row in merged if row[2] == "stage"]
    assert targets == [step["stations"] for step in document["steps"]]


def test_a_scenario_gives_the_mix_and_every_step_passing_ends_at_the_maximum(known_csms: str,
                                                                              tmp_path: Path) -> None:
    scenario = tmp_path / "mix.toml"
    scenario.write_text(
        'name = "two models"\n'
        '[run]\nramp_per_s = 10\n'
        '[[groups]]\nmodel = "bionever-bss011k-v1000"\nstations = 30\n'
        '[[groups]]\nmodel = "bescore-bsc-s12bcc"\nstations = 10\n'
        '[[run.stages]]\nduration_s = 5\nstations = 10\n')  # its stages and duration are the search's to decide
    out = tmp_path / "search"
    result = capacity(str(scenario), "--csms", known_csms, "--start", "20", "--step", "20", "--max", "40",
                      "--plateau", "2s", "--ramp", "100/s", "--out", str(out), timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads((out / "capacity.json").read_text())
    assert document["mix"] == {"bescore-bsc-s12bcc": 0.25, "bionever-bss011k-v1000": 0.75}
    assert [step["stations"] for step in document["steps"]] == [20, 40]
    assert document["first_failure"] is None and document["knee"]["stations"] == 40
    assert "up to the search's maximum of 40: the capacity is beyond it" in document["sentence"]
    assert (out / "scenario.toml").read_text() == scenario.read_text()


def test_a_search_interrupted_keeps_the_steps_it_judged(known_csms: str, tmp_path: Path) -> None:
    out = tmp_path / "interrupted"
    search = subprocess.Popen([*FLEETSIM, "capacity", "--csms", known_csms, "--start", "20", "--step", "20",
                               "--max", "200", "--plateau", "2s", "--ramp", "100/s", "--out", str(out)],
                              stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert search.stderr is not None
        for line in search.stderr:
            if re.match(r"✓ step +2 ", line):  # two steps judged: Ctrl-C
                search.send_signal(signal.SIGINT)
                break
        rest = search.communicate(timeout=60)[1]
    finally:
        search.kill()
    assert search.returncode == 130, rest
    document = json.loads((out / "capacity.json").read_text())
    assert document["completed"] is False
    assert [step["stations"] for step in document["steps"]][:2] == [20, 40]
    assert document["sentence"].endswith("(the search was interrupted).")
    assert (out / "summary.json").exists()
