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
unknown and count as zero.  Its interval length comes from its
``timeseries.csv`` (or its log), each model's declared response timeout from
the shard's ``profiles/`` or the built-in profiles (else it is unknown: null).
A killed run may leave the last line of its log or time series torn: that
line is dropped and named in ``run.dropped``; a damaged line before the last
is a :class:`MergeError`.
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
from fleetsim.metrics.percentiles import DEFAULT_PERCENTILES, checked_list, reported
from fleetsim.metrics.recorder import ModelStats, OutageRecovery, Recorder, merge_outages
from fleetsim.metrics.results import SCHEMA_VERSION, SUMMARY_FILE, write_summary
from fleetsim.metrics.summary import recorder_summary
from fleetsim.profiles.builtin import ProfileError, load_builtin, load_profile_file
from fleetsim.station.build import DEFAULT_RESPONSE_TIMEOUT_S

# Stands in for an unknown declared timeout while counting (no answer is over
# it); the merged summary then shows null for everything judged against it.
_UNKNOWN_TIMEOUT_S: Final = 3600.0


class MergeError(Exception):
    """A folder that cannot be merged (no ``latency.hlog``, shards of other
    formats, a damaged file): the message names the file and what is wrong."""


class _Exchange(msgspec.Struct):
    answered: int
    errors: dict[str, int]
    timeouts: int
    late: int


class _Reaction(msgspec.Struct):
    declared_max_ms: float | None = None


class _Model(msgspec.Struct):
    """What merging takes from a model in a shard's ``summary.json``."""

    declared_timeout_s: float | None
    counters: dict[str, int] = {}
    reactions: dict[str, _Reaction] = {}
    exchanges: dict[str, _Exchange] = {}


class _Shard:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        if not (folder / HLOG_FILE).is_file():
            raise MergeError(f"{folder}: no {HLOG_FILE}, not a fleetsim results folder")
        self.summary = _read_summary(folder / SUMMARY_FILE)
        self.run: dict[str, Any] = self.summary.get("run", {})
        self.models = _models(folder / SUMMARY_FILE, self.summary)
        self.start_s = hlog.read_start_s(folder / HLOG_FILE)
        self.dropped: list[str] = []  # torn last lines, as "<file> line <n> dropped (...)"
        self.interval_s = _interval_s(self)

    def declared_timeout_s(self, model_id: str) -> float | None:
        """The model's declared response timeout: its summary's, else its
        profile's (the shard's ``profiles/``, else built in), else unknown."""
        if model_id in self.models:
            return self.models[model_id].declared_timeout_s
        path = self.folder / "profiles" / f"{model_id}.json"
        try:
            profile = load_profile_file(path) if path.is_file() else load_builtin().get(model_id)
        except ProfileError as error:
            raise MergeError(f"{path}: {error}") from error
        if profile is None:
            return None
        # As the run's stations judged their answers (fleetsim.station.build).
        return profile.performance.response.declared_max_s or DEFAULT_RESPONSE_TIMEOUT_S


def _read_summary(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        document = json.loads(path.read_bytes())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MergeError(f"{path}: not readable JSON ({error}); without the file the folder merges as a killed "
                         "run (histograms only)") from error
    if not isinstance(document, dict) or not isinstance(document.get("run"), dict):
        raise MergeError(f"{path}: not a fleetsim summary (no 'run' section)")
    if document.get("schema_version") != SCHEMA_VERSION:
        raise MergeError(f"{path}: summary schema {document.get('schema_version')!r}, expected {SCHEMA_VERSION}")
    return document


def _models(path: Path, summary: dict[str, Any]) -> dict[str, _Model]:
    models = summary.get("models", {})
    if not isinstance(models, dict):
        raise MergeError(f"{path}: models: expected an object")
    converted = {}
    for model_id, figures in models.items():
        try:
            converted[model_id] = msgspec.convert(figures, _Model)
        except msgspec.ValidationError as error:
            raise MergeError(f"{path}: models.{model_id}: {error}") from error
    return converted


def _interval_s(shard: _Shard) -> float | None:
    """The shard's interval: as its summary says, else its time series' rows
    (the last may be shorter), else its log's first line."""
    declared = shard.run.get("interval_s")
    if isinstance(declared, int | float) and declared > 0:
        return float(declared)
    rows = _timeseries_rows(shard, [])
    if rows:
        return max(float(row["interval_s"]) for row in rows)
    first = next(iter(hlog.read_hlog(shard.folder / HLOG_FILE, [])), None)
    return first.length_s if first is not None and first.length_s > 0 else None


def merge_results(dirs: list[Path], out: Path) -> dict[str, Any]:
    """Merge the run folders ``dirs`` into ``out`` (``summary.json``,
    ``latency.hlog``, ``timeseries.csv``, ``timeseries_p99.csv``, the union of
    ``profiles/``) and return the merged summary."""
    if not dirs:
        raise MergeError("nothing to merge")
    shards = [_Shard(folder) for folder in dirs]
    interval_s = max((s.interval_s for s in shards if s.interval_s is not None), default=1.0)
    start_s = min((s.start_s for s in shards if s.start_s is not None), default=0.0)
    out.mkdir(parents=True, exist_ok=True)
    recorder, unknown = Recorder(), set[str]()
    for shard in shards:
        _add_counts(recorder, shard, unknown)
    recorder.outages = merge_outages(_outages(shard) for shard in shards)
    _merge_hlogs(shards, out, recorder, start_s, interval_s, unknown)
    _merge_timeseries(shards, out, start_s, interval_s)
    _copy_profiles(shards, out)
    run = _merged_run(shards, out, interval_s)
    document = {"schema_version": SCHEMA_VERSION, "run": run, **recorder_summary(recorder, run["percentiles"])}
    _unknown_timeouts(document, unknown)
    write_summary(out, document)
    return document


# ---------------------------------------------------------------- counts (summary.json)


def _model(recorder: Recorder, model_id: str, declared_timeout_s: float | None, unknown: set[str]) -> ModelStats:
    if model_id not in recorder.models and declared_timeout_s is None:
        unknown.add(model_id)
    return recorder.model(model_id, _UNKNOWN_TIMEOUT_S if declared_timeout_s is None else declared_timeout_s)


def _add_counts(recorder: Recorder, shard: _Shard, unknown: set[str]) -> None:
    for model_id, figures in shard.models.items():
        model = _model(recorder, model_id, figures.declared_timeout_s, unknown)
        model.counters.update(figures.counters)
        for name, reaction in figures.reactions.items():
            if reaction.declared_max_ms is not None:
                model.declared_reaction_max_s[name] = reaction.declared_max_ms / 1000
        for action, exchange in figures.exchanges.items():
            stats = model.exchange(action)
            stats.answered += exchange.answered
            stats.errors.update(exchange.errors)
            stats.timeouts += exchange.timeouts
            stats.late += exchange.late
    gc = (shard.summary.get("simulator") or {}).get("gc_collections") or {}
    try:
        counts = msgspec.convert(gc, dict[str, int])
    except msgspec.ValidationError as error:
        raise MergeError(f"{shard.folder / SUMMARY_FILE}: simulator.gc_collections: {error}") from error
    for generation, count in counts.items():
        recorder.simulator_counters[f"gc.collections.{generation}"] += count


def _unknown_timeouts(document: dict[str, Any], unknown: set[str]) -> None:
    """Null every figure judged against a declared timeout no shard told."""
    actions = set()
    for model_id in unknown:
        model = document["models"][model_id]
        model["declared_timeout_s"] = None
        for action, exchange in model["exchanges"].items():
            exchange["declared_timeout_ms"] = exchange["corrected_over_declared_share"] = None
            actions.add(action)
    for action in actions:  # the fleet's tightest timeout, and its share over them, are unknown too
        exchange = document["fleet"]["exchanges"][action]
        exchange["declared_timeout_ms"] = exchange["corrected_over_declared_share"] = None


def _outages(shard: _Shard) -> list[OutageRecovery]:
    outages = shard.summary.get("faults", {}).get("outages", [])
    try:
        return msgspec.convert(outages, list[OutageRecovery])
    except msgspec.ValidationError as error:
        raise MergeError(f"{shard.folder / SUMMARY_FILE}: faults.outages: {error}") from error


def _total(recorder: Recorder, tag: str, shard: _Shard, unknown: set[str]) -> Histogram:
    """The cumulative histogram a tag's lines add into."""
    view, model_id, name = hlog.split_tag(tag)
    if view == "simulator":
        name = tag.partition(".")[2]
        recorder.simulator_interval.setdefault(name, new_histogram())
        return recorder.simulator.setdefault(name, new_histogram())
    if view not in ("corrected", "service", "reaction") or not model_id:
        raise MergeError(f"{shard.folder / HLOG_FILE}: unknown hlog tag {tag!r}")
    model = recorder.models.get(model_id) or _model(recorder, model_id, shard.declared_timeout_s(model_id), unknown)
    if view == "reaction":
        model.reactions_interval.setdefault(name, new_histogram())
        return model.reactions.setdefault(name, new_histogram())
    stats = model.exchange(name)
    return stats.corrected if view == "corrected" else stats.service


# ---------------------------------------------------------------- latency.hlog


def _merge_hlogs(shards: list[_Shard], out: Path, recorder: Recorder, start_s: float, interval_s: float,
                 unknown: set[str]) -> None:
    """Stream every shard's intervals in time order (a merged interval at a
    time in memory: a histogram is 188 KB, an hour of them would not fit)."""
    streams = [_tagged(shard, recorder, unknown) for shard in shards]
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


def _tagged(shard: _Shard, recorder: Recorder, unknown: set[str]) -> Iterator[tuple[hlog.LoggedInterval, Histogram]]:
    counted = bool(shard.summary)
    torn: list[hlog.TornLine] = []
    try:
        for logged in hlog.read_hlog(shard.folder / HLOG_FILE, torn):
            if logged.tag is None:
                raise MergeError(f"{shard.folder / HLOG_FILE}: an hlog line without a tag")
            total = _total(recorder, logged.tag, shard, unknown)
            view, model_id, action = hlog.split_tag(logged.tag)
            if not counted and view == "corrected":  # no summary: the answers are the histogram's
                recorder.models[model_id].exchanges[action].answered += logged.histogram.total_count
            yield logged, total
    except hlog.HlogError as error:
        raise MergeError(str(error)) from error
    shard.dropped.extend(f"{shard.folder.name}/{line.text()}" for line in torn)


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
        view, _, action = hlog.split_tag(tag)
        if view in ("corrected", "service"):
            pair = fleet.setdefault(action, (new_histogram(), new_histogram()))
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


def _timeseries_rows(shard: _Shard, dropped: list[str]) -> list[dict[str, Any]]:
    """The rows of a shard's ``timeseries.csv``, each checked.  A last row cut
    short (no line end, or fields missing: the run was killed writing it) is
    dropped and named in ``dropped``; a bad row before it is a MergeError."""
    path = shard.folder / TIMESERIES_FILE
    if not path.is_file():
        return []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        raise MergeError(f"{path}: cannot read: {error}") from error
    lines = text.splitlines(keepends=True)
    rows: list[dict[str, Any]] = []
    for number, row in enumerate(csv.DictReader(lines), start=2):
        last = number == len(lines)
        try:
            if last and not lines[-1].endswith("\n"):
                raise ValueError("no line end")
            rows.append(_timeseries_row(row))
        except (KeyError, TypeError, ValueError) as error:
            if not last:
                raise MergeError(f"{path}: line {number}: not a time-series row ({error})") from error
            dropped.append(f"{shard.folder.name}/{TIMESERIES_FILE} line {number} dropped (torn: {error})")
    return rows


def _timeseries_row(row: dict[str, Any]) -> dict[str, Any]:
    if None in row.values() or None in row:
        raise ValueError("wrong number of fields")
    checked: dict[str, Any] = {name: int(row[name]) for name in (*_GAUGES, *_COUNTS)}
    checked.update(interval_s=float(row["interval_s"]), wall_time=datetime.fromisoformat(row["wall_time"]),
                   messages_out_per_s=float(row["messages_out_per_s"]),
                   messages_in_per_s=float(row["messages_in_per_s"]))
    return checked


def _merge_timeseries(shards: list[_Shard], out: Path, start_s: float, interval_s: float) -> None:
    """Gauges (stations now) are the shards' last values in the interval,
    added; messages and outcomes are added as counts, then made rates again."""
    merged: dict[int, Counter[str]] = {}
    for shard in shards:
        gauges: dict[int, dict[str, int]] = {}
        for row in _timeseries_rows(shard, shard.dropped):
            length_s = row["interval_s"]
            index = _index(row["wall_time"].timestamp() - length_s, start_s, interval_s)
            totals = merged.setdefault(index, Counter())
            gauges[index] = {name: row[name] for name in _GAUGES}
            totals["messages_out"] += round(row["messages_out_per_s"] * length_s)
            totals["messages_in"] += round(row["messages_in_per_s"] * length_s)
            totals.update({name: row[name] for name in _COUNTS})
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
        "id": out.name, "fleetsim_version": __version__, "host": "merged", "scenario": common("scenario"),
        "seed": common("seed"), "fleet": dict(sorted(fleet.items())),
        "duration_s": max((r.get("duration_s") or 0.0 for r in runs), default=0.0),
        "speed": common("speed"), "simulated_start": common("simulated_start"), "interval_s": interval_s,
        "percentiles": _percentiles(shards),
        "completed": all(r.get("completed", False) for r in runs),
        "dropped": [line for shard in shards for line in shard.dropped],
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


def _percentiles(shards: list[_Shard]) -> list[float]:
    """Every percentile a shard reported (one of an older fleetsim: the default list)."""
    listed = [p for shard in shards for p in shard.run.get("percentiles") or DEFAULT_PERCENTILES]
    try:
        return list(reported(checked_list(listed)))
    except (TypeError, ValueError) as error:
        raise MergeError(f"run.percentiles of a shard: {error}") from error


def _copy_profiles(shards: list[_Shard], out: Path) -> None:
    for shard in shards:
        source = shard.folder / "profiles"
        if source.is_dir():
            (out / "profiles").mkdir(exist_ok=True)
            for path in source.glob("*.json"):
                shutil.copyfile(path, out / "profiles" / path.name)
