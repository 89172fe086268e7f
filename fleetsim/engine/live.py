"""Live metrics of a running fleet over HTTP, in the Prometheus text format
(or OpenMetrics, when the scraper asks for it): ``fleetsim run
--metrics-port``.  Served by the ``prometheus-client`` library's HTTP server,
in a thread of its own.

The event loop publishes a :class:`~fleetsim.metrics.live.LiveSnapshot` once
a second by replacing one reference; a scrape reads the latest snapshot,
which nothing changes once published (frozen structs and tuples), so the
server thread never iterates a dict the event loop is mutating.

Every series is named ``fleetsim_*`` (the list: README, "Live metrics").
Counters count since the start of the run; latency gauges are those of the
last closed interval (``--interval``), fleet-wide per action.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily

from fleetsim.metrics.live import LiveSnapshot

__all__ = ["MetricsEndpoint", "families"]


def families(snapshot: LiveSnapshot, run_id: str) -> Iterator[Any]:
    """The metric families of one snapshot."""
    s = snapshot
    yield InfoMetricFamily("fleetsim_run", "The run these metrics are of", value={"run_id": run_id})
    for name, text, value in (
        ("fleetsim_elapsed_seconds", "Time since the start of the run", s.elapsed_s),
        ("fleetsim_duration_seconds", "The run's requested duration", s.duration_s),
        ("fleetsim_fleet_stations", "Stations in the fleet", s.fleet),
        ("fleetsim_stations_started", "Stations the ramp has started", s.started),
        ("fleetsim_stations_connected", "Stations connected now", s.connected),
        ("fleetsim_stations_booted", "Stations connected and Accepted by the CSMS now", s.booted),
        ("fleetsim_connectors_charging", "Connectors charging now", s.charging),
    ):
        yield GaugeMetricFamily(name, text, value=value)
    for name, text, value in (("fleetsim_messages_sent", "OCPP messages sent", s.messages_out),
                              ("fleetsim_messages_received", "OCPP messages received", s.messages_in)):
        yield CounterMetricFamily(name, text, value=value)
    yield from _calls(s)
    yield from _connections(s)
    yield from _latency(s)


def _calls(s: LiveSnapshot) -> Iterator[Any]:
    calls = CounterMetricFamily("fleetsim_calls", "Calls the stations sent that were answered or timed out",
                                labels=["model", "action"])
    timeouts = CounterMetricFamily("fleetsim_call_timeouts", "Calls not answered within the model's declared "
                                   "response timeout", labels=["model", "action"])
    errors = CounterMetricFamily("fleetsim_call_errors", "CALLERROR answers, by OCPP-J error code",
                                 labels=["model", "action", "code"])
    for counts in s.calls:
        calls.add_metric([counts.model, counts.action], counts.calls)
        timeouts.add_metric([counts.model, counts.action], counts.timeouts)
        for code, n in counts.errors:
            errors.add_metric([counts.model, counts.action, code], n)
    yield from (calls, timeouts, errors)


def _connections(s: LiveSnapshot) -> Iterator[Any]:
    connects = CounterMetricFamily("fleetsim_connects", "WebSocket connections opened", labels=["model"])
    reconnects = CounterMetricFamily("fleetsim_reconnects", "Connections reopened by stations that had been "
                                     "connected", labels=["model"])
    failures = CounterMetricFamily("fleetsim_connect_failures", "Failed connection attempts, by reason",
                                   labels=["model", "reason"])
    disconnects = CounterMetricFamily("fleetsim_disconnects", "Connections lost before the end, by reason",
                                      labels=["model", "reason"])
    ever = GaugeMetricFamily("fleetsim_stations_ever", "Stations that connected / were Accepted at least once",
                             labels=["model", "state"])
    for model, counters in s.connections:
        named = dict(counters)
        connects.add_metric([model], named.get("connect.ok", 0))
        reconnects.add_metric([model], named.get("connect.reconnect", 0))
        ever.add_metric([model, "connected"], named.get("stations.connected", 0))
        ever.add_metric([model, "booted"], named.get("stations.booted", 0))
        for name, n in counters:
            if name.startswith("connect.failed."):
                failures.add_metric([model, name.removeprefix("connect.failed.")], n)
            elif name.startswith("disconnect."):
                disconnects.add_metric([model, name.removeprefix("disconnect.")], n)
    yield from (connects, reconnects, failures, disconnects, ever)


def _latency(s: LiveSnapshot) -> Iterator[Any]:
    interval = s.last_interval
    yield GaugeMetricFamily("fleetsim_interval_seconds", "Length of the last closed interval, which the "
                            "fleetsim_interval_* series are of", value=interval.length_s)
    latency = GaugeMetricFamily("fleetsim_interval_latency_seconds", "Latency of the last interval's answers, "
                                "corrected for coordinated omission, fleet-wide", labels=["action", "quantile"])
    answers = GaugeMetricFamily("fleetsim_interval_answers", "Answers received in the last interval",
                                labels=["action"])
    limits = GaugeMetricFamily("fleetsim_declared_timeout_seconds", "The smallest declared response timeout of "
                               "the models that sent the action", labels=["action"])
    for action_latency in interval.actions:
        latency.add_metric([action_latency.action, "0.5"], _seconds(action_latency.p50_ms))
        latency.add_metric([action_latency.action, "0.99"], _seconds(action_latency.p99_ms))
        answers.add_metric([action_latency.action], action_latency.count)
    for action, limit_ms in s.declared_ms:
        limits.add_metric([action], _seconds(limit_ms))
    lag = GaugeMetricFamily("fleetsim_simulator_lag_seconds", "The simulator's own lag in the last interval: "
                            "event loop, timers, GC pauses (quantile 1: the maximum)", labels=["series", "quantile"])
    for figures in interval.simulator:
        lag.add_metric([figures.series, "0.99"], _seconds(figures.p99_ms))
        lag.add_metric([figures.series, "1"], _seconds(figures.max_ms))
    yield from (latency, answers, limits, lag)


def _seconds(ms: float) -> float:
    return round(ms / 1000, 9)  # the histograms' µs, without the float noise of the division


class _Latest:
    """A prometheus_client collector of whatever snapshot is the latest."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.snapshot: LiveSnapshot | None = None

    def collect(self) -> Iterator[Any]:
        snapshot = self.snapshot  # one read: the event loop replaces it whole
        if snapshot is not None:
            yield from families(snapshot, self.run_id)


class MetricsEndpoint:
    """The HTTP server, started at once in a daemon thread."""

    def __init__(self, address: str, port: int, run_id: str) -> None:
        self._latest = _Latest(run_id)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(self._latest)  # type: ignore[arg-type]
        self._server, self._thread = start_http_server(port, addr=address, registry=registry)
        host, bound_port = self._server.server_address[:2]
        self.url = f"http://{f'[{host}]' if ':' in str(host) else host}:{bound_port}/metrics"

    def publish(self, snapshot: LiveSnapshot) -> None:
        self._latest.snapshot = snapshot

    def close(self) -> None:
        # shutdown() waits for serve_forever() to notice (up to its 0.5 s poll).
        closer = threading.Thread(target=self._server.shutdown, daemon=True)
        closer.start()
        closer.join(timeout=2.0)
        self._server.server_close()
