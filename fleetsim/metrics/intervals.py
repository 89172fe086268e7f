"""Results written as the run goes: at every interval tick, the interval's
histograms go to ``latency.hlog`` and a row to ``timeseries.csv`` and
``timeseries_p99.csv``, and what happened to the run (injected faults) to
``events.csv`` (layouts: results/README.md), each file flushed, so a killed run
leaves everything up to its last interval.

Pure: the engine passes the elapsed time and the census; the wall-clock time of
a row is the run's start plus the elapsed time.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

import msgspec

from fleetsim.metrics import hlog
from fleetsim.metrics.histogram import Histogram, new_histogram
from fleetsim.metrics.live import ActionLatency, LagFigures, LastInterval, lag_figures
from fleetsim.metrics.recorder import Recorder, fold_into
from fleetsim.metrics.summary import CONNECT

HLOG_FILE: Final = "latency.hlog"
TIMESERIES_FILE: Final = "timeseries.csv"
P99_FILE: Final = "timeseries_p99.csv"
EVENTS_FILE: Final = "events.csv"
# The first columns of timeseries.csv, as every fleetsim wrote them (and
# `fleetsim merge` writes them); readers find later columns by name.
TIMESERIES_HEADER: Final = ("elapsed_s", "wall_time", "interval_s", "connected", "booted", "charging",
                            "messages_out_per_s", "messages_in_per_s", "answered", "errors", "timeouts")
# Appended, so that readers of the first columns read on: connection attempts
# in the interval and the fleet-wide p99 of their setup time (empty: none).
CONNECTION_COLUMNS: Final = ("connects", "connect_failures", "connect_p99_ms")
P99_HEADER: Final = ("elapsed_s", "wall_time", "action", "count", "p99_ms", "service_p99_ms")
# An event's batch (one storm's cuts) is written once no part of it came for
# this long (real seconds): a killed run loses at most that much of its events.
EVENT_SETTLE_S: Final = 5.0
EVENTS_HEADER: Final = ("elapsed_s", "wall_time", "kind", "label", "span_s", "stations", "at_s")


class Census(msgspec.Struct, frozen=True):
    """The fleet at a tick: stations now, and messages so far (cumulative; the
    writer turns them into rates)."""

    connected: int = 0
    booted: int = 0
    charging: int = 0
    messages_out: int = 0
    messages_in: int = 0


class RunEvent(msgspec.Struct, frozen=True, kw_only=True):
    """Something that happened to the run at a moment of it: an injected
    fault (``kind`` ``storm``, ``outage``, ``drop``, ``reboot``,
    ``power_loss``, ``connector``); a later feature may add others (stages)."""

    elapsed_s: float  # real seconds since the run's start
    kind: str
    label: str = ""  # what else names it (a connector fault's error code)
    span_s: float = 0.0  # real seconds it lasts (an outage, a power loss); 0: a moment
    stations: int = 0  # stations (or connections) it hit
    at_s: float | None = None  # when the scenario asked for it (simulated seconds)


class IntervalWriter:
    def __init__(self, out_dir: Path, recorder: Recorder, start_wall: datetime) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.recorder = recorder
        self.start_wall = start_wall
        self._hlog = (out_dir / HLOG_FILE).open("w", encoding="utf-8", newline="\n")
        self._rows_file = (out_dir / TIMESERIES_FILE).open("w", encoding="utf-8", newline="")
        self._p99_file = (out_dir / P99_FILE).open("w", encoding="utf-8", newline="")
        self._events_file = (out_dir / EVENTS_FILE).open("w", encoding="utf-8", newline="")
        self._files = (self._hlog, self._rows_file, self._p99_file, self._events_file)
        self._rows = csv.writer(self._rows_file, lineterminator="\n")
        self._p99 = csv.writer(self._p99_file, lineterminator="\n")
        self._events = csv.writer(self._events_file, lineterminator="\n")
        self._hlog.write(hlog.header(start_wall))
        self._rows.writerow(TIMESERIES_HEADER + CONNECTION_COLUMNS)
        self._p99.writerow(P99_HEADER)
        self._events.writerow(EVENTS_HEADER)
        self._flush()
        self._last_s = 0.0
        self._last_census = Census()
        self._last_outcomes = (0, 0, 0)
        self._last_failures = 0
        # Per action, the interval's corrected and service histograms added over
        # models (for its fleet-wide p99); reused, zeroed after each tick.
        self._fleet: dict[str, tuple[Histogram, Histogram]] = {}
        self._connect = new_histogram()  # the interval's setup times, over models
        # An event not written yet: the faults of one batch (a storm cuts
        # thousands of stations at the same scheduled time) become one row.
        self._pending: RunEvent | None = None
        self._pending_last_s = 0.0  # when the pending batch last grew
        self.closed = False
        # The figures of the last closed interval, for the live views: replaced
        # whole at each tick, never changed (another thread may read it).
        self.last = LastInterval()
        # The last interval's lines of latency.hlog, as written: what a worker
        # process hands its coordinator, which adds them to other workers'.
        self.last_lines: tuple[str, ...] = ()

    def event(self, event: RunEvent) -> None:
        """Note what happened to the run (written at the first tick
        EVENT_SETTLE_S after its batch's last part, at the latest).  Consecutive
        events of one kind, scheduled for the same time, are one row with
        their stations added: a storm cutting thousands of stations over a
        few seconds is one storm."""
        if self.closed:
            return
        pending = self._pending
        if pending is not None and (pending.kind, pending.at_s, pending.label) == (event.kind, event.at_s,
                                                                                   event.label):
            self._pending = msgspec.structs.replace(pending, stations=pending.stations + event.stations,
                                                    span_s=max(pending.span_s, event.span_s))
            self._pending_last_s = event.elapsed_s
            return
        self._write_event()
        self._pending, self._pending_last_s = event, event.elapsed_s

    def _write_event(self, before_s: float = math.inf) -> None:
        """Write the pending event if its batch's last part came before ``before_s``."""
        event = self._pending
        if event is not None and self._pending_last_s <= before_s:
            self._pending = None
            self._events.writerow((f"{event.elapsed_s:.3f}", self._wall(event.elapsed_s), event.kind, event.label,
                                   f"{event.span_s:.3f}", event.stations,
                                   "" if event.at_s is None else f"{event.at_s:.3f}"))

    def tick(self, elapsed_s: float, census: Census) -> None:
        """The interval that ends at ``elapsed_s`` (seconds since the run's start)."""
        for _ in self.tick_steps(elapsed_s, census):
            pass

    def tick_steps(self, elapsed_s: float, census: Census) -> Iterator[None]:
        """:meth:`tick`, in steps.  Encoding and folding cost about 80 µs per
        series, and a fleet of five models has a hundred series: done at once,
        that would stall the event loop for milliseconds every interval, and
        the stall would show up as CSMS latency.  The engine runs its other
        tasks between the steps.  Each series is logged and folded in one step,
        so no record is lost or counted twice; records that arrive during the
        tick land in the interval that is being closed.  The time-series row
        is written last, with the setup times the steps added up."""
        start_s, length_s = self._last_s, max(0.0, elapsed_s - self._last_s)
        self._last_s = max(elapsed_s, self._last_s)
        wall = self._wall(elapsed_s)
        # A batch under way (a storm's thousands of cuts take seconds, ticks
        # come in between) stays one row: written once it stopped growing.
        self._write_event(before_s=elapsed_s - max(EVENT_SETTLE_S, length_s / 2))
        lines: list[str] = []
        latencies: list[ActionLatency] = []
        lags: list[LagFigures] = []
        try:
            for tag, interval, total in self.recorder.series():
                if interval.total_count:
                    lines.append(hlog.interval_line(tag, start_s, length_s, interval))
                    self._add_to_fleet(tag, interval)
                    if tag.startswith("simulator."):
                        lags.append(lag_figures(tag.removeprefix("simulator."), interval))
                    fold_into(total, interval)
                    yield
            for action in sorted(self._fleet):
                if self._write_p99(elapsed_s, wall, action, latencies):
                    yield
        finally:
            # Also when the engine abandons the tick (the run was cancelled):
            # what was folded must be in the log and its p99 rows written.
            # Series not reached yet go into the next (the last) interval.
            ordered = sorted(lines, key=lambda line: line.split(",", 1)[0])
            self._hlog.writelines(ordered)
            self.last_lines = tuple(ordered)
            self._write_row(elapsed_s, wall, length_s, census)
            for action in sorted(self._fleet):
                self._write_p99(elapsed_s, wall, action, latencies)
            self._flush()
            self.last = LastInterval(elapsed_s, length_s, tuple(latencies), tuple(lags))

    def _write_p99(self, elapsed_s: float, wall: str, action: str, latencies: list[ActionLatency]) -> bool:
        """The action's row of the interval, if it had calls (and not written
        yet); its figures go to ``latencies`` too."""
        corrected, service = self._fleet[action]
        if not corrected.total_count:
            return False
        values = corrected.values_at_percentiles((50.0, 99.0))
        self._p99.writerow((f"{elapsed_s:.3f}", wall, action, corrected.total_count,
                            _ms(values[99.0]), _ms(service.get_value_at_percentile(99.0))))
        latencies.append(ActionLatency(action, corrected.total_count, values[50.0] / 1000, values[99.0] / 1000))
        corrected.zero()
        service.zero()
        return True

    def _add_to_fleet(self, tag: str, interval: Histogram) -> None:
        view, _, action = hlog.split_tag(tag)
        if view == "reaction" and action == CONNECT:
            self._connect.add(interval)
        elif view in ("corrected", "service"):
            pair = self._fleet.get(action)
            if pair is None:
                pair = self._fleet[action] = (new_histogram(), new_histogram())
            pair[view == "service"].add(interval)

    def close(self, elapsed_s: float, census: Census) -> None:
        """The last, possibly shorter, interval; then the files are closed."""
        if self.closed:
            return
        if elapsed_s > self._last_s or any(interval.total_count for _, interval, _ in self.recorder.series()):
            self.tick(elapsed_s, census)
        self._write_event()
        self.closed = True
        for file in self._files:
            file.close()

    def _write_row(self, elapsed_s: float, wall: str, length_s: float, census: Census) -> None:
        last = self._last_census
        outcomes = _outcomes(self.recorder)
        answered, errors, timeouts = (now - before for now, before in zip(outcomes, self._last_outcomes, strict=True))
        failures = _connect_failures(self.recorder)
        self._last_census, self._last_outcomes = census, outcomes
        failed, self._last_failures = failures - self._last_failures, failures
        connect = self._connect
        connect_p99 = _ms(connect.get_value_at_percentile(99.0)) if connect.total_count else ""
        per_s = 1.0 / length_s if length_s > 0 else 0.0
        self._rows.writerow((
            f"{elapsed_s:.3f}", wall, f"{length_s:.3f}", census.connected, census.booted, census.charging,
            f"{(census.messages_out - last.messages_out) * per_s:.1f}",
            f"{(census.messages_in - last.messages_in) * per_s:.1f}", answered, errors, timeouts,
            connect.total_count, failed, connect_p99,
        ))
        connect.zero()

    def _wall(self, elapsed_s: float) -> str:
        return (self.start_wall + timedelta(seconds=elapsed_s)).isoformat(timespec="milliseconds")

    def _flush(self) -> None:
        for file in self._files:
            file.flush()


def _outcomes(recorder: Recorder) -> tuple[int, int, int]:
    """(answered, errors, timeouts) so far, over all models and actions."""
    answered = errors = timeouts = 0
    for model in recorder.models.values():
        for stats in model.exchanges.values():
            answered += stats.answered
            errors += sum(stats.errors.values())
            timeouts += stats.timeouts
    return answered, errors, timeouts


def _connect_failures(recorder: Recorder) -> int:
    """Failed connection attempts so far (``connect.failed.<reason>``), over
    all models, injected outages included."""
    return sum(n for model in recorder.models.values() for name, n in model.counters.items()
               if name.startswith("connect.failed."))


def _ms(value_us: int) -> str:
    return f"{value_us / 1000:.3f}"
