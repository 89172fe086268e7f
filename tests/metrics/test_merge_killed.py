"""Rebuilding killed runs with ``fleetsim merge``: a torn last line is dropped
and named, the interval and the declared timeouts come from the shard itself,
and a damaged folder is refused naming the file and field (exit code 2)."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from fleetsim.cli import main
from fleetsim.engine.run import FleetShare, RunSpec
from fleetsim.metrics.intervals import Census, IntervalWriter
from fleetsim.metrics.merge import MergeError, merge_results
from fleetsim.metrics.recorder import Recorder
from fleetsim.metrics.results import summary_document, write_summary
from fleetsim.profiles.builtin import encode_profile, get_profile

START = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
BUILTIN_10S = "bionever-bss011k-v1000"  # declares a 10 s response timeout
PER_INTERVAL = 20


def _run(out: Path, model_id: str = BUILTIN_10S, *, intervals: int = 3, interval_s: float = 5.0,
         summary: bool = False, timeout_s: float = 10.0) -> Recorder:
    """A fleet of one model answering PER_INTERVAL Heartbeats (4 ms) and
    sending 10 messages a second, ticked every ``interval_s``."""
    recorder = Recorder()
    writer = IntervalWriter(out, recorder, START)
    for index in range(intervals):
        stats = recorder.model(model_id, timeout_s).exchange("Heartbeat")
        for _ in range(PER_INTERVAL):
            stats.record_answer(0.0, 0.0, 0.004)
        end_s = (index + 1) * interval_s
        writer.tick(end_s, Census(connected=3, booted=3, messages_out=round(10 * end_s)))
    writer.close(intervals * interval_s, Census(connected=3, booted=3, messages_out=round(10 * intervals * interval_s)))
    if summary:
        spec = RunSpec(fleet=(FleetShare(model_id, 3),), duration_s=intervals * interval_s, seed=3,
                       interval_s=interval_s)
        write_summary(out, summary_document(recorder, spec, None, run_id=out.name, host="test"))
    return recorder


def _tear_last_line(path: Path) -> None:
    text = path.read_text()
    last_start = text.rstrip("\n").rfind("\n") + 1
    path.write_text(text[:last_start + (len(text) - last_start) // 2])


def _answered(document: dict) -> int:
    return sum(exchange["answered"] for exchange in document["fleet"]["exchanges"].values())


def test_a_torn_last_log_line_is_dropped_and_named(tmp_path: Path) -> None:
    _run(tmp_path / "a")
    log = tmp_path / "a" / "latency.hlog"
    lines = log.read_text().splitlines()
    _tear_last_line(log)
    merged = merge_results([tmp_path / "a"], tmp_path / "m")
    assert _answered(merged) == 3 * PER_INTERVAL
    views = [line.split(".", 1)[0] for line in (tmp_path / "m" / "latency.hlog").read_text().splitlines()
             if line.startswith("Tag=")]
    assert views.count("Tag=corrected") == 3 and views.count("Tag=service") == 2  # the last line was torn
    assert merged["run"]["dropped"] == [f"a/latency.hlog line {len(lines)} dropped (torn: "
                                        + merged["run"]["dropped"][0].split("(torn: ", 1)[1]]
    result = CliRunner().invoke(main, ["merge", str(tmp_path / "a"), "-o", str(tmp_path / "cli")])
    assert result.exit_code == 0, result.output
    assert f"a/latency.hlog line {len(lines)} dropped" in result.output


def test_a_damaged_log_line_before_the_last_is_refused_naming_file_and_line(tmp_path: Path) -> None:
    _run(tmp_path / "a")
    log = tmp_path / "a" / "latency.hlog"
    lines = log.read_text().splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines) if line.startswith("Tag="))
    lines[first] = lines[first][:60] + "\n"
    log.write_text("".join(lines))
    with pytest.raises(MergeError, match=rf"latency\.hlog: line {first + 1} "):
        merge_results([tmp_path / "a"], tmp_path / "m")
    result = CliRunner().invoke(main, ["merge", str(tmp_path / "a"), "-o", str(tmp_path / "cli")])
    assert result.exit_code == 2
    assert f"line {first + 1}" in result.output


def test_a_killed_shard_keeps_its_interval_and_rates(tmp_path: Path) -> None:
    _run(tmp_path / "a", interval_s=5.0)
    merged = merge_results([tmp_path / "a"], tmp_path / "m")
    assert merged["run"]["interval_s"] == 5.0
    with (tmp_path / "m" / "timeseries.csv").open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert [(row["elapsed_s"], row["interval_s"], row["messages_out_per_s"]) for row in rows] == [
        ("5.000", "5.000", "10.0"), ("10.000", "5.000", "10.0"), ("15.000", "5.000", "10.0")]
    lengths = {line.split(",")[2] for line in (tmp_path / "m" / "latency.hlog").read_text().splitlines()
               if line.startswith("Tag=")}
    assert lengths == {"5.000"}


def test_a_killed_shard_takes_declared_timeouts_from_its_profiles_or_the_built_in_ones(tmp_path: Path) -> None:
    _run(tmp_path / "builtin", BUILTIN_10S)
    _run(tmp_path / "own", "own-model")
    (tmp_path / "own" / "profiles").mkdir()
    (tmp_path / "own" / "profiles" / "own-model.json").write_bytes(
        encode_profile(get_profile("taeseongcontech-tsct-2007cp")))  # declares 60 s
    _run(tmp_path / "unknown", "nobody-knows")
    merged = merge_results([tmp_path / "builtin", tmp_path / "own", tmp_path / "unknown"], tmp_path / "m")
    models = merged["models"]
    assert models[BUILTIN_10S]["declared_timeout_s"] == 10.0
    assert models[BUILTIN_10S]["exchanges"]["Heartbeat"]["declared_timeout_ms"] == 10_000.0
    assert models["own-model"]["declared_timeout_s"] == 60.0
    assert models["nobody-knows"]["declared_timeout_s"] is None
    unknown = models["nobody-knows"]["exchanges"]["Heartbeat"]
    assert unknown["declared_timeout_ms"] is None and unknown["corrected_over_declared_share"] is None
    assert merged["fleet"]["exchanges"]["Heartbeat"]["declared_timeout_ms"] is None


def _summary(folder: Path) -> dict:
    return json.loads((folder / "summary.json").read_text())


@pytest.mark.parametrize(("damage", "words"), [
    (lambda text: text[: len(text) // 2], r"summary\.json: not readable JSON"),
    (lambda text: text.replace('"answered"', '"answerd"'), r"summary\.json: models\.bionever-\S+: .*answered"),
    (lambda text: text.replace('"declared_timeout_s"', '"timeout"'), r"summary\.json: .*declared_timeout_s"),
    (lambda text: text.replace('"timeouts": 0', '"timeouts": "none"'), r"summary\.json: .*timeouts"),
])
def test_a_damaged_summary_is_refused_naming_the_file_and_field(tmp_path: Path, damage, words: str) -> None:
    _run(tmp_path / "a", summary=True)
    path = tmp_path / "a" / "summary.json"
    path.write_text(damage(path.read_text()))
    with pytest.raises(MergeError, match=words):
        merge_results([tmp_path / "a"], tmp_path / "m")
    result = CliRunner().invoke(main, ["merge", str(tmp_path / "a"), "-o", str(tmp_path / "cli")])
    assert result.exit_code == 2
    assert "summary.json" in result.output


def test_a_torn_last_time_series_row_is_dropped_and_a_bad_middle_row_refused(tmp_path: Path) -> None:
    _run(tmp_path / "a", summary=True)
    series = tmp_path / "a" / "timeseries.csv"
    whole = series.read_text()
    _tear_last_line(series)
    merged = merge_results([tmp_path / "a"], tmp_path / "m")
    assert merged["run"]["dropped"][0].startswith("a/timeseries.csv line 4 dropped (torn: ")
    assert len((tmp_path / "m" / "timeseries.csv").read_text().splitlines()) == 1 + 2
    series.write_text(whole.replace("\n", "\n12,", 2).replace("\n12,", "\n", 1))
    with pytest.raises(MergeError, match=r"timeseries\.csv: line 3: "):
        merge_results([tmp_path / "a"], tmp_path / "m2")


def test_the_merged_run_keeps_the_common_scenario_and_simulated_start(tmp_path: Path) -> None:
    for name in ("a", "b"):
        _run(tmp_path / name, summary=True)
        document = _summary(tmp_path / name)
        document["run"].update(scenario="depot-evening", simulated_start="2025-06-01T18:00:00+02:00")
        write_summary(tmp_path / name, document)
    document = _summary(tmp_path / "b")
    document["run"]["scenario"] = "depot-night"
    write_summary(tmp_path / "b", document)
    merged = merge_results([tmp_path / "a", tmp_path / "b"], tmp_path / "m")["run"]
    assert merged["scenario"] is None
    assert merged["simulated_start"] == "2025-06-01T18:00:00+02:00"
    assert merged["dropped"] == []
