"""The figures of a run's connections and of its recovery from CSMS outages,
read from a decoded ``summary.json`` (results/README.md) for thresholds
(fleetsim.report.thresholds): connection setup and boot times, connection
counts, how much of the fleet ever connected and booted, and how long each
outage took to recover from.

A figure the summary cannot give comes back as the reason, never as zero: a
gate that passes because there was nothing to judge would hide a broken run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import msgspec

from fleetsim.metrics.percentiles import is_latency_key
from fleetsim.metrics.summary import BOOT, CONNECT, FIGURE_KEYS

__all__ = [
    "CONNECTION_COUNTS", "CONNECTION_METRICS", "CONNECTION_RATES", "OUTAGE_METRICS", "SETUP_LATENCIES",
    "STATIONS_BOOTED", "Figure", "connection_figure", "describe", "fleet_stations", "outage_figures",
]

SETUP_LATENCIES: Final = tuple(f"{stage}.{key}" for stage in (CONNECT, BOOT) for key in FIGURE_KEYS)
INJECTED_OUTAGE: Final = "outage"  # the failure reason of connections an injected outage refused
# Stations of the fleet that ever connected / were ever Accepted (each once),
# as a count and as a share of the fleet (run.fleet).
_EVER: Final = {"stations.connected": "stations_connected", "stations.booted": "stations_booted"}
STATIONS_BOOTED: Final = ("stations.booted", "stations.booted.rate")  # a judge of a partial fleet (exit 4)
CONNECTION_COUNTS: Final = ("connects", "reconnects", "disconnects", "connect.failures", *_EVER)
CONNECTION_RATES: Final = ("connect.failures.rate", *(f"{metric}.rate" for metric in _EVER))
CONNECTION_METRICS: Final = SETUP_LATENCIES + CONNECTION_COUNTS + CONNECTION_RATES
OUTAGE_METRICS: Final = ("outage.booted_after", "outage.booted_after_net", "outage.delivered_after")

_DESCRIPTIONS: Final = {
    "connect": "connection setup (TCP + TLS + WebSocket handshake)",
    "boot": "connection open to BootNotification Accepted",
    "connects": "connections opened",
    "reconnects": "connections reopened by stations that had been connected",
    "disconnects": "connections lost before the end of the run",
    "connect.failures": "failed connection attempts",
    "connect.failures.rate": "share of connection attempts that failed",
    "stations.connected": "stations that connected at least once",
    "stations.booted": "stations whose BootNotification was Accepted at least once",
    "stations.connected.rate": "share of the fleet's stations that connected at least once",
    "stations.booted.rate": "share of the fleet's stations whose BootNotification was Accepted at least once",
    "outage.booted_after": "time from a CSMS outage's end until every station was connected and booted again",
    "outage.booted_after_net": "time from a CSMS outage's end until every station was connected and booted again, "
                               "less each station's own reconnect back-off waits (the CSMS's part)",
    "outage.delivered_after": "time from a CSMS outage's end until every transaction message queued by then was "
                              "delivered",
}


class Figure(msgspec.Struct, frozen=True):
    """One figure to judge: in ms (times), a share 0..1, or a count; None
    with ``why_missing`` when the run cannot give it.  ``note`` says what it
    is made of (failures by reason)."""

    label: str
    observed: float | None
    why_missing: str = ""
    note: str = ""


def describe(metric: str, scope: str) -> str:
    """What a connection or outage metric measures, for a verdict's detail."""
    stage, _, key = metric.partition(".")
    if stage in (CONNECT, BOOT) and is_latency_key(key):  # any percentile, not only SETUP_LATENCIES
        return f"{key} of {_DESCRIPTIONS[stage]} ({scope})"
    if metric in OUTAGE_METRICS:
        return f"{_DESCRIPTIONS[metric]} (real time, the slowest outage decides)"
    return f"{_DESCRIPTIONS[metric]} ({scope})"


def fleet_stations(summary: Mapping[str, Any], model: str | None) -> int | None:
    """The stations of a model (None: of the fleet) as ``run.fleet`` gives them."""
    fleet = (summary.get("run") or {}).get("fleet") or {}
    return (sum(fleet.values()) or None) if model is None else fleet.get(model)


def connection_figure(metric: str, scope: str, section: Mapping[str, Any], stations: int | None = None) -> Figure:
    """A figure of ``connection``/``boot`` in a model's or the fleet's section
    (``stations``: its share of the fleet, for the ``stations.*.rate`` shares)."""
    connection: Mapping[str, Any] | None = section.get("connection")
    if connection is None:
        return Figure(scope, None, "summary.json has no connection figures here (written before fleetsim "
                                   "recorded them?)")
    # An injected outage refuses connections on purpose (fleet-side): those
    # are no failure of the CSMS's, and outage.* judges the recovery.
    failures = sum(n for reason, n in (connection.get("failures") or {}).items() if reason != INJECTED_OUTAGE)
    connects = int(connection.get("connects", 0))
    match metric:
        case "connects" | "reconnects":
            return Figure(scope, float(connection.get(metric, 0)))
        case "stations.connected" | "stations.booted" | "stations.connected.rate" | "stations.booted.rate":
            return _ever(metric, scope, connection, stations)
        case "disconnects":
            return Figure(scope, float(sum((connection.get("disconnects") or {}).values())))
        case "connect.failures":
            return Figure(scope, float(failures), note=_reasons(connection.get("failures"), ""))
        case "connect.failures.rate":
            if not connects + failures:
                return Figure(scope, None, "no connection attempts to take a share of")
            attempts = connects + failures
            return Figure(scope, failures / attempts,
                          note=f"{failures} of {attempts} attempts{_reasons(connection.get('failures'), ': ')}")
    stage, _, key = metric.partition(".")
    if stage == "connect":
        figures = connection.get("connect_ms")
        why = f"no connection was opened ({failures} failed attempts{_reasons(connection.get('failures'), ': ')})"
    else:
        answers = (section.get("boot") or {}).get("answers") or {}
        figures = (section.get("boot") or {}).get("boot_ms")
        why = (f"no station was accepted (BootNotification answers: "
               f"{', '.join(f'{status} {n}' for status, n in sorted(answers.items())) or 'none'})")
    if figures is None:
        return Figure(scope, None, why)
    if figures.get(key) is None:
        return Figure(scope, None, f"summary.json lists no {key} ({', '.join(figures)}) and no latency.hlog was "
                                   "read to take it from")
    return Figure(scope, float(figures[key]))


def _ever(metric: str, scope: str, connection: Mapping[str, Any], stations: int | None) -> Figure:
    field = _EVER[metric.removesuffix(".rate")]
    ever = connection.get(field)
    if ever is None:
        return Figure(scope, None, f"summary.json has no {field} (written before fleetsim counted it)")
    if not metric.endswith(".rate"):
        return Figure(scope, float(ever))
    if not stations:
        return Figure(scope, None, "summary.json's run.fleet does not give the stations to take a share of")
    return Figure(scope, ever / stations, note=f"{ever} of {stations} stations")


def _reasons(by_reason: Mapping[str, int] | None, before: str) -> str:
    if not by_reason:
        return ""
    return before + ", ".join(f"{reason} {n}" for reason, n in sorted(by_reason.items()))


def outage_figures(metric: str, summary: Mapping[str, Any]) -> list[Figure] | str:
    """One figure per CSMS outage (ms), or why the run has none."""
    outages = (summary.get("faults") or {}).get("outages") or []
    if not outages:
        return "the run had no CSMS outage to recover from ([[faults.outages]] in the scenario)"
    figures = []
    for number, outage in enumerate(outages, 1):
        label = f"outage {number} (at {outage.get('at_s', 0):g} s for {outage.get('for_s', 0):g} s simulated)"
        if metric in ("outage.booted_after", "outage.booted_after_net"):
            seconds = outage.get(f"{metric.removeprefix('outage.')}_s")
            why = (f"{outage.get('not_booted', '?')} of {outage.get('stations', '?')} stations were not connected "
                   "and booted again by the end of the run")
            if seconds is None and metric.endswith("_net") and outage.get("booted_after_s") is not None:
                why = "summary.json has no booted_after_net_s (written before fleetsim recorded it)"
        else:
            seconds = outage.get("delivered_after_s")
            why = (f"{outage.get('undelivered', '?')} stations still had transaction messages queued since the "
                   "outage at the end of the run")
        figures.append(Figure(label, None, why) if seconds is None else Figure(label, seconds * 1000))
    return figures
