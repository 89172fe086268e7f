"""Building blocks of the HTML report: escaping, figures, tables, and the
sections that are tables (the run, a staged run's stages, errors, CSMS calls,
connections, the simulator's own lag).  Pure: dicts of ``summary.json`` in,
HTML text out."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any, Final

from fleetsim.metrics.summary import FIGURE_KEYS
from fleetsim.report.svg import PALETTE
from fleetsim.report.thresholds import FLEET, format_ms

_BAD: Final = "<!--bad-->"
EXCHANGE_PERCENTILES: Final = FIGURE_KEYS
# How a station answered a CSMS call: the answer's class picks the colour.
_GOOD: Final = frozenset({"Accepted", "answered", "Unlocked", "Scheduled"})
_REFUSED: Final = frozenset({"Rejected", "NotSupported", "Occupied", "Unavailable", "Faulted", "Unknown",
                             "UnknownVendorId", "UnknownMessageId", "Failed", "NotFound", "UnlockFailed",
                             "VersionMismatch"})


def model_colors(summary: Mapping[str, Any]) -> dict[str, str]:
    return {model_id: PALETTE[i % len(PALETTE)] for i, model_id in enumerate(sorted(summary.get("models") or {}))}


def e(value: object) -> str:
    return escape(str(value), quote=True)


def ms(value: float | None) -> str:
    return "–" if value is None else format_ms(value)


def share(value: float | None) -> str:
    if value is None:
        return "–"
    return "0" if value == 0 else f"{value * 100:.3g}%"


def number(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, cls: str = "", numeric_from: int = 1) -> str:
    """Cells are HTML already (escape text with :func:`e`); columns from
    ``numeric_from`` on are right-aligned."""
    head = "".join(f"<th{' class=num' if i >= numeric_from else ''}>{e(h)}</th>" for i, h in enumerate(headers))
    body = []
    for row in rows:
        row_cls = ""
        if row and row[0].startswith(_BAD):
            row_cls = " class='bad'"
            row = [row[0].removeprefix(_BAD), *row[1:]]
        cells = "".join(f"<td{' class=num' if i >= numeric_from else ''}>{cell}</td>" for i, cell in enumerate(row))
        body.append(f"<tr{row_cls}>{cells}</tr>")
    if not body:
        return ""
    return (f"<div class='scroll'><table class='{cls}'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody>"
            "</table></div>")


def bad(cell: str) -> str:
    """Mark the row that starts with this cell (a breach of a declared limit)."""
    return _BAD + cell


def swatch(color: str) -> str:
    return f"<span class='swatch' style='background:{color}'></span>"


def model_cell(model_id: str, colors: Mapping[str, str]) -> str:
    return swatch(colors.get(model_id, "#222")) + e(model_id)


def section(anchor: str, title: str, intro: str, body: str) -> str:
    return (f"<section id='{e(anchor)}'><h2>{e(title)}</h2>"
            f"{f'<p class=intro>{intro}</p>' if intro else ''}{body}</section>")


def note(text: str, cls: str = "note") -> str:
    return f"<p class='{cls}'>{text}</p>"


# ---------------------------------------------------------------- the run


def _unset(run: Mapping[str, Any], key: str) -> str:
    """What a null run field means: merged shards that differ, or a run that
    did not record it (a killed shard has no ``summary.json``)."""
    shards = run.get("merged_from") or []
    known = shards and all(shard.get(key) is not None for shard in shards)
    return "mixed (the merged runs differ)" if known else "unknown"


def _build(run: Mapping[str, Any]) -> str:
    """Which build made the run (fleetsim.build), where it says: the same
    behaviour, not the same calls per CPU-second."""
    build = run.get("build")
    return f" ({e(build)} build)" if build else ""


def _seconds(value: float | None) -> str:
    return "?" if value is None else f"{value:g}"


def run_section(summary: Mapping[str, Any], colors: Mapping[str, str]) -> str:
    run = summary["run"]
    models = summary.get("models") or {}
    length = (f"{_seconds(run.get('duration_s'))} s requested" +
              (f", {run['started_at'][:19].replace('T', ' ')} → {run['ended_at'][11:19]} UTC"
               if run.get("started_at") and run.get("ended_at") else ""))
    speed = run.get("speed", 1)
    if speed is None:
        acceleration = e(_unset(run, "speed"))
    else:
        acceleration = f"{speed:g}× (OCPP intervals and sessions)"
        if run.get("duration_s") and speed != 1:
            acceleration += f": {run['duration_s'] * speed / 3600:.4g} h of fleet life"
    if run.get("simulated_start"):
        acceleration += f" from {e(run['simulated_start'])}"
    scenario = run.get("scenario") or (_unset(run, "scenario") if run.get("merged_from")
                                       else "the command line's options")
    facts = [
        ("scenario", e(scenario)),
        ("CSMS", e(run["csms"] if run.get("csms") is not None else
                   _unset(run, "csms") if "csms" in run else "not recorded (the run broke before it ended)")),
        ("stations", number(sum((run.get("fleet") or {}).values()))),
        ("run", e(length)),
        ("time acceleration", acceleration),
        ("messages", f"{number(run.get('messages_sent'))} sent, {number(run.get('messages_received'))} received"),
        ("failed connection attempts", number(run.get("connect_failures"))),
        ("seed", e(run["seed"] if run.get("seed") is not None else _unset(run, "seed"))),
        ("fleetsim", f"{e(run.get('fleetsim_version', '?'))}{_build(run)} on {e(run.get('host', '?'))}, "
                     f"intervals of {_seconds(run.get('interval_s', 1))} s"),
    ]
    facts_html = "<dl class='facts'>" + "".join(f"<dt>{e(k)}</dt><dd>{v}</dd>" for k, v in facts) + "</dl>"
    rows = []
    for model_id, stations in sorted((run.get("fleet") or {}).items()):
        model = models.get(model_id) or {}
        exchanges = (model.get("exchanges") or {}).values()
        boot = (model.get("boot") or {}).get("answers") or {}
        calls = sum(x.get("count", 0) for x in exchanges)
        errors = sum(x.get("errors_total", 0) for x in exchanges)
        timeouts = sum(x.get("timeouts", 0) for x in exchanges)
        late = sum(x.get("late", 0) for x in exchanges)
        first = model_cell(model_id, colors)
        rows.append([bad(first) if timeouts or late else first, number(stations),
                     _declared(model.get("declared_timeout_s")), number(calls), number(errors),
                     number(timeouts), number(late),
                     ", ".join(f"{e(status)} {n}" for status, n in sorted(boot.items())) or "–"])
    mix = table(["model", "stations", "declared response timeout", "calls", "errors", "timeouts", "late answers",
                 "BootNotification answers"], rows)
    flags = []
    if not run.get("completed", True):
        flags.append(note("The run itself broke: these are the figures measured until then.", "warning"))
    if run.get("interrupted"):
        flags.append(note("The run was stopped early (Ctrl-C or SIGTERM).", "warning"))
    if run.get("dropped"):
        flags.append(note("Torn lines of killed runs, left out: " + "; ".join(e(line) for line in run["dropped"]),
                          "warning"))
    return section("run", "The run", "", facts_html + "".join(flags) + "<h3>Fleet mix</h3>" + mix)


def _declared(timeout_s: float | None) -> str:
    return "unknown" if timeout_s is None else ms(timeout_s * 1000)


def headline(summary: Mapping[str, Any]) -> str:
    """The sentence a capacity planner reads first."""
    fleet = (summary.get("fleet") or {}).get("exchanges") or {}
    count = sum(x.get("count", 0) for x in fleet.values())
    errors = sum(x.get("errors_total", 0) for x in fleet.values())
    timeouts = sum(x.get("timeouts", 0) for x in fleet.values())
    late = sum(x.get("late", 0) for x in fleet.values())
    corrected_over = sum(round((x.get("corrected_over_declared_share") or 0) * x.get("count", 0))
                         for x in fleet.values())
    if not count:
        return note("The stations' calls were never answered or never sent: no latency to report.", "verdict bad")
    parts = [f"{number(count)} calls from the stations; {number(errors)} answered with a CALLERROR "
             f"({share(errors / count)}), {number(timeouts)} not answered within the model's declared response "
             f"timeout, {number(late)} answered after it."]
    if timeouts or late or corrected_over:
        parts.append(f"{number(corrected_over)} calls waited longer than their model's declared timeout, counting "
                     "from when the station meant to send them.")
        return note(" ".join(parts), "verdict bad")
    parts.append("Every answer came within every model's declared response timeout.")
    # Answered in time is not answered well: CALLERRORs make it no green verdict.
    return note(" ".join(parts), "verdict warn" if errors else "verdict good")


def glance_table(summary: Mapping[str, Any]) -> str:
    """Per action, fleet-wide: counts, latency, and the headroom to the
    tightest declared timeout."""
    rows = []
    for action, x in sorted(((summary.get("fleet") or {}).get("exchanges") or {}).items()):
        corrected = x.get("corrected_ms") or {}
        service = x.get("service_ms") or {}
        declared = x.get("declared_timeout_ms")
        worst = corrected.get("p99.9")
        headroom = f"{declared / worst:,.0f}×" if declared and worst else "–"
        over = (x.get("corrected_over_declared_share") or 0) > 0 or x.get("over_declared", 0) > 0
        rows.append([bad(e(action)) if over else e(action), number(x.get("count")), number(x.get("errors_total")),
                     number(x.get("timeouts")), number(x.get("late")), ms(corrected.get("p50")),
                     ms(corrected.get("p99")), ms(corrected.get("p99.9")), ms(corrected.get("max")),
                     ms(service.get("p99")), ms(declared), headroom, share(x.get("corrected_over_declared_share"))])
    return table(["action", "calls", "errors", "timeouts", "late", "p50", "p99", "p99.9", "max", "service p99",
                  "declared", "headroom", "over declared"], rows, cls="glance")


def percentiles_table(summary: Mapping[str, Any], action: str, colors: Mapping[str, str]) -> str:
    rows = []
    models = sorted((summary.get("models") or {}).items())
    scopes = [(model_id, (model.get("exchanges") or {}).get(action)) for model_id, model in models]
    scopes.append((FLEET, ((summary.get("fleet") or {}).get("exchanges") or {}).get(action)))
    for scope, x in scopes:
        if x is None:
            continue
        corrected = x.get("corrected_ms") or {}
        over = x.get("over_declared", 0) > 0 or (x.get("corrected_over_declared_share") or 0) > 0
        first = model_cell(scope, colors) if scope != FLEET else "<b>all models</b>"
        rows.append([bad(first) if over else first, number(x.get("count")),
                     *(ms(corrected.get(p)) for p in EXCHANGE_PERCENTILES),
                     share(x.get("corrected_over_declared_share"))])
    return table(["model", "calls", *EXCHANGE_PERCENTILES, "over declared"], rows, cls="compact")


# ---------------------------------------------------------------- stages


def figure(value: object) -> float | None:
    """A number of summary.json, or None for anything else (a missing or
    mangled field shows as "–" rather than breaking the report)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def figures(mapping: Mapping[str, Any], *keys: str) -> tuple[float, ...] | None:
    """The numbers under ``keys``, or None when one is not a number."""
    found = tuple(figure(mapping.get(key)) for key in keys)
    return None if any(value is None for value in found) else tuple(v for v in found if v is not None)


def stage_list(summary: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """summary.json's ``stages`` (a staged run's), objects only; [] without."""
    stages = summary.get("stages")
    return [stage for stage in stages if isinstance(stage, Mapping)] if isinstance(stages, list) else []


def exchanges_of(fleet: object) -> dict[str, Mapping[str, Any]]:
    """A fleet section's exchanges by action (objects only; {} without)."""
    exchanges = fleet.get("exchanges") if isinstance(fleet, Mapping) else None
    if not isinstance(exchanges, Mapping):
        return {}
    return {str(action): x for action, x in exchanges.items() if isinstance(x, Mapping)}


def worst_p99(fleet: object) -> tuple[str, float] | None:
    """The action with the highest corrected p99 in a fleet section, and that p99 (ms)."""
    found = [(p99, action) for action, x in exchanges_of(fleet).items()
             if isinstance(corrected := x.get("corrected_ms"), Mapping)
             and (p99 := figure(corrected.get("p99"))) is not None]
    if not found:
        return None
    p99, action = max(found)
    return str(action), p99


def _stage_row(stage: Mapping[str, Any]) -> list[str]:
    fleet = stage.get("fleet")
    exchanges = list(exchanges_of(fleet).values())
    errors = sum(figure(x.get("errors_total")) or 0 for x in exchanges)
    timeouts = sum(figure(x.get("timeouts")) or 0 for x in exchanges)
    over = sum(figure(x.get("over_declared")) or 0 for x in exchanges)
    worst = worst_p99(fleet)
    messages = stage.get("messages_per_s") if isinstance(stage.get("messages_per_s"), Mapping) else {}
    first = e(stage.get("index", "?"))
    return [bad(first) if timeouts or over else first,
            *(number(figure(stage.get(key))) for key in ("stations", "from_stations", "excluded_s", "plateau_s",
                                                         "calls_per_s")),
            number(figure(messages.get("out"))), number(figure(messages.get("in"))),
            "–" if worst is None else f"{ms(worst[1])} {e(worst[0])}",
            number(errors if exchanges else None), number(timeouts if exchanges else None)]


def stages_section(summary: Mapping[str, Any]) -> str:
    """A staged run's stages, each measured on its plateau alone; "" for a run without stages."""
    stages = stage_list(summary)
    if not stages:
        return ""
    body = table(["stage", "target", "from", "ramp excluded (s)", "plateau (s)", "calls answered/s",
                  "messages/s out", "messages/s in", "worst p99 (action)", "errors", "timeouts"],
                 [_stage_row(stage) for stage in stages])
    return section("stages", "Stages",
                   "Each stage moves the running stations to its target at the run's ramp rate, then holds them. "
                   "<b>The ramp into each stage is excluded from its figures</b>: they are its plateau's alone "
                   "(from the first interval tick after the ramp to the stage's end; <i>ramp excluded</i> says how "
                   "long was left out). The p99 is the corrected latency of the action slowest on the plateau, all "
                   "models together; rows in red had timeouts or answers past a declared timeout. Each chart over "
                   "time marks the stages' starts and their plateaus.", body)


# ---------------------------------------------------------------- errors, CSMS calls, connections


def errors_section(summary: Mapping[str, Any], colors: Mapping[str, str], *, drove_fleet: bool = True) -> str:
    rows = []
    for model_id, model in sorted((summary.get("models") or {}).items()):
        for action, x in sorted((model.get("exchanges") or {}).items()):
            if not (x.get("errors_total") or x.get("timeouts") or x.get("late")):
                continue
            codes = ", ".join(f"{e(code)} {n}" for code, n in sorted((x.get("errors") or {}).items())) or "–"
            failed = (x.get("errors_total", 0) + x.get("timeouts", 0)) / x["count"] if x.get("count") else None
            rows.append([bad(e(action)) if x.get("timeouts") or x.get("late") else e(action),
                         model_cell(model_id, colors), number(x.get("count")), codes, number(x.get("timeouts")),
                         number(x.get("late")), share(failed)])
    body = table(["action", "model", "calls", "CALLERRORs by code", "timeouts", "late answers", "failed share"], rows,
                 numeric_from=2)
    if not body and drove_fleet:
        body = note("No CALLERROR, no timeout, no late answer: every call the stations sent was answered in time.",
                    "verdict good")
    elif not body:
        body = note("No CALLERROR, no timeout, no late answer, but not every station connected and booted, so not "
                    "every station sent its calls: see the verdict at the top.", "warning")
    problems = []
    for name, n in sorted(((summary.get("fleet") or {}).get("counters") or {}).items()):
        if name.startswith(("csms.", "lost.", "abandoned.", "transaction.never_started", "end.undelivered")) and n:
            problems.append(f"<li><code>{e(name)}</code> {number(n)}</li>")
    if problems:
        body += ("<h3>Protocol and delivery problems</h3><p class=intro>Answers the CSMS got wrong, and calls lost to "
                 "disconnects or given up (counters of summary.json).</p>"
                 f"<ul class='counters'>{''.join(problems)}</ul>")
    return section("errors", "Errors and timeouts per action",
                   "A timeout is a call left unanswered for longer than the sending model's declared response "
                   "timeout (the station then gives up on it, as the model does); a late answer came after that "
                   "timeout while the call was still awaited, which only a simulator that fell behind lets happen.",
                   body)


def _answer_class(answer: str) -> str:
    if answer in _GOOD:
        return "ok"
    if answer in _REFUSED:
        return "refused"
    if answer == "unanswered":
        return "none"
    return "error"  # a CALLERROR code (NotImplemented, ...)


def csms_calls_section(summary: Mapping[str, Any], colors: Mapping[str, str]) -> str:
    models = sorted(summary.get("models") or {})
    actions = sorted({action for m in (summary.get("models") or {}).values() for action in (m.get("csms_calls") or {})})
    rows = []
    for action in actions:
        cells = [e(action)]
        for model_id in models:
            answers = ((summary["models"][model_id].get("csms_calls") or {}).get(action)) or {}
            cells.append(" ".join(f"<span class='answer {_answer_class(answer)}'>{e(answer)} {n}</span>"
                                  for answer, n in sorted(answers.items())) or "<span class='dim'>–</span>")
        rows.append(cells)
    headers = ["CSMS call", *models]
    body = table(headers, rows, cls="calls", numeric_from=len(headers))
    if not body:
        body = note("The CSMS sent no calls to the stations.")
    else:
        body += ("<p class='legend'><span class='answer ok'>accepted / answered</span> "
                "<span class='answer refused'>refused or not supported by the model</span> "
                "<span class='answer error'>CALLERROR code</span> <span class='answer none'>unanswered</span></p>")
    return section("csms-calls", "CSMS calls and how each model answered",
                   "Calls the CSMS sent to the stations, by the answer each model gave: a model answers what its "
                   "certificate says it supports, and NotSupported or NotImplemented for the rest.", body)


def connections_section(summary: Mapping[str, Any], colors: Mapping[str, str]) -> str:
    rows, reactions = [], []
    for model_id, model in sorted((summary.get("models") or {}).items()):
        connection = model.get("connection") or {}
        boot = model.get("boot") or {}
        failures = ", ".join(f"{e(k)} {n}" for k, n in sorted((connection.get("failures") or {}).items())) or "–"
        lost = ", ".join(f"{e(k)} {n}" for k, n in sorted((connection.get("disconnects") or {}).items())) or "–"
        connect_ms, boot_ms = connection.get("connect_ms") or {}, boot.get("boot_ms") or {}
        rows.append([model_cell(model_id, colors), number(connection.get("connects")),
                     number(connection.get("reconnects")), failures, lost, ms(connect_ms.get("p50")),
                     ms(connect_ms.get("p99")), ms(boot_ms.get("p50")), ms(boot_ms.get("p99"))])
        for name, reaction in sorted((model.get("reactions") or {}).items()):
            figures = reaction.get("ms") or {}
            first = model_cell(model_id, colors)
            reactions.append([bad(first) if reaction.get("over_declared") else first, e(name),
                              number(reaction.get("count")), ms(figures.get("p50")),
                              ms(figures.get("p99")), ms(figures.get("max")), ms(reaction.get("declared_max_ms")),
                              number(reaction.get("over_declared"))])
    body = table(["model", "connects", "reconnects", "failed attempts", "disconnects", "setup p50", "setup p99",
                  "boot p50", "boot p99"], rows, numeric_from=1)
    if reactions:
        body += ("<h3>The stations' own reaction times</h3><p class=intro>How fast the simulated stations reacted to "
                 "CSMS calls, against the maxima declared in their certificates (the stations' side, not the "
                 "CSMS's).</p>" + table(["model", "reaction", "count", "p50", "p99", "max", "declared max",
                                         "over declared"], reactions, numeric_from=2))
    return section("connections", "Connections and boot",
                   "Setup is TCP + TLS + WebSocket handshake; boot is from the open connection to BootNotification "
                   "Accepted.", body)


def simulator_table(summary: Mapping[str, Any]) -> str:
    simulator = summary.get("simulator") or {}
    rows = []
    for name, label in (("loop_lag_ms", "event-loop lag"), ("timer_lag_ms", "station timer lag"),
                        ("gc_pause_ms", "garbage-collector pauses")):
        figures = simulator.get(name)
        if figures:
            rows.append([e(label), number(figures.get("count")), *(ms(figures.get(p)) for p in EXCHANGE_PERCENTILES)])
    body = table(["series", "count", *EXCHANGE_PERCENTILES], rows)
    collections = simulator.get("gc_collections") or {}
    if collections:
        body += note("Garbage collections by generation: " +
                     ", ".join(f"gen {e(g)}: {number(n)}" for g, n in sorted(collections.items())) + ".")
    return body or note("The simulator's own lag was not measured in this run.")
