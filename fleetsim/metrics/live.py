"""What a running fleet looks like now, for the live views: the terminal's
(fleetsim.report.terminal) and the Prometheus endpoint's
(fleetsim.engine.live).

A :class:`LiveSnapshot` is taken in the event loop once a second and never
changed afterwards (frozen structs and tuples all the way down), so another
thread (the endpoint's HTTP server) may read the latest one whole without
touching a dict the event loop is mutating.

Latency figures are those of the last *closed* interval (``--interval``): the
interval writer (fleetsim.metrics.intervals) computes them anyway when it logs
the interval, and publishes them as a :class:`LastInterval`.

Pure: the engine passes the elapsed time; nothing here reads a clock.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from typing import Final, Protocol

import msgspec

from fleetsim.metrics import hlog
from fleetsim.metrics.histogram import Histogram
from fleetsim.metrics.recorder import Recorder

__all__ = [
    "ActionLatency", "CallCounts", "LagFigures", "LastInterval", "LiveSnapshot", "ProgressLike", "combine_snapshots",
    "lag_figures", "merged_interval", "take_snapshot",
]

# The counters the live views show of a model's connections (summary.json's
# counters: connect.ok, connect.failed.<reason>, disconnect.<reason>, ...).
CONNECTION_PREFIXES: Final = ("connect.", "disconnect.", "stations.")


class ActionLatency(msgspec.Struct, frozen=True):
    """One action's fleet-wide latency in one interval (corrected for
    coordinated omission), over every model's answers."""

    action: str
    count: int
    p50_ms: float
    p99_ms: float


class LagFigures(msgspec.Struct, frozen=True):
    """The simulator's own lag in one interval (``loop_lag``, ``timer_lag``,
    ``gc_pause``: fleetsim.engine.watch)."""

    series: str
    count: int
    p99_ms: float
    max_ms: float


class LastInterval(msgspec.Struct, frozen=True):
    """The last interval the interval writer closed; empty before the first."""

    end_s: float = 0.0  # seconds since the start of the run
    length_s: float = 0.0
    actions: tuple[ActionLatency, ...] = ()  # actions answered in the interval, by name
    simulator: tuple[LagFigures, ...] = ()


def lag_figures(series: str, histogram: Histogram) -> LagFigures:
    return LagFigures(series, histogram.total_count, histogram.get_value_at_percentile(99.0) / 1000,
                      histogram.get_max_value() / 1000)


class CallCounts(msgspec.Struct, frozen=True):
    """One model's calls of one action so far (cumulative)."""

    model: str
    action: str
    calls: int  # answered + timed out, as summary.json's ``count``
    timeouts: int
    errors: tuple[tuple[str, int], ...]  # CALLERRORs by OCPP-J error code


class ProgressLike(Protocol):
    started: int
    connected: int
    booted: int
    charging: int
    messages_out: int
    messages_in: int
    last_interval: LastInterval


class LiveSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    elapsed_s: float
    duration_s: float
    fleet: int  # stations in the fleet
    started: int  # stations the ramp has started
    connected: int  # stations connected now
    booted: int  # stations connected and Accepted now
    charging: int  # connectors charging now
    messages_out: int  # OCPP messages so far
    messages_in: int
    out_per_s: float  # over the time since the previous snapshot
    in_per_s: float
    errors: int  # CALLERRORs so far, over models and actions
    timeouts: int
    # Per action, the smallest declared response timeout of the models that sent it.
    declared_ms: tuple[tuple[str, float], ...]
    # Per model, its connection counters (CONNECTION_PREFIXES), by name.
    connections: tuple[tuple[str, tuple[tuple[str, int], ...]], ...]
    # Per model and action (only in a detailed snapshot: the endpoint's).
    calls: tuple[CallCounts, ...] = ()
    last_interval: LastInterval = LastInterval()

    def connection_total(self, name: str) -> int:
        """A connection counter summed over models (``connect.reconnect``)."""
        return sum(dict(counters).get(name, 0) for _, counters in self.connections)

    def connect_failures(self) -> dict[str, int]:
        """Failed connection attempts so far, by reason, over models."""
        reasons: dict[str, int] = {}
        for _, counters in self.connections:
            for name, n in counters:
                if name.startswith("connect.failed."):
                    reason = name.removeprefix("connect.failed.")
                    reasons[reason] = reasons.get(reason, 0) + n
        return reasons

    def worst(self) -> tuple[ActionLatency, float] | None:
        """The last interval's action whose p99 came closest to (or went
        furthest past) its declared limit, with that limit (ms)."""
        declared = dict(self.declared_ms)
        judged = [(latency, declared[latency.action]) for latency in self.last_interval.actions
                  if declared.get(latency.action)]
        return max(judged, key=lambda pair: pair[0].p99_ms / pair[1], default=None)


def take_snapshot(progress: ProgressLike, recorder: Recorder, elapsed_s: float, *, duration_s: float, fleet: int,
                  previous: LiveSnapshot | None = None, detailed: bool = False) -> LiveSnapshot:
    """The fleet now.  Reads counters only (no histogram is merged: that would
    stall the event loop every second); the rates are over the time since
    ``previous`` (since the start without one).  ``detailed`` adds the calls
    per model and action (five models cost ~0.2 ms more)."""
    since_s = elapsed_s - (previous.elapsed_s if previous is not None else 0.0)
    out_before = previous.messages_out if previous is not None else 0
    in_before = previous.messages_in if previous is not None else 0
    errors = timeouts = 0
    declared: dict[str, float] = {}
    calls, connections = [], []
    for model_id, model in recorder.models.items():
        for action, stats in model.exchanges.items():
            if stats.errors:
                errors += sum(stats.errors.values())
            timeouts += stats.timeouts
            declared_ms = stats.declared_timeout_us / 1000
            if declared_ms < declared.get(action, math.inf):
                declared[action] = declared_ms
            if detailed:
                calls.append(CallCounts(model_id, action, stats.answered + stats.timeouts, stats.timeouts,
                                        tuple(sorted(stats.errors.items()))))
        connections.append((model_id, _counters(model.counters.items())))
    return LiveSnapshot(
        elapsed_s=elapsed_s, duration_s=duration_s, fleet=fleet, started=progress.started,
        connected=progress.connected, booted=progress.booted, charging=progress.charging,
        messages_out=progress.messages_out, messages_in=progress.messages_in,
        out_per_s=(progress.messages_out - out_before) / since_s if since_s > 0 else 0.0,
        in_per_s=(progress.messages_in - in_before) / since_s if since_s > 0 else 0.0,
        errors=errors, timeouts=timeouts, declared_ms=tuple(sorted(declared.items())),
        connections=tuple(sorted(connections)), calls=tuple(sorted(calls, key=lambda c: (c.model, c.action))),
        last_interval=progress.last_interval,
    )


def _counters(items: Iterable[tuple[str, int]]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted((name, n) for name, n in items if name.startswith(CONNECTION_PREFIXES)))


_SHOWN: Final = ("Tag=corrected.", "Tag=simulator.")


def merged_interval(end_s: float, length_s: float, lines: Iterable[str]) -> LastInterval:
    """The figures of one interval of several processes (workers, shards),
    from the lines each wrote to its latency.hlog for it: the histograms are
    added, per action over models and processes, and the percentiles read
    from the sums (never averaged)."""
    fleet: dict[str, Histogram] = {}
    lags: dict[str, Histogram] = {}
    for line in lines:
        if not line.startswith(_SHOWN):
            continue  # decoding is the cost: only the views the live view shows
        tag, histogram = hlog.parse_interval_line(line)
        view, _, name = hlog.split_tag(tag)
        if view == "corrected":
            into = fleet
        elif view == "simulator":
            into = lags
        else:
            continue
        if name in into:
            into[name].add(histogram)
        else:
            into[name] = histogram
    actions = []
    for action in sorted(fleet):
        histogram = fleet[action]
        values = histogram.values_at_percentiles((50.0, 99.0))
        actions.append(ActionLatency(action, histogram.total_count, values[50.0] / 1000, values[99.0] / 1000))
    return LastInterval(end_s, length_s, tuple(actions), tuple(lag_figures(name, lags[name]) for name in sorted(lags)))


def combine_snapshots(parts: Iterable[LiveSnapshot], *, elapsed_s: float, duration_s: float, fleet: int,
                      last_interval: LastInterval, previous: LiveSnapshot | None = None) -> LiveSnapshot:
    """One fleet's snapshot from its processes' (each a snapshot of its own
    stations): counts added, the smallest declared timeout of each action,
    the rates over the time since ``previous``, and the interval figures
    merged from the histograms (:func:`merged_interval`)."""
    parts = list(parts)
    declared: dict[str, float] = {}
    connections: dict[str, Counter[str]] = {}
    calls: dict[tuple[str, str], tuple[int, int, Counter[str]]] = {}
    for part in parts:
        for action, limit_ms in part.declared_ms:
            declared[action] = min(limit_ms, declared.get(action, math.inf))
        for model, counters in part.connections:
            connections.setdefault(model, Counter()).update(dict(counters))
        for call in part.calls:
            count, timeouts, errors = calls.get((call.model, call.action), (0, 0, Counter()))
            calls[(call.model, call.action)] = (count + call.calls, timeouts + call.timeouts,
                                                errors + Counter(dict(call.errors)))
    messages_out = sum(part.messages_out for part in parts)
    messages_in = sum(part.messages_in for part in parts)
    since_s = elapsed_s - (previous.elapsed_s if previous is not None else 0.0)
    out_before = previous.messages_out if previous is not None else 0
    in_before = previous.messages_in if previous is not None else 0
    return LiveSnapshot(
        elapsed_s=elapsed_s, duration_s=duration_s, fleet=fleet,
        started=sum(part.started for part in parts), connected=sum(part.connected for part in parts),
        booted=sum(part.booted for part in parts), charging=sum(part.charging for part in parts),
        messages_out=messages_out, messages_in=messages_in,
        out_per_s=(messages_out - out_before) / since_s if since_s > 0 else 0.0,
        in_per_s=(messages_in - in_before) / since_s if since_s > 0 else 0.0,
        errors=sum(part.errors for part in parts), timeouts=sum(part.timeouts for part in parts),
        declared_ms=tuple(sorted(declared.items())),
        connections=tuple(sorted((model, tuple(sorted(counters.items()))) for model, counters in connections.items())),
        calls=tuple(CallCounts(model, action, count, timeouts, tuple(sorted(errors.items())))
                    for (model, action), (count, timeouts, errors) in sorted(calls.items())),
        last_interval=last_interval,
    )
