"""Merging aligns the shards' own intervals: a run's ticks come late by the
event loop's lag (1.000, 2.001, 3.001 ...), and re-gridding them on a fixed
length put two intervals into one slot (a rate spike) and left the next empty
(a row lost).  One folder must merge into exactly itself; shards whose
boundaries differ by a little (jitter) or a lot (started apart) pair up."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from recordings import events, feed, new_recorder

from fleetsim.engine.run import FleetShare, RunSpec
from fleetsim.metrics.align import Interval, align
from fleetsim.metrics.intervals import Census, IntervalWriter, RunEvent
from fleetsim.metrics.merge import merge_results
from fleetsim.metrics.results import summary_document, write_summary
from fleetsim.metrics.summary import CONNECT

START = datetime(2025, 1, 1, 12, 0, 0, 524971, tzinfo=UTC)  # rounds up in the log, truncated in rows
# Ticks as a lagging loop closes them, then the run's short last interval.
JITTERED = (1.0004, 2.0011, 3.0009, 4.0002, 5.0013, 5.9996, 7.0, 8.0012, 9.0038, 10.0041, 11.0012, 12.0, 12.024)
RATE = 50  # messages a second each station sends


def _write_run(out: Path, ticks: tuple[float, ...], *, start: datetime = START, stations: int = 5,
               summary: bool = True, interval_s: float = 1.0) -> None:
    recorder = new_recorder()
    writer = IntervalWriter(out, recorder, start)
    stream = events(400 * len(ticks), duration_s=ticks[-1])
    before = 0.0
    for tick in ticks:
        for event in stream:
            if before <= event.at_s < tick:
                feed(recorder, event)
        writer.tick(tick, Census(connected=stations, booted=stations, messages_out=round(RATE * stations * tick)))
        before = tick
    writer.close(ticks[-1], Census(connected=stations, messages_out=round(RATE * stations * ticks[-1])))
    if summary:
        spec = RunSpec(fleet=(FleetShare("ac-model", stations),), duration_s=ticks[-1], seed=3, interval_s=interval_s)
        write_summary(out, summary_document(recorder, spec, None, run_id=out.name, host="test"))


def _rows(folder: Path) -> list[dict[str, str]]:
    with (folder / "timeseries.csv").open(newline="") as file:
        return list(csv.DictReader(file))


def _log_lines(folder: Path) -> list[str]:
    return [line for line in (folder / "latency.hlog").read_text().splitlines() if not line.startswith("#")]


@pytest.mark.parametrize("summary", [True, False], ids=["completed", "killed"])
def test_one_folder_merges_into_exactly_itself(tmp_path: Path, summary: bool) -> None:
    _write_run(tmp_path / "a", JITTERED, summary=summary)
    merge_results([tmp_path / "a"], tmp_path / "m")
    assert (tmp_path / "m" / "timeseries.csv").read_text() == (tmp_path / "a" / "timeseries.csv").read_text()
    assert (tmp_path / "m" / "timeseries_p99.csv").read_text() == (tmp_path / "a" / "timeseries_p99.csv").read_text()
    assert (tmp_path / "m" / "latency.hlog").read_text() == (tmp_path / "a" / "latency.hlog").read_text()
    assert len(_rows(tmp_path / "m")) == len(JITTERED)


def test_a_killed_run_with_a_torn_last_row_keeps_every_interval_of_its_log(tmp_path: Path) -> None:
    _write_run(tmp_path / "a", JITTERED[:8], summary=False)
    series = tmp_path / "a" / "timeseries.csv"
    series.write_text(series.read_text()[:-20])  # killed while writing the last row
    merged = merge_results([tmp_path / "a"], tmp_path / "m")
    assert merged["run"]["interval_s"] == pytest.approx(1.0, abs=0.002)
    assert [row["elapsed_s"] for row in _rows(tmp_path / "m")] == [f"{tick:.3f}" for tick in JITTERED[:7]]
    # The last interval has no row left, but its histograms keep their own place in the log.
    assert _log_lines(tmp_path / "m") == _log_lines(tmp_path / "a")


def test_shards_with_jittered_boundaries_pair_up_and_their_rates_add(tmp_path: Path) -> None:
    late = tuple(tick + 0.004 * (i % 3) for i, tick in enumerate(JITTERED))
    _write_run(tmp_path / "a", JITTERED, stations=5)
    _write_run(tmp_path / "b", late, start=START + timedelta(seconds=0.45), stations=3)
    merge_results([tmp_path / "a", tmp_path / "b"], tmp_path / "m")
    rows = _rows(tmp_path / "m")
    assert len(rows) == len(JITTERED)
    assert [row["connected"] for row in rows] == ["8"] * len(JITTERED)
    for row in rows[1:-1]:  # every station sends RATE a second: the fleet's rate, no spike, no gap
        assert float(row["messages_out_per_s"]) == pytest.approx(8 * RATE, rel=0.02)
    assert sum(int(row["answered"]) for row in rows) == \
        sum(int(row["answered"]) for shard in ("a", "b") for row in _rows(tmp_path / shard))


def test_shards_of_different_intervals_go_on_a_grid_of_the_longest(tmp_path: Path) -> None:
    _write_run(tmp_path / "fine", JITTERED[:-1], stations=5)
    _write_run(tmp_path / "coarse", (2.001, 4.0, 6.002, 8.0, 10.001, 12.0), stations=3, interval_s=2.0)
    merged = merge_results([tmp_path / "fine", tmp_path / "coarse"], tmp_path / "m")
    rows = _rows(tmp_path / "m")
    assert merged["run"]["interval_s"] == 2.0
    assert [(row["elapsed_s"], row["interval_s"]) for row in rows] == [(f"{2 * k:.3f}", "2.000") for k in range(1, 7)]
    for row in rows[1:]:
        assert float(row["messages_out_per_s"]) == pytest.approx(8 * RATE, rel=0.02)


def test_alignment_never_puts_two_intervals_of_a_shard_together() -> None:
    one = [Interval(0.0, 1.0, 1.0), Interval(1.0, 1.6, 0.6), Interval(1.6, 1.62, 0.02)]
    slots = align([one], [1.0])
    assert [slot.members for slot in slots] == [((0, 0),), ((0, 1),), ((0, 2),)]
    offset = [Interval(s + 0.5, s + 1.5, 1.0) for s in range(2)]
    paired = align([one[:1] + [Interval(1.0, 2.0, 1.0)], offset], [1.0, 1.0])
    assert [slot.members for slot in paired] == [((0, 0), (1, 0)), ((0, 1), (1, 1))]


def _write_with_connections(out: Path, start: datetime, connect_ms: float, storm_stations: int) -> None:
    recorder = new_recorder()
    model = recorder.model("ac-model", 10.0)
    writer = IntervalWriter(out, recorder, start)
    for tick in (1.0, 2.0, 3.0):
        for _ in range(10):
            model.record_reaction(CONNECT, connect_ms / 1000)
        if tick == 2.0:  # one storm of the scenario, at the same scheduled time in every shard
            writer.event(RunEvent(elapsed_s=1.5, kind="storm", stations=storm_stations, at_s=30.0))
        writer.tick(tick, Census(connected=5, booted=5))
    writer.close(3.0, Census(connected=5, booted=5))


def test_connection_columns_and_events_of_shards_merge(tmp_path: Path) -> None:
    _write_with_connections(tmp_path / "a", START, connect_ms=2.0, storm_stations=5)
    _write_with_connections(tmp_path / "b", START + timedelta(seconds=0.2), connect_ms=50.0, storm_stations=3)
    merge_results([tmp_path / "a", tmp_path / "b"], tmp_path / "m")
    rows = _rows(tmp_path / "m")
    assert [row["connects"] for row in rows] == ["20", "20", "20"]
    # The merged p99 is that of all the setups (half of them 50 ms), not an average of two p99s.
    assert [float(row["connect_p99_ms"]) for row in rows] == [pytest.approx(50.0, rel=0.01)] * 3
    with (tmp_path / "m" / "events.csv").open(newline="") as file:
        storms = list(csv.DictReader(file))
    assert [(row["kind"], row["stations"], row["at_s"]) for row in storms] == [("storm", "8", "30.000")]
    assert float(storms[0]["elapsed_s"]) == pytest.approx(1.5)  # the earliest of the shards', on the merged clock


def test_a_shard_whose_loop_was_held_keeps_its_stations_in_the_merged_gauges(tmp_path: Path) -> None:
    # Shard b's loop was held for four seconds: one long interval where a has four.
    held = (1.0, 2.0, 6.0, 7.0, 8.0)
    _write_run(tmp_path / "a", (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0), stations=5)
    _write_run(tmp_path / "b", held, stations=3)
    merge_results([tmp_path / "a", tmp_path / "b"], tmp_path / "m")
    connected = [int(row["connected"]) for row in _rows(tmp_path / "m")]
    assert connected == [8] * len(connected)  # never 5: b's three stations did not go away
    assert len(connected) == 8
