"""Merging run folders: the shards of one test run on several machines (or
several processes) become one results folder, as if one simulator had run the
whole fleet.

Histograms are added (from the shards' ``latency.hlog``), counters are added
(from their ``summary.json``), and every percentile is computed afresh from the
sums: percentiles are never averaged.  The shards' CSMS outages (``faults`` in
``summary.json``) merge per outage: the fleet recovered when its slowest shard
did.  Intervals are aligned by wall-clock time, matching the shards' own
intervals rather than re-gridding them (:mod:`fleetsim.metrics.align`), so a
single folder merges into exactly itself.

A shard without ``summary.json`` (a killed run) still gives its histograms;
its counts other than the answers (errors, timeouts, counters) are then
unknown and count as zero.  Its intervals come from its ``timeseries.csv``
and its log, each model's declared response timeout from
the shard's ``profiles/`` or the built-in profiles (else it is unknown: null).
A killed run may leave the last line of its log or time series torn: that
line is dropped and named in ``run.dropped``; a damaged line before the last
is a :class:`MergeError`.
"""

from __future__ import annotations

import bisect
import csv
import heapq
import json
import shutil
import statistics
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, NamedTuple

import msgspec

from fleetsim import __version__
from fleetsim.metrics import hlog
from fleetsim.metrics.align import Interval, Slot, align
from fleetsim.metrics.histogram import Histogram, new_histogram
from fleetsim.metrics.intervals import HLOG_FILE, P99_FILE, P99_HEADER
from fleetsim.metrics.merge_series import (
    MergeError,
    read_events,
    read_timeseries,
    write_events,
    write_timeseries,
)
from fleetsim.metrics.percentiles import DEFAULT_PERCENTILES, checked_list, reported
from fleetsim.metrics.recorder import ModelStats, OutageRecovery, Recorder, merge_outages
from fleetsim.metrics.results import SCENARIO_FILE, SCHEMA_VERSION, SUMMARY_FILE, write_summary
from fleetsim.metrics.stages import merged_stages
from fleetsim.metrics.summary import CONNECT, recorder_summary
from fleetsim.profiles.builtin import ProfileError, load_builtin, load_profile_file
from fleetsim.station.build import DEFAULT_RESPONSE_TIMEOUT_S

# Stands in for an unknown declared timeout while counting (no answer is over
# it); the merged summary then shows null for everything judged against it.
_UNKNOWN_TIMEOUT_S: Final = 3600.0


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


class _Own(NamedTuple):
    """One of a shard's intervals, seconds after the shard's start, with its
    time-series row if it has one (the row of a killed run's last interval
    may be torn, and a log need not come with a time series)."""

    start_s: float
    end_s: float
    length_s: float
    row: dict[str, Any] | None


class _Shard:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        if not (folder / HLOG_FILE).is_file():
            raise MergeError(f"{folder}: no {HLOG_FILE}, not a fleetsim results folder")
        self.summary = _read_summary(folder / SUMMARY_FILE)
        self.run: dict[str, Any] = self.summary.get("run", {})
        self.models = _models(folder / SUMMARY_FILE, self.summary)
        self.start = hlog.read_start(folder / HLOG_FILE)
        # Log times are epoch seconds; the time series' are seconds since the start.
        self.origin_s = self.start.timestamp() if self.start is not None else 0.0
        self.dropped: list[str] = []  # torn last lines, as "<file> line <n> dropped (...)"
        self.own = _own_intervals(self, read_timeseries(folder, self.dropped))
        self.events = read_events(folder, self.dropped)
        self._starts = [own.start_s for own in self.own]
        self.interval_s = _interval_s(self)
        self.offset_s = 0.0  # its start after the merged run's, once known
        self.slots: list[int] = []  # the merged interval of each of its own

    def slot_at(self, start_epoch_s: float) -> int:
        """The merged interval of the own interval that starts nearest to
        ``start_epoch_s`` (every logged interval is one of them)."""
        starts, at = self._starts, start_epoch_s - self.origin_s
        k = bisect.bisect_left(starts, at)
        nearest = min((i for i in (k - 1, k) if 0 <= i < len(starts)), key=lambda i: abs(starts[i] - at))
        return self.slots[nearest]

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


# Two starts this close are the same interval's (each file rounds to 1 ms).
_SAME_START_S: Final = 0.002


def _own_intervals(shard: _Shard, rows: list[dict[str, Any]]) -> list[_Own]:
    """The time series' intervals (contiguous: each starts where the one
    before ended, the first at 0), and any the log has beyond them."""
    own, end_s = [], 0.0
    for row in rows:
        own.append(_Own(end_s, row["elapsed_s"], row["interval_s"], row))
        end_s = row["elapsed_s"]
    starts = [interval.start_s for interval in own]
    for span in hlog.read_spans(shard.folder / HLOG_FILE):
        start_s = span.start_epoch_s - shard.origin_s
        k = bisect.bisect_left(starts, start_s - _SAME_START_S)
        if k == len(starts) or starts[k] > start_s + _SAME_START_S:
            starts.insert(k, start_s)
            own.insert(k, _Own(start_s, start_s + span.length_s, span.length_s, None))
    return own


def _interval_s(shard: _Shard) -> float | None:
    """The shard's interval: as its summary says, else the typical length of
    its intervals (not the first: the ramp may stretch it; not the last: a
    run's last interval is shorter)."""
    declared = shard.run.get("interval_s")
    if isinstance(declared, int | float) and declared > 0:
        return float(declared)
    lengths = [own.length_s for own in shard.own[:-1] if own.length_s > 0] or \
        [own.length_s for own in shard.own if own.length_s > 0]
    return statistics.median(lengths) if lengths else None


def merge_results(dirs: list[Path], out: Path) -> dict[str, Any]:
    """Merge the run folders ``dirs`` into ``out`` (``summary.json``,
    ``latency.hlog``, ``timeseries.csv``, ``timeseries_p99.csv``, the union of
    ``profiles/``) and return the merged summary."""
    if not dirs:
        raise MergeError("nothing to merge")
    shards = [_Shard(folder) for folder in dirs]
    scenario = _common_scenario(shards)  # before anything is written: shards of two tests do not merge
    interval_s = max((s.interval_s for s in shards if s.interval_s is not None), default=1.0)
    start = min((s.start for s in shards if s.start is not None), default=datetime.fromtimestamp(0, UTC))
    slots = _align(shards, start)
    out.mkdir(parents=True, exist_ok=True)
    recorder, unknown = Recorder(), set[str]()
    for shard in shards:
        _add_counts(recorder, shard, unknown)
    recorder.outages = merge_outages(_outages(shard) for shard in shards)
    connect_p99_ms = _merge_hlogs(shards, out, recorder, start, slots, unknown)
    write_timeseries(out, slots, lambda i, k: shards[i].own[k].row, lambda slot: _slot_time(slot, shards, start),
                     connect_p99_ms)
    write_events(out, [(shard.offset_s, shard.events) for shard in shards])
    _copy_profiles(shards, out)
    if scenario is not None:
        (out / SCENARIO_FILE).write_bytes(scenario)
    run = _merged_run(shards, out, interval_s)
    document = {"schema_version": SCHEMA_VERSION, "run": run, **recorder_summary(recorder, run["percentiles"])}
    _unknown_timeouts(document, unknown)
    if any("stages" in shard.summary for shard in shards):
        document["stages"] = _merged_stages(shards, out, start, run["percentiles"])
    write_summary(out, document)
    return document


def _merged_stages(shards: list[_Shard], out: Path, start: datetime, percentiles: list[float]) -> list[dict[str, Any]]:
    """Each stage's plateau over every shard (fleetsim.metrics.stages)."""
    origin_s = start.timestamp()
    intervals = ((logged.start_epoch_s - origin_s, logged.length_s, logged.tag or "", logged.histogram)
                 for logged in hlog.read_hlog(out / HLOG_FILE))
    try:
        return merged_stages([shard.summary.get("stages") or [] for shard in shards], intervals, percentiles)
    except ValueError as error:
        raise MergeError(str(error)) from None


def _align(shards: list[_Shard], start: datetime) -> list[Slot]:
    for shard in shards:
        shard.offset_s = shard.origin_s - start.timestamp()
    slots = align([[Interval(shard.offset_s + own.start_s, shard.offset_s + own.end_s, own.length_s)
                    for own in shard.own] for shard in shards],
                  [shard.interval_s for shard in shards if shard.interval_s is not None])
    for shard in shards:
        shard.slots = [0] * len(shard.own)
    for index, slot in enumerate(slots):
        for i, k in slot.members:
            shards[i].slots[k] = index
    return slots


def _slot_time(slot: Slot, shards: list[_Shard], start: datetime) -> tuple[str, str]:
    """The merged interval's end as elapsed seconds and wall-clock time: a
    shard's own row's when one ended it (a folder merges into itself to the
    millisecond), else computed from the merged run's start."""
    for i, k in slot.members:
        own = shards[i].own[k]
        if own.row is not None and shards[i].offset_s + own.end_s == slot.end_s:
            return f"{slot.end_s:.3f}", own.row["wall_time"].isoformat(timespec="milliseconds")
    return f"{slot.end_s:.3f}", _wall(start, slot.end_s)


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
            model.exchange(action).add_counts(exchange.answered, exchange.errors, exchange.timeouts, exchange.late)
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


def _merge_hlogs(shards: list[_Shard], out: Path, recorder: Recorder, start: datetime, slots: list[Slot],
                 unknown: set[str]) -> dict[int, str]:
    """Stream every shard's intervals in merged-interval order (a merged
    interval at a time in memory: a histogram is 188 KB, an hour of them
    would not fit).  Returns each merged interval's connection setup p99 (ms,
    as timeseries.csv writes it) from the added ``reaction.*.connect``."""
    connect_p99_ms: dict[int, str] = {}
    streams = [_tagged(shard, recorder, unknown) for shard in shards]
    ordered = heapq.merge(*streams, key=lambda item: item[0])
    with (out / HLOG_FILE).open("w", encoding="utf-8", newline="\n") as log, \
            (out / P99_FILE).open("w", encoding="utf-8", newline="") as p99_file:
        log.write(hlog.header(start))
        p99 = csv.writer(p99_file, lineterminator="\n")
        p99.writerow(P99_HEADER)
        for index, items in _by_slot(ordered):
            slot, current = slots[index], dict[str, Histogram]()
            for _, logged, total in items:
                total.add(logged.histogram)
                current.setdefault(logged.tag or "", new_histogram()).add(logged.histogram)
            for tag in sorted(current):
                log.write(hlog.interval_line(tag, slot.start_s, slot.length_s, current[tag]))
            _write_p99_rows(p99, current, *_slot_time(slot, shards, start))
            connect = new_histogram()
            for tag, histogram in current.items():
                view, _, name = hlog.split_tag(tag)
                if view == "reaction" and name == CONNECT:
                    connect.add(histogram)
            if connect.total_count:
                connect_p99_ms[index] = f"{connect.get_value_at_percentile(99.0) / 1000:.3f}"
    return connect_p99_ms


_Logged = tuple[int, hlog.LoggedInterval, Histogram]  # merged interval, the line, the total it adds into


def _tagged(shard: _Shard, recorder: Recorder, unknown: set[str]) -> Iterator[_Logged]:
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
            yield shard.slot_at(logged.start_epoch_s), logged, total
    except hlog.HlogError as error:
        raise MergeError(str(error)) from error
    shard.dropped.extend(f"{shard.folder.name}/{line.text()}" for line in torn)


def _by_slot(ordered: Iterable[_Logged]) -> Iterator[tuple[int, list[_Logged]]]:
    index, items = -1, list[_Logged]()
    for item in ordered:
        if item[0] != index and items:
            yield index, items
            items = []
        index = item[0]
        items.append(item)
    if items:
        yield index, items


def _write_p99_rows(p99: Any, current: dict[str, Histogram], elapsed: str, wall: str) -> None:
    fleet: dict[str, tuple[Histogram, Histogram]] = {}
    for tag, histogram in current.items():
        view, _, action = hlog.split_tag(tag)
        if view in ("corrected", "service"):
            pair = fleet.setdefault(action, (new_histogram(), new_histogram()))
            pair[view == "service"].add(histogram)
    for action, (corrected, service) in sorted(fleet.items()):
        if corrected.total_count:
            p99.writerow((elapsed, wall, action, corrected.total_count,
                          f"{corrected.get_value_at_percentile(99.0) / 1000:.3f}",
                          f"{service.get_value_at_percentile(99.0) / 1000:.3f}"))


def _wall(start: datetime, elapsed_s: float) -> str:
    return (start + timedelta(seconds=elapsed_s)).isoformat(timespec="milliseconds")


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
        "id": out.name, "fleetsim_version": __version__, "build": common("build"), "host": "merged",
        "scenario": common("scenario"),
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
    if any("stages" in r for r in runs):
        merged.update(stages=common("stages"), ramp_per_s=common("ramp_per_s"))
    if all("stations_started" in r for r in runs):
        merged["stations_started"] = sum(r["stations_started"] for r in runs)
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


def _common_scenario(shards: list[_Shard]) -> bytes | None:
    """The scenario copy the shards share (``fleetsim gate`` judges the merged
    run by its thresholds), or None if none has one.  A shard killed before
    its end has none (it is written last) and takes the others'; finished
    shards that ran different scenarios, or one without, are a MergeError."""
    copies = {shard.folder: _scenario_copy(shard) for shard in shards}
    finished = [shard.folder for shard in shards if shard.summary]
    present = [folder for folder, copy in copies.items() if copy is not None]
    if not present:
        return None
    first = present[0]
    for folder in present[1:]:
        if copies[folder] != copies[first]:
            raise MergeError(f"{first / SCENARIO_FILE} and {folder / SCENARIO_FILE} differ"
                             f"{_first_difference(copies[first], copies[folder])}: shards of one test run one "
                             "scenario; merge the runs of each scenario apart")
    for folder in finished:
        if copies[folder] is None:
            raise MergeError(f"{folder} ran without a scenario file, {first} with one ({SCENARIO_FILE}): shards of "
                             "one test run one scenario")
    return copies[first]


def _scenario_copy(shard: _Shard) -> bytes | None:
    path = shard.folder / SCENARIO_FILE
    try:
        return path.read_bytes() if path.is_file() else None
    except OSError as error:
        raise MergeError(f"{path}: cannot read: {error.strerror or error}") from error


def _first_difference(a: bytes, b: bytes) -> str:
    lines_a = a.decode("utf-8", "replace").splitlines()
    lines_b = b.decode("utf-8", "replace").splitlines()
    for number, (line_a, line_b) in enumerate(zip(lines_a, lines_b, strict=False), 1):
        if line_a != line_b:
            return f" from line {number} ({line_a[:60]!r} vs {line_b[:60]!r})"
    return f" in length ({len(lines_a)} vs {len(lines_b)} lines)"
