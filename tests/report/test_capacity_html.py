"""capacity.html read as text: documents shaped as capacity.json, made by a
small model of a CSMS with a known capacity, render the verdict, every step,
the SLO lines and the fitted curve; hostile labels stay text; and the
documents a search can end with (no step, one step, no knee, no fit, a first
step that fails without an error) render and say what is missing."""

from __future__ import annotations

import re
from collections.abc import Sequence
from html import escape
from html.parser import HTMLParser
from typing import Any

import pytest

from fleetsim.report.capacity_html import render, usl_calls_per_s
from fleetsim.report.svg import Axis, Series, line_chart

PER_STATION = 1.0  # calls/s one station offers
LIMIT_MS = 1000.0
ACTIONS = ("Heartbeat", "StartTransaction", "StatusNotification", "MeterValues", "StopTransaction", "Authorize",
           "BootNotification", "DataTransfer", "FirmwareStatusNotification")
SENTENCE = ("ws://127.0.0.1:9000/ocpp: 900 stations of this mix (1,800 OCPP messages/s) met every SLO; at 1,000 "
            "StartTransaction p99 reached 1.4 s against the 1 s limit (bionever-bss011k-v1000).")
# The modelled CSMS's throughput follows this law (X(N) = λN / (1 + σ(N−1) + κN(N−1))): its peak is at
# sqrt((1 − σ) / κ) = 1,826 stations, 1,073 calls/s.
GOOD_USL = {"lambda": 1.0, "sigma": 0.0001, "kappa": 0.0000003, "r2": 0.98, "points": 7, "peak_stations": 1826.0,
            "peak_calls_per_s": 1073.0, "asymptote_calls_per_s": None, "trust": "good",
            "note": "seven steps, r² 0.98: the fit follows the measurements"}


def achieved_calls_per_s(stations: int) -> float:
    """What the modelled CSMS answers, written out here rather than taken
    from the module under test."""
    lam, sigma, kappa = GOOD_USL["lambda"], GOOD_USL["sigma"], GOOD_USL["kappa"]
    return lam * stations / (1 + sigma * (stations - 1) + kappa * stations * (stations - 1))


def make_step(index: int, stations: int, *, phase: str = "step", actions: Sequence[str] = ACTIONS,
              errors: int = 0, connect_failures: int = 0, slowdown: float = 1.0) -> dict[str, Any]:
    """A step against a CSMS that answers as GOOD_USL says: latency climbs as
    the share of the offered calls it fails to answer grows (p99 = 5 ms /
    (1 - 3.5 × shortfall)), each action a little slower than the one before."""
    offered = stations * PER_STATION
    achieved = min(offered, achieved_calls_per_s(stations))
    load = min(3.5 * (1 - achieved / offered), 0.995)
    figures = {}
    for rank, action in enumerate(actions):
        p99 = 5.0 * (1 + rank / 4) / (1 - load) * slowdown
        figures[action] = {"count": max(1, round(achieved * 20 / len(actions))), "p50_ms": p99 / 4, "p99_ms": p99,
                           "max_ms": p99 * 2, "limit_ms": LIMIT_MS}
    verdicts = [{"slo": f"{action}.p99 < 1s", "passed": x["p99_ms"] < LIMIT_MS, "observed": f"{x['p99_ms']:.1f} ms",
                 "text": f"{action} p99 reached {x['p99_ms']:.1f} ms against the 1 s limit"}
                for action, x in figures.items()]
    verdicts.append({"slo": "errors < 0.1%", "passed": errors / max(1, achieved * 20) < 0.001,
                     "observed": str(errors), "text": f"{errors} CALLERRORs"})
    answered = round(achieved * 20)
    return {"index": index, "phase": phase, "stations": stations, "start_s": 21.0 * (index - 1),
            "plateau_start_s": 21.0 * (index - 1) + 1, "end_s": 21.0 * index, "plateau_s": 20.0,
            "offered_calls_per_s": offered, "achieved_calls_per_s": achieved, "messages_per_s": 2 * achieved,
            "answered": answered, "errors": errors, "timeouts": 0, "connects": stations,
            "connect_failures": connect_failures, "error_rate": errors / answered if answered else 0.0,
            "connect_failure_rate": connect_failures / stations, "actions": figures, "verdicts": verdicts,
            "passed": all(v["passed"] for v in verdicts), "cut_short": False}


def make_document(steps: Sequence[dict[str, Any]], *, usl: dict[str, Any] | None = None,
                  mix: dict[str, float] | None = None, note: str | None = None,
                  sentence: str = SENTENCE) -> dict[str, Any]:
    """capacity.json around ``steps``: the knee and the first failure worked
    out from them as the search defines them."""
    passed = [s for s in steps if s["passed"]]
    failed = sorted((s for s in steps if not s["passed"]), key=lambda s: s["stations"])
    knee = max(passed, key=lambda s: s["stations"], default=None)
    first = failed[0] if failed else None
    broken = next((v for v in first["verdicts"] if not v["passed"]), None) if first else None
    slos = sorted({v["slo"] for s in steps for v in s["verdicts"]}) or ["Heartbeat.p99 < 1s"]
    return {
        "schema_version": 1, "run_id": "cap-20261206-150000", "csms": "ws://127.0.0.1:9000/ocpp",
        "embedded_csms": False, "started_at": "2026-12-06T15:00:00+00:00", "ended_at": "2026-12-06T15:05:00+00:00",
        "mix": mix if mix is not None else {"bionever-bss011k-v1000": 0.8, "acme-ac22": 0.2},
        "search": {"start": 200, "step": 200, "factor": None, "plateau_s": 20.0, "maximum": 5000,
                   "resolution": 0.05, "ramp_per_s": 200.0, "interval_s": 1.0},
        "slos": [{"expression": slo, "source": "default", "why": "a tenth of the tightest declared timeout (10 s)"}
                 for slo in slos],
        "steps": list(steps),
        "knee": None if knee is None else {"stations": knee["stations"], "calls_per_s": knee["achieved_calls_per_s"],
                                           "messages_per_s": knee["messages_per_s"]},
        "first_failure": None if first is None else {"stations": first["stations"], "slo": broken["slo"],
                                                     "text": broken["text"]},
        "usl": usl,
        "sentence": sentence,
        "note": note,
    }


def searched(**kwargs: Any) -> dict[str, Any]:
    """Stepping up by 200 to the first failure at 1,000, then bisecting."""
    stations = [(200, "step"), (400, "step"), (600, "step"), (800, "step"), (1000, "step"), (900, "bisect"),
                (950, "bisect")]
    steps = [make_step(i, n, phase=phase, errors=40 if n >= 1000 else 0) for i, (n, phase) in enumerate(stations, 1)]
    return make_document(steps, **kwargs)


class _Tags(HTMLParser):
    """Every start tag, and whether the elements close in order."""

    VOID = frozenset({"meta", "br", "img", "input", "link", "hr", "line", "circle", "polyline", "rect"})

    def __init__(self) -> None:
        super().__init__()
        self.started: list[str] = []
        self.stack: list[str] = []
        self.unbalanced: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.started.append(tag)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.started.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        if not self.stack or self.stack.pop() != tag:
            self.unbalanced.append(tag)


def tags(page: str) -> _Tags:
    parser = _Tags()
    parser.feed(page)
    parser.close()
    return parser


def chart(page: str, chart_id: str) -> str:
    found = re.search(rf"<svg [^>]*id='{re.escape(chart_id)}'.*?</svg>", page, flags=re.S)
    assert found, chart_id
    return found.group(0)


def steps_rows(page: str) -> list[str]:
    body = re.search(r"<table class='steps'>.*?<tbody>(.*?)</tbody>", page, flags=re.S)
    assert body
    return re.findall(r"<tr[^>]*>.*?</tr>", body.group(1), flags=re.S)


# ---------------------------------------------------------------- content


def test_the_verdict_comes_first_with_the_knee_and_the_first_failure() -> None:
    document = searched(usl=GOOD_USL, note="the embedded CSMS: what was measured is its own capacity")
    page = render(document)
    assert document["knee"]["stations"] == 950 and document["first_failure"]["stations"] == 1000
    sentence_at = page.index("900 stations of this mix (1,800 OCPP messages/s) met every SLO")
    assert sentence_at < page.index("<section")
    assert "the embedded CSMS: what was measured is its own capacity" in page[:page.index("<section")]
    verdict = page[sentence_at:page.index("<section")]
    assert "950 stations, the largest that met every SLO" in verdict
    assert "at 1,000 stations" in verdict and escape(document["first_failure"]["slo"]) in verdict
    assert tags(page).unbalanced == []


def test_every_step_is_a_row_in_the_order_it_ran() -> None:
    document = searched(usl=GOOD_USL)
    rows = steps_rows(render(document))
    assert len(rows) == len(document["steps"]) == 7
    for row, step in zip(rows, document["steps"], strict=True):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)
        assert cells[0] == str(step["index"])
        assert cells[1] == step["phase"]
        assert cells[2] == f"{step['stations']:,}"
        assert ("class='bad'" in row) == (not step["passed"])
        assert ("badge fail" in cells[-1]) == (not step["passed"])
        # the worst action is the slowest: the last of ACTIONS, against its limit
        assert cells[6].startswith(ACTIONS[-1])
    # 1,000 stations: actions over their limit, and errors; two named, every one explained in the tooltip
    failing, failed = rows[4], [v for v in document["steps"][4]["verdicts"] if not v["passed"]]
    assert len(failed) > 2 and f"and {len(failed) - 2} more" in failing
    assert escape(failed[0]["slo"]) in failing and escape(failed[1]["slo"]) in failing
    tooltip = re.search(r"title='([^']*)'", failing)
    assert tooltip and tooltip.group(1).split("\n") == [escape(v["text"]) for v in failed]


def test_each_action_has_its_latency_chart_with_the_slo_line() -> None:
    page = render(searched(usl=GOOD_USL))
    latency = re.findall(r"<svg [^>]*id='chart-latency-[^']*'.*?</svg>", page, flags=re.S)
    assert len(latency) == len(ACTIONS)
    for svg in latency:
        assert svg.count("class='rule'") == 1 and "SLO: p99 &lt; 1s" in svg
        assert svg.count("<polyline") == 2  # p50 and p99
        assert svg.count("class='marker'") == 2 and "knee 950" in svg and "fails 1,000" in svg
    # closest to the limit first: the slowest action leads
    assert page.index(f"id='chart-latency-{ACTIONS[-1].lower()}'") < page.index("id='chart-latency-heartbeat'")


def test_the_usl_curve_is_drawn_over_the_measured_points() -> None:
    page = render(searched(usl=GOOD_USL))
    svg = chart(page, "chart-throughput")
    assert "<title>USL fit</title>" in svg and "USL peak 1,073 calls/s" in svg
    measured = re.search(r"<title>achieved, passed</title>(.*?)</g>", svg, flags=re.S)
    assert measured and "<polyline" not in measured.group(1) and measured.group(1).count("<circle") == 6
    failed = re.search(r"<title>achieved, failed</title>(.*?)</g>", svg, flags=re.S)
    assert failed and failed.group(1).count("<circle") == 1
    assert "seven steps, r² 0.98: the fit follows the measurements" in page
    assert "The fit puts the peak at 1,826 stations" in page
    # the curve passes through the measured points (the modelled CSMS follows the law exactly)
    fit = re.search(r"<title>USL fit</title><polyline points='([^']*)'", svg)
    dots = re.findall(r"<circle cx='([\d.]+)' cy='([\d.]+)' r='4'", measured.group(1))
    assert fit and dots
    curve = [tuple(map(float, point.split(","))) for point in fit.group(1).split()]
    for x, y in ((float(x), float(y)) for x, y in dots):
        nearest = min(curve, key=lambda point: abs(point[0] - x))
        assert abs(nearest[1] - y) < 6  # px: the curve is sampled, not the steps' own station counts


def test_the_usl_formula() -> None:
    usl = {"lambda": 2.0, "sigma": 0.1, "kappa": 0.001}
    assert usl_calls_per_s(usl, 1) == pytest.approx(2.0)
    assert usl_calls_per_s(usl, 10) == pytest.approx(20 / (1 + 0.9 + 0.09))
    assert usl_calls_per_s({"lambda": 1.0, "sigma": -2.0, "kappa": 0.0}, 10) is None  # no throughput there
    assert usl_calls_per_s({"lambda": 1.0, "sigma": None, "kappa": 0.0}, 10) is None


@pytest.mark.parametrize("trust, said", [("poor", "a poor fit: do not plan on it"), ("too_few", "too few steps")])
def test_a_fit_not_to_trust_says_so(trust: str, said: str) -> None:
    usl = {**GOOD_USL, "trust": trust, "r2": 0.41, "note": "r² 0.41"}
    page = render(searched(usl=usl))
    assert said in page
    svg = chart(page, "chart-throughput")
    assert re.search(r"<title>USL fit \([^<]*\)</title><polyline[^>]*stroke-dasharray", svg)


def test_errors_and_failed_connects_per_step() -> None:
    steps = [make_step(1, 200), make_step(2, 400, connect_failures=8), make_step(3, 600, errors=30)]
    svg = chart(render(make_document(steps)), "chart-errors")
    assert "CALLERRORs (share of calls)" in svg and "failed connects (share of attempts)" in svg
    assert svg.count("<polyline") == 3
    quiet = render(make_document([make_step(1, 200), make_step(2, 400)]))
    assert "id='chart-errors'" not in quiet
    assert "No CALLERROR, no timeout and no failed connection at any step." in quiet


def test_the_slos_and_where_they_came_from() -> None:
    document = searched()
    document["slos"].append({"expression": "Authorize.p99 < 300ms", "source": "--slo", "why": None})
    page = render(document)
    section = page[page.index("<section id='slos'>"):]
    assert "a tenth of the tightest declared timeout (10 s)" in section and "--slo" in section
    row = re.search(r"<tr><td><code>StartTransaction\.p99 &lt; 1s</code>.*?</tr>", section, flags=re.S)
    assert row and "1,000" in row.group(0)
    never = re.search(r"<tr><td><code>Authorize\.p99 &lt; 300ms</code>.*?</tr>", section, flags=re.S)
    assert never and "never" in never.group(0)


# ---------------------------------------------------------------- hostile input


def test_labels_from_users_stay_text() -> None:
    hostile = "<img src=x onerror=alert(1)>'\""
    steps = [make_step(1, 200, actions=(hostile, "Heartbeat")), make_step(2, 400, actions=(hostile, "Heartbeat"))]
    document = make_document(steps, mix={hostile: 1.0}, note=hostile, sentence=f"{hostile} sentence")
    document["slos"] = [{"expression": f"</code><script>alert(1)</script>{hostile}", "source": hostile,
                         "why": hostile}]
    document["first_failure"] = {"stations": 400, "slo": hostile, "text": hostile}
    document["run_id"] = hostile
    page = render(document)
    parsed = tags(page)
    assert "script" not in parsed.started and "img" not in parsed.started
    assert parsed.unbalanced == []
    assert "&lt;img src=x onerror=alert(1)&gt;&#x27;&quot;" in page
    assert "&lt;/code&gt;&lt;script&gt;" in page


# ---------------------------------------------------------------- what a search can end with


def _degenerate() -> dict[str, tuple[dict[str, Any], list[str]]]:
    one = make_document([make_step(1, 200)])
    slow_first = make_document([make_step(1, 200, slowdown=400)], usl=None)
    return {
        "zero steps": (make_document([]), ["No step ran: the search stopped before its first plateau.",
                                          "No step measured any latency.", "no step met every SLO",
                                          "No Universal Scalability Law fit"]),
        "one step": (one, ["every step met every SLO, up to the search's maximum of 5,000 stations",
                           "id='chart-throughput'"]),
        "no knee": (make_document([make_step(1, 1200), make_step(2, 1400)]),
                    ["none: no step met every SLO, not even the first", "verdict bad"]),
        "no usl": (searched(usl=None), ["No Universal Scalability Law fit"]),
        "failing first step without errors": (slow_first, ["none: no step met every SLO", "verdict bad",
                                                           "No CALLERROR, no timeout and no failed connection"]),
    }


@pytest.mark.parametrize("name", list(_degenerate()))
def test_the_documents_a_search_can_end_with_render(name: str) -> None:
    document, expected = _degenerate()[name]
    page = render(document)
    assert tags(page).unbalanced == []
    for text in expected:
        assert text in page, text
    if document["steps"]:
        assert len(steps_rows(page)) == len(document["steps"])
    assert "USL fit" not in page  # none of these has a fit to draw
    assert page.count("class='chart'") == (0 if not document["steps"] else
                                           len(ACTIONS) + 1 + ("id='chart-errors'" in page))


def test_a_first_step_that_fails_without_errors_is_red() -> None:
    page = render(_degenerate()["failing first step without errors"][0])
    [row] = steps_rows(page)
    assert "class='bad'" in row and "badge fail" in row
    assert re.search(r"class='verdict bad headline'", page)


# ---------------------------------------------------------------- svg: points alone


def test_a_series_of_points_alone_draws_dots_and_no_line() -> None:
    svg = line_chart([Series("measured", [(1, 1.0), (2, 3.0), (3, 2.0)], "#123456", 4, line=False),
                      Series("fit", [(1, 1.0), (3, 3.0)], "#654321")],
                     title="t", x=Axis("x"), y=Axis("y"))
    measured = re.search(r"<title>measured</title>(.*?)</g>", svg, flags=re.S)
    assert measured and "<polyline" not in measured.group(1) and measured.group(1).count("<circle") == 3
    assert "<polyline" in svg  # the fit's line
    # the legend shows a dot for it, a line for the fit
    assert re.search(r"<circle [^>]*fill='#123456'/><text [^>]*>measured</text>", svg)
    assert re.search(r"<line [^>]*stroke='#654321'[^>]*/><text [^>]*>fit</text>", svg)
