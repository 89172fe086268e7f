"""A run's results folder read back for the reports (layout: results/README.md):
``summary.json``, the interval log ``latency.hlog``, ``timeseries.csv`` and
``events.csv`` (what happened to the run: injected faults, the stages' starts
and plateaus).

Long runs have thousands of intervals; a chart shows a few hundred points.
Intervals are merged into buckets by *adding* their histograms (a bucket's p99
is the p99 of its calls, never an average of interval p99s).  The log is in
time order, so only the current bucket's histograms are held.

Plain file IO; no clock.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import msgspec

from fleetsim.metrics import hlog
from fleetsim.metrics.histogram import Histogram, new_histogram
from fleetsim.metrics.intervals import EVENTS_FILE, HLOG_FILE, TIMESERIES_FILE
from fleetsim.metrics.results import SCHEMA_VERSION, SUMMARY_FILE
from fleetsim.metrics.summary import BOOT, CONNECT
from fleetsim.report.thresholds import FLEET

MAX_POINTS: Final = 240  # per chart line
# HdrHistogram's percentile plot: each step halves what is left (and more).
DISTRIBUTION_PERCENTILES: Final = (0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 75.0, 80.0, 85.0, 87.5, 90.0,
                                   92.5, 95.0, 96.25, 97.5, 98.125, 98.75, 99.0, 99.375, 99.5, 99.75, 99.8, 99.9,
                                   99.95, 99.975, 99.99, 99.995, 99.999)
OVER_TIME_PERCENTILES: Final = (50.0, 99.0)
# events.csv kinds written once per stage (results/README.md): one row each,
# never added up with another (a merged run's shards each wrote the same one).
STAGE: Final = "stage"
PLATEAU: Final = "plateau"
_ONCE_KINDS: Final = frozenset({STAGE, PLATEAU})


class ResultsError(Exception):
    """The folder has no readable ``summary.json`` of a version we know."""


class Point(msgspec.Struct, frozen=True):
    """One bucket of intervals: its end (seconds since the run's start), the
    calls in it, and their latency (ms).  ``start_s`` is where the bucket
    begins: a point whose bucket begins well after the previous point's end
    follows intervals without data (a gap, not a line)."""

    t_s: float
    count: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    start_s: float = 0.0


class Distribution(msgspec.Struct, frozen=True):
    """A whole-run histogram as a percentile curve: (percent, ms)."""

    count: int
    points: list[tuple[float, float]]
    max_ms: float


class Row(msgspec.Struct, frozen=True):
    """``timeseries.csv`` rows of a bucket: stations at its end, message rates
    over it, calls answered / failed in it."""

    t_s: float
    length_s: float
    connected: int
    booted: int
    charging: int
    out_per_s: float
    in_per_s: float
    answered: int
    errors: int
    timeouts: int
    # Connections opened and attempts failed in the bucket; None: the file
    # has no such column (written by an older fleetsim, or merged).
    connects: int | None = None
    connect_failures: int | None = None


class Event(msgspec.Struct, frozen=True):
    """What happened to the run in one bucket (``events.csv``): the events of
    one kind and label there, added.  ``t_s`` is the first one's (real
    seconds since the start), ``span_s`` the longest, ``count`` the rows."""

    t_s: float
    kind: str
    label: str = ""
    span_s: float = 0.0
    stations: int = 0
    count: int = 1
    at_s: float | None = None  # simulated, as the scenario gave it (the first one's)


class RunFolder(msgspec.Struct):
    path: Path
    summary: dict[str, Any]
    bucket_s: float = 1.0
    length_s: float = 0.0  # the run's length: its duration, or the last interval's end if later
    # action -> view ("corrected" / "service") -> points, fleet-wide
    latency: dict[str, dict[str, list[Point]]] = msgspec.field(default_factory=dict)
    # "loop_lag" / "timer_lag" / "gc_pause" -> points
    simulator: dict[str, list[Point]] = msgspec.field(default_factory=dict)
    # CONNECT (setup time) / BOOT (open to Accepted) -> points, fleet-wide
    setup: dict[str, list[Point]] = msgspec.field(default_factory=dict)
    # action -> model id, FLEET or "service" -> whole-run distribution
    distributions: dict[str, dict[str, Distribution]] = msgspec.field(default_factory=dict)
    fleet_median_ms: float | None = None
    rows: list[Row] = msgspec.field(default_factory=list)
    events: list[Event] | None = None  # None: no events.csv (an older fleetsim, or merged)
    problems: list[str] = msgspec.field(default_factory=list)  # files missing or unreadable


def read_summary(path: Path) -> dict[str, Any]:
    """``summary.json`` of a results folder (or the file itself)."""
    file = path / SUMMARY_FILE if path.is_dir() else path
    if file.exists() and not file.is_file():  # a FIFO or a device would be read forever
        raise ResultsError(f"{file} is not a regular file: is {path} a results folder of fleetsim run?")
    try:
        document = msgspec.json.decode(file.read_bytes())
    except FileNotFoundError as error:
        raise ResultsError(f"{file} does not exist: is {path} a results folder of fleetsim run?") from error
    except (OSError, msgspec.DecodeError) as error:
        raise ResultsError(f"cannot read {file}: {error}") from error
    except RecursionError:  # JSON nested past any summary
        raise ResultsError(f"cannot read {file}: nested deeper than any fleetsim summary") from None
    if not isinstance(document, dict) or not isinstance(document.get("run"), dict):
        raise ResultsError(f"{file} is not a fleetsim summary (no 'run' section)")
    if document.get("schema_version") != SCHEMA_VERSION:
        raise ResultsError(f"{file} has schema version {document.get('schema_version')!r}; "
                           f"this fleetsim reads version {SCHEMA_VERSION}")
    return document


def run_length_s(summary: dict[str, Any]) -> float:
    run = summary["run"]
    length = float(run.get("duration_s") or 0.0)
    if run.get("started_at") and run.get("ended_at"):
        started = datetime.fromisoformat(run["started_at"])
        length = max(length, (datetime.fromisoformat(run["ended_at"]) - started).total_seconds())
    return length


def read_folder(path: Path, *, max_points: int = MAX_POINTS) -> RunFolder:
    summary = read_summary(path)
    folder = RunFolder(path=path, summary=summary)
    interval_s = float(summary["run"].get("interval_s") or 1.0)
    raw_rows = _read_timeseries(path / TIMESERIES_FILE, folder.problems)
    length = max([run_length_s(summary), *(row["elapsed_s"] for row in raw_rows)])
    folder.length_s = length
    folder.bucket_s = interval_s * max(1, math.ceil(length / interval_s / max_points))
    folder.rows = _bucket_rows(raw_rows, folder.bucket_s)
    _read_hlog(path / HLOG_FILE, folder)
    if folder.rows and folder.rows[0].connects is None and (path / HLOG_FILE).exists():
        folder.rows = _connects_from_log(folder.rows, folder.setup.get(CONNECT, []), folder.bucket_s)
    folder.events = _read_events(path / EVENTS_FILE, folder.bucket_s, folder.problems)
    return folder


# ---------------------------------------------------------------- timeseries.csv


def _read_timeseries(file: Path, problems: list[str]) -> list[dict[str, float]]:
    """The rows, by column name: columns a row leaves empty (a p99 of no
    connection) or an older file lacks are not in its dict."""
    if not file.exists():
        problems.append(f"{file.name} is missing: no stations or throughput over time")
        return []
    rows = []
    try:
        with file.open(encoding="utf-8", newline="") as text:
            for row in csv.DictReader(text):
                rows.append({name: float(value) for name, value in row.items() if name != "wall_time" and value != ""})
    except (OSError, ValueError, TypeError) as error:
        problems.append(f"{file.name} could not be read past row {len(rows)}: {error}")
    return rows


def _rate(group: list[dict[str, float]], name: str) -> float:
    """A per-second rate over several intervals: weighted by their lengths."""
    length = sum(row["interval_s"] for row in group)
    return sum(row[name] * row["interval_s"] for row in group) / length if length else 0.0


def _bucket_rows(rows: list[dict[str, float]], bucket_s: float) -> list[Row]:
    buckets: dict[int, list[dict[str, float]]] = {}
    for row in rows:
        buckets.setdefault(_index(row["elapsed_s"] - row["interval_s"], bucket_s), []).append(row)
    merged = []
    for _, group in sorted(buckets.items()):
        last = group[-1]
        length = sum(row["interval_s"] for row in group)
        merged.append(Row(
            t_s=last["elapsed_s"], length_s=length, connected=int(last["connected"]), booted=int(last["booted"]),
            charging=int(last["charging"]), out_per_s=_rate(group, "messages_out_per_s"),
            in_per_s=_rate(group, "messages_in_per_s"),
            answered=int(sum(row["answered"] for row in group)), errors=int(sum(row["errors"] for row in group)),
            timeouts=int(sum(row["timeouts"] for row in group)),
            connects=_total(group, "connects"), connect_failures=_total(group, "connect_failures"),
        ))
    return merged


def _total(group: list[dict[str, float]], name: str) -> int | None:
    """A count over the bucket's rows, or None when the file has no such column."""
    return int(sum(row[name] for row in group)) if all(name in row for row in group) else None


def _connects_from_log(rows: list[Row], connects: list[Point], bucket_s: float) -> list[Row]:
    """Connections per bucket for a time series without the column: each
    opened connection logged its setup time (``reaction.<model>.connect``),
    so the log's count is the number opened; a bucket the log has no line of
    opened none.  Failed attempts stay unknown."""
    opened = {_index(point.start_s, bucket_s): point.count for point in connects}
    return [msgspec.structs.replace(row, connects=opened.get(_index(row.t_s - row.length_s, bucket_s), 0))
            for row in rows]


def _index(start_s: float, bucket_s: float) -> int:
    """The bucket an interval that begins at ``start_s`` falls in."""
    return int(max(0.0, start_s) / bucket_s + 1e-6)


# ---------------------------------------------------------------- events.csv


def _read_events(file: Path, bucket_s: float, problems: list[str]) -> list[Event] | None:
    """The events, those of one kind and label in one bucket added up (a day
    of random drops is then a few hundred marks, not a hundred thousand):
    in the order they happened."""
    if not file.exists():
        return None
    found: dict[tuple[str, str, int], Event] = {}
    try:
        with file.open(encoding="utf-8", newline="") as text:
            for number, row in enumerate(csv.DictReader(text), start=2):
                try:
                    t_s, span_s, stations = float(row["elapsed_s"]), float(row["span_s"]), int(row["stations"])
                    kind, label, at_s = row["kind"], row["label"] or "", row["at_s"]
                    at_s = float(at_s) if at_s else None
                except (KeyError, TypeError, ValueError) as error:
                    problems.append(f"{file.name} could not be read past line {number}: {error!r}")
                    break
                if kind in _ONCE_KINDS:
                    _keep_first(found, Event(t_s, kind, label, span_s, stations, 1, at_s))
                    continue
                key = (kind, label, _index(t_s, bucket_s))
                known = found.get(key)
                found[key] = Event(t_s, kind, label, span_s, stations, 1, at_s) if known is None else \
                    msgspec.structs.replace(known, span_s=max(known.span_s, span_s), stations=known.stations + stations,
                                            count=known.count + 1)
    except OSError as error:
        problems.append(f"{file.name} could not be read: {error}")
    return sorted(found.values(), key=lambda event: event.t_s)


def _keep_first(found: dict[tuple[str, str, int], Event], event: Event) -> None:
    """A stage's row (or its plateau's) once: the earliest, its target as
    written (a merged run's shards each wrote the row of the same stage, a
    few ms apart; their targets are not added)."""
    key = (event.kind, event.label, -1)
    known = found.get(key)
    if known is None or event.t_s < known.t_s:
        found[key] = event


# ---------------------------------------------------------------- latency.hlog


def _intervals(file: Path, torn: list[hlog.TornLine]) -> Iterator[tuple[str, float, float, Histogram]]:
    """(tag, start and end in seconds since the log's StartTime, histogram)."""
    origin = hlog.read_start_s(file) or 0.0
    for logged in hlog.read_hlog(file, torn):
        begin = logged.start_epoch_s - origin
        yield logged.tag or "", begin, begin + logged.length_s, logged.histogram


class _Buckets:
    """The current bucket's histograms per series key, turned into points
    when the log moves on to the next bucket."""

    def __init__(self, bucket_s: float) -> None:
        self.bucket_s = bucket_s
        self.index = -1
        self.end_s = 0.0
        self.current: dict[tuple[str, str], Histogram] = {}
        self.points: dict[tuple[str, str], list[Point]] = {}

    def add(self, key: tuple[str, str], start_s: float, end_s: float, histogram: Any) -> None:
        index = _index(start_s, self.bucket_s)
        if index != self.index:
            self.flush()
            self.index = index
        self.end_s = max(self.end_s, end_s)
        bucket = self.current.get(key)
        if bucket is None:
            bucket = self.current[key] = new_histogram()
        bucket.add(histogram)

    def flush(self) -> None:
        for key, histogram in self.current.items():
            if histogram.total_count:
                values = histogram.values_at_percentiles(OVER_TIME_PERCENTILES)
                self.points.setdefault(key, []).append(Point(
                    round(self.end_s, 3), histogram.total_count, values[50.0] / 1000, values[99.0] / 1000,
                    histogram.get_max_value() / 1000, round(self.index * self.bucket_s, 3)))
                histogram.zero()


def _read_hlog(file: Path, folder: RunFolder) -> None:
    if not file.exists():
        folder.problems.append(f"{file.name} is missing: no latency over time or distributions")
        return
    buckets = _Buckets(folder.bucket_s)
    totals: dict[tuple[str, str, str], Histogram] = {}
    lines = 0
    torn: list[hlog.TornLine] = []
    try:
        for tag, start_s, end_s, histogram in _intervals(file, torn):
            lines += 1
            view, model_id, name = hlog.split_tag(tag)
            if view == "simulator":
                buckets.add(("simulator", name), start_s, end_s, histogram)
            elif view == "reaction" and name in (CONNECT, BOOT):
                buckets.add(("setup", name), start_s, end_s, histogram)
            elif view in ("corrected", "service") and model_id:
                buckets.add((view, name), start_s, end_s, histogram)
                key = (view, model_id if view == "corrected" else FLEET, name)
                total = totals.get(key)
                if total is None:
                    total = totals[key] = new_histogram()
                total.add(histogram)
    except (OSError, hlog.HlogError) as error:  # a damaged file: show what was read before it
        folder.problems.append(f"{file.name} could not be read past interval line {lines}: {error}")
    folder.problems.extend(line.text() for line in torn)
    buckets.flush()
    for (view, name), points in buckets.points.items():
        if view == "simulator":
            folder.simulator[name] = points
        elif view == "setup":
            folder.setup[name] = points
        else:
            folder.latency.setdefault(name, {})[view] = points
    _distributions(totals, folder)


def distribution(histogram: Histogram) -> Distribution:
    """Percentiles up to where the count still tells them apart, then the max."""
    count = histogram.total_count
    wanted = [p for p in DISTRIBUTION_PERCENTILES if 100 / (100 - p) <= max(count, 2)]
    values = histogram.values_at_percentiles(wanted)
    max_ms = histogram.get_max_value() / 1000
    points = [(p, values[p] / 1000) for p in wanted]
    last_percent = min(100 - 100 / max(count, 2), 99.999)
    if not points or points[-1][0] < last_percent:
        points.append((last_percent, max_ms))
    return Distribution(count, points, max_ms)


def _distributions(totals: dict[tuple[str, str, str], Histogram], folder: RunFolder) -> None:
    fleet: dict[str, Histogram] = {}
    everything = new_histogram()
    for (view, model_id, action), histogram in sorted(totals.items()):
        section = folder.distributions.setdefault(action, {})
        if view == "service":
            section["service"] = distribution(histogram)
            continue
        section[model_id] = distribution(histogram)
        fleet.setdefault(action, new_histogram()).add(histogram)
        everything.add(histogram)
    for action, histogram in fleet.items():
        folder.distributions[action][FLEET] = distribution(histogram)
    if everything.total_count:
        folder.fleet_median_ms = everything.get_value_at_percentile(50.0) / 1000
