"""Results written as the run goes: latency.hlog (read back with the hdrh
package's own HistogramLogReader), timeseries.csv and timeseries_p99.csv."""

from __future__ import annotations

import csv
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader
from recordings import events, feed, new_recorder

from fleetsim.metrics.histogram import new_histogram
from fleetsim.metrics.intervals import Census, IntervalWriter

START = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
LINE = re.compile(r"^Tag=([^,\s]+),(\d+\.\d{3}),(\d+\.\d{3}),(\d+\.\d{3}),(HISTF\S+)$")


def _run(out: Path, seconds: int = 5) -> tuple[object, dict[tuple[int, str], int]]:
    """Feed a recorder second by second, ticking a writer; return the
    recorder and, per (second, tag), how many values the interval holds."""
    recorder = new_recorder()
    writer = IntervalWriter(out, recorder, START)
    expected: dict[tuple[int, str], int] = {}
    stream = events(3000, duration_s=seconds)
    for second in range(seconds):
        for event in (e for e in stream if second <= e.at_s < second + 1):
            feed(recorder, event)
        for tag, interval, _ in recorder.series():
            if interval.total_count:
                expected[(second, tag)] = interval.total_count
        census = Census(connected=10 + second, booted=10, charging=second, messages_out=100 * (second + 1),
                        messages_in=90 * (second + 1))
        writer.tick(second + 1.0, census)
    writer.close(float(seconds), Census())
    return recorder, expected


def test_the_hlog_has_the_standard_header_and_lines(tmp_path: Path) -> None:
    _run(tmp_path)
    lines = (tmp_path / "latency.hlog").read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("#[Logged with fleetsim ")
    assert lines[1] == "#[Histogram log format version 1.3]"
    assert lines[2] == f"#[StartTime: {START.timestamp():.3f} (seconds since epoch), 2025-01-01T12:00:00+00:00]"
    assert lines[3] == f"#[BaseTime: {START.timestamp():.3f} (seconds since epoch)]"
    assert lines[4] == '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"'
    tags = set()
    for line in lines[5:]:
        match = LINE.match(line)
        assert match is not None, line
        tags.add(match[1])
        histogram = HdrHistogram.decode(match[5])
        assert float(match[4]) == pytest.approx(histogram.get_max_value() / 1000, abs=0.001)  # ms
    assert "corrected.dc.model-2.Heartbeat" in tags and "service.ac-model.MeterValues" in tags
    assert "reaction.ac-model.RemoteStartTransaction→StartTransaction" in tags
    assert {"simulator.loop_lag", "simulator.timer_lag", "simulator.gc_pause"} <= tags


def test_the_hdrh_reader_reads_back_every_interval_with_its_counts(tmp_path: Path) -> None:
    recorder, expected = _run(tmp_path)
    reader = HistogramLogReader(str(tmp_path / "latency.hlog"), HdrHistogram(1, 3_600_000_000, 3))
    found: dict[tuple[int, str], int] = {}
    totals: dict[str, HdrHistogram] = {}
    while (histogram := reader.get_next_interval_histogram()) is not None:
        second = round(histogram.get_start_time_stamp() / 1000 - START.timestamp())
        assert histogram.get_end_time_stamp() - histogram.get_start_time_stamp() == pytest.approx(1000)
        found[(second, histogram.get_tag())] = histogram.get_total_count()
        totals.setdefault(histogram.get_tag(), new_histogram()).add(histogram)
    reader.close()
    assert found == expected
    # The log adds up to the recorder's totals, bucket by bucket.
    for tag, _, total in recorder.series():
        assert list(totals[tag].counts) == list(total.counts), tag


def test_every_interval_is_on_disk_before_the_run_ends(tmp_path: Path) -> None:
    recorder = new_recorder()
    writer = IntervalWriter(tmp_path, recorder, START)
    recorder.model("ac-model", 10.0).exchange("Heartbeat").record_answer(0.1, 0.1, 0.2)
    writer.tick(1.0, Census(connected=1))
    # Not closed (a killed run): the interval is there all the same.
    assert "Tag=corrected.ac-model.Heartbeat,0.000,1.000," in (tmp_path / "latency.hlog").read_text()
    assert len((tmp_path / "timeseries.csv").read_text().splitlines()) == 2
    writer.close(1.5, Census())


def test_the_time_series_turns_counts_into_rates_per_interval(tmp_path: Path) -> None:
    recorder = new_recorder()
    writer = IntervalWriter(tmp_path, recorder, START)
    stats = recorder.model("ac-model", 10.0).exchange("Heartbeat")
    stats.record_answer(0.1, 0.1, 0.2)
    stats.record_timeout()
    writer.tick(1.0, Census(connected=5, booted=4, charging=1, messages_out=20, messages_in=10))
    stats.record_answer(1.1, 1.1, 1.3)
    stats.record_error("NotImplemented")
    writer.close(3.0, Census(connected=0, booted=0, charging=0, messages_out=60, messages_in=50))
    with (tmp_path / "timeseries.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == ["elapsed_s", "wall_time", "interval_s", "connected", "booted", "charging",
                             "messages_out_per_s", "messages_in_per_s", "answered", "errors", "timeouts",
                             "connects", "connect_failures", "connect_p99_ms"]
    assert rows[0] == {"elapsed_s": "1.000", "wall_time": "2025-01-01T12:00:01.000+00:00", "interval_s": "1.000",
                       "connected": "5", "booted": "4", "charging": "1", "messages_out_per_s": "20.0",
                       "messages_in_per_s": "10.0", "answered": "1", "errors": "0", "timeouts": "1",
                       "connects": "0", "connect_failures": "0", "connect_p99_ms": ""}
    assert rows[1]["interval_s"] == "2.000" and rows[1]["messages_out_per_s"] == "20.0"  # 40 in 2 s
    assert (rows[1]["answered"], rows[1]["errors"], rows[1]["timeouts"]) == ("1", "1", "0")


def test_the_p99_series_has_a_row_per_interval_and_action_over_all_models(tmp_path: Path) -> None:
    recorder = new_recorder()
    writer = IntervalWriter(tmp_path, recorder, START)
    for i in range(100):  # two models: 1 ms and 3 ms, 99 and 1 answers
        model_id, latency_s = ("ac-model", 0.001) if i else ("dc.model-2", 0.003)
        recorder.model(model_id, 10.0).exchange("Heartbeat").record_answer(0.0, 0.0, latency_s)
    writer.close(1.0, Census())
    with (tmp_path / "timeseries_p99.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert rows == [{"elapsed_s": "1.000", "wall_time": "2025-01-01T12:00:01.000+00:00", "action": "Heartbeat",
                     "count": "100", "p99_ms": "1.000", "service_p99_ms": "1.000"}]


def test_a_tick_cut_short_still_logs_what_it_folded(tmp_path: Path) -> None:
    recorder, _ = _run(tmp_path / "whole", seconds=1)
    recorder = new_recorder()
    writer = IntervalWriter(tmp_path, recorder, START)
    for event in events(500, duration_s=1.0):
        feed(recorder, event)
    steps = writer.tick_steps(1.0, Census())
    next(steps)
    next(steps)
    steps.close()  # what the engine does when the run is cancelled mid-tick
    writer.close(1.2, Census())
    reader = HistogramLogReader(str(tmp_path / "latency.hlog"), HdrHistogram(1, 3_600_000_000, 3))
    logged: dict[str, int] = {}
    while (histogram := reader.get_next_interval_histogram()) is not None:
        logged[histogram.get_tag()] = logged.get(histogram.get_tag(), 0) + histogram.get_total_count()
    reader.close()
    assert logged == {tag: total.total_count for tag, _, total in recorder.series() if total.total_count}


def test_a_tick_cut_short_among_its_p99_rows_still_writes_them_all(tmp_path: Path) -> None:
    recorder = new_recorder()
    writer = IntervalWriter(tmp_path, recorder, START)
    for event in events(500, duration_s=1.0):
        feed(recorder, event)
    with_calls = sum(1 for _, interval, _ in recorder.series() if interval.total_count)
    steps = writer.tick_steps(1.0, Census())
    for _ in range(with_calls + 1):  # every series, then the first p99 row
        next(steps)
    steps.close()
    with (tmp_path / "timeseries_p99.csv").open(newline="") as file:
        rows = {row["action"]: int(row["count"]) for row in csv.DictReader(file) if row["elapsed_s"] == "1.000"}
    answered: dict[str, int] = {}
    for model in recorder.models.values():
        for action, stats in model.exchanges.items():
            answered[action] = answered.get(action, 0) + stats.corrected.total_count
    assert len(rows) > 1
    assert rows == {action: count for action, count in answered.items() if count}
