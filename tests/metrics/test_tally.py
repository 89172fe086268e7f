"""What the coordinator of a run over workers judges 'abort' thresholds on:
the workers' interval histograms and latest counts, added as they come, read
exactly as one recorder of every worker's stations would read."""

from __future__ import annotations

from recordings import events, feed, new_recorder

from fleetsim.metrics import hlog
from fleetsim.metrics.recorder import Recorder, fold_into
from fleetsim.metrics.summary import recorder_summary
from fleetsim.metrics.tally import LiveMerge, Tally


def _close_interval(recorder: Recorder, start_s: float) -> list[str]:
    """What an interval writer does at a tick: each series' interval into its
    log line, then into the total."""
    lines = []
    for tag, interval, total in recorder.series():
        if interval.total_count:
            lines.append(hlog.interval_line(tag, start_s, 1.0, interval))
            fold_into(total, interval)
    return lines


def test_the_live_merge_reads_as_one_recorder_of_every_workers_stations() -> None:
    workers = [new_recorder(), new_recorder()]
    whole = new_recorder()
    streams = [events(3000, seed=1), events(2000, seed=2)]
    live = LiveMerge()
    for second in range(10):
        for index, (recorder, stream) in enumerate(zip(workers, streams, strict=True)):
            for event in stream:
                if second <= event.at_s < second + 1:
                    feed(recorder, event)
                    feed(whole, event)
            live.add_lines(_close_interval(recorder, float(second)))
            live.set_tally(index, Tally.of(recorder))
        _close_interval(whole, float(second))
    merged, expected = recorder_summary(live.recorder), recorder_summary(whole)
    assert merged["fleet"] == expected["fleet"]
    assert merged["models"] == expected["models"]
    assert merged["simulator"]["loop_lag_ms"] == expected["simulator"]["loop_lag_ms"]


def test_a_workers_newer_tally_replaces_its_older_one() -> None:
    recorder = new_recorder()
    live = LiveMerge()
    for event in events(500, seed=3):
        feed(recorder, event)
    live.set_tally(0, Tally.of(recorder))
    live.set_tally(0, Tally.of(recorder))  # the same counts again: not counted twice
    live.set_tally(1, Tally())
    assert live.recorder.counters() == recorder.counters()
    assert {action: stats.answered for action, stats in live.recorder.fleet_exchanges().items()} == \
        {action: stats.answered for action, stats in recorder.fleet_exchanges().items()}
