"""The terminal's view of a run: the live view while it runs, and the end
screen (why the fleet fell short, the latency table, the simulator's lag).

Everything here returns text and prints nothing (fleetsim.cli prints).  The
live view is made of lines that never wrap: a wrapped line would leave a stale
copy behind at every refresh.  The end screen is read from the summary
document, so it shows exactly the figures of ``summary.json`` (a staged run's
stages too: :func:`stages_table`); it is laid out for 80 columns.

Plain text rather than a terminal library: the live view is redrawn from the
event loop, where every millisecond spent is measured as the simulator's own
lag (see fleetsim.cli.screen for the figures).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

from fleetsim.metrics.live import LiveSnapshot
from fleetsim.report.thresholds import FLEET, format_ms

WIDTH: Final = 80
_ELLIPSIS: Final = "…"

# What a failed connection most likely means, by failure reason
# (summary.json: connection.failures; fleetsim.engine.fleet).
HINTS: Final = {
    "refused": "nothing accepted the TCP connection: is the CSMS running, on this host and port?",
    "timeout": "no connection within the connect timeout: a firewall, a wrong address or a CSMS too busy to accept",
    "tls": "the TLS handshake failed: check --ca-file, the CSMS certificate and its host name",
    "unauthorized": "the CSMS answered HTTP 401: check the stations' password (--password-env)",
    "rejected": "the CSMS refused the WebSocket upgrade: check the URL path and that it speaks ocpp1.6",
    "resolve": "the CSMS host name does not resolve (DNS)",
    "reset": "the CSMS reset connections while they were set up",
    "closed": "the CSMS closed connections while they were set up",
    "handshake": "the WebSocket handshake failed",
}


def fit(line: str, width: int) -> str:
    """``line`` cut to ``width`` columns (an ellipsis marks the cut)."""
    return line if len(line) <= width else line[: max(0, width - 1)] + _ELLIPSIS


def clock(seconds: float) -> str:
    """0:07, 12:34, 1:02:03."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def reasons(reasons: Mapping[str, int]) -> str:
    return ", ".join(f"{reason} {n:,}" for reason, n in sorted(reasons.items(), key=lambda item: (-item[1], item[0])))


# ---------------------------------------------------------------- live view


def live_lines(snapshot: LiveSnapshot, width: int = WIDTH) -> list[str]:
    """The live view: five lines, none wider than ``width - 1`` (a line that
    fills the last column makes some terminals wrap)."""
    s = snapshot
    if s.elapsed_s < s.duration_s:
        time = f"{clock(s.elapsed_s)} of {clock(s.duration_s)}, {clock(s.duration_s - s.elapsed_s)} to go"
    else:
        time = f"{clock(s.elapsed_s)}, stopping the stations (the run was {clock(s.duration_s)})"
    stations = f"{s.booted:,} of {s.fleet:,} booted, {s.connected:,} connected, {s.charging:,} charging"
    if s.started < s.fleet:
        stations += f", {s.fleet - s.started:,} to start"
    messages = f"{s.out_per_s:,.0f}/s sent, {s.in_per_s:,.0f}/s received"
    failures = s.connect_failures()
    problems = (f"{s.errors:,} errors, {s.timeouts:,} timeouts, {s.connection_total('connect.reconnect'):,} "
                f"reconnects, {sum(failures.values()):,} failed connects")
    if failures:
        top = max(failures.items(), key=lambda item: item[1])[0]
        problems += f" ({top})"
    lines = [f"time      {time}", f"stations  {stations}", f"messages  {messages}", f"problems  {problems}",
             f"slowest   {_slowest(s)}"]
    return [fit(line, width - 1) for line in lines]


def _slowest(s: LiveSnapshot) -> str:
    interval = s.last_interval
    if interval.length_s <= 0:
        return "p99 after the first interval"
    worst = s.worst()
    if worst is None:
        return f"no answers in the last {round(interval.length_s, 1):g} s"
    latency, limit_ms = worst
    return (f"p99 {format_ms(latency.p99_ms)} {latency.action}, limit {format_ms(limit_ms)} "
            f"(last {round(interval.length_s, 1):g} s)")


def log_line(snapshot: LiveSnapshot) -> str:
    """One line for a log (stderr not a terminal), every few seconds."""
    s = snapshot
    worst = s.worst()
    slowest = "" if worst is None else f", p99 {format_ms(worst[0].p99_ms)} {worst[0].action}"
    return (f"[{clock(s.elapsed_s)}/{clock(s.duration_s)}] {s.booted:,}/{s.fleet:,} booted, "
            f"{s.out_per_s:,.0f} msg/s, {s.errors:,} errors, {s.timeouts:,} timeouts, "
            f"{sum(s.connect_failures().values()):,} failed connects{slowest}")


# ---------------------------------------------------------------- the fleet's shortfall


def fleet_size(summary: Mapping[str, Any]) -> int:
    return sum(((summary.get("run") or {}).get("fleet") or {}).values())


def stations_booted(summary: Mapping[str, Any]) -> int:
    return int(((summary.get("fleet") or {}).get("connection") or {}).get("stations_booted", 0))


def fleet_shortfall(summary: Mapping[str, Any]) -> list[str]:
    """Why fewer than all the fleet's stations were ever Accepted, one line
    per cause, from ``summary.json``; empty when every station was."""
    fleet, booted = fleet_size(summary), stations_booted(summary)
    if booted >= fleet:
        return []
    run = summary.get("run") or {}
    section = summary.get("fleet") or {}
    connection = section.get("connection") or {}
    connected = int(connection.get("stations_connected", 0))
    started = int(run.get("stations_started", fleet))
    lines = []
    if started < fleet:
        lines.append(f"{fleet - started:,} never started: the run ended before the ramp reached them "
                     "(a longer --duration or a faster --ramp starts them)")
    failures = {reason: n for reason, n in (connection.get("failures") or {}).items() if n}
    if started > connected:
        attempts = f"{sum(failures.values()):,} connection attempts failed: {reasons(failures)}" if failures else (
            "no connection attempt finished")
        lines.append(f"{started - connected:,} never connected to {run.get('csms', 'the CSMS')}: {attempts}")
        if failures:
            top = max(failures.items(), key=lambda item: item[1])[0]
            if top in HINTS:
                lines.append(f"hint: {HINTS[top]}")
    if connected > booted:
        lines.append(f"{connected - booted:,} connected but were never Accepted: {_boot_trouble(section)}")
    models = summary.get("models") or {}
    by_model = [(model_id, n, int(((models.get(model_id) or {}).get("connection") or {}).get("stations_booted", 0)))
                for model_id, n in sorted((run.get("fleet") or {}).items())]
    if len({booted / n for _, n, booted in by_model if n}) > 1:  # some models fared better: say which
        lines += [f"  {model_id}: {booted:,} of {n:,} booted" for model_id, n, booted in by_model]
    return lines


def shortfall_in_brief(summary: Mapping[str, Any]) -> str:
    """:func:`fleet_shortfall`'s causes in a few words (for one line)."""
    run = summary.get("run") or {}
    connection = ((summary.get("fleet") or {}).get("connection") or {})
    fleet, booted = fleet_size(summary), stations_booted(summary)
    connected = int(connection.get("stations_connected", 0))
    started = int(run.get("stations_started", fleet))
    failures = {reason: n for reason, n in (connection.get("failures") or {}).items() if n}
    parts = [f"{fleet - started:,} never started"] if started < fleet else []
    if started > connected:
        parts.append(f"{started - connected:,} never connected" + (f": {reasons(failures)}" if failures else ""))
    if connected > booted:
        parts.append(f"{connected - booted:,} never Accepted")
    return "; ".join(parts)


def _boot_trouble(section: Mapping[str, Any]) -> str:
    answers = {status: n for status, n in ((section.get("boot") or {}).get("answers") or {}).items()
               if status != "Accepted"}  # those of the stations that did boot
    boot = (section.get("exchanges") or {}).get("BootNotification") or {}
    parts = [f"BootNotification answers {reasons(answers)}" if answers else "no BootNotification answer"]
    if boot.get("timeouts"):
        parts.append(f"{boot['timeouts']:,} timed out")
    if boot.get("errors"):
        parts.append(f"CALLERRORs {reasons(boot['errors'])}")
    return "; ".join(parts)


# ---------------------------------------------------------------- end screen


_COLUMNS: Final = f"{'calls':>8} {'errors':>6} {'t/o':>4} {'p50':>7} {'p99':>7} {'max':>7}"


def latency_table(summary: Mapping[str, Any], *, details: bool = False, width: int = WIDTH) -> str:
    """Per action, fleet-wide (and per model with ``details``): calls, errors,
    timeouts and the latency corrected for coordinated omission; a ``✗``
    marks an action with timeouts or answers over the declared timeout."""
    fleet_exchanges = (summary.get("fleet") or {}).get("exchanges") or {}
    if not fleet_exchanges:
        return "(no calls answered: no latency to show)"
    # A mark ("✗ ") before the name, the figures after it, within width - 1.
    name_width = width - 1 - 2 - len(_COLUMNS) - 1
    lines = [f"  {'action (' + FLEET + ')':<{name_width}} {_COLUMNS}"]
    lines += [_row(action, figures, name_width) for action, figures in sorted(fleet_exchanges.items())]
    if details:
        for model_id, model in sorted((summary.get("models") or {}).items()):
            lines.append("")
            lines.append(f"  {model_id} (declared response timeout {model.get('declared_timeout_s', 0):g} s)")
            lines += [_row("  " + action, figures, name_width)
                      for action, figures in sorted((model.get("exchanges") or {}).items())]
    timeouts = sorted({figures.get("declared_timeout_ms", 0) / 1000 for model in (summary.get("models") or {}).values()
                       for figures in (model.get("exchanges") or {}).values()})
    limit = f"{timeouts[0]:g} s" if len(timeouts) == 1 else f"{timeouts[0]:g}-{timeouts[-1]:g} s" if timeouts else "?"
    lines.append(f"(corrected latency; ✗: timeouts or answers past the declared {limit})")
    return "\n".join(fit(line, width - 1) for line in lines)


def _row(action: str, figures: Mapping[str, Any], name_width: int) -> str:
    corrected = figures.get("corrected_ms")
    if corrected is None:
        latencies = f"{'-':>7} {'-':>7} {'-':>7}"
    else:
        latencies = " ".join(f"{format_ms(corrected[key]):>7}" for key in ("p50", "p99", "max"))
    mark = "✗ " if figures.get("over_declared") else "  "
    return (f"{mark}{fit(action, name_width):<{name_width}} {figures.get('count', 0):>8,} "
            f"{figures.get('errors_total', 0):>6,} {figures.get('timeouts', 0):>4,} {latencies}")


def csms_calls_table(summary: Mapping[str, Any], width: int = WIDTH) -> str:
    """How each model answered the CSMS's calls: model, then action → answers."""
    lines = []
    for model_id, model in sorted((summary.get("models") or {}).items()):
        calls = model.get("csms_calls") or {}
        if not calls:
            continue
        lines.append(f"CSMS calls to {model_id}")
        for action, answers in sorted(calls.items()):
            lines.append(f"  {action:<28} {reasons(answers)}")
    return "\n".join(fit(line, width - 1) for line in lines)


def simulator_lines(summary: Mapping[str, Any]) -> tuple[str, str | None]:
    """The simulator's own lag in one line, and a short warning (or None)
    when it could distort the figures (the whole text: summary.json's
    ``simulator.warning``)."""
    simulator = summary.get("simulator") or {}
    parts = []
    for key, label in (("loop_lag_ms", "event loop"), ("timer_lag_ms", "timers")):
        figures = simulator.get(key)
        if figures:
            parts.append(f"{label} {format_ms(figures['p99'])}")
    line = "simulator lag p99: " + (", ".join(parts) if parts else "not measured")
    pauses = simulator.get("gc_pause_ms")
    if pauses:
        line += f"; {pauses['count']:,} GC pauses, max {format_ms(pauses['max'])}"
    warning = simulator.get("warning")
    if warning is None:
        return line, None
    return line, "WARNING: the simulator's own lag may distort these figures: see summary.json"


def stages_table(summary: Mapping[str, Any], width: int = WIDTH) -> str:
    """A staged run's stages, one line each, the figures of each plateau
    (summary.json ``stages``): target, plateau length, calls answered and
    messages per second, the slowest action's corrected p99, errors and
    timeouts.  "" for a run without stages."""
    stages = summary.get("stages")
    stages = [stage for stage in stages if isinstance(stage, Mapping)] if isinstance(stages, list) else []
    if not stages:
        return ""
    lines = [f"  {'#':>3} {'stations':>8} {'plateau':>7} {'calls/s':>7} {'out/s':>7} {'in/s':>7} {'errors':>6} "
             f"{'t/o':>5} {'p99':>7} slowest"]
    lines += [_stage_line(stage) for stage in stages]
    lines.append("(each stage's plateau only, its ramp excluded; p99: slowest action, corrected)")
    return "\n".join(fit(line, width - 1) for line in lines)


def _stage_line(stage: Mapping[str, Any]) -> str:
    fleet = stage.get("fleet")
    exchanges = fleet.get("exchanges") if isinstance(fleet, Mapping) else None
    found = [x for x in exchanges.values() if isinstance(x, Mapping)] if isinstance(exchanges, Mapping) else []
    p99s = [(x["corrected_ms"]["p99"], str(action)) for action, x in (exchanges or {}).items()
            if isinstance(x, Mapping) and isinstance(x.get("corrected_ms"), Mapping)
            and _figure(x["corrected_ms"].get("p99")) is not None]
    worst = f"{format_ms(max(p99s)[0]):>7} {max(p99s)[1]}" if p99s else f"{'-':>7}"
    messages = stage.get("messages_per_s") if isinstance(stage.get("messages_per_s"), Mapping) else {}
    plateau = _figure(stage.get("plateau_s"))
    return (f"  {_count(stage.get('index')):>3} {_count(stage.get('stations')):>8} "
            f"{'-' if plateau is None else f'{plateau:g} s':>7} {_count(stage.get('calls_per_s')):>7} "
            f"{_count(messages.get('out')):>7} {_count(messages.get('in')):>7} "
            f"{_count(sum(_figure(x.get('errors_total')) or 0 for x in found) if found else None):>6} "
            f"{_count(sum(_figure(x.get('timeouts')) or 0 for x in found) if found else None):>5} {worst}")


def _figure(value: object) -> float | None:
    """A number of summary.json, or None for anything else (shown as "-")."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _count(value: object) -> str:
    number = _figure(value)
    return "-" if number is None else f"{number:,.0f}"

