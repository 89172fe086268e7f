"""Merging run folders: the shards of one test run on several machines (or
several processes) become one results folder, as if one simulator had run the
whole fleet.

Histograms are added (from the shards' ``latency.hlog``), counters are added
(from their ``summary.json``), and every percentile is computed afresh from the
sums: percentiles are never averaged.  The shards' CSMS outages (``faults`` in
``summary.json``) merge per outage: the fleet recovered when its slowest shard
did.  Intervals are aligned by wall-clock time: a shard's interval goes into
the merged interval in which it began.

A shard without ``summary.json`` (a killed run) still gives its histograms;
its counts other than the answers (errors, timeouts, counters) are then
unknown and count as zero.
"""

from __future__ import annotations

import csv
import heapq
import json
import math
import shutil
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import msgspec

from fleetsim import __version__
from fleetsim.metrics import hlog
from fleetsim.metrics.histogram import Histogram, new_histogram
from fleetsim.metrics.intervals import HLOG_FILE, P99_FILE, P99_HEADER, TIMESERIES_FILE, TIMESERIES_HEADER
from fleetsim.metrics.recorder import OutageRecovery, Recorder, merge_outages
from fleetsim.metrics.results import SCHEMA_VERSION, write_summary
from fleetsim.metrics.summary import recorder_summary

DEFAULT_TIMEOUT_S: Final = 30.0  # a model no shard's summary declares (fleetsim.station.build's default)
SUMMARY_FILE: Final = "summary.json"


class MergeError(Exception):
    """A folder that cannot be merged (no ``latency.hlog``, shards of other formats)."""


class _Shard:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        if not (folder / HLOG_FILE).is_file():
            raise MergeError(f"{folder}: no {HLOG_FILE}, not a fleetsim results folder")
        summary_path = folder / SUMMARY_FILE
        self.summary: dict[str, Any] = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
        if self.summary.get("schema_version", SCHEMA_VERSION) != SCHEMA_VERSION:
            raise MergeError(f"{folder}: summary schema {self.summary['schema_version']}, expected {SCHEMA_VERSION}")
        self.start_s = hlog.read_start_s(folder / HLOG_FILE)
        self.run: dict[str, Any] = self.summary.get("run", {})


def merge_results(dirs: list[Path], out: Path) -> dict[str, Any]:
    """Merge the run folders ``dirs`` into ``out`` (``summary.json``,
    ``latency.hlog``, ``timeseries.csv``, ``timeseries_p99.csv``, the union of
    ``profiles/``) and return the merged summary."""
    if not dirs:
        raise MergeError("nothing to merge")
    shards = [_Shard(folder) for folder in dirs]
    interval_s = max((float(s.run.get("interval_s", 1.0)) for s in shards), default=1.0)
    start_s = min((s.start_s for s in shards if s.start_s is not None), default=0.0)
    out.mkdir(parents=True, exist_ok=True)
    recorder = Recorder()
    for shard in shards:
        _add_counts(recorder, shard.summary)
    recorder.outages = merge_outages(_outages(shard) for shard in shards)
    _merge_hlogs(shards, out, recorder, start_s, interval_s)
    _merge_timeseries(shards, out, start_s, interval_s)
    _copy_profiles(shards, out)
    document = {"schema_version": SCHEMA_VERSION, "run": _merged_run(shards, out, interval_s),
                **recorder_summary(recorder)}
    write_summary(out, document)
    return document


# ---------------------------------------------------------------- counts (summary.json)


def _add_counts(recorder: Recorder, summary: dict[str, Any]) -> None:
    for model_id, figures in summary.get("models", {}).items():
        model = recorder.model(model_id, figures["declared_timeout_s"])
        model.counters.update(figures.get("counters", {}))
        for name, reaction in figures.get("reactions", {}).items():
            if reaction.get("declared_max_ms") is not None:
                model.declared_reaction_max_s[name] = reaction["declared_max_ms"] / 1000
        for action, exchange in figures.get("exchanges", {}).items():
            stats = model.exchange(action)
            stats.answered += exchange["answered"]
            stats.errors.update(exchange["errors"])
            stats.timeouts += exchange["timeouts"]
            stats.late += exchange["late"]
    for generation, count in summary.get("simulator", {}).get("gc_collections", {}).items():
        recorder.simulator_counters[f"gc.collections.{generation}"] += count


def _outages(shard: _Shard) -> list[OutageRecovery]:
    outages = shard.summary.get("faults", {}).get("outages", [])
    try:
        return msgspec.convert(outages, list[OutageRecovery])
    except msgspec.ValidationError as error:
        raise MergeError(f"{shard.folder / SUMMARY_FILE}: faults.outages: {error}") from error


def _total(recorder: Recorder, tag: str) -> Histogram:
    """The cumulative histogram a tag's lines add into."""
    view, _, rest = tag.partition(".")
    if view == "simulator":
        recorder.simulator_interval.setdefault(rest, new_histogram())
        return recorder.simulator.setdefault(rest, new_histogram())
    model_tag, _, name_tag = rest.rpartition(".")
    if view not in ("corrected", "service", "reaction") or not model_tag:
        raise MergeError(f"unknown hlog tag {tag!r}")
    model_id, name = hlog.untag_part(model_tag), hlog.untag_part(name_tag)
    model = recorder.models.get(model_id) or recorder.model(model_id, DEFAULT_TIMEOUT_S)
    if view == "reaction":
        model.reactions_interval.setdefault(name, new_histogram())
        return model.reactions.setdefault(name, new_histogram())
    stats = model.exchange(name)
    return stats.corrected if view == "corrected" else stats.service


# ---------------------------------------------------------------- latency.hlog


def _merge_hlogs(shards: list[_Shard], out: Path, recorder: Recorder, start_s: float, interval_s: float) -> None:
    """Stream every shard's intervals in time order (a merged interval at a
    time in memory: a histogram is 188 KB, an hour of them would not fit)."""
    streams = [_tagged(shard, recorder) for shard in shards]
    ordered = heapq.merge(*streams, key=lambda item: item[0].start_epoch_s)
    with (out / HLOG_FILE).open("w", encoding="utf-8", newline="\n") as log, \
            (out / P99_FILE).open("w", encoding="utf-8", newline="") as p99_file:
        log.write(hlog.header(datetime.fromtimestamp(start_s, UTC)))
        p99 = csv.writer(p99_file, lineterminator="\n")
        p99.writerow(P99_HEADER)
        for index, items in _by_interval(ordered, start_s, interval_s):
            current: dict[str, Histogram] = {}
            for logged, total in items:
                total.add(logged.histogram)
                current.setdefault(logged.tag or "", new_histogram()).add(logged.histogram)
            for tag in sorted(current):
                log.write(hlog.interval_line(tag, index * interval_s, interval_s, current[tag]))
            _write_p99_rows(p99, current, start_s, (index + 1) * interval_s)


def _tagged(shard: _Shard, recorder: Recorder) -> Iterator[tuple[hlog.LoggedInterval, Histogram]]:
    counted = bool(shard.summary)
    for logged in hlog.read_hlog(shard.folder / HLOG_FILE):
        if logged.tag is None:
            raise MergeError(f"{shard.folder}: an hlog line without a tag")
        total = _total(recorder, logged.tag)
        if not counted and logged.tag.startswith("corrected."):  # no summary: the answers are the histogram's
            model_tag, _, action = logged.tag.partition(".")[2].rpartition(".")
            recorder.models[hlog.untag_part(model_tag)].exchanges[action].answered += logged.histogram.total_count
        yield logged, total


def _by_interval(ordered: Iterable[tuple[hlog.LoggedInterval, Histogram]], start_s: float, interval_s: float,
                 ) -> Iterator[tuple[int, list[tuple[hlog.LoggedInterval, Histogram]]]]:
    index, items = -1, []
    for item in ordered:
        at = _index(item[0].start_epoch_s, start_s, interval_s)
        if at != index and items:
            yield index, items
            items = []
        index = at
        items.append(item)
    if items:
        yield index, items


def _index(epoch_s: float, start_s: float, interval_s: float) -> int:
    # The writer's ticks are late by the loop's lag, never early: a small
    # tolerance keeps a start a hair before a boundary (float rounding) in its own.
    return max(0, math.floor((epoch_s - start_s) / interval_s + 1e-6))


def _write_p99_rows(p99: Any, current: dict[str, Histogram], start_s: float, elapsed_s: float) -> None:
    fleet: dict[str, tuple[Histogram, Histogram]] = {}
    for tag, histogram in current.items():
        view, _, rest = tag.partition(".")
        if view in ("corrected", "service"):
            pair = fleet.setdefault(rest.rpartition(".")[2], (new_histogram(), new_histogram()))
            pair[view == "service"].add(histogram)
    wall = _wall(start_s, elapsed_s)
    for action, (corrected, service) in sorted(fleet.items()):
        if corrected.total_count:
            p99.writerow((f"{elapsed_s:.3f}", wall, action, corrected.total_count,
                          f"{corrected.get_value_at_percentile(99.0) / 1000:.3f}",
                          f"{service.get_value_at_percentile(99.0) / 1000:.3f}"))


def _wall(start_s: float, elapsed_s: float) -> str:
    return (datetime.fromtimestamp(start_s, UTC) + timedelta(seconds=elapsed_s)).isoformat(timespec="milliseconds")


# ---------------------------------------------------------------- timeseries.csv


_GAUGES: Final = ("connected", "booted", "charging")
_COUNTS: Final = ("answered", "errors", "timeouts")


def _merge_timeseries(shards: list[_Shard], out: Path, start_s: float, interval_s: float) -> None:
    """Gauges (stations now) are the shards' last values in the interval,
    added; messages and outcomes are added as counts, then made rates again."""
    merged: dict[int, Counter[str]] = {}
    for shard in shards:
        path = shard.folder / TIMESERIES_FILE
        if not path.is_file():
            continue
        gauges: dict[int, dict[str, int]] = {}
        with path.open(encoding="utf-8", newline="") as rows:
            for row in csv.DictReader(rows):
                length_s = float(row["interval_s"])
                began = datetime.fromisoformat(row["wall_time"]).timestamp() - length_s
                totals = merged.setdefault(_index(began, start_s, interval_s), Counter())
                gauges[_index(began, start_s, interval_s)] = {name: int(row[name]) for name in _GAUGES}
                totals["messages_out"] += round(float(row["messages_out_per_s"]) * length_s)
                totals["messages_in"] += round(float(row["messages_in_per_s"]) * length_s)
                totals.update({name: int(row[name]) for name in _COUNTS})
        for index, values in gauges.items():
            merged[index].update(values)
    with (out / TIMESERIES_FILE).open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(TIMESERIES_HEADER)
        for index in sorted(merged):
            totals, elapsed_s = merged[index], (index + 1) * interval_s
            writer.writerow((f"{elapsed_s:.3f}", _wall(start_s, elapsed_s), f"{interval_s:.3f}",
                             *(totals[name] for name in _GAUGES),
                             f"{totals['messages_out'] / interval_s:.1f}", f"{totals['messages_in'] / interval_s:.1f}",
                             *(totals[name] for name in _COUNTS)))


# ---------------------------------------------------------------- run metadata


def _merged_run(shards: list[_Shard], out: Path, interval_s: float) -> dict[str, Any]:
    runs = [shard.run for shard in shards]

    def common(key: str) -> Any:
        values = {json.dumps(run.get(key)) for run in runs}
        return runs[0].get(key) if len(values) == 1 else None

    fleet: Counter[str] = Counter()
    for run in runs:
        fleet.update(run.get("fleet", {}))
    merged: dict[str, Any] = {
        "id": out.name, "fleetsim_version": __version__, "host": "merged", "seed": common("seed"),
        "fleet": dict(sorted(fleet.items())), "duration_s": max((r.get("duration_s", 0.0) for r in runs), default=0.0),
        "speed": common("speed"), "interval_s": interval_s,
        "completed": all(r.get("completed", False) for r in runs),
    }
    if all("started_at" in r for r in runs):
        merged.update(
            started_at=min(r["started_at"] for r in runs), ended_at=max(r["ended_at"] for r in runs),
            csms=common("csms"), interrupted=any(r.get("interrupted", False) for r in runs),
            **{key: sum(r.get(key, 0) for r in runs)
               for key in ("messages_sent", "messages_received", "connect_failures")},
        )
    merged["merged_from"] = runs
    return merged


def _copy_profiles(shards: list[_Shard], out: Path) -> None:
    for shard in shards:
        source = shard.folder / "profiles"
        if source.is_dir():
            (out / "profiles").mkdir(exist_ok=True)
            for path in source.glob("*.json"):
                shutil.copyfile(path, out / "profiles" / path.name)
