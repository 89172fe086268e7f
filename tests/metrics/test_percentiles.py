"""Any percentile: how one is written, which ones summary.json reports, and a
live summary that makes only the figures read and can read any percentile."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from recordings import events, feed, new_recorder

from fleetsim.engine.run import FleetShare, RunSpec
from fleetsim.metrics.intervals import Census, IntervalWriter
from fleetsim.metrics.lazy import force
from fleetsim.metrics.merge import MergeError, merge_results
from fleetsim.metrics.percentiles import (
    DEFAULT_PERCENTILES,
    canonical_metric,
    min_samples,
    parse_key,
    parse_list,
    percentile_key,
)
from fleetsim.metrics.recorder import Recorder
from fleetsim.metrics.results import summary_document, write_summary
from fleetsim.metrics.summary import live_summary, recorder_summary


@pytest.mark.parametrize(("text", "percentile"), [
    ("p95", 95.0), ("p(95)", 95.0), ("p99.99", 99.99), ("p(99.9)", 99.9), ("p99.999", 99.999), ("p0.5", 0.5),
])
def test_a_percentile_is_written_as_people_and_k6_write_it(text: str, percentile: float) -> None:
    assert parse_key(text) == percentile
    assert canonical_metric(text) == percentile_key(percentile)
    assert parse_key(percentile_key(percentile)) == percentile  # the key reads back as itself


@pytest.mark.parametrize("text", ["p100", "p(0)", "p(101)", "p(x)", "p99.9.9"])
def test_what_is_no_percentile_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_key(text)
    assert canonical_metric(text) is None


def test_keys_are_the_summary_keys_of_schema_1() -> None:
    assert [percentile_key(p) for p in (50, 90, 99, 99.9)] == ["p50", "p90", "p99", "p99.9"]
    assert (canonical_metric("max"), canonical_metric("Heartbeat"), parse_key("max")) == ("max", None, None)


def test_a_list_is_sorted_without_repeats() -> None:
    assert parse_list("99.9, 50,p95,95 ,99") == (50.0, 95.0, 99.0, 99.9)
    for bad in ("", "50,abc", "50,100", ",".join(str(n / 10) for n in range(1, 40))):
        with pytest.raises(ValueError):
            parse_list(bad)


@pytest.mark.parametrize(("key", "samples"), [("p50", 20), ("p90", 100), ("p95", 200), ("p99", 1000),
                                              ("p99.9", 10_000), ("p99.99", 100_000), ("max", 1000)])
def test_the_samples_a_percentile_needs_put_ten_beyond_it_and_are_never_few(key: str, samples: int) -> None:
    assert min_samples(key) == samples


def _recorded() -> Recorder:
    recorder = new_recorder()
    for event in events(4000):
        feed(recorder, event)
    recorder.fold()
    return recorder


def test_summary_json_reports_the_percentiles_asked_for_and_always_those_of_schema_1() -> None:
    recorder = _recorded()
    summary = recorder_summary(recorder, (95.0, 99.99))
    stats = recorder.models["ac-model"].exchanges["Heartbeat"]
    block = summary["models"]["ac-model"]["exchanges"]["Heartbeat"]["corrected_ms"]
    assert list(block) == ["p50", "p90", "p95", "p99", "p99.9", "p99.99", "max"]
    for key, percentile in (("p95", 95.0), ("p99.99", 99.99), ("p50", 50.0)):
        assert block[key] == stats.corrected.get_value_at_percentile(percentile) / 1000
    # Every latency block of the summary: setup times, reactions and the simulator's too.
    connection = summary["fleet"]["connection"]
    assert connection["connect_ms"] is None or "p99.99" in connection["connect_ms"]
    assert "p99.99" in summary["fleet"]["reactions"]["RemoteStartTransaction→StartTransaction"]["ms"]
    assert "p95" in summary["simulator"]["loop_lag_ms"]
    # By default p95 is added to p50/p90/p99/p99.9/max.
    default = recorder_summary(recorder)["fleet"]["exchanges"]["Heartbeat"]["corrected_ms"]
    assert list(default) == ["p50", "p90", "p95", "p99", "p99.9", "max"]
    assert DEFAULT_PERCENTILES == (50.0, 90.0, 95.0, 99.0, 99.9)


def test_the_run_section_names_the_percentiles() -> None:
    spec = RunSpec(fleet=(FleetShare("ac-model", 1),), duration_s=1, percentiles=(99.0, 99.99))
    document = summary_document(_recorded(), spec, None, run_id="t", host="h")
    assert document["run"]["percentiles"] == [50.0, 90.0, 99.0, 99.9, 99.99]
    assert "p99.99" in document["fleet"]["exchanges"]["MeterValues"]["corrected_ms"]


def test_a_live_summary_made_whole_is_the_summary() -> None:
    recorder = _recorded()
    assert json.dumps(force(live_summary(recorder, (95.0,)))) == json.dumps(recorder_summary(recorder, (95.0,)))


def test_a_live_summary_reads_any_percentile_and_makes_only_what_is_read() -> None:
    recorder = _recorded()
    live = live_summary(recorder)
    block = live["fleet"]["exchanges"]["Heartbeat"]["corrected_ms"]
    merged = recorder.fleet_exchanges()["Heartbeat"].corrected
    assert block["p99.99"] == merged.get_value_at_percentile(99.99) / 1000  # not listed, read all the same
    assert "p99.99" not in list(block)
    # Only what was read was made: the other actions' figures are still to make.
    exchanges = live["fleet"]["exchanges"]
    assert [action for action, value in exchanges._items.items() if type(value).__name__ != "Later"] == ["Heartbeat"]
    assert type(live["fleet"]._items["connection"]).__name__ == "Later"


def test_a_merge_reports_every_percentile_a_shard_did(tmp_path: Path) -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    for name, percentiles in (("a", (95.0,)), ("b", (99.99,))):
        recorder = new_recorder()
        writer = IntervalWriter(tmp_path / name, recorder, start)
        for event in events(500, seed=len(name) + ord(name)):
            feed(recorder, event)
        writer.close(10.0, Census())
        spec = RunSpec(fleet=(FleetShare("ac-model", 1),), duration_s=10, percentiles=percentiles)
        write_summary(tmp_path / name, summary_document(recorder, spec, None, run_id=name, host="h"))
    merged = merge_results([tmp_path / "a", tmp_path / "b"], tmp_path / "merged")
    assert merged["run"]["percentiles"] == [50.0, 90.0, 95.0, 99.0, 99.9, 99.99]
    assert list(merged["fleet"]["exchanges"]["Heartbeat"]["corrected_ms"])[-3:] == ["p99.9", "p99.99", "max"]
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    summary["run"]["percentiles"] = [50, 100]
    (tmp_path / "b" / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(MergeError, match="percentiles"):
        merge_results([tmp_path / "a", tmp_path / "b"], tmp_path / "again")
