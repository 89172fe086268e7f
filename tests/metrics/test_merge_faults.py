"""Merging shards keeps the ``faults`` section: the injected counters add, and
each CSMS outage (the same in every shard: one scenario) merges into one, the
fleet recovered when its slowest shard did."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from recordings import new_recorder

from fleetsim.cli.merge import merge_command
from fleetsim.engine.run import FleetShare, RunSpec
from fleetsim.metrics.intervals import Census, IntervalWriter
from fleetsim.metrics.merge import MergeError, merge_results
from fleetsim.metrics.recorder import OutageRecovery, merge_outages
from fleetsim.metrics.results import summary_document, write_summary

START = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
MODEL = "ac-model"


def _write_shard(out: Path, outages: list[OutageRecovery], counters: dict[str, int], *, stations: int = 5) -> None:
    """A results folder as a run with faults leaves it."""
    recorder = new_recorder()
    recorder.outages = outages
    recorder.model(MODEL, 30.0).counters.update(counters)
    writer = IntervalWriter(out, recorder, START)
    writer.tick(1.0, Census(connected=stations, booted=stations))
    writer.close(1.0, Census())
    spec = RunSpec(fleet=(FleetShare(MODEL, stations),), duration_s=1, seed=3)
    write_summary(out, summary_document(recorder, spec, None, run_id=out.name, host="test"))


def _outage(at_s: float, *, stations: int, booted_after_s: float | None, delivered_after_s: float | None,
            queued: int = 0, not_booted: int = 0, undelivered: int = 0, net_s: float | None = None) -> OutageRecovery:
    return OutageRecovery(at_s=at_s, for_s=60.0, stations=stations, queued_transaction_messages=queued,
                          booted_after_s=booted_after_s, booted_after_net_s=net_s,
                          delivered_after_s=delivered_after_s, not_booted=not_booted, undelivered=undelivered)


def test_two_shards_merge_each_outage_as_the_slower_shard_and_add_the_counters(tmp_path: Path) -> None:
    # Each figure is the slower shard's, net of back-off too (not necessarily the same shard).
    _write_shard(tmp_path / "a", [
        _outage(600.0, stations=5, booted_after_s=2.5, delivered_after_s=4.0, queued=7, net_s=1.5),
        _outage(1800.0, stations=5, booted_after_s=1.0, delivered_after_s=9.5, queued=3, net_s=0.25),
    ], {"fault.outage": 5, "fault.reboot": 2, "fault.connector": 4, "fault.connector.recovered": 3})
    _write_shard(tmp_path / "b", [
        _outage(600.0, stations=5, booted_after_s=3.25, delivered_after_s=3.5, queued=2, net_s=0.5),
        _outage(1800.0, stations=5, booted_after_s=1.5, delivered_after_s=2.0, queued=0, net_s=0.75),
    ], {"fault.outage": 5, "fault.reboot": 1, "fault.connector": 1, "fault.connector.recovered": 1})

    document = merge_results([tmp_path / "a", tmp_path / "b"], tmp_path / "merged")

    faults = document["faults"]
    assert faults["injected"] == {"connector": 5, "connector.recovered": 4, "outage": 10, "reboot": 3}
    assert faults["outages"] == [
        {"at_s": 600.0, "for_s": 60.0, "stations": 10, "queued_transaction_messages": 9,
         "booted_after_s": 3.25, "booted_after_net_s": 1.5, "delivered_after_s": 4.0, "not_booted": 0,
         "undelivered": 0},
        {"at_s": 1800.0, "for_s": 60.0, "stations": 10, "queued_transaction_messages": 3,
         "booted_after_s": 1.5, "booted_after_net_s": 0.75, "delivered_after_s": 9.5, "not_booted": 0,
         "undelivered": 0},
    ]
    # What merge returns is what it wrote.
    assert json.loads((tmp_path / "merged" / "summary.json").read_text())["faults"] == faults


def test_a_shard_that_never_recovered_leaves_the_fleet_unrecovered(tmp_path: Path) -> None:
    _write_shard(tmp_path / "a", [_outage(600.0, stations=5, booted_after_s=2.0, delivered_after_s=3.0)], {})
    _write_shard(tmp_path / "b", [_outage(600.0, stations=5, booted_after_s=None, delivered_after_s=None,
                                          not_booted=2, undelivered=1)], {})
    (outage,) = merge_results([tmp_path / "a", tmp_path / "b"], tmp_path / "merged")["faults"]["outages"]
    assert outage["booted_after_s"] is None and outage["delivered_after_s"] is None
    assert (outage["not_booted"], outage["undelivered"], outage["stations"]) == (2, 1, 10)


def test_merging_through_the_cli_keeps_the_outages(tmp_path: Path) -> None:
    _write_shard(tmp_path / "a", [_outage(600.0, stations=5, booted_after_s=2.0, delivered_after_s=3.0)],
                 {"fault.outage": 5})
    _write_shard(tmp_path / "b", [_outage(600.0, stations=5, booted_after_s=6.0, delivered_after_s=1.0)],
                 {"fault.outage": 5})
    result = CliRunner().invoke(merge_command, [str(tmp_path / "a"), str(tmp_path / "b"), "-o",
                                                str(tmp_path / "merged")])
    assert result.exit_code == 0, result.output
    faults = json.loads((tmp_path / "merged" / "summary.json").read_text())["faults"]
    assert faults["injected"] == {"outage": 10}
    assert [(o["booted_after_s"], o["delivered_after_s"]) for o in faults["outages"]] == [(6.0, 3.0)]


def test_shards_without_outages_merge_to_none(tmp_path: Path) -> None:
    _write_shard(tmp_path / "a", [], {"fault.drop": 1})
    _write_shard(tmp_path / "b", [], {})
    assert merge_results([tmp_path / "a", tmp_path / "b"], tmp_path / "merged")["faults"] == {
        "injected": {"drop": 1}, "outages": []}


def test_a_broken_outage_in_a_shard_is_named(tmp_path: Path) -> None:
    _write_shard(tmp_path / "a", [_outage(600.0, stations=5, booted_after_s=2.0, delivered_after_s=3.0)], {})
    summary_path = tmp_path / "a" / "summary.json"
    document = json.loads(summary_path.read_text())
    document["faults"]["outages"][0]["stations"] = "five"
    summary_path.write_text(json.dumps(document))
    with pytest.raises(MergeError, match=r"a/summary.json: faults.outages: .*stations"):
        merge_results([tmp_path / "a"], tmp_path / "merged")


def test_merge_outages_keeps_the_order_of_the_outages_and_leaves_its_inputs_alone() -> None:
    first = [_outage(1800.0, stations=1, booted_after_s=1.0, delivered_after_s=1.0),
             _outage(600.0, stations=1, booted_after_s=1.0, delivered_after_s=1.0)]
    second = [_outage(600.0, stations=2, booted_after_s=5.0, delivered_after_s=1.0)]
    merged = merge_outages([first, second])
    assert [(o.at_s, o.stations, o.booted_after_s) for o in merged] == [(600.0, 3, 5.0), (1800.0, 1, 1.0)]
    assert first[1].stations == 1 and first[1].booted_after_s == 1.0
