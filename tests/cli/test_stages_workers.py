"""A staged run split over worker processes: each worker runs its part of
every stage's target, and the merged summary.json ``stages`` are the
shards' counts added with percentiles from their histograms added (never
averaged); events.csv names each stage once, with the fleet-wide target;
``fleetsim merge`` of the shards' folders gives the same stages."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fleetsim.metrics.histogram import Histogram, new_histogram
from fleetsim.metrics.hlog import read_hlog, read_start_s, split_tag

FLEETSIM = [sys.executable, "-m", "fleetsim"]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}
TARGETS = (30, 60, 10)
STAGES = [arg for target in TARGETS for arg in ("--stage", f"3s:{target}")]


def _fleetsim(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FLEETSIM, *args], capture_output=True, text=True, timeout=120, env=ENV)


def _summary(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "summary.json").read_text())


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("split") / "run"
    done = _fleetsim("run", "--workers", "2", *STAGES, "--ramp", "0/s", "--interval", "0.5s", "--speed", "30",
                     "--mean-idle", "1m", "--no-csms-calls", "-q", "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def _plateau_histograms(folder: Path, stage: dict[str, Any]) -> dict[str, Histogram]:
    """Per action, the corrected latency of one folder's intervals inside
    the stage's plateau (on that folder's own clock)."""
    start = read_start_s(folder / "latency.hlog")
    assert start is not None
    end_s = stage["plateau_start_s"] + stage["measured_s"]
    added: dict[str, Histogram] = {}
    for logged in read_hlog(folder / "latency.hlog"):
        tag = split_tag(logged.tag or "")
        at_s = logged.start_epoch_s - start
        inside = stage["plateau_start_s"] - 0.25 <= at_s and at_s + logged.length_s <= end_s + 0.25
        if tag.view == "corrected" and inside:
            added.setdefault(tag.name, new_histogram()).add(logged.histogram)
    return added


def test_the_merged_stages_are_the_shards_added(split: Path) -> None:
    merged = _summary(split)["stages"]
    shards = [_summary(split / "shards" / str(i))["stages"] for i in range(2)]
    assert [stage["stations"] for stage in merged] == list(TARGETS)
    # Each worker ran its part of each target.
    assert [[stage["stations"] for stage in part] for part in shards] == [list(TARGETS)] * 2
    for index, stage in enumerate(merged):
        parts = [part[index] for part in shards]
        for action, figures in stage["fleet"]["exchanges"].items():
            for key in ("count", "answered", "timeouts"):
                assert figures[key] == sum(p["fleet"]["exchanges"].get(action, {}).get(key, 0) for p in parts), (
                    stage["index"], action, key)
        answered = sum(e["answered"] for e in stage["fleet"]["exchanges"].values())
        assert answered > 0
        assert stage["measured_s"] == max(p["measured_s"] for p in parts) == stage["plateau_s"]
        assert stage["calls_per_s"] == round(answered / stage["measured_s"], 3)
        assert stage["calls_per_s"] == pytest.approx(sum(p["calls_per_s"] for p in parts), abs=0.01)
        assert stage["messages_per_s"]["out"] == pytest.approx(sum(p["messages_per_s"]["out"] for p in parts),
                                                               abs=0.01)


def test_the_merged_percentiles_come_from_the_shards_histograms_added(split: Path) -> None:
    merged = _summary(split)["stages"]
    for stage in merged:
        added: dict[str, Histogram] = {}
        for i in range(2):
            for action, histogram in _plateau_histograms(split / "shards" / str(i), stage).items():
                added.setdefault(action, new_histogram()).add(histogram)
        assert added, stage["index"]
        exchanges = stage["fleet"]["exchanges"]
        assert {action for action, e in exchanges.items() if e["corrected_ms"]} == set(added)
        for action, histogram in added.items():
            figures = exchanges[action]["corrected_ms"]
            assert figures["p99"] == round(histogram.get_value_at_percentile(99) / 1000, 3), (stage["index"], action)
            assert figures["max"] == round(histogram.get_max_value() / 1000, 3), (stage["index"], action)


def test_events_name_each_stage_once_with_the_fleet_wide_target(split: Path) -> None:
    with (split / "events.csv").open() as file:
        rows = [(row["kind"], row["label"], int(row["stations"])) for row in csv.DictReader(file)]
    assert rows == [
        ("stage", "stage 1: 0 → 30 stations", 30), ("plateau", "stage 1 plateau", 30),
        ("stage", "stage 2: 30 → 60 stations", 60), ("plateau", "stage 2 plateau", 60),
        ("stage", "stage 3: 60 → 10 stations", 10), ("plateau", "stage 3 plateau", 10)]


def test_fleetsim_merge_of_the_shards_gives_the_same_stages(split: Path, tmp_path: Path) -> None:
    again = tmp_path / "merged"
    done = _fleetsim("merge", str(split / "shards" / "0"), str(split / "shards" / "1"), "-o", str(again))
    assert done.returncode == 0, done.stdout + done.stderr
    assert _summary(again)["stages"] == _summary(split)["stages"]
    assert (again / "events.csv").read_text() == (split / "events.csv").read_text()
