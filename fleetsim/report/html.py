"""The HTML report of a run (``fleetsim report``): one self-contained file that
opens offline — inline CSS and inline SVG charts, no script, no CDN, no other
file — for a capacity planner who should not have to read JSON.

First what decides the run: whether it drove its whole fleet, and the
thresholds' verdicts.  Sections: the run and its fleet; a staged run's stages
(each plateau's figures); per action the latency
(corrected for coordinated omission) against each model's declared response
timeout, at a glance, over time and as a percentile distribution; stations,
connectors and messages over time; connections over time; errors and timeouts;
the CSMS's calls and how each model answered; connections; the simulator's own
lag.  Every chart over time marks what happened to the run (injected faults,
a staged run's stage starts and plateaus: events.csv) and leaves intervals
without data as gaps.

Pure: :func:`render` turns a :class:`~fleetsim.report.folder.RunFolder` (read
with plain file IO by :func:`~fleetsim.report.folder.read_folder`) into text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from fleetsim.metrics.summary import BOOT, CONNECT, GC_PAUSE_SHARE_LIMIT, PROBE_RESOLUTION_MS, lag_threshold_for
from fleetsim.report import html_parts as parts
from fleetsim.report import html_verdicts as verdicts
from fleetsim.report.folder import PLATEAU, STAGE, Event, Point, Row, RunFolder
from fleetsim.report.html_parts import e, note, section
from fleetsim.report.svg import (
    INK,
    MARKER_STYLES,
    Axis,
    Marker,
    Rule,
    Series,
    line_chart,
    ms_label,
    percentile_x,
    seconds_label,
)
from fleetsim.report.thresholds import FLEET

REPORT_FILE: Final = "report.html"
_LATENCY_AXIS: Final = Axis("latency (log scale)", "log", ms_label)
_SIMULATOR: Final = (("loop_lag", "event-loop lag", "#0072B2"), ("timer_lag", "station timer lag", "#009E73"),
                     ("gc_pause", "GC pause", "#D55E00"))

CSS: Final = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, 'Segoe UI', sans-serif; color: #222; margin: 0; background: #f6f6f4; }
main { max-width: 1220px; margin: 0 auto; padding: 24px 28px 60px; background: #fff; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 19px; margin: 36px 0 6px; border-bottom: 2px solid #222; }
h3 { font-size: 15px; margin: 22px 0 6px; } .sub { color: #555; margin: 0 0 14px; }
nav { font-size: 13px; margin: 8px 0 12px; } nav a { margin-right: 12px; color: #0a5db5; text-decoration: none; }
p.intro { color: #444; max-width: 900px; margin: 4px 0 10px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 3px 18px; margin: 10px 0; }
dl.facts dt { color: #666; } dl.facts dd { margin: 0; }
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 13px; }
th, td { padding: 4px 8px; border-bottom: 1px solid #e6e6e6; text-align: left; vertical-align: top; }
th { background: #f1f1ef; font-weight: 600; white-space: nowrap; } td.num, th.num { text-align: right; }
td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.bad td { background: #fdecea; } tr.bad td:first-child { box-shadow: inset 3px 0 #c62828; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; }
.scroll { overflow-x: auto; max-width: 100%; }
.dist { display: flex; flex-wrap: wrap; gap: 6px 16px; align-items: flex-start; margin-bottom: 12px; }
.dist table { font-size: 12px; margin-top: 26px; } .dist th, .dist td { padding: 3px 6px; }
.charts { display: flex; flex-wrap: wrap; gap: 10px 18px; } .charts > p { align-self: flex-start; }
.chart { background: #fff; max-width: 100%; height: auto; }
.verdict { padding: 10px 14px; border-radius: 4px; font-size: 15px; max-width: 1100px; }
.verdict.good { background: #e8f5e9; border-left: 5px solid #2e7d32; }
.verdict.bad { background: #fdecea; border-left: 5px solid #c62828; }
.verdict.warn { background: #fff3e0; border-left: 5px solid #e65100; }
.badge { display: inline-block; padding: 1px 7px; border-radius: 3px; font-size: 12px; font-weight: 700; color: #fff; }
.badge.pass { background: #2e7d32; } .badge.fail { background: #c62828; }
table.thresholds td { white-space: normal; }
.warning { padding: 10px 14px; background: #fff3e0; border-left: 5px solid #e65100; font-weight: 600; }
.note { color: #444; } .dim { color: #aaa; }
.answer { display: inline-block; padding: 0 6px; margin: 1px 2px; border-radius: 3px; font-size: 12px;
          white-space: nowrap; }
.answer.ok { background: #e3f2e5; } .answer.refused { background: #fff1cc; }
.answer.error { background: #fbd9d6; } .answer.none { background: #e8e8e8; }
table.calls td { white-space: normal; } code { font-size: 12px; }
footer { margin-top: 40px; color: #777; font-size: 12px; }
"""


def render(folder: RunFolder) -> str:
    summary = folder.summary
    run = summary["run"]
    colors = parts.model_colors(summary)
    simulator = summary.get("simulator") or {}
    warning = simulator.get("warning")
    markers = run_markers(folder)
    drove_fleet = not verdicts.fleet_shortfall(summary).any
    sections = [
        parts.run_section(summary, colors),
        section("glance", "Latency per action at a glance",
                "Latency is <b>corrected for coordinated omission</b>: it counts from when the station meant to "
                "send the call, so time spent queued behind a slow earlier call (OCPP-J allows one call in flight) "
                "is the CSMS's. <i>Service</i> time counts from when the call was written to the socket. Headroom "
                "is the tightest declared response timeout (of the models that sent the action) divided by the p99.9; "
                "<i>over declared</i> is the share of calls whose corrected latency passed their model's timeout.",
                parts.glance_table(summary) or note("No calls were answered.")),
        parts.stages_section(summary),
        _over_time_section(folder, markers, drove_fleet),
        _connections_over_time_section(folder, markers),
        _latency_over_time_section(folder, colors, markers),
        _distribution_section(folder, colors),
        parts.errors_section(summary, colors, drove_fleet=drove_fleet),
        parts.csms_calls_section(summary, colors),
        parts.connections_section(summary, colors),
        _simulator_section(folder, warning, markers),
    ]
    problems = "".join(note(e(problem), "warning") for problem in folder.problems)
    lag = note("WARNING: " + e(warning), "warning") if warning else ""
    thresholds = verdicts.thresholds_section(summary)
    nav = "".join(f"<a href='#{anchor}'>{e(label)}</a>" for anchor, label in (
        *((("thresholds", "thresholds"),) if thresholds else ()),
        ("run", "the run"), ("glance", "at a glance"),
        *((("stages", "stages"),) if parts.stage_list(summary) else ()), ("over-time", "stations & throughput"),
        ("connections-over-time", "connections over time"), ("latency-over-time", "latency over time"),
        ("distribution", "distributions"), ("errors", "errors"), ("csms-calls", "CSMS calls"),
        ("connections", "connections"), ("simulator", "simulator")))
    title = f"fleetsim run {run.get('id', '')}"
    stations = sum((run.get("fleet") or {}).values())
    subtitle = (f"{stations} stations of {len(run.get('fleet') or {})} certified models against "
                f"{run.get('csms', 'a CSMS')}, {run.get('duration_s') or 0:g} s")
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{e(title)}</title><style>{CSS}</style></head><body><main>"
        f"<h1>{e(title)}</h1><p class='sub'>{e(subtitle)}</p><nav>{nav}</nav>"
        f"{verdicts.fleet_verdict(summary, colors)}{thresholds}{parts.headline(summary)}{lag}{problems}"
        f"{''.join(sections)}"
        f"<footer>Made by fleetsim {e(run.get('fleetsim_version', ''))} from {e(folder.path.name)}/ "
        "(summary.json, latency.hlog, timeseries.csv, events.csv; layouts in results/README.md). Percentiles over "
        "models, intervals and shards come from added HdrHistograms, never from averaged percentiles.</footer>"
        "</main></body></html>\n"
    )


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


def _time_axis(folder: RunFolder) -> Axis:
    """Every chart over time spans the whole run, so they line up."""
    return Axis("time since the start", "linear", seconds_label, minimum=0.0, maximum=folder.length_s)


def _bucket_note(folder: RunFolder) -> str:
    interval = folder.summary["run"].get("interval_s") or 1.0
    if folder.bucket_s > interval:
        return (f" Each point covers {folder.bucket_s:g} s ({folder.bucket_s / interval:g} intervals, their "
                "histograms added).")
    return f" Each point is one interval of {folder.bucket_s:g} s."


def _time_chart(folder: RunFolder, markers: Sequence[Marker], series: list[Series], *, title: str, y: Axis,
                chart_id: str, rules: Sequence[Rule] = ()) -> str:
    """A chart over the run's time, with what happened to the run marked."""
    return line_chart(series, title=title, x=_time_axis(folder), y=y, rules=rules, markers=markers, time_axis=True,
                      chart_id=chart_id)


def gapped(points: Sequence[Point], value: Callable[[Point], float], bucket_s: float,
           ) -> list[tuple[float, float | None]]:
    """(time, value) of each point, with a break (None) where intervals
    without data lie between two points: a line is never drawn across a time
    nothing was measured (no Heartbeat for 30 s after a storm)."""
    line: list[tuple[float, float | None]] = []
    end_s: float | None = None
    for point in points:
        if end_s is not None and point.start_s - end_s >= bucket_s / 2:
            line.append(((end_s + point.start_s) / 2, None))
        line.append((point.t_s, value(point)))
        end_s = point.t_s
    return line


def _over_time_section(folder: RunFolder, markers: Sequence[Marker], drove_fleet: bool) -> str:
    rows = folder.rows
    if not rows:
        return section("over-time", "Stations and throughput over time", "",
                       note("No time series (timeseries.csv) in this folder."))
    stations = sum((folder.summary["run"].get("fleet") or {}).values())
    charts = [
        _time_chart(folder, markers,
                    [Series("connected", [(r.t_s, r.connected) for r in rows], "#0072B2", 2),
                     Series("booted (Accepted)", [(r.t_s, r.booted) for r in rows], "#009E73", 1.5, "5 3")],
                    title="Stations connected and booted", y=Axis("stations", minimum=0.0),
                    rules=[Rule(stations, f"fleet size {stations}", "#999", "2 3")] if stations else [],
                    chart_id="chart-stations"),
        _time_chart(folder, markers, [Series("charging connectors", [(r.t_s, r.charging) for r in rows], "#E69F00", 2)],
                    title="Connectors charging", y=Axis("connectors delivering energy", minimum=0.0),
                    chart_id="chart-charging"),
        _time_chart(folder, markers,
                    [Series("sent by stations", [(r.t_s, r.out_per_s) for r in rows], "#0072B2", 2),
                     Series("received by stations", [(r.t_s, r.in_per_s) for r in rows], "#CC79A7", 1.5, "5 3")],
                    title="Throughput: OCPP messages per second", y=Axis("messages / s", minimum=0.0),
                    chart_id="chart-throughput"),
    ]
    if any(r.errors or r.timeouts for r in rows):
        charts.append(_time_chart(
            folder, markers,
            [Series("CALLERRORs", [(r.t_s, r.errors) for r in rows], "#D55E00", 2),
             Series("timeouts", [(r.t_s, r.timeouts) for r in rows], INK, 1.5, "5 3"),
             Series("answered", [(r.t_s, r.answered) for r in rows], "#009E73", 1)],
            title="Errors and timeouts per point", y=Axis("calls", minimum=0.0), chart_id="chart-errors"))
    elif drove_fleet:
        charts.append(note("No CALLERROR and no timeout at any time of the run.", "verdict good"))
    else:
        # Nothing failed that never ran: no green here for a fleet that was not driven.
        charts.append(note("No CALLERROR and no timeout, but not every station connected and booted: see the "
                           "verdict at the top.", "warning"))
    return section("over-time", "Stations and throughput over time",
                   "Stations and connectors at the end of each point; message rates over it." + _bucket_note(folder)
                   + _markers_note(markers), f"<div class='charts'>{''.join(charts)}</div>")


def _connections_over_time_section(folder: RunFolder, markers: Sequence[Marker]) -> str:
    """What a reconnect storm or an outage does: connections opened and
    failed per second, and how long the opening took."""
    rows = folder.rows
    charts = []
    if rows:
        series = [Series("connections opened / s", _rates(rows, lambda r: r.connects, folder.bucket_s),
                         "#0072B2", 2)]
        if rows[0].connect_failures is not None:
            series.append(Series("failed attempts / s", _rates(rows, lambda r: r.connect_failures, folder.bucket_s),
                                 "#D55E00", 1.5, "5 3"))
        charts.append(_time_chart(folder, markers, series, title="Connections per second",
                                  y=Axis("connections / s", minimum=0.0), chart_id="chart-connects"))
    setup = [Series(label, gapped(points, value, folder.bucket_s), color, width, dash)
             for name, label, value, color, width, dash in (
                 (CONNECT, "setup p99", lambda p: p.p99_ms, INK, 2, ""),
                 (CONNECT, "setup max", lambda p: p.max_ms, "#b0b0b0", 1, "2 2"),
                 (BOOT, "boot p99", lambda p: p.p99_ms, "#009E73", 1.5, "5 3"))
             if (points := folder.setup.get(name))]
    if setup:
        charts.append(_time_chart(folder, markers, setup, title="Connection setup and boot time", y=_LATENCY_AXIS,
                                  chart_id="chart-connect-latency"))
    known = rows and rows[0].connect_failures is not None
    body = f"<div class='charts'>{''.join(charts)}</div>" if charts else note("No connections over time "
                                                                              "(timeseries.csv, latency.hlog).")
    return section("connections-over-time", "Connections over time",
                   "Connections the stations opened and attempts that failed per second, and the setup time (TCP + "
                   "TLS + WebSocket handshake) and boot time (open connection to BootNotification Accepted) of the "
                   "connections opened in each point, on a log scale; a gap is a time no connection was opened."
                   + ("" if known or not rows else " Failed attempts over time were not recorded in this folder "
                      "(an older fleetsim, or merged).") + _bucket_note(folder), body)


def _rates(rows: Sequence[Row], count: Callable[[Row], int | None], bucket_s: float,
           ) -> list[tuple[float, float | None]]:
    """Per second over each point.  A point of less than half a bucket (the
    run's last, cut short) is left out: two attempts in 20 ms are no rate of
    100 a second."""
    return [(row.t_s, None if (n := count(row)) is None or row.length_s < bucket_s / 2 else n / row.length_s)
            for row in rows]


# ---------------------------------------------------------------- markers


_FAULT_NAMES: Final = {"storm": "storm", "outage": "outage", "drop": "drop", "reboot": "reboot",
                       "power_loss": "power loss", "connector": "connector fault"}


def run_markers(folder: RunFolder) -> list[Marker]:
    """What happened to the run, to mark on every chart over time: the
    injected faults (events.csv; for a folder without it, the CSMS outages
    summary.json keeps), and a staged run's stages: each one's start and its
    plateau (events.csv, else summary.json's ``stages``)."""
    stages = _stage_markers(folder)
    if folder.events is not None:
        faults = [_event_marker(event, folder.bucket_s) for event in folder.events
                  if event.kind not in (STAGE, PLATEAU)]
    else:
        faults = _summary_outages(folder)
    return sorted([*stages, *faults], key=lambda marker: marker.t_s) if stages else faults


def _summary_outages(folder: RunFolder) -> list[Marker]:
    run = folder.summary["run"]
    speed = run.get("speed")
    if not speed:
        return []
    return [Marker(outage["at_s"] / speed, "outage", "outage", outage["for_s"] / speed,
                   f"CSMS outage at {outage['at_s'] / speed:.1f} s for {outage['for_s'] / speed:.1f} s")
            for outage in (folder.summary.get("faults") or {}).get("outages") or []
            if isinstance(outage.get("at_s"), int | float) and isinstance(outage.get("for_s"), int | float)]


_STAGE_NUMBER: Final = re.compile(r"stage (\d{1,9})\b")


def _stage_markers(folder: RunFolder) -> list[Marker]:
    """Each stage's start as a line labelled ``N: target`` and its plateau as
    a band: from events.csv's ``stage`` and ``plateau`` rows, else from
    summary.json's ``stages`` (a folder whose events.csv was lost).  The
    target is summary.json's when it has the stage (a merged events.csv may
    have added the shards' rows of one stage)."""
    targets = {stage["index"]: stage["stations"] for stage in parts.stage_list(folder.summary)
               if isinstance(stage.get("index"), int) and parts.figure(stage.get("stations")) is not None}
    events = [event for event in folder.events or () if event.kind in (STAGE, PLATEAU)]
    if not events:
        return [marker for stage in parts.stage_list(folder.summary) for marker in _summary_stage(stage)]
    markers = []
    counted = {STAGE: 0, PLATEAU: 0}
    for event in events:
        counted[event.kind] += 1
        found = _STAGE_NUMBER.match(event.label)
        number = int(found[1]) if found else counted[event.kind]
        until = f"{event.t_s:.1f}–{event.t_s + event.span_s:.1f} s"
        if event.kind == STAGE:
            target = targets.get(number, event.stations)
            markers.append(Marker(event.t_s, f"{number}: {target:,.0f}", STAGE, 0.0,
                                  f"{event.label or f'stage {number}'}, {until}"))
        else:
            markers.append(Marker(event.t_s, "", PLATEAU, event.span_s,
                                  f"stage {number} plateau, {until}: measured; the ramp before it is excluded"))
    return markers


def _summary_stage(stage: Mapping[str, Any]) -> list[Marker]:
    index = stage.get("index")
    figures = parts.figures(stage, "stations", "start_s", "plateau_start_s", "end_s")
    if not isinstance(index, int) or figures is None:
        return []
    target, start_s, plateau_s, end_s = figures
    return [Marker(start_s, f"{index}: {target:,.0f}", STAGE, 0.0,
                   f"stage {index}: {parts.number(parts.figure(stage.get('from_stations')))} → {target:,.0f} "
                   f"stations, {start_s:.1f}–{end_s:.1f} s"),
            Marker(plateau_s, "", PLATEAU, max(0.0, end_s - plateau_s),
                   f"stage {index} plateau, {plateau_s:.1f}–{end_s:.1f} s: measured; the ramp before it is excluded")]


def _event_marker(event: Event, bucket_s: float) -> Marker:
    """An event of events.csv as a marker: a fault by its kind; a kind this
    fleetsim does not know (a later one's) by its label."""
    name = _FAULT_NAMES.get(event.kind) or event.label or event.kind.replace("_", " ")
    # Bands for what lasts; a connector fault's recovery is one connector's,
    # drawn as its moment.
    span_s = 0.0 if event.kind == "connector" else event.span_s
    if event.kind == "outage":
        label = f"outage {seconds_label(event.span_s)}"
    else:
        label = name + (f" ({event.stations:,})" if event.stations > 1 else "")
    kind = MARKER_STYLES.get(event.kind, ("", event.kind.replace("_", " ")))[1]
    detail = [f"{kind} at {event.t_s:.1f} s"]
    if event.span_s:
        detail.append(f" for {event.span_s:.1f} s")
    if event.kind in _FAULT_NAMES:
        detail.append(f": {event.stations:,} {'connections cut' if event.kind == 'outage' else 'stations hit'}")
    if event.count > 1:
        detail.append(f" ({event.count:,} events in {bucket_s:g} s)")
    if event.label:
        detail.append(f", {event.label}")
    if event.at_s is not None and event.count == 1 and event.kind in _FAULT_NAMES:  # a fault's scheduled time
        detail.append(f"; scenario time {event.at_s:g} s")
    return Marker(event.t_s, label, event.kind, span_s, "".join(detail))


def _markers_note(markers: Sequence[Marker]) -> str:
    if not markers:
        return ""
    stages = (" Numbered lines mark each stage's start (stage: target stations) and light bands its plateau, "
              "the part measured; the ramp before a plateau is excluded from the stage's figures."
              if any(marker.kind == STAGE for marker in markers) else "")
    faults = any(marker.kind not in (STAGE, PLATEAU) for marker in markers)
    return ((" Dashed lines and bands mark what happened to the run (injected faults: hover for details); "
             "they are on every chart over time." if faults else "") + stages
            + (" Stage marks are on every chart over time." if stages and not faults else ""))


def _declared_rules(summary: Mapping[str, Any], action: str, colors: Mapping[str, str]) -> list[Rule]:
    """A line per declared response timeout of the models that sent ``action``
    (models that share a timeout share a line)."""
    by_value: dict[float, list[str]] = {}
    for model_id, model in sorted((summary.get("models") or {}).items()):
        exchange = (model.get("exchanges") or {}).get(action)
        if exchange is not None and exchange.get("declared_timeout_ms"):
            by_value.setdefault(float(exchange["declared_timeout_ms"]), []).append(model_id)
    rules = []
    for value, model_ids in sorted(by_value.items()):
        shown = ", ".join(model_ids) if len(model_ids) <= 2 else f"{model_ids[0]} and {len(model_ids) - 1} more"
        rules.append(Rule(value, f"declared timeout {ms_label(value)}: {shown}", colors.get(model_ids[0], "#c00")))
    return rules


def _latency_over_time_section(folder: RunFolder, colors: Mapping[str, str], markers: Sequence[Marker]) -> str:
    charts = []
    for action, views in sorted(folder.latency.items()):
        corrected, service = views.get("corrected", []), views.get("service", [])
        bucket_s = folder.bucket_s
        series = [Series("max", gapped(corrected, lambda p: p.max_ms, bucket_s), "#b0b0b0", 1, "2 2"),
                  Series("p99", gapped(corrected, lambda p: p.p99_ms, bucket_s), INK, 2),
                  Series("p50", gapped(corrected, lambda p: p.p50_ms, bucket_s), "#8c8c8c", 1.5),
                  Series("service p99", gapped(service, lambda p: p.p99_ms, bucket_s), "#7b4fb8", 1.2, "4 3")]
        charts.append(_time_chart(folder, markers, series, title=f"{action}: latency over time (all models)",
                                  y=_LATENCY_AXIS, rules=_declared_rules(folder.summary, action, colors),
                                  chart_id=f"chart-latency-{_slug(action)}"))
    body = f"<div class='charts'>{''.join(charts)}</div>" if charts else note("No latency over time (latency.hlog).")
    return section("latency-over-time", "Latency over time, per action",
                   "Corrected latency of every model's calls together (p50, p99, max) and the service-time p99, on a "
                   "log scale, with each model's declared response timeout as a dashed line in the model's colour. "
                   "A line that climbs towards a timeout is a CSMS running out of headroom; a gap is a time no call "
                   "of the action was answered." + _bucket_note(folder), body)


def _distribution_section(folder: RunFolder, colors: Mapping[str, str]) -> str:
    blocks = []
    for action, distributions in sorted(folder.distributions.items()):
        series = [Series(f"{model_id} ({d.count:,})", [(percentile_x(p), v) for p, v in d.points], colors[model_id],
                         1.4)
                  for model_id, d in sorted(distributions.items()) if model_id in colors]
        fleet, service = distributions.get(FLEET), distributions.get("service")
        if fleet is not None:
            series.append(Series(f"all models ({fleet.count:,})", [(percentile_x(p), v) for p, v in fleet.points],
                                 INK, 2.4))
        if service is not None:
            series.append(Series("all models, service time", [(percentile_x(p), v) for p, v in service.points],
                                 INK, 1.2, "4 3"))
        chart = line_chart(series, title=f"{action}: latency by percentile", x=Axis("percentile", "percentile"),
                           y=_LATENCY_AXIS, rules=_declared_rules(folder.summary, action, colors),
                           width=500, chart_id=f"chart-distribution-{_slug(action)}")
        blocks.append(f"<div class='dist'>{chart}{parts.percentiles_table(folder.summary, action, colors)}</div>")
    body = "".join(blocks) or note("No latency histograms (latency.hlog).")
    return section("distribution", "Latency distribution per action",
                   "The whole run's latency at each percentile (HdrHistogram's percentile plot: 90 %, 99 %, 99.9 % "
                   "equally spaced), per model and for all models together, against the declared timeouts. The "
                   "tables give the figures of summary.json; rows in red had calls over the declared timeout.", body)


def _simulator_section(folder: RunFolder, warning: str | None, markers: Sequence[Marker]) -> str:
    body = parts.simulator_table(folder.summary)
    series = []
    for name, label, color in _SIMULATOR:
        points = folder.simulator.get(name) or []
        if not points:
            continue
        if name == "gc_pause":
            series.append(Series(f"{label} max", gapped(points, lambda p: p.max_ms, folder.bucket_s), color, 1.5))
        else:
            series.append(Series(f"{label} p99", gapped(points, lambda p: p.p99_ms, folder.bucket_s), color, 2))
            series.append(Series(f"{label} max", gapped(points, lambda p: p.max_ms, folder.bucket_s), color, 1,
                                 "2 2"))
    if series:
        # The limits of fleetsim.metrics.summary.lag_warning: max(1 ms, 1 % of the
        # median corrected latency), plus the probe's 1 ms resolution for the
        # event-loop lag p99; GC pauses above the threshold count once they
        # cover more than 0.1 % of the run.
        threshold = lag_threshold_for(folder.fleet_median_ms)
        p99_limit = threshold + PROBE_RESOLUTION_MS
        rules = [Rule(p99_limit, f"warning threshold for the event-loop lag p99 {ms_label(p99_limit)}", "#c00"),
                 Rule(threshold, f"GC pauses above {ms_label(threshold)} count toward the "
                                 f"{GC_PAUSE_SHARE_LIMIT:.1%} limit", "#D55E00", "2 4")]
        body += ("<div class='charts'>" + _time_chart(
            folder, markers, series, title="The simulator's own lag over time", y=_LATENCY_AXIS, rules=rules,
            chart_id="chart-simulator") + "</div>")
    measured = any((folder.summary.get("simulator") or {}).get(f"{name}_ms") for name, _, _ in _SIMULATOR)
    verdict = (note("WARNING: " + e(warning), "warning") if warning else
               note("The simulator kept up: its own lag stayed below the threshold at which it could distort the "
                    "latency figures.", "verdict good") if measured else "")
    return section("simulator", "The simulator's own lag",
                   "Time the simulator itself lost (a late event loop, late station timers, garbage-collector "
                   "pauses) lands in the measured latencies. fleetsim warns when it is large enough to distort "
                   "them by more than the accuracy it promises, max(1 ms, 1 % of the median corrected latency); "
                   "the dashed lines are the limits.", verdict + body)
