"""``fleetsim run --metrics-port``: a running fleet scraped twice over HTTP,
as Prometheus would, in both text formats; the series are there, with their
labels, and they move."""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

MODEL = "bionever-bss011k-v1000"
OPENMETRICS = "application/openmetrics-text; version=1.0.0"


def wait_for_line(process: subprocess.Popen[bytes], pattern: re.Pattern[bytes], timeout_s: float) -> re.Match[bytes]:
    assert process.stderr is not None
    seen, deadline = b"", time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if select.select([process.stderr], [], [], 0.5)[0]:
            data = os.read(process.stderr.fileno(), 4096)
            assert data, f"the run ended: {seen!r}"
            seen += data
            if (match := pattern.search(seen)) is not None:
                return match
    raise AssertionError(f"not printed in {timeout_s} s: {seen!r}")


def scrape(url: str, accept: str | None = None) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Sample name → labels → value."""
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(request, timeout=5) as response:
        text = response.read().decode()
        content_type = response.headers["Content-Type"]
    parse = openmetrics_families if accept else text_string_to_metric_families
    assert content_type.startswith("application/openmetrics-text" if accept else "text/plain")
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in parse(text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def test_a_running_fleet_is_scraped_and_its_series_move(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "fleetsim", "run", "--stations", "20", "--profile", MODEL, "--duration", "7s",
               "--speed", "20", "--mean-idle", "1m", "--metrics-port", "0", "--out", str(tmp_path / "out"),
               "--no-csms-calls"]  # no Reset: every station stays booted, one BootNotification each
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        url = wait_for_line(process, re.compile(rb"live metrics: (http://127\.0\.0\.1:\d+/metrics)\n"), 30)[1]
        time.sleep(2.5)
        first = scrape(url.decode())
        time.sleep(2.5)
        second = scrape(url.decode())
        openmetrics = scrape(url.decode(), OPENMETRICS)
        process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0

    model = (("model", MODEL),)
    assert second["fleetsim_fleet_stations"][()] == 20
    assert second["fleetsim_stations_booted"][()] == second["fleetsim_stations_connected"][()] == 20
    assert second["fleetsim_calls_total"][(("action", "BootNotification"), *model)] == 20
    assert second["fleetsim_connects_total"][model] == 20
    assert second["fleetsim_stations_ever"][(*model, ("state", "booted"))] == 20
    run_id = json.loads((tmp_path / "out" / "summary.json").read_text())["run"]["id"]
    assert second["fleetsim_run_info"] == {(("run_id", run_id),): 1}
    # They move: counters and the clock between the two scrapes.
    for name in ("fleetsim_messages_sent_total", "fleetsim_elapsed_seconds"):
        assert second[name][()] > first[name][()] > 0, name
    assert sum(second["fleetsim_calls_total"].values()) > sum(first["fleetsim_calls_total"].values())
    # The last interval's latency per action and quantile, and the simulator's own lag.
    latency = second["fleetsim_interval_latency_seconds"]
    quantiles = {dict(labels)["quantile"] for labels in latency}
    assert quantiles == {"0.5", "0.99"} and all(0 < value < 10 for value in latency.values())
    assert second["fleetsim_interval_seconds"][()] > 0
    assert second["fleetsim_declared_timeout_seconds"][(("action", "BootNotification"),)] == 10
    lag = second["fleetsim_simulator_lag_seconds"]
    assert (("quantile", "0.99"), ("series", "loop_lag")) in lag
    # OpenMetrics, for a scraper that asks for it: the same series.
    assert openmetrics["fleetsim_stations_booted"][()] == 20
    assert openmetrics["fleetsim_calls_total"][(("action", "BootNotification"), *model)] == 20

