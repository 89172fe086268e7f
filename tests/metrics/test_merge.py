"""Merging shards: the same exchanges recorded by two simulators, half each,
merge into exactly what one simulator recording all of them reports."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from recordings import Event, events, feed, new_recorder

from fleetsim.engine.run import FleetShare, RunSpec
from fleetsim.metrics.intervals import Census, IntervalWriter
from fleetsim.metrics.merge import MergeError, merge_results
from fleetsim.metrics.recorder import Recorder
from fleetsim.metrics.results import summary_document, write_summary

START = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
SECONDS = 6


def _write_run(out: Path, stream: list[Event], *, start: datetime = START, stations: int = 5,
               summary: bool = True) -> Recorder:
    """A results folder as a run leaves it: ticks every second, then the summary."""
    recorder = new_recorder()
    writer = IntervalWriter(out, recorder, start)
    offset_s = (start - START).total_seconds()
    for second in range(SECONDS):
        for event in stream:
            if second <= event.at_s - offset_s < second + 1:
                feed(recorder, event)
        writer.tick(second + 1.0, Census(connected=stations, booted=stations, messages_out=10 * (second + 1)))
    writer.close(float(SECONDS), Census())
    if summary:
        spec = RunSpec(fleet=(FleetShare("ac-model", stations),), duration_s=SECONDS, seed=3)
        write_summary(out, summary_document(recorder, spec, None, run_id=out.name, host="test"))
    return recorder


def _figures(folder: Path) -> dict:
    document = json.loads((folder / "summary.json").read_text())
    return {key: document[key] for key in ("models", "fleet", "simulator")}


def test_two_shards_merge_to_exactly_the_one_run_over_the_same_exchanges(tmp_path: Path) -> None:
    stream = events(6000, duration_s=SECONDS)
    _write_run(tmp_path / "whole", stream)
    _write_run(tmp_path / "a", stream[0::2])
    _write_run(tmp_path / "b", stream[1::2])

    document = merge_results([tmp_path / "a", tmp_path / "b"], tmp_path / "merged")

    assert _figures(tmp_path / "merged") == _figures(tmp_path / "whole")
    assert document["run"]["fleet"] == {"ac-model": 10}
    assert [run["id"] for run in document["run"]["merged_from"]] == ["a", "b"]
    assert document["run"]["seed"] == 3 and document["run"]["host"] == "merged"
    # Interval by interval, too: the merged log is the whole run's log.
    assert (tmp_path / "merged" / "latency.hlog").read_text().splitlines()[4:] == \
        (tmp_path / "whole" / "latency.hlog").read_text().splitlines()[4:]
    assert (tmp_path / "merged" / "timeseries_p99.csv").read_text() == \
        (tmp_path / "whole" / "timeseries_p99.csv").read_text()


def test_percentiles_are_never_averaged(tmp_path: Path) -> None:
    fast = [Event(0.5 + i * 0.001, "ac-model", "answer", "Heartbeat", 0.5 + i * 0.001 - 0.001,
                  0.5 + i * 0.001 - 0.001) for i in range(990)]
    slow = [Event(0.5 + i * 0.01, "ac-model", "answer", "Heartbeat", 0.5 + i * 0.01 - 1.0,
                  0.5 + i * 0.01 - 1.0) for i in range(10)]
    _write_run(tmp_path / "fast", fast)
    _write_run(tmp_path / "slow", slow)
    merged = merge_results([tmp_path / "fast", tmp_path / "slow"], tmp_path / "merged")
    heartbeat = merged["fleet"]["exchanges"]["Heartbeat"]["corrected_ms"]
    assert heartbeat["p50"] == pytest.approx(1.0, rel=1e-3)  # not (1 + 1000) / 2
    assert heartbeat["p99"] == pytest.approx(1.0, rel=1e-3)  # 990 of 1000 at 1 ms
    assert heartbeat["p99.9"] == pytest.approx(1000.0, rel=1e-3)


def test_intervals_are_aligned_by_wall_clock(tmp_path: Path) -> None:
    stream = events(2000, duration_s=SECONDS + 2)
    _write_run(tmp_path / "a", stream)
    _write_run(tmp_path / "b", stream, start=START + timedelta(seconds=2), stations=3)
    merge_results([tmp_path / "b", tmp_path / "a"], tmp_path / "merged")
    with (tmp_path / "merged" / "timeseries.csv").open() as file:
        rows = list(csv.DictReader(file))
    # a runs 0-6 s, b 2-8 s: 8 intervals, both shards' stations in 2-6 s.
    assert [row["connected"] for row in rows] == ["5", "5", "8", "8", "8", "8", "3", "3"]
    assert rows[0]["wall_time"] == "2025-01-01T12:00:01.000+00:00"
    starts = {line.split(",")[1] for line in (tmp_path / "merged" / "latency.hlog").read_text().splitlines()
              if line.startswith("Tag=")}
    assert starts == {f"{s:.3f}" for s in range(8)}


def test_a_killed_shard_without_summary_still_gives_its_histograms(tmp_path: Path) -> None:
    stream = events(1000, duration_s=SECONDS)
    whole = _write_run(tmp_path / "a", stream, summary=False)
    merged = merge_results([tmp_path / "a"], tmp_path / "merged")
    answered = sum(stats.answered for model in whole.models.values() for stats in model.exchanges.values())
    assert sum(e["answered"] for e in merged["fleet"]["exchanges"].values()) == answered
    assert merged["run"]["completed"] is False


def test_a_folder_without_an_hlog_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(MergeError, match=r"latency\.hlog"):
        merge_results([tmp_path / "empty"], tmp_path / "out")


def test_fleetsim_merge_command(tmp_path: Path) -> None:
    from fleetsim.cli import main

    stream = events(1000, duration_s=SECONDS)
    _write_run(tmp_path / "a", stream[0::2])
    _write_run(tmp_path / "b", stream[1::2])
    result = CliRunner().invoke(main, ["merge", str(tmp_path / "a"), str(tmp_path / "b"), "-o", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    assert "merged 2 runs" in result.output
    assert {p.name for p in (tmp_path / "m").iterdir()} >= {"summary.json", "latency.hlog", "timeseries.csv",
                                                          "timeseries_p99.csv"}
    refused = CliRunner().invoke(main, ["merge", str(tmp_path / "a"), "-o", str(tmp_path / "a")])
    assert refused.exit_code == 2


def test_a_model_id_that_no_tag_may_hold_survives_the_log(tmp_path: Path) -> None:
    recorder = new_recorder()
    writer = IntervalWriter(tmp_path / "a", recorder, START)
    recorder.model("odd model, v2%", 10.0).exchange("Heartbeat").record_answer(0.0, 0.0, 0.004)
    writer.close(1.0, Census())
    assert "Tag=corrected.odd%20model%2C%20v2%25.Heartbeat," in (tmp_path / "a" / "latency.hlog").read_text()
    merged = merge_results([tmp_path / "a"], tmp_path / "merged")
    assert merged["models"]["odd model, v2%"]["exchanges"]["Heartbeat"]["answered"] == 1


def test_stations_the_shards_started_add_up(tmp_path: Path) -> None:
    # A merged fleet was driven when its shards' stations were: the counts the
    # exit-4 judgement reads are added like any other.
    stream = events(600, duration_s=SECONDS)
    for name, started in (("a", 4), ("b", 6)):
        _write_run(tmp_path / name, stream)
        path = tmp_path / name / "summary.json"
        document = json.loads(path.read_text())
        document["run"]["stations_started"] = started
        path.write_text(json.dumps(document))
    merged = merge_results([tmp_path / "a", tmp_path / "b"], tmp_path / "merged")
    assert merged["run"]["stations_started"] == 10
