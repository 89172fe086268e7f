"""What the interval writer adds for the reports: the connections of each
interval in timeseries.csv (appended columns, so readers of the old ones read
on), and events.csv, the injected faults as they happen."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fleetsim.metrics.intervals import (
    CONNECTION_COLUMNS,
    EVENTS_FILE,
    EVENTS_HEADER,
    TIMESERIES_HEADER,
    Census,
    IntervalWriter,
    RunEvent,
)
from fleetsim.metrics.recorder import Recorder
from fleetsim.metrics.summary import CONNECT

START = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def test_connections_opened_and_failed_per_interval_with_the_fleet_wide_setup_p99(tmp_path: Path) -> None:
    recorder = Recorder()
    ac, dc = recorder.model("ac", 10.0), recorder.model("dc.2", 30.0)
    writer = IntervalWriter(tmp_path, recorder, START)
    for _ in range(99):  # the ramp: 99 connections of 2 ms and one of 50 ms, over two models
        ac.record_reaction(CONNECT, 0.002)
    dc.record_reaction(CONNECT, 0.050)
    ac.count("connect.failed.refused", 2)
    dc.count("connect.failed.timeout")
    dc.count("connect.ok", 7)  # not a failure
    writer.tick(1.0, Census())
    writer.tick(2.0, Census())  # nothing: no connection, no setup time
    ac.record_reaction(CONNECT, 0.004)
    ac.count("connect.failed.refused", 5)
    writer.close(3.0, Census())
    rows = read_csv(tmp_path / "timeseries.csv")
    header = list(rows[0])
    assert header[:len(TIMESERIES_HEADER)] == list(TIMESERIES_HEADER)  # the old columns, unmoved
    assert header[len(TIMESERIES_HEADER):] == list(CONNECTION_COLUMNS) == ["connects", "connect_failures",
                                                                           "connect_p99_ms"]
    assert [(r["connects"], r["connect_failures"]) for r in rows] == [("100", "3"), ("0", "0"), ("1", "5")]
    assert float(rows[0]["connect_p99_ms"]) == pytest.approx(2.0, rel=1e-3)  # 99 of 100 at 2 ms, over both models
    assert rows[1]["connect_p99_ms"] == ""  # none opened: no figure rather than a zero
    assert float(rows[2]["connect_p99_ms"]) == pytest.approx(4.0, rel=1e-3)


def test_events_are_written_as_they_happen_and_a_batch_is_one_row(tmp_path: Path) -> None:
    recorder = Recorder()
    writer = IntervalWriter(tmp_path, recorder, START)
    for second in range(1, 46):
        writer.tick(float(second), Census())
    # A storm of four stations, one of which was not connected, with a tick in
    # the middle of the batch: still one row.
    for hit in (1, 1):
        writer.event(RunEvent(elapsed_s=45.9991, kind="storm", stations=hit, at_s=450.0))
    writer.tick(46.0, Census())
    for hit in (0, 1):
        writer.event(RunEvent(elapsed_s=46.0021, kind="storm", stations=hit, at_s=450.0))
    writer.event(RunEvent(elapsed_s=46.5, kind="drop", stations=1, at_s=465.13))
    writer.event(RunEvent(elapsed_s=46.6, kind="drop", stations=1, at_s=466.2))
    for second in range(47, 53):  # EVENT_SETTLE_S after the last: written
        writer.tick(float(second), Census())
    # Not closed (a killed run): the events are on disk all the same.
    rows = read_csv(tmp_path / EVENTS_FILE)
    assert list(rows[0]) == list(EVENTS_HEADER)
    assert [(r["elapsed_s"], r["kind"], r["stations"], r["at_s"], r["span_s"]) for r in rows] == [
        ("45.999", "storm", "3", "450.000", "0.000"), ("46.500", "drop", "1", "465.130", "0.000"),
        ("46.600", "drop", "1", "466.200", "0.000")]
    assert rows[0]["wall_time"] == "2025-01-01T12:00:45.999+00:00"
    writer.event(RunEvent(elapsed_s=50.0, kind="outage", span_s=12.0, stations=4, at_s=500.0))
    writer.event(RunEvent(elapsed_s=51.0, kind="connector", span_s=60.0, stations=1, label="GroundFailure"))
    writer.close(60.0, Census())
    rows = read_csv(tmp_path / EVENTS_FILE)
    assert [(r["kind"], r["span_s"], r["label"], r["at_s"]) for r in rows[3:]] == [
        ("outage", "12.000", "", "500.000"), ("connector", "60.000", "GroundFailure", "")]
    writer.event(RunEvent(elapsed_s=61.0, kind="drop"))  # after the end: ignored, no crash
    assert len(read_csv(tmp_path / EVENTS_FILE)) == 5


def test_a_storm_spread_over_several_intervals_is_one_row(tmp_path: Path) -> None:
    # The injector cuts a storm's thousands of stations in batches over a few
    # seconds: ticks in between once split one storm into three rows.
    recorder = Recorder()
    writer = IntervalWriter(tmp_path, recorder, START)
    for second in range(1, 46):
        writer.tick(float(second), Census())
    parts = [(45.3, 100), (45.9, 101), (46.4, 102), (48.1, 103), (49.35, 104)]
    for second in range(46, 60):
        for at, stations in parts:
            if second - 1 <= at < second:
                writer.event(RunEvent(elapsed_s=at, kind="storm", stations=stations, at_s=450.0))
        writer.tick(float(second), Census())
    rows = read_csv(tmp_path / EVENTS_FILE)
    assert [(r["elapsed_s"], r["kind"], r["stations"]) for r in rows] == [("45.300", "storm", "510")]
