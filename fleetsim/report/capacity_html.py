"""capacity.html: the report of a capacity search (``fleetsim capacity``), one
self-contained file like report.html (inline CSS and SVG, no script, nothing
fetched) that a planner hands on.

First the verdict: the sentence, the note, the knee and the first failure.
Then, against the station count of each step: the latency per action (p50,
p99) with its SLO line; the throughput achieved against the throughput offered
(where it bends, the CSMS saturates) with the Universal Scalability Law fitted
to it; errors, timeouts and failed connections.  Then every step in the order
it ran, and the SLOs with where each came from.

Pure: a decoded ``capacity.json`` (results/README.md) in, HTML text out.  A
document with no step, no knee or no fit renders, saying what is missing.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any, Final

from fleetsim.report import html_parts as parts
from fleetsim.report.html import CSS
from fleetsim.report.html_parts import bad, e, ms, note, number, section, table
from fleetsim.report.svg import INK, PALETTE, Axis, Marker, Rule, Series, line_chart, ms_label

CAPACITY_FILE: Final = "capacity.html"
SCHEMA_VERSION: Final = 1
_EXTRA_CSS: Final = """
.verdict.info { background: #e8f1fb; border-left: 5px solid #0a5db5; }
.verdict.headline { font-size: 17px; font-weight: 600; }
.charts > .fit { flex: 1 1 280px; margin-top: 28px; }
table.steps th { white-space: normal; vertical-align: bottom; }
table.steps td:nth-child(7) { white-space: normal; }
table.steps td:last-child { text-align: left; white-space: normal; min-width: 220px; overflow-wrap: anywhere; }
table.steps th:last-child { text-align: left; }
"""
_LATENCY_AXIS: Final = Axis("latency (log scale)", "log", ms_label)
_SMALL: Final = {"width": 370, "height": 220}  # per-action charts: three to a row, readable with 8+ actions
_PASSED, _FAILED, _FIT, _OFFERED = "#009E73", "#D55E00", "#0072B2", "#8c8c8c"
_FIT_SAMPLES: Final = 80
_FAILED_SHOWN: Final = 2  # failed SLOs named in a step's row; the rest in its tooltip
_TRUST: Final = {"good": "a good fit", "poor": "a poor fit: do not plan on it",
                 "too_few": "too few steps to trust"}


def render(document: Mapping[str, Any]) -> str:
    steps: list[Mapping[str, Any]] = list(document.get("steps") or [])
    by_stations = sorted(steps, key=lambda step: step.get("stations") or 0)
    markers = _search_markers(document)
    x_axis = _stations_axis(steps)
    run_id = document.get("run_id") or ""
    title = f"fleetsim capacity {run_id}".strip()
    subtitle = (f"{document.get('csms') or 'a CSMS'}: {len(steps)} step{'s' if len(steps) != 1 else ''}"
                + (f", {_time(document.get('started_at'))} → {_time(document.get('ended_at'))} UTC"
                   if document.get("started_at") else ""))
    nav = "".join(f"<a href='#{anchor}'>{e(label)}</a>" for anchor, label in (
        ("search", "the search"), ("latency", "latency"), ("throughput", "throughput"), ("errors", "errors"),
        ("steps", "steps"), ("slos", "SLOs")))
    sections = [
        _search_section(document),
        _latency_section(by_stations, markers, x_axis),
        _throughput_section(document, by_stations, markers, x_axis),
        _errors_section(by_stations, markers, x_axis),
        _steps_section(steps),
        _slos_section(document, steps),
    ]
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{e(title)}</title><style>{CSS}{_EXTRA_CSS}</style></head><body><main>"
        f"<h1>{e(title)}</h1><p class='sub'>{e(subtitle)}</p><nav>{nav}</nav>"
        f"{_verdict(document)}{''.join(sections)}"
        f"<footer>Made by fleetsim from capacity.json (schema version {e(document.get('schema_version', '?'))}; "
        "its layout is in results/README.md). Latencies are corrected for coordinated omission and measured on "
        "each step's plateau only, the ramp into it left out.</footer>"
        "</main></body></html>\n"
    )


def _time(stamp: object) -> str:
    return str(stamp or "?")[:19].replace("T", " ")


# ---------------------------------------------------------------- the verdict


def _verdict(document: Mapping[str, Any]) -> str:
    knee, failure = document.get("knee"), document.get("first_failure")
    cls = "verdict bad" if not knee else "verdict good" if not failure else "verdict info"
    sentence = document.get("sentence") or "This capacity.json holds no verdict sentence."
    out = [note(e(sentence), f"{cls} headline")]
    if document.get("note"):
        out.append(note(e(document["note"]), "warning"))
    if document.get("schema_version") not in (None, SCHEMA_VERSION):
        out.append(note(f"Written in capacity.json schema version {e(document['schema_version'])}; this fleetsim "
                        f"reads version {SCHEMA_VERSION}: figures it does not know are left out.", "warning"))
    if knee:
        knee_text = (f"{number(knee.get('stations'))} stations, the largest that met every SLO: "
                     f"{number(knee.get('calls_per_s'))} calls answered per second "
                     f"({number(knee.get('messages_per_s'))} OCPP messages per second both ways)")
    else:
        knee_text = "none: no step met every SLO, not even the first"
    if failure:
        failure_text = (f"at {number(failure.get('stations'))} stations, <code>{e(failure.get('slo', '?'))}</code>: "
                        f"{e(failure.get('text', ''))}")
    else:
        maximum = (document.get("search") or {}).get("maximum")
        failure_text = ("none: every step met every SLO" +
                        (f", up to the search's maximum of {number(maximum)} stations" if maximum else ""))
    out.append(f"<dl class='facts'><dt>knee</dt><dd>{e(knee_text)}</dd>"
               f"<dt>first failure</dt><dd>{failure_text}</dd></dl>")
    return "".join(out)


def _search_markers(document: Mapping[str, Any]) -> list[Marker]:
    """The knee and the first failure as vertical lines on every chart (one
    kind, so one legend entry; each labelled)."""
    knee, failure = document.get("knee") or {}, document.get("first_failure") or {}
    found = [(knee.get("stations"), "knee", "knee"), (failure.get("stations"), "first failure", "fails")]
    found = [(stations, name, short) for stations, name, short in found if isinstance(stations, int | float)]
    kind = " and ".join(name for _, name, _ in found)
    return [Marker(float(stations), f"{short} {stations:,g}", kind, detail=f"{name}: {stations:,g} stations")
            for stations, name, short in found]


def _search_section(document: Mapping[str, Any]) -> str:
    search = document.get("search") or {}
    if search.get("factor"):
        growth = f"×{search['factor']:g} per step"
    else:
        growth = f"+{number(search.get('step'))} stations per step"
    resolution = search.get("resolution")
    facts = [
        ("CSMS", e(document.get("csms") or "not recorded") +
         (" (the embedded CSMS)" if document.get("embedded_csms") else "")),
        ("steps up", f"from {number(search.get('start'))} stations, {e(growth)}, up to "
                     f"{number(search.get('maximum'))}"),
        ("bisection", "to " + (f"{resolution * 100:g} %" if isinstance(resolution, int | float) else "?") +
                      " between the last passing and the first failing step"),
        ("each step", f"a plateau of {_seconds(search.get('plateau_s'))} measured after a ramp of "
                      f"{number(search.get('ramp_per_s'))} stations/s; intervals of "
                      f"{_seconds(search.get('interval_s'))}"),
        ("run", e(f"{document.get('run_id') or '?'}, {_time(document.get('started_at'))} → "
                  f"{_time(document.get('ended_at'))} UTC")),
    ]
    body = "<dl class='facts'>" + "".join(f"<dt>{e(k)}</dt><dd>{v}</dd>" for k, v in facts) + "</dl>"
    mix = sorted((document.get("mix") or {}).items(), key=lambda item: (-(item[1] or 0), item[0]))
    colors = {model_id: PALETTE[i % len(PALETTE)] for i, (model_id, _) in enumerate(mix)}
    rows = [[parts.model_cell(model_id, colors), parts.share(share)] for model_id, share in mix]
    body += "<h3>Fleet mix</h3>" + (table(["model", "share of the stations"], rows) or note("Not recorded."))
    return section("search", "The search", "", body)


def _seconds(value: object) -> str:
    return f"{value:g} s" if isinstance(value, int | float) else "? s"


# ---------------------------------------------------------------- charts


def _stations_axis(steps: Sequence[Mapping[str, Any]]) -> Axis:
    """Stations on x; the label says what one station offers, so the axis
    reads as offered load too."""
    rates = [step["offered_calls_per_s"] / step["stations"] for step in steps
             if step.get("stations") and isinstance(step.get("offered_calls_per_s"), int | float)]
    each = f" (each offers ≈{statistics.median(rates):.3g} calls/s)" if rates else ""
    # A quarter beyond the largest step: room for the fitted curve to go on
    # and for the labels of the last steps' marks.
    largest = max((_figure(step.get("stations")) or 0.0 for step in steps), default=0.0)
    return Axis(f"stations{each}", format=lambda v: f"{v:,g}", minimum=0.0, maximum=largest * 1.25 or None)


def _figure(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _actions(steps: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every action, the one closest to (or furthest past) its SLO first;
    actions without a limit after, by name."""
    worst: dict[str, float] = {}
    for step in steps:
        for action, figures in (step.get("actions") or {}).items():
            p99, limit = _figure(figures.get("p99_ms")), _figure(figures.get("limit_ms"))
            ratio = p99 / limit if p99 is not None and limit else -1.0
            worst[action] = max(worst.get(action, -1.0), ratio)
    return sorted(worst, key=lambda action: (-worst[action], action))


def _latency_section(steps: Sequence[Mapping[str, Any]], markers: Sequence[Marker], x_axis: Axis) -> str:
    charts = []
    for action in _actions(steps):
        rows = [(step.get("stations") or 0, (step.get("actions") or {}).get(action) or {}) for step in steps]
        series = [Series("p99", [(n, _figure(f.get("p99_ms"))) for n, f in rows], INK, 2),
                  Series("p50", [(n, _figure(f.get("p50_ms"))) for n, f in rows], "#8c8c8c", 1.5, "5 3")]
        limits = sorted({limit for _, f in rows if (limit := _figure(f.get("limit_ms")))})
        rules = [Rule(limit, f"SLO: p99 < {ms_label(limit)}") for limit in limits]
        charts.append(line_chart(series, title=action, x=x_axis, y=_LATENCY_AXIS, rules=rules, markers=markers,
                                 chart_id=f"chart-latency-{_slug(action)}", **_SMALL))
    body = (f"<div class='charts small'>{''.join(charts)}</div>" if charts
            else note("No step measured any latency."))
    return section("latency", "Latency per action against the load",
                   "Each step's p50 and p99 (corrected for coordinated omission, on the plateau) per action, on a "
                   "log scale, with the SLO's limit on the p99 as a dashed red line. The actions closest to their "
                   "limit come first. A gap is a step in which the action was not answered.", body)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-") or "action"


def usl_calls_per_s(usl: Mapping[str, Any], stations: float) -> float | None:
    """Gunther's Universal Scalability Law: X(N) = λN / (1 + σ(N−1) + κN(N−1)).
    None where the parameters give no throughput (a denominator at or below
    zero, or a parameter missing)."""
    lam, sigma, kappa = (_figure(usl.get(key)) for key in ("lambda", "sigma", "kappa"))
    if lam is None or sigma is None or kappa is None:
        return None
    denominator = 1 + sigma * (stations - 1) + kappa * stations * (stations - 1)
    return lam * stations / denominator if denominator > 0 else None


def _fit_series(usl: Mapping[str, Any], steps: Sequence[Mapping[str, Any]]) -> Series:
    end = max(step.get("stations") or 0 for step in steps) * 1.25
    points = [(end * i / _FIT_SAMPLES, usl_calls_per_s(usl, end * i / _FIT_SAMPLES)) for i in range(_FIT_SAMPLES + 1)]
    trust = usl.get("trust")
    name = "USL fit" + ("" if trust == "good" else f" ({_TRUST.get(trust, 'untrusted')})")
    return Series(name, points, _FIT, 2, "" if trust == "good" else "6 3")


def _usl_rules(usl: Mapping[str, Any], highest: float) -> list[Rule]:
    """The fit's peak or asymptote as a line, when it lies near enough to the
    measurements not to squash them."""
    rules = []
    for key, label in (("peak_calls_per_s", "USL peak"), ("asymptote_calls_per_s", "USL asymptote")):
        value = _figure(usl.get(key))
        if value is not None and 0 < value <= 2 * highest:
            rules.append(Rule(value, f"{label} {number(value)} calls/s", _FIT, "2 3"))
    return rules


def _usl_text(usl: Mapping[str, Any] | None) -> str:
    if not usl:
        return note("No Universal Scalability Law fit: the search recorded none (too few steps, or the fit "
                    "failed). The measured points stand alone.", "warning fit")
    figures = (f"λ = {usl.get('lambda', '?'):.4g}, σ = {usl.get('sigma', '?'):.3g}, κ = {usl.get('kappa', '?'):.3g}"
               if all(_figure(usl.get(k)) is not None for k in ("lambda", "sigma", "kappa")) else "parameters missing")
    r2 = _figure(usl.get("r2"))
    where = ""
    if _figure(usl.get("peak_stations")) is not None:
        where = (f" The fit puts the peak at {number(usl['peak_stations'])} stations "
                 f"({number(usl.get('peak_calls_per_s'))} calls/s); beyond it, more stations get less done.")
    elif _figure(usl.get("asymptote_calls_per_s")) is not None:
        where = (f" The curve saturates without falling, towards {number(usl['asymptote_calls_per_s'])} "
                 "calls/s.")
    trust = usl.get("trust")
    text = (f"USL fit over {number(usl.get('points'))} steps: {figures}, r² = "
            f"{'?' if r2 is None else f'{r2:.3f}'}: {e(_TRUST.get(trust, 'trust unknown'))}.{where}")
    if usl.get("note"):
        text += " " + e(usl["note"])
    return note(text, "note fit" if trust == "good" else "warning fit")


def _throughput_section(document: Mapping[str, Any], steps: Sequence[Mapping[str, Any]],
                        markers: Sequence[Marker], x_axis: Axis) -> str:
    usl = document.get("usl")
    intro = ("Calls answered per second on each step's plateau (dots: green passed every SLO, red did not) against "
             "the calls the stations would have sent had the CSMS kept up (grey). Where the dots fall away from "
             "the grey line, the CSMS is saturated. The blue curve is the Universal Scalability Law fitted to the "
             "dots, X(N) = λN / (1 + σ(N−1) + κN(N−1)); dashed when the fit is not to be trusted.")
    if not steps:
        return section("throughput", "Throughput: achieved against offered", intro,
                       note("No step ran.") + _usl_text(usl))
    def rate(key: str, passed: bool | None) -> list[tuple[float, float | None]]:
        return [(step.get("stations") or 0, _figure(step.get(key))) for step in steps
                if passed is None or bool(step.get("passed")) == passed]
    series = [Series("offered", rate("offered_calls_per_s", None), _OFFERED, 1.5, "5 3"),
              Series("achieved, passed", rate("achieved_calls_per_s", True), _PASSED, 4, line=False),
              Series("achieved, failed", rate("achieved_calls_per_s", False), _FAILED, 4, line=False)]
    rules: list[Rule] = []
    if usl:
        series.insert(1, _fit_series(usl, steps))
        highest = max((y for s in series for _, y in s.points if y is not None), default=0.0)
        rules = _usl_rules(usl, highest)
    chart = line_chart([s for s in series if s.points], title="Calls per second: achieved and offered", x=x_axis,
                       y=Axis("calls / s", format=lambda v: f"{v:,g}", minimum=0.0), rules=rules, markers=markers,
                       width=740, height=300, chart_id="chart-throughput")
    return section("throughput", "Throughput: achieved against offered", intro,
                   f"<div class='charts'>{chart}{_usl_text(usl)}</div>")


def _errors_section(steps: Sequence[Mapping[str, Any]], markers: Sequence[Marker], x_axis: Axis) -> str:
    def percent(step: Mapping[str, Any], key: str) -> float | None:
        value = _figure(step.get(key))
        return None if value is None else value * 100

    def timeout_share(step: Mapping[str, Any]) -> float | None:
        timeouts, answered = _figure(step.get("timeouts")), _figure(step.get("answered"))
        if timeouts is None or answered is None:
            return None
        return 100 * timeouts / (answered + timeouts) if answered + timeouts else 0.0

    series = [Series("CALLERRORs (share of calls)", [(s.get("stations") or 0, percent(s, "error_rate")) for s in steps],
                     _FAILED, 2),
              Series("timeouts (share of calls)", [(s.get("stations") or 0, timeout_share(s)) for s in steps], INK,
                     1.5, "5 3"),
              Series("failed connects (share of attempts)",
                     [(s.get("stations") or 0, percent(s, "connect_failure_rate")) for s in steps], "#CC79A7", 1.5,
                     "2 2")]
    intro = ("Per step: the share of calls answered with a CALLERROR, of calls not answered within the declared "
             "timeout, and of connection attempts that failed. Counts are in the table of steps.")
    if not steps:
        body = note("No step ran.")
    elif not any(y for s in series for _, y in s.points):
        body = note("No CALLERROR, no timeout and no failed connection at any step.", "verdict good")
    else:
        body = "<div class='charts'>" + line_chart(
            series, title="Errors, timeouts and failed connections", x=x_axis,
            y=Axis("% of calls / attempts", format=lambda v: f"{v:g}%", minimum=0.0), markers=markers, width=740,
            height=260, chart_id="chart-errors") + "</div>"
    return section("errors", "Errors and connection failures per step", intro, body)


# ---------------------------------------------------------------- tables


def _worst(step: Mapping[str, Any]) -> str:
    """The action whose p99 came closest to (or went furthest past) its SLO
    limit; without limits, the slowest p99."""
    candidates = []
    for action, figures in (step.get("actions") or {}).items():
        p99, limit = _figure(figures.get("p99_ms")), _figure(figures.get("limit_ms"))
        if p99 is not None:
            candidates.append((p99 / limit if limit else -1.0, p99, action, limit))
    if not candidates:
        return "–"
    _, p99, action, limit = max(candidates)
    return f"{e(action)} <b>{ms(p99)}</b>" + (f" <span class='dim'>/ {ms(limit)}</span>" if limit else "")


def _verdict_cell(step: Mapping[str, Any]) -> str:
    """Pass, or fail with the SLOs that broke (the first few; every one in
    the tooltip, each with its explanation)."""
    failed = [v for v in step.get("verdicts") or [] if not v.get("passed")]
    if step.get("passed"):
        return "<span class='badge pass'>pass</span>"
    shown = "".join(f"<br><code>{e(v.get('slo', '?'))}</code> {e(v.get('observed', ''))}"
                    for v in failed[:_FAILED_SHOWN])
    more = f"<br>and {len(failed) - _FAILED_SHOWN} more" if len(failed) > _FAILED_SHOWN else ""
    tooltip = e("\n".join(str(v.get("text") or v.get("slo", "?")) for v in failed))
    return f"<span title='{tooltip}'><span class='badge fail'>fail</span>{shown}{more}</span>"


def _steps_section(steps: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for step in steps:
        first = number(step.get("index"))
        rows.append([first if step.get("passed") else bad(first), e(step.get("phase", "?")),
                     number(step.get("stations")), number(step.get("offered_calls_per_s")),
                     number(step.get("achieved_calls_per_s")), number(step.get("messages_per_s")), _worst(step),
                     number(step.get("errors")), number(step.get("timeouts")), number(step.get("connect_failures")),
                     "yes" if step.get("cut_short") else "no", _verdict_cell(step)])
    # The verdict, last, reads as text (CSS: table.steps td:last-child).
    body = table(["#", "phase", "stations", "offered calls/s", "achieved calls/s", "messages/s", "worst p99 / limit",
                  "errors", "timeouts", "failed connects", "cut short", "verdict"], rows, cls="steps",
                 numeric_from=2)
    return section("steps", "Every step, in the order it ran",
                   "<i>step</i>: stepping up; <i>bisect</i>: between the last passing and the first failing step. "
                   "Rates are over the plateau. <i>Cut short</i>: abandoned before the plateau's end, the step "
                   "clearly lost. Rows in red failed an SLO; hover a failed SLO for its explanation.",
                   body or note("No step ran: the search stopped before its first plateau."))


def _slos_section(document: Mapping[str, Any], steps: Sequence[Mapping[str, Any]]) -> str:
    broke: dict[str, float] = {}
    for step in steps:
        for verdict in step.get("verdicts") or []:
            stations = _figure(step.get("stations"))
            if not verdict.get("passed") and stations is not None:
                slo = str(verdict.get("slo"))
                broke[slo] = min(broke.get(slo, stations), stations)
    rows = [[f"<code>{e(slo.get('expression', '?'))}</code>", e(slo.get("source", "?")), e(slo.get("why") or "–"),
             number(broke.get(str(slo.get("expression")))) if slo.get("expression") in broke else "never"]
            for slo in document.get("slos") or []]
    body = table(["SLO", "source", "why this limit", "first broken at (stations)"], rows, numeric_from=3)
    return section("slos", "The SLOs each step was judged against",
                   "<i>default</i>: fleetsim's own (no timeouts, errors and failed connects below 0.1 %, every "
                   "action's p99 below a tenth of the tightest declared response timeout of the models that send "
                   "it); otherwise given with <code>--slo</code>.", body or note("No SLO recorded."))
