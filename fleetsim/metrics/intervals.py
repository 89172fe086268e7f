"""Results written as the run goes: at every interval tick, the interval's
histograms go to ``latency.hlog`` and a row to ``timeseries.csv`` and
``timeseries_p99.csv`` (layouts: results/README.md), each file flushed, so a
killed run leaves everything up to its last interval.

Pure: the engine passes the elapsed time and the census; the wall-clock time of
a row is the run's start plus the elapsed time.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

import msgspec

from fleetsim.metrics import hlog
from fleetsim.metrics.histogram import Histogram, new_histogram
from fleetsim.metrics.live import ActionLatency, LagFigures, LastInterval, lag_figures
from fleetsim.metrics.recorder import Recorder, fold_into

HLOG_FILE: Final = "latency.hlog"
TIMESERIES_FILE: Final = "timeseries.csv"
P99_FILE: Final = "timeseries_p99.csv"
TIMESERIES_HEADER: Final = ("elapsed_s", "wall_time", "interval_s", "connected", "booted", "charging",
                            "messages_out_per_s", "messages_in_per_s", "answered", "errors", "timeouts")
P99_HEADER: Final = ("elapsed_s", "wall_time", "action", "count", "p99_ms", "service_p99_ms")


class Census(msgspec.Struct, frozen=True):
    """The fleet at a tick: stations now, and messages so far (cumulative; the
    writer turns them into rates)."""

    connected: int = 0
    booted: int = 0
    charging: int = 0
    messages_out: int = 0
    messages_in: int = 0


class IntervalWriter:
    def __init__(self, out_dir: Path, recorder: Recorder, start_wall: datetime) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.recorder = recorder
        self.start_wall = start_wall
        self._hlog = (out_dir / HLOG_FILE).open("w", encoding="utf-8", newline="\n")
        self._rows_file = (out_dir / TIMESERIES_FILE).open("w", encoding="utf-8", newline="")
        self._p99_file = (out_dir / P99_FILE).open("w", encoding="utf-8", newline="")
        self._rows = csv.writer(self._rows_file, lineterminator="\n")
        self._p99 = csv.writer(self._p99_file, lineterminator="\n")
        self._hlog.write(hlog.header(start_wall))
        self._rows.writerow(TIMESERIES_HEADER)
        self._p99.writerow(P99_HEADER)
        self._flush()
        self._last_s = 0.0
        self._last_census = Census()
        self._last_outcomes = (0, 0, 0)
        # Per action, the interval's corrected and service histograms added over
        # models (for its fleet-wide p99); reused, zeroed after each tick.
        self._fleet: dict[str, tuple[Histogram, Histogram]] = {}
        self.closed = False
        # The figures of the last closed interval, for the live views: replaced
        # whole at each tick, never changed (another thread may read it).
        self.last = LastInterval()

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
        tick land in the interval that is being closed."""
        start_s, length_s = self._last_s, max(0.0, elapsed_s - self._last_s)
        self._last_s = max(elapsed_s, self._last_s)
        wall = self._wall(elapsed_s)
        self._write_row(elapsed_s, wall, length_s, census)
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
            self._hlog.writelines(sorted(lines, key=lambda line: line.split(",", 1)[0]))
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
        if view in ("corrected", "service"):
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
        self.closed = True
        for file in (self._hlog, self._rows_file, self._p99_file):
            file.close()

    def _write_row(self, elapsed_s: float, wall: str, length_s: float, census: Census) -> None:
        last = self._last_census
        outcomes = _outcomes(self.recorder)
        answered, errors, timeouts = (now - before for now, before in zip(outcomes, self._last_outcomes, strict=True))
        self._last_census, self._last_outcomes = census, outcomes
        per_s = 1.0 / length_s if length_s > 0 else 0.0
        self._rows.writerow((
            f"{elapsed_s:.3f}", wall, f"{length_s:.3f}", census.connected, census.booted, census.charging,
            f"{(census.messages_out - last.messages_out) * per_s:.1f}",
            f"{(census.messages_in - last.messages_in) * per_s:.1f}", answered, errors, timeouts,
        ))

    def _wall(self, elapsed_s: float) -> str:
        return (self.start_wall + timedelta(seconds=elapsed_s)).isoformat(timespec="milliseconds")

    def _flush(self) -> None:
        for file in (self._hlog, self._rows_file, self._p99_file):
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


def _ms(value_us: int) -> str:
    return f"{value_us / 1000:.3f}"
